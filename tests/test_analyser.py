import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sandbox.analysis.face import (
    FaceAnalyser,
    fit_landmarks,
    mouth_aperture,
    require_face,
)
from sandbox.errors import NoFaceError
from sandbox.face.head_model import EXP_NAMES, ID_NAMES, HeadModel
from sandbox.geometry.rotation import euler_to_rotvec, rotvec_to_euler

JAW = EXP_NAMES.index("jaw_open")


@pytest.fixture(scope="module")
def model() -> HeadModel:
    return HeadModel.load()


@pytest.fixture(scope="module")
def analyser(model) -> FaceAnalyser:
    return FaceAnalyser(model, video=False)


def _angles_deg(pose):
    return np.degrees(rotvec_to_euler(pose[..., :3]))


@settings(max_examples=15, deadline=None)
@given(
    ypr=st.tuples(st.floats(-30, 30), st.floats(-30, 30), st.floats(-10, 10)),
    shift=st.tuples(st.floats(-3, 3), st.floats(-3, 3), st.floats(35, 70)),
    ex=arrays(np.float64, len(EXP_NAMES), elements=st.floats(0, 1)),
    jaws=st.tuples(st.floats(0, 0.7), st.floats(0.3, 1.0)),
    gaze=st.tuples(st.floats(-0.3, 0.3), st.floats(-0.3, 0.3)),
)
def test_fit_recovers_pose_and_jaw_order(model, ypr, shift, ex, jaws, gaze):
    lo, hi = sorted(jaws)
    if hi - lo < 0.3:
        hi = min(1.0, lo + 0.3)
    pose = np.r_[euler_to_rotvec(np.radians(ypr)), shift]
    exp = np.stack([ex, ex])
    exp[:, JAW] = lo, hi
    _, l2 = model.landmarks(None, pose, exp, np.array(gaze), 256)
    fit = fit_landmarks(l2, 256, model, id_coeff=np.zeros(len(ID_NAMES)))
    err = np.abs(_angles_deg(fit["pose"]) - np.array(ypr))
    assert err.max() < 2.0
    assert fit["exp"][1, JAW] > fit["exp"][0, JAW]
    assert ((fit["exp"] >= 0) & (fit["exp"] <= 1)).all()


def test_fit_estimates_identity_and_handles_missing_frames(model):
    rng = np.random.default_rng(0)
    idc = rng.normal(0, 1, len(ID_NAMES))
    t = 8
    ypr = np.radians(rng.uniform(-20, 20, (t, 3)) * [1, 1, 0.3])
    pose = np.c_[euler_to_rotvec(ypr), rng.normal(0, 1, (t, 2)), rng.uniform(40, 60, t)]
    exp = rng.uniform(0, 1, (t, len(EXP_NAMES))) * (rng.random((t, len(EXP_NAMES))) < 0.3)
    gaze = rng.uniform(-0.3, 0.3, (t, 2))
    _, l2 = model.landmarks(idc, pose, exp, gaze, 320)
    l2[3] = np.nan  # a frame without a face
    fit = fit_landmarks(l2, 320, model)
    ok = np.arange(t) != 3
    assert np.isnan(fit["pose"][3]).all() and np.isnan(fit["exp"][3]).all() and np.isnan(fit["gaze"][3]).all()
    # exact landmarks, but identity and expression trade off under the priors: small, bounded errors
    assert np.abs(_angles_deg(fit["pose"][ok]) - np.degrees(ypr[ok])).max() < 1.5
    assert np.abs(fit["exp"][ok] - exp[ok]).mean() < 0.12
    gaze_err = np.degrees(np.abs(fit["gaze"][ok] - gaze[ok]))
    assert gaze_err.mean() < 2.0 and gaze_err.max() < 6.0
    assert np.corrcoef(fit["id_coeff"], idc)[0, 1] > 0.8


def test_no_face_gives_nans(analyser):
    import skimage.data

    grey = np.full((2, 160, 160, 3), 128, np.uint8)
    sky = np.repeat(skimage.data.camera()[:80, :, None], 3, axis=2)
    for frames in (grey, sky[None]):
        a = analyser.analyse(frames)
        assert not a.found.any() and a.missing_fraction == 1.0
        assert (a.confidence == 0).all()
        for arr in (a.lmk2d, a.pose, a.exp, a.gaze, a.blink, a.mouth_aperture, a.id_coeff):
            assert np.isnan(arr).all()
        assert a.pose.shape == (len(frames), 6) and a.exp.shape == (len(frames), len(EXP_NAMES))


def test_require_face_names_the_file(model):
    with pytest.raises(NoFaceError, match="no face found in empty.png"):
        require_face(np.full((128, 128, 3), 90, np.uint8), "empty.png", model)


def test_require_face_warns_and_takes_the_largest(model, caplog):
    import cv2

    two = np.zeros((512, 800, 3), np.uint8)
    two[:, :512] = model.texture
    two[100:356, 532:788] = cv2.resize(model.texture, (256, 256), interpolation=cv2.INTER_AREA)
    with caplog.at_level(logging.WARNING):
        a = require_face(two, "two.png", model)
    assert "2 faces" in caplog.text
    assert a.lmk2d[0, :, 0].max() < 512  # the big face on the left


def test_neutral_texture_analyses_to_neutral(model, analyser):
    a = analyser.analyse_image(model.texture)
    assert a.found.all() and a.confidence[0] > 0.9
    assert np.abs(a.exp).max() < 0.05
    assert np.abs(_angles_deg(a.pose[0]) - _angles_deg(model.neutral_pose)).max() < 1.0
    assert np.abs(a.pose[0, 3:] - model.neutral_pose[3:]).max() < 1.0
    assert np.abs(a.id_coeff).max() < 0.2
    assert 0.2 < a.blink[0].min() and a.mouth_aperture[0] > 0


def test_video_mode_tracks_a_sequence(model):
    a = FaceAnalyser(model, video=True).analyse(np.stack([model.texture] * 3))
    assert a.found.all() and a.missing_fraction == 0.0
    assert np.abs(_angles_deg(a.pose) - _angles_deg(model.neutral_pose)).max() < 2.0


def test_rendered_frames_recover_pose_and_mouth(model):
    """Acceptance check against the ground-truth renderer: known (pose, exp, gaze) -> pixels -> analysis."""
    from sandbox.face.portrait import PortraitRenderer

    rng = np.random.default_rng(1)
    t, size = 20, 256
    ypr0 = rotvec_to_euler(model.neutral_pose[:3])
    ypr = ypr0 + np.c_[np.radians(rng.uniform(-25, 25, (t, 2))), np.radians(rng.uniform(-5, 5, t))]
    pose = np.c_[euler_to_rotvec(ypr), np.tile(model.neutral_pose[3:], (t, 1))]
    exp = np.zeros((t, len(EXP_NAMES)))
    exp[:, JAW] = rng.uniform(0, 1, t)
    exp[:, 1:] = rng.uniform(0, 0.6, (t, len(EXP_NAMES) - 1)) * (rng.random((t, len(EXP_NAMES) - 1)) < 0.3)
    gaze = rng.uniform(-0.25, 0.25, (t, 2))
    cam, l2 = model.landmarks(None, pose, exp, gaze, size)
    frames = PortraitRenderer(model.texture, model.texture_lmk2d, size).render_batch(l2, cam[..., 2])
    a = FaceAnalyser(model, video=False).analyse(frames)
    assert a.found.all()
    err = np.degrees(np.abs(rotvec_to_euler(a.pose[:, :3]) - ypr))
    assert err[:, 0].mean() <= 3.0 and err[:, 1].mean() <= 3.0
    assert np.corrcoef(a.mouth_aperture, mouth_aperture(l2))[0, 1] >= 0.9
    assert np.corrcoef(a.exp[:, JAW], exp[:, JAW])[0, 1] > 0.5
    assert np.corrcoef(a.gaze[:, 1], gaze[:, 1])[0, 1] > 0.8  # gaze yaw
    assert (a.confidence > 0.1).all()


def test_worker_processes_give_the_same_analyses(model):
    """analyse_many in 2 spawned processes returns, in order, what this process computes for each video."""
    from sandbox.face.portrait import PortraitRenderer

    rng = np.random.default_rng(2)
    renderer = PortraitRenderer(model.texture, model.texture_lmk2d, 128)
    videos = []
    for _ in range(3):
        exp = np.zeros((4, len(EXP_NAMES)))
        exp[:, JAW] = rng.uniform(0, 1, 4)
        pose = np.tile(model.neutral_pose, (4, 1)) + np.c_[rng.uniform(-0.2, 0.2, (4, 3)), np.zeros((4, 3))]
        cam, l2 = model.landmarks(None, pose, exp, np.zeros((4, 2)), 128)
        videos.append(renderer.render_batch(l2, cam[..., 2]))
    here = FaceAnalyser(model, video=True).analyse_many(videos)
    with FaceAnalyser(model, video=True, workers=2) as pooled:
        there = pooled.analyse_many(videos)
        assert pooled._pool is not None
    assert pooled._pool is None  # closed on exit
    for a, b in zip(here, there, strict=True):
        assert a.found.all() and b.found.all()
        np.testing.assert_allclose(b.pose, a.pose, atol=1e-9)
        np.testing.assert_allclose(b.mouth_aperture, a.mouth_aperture, atol=1e-9)
    assert not np.allclose(here[0].mouth_aperture, here[1].mouth_aperture)  # the videos differ, order matters
    with pytest.raises(ValueError, match="workers=0"):
        FaceAnalyser(model, workers=0)
