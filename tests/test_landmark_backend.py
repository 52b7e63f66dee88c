"""The analyser's landmark backends: the iBUG-68 table, the fit on 68 points, and face-alignment loaded
through its own code from a local directory holding a stand-in network (random FAN weights saved by the test).
"""
import numpy as np
import pytest
import torch

from sandbox.analysis import backends as B
from sandbox.analysis import face as F
from sandbox.analysis.face import FaceAnalyser
from sandbox.errors import ConfigError
from sandbox.face.head_model import EXP_NAMES, ID_NAMES, HeadModel
from sandbox.geometry.rotation import euler_to_rotvec, rotvec_to_euler

JAW = EXP_NAMES.index("jaw_open")
# left / right counterparts in the iBUG numbering (jaw, brows, nose base, eyes, lips)
MIRROR = ([(i, 16 - i) for i in range(8)] + [(17 + i, 26 - i) for i in range(5)] + [(31, 35), (32, 34)]
          + [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
          + [(48, 54), (49, 53), (50, 52), (59, 55), (58, 56), (60, 64), (61, 63), (67, 65)])  # fmt: skip
MIDLINE = (8, 27, 28, 29, 30, 33, 51, 57, 62, 66)


@pytest.fixture(scope="module")
def model() -> HeadModel:
    return HeadModel.load()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()


def _deg(pose):
    return np.degrees(rotvec_to_euler(pose[..., :3]))


def test_unknown_backend_is_refused_with_the_choices(model):
    for make in (lambda: FaceAnalyser(model, backend="dlib"), lambda: B.check_backend("MediaPipe")):
        with pytest.raises(ConfigError, match="mediapipe, face_alignment"):
            make()
    from representations.morphable import MorphableRepresentation

    with pytest.raises(ConfigError, match="choose one of"):
        MorphableRepresentation(landmarks="sfd")


def test_ibug_table_lands_on_mirrored_head_model_vertices(model):
    idx = B.IBUG68_TO_MEDIAPIPE
    assert idx.shape == (68,) and len(set(idx.tolist())) == 68 and idx.max() < 468
    p = model.mean[idx]  # model space: x = subject's left, the head roughly symmetric about x = 0
    for a, b in MIRROR:
        assert p[a, 0] * p[b, 0] < 0, (a, b)  # opposite sides
        assert abs(p[a, 0] + p[b, 0]) < 0.6 and abs(p[a, 1] - p[b, 1]) < 0.6, (a, b, p[a], p[b])
    assert np.abs(p[list(MIDLINE), 0]).max() < 0.3
    # iBUG order: the contour runs from the image left (subject's right, x < 0) over the chin; eyes and brows
    # (17-26, 36-47) sit above the nose base (31-35), which is above the mouth (48-67) and the chin (8)
    assert p[0, 0] < p[8, 0] < p[16, 0] and p[8, 1] == p[:, 1].max()
    assert p[17:27, 1].max() < p[36:48, 1].min() < p[31:36, 1].min() < p[48:68, 1].min()
    # the measurement pairs are the mesh analyser's, through the table
    assert [tuple(idx[list(q)]) for q in B.IBUG_INNER_LIPS] == list(F.INNER_LIPS)
    assert tuple(idx[list(B.IBUG_NOSE_BRIDGE)]) == F.NOSE_BRIDGE
    assert {tuple(idx[list(q)]) for q in B.IBUG_LEFT_LIDS} <= set(F.LEFT_LIDS)
    assert {tuple(idx[list(q)]) for q in B.IBUG_RIGHT_LIDS} <= set(F.RIGHT_LIDS)
    assert tuple(idx[list(B.IBUG_LEFT_EYE_WIDTH)]) == F.LEFT_EYE_WIDTH
    assert tuple(idx[list(B.IBUG_RIGHT_EYE_WIDTH)]) == F.RIGHT_EYE_WIDTH


@pytest.mark.parametrize("ypr", [(0.0, 0.0, 0.0), (25.0, -12.0, 6.0), (-20.0, 15.0, -4.0)])
def test_fit_on_68_points_recovers_pose_jaw_and_identity(model, ypr):
    rng = np.random.default_rng(1)
    pose = np.r_[euler_to_rotvec(np.radians(ypr)), 1.0, -1.5, 50.0]
    exp = np.zeros((3, len(EXP_NAMES)))
    exp[:, JAW] = 0.0, 0.4, 0.9
    idc = rng.normal(0, 1, len(ID_NAMES))
    _, l2 = model.landmarks(idc, pose, exp, None, 256)
    lmk68 = l2[:, B.IBUG68_TO_MEDIAPIPE]
    lmk68 = np.concatenate([lmk68, np.full((1, 68, 2), np.nan)])  # a frame without a face
    fit = B.fit_ibug68(lmk68, 256, model)
    assert np.abs(_deg(fit["pose"][:3]) - ypr).max() < 2.0
    assert np.all(np.diff(fit["exp"][:3, JAW]) > 0.2)
    assert ((fit["exp"][:3] >= 0) & (fit["exp"][:3] <= 1)).all()
    assert np.isnan(fit["pose"][3]).all() and (fit["gaze"][:3] == 0).all()
    assert np.corrcoef(fit["id_coeff"], idc)[0, 1] > 0.5


def test_68_points_of_a_real_portrait_give_the_mesh_fit(model, astronaut):
    """MediaPipe's 478 points on the astronaut, and only their 68 iBUG vertices: the same head pose."""
    mesh = FaceAnalyser(model, video=False).require_face(astronaut, "astronaut")
    fit = B.fit_ibug68(mesh.lmk2d[:, B.IBUG68_TO_MEDIAPIPE], astronaut.shape[:2], model)
    assert np.abs(_deg(fit["pose"]) - _deg(mesh.pose)).max() < 1.5
    assert abs(fit["pose"][0, 5] - mesh.pose[0, 5]) / mesh.pose[0, 5] < 0.05  # depth = head size
    assert B.mouth_aperture68(mesh.lmk2d[:, B.IBUG68_TO_MEDIAPIPE]) == pytest.approx(mesh.mouth_aperture_raw)


# ------------------------------------------------------------------------------------------ face-alignment


@pytest.fixture(scope="module")
def fan_dir(tmp_path_factory):
    """A directory laid out like a torch hub cache (checkpoints/<face-alignment's file name>) holding a
    stand-in: face-alignment's own FAN architecture with random weights (same contract as the real 2D FAN:
    [B, 3, 256, 256] -> 68 heatmaps [B, 68, 64, 64]). Garbage points, real loading and inference path."""
    from face_alignment.models import FAN

    torch.manual_seed(0)
    net = FAN(4).eval()
    with torch.no_grad():
        out = net(torch.rand(1, 3, 256, 256))
    assert out[-1].shape == (1, 68, 64, 64)
    root = tmp_path_factory.mktemp("fan")
    (root / "checkpoints").mkdir()
    torch.save(net.state_dict(), root / "checkpoints" / B.weights_name())
    return root


@pytest.fixture()
def no_download(monkeypatch):
    import face_alignment.utils

    def refuse(url, *a, **k):
        raise AssertionError(f"face-alignment tried to download {url}")

    monkeypatch.setattr(face_alignment.utils, "download_url_to_file", refuse)


def test_missing_face_alignment_names_the_extra(monkeypatch, model, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "face_alignment", None)  # as if not installed: import raises ImportError
    with pytest.raises(ConfigError, match=r'pip install -e "\.\[fa\]"'):
        FaceAnalyser(model, backend="face_alignment", model_dir=str(tmp_path))
    assert FaceAnalyser(model).backend == "mediapipe"  # the default never imports it


def test_face_alignment_without_local_weights_is_refused(tmp_path, model):
    name = B.weights_name()
    assert name.endswith(".pth.tar")
    with pytest.raises(ConfigError, match="weights from a local directory"):
        FaceAnalyser(model, backend="face_alignment")
    with pytest.raises(ConfigError, match=f"no face-alignment weights in .*{name}"):
        FaceAnalyser(model, backend="face_alignment", model_dir=str(tmp_path))
    from representations.morphable import MorphableRepresentation

    with pytest.raises(ConfigError, match="no face-alignment weights"):
        MorphableRepresentation(landmarks="face_alignment", landmarks_dir=str(tmp_path / "missing"))


def test_face_alignment_loads_the_local_file_and_maps_points_into_the_face_box(fan_dir, no_download, astronaut):
    from face_alignment.utils import REFERENCE_SCALE

    det = B.FaceAlignmentDetector(fan_dir)
    saved = torch.load(fan_dir / "checkpoints" / B.weights_name(), weights_only=True)
    loaded = det.fa.face_alignment_net.state_dict()
    assert loaded.keys() == saved.keys()
    assert all(torch.equal(loaded[k], saved[k]) for k in saved)  # the stand-in, not some other file
    assert torch.hub.get_dir() != str(fan_dir)  # the hub directory was restored

    boxes = det.boxes(astronaut)
    assert len(boxes) == 1
    x0, y0, x1, y1 = boxes[0]
    assert 150 < x0 < 200 < 250 < x1 < 300 and 40 < y0 < 100 < 160 < y1 < 220  # the astronaut's face
    faces = det.detect(astronaut)
    assert len(faces) == 1
    pts = faces[0].lmk2d
    assert pts.shape == (68, 2) and np.isfinite(pts).all()
    # every heatmap argmax comes back inside face-alignment's crop of that box (side 200 x scale)
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2 - (y1 - y0) * 0.12])
    half = 100 * (x1 - x0 + y1 - y0) / REFERENCE_SCALE
    assert (np.abs(pts - centre) <= half + 1).all()
    assert len(np.unique(pts.round(), axis=0)) > 10  # 68 heatmaps, not one point repeated
    assert det.detect(np.zeros((200, 200, 3), np.uint8)) == []


def test_face_alignment_backend_runs_the_analyser_and_the_representation(fan_dir, no_download, model, astronaut):
    a = FaceAnalyser(model, video=False, backend="face_alignment", model_dir=str(fan_dir)).analyse_image(astronaut)
    assert a.found.tolist() == [True]
    assert a.lmk_raw.shape == (1, 68, 2) and a.lmk2d.shape == (1, 478, 2)
    assert np.isfinite(a.pose).all() and np.isfinite(a.rms).all() and np.isfinite(a.lmk2d).all()
    assert ((a.exp >= 0) & (a.exp <= 1)).all() and (a.gaze == 0).all()
    assert a.blink.shape == (1, 2) and np.isfinite(a.mouth_aperture).all()
    # the dense landmarks are the fitted model's projection: refitting them gives the same pose back
    refit = F.fit_landmarks(a.lmk2d, astronaut.shape[:2], model, id_coeff=a.id_coeff)
    assert np.abs(_deg(refit["pose"]) - _deg(a.pose)).max() < 1.0

    from representations.morphable import MorphableRepresentation
    from sandbox.data.frames import to_tensor

    rep = MorphableRepresentation(landmarks="face_alignment", landmarks_dir=str(fan_dir))
    ref = rep.reference(to_tensor(astronaut), "astronaut")
    assert ref.motion.shape == (20,) and torch.isfinite(ref.motion).all() and ref.lmk2d.shape == (478, 2)
    motion = rep.encode(to_tensor(np.stack([astronaut, astronaut[:, ::-1]])))
    assert motion.shape == (2, 20) and torch.isfinite(motion).all()
