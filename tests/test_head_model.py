import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sandbox.face import topology
from sandbox.face.head_model import EXP_NAMES, ID_NAMES, HeadModel
from sandbox.geometry.rotation import euler_to_rotvec

NOSE_TIP = 1


@pytest.fixture(scope="module")
def model() -> HeadModel:
    return HeadModel.load()


def e(**k) -> np.ndarray:
    return np.array([k.get(n, 0.0) for n in EXP_NAMES])


def frontal(yaw=0.0, pitch=0.0, dist=50.0) -> np.ndarray:
    return np.r_[euler_to_rotvec(np.radians([yaw, pitch, 0.0])), 0.0, 0.0, dist]


def lip_gap(s):
    return s[..., 14, 1] - s[..., 13, 1]


def lid_gap(s, up=386, lo=374):
    return s[..., lo, 1] - s[..., up, 1]


def test_attributes_and_shapes(model):
    assert model.mean.shape == (478, 3)
    assert model.id_basis.shape == (len(ID_NAMES), 478, 3) and len(ID_NAMES) >= 8
    assert model.exp_basis.shape == (len(EXP_NAMES), 478, 3)
    assert model.texture.shape == (512, 512, 3) and model.texture.dtype == np.uint8
    assert model.texture_lmk2d.shape == (478, 2)
    assert model.shape(None, np.zeros((4, 3, 12)), np.zeros(2)).shape == (4, 3, 478, 3)
    cam, l2 = model.landmarks(np.zeros(len(ID_NAMES)), np.tile(model.neutral_pose, (5, 1)), 0, 0, 256)
    assert cam.shape == (5, 478, 3) and l2.shape == (5, 478, 2)
    assert HeadModel.load() is model  # cached


def test_neutral_pose_reproduces_texture(model):
    _, l2 = model.landmarks(0, model.neutral_pose, 0, 0, 512)
    assert np.abs(l2 - model.texture_lmk2d).max() < 1e-3


def test_resolution_independence(model):
    pose = frontal(20, -10)
    ex = e(jaw_open=0.5, smile=0.3)
    a = model.landmarks(None, pose, ex, np.array([0.1, 0.2]), 512)[1]
    b = model.landmarks(None, pose, ex, np.array([0.1, 0.2]), 128)[1]
    assert np.allclose(a, 4 * b)


def test_pose_matches_solvepnp(model):
    pose = frontal(15, 10, 45) + np.r_[0, 0, 0, 2.0, -1.0, 0]
    _, l2 = model.landmarks(None, pose, None, None, 256)
    ok, rvec, tvec = cv2.solvePnP(model.mean, l2, model.camera_matrix(256), None, flags=cv2.SOLVEPNP_SQPNP)
    assert ok and np.allclose(np.r_[rvec.ravel(), tvec.ravel()], pose, atol=1e-4)


def test_rotation_convention(model):
    right = model.landmarks(None, frontal(yaw=20), None, None, 256)[1]
    left = model.landmarks(None, frontal(yaw=-20), None, None, 256)[1]
    # positive yaw: the nose tip moves toward the image right relative to the face's centre
    rel = lambda l: l[NOSE_TIP, 0] - l[:468, 0].mean()  # noqa: E731
    assert rel(right) > rel(left) + 5
    up = model.landmarks(None, frontal(pitch=20), None, None, 256)[1]
    down = model.landmarks(None, frontal(pitch=-20), None, None, 256)[1]
    relv = lambda l: l[NOSE_TIP, 1] - l[[33, 263], 1].mean()  # noqa: E731
    assert relv(up) < relv(down) - 3


def test_jaw_open_opens_the_mouth(model):
    s0, s1 = model.shape(None, e()), model.shape(None, e(jaw_open=1))
    assert lip_gap(s1) - lip_gap(s0) > 1.0  # cm: inner lips clearly apart
    assert s1[152, 1] - s0[152, 1] > 1.0  # chin down
    assert np.abs(s1[[33, 263, 1, 13]] - s0[[33, 263, 1, 13]]).max() < 0.1  # eyes, nose, upper lip stay


def test_lip_press_closes_and_round_narrows(model):
    s0 = model.shape(None, e())
    assert lip_gap(model.shape(None, e(lip_press=1))) < lip_gap(s0) - 0.15
    width = lambda s: s[291, 0] - s[61, 0]  # noqa: E731
    assert width(model.shape(None, e(lip_round=1))) < width(s0) - 0.5
    assert width(model.shape(None, e(lip_spread=1))) > width(s0) + 0.5
    corners = lambda s: s[[61, 291], 1].mean()  # noqa: E731
    assert corners(model.shape(None, e(smile=1))) < corners(s0) - 0.3
    assert corners(model.shape(None, e(frown=1))) > corners(s0) + 0.3


@pytest.mark.parametrize("name,eye,other", [("blink_l", (386, 374), (159, 145)), ("blink_r", (159, 145), (386, 374))])
def test_blink_closes_its_own_eye(model, name, eye, other):
    s0, s1 = model.shape(None, e()), model.shape(None, e(**{name: 1.0}))
    assert lid_gap(s0, *eye) > 0.5
    assert abs(lid_gap(s1, *eye)) < 0.02  # lids meet
    assert np.isclose(lid_gap(s1, *other), lid_gap(s0, *other))
    iris = topology.LEFT_IRIS if name == "blink_l" else topology.RIGHT_IRIS
    assert np.allclose(s1[iris], s0[iris])


def test_brows(model):
    brows = topology.contours()["left_brow"]
    s0 = model.shape(None, e())
    assert (model.shape(None, e(brow_raise=1))[brows, 1] < s0[brows, 1] - 0.5).all()
    assert (model.shape(None, e(brow_lower=1))[brows, 1] > s0[brows, 1] + 0.3).all()


def test_gaze_moves_irises(model):
    s0 = model.shape(None, None, np.zeros(2))
    right = model.shape(None, None, np.array([0.0, 0.3]))
    up = model.shape(None, None, np.array([0.3, 0.0]))
    for iris in (topology.LEFT_IRIS, topology.RIGHT_IRIS):
        assert (right[iris, 0] > s0[iris, 0] + 0.2).all()
        assert (up[iris, 1] < s0[iris, 1] - 0.2).all()
    assert np.allclose(right[:468], s0[:468])


@settings(max_examples=25, deadline=None)
@given(
    arrays(np.float64, len(ID_NAMES), elements=st.floats(-2, 2)),
    arrays(np.float64, len(EXP_NAMES), elements=st.floats(0, 1)),
)
def test_plausible_shapes_for_any_coefficients(model, idc, ex):
    s = model.shape(idc, ex)
    assert np.isfinite(s).all()
    d = np.linalg.norm(s - model.mean, axis=-1)
    assert d.max() < 6.0  # cm: nothing flies off
    # the face stays a face: eyes above the nose tip above the mouth above the chin
    assert s[[33, 263], 1].max() < s[NOSE_TIP, 1] < s[13, 1] < s[152, 1]


def test_identity_basis_is_symmetric(model):
    # mirror a landmark by nearest neighbour across x = 0; identity fields mirror with it
    m = model.mean[:468]
    mirror = np.argmin(np.linalg.norm((m * [-1, 1, 1])[:, None] - m[None], axis=-1), axis=1)
    good = np.linalg.norm(m[mirror] * [-1, 1, 1] - m, axis=-1) < 0.3
    for k, name in enumerate(ID_NAMES):
        b = model.id_basis[k, :468]
        assert np.abs(b).max() > 0.1, name
        err = np.abs(b[mirror][good] * [-1, 1, 1] - b[good]).max()
        assert err < 0.5 * np.abs(b).max(), name
