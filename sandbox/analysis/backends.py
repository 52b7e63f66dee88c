"""Landmark backends of the face analyser: MediaPipe Face Mesh (default) or face-alignment's 2D FAN.

``mediapipe``       478 points (468 face + 10 iris) on the head model's own vertices (sandbox.analysis.landmarks).
``face_alignment``  the 68 iBUG points of Bulat & Tzimiropoulos' FAN (``pip install -e ".[fa]"``), weights
                    from a local directory (``model_dir``), never downloaded. The face boxes come from MediaPipe's
                    full-range face detector (sandbox.analysis.landmarks.detect_boxes, any scale), handed to
                    face-alignment with ``detected_faces=`` and its weight-free ``folder`` detector, so none of
                    face-alignment's own detectors (SFD, BlazeFace, ...: more weights to download) is loaded.

``model_dir`` holds the FAN weights under the file name face-alignment downloads them to (for 1.5:
``2DFAN4-11f355bf06.pth.tar``, i.e. the basename of ``face_alignment.api.models_urls["2DFAN-4"]``), either
directly or in ``checkpoints/`` (a copy of a torch hub cache such as ``~/.cache/torch/hub`` works as is).
The weights load through face-alignment's own code (``load_file_from_url`` -> ``torch.load`` ->
``FAN.load_state_dict``) with torch's hub directory pointed, while loading, at a temporary directory that holds
only a link to that file: nothing is fetched, and a missing file is an error before face-alignment runs.

The morphable fit on 68 points uses the head-model vertices of :data:`IBUG68_TO_MEDIAPIPE` (the model's
vertices are MediaPipe's), the same pose + expression + identity solve as on 478 points; 68 points have no
irises, so gaze is 0 (the photo's own gaze) on every found frame, and blink / raw mouth aperture are measured on
the 68 points' own lids and inner lips (the same pairs as on the mesh, through the table). The backend is the
3dmm representation's (``rep.landmarks``: encoding videos, fitting the source photo); the eval's analyser
(sandbox.pipeline.eval) stays MediaPipe, so the metrics of runs with either backend compare.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from sandbox.errors import ConfigError

log = logging.getLogger(__name__)

BACKENDS = ("mediapipe", "face_alignment")
FA_EXTRA = 'face-alignment is not installed: pip install -e ".[fa]" (or pip install "face-alignment>=1.5")'

# The 68 iBUG / Multi-PIE points (0-based) -> MediaPipe face-mesh vertex (= head-model vertex), the widely used
# correspondence. Exact in kind (same anatomical feature) for brows, nose, eye corners and lids and lips;
# the jawline contour 0-16 is only approximate: iBUG's contour follows the visible silhouette (it slides over
# the cheek as the head turns) and starts at ear level, where MediaPipe's vertices 162 / 389 sit on the temple;
# brow points are MediaPipe's upper brow row (some copies of this table say 71 / 301, just outside 70 / 300).
# The fit weights the contour low (JAW_WEIGHT). representations.morphable's BROW_68 reads its brows from here.
IBUG68_TO_MEDIAPIPE = np.array([
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,  # 0-16 jawline (approx.)
    70, 63, 105, 66, 107,                                    # 17-21 subject's right brow (image left)
    336, 296, 334, 293, 300,                                 # 22-26 subject's left brow
    168, 197, 5, 4,                                          # 27-30 nose bridge to tip
    75, 97, 2, 326, 305,                                     # 31-35 nostrils and base (33 = subnasale)
    33, 160, 158, 133, 153, 144,                             # 36-41 subject's right eye
    362, 385, 387, 263, 373, 380,                            # 42-47 subject's left eye
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,     # 48-59 outer lips
    78, 82, 13, 312, 308, 317, 14, 87,                       # 60-67 inner lips
], dtype=np.int64)  # fmt: skip
N_IBUG = 68
JAW = np.arange(17)
JAW_WEIGHT, FEATURE_WEIGHT = 0.3, 1.0

# the analyser's measurement pairs (sandbox.analysis.face) in iBUG numbering: same points through the table
IBUG_LEFT_LIDS = ((43, 47), (44, 46))  # MediaPipe (385, 380), (387, 373)
IBUG_LEFT_EYE_WIDTH = (42, 45)  # (362, 263)
IBUG_RIGHT_LIDS = ((37, 41), (38, 40))  # (160, 144), (158, 153)
IBUG_RIGHT_EYE_WIDTH = (36, 39)  # (33, 133)
IBUG_INNER_LIPS = ((61, 67), (62, 66), (63, 65))  # (82, 87), (13, 14), (312, 317)
IBUG_NOSE_BRIDGE = (27, 33)  # (168, 2)

# face-alignment scales its crop by (box w + h) / reference_scale; its folder detector says 195 (SFD's loose
# boxes), its tight-box detectors (RetinaFace, YuNet, SCRFD) say 165. MediaPipe's boxes are tight like theirs,
# so they are widened by 195 / 165 about their centre to get the crop those detectors get.
BOX_GROW = 195.0 / 165.0


def check_backend(backend: str, model_dir: str | os.PathLike | None = None) -> str:
    """The backend name, validated: unknown names and a face_alignment without weights fail here."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown landmark backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if backend == "face_alignment":
        weights_file(model_dir)
    return backend


def vertices(backend: str) -> np.ndarray | None:
    """Head-model vertex of each landmark a backend gives (None: all 478, in order)."""
    return None if backend == "mediapipe" else IBUG68_TO_MEDIAPIPE


# ------------------------------------------------------------------------------------------ face-alignment


def _face_alignment():
    try:
        import face_alignment
    except ImportError as exc:
        raise ConfigError(FA_EXTRA) from exc
    return face_alignment


def weights_name() -> str:
    """The file name face-alignment stores its 2D FAN weights under (from its own URL table)."""
    from urllib.parse import urlparse

    api = _face_alignment().api
    return os.path.basename(urlparse(api.models_urls["2DFAN-4"]).path)


def weights_file(model_dir: str | os.PathLike | None) -> Path:
    """The FAN weights in ``model_dir`` (directly or in ``checkpoints/``); ConfigError saying what is missing."""
    name = weights_name()
    if not model_dir:
        raise ConfigError(f"the face_alignment landmark backend needs its weights from a local directory "
                          f"(nothing is downloaded): name a directory holding {name} (rep.landmarks_dir=DIR, "
                          "or --model-dir DIR of experiments.analyser_accuracy)")  # fmt: skip
    root = Path(model_dir).expanduser()
    for p in (root / name, root / "checkpoints" / name):
        if p.is_file():
            return p.absolute()  # not resolve(): a link keeps the name face-alignment looks for
    raise ConfigError(f"no face-alignment weights in {root}: expected {root / name} or {root / 'checkpoints' / name} "
                      "(face-alignment's 2D FAN, e.g. copied from a machine's ~/.cache/torch/hub/checkpoints)")


@contextlib.contextmanager
def _hub_with(weights: Path):
    """torch's hub directory pointed at a temporary one whose checkpoints/ links only ``weights``."""
    import torch.hub

    saved = torch.hub._hub_dir
    with tempfile.TemporaryDirectory(prefix="sandbox-fa-hub-") as tmp:
        ck = Path(tmp) / "checkpoints"
        ck.mkdir()
        (ck / weights.name).symlink_to(weights)
        torch.hub.set_dir(tmp)
        try:
            yield
        finally:
            torch.hub._hub_dir = saved


def _uncompiled_helpers(fa) -> None:
    """face-alignment's numba-jitted helpers (heatmap argmax -> image points, the crop transform) as the plain
    Python they are written in (numba's ``py_func``): numba compiles them at their first call, 15-45 s per
    process on a CPU, to save microseconds on 68 points. Same code, same results."""
    for name in ("_get_preds_fromhm", "transform_np"):
        fn = getattr(fa.utils, name, None)
        if fn is not None and hasattr(fn, "py_func"):
            setattr(fa.utils, name, fn.py_func)


class FaceAlignmentDetector:
    """face-alignment's 2D FAN on MediaPipe's face boxes. ``detect(img)`` -> list of
    :class:`sandbox.analysis.landmarks.Face` with 68 points (z = 0), largest first."""

    def __init__(self, model_dir: str | os.PathLike, device: str = "cpu", flip_input: bool = True):
        fa = _face_alignment()
        weights = weights_file(model_dir)
        _uncompiled_helpers(fa)
        kwargs = dict(device=device, face_detector="folder", flip_input=flip_input)
        if "compile" in inspect.signature(fa.FaceAlignment).parameters:
            kwargs["compile"] = False  # torch.compile: minutes on a CPU and a cache in ~/.cache
        with _hub_with(weights):
            self.fa = fa.FaceAlignment(fa.LandmarksType.TWO_D, **kwargs)
        self.weights = weights

    def boxes(self, image: np.ndarray, max_faces: int = 4) -> list[np.ndarray]:
        """MediaPipe's full-range boxes (x0, y0, x1, y1), widened by BOX_GROW, best first."""
        from sandbox.analysis.landmarks import detect_boxes

        out = []
        for box, _ in detect_boxes(image)[:max_faces]:
            c, half = (box[:2] + box[2:]) / 2, (box[2:] - box[:2]) / 2 * BOX_GROW
            out.append(np.r_[c - half, c + half])
        return out

    def landmarks(self, image: np.ndarray, boxes: list[np.ndarray]) -> list[np.ndarray]:
        """[68, 2] pixel points per box, through ``FaceAlignment.get_landmarks_from_image``."""
        if not boxes:
            return []
        pts = self.fa.get_landmarks_from_image(image, detected_faces=[np.asarray(b, np.float64) for b in boxes])
        return [np.asarray(p, np.float64)[:, :2] for p in pts or []]

    def detect(self, image: np.ndarray, max_faces: int = 4) -> list:
        from sandbox.analysis.landmarks import Face

        img = np.ascontiguousarray(image)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 image [H, W, 3], got {img.dtype} {img.shape}")
        h, w = img.shape[:2]
        faces = []
        for p in self.landmarks(img, self.boxes(img, max_faces)):
            inside = (p[:, 0] >= 0) & (p[:, 0] < w) & (p[:, 1] >= 0) & (p[:, 1] < h)
            faces.append(Face(lmk=np.c_[p, np.zeros(len(p))].astype(np.float32), score=float(inside.mean())))
        faces.sort(key=lambda f: -f.area)
        return faces


def detector(model_dir: str | os.PathLike, device: str = "cpu") -> FaceAlignmentDetector:
    """A FaceAlignmentDetector shared by the analysers of a process (the weights load once per file)."""
    w = weights_file(model_dir)
    return _detector(str(w), w.stat().st_mtime_ns, device)


@functools.lru_cache(maxsize=2)
def _detector(weights: str, mtime_ns: int, device: str) -> FaceAlignmentDetector:
    return FaceAlignmentDetector(Path(weights).parent, device=device)


# ------------------------------------------------------------------------------------------ fit on 68 points


def _sub_model(model, idx: np.ndarray):
    """The head model restricted to vertices ``idx`` (for the solver, which reads mean / bases only)."""
    from sandbox.face.head_model import HeadModel

    return HeadModel(model.mean[idx], model.id_basis[:, idx], model.exp_basis[:, idx], None,
                     model.texture_lmk2d, model.neutral_pose)  # fmt: skip


def point_weights() -> np.ndarray:
    w = np.full(N_IBUG, FEATURE_WEIGHT)
    w[JAW] = JAW_WEIGHT
    return w


def fit_ibug68(lmk2d: np.ndarray, size, model=None, id_coeff: np.ndarray | None = None,
               id_frames: int = 24) -> dict[str, np.ndarray]:
    """:func:`sandbox.analysis.face.fit_landmarks` for iBUG-68 landmarks [T, 68, 2] (pixels; NaN rows = no
    face): the same solver on the head-model vertices of IBUG68_TO_MEDIAPIPE. gaze is 0 (no irises)."""
    from sandbox.analysis import face as F
    from sandbox.face.head_model import HeadModel

    model = model or HeadModel.load()
    lmk2d = np.asarray(lmk2d, np.float64)
    if lmk2d.ndim != 3 or lmk2d.shape[1:] != (N_IBUG, 2):
        raise ValueError(f"expected iBUG-68 landmarks [T, 68, 2], got {lmk2d.shape}")
    t_all = len(lmk2d)
    ok = np.isfinite(lmk2d).all(axis=(1, 2))
    out = {
        "pose": np.full((t_all, 6), np.nan),
        "exp": np.full((t_all, model.n_exp), np.nan),
        "gaze": np.full((t_all, 2), np.nan),
        "rms": np.full(t_all, np.nan),
        "id_coeff": np.full(model.n_id, np.nan) if id_coeff is None else np.asarray(id_coeff, np.float64),
    }
    if not ok.any():
        return out
    sub = _sub_model(model, IBUG68_TO_MEDIAPIPE)
    f, cx, cy = F._camera(size)
    k = np.array([[f, 0, cx], [0, f, cy], [0, 0, 1]])
    obs = lmk2d[ok] - [cx, cy]
    w = point_weights()
    rigid = np.flatnonzero(np.isin(IBUG68_TO_MEDIAPIPE, F.rigid_landmarks(model)))
    if len(rigid) < 6:  # too few points no expression moves: start from all of them
        rigid = np.arange(N_IBUG)
    idc = np.zeros(model.n_id) if id_coeff is None else np.asarray(id_coeff, np.float64)
    base = sub.identity_shape(idc)
    pose = np.stack([F._initial_pose(base[rigid], o[rigid] + [cx, cy], k) for o in obs])
    exp = np.zeros((len(obs), model.n_exp))
    pose, exp, rms = F._solve_frames(sub, base, obs, pose, exp, f, w, F.GN_ITERS)
    if id_coeff is None:
        sel = np.linspace(0, len(obs) - 1, min(id_frames, len(obs))).round().astype(int)
        idc = F._solve_identity(sub, obs[sel], pose[sel].copy(), exp[sel].copy(), f, w, idc)
        pose, exp, rms = F._solve_frames(sub, sub.identity_shape(idc), obs, pose, exp, f, w, 2)
    out["pose"][ok], out["exp"][ok], out["rms"][ok] = pose, exp, rms
    out["gaze"][ok] = 0.0
    out["id_coeff"] = idc
    return out


def eye_openness68(lmk: np.ndarray) -> np.ndarray:
    """[..., 68, 2] -> [..., 2] (left, right) lid gap / eye width, ``face.eye_openness`` on the 68 points."""
    from sandbox.analysis.face import eye_openness

    return eye_openness(lmk, (IBUG_LEFT_LIDS, IBUG_RIGHT_LIDS), (IBUG_LEFT_EYE_WIDTH, IBUG_RIGHT_EYE_WIDTH))


def mouth_aperture68(lmk: np.ndarray) -> np.ndarray:
    """[..., 68, 2] -> [...] inner-lip gap / nose-bridge length, ``face.mouth_aperture`` on the 68 points."""
    from sandbox.analysis.face import mouth_aperture

    return mouth_aperture(lmk, IBUG_INNER_LIPS, IBUG_NOSE_BRIDGE)


def analysis_ibug68(model, faces, hw):
    """FaceAnalysis from per-frame 68-point faces (None = no face) in frames of ``hw`` = (H, W). ``lmk2d`` is
    the fitted model's 478 landmarks projected into the frame (what the mesh-based consumers, e.g. the
    mesh_warp renderer, need), ``lmk_raw`` the backend's 68 points."""
    from sandbox.analysis import face as F
    from sandbox.face import topology

    t = len(faces)
    raw = np.full((t, N_IBUG, 2), np.nan)
    score = np.zeros(t)
    for i, fc in enumerate(faces):
        if fc is not None:
            raw[i], score[i] = fc.lmk2d, fc.score
    found = np.isfinite(raw).all(axis=(1, 2))
    fit = fit_ibug68(raw, tuple(hw), model)
    conf = np.where(found, score * np.exp(-np.nan_to_num(fit["rms"], nan=np.inf) / F.RMS_SCALE_CM), 0.0)
    dense = np.full((t, topology.N_LANDMARKS, 2), np.nan)
    if found.any():
        f, cx, cy = F._camera(tuple(hw))
        cam = model.to_camera(model.shape(fit["id_coeff"], fit["exp"][found], fit["gaze"][found]),
                              fit["pose"][found])  # fmt: skip
        dense[found] = f * cam[..., :2] / cam[..., 2:3] + [cx, cy]
    return F.FaceAnalysis(
        found=found,
        confidence=conf,
        lmk2d=dense,
        pose=fit["pose"],
        exp=fit["exp"],
        gaze=fit["gaze"],
        blink=eye_openness68(raw),
        mouth_aperture=F.mouth_aperture(dense),
        id_coeff=fit["id_coeff"],
        rms=fit["rms"],
        mouth_aperture_raw=mouth_aperture68(raw),
        lmk_raw=raw,
    )
