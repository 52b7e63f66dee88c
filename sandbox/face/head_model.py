"""A small linear morphable head model built from one real portrait (scikit-image's astronaut).

Shape:  S(id, exp, gaze) = mean + id @ id_basis + exp @ exp_basis, then the irises (468-477) are rotated
        about their eyeball centres by the gaze.
Pose:   camera point = R(rotvec) @ S + t; pinhole camera f = FOCAL * size px, principal point at the
        image centre (size/2, size/2), pixel coordinates continuous with 0 at the left/top edge.
Units:  model and camera space in centimetres (the inter-pupil distance of the mean is 6.3 cm).
Axes:   model space x = subject's left (image right when frontal), y = down, z = away from the camera,
        i.e. the OpenCV camera frame, so pose (0, 0, 0, 0, 0, d) is a frontal head d cm in front of the
        camera and ``cv2.solvePnP(mean, lmk2d, camera_matrix(size), None)`` returns the same pose.
        The origin is roughly the head's centre of rotation: mid-plane, eye level, 9 cm behind the nose tip.
Expressions (EXP_NAMES) are procedural displacement fields on landmark regions, in [0, 1] (0 = neutral
photo). Identity (ID_NAMES) coefficients are ~N(0, 1) smooth, symmetric shape changes.
Gaze (pitch, yaw) radians, same signs as the head's Euler angles: positive yaw moves the irises toward the
image right, positive pitch moves them up. Gaze 0 is the photo's own gaze.

This module is the runtime model (loaded from sandbox/assets/head_model.npz). How it was built from the
photo lives with the synthetic world: ``python -m sandbox.world.build_head_model --rebuild [--preview out.png]``.
"""
from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from sandbox.face import topology
from sandbox.geometry.rotation import euler_to_matrix, rotvec_to_matrix
from sandbox.paths import ASSETS_DIR, cache_dir

log = logging.getLogger(__name__)

EXP_NAMES = (
    "jaw_open", "lip_spread", "lip_round", "lip_press", "smile", "frown",
    "blink_l", "blink_r", "brow_raise", "brow_lower", "squint", "sneer",
)  # fmt: skip
ID_NAMES = (
    "face_width", "face_length", "jaw_width", "chin_length", "nose_length",
    "nose_width", "eye_spacing", "eye_size", "mouth_width", "brow_height",
)  # fmt: skip
N_EXP, N_ID = len(EXP_NAMES), len(ID_NAMES)
FOCAL = 0.5 / np.tan(np.radians(15.0))  # focal length / image size: 30-degree field of view (~1.866)
TEXTURE_SIZE = 512
CROP_SCALE = 1.6  # square crop side = 1.6 x the larger side of the landmark box
EYE_RADIUS_CM = 1.2  # eyeball radius for the gaze rotation
ASSET_PATH = ASSETS_DIR / "head_model.npz"
ASSET_VERSION = 2

# landmark ids the model and its fitters name
NOSE_TIP, CHIN, FOREHEAD, SUBNASALE = 1, 152, 10, 2


# ------------------------------------------------------------------------------------------ model


class HeadModel:
    """Linear morphable head model; see the module docstring for conventions."""

    exp_names = EXP_NAMES
    id_names = ID_NAMES

    def __init__(
        self,
        mean: np.ndarray,
        id_basis: np.ndarray,
        exp_basis: np.ndarray,
        texture: np.ndarray,
        texture_lmk2d: np.ndarray,
        neutral_pose: np.ndarray,
    ):
        self.mean = np.asarray(mean, np.float64)
        self.id_basis = np.asarray(id_basis, np.float64)
        self.exp_basis = np.asarray(exp_basis, np.float64)
        self.texture = texture
        self.texture_lmk2d = np.asarray(texture_lmk2d, np.float64)
        self.neutral_pose = np.asarray(neutral_pose, np.float64)
        self.n_id, self.n_exp = len(self.id_basis), len(self.exp_basis)

    # ---------------------------------------------------------------- geometry

    def identity_shape(self, id_coeff=None) -> np.ndarray:
        """[478, 3] neutral shape of an identity."""
        idc = _coeffs(id_coeff, self.n_id)
        return self.mean + np.tensordot(idc, self.id_basis, axes=(0, 0))

    def shape(self, id_coeff=None, exp=None, gaze=None) -> np.ndarray:
        """Model-space landmarks [..., 478, 3]; leading dims broadcast between exp [..., E] and gaze [..., 2]."""
        base = self.identity_shape(id_coeff)
        e = np.zeros(self.n_exp) if exp is None else np.asarray(exp, np.float64)
        if e.ndim == 0:
            e = np.full(self.n_exp, float(e))
        g = np.zeros(2) if gaze is None else np.asarray(gaze, np.float64)
        if g.ndim == 0:
            g = np.full(2, float(g))
        lead = np.broadcast_shapes(e.shape[:-1], g.shape[:-1])
        s = base + np.einsum("...k,knc->...nc", e, self.exp_basis)
        s = np.broadcast_to(s, lead + s.shape[-2:]).copy()
        return self._apply_gaze(s, base, np.broadcast_to(g, lead + (2,)))

    def _apply_gaze(self, s: np.ndarray, base: np.ndarray, gaze: np.ndarray) -> np.ndarray:
        # rotate each iris (centre + 4 rim points) about a centre EYE_RADIUS behind the neutral iris centre;
        # expressions never move the irises, so the centre comes from the identity shape alone
        ypr = np.concatenate([gaze[..., 1:2], gaze[..., 0:1], np.zeros_like(gaze[..., :1])], -1)
        rg = euler_to_matrix(ypr)  # [..., 3, 3]
        for iris in (topology.LEFT_IRIS, topology.RIGHT_IRIS):
            centre = base[iris[0]] + np.array([0.0, 0.0, EYE_RADIUS_CM])
            rel = s[..., iris, :] - centre
            s[..., iris, :] = np.einsum("...ij,...nj->...ni", rg, rel) + centre
        return s

    def camera_matrix(self, size: int) -> np.ndarray:
        f = FOCAL * size
        return np.array([[f, 0.0, size / 2.0], [0.0, f, size / 2.0], [0.0, 0.0, 1.0]])

    def to_camera(self, points: np.ndarray, pose: np.ndarray) -> np.ndarray:
        """[..., N, 3] model points + pose [..., 6] -> camera points [..., N, 3]."""
        pose = np.asarray(pose, np.float64)
        r = rotvec_to_matrix(pose[..., :3])
        return np.einsum("...ij,...nj->...ni", r, points) + pose[..., None, 3:]

    def project(self, cam: np.ndarray, size: int) -> np.ndarray:
        """[..., N, 3] camera points -> [..., N, 2] pixels."""
        f = FOCAL * size
        return f * cam[..., :2] / cam[..., 2:3] + size / 2.0

    def landmarks(self, id_coeff=None, pose=None, exp=None, gaze=None, size: int = TEXTURE_SIZE):
        """(lmk3d camera space [..., 478, 3], lmk2d pixels [..., 478, 2]) for a size x size frame."""
        pose = self.neutral_pose if pose is None else np.asarray(pose, np.float64)
        e = np.zeros(self.n_exp) if exp is None else np.asarray(exp, np.float64)
        g = np.zeros(2) if gaze is None else np.asarray(gaze, np.float64)
        if e.ndim == 0:
            e = np.full(self.n_exp, float(e))
        if g.ndim == 0:
            g = np.full(2, float(g))
        lead = np.broadcast_shapes(pose.shape[:-1], e.shape[:-1], g.shape[:-1])
        s = self.shape(id_coeff, np.broadcast_to(e, lead + e.shape[-1:]), np.broadcast_to(g, lead + (2,)))
        cam = self.to_camera(s, np.broadcast_to(pose, lead + (6,)))
        return cam, self.project(cam, size)

    # ---------------------------------------------------------------- persistence

    @classmethod
    def load(cls, path: str | Path | None = None) -> "HeadModel":
        """Cached instance from sandbox/assets/head_model.npz (built from the astronaut if missing)."""
        return _load_cached(str(path) if path else "")

    def save(self, path: Path, crop: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path,
            version=ASSET_VERSION,
            mean=self.mean.astype(np.float32),
            id_basis=self.id_basis.astype(np.float32),
            exp_basis=self.exp_basis.astype(np.float32),
            texture_lmk2d=self.texture_lmk2d.astype(np.float32),
            neutral_pose=self.neutral_pose,
            crop=crop,  # the texture is re-cut from skimage's astronaut on load (keeps the asset small)
            exp_names=np.array(EXP_NAMES),
            id_names=np.array(ID_NAMES),
        )


def _coeffs(c, n: int) -> np.ndarray:
    if c is None:
        return np.zeros(n)
    c = np.asarray(c, np.float64)
    return np.full(n, float(c)) if c.ndim == 0 else c


@lru_cache(maxsize=4)
def _load_cached(path: str) -> HeadModel:
    candidates = [Path(path)] if path else [ASSET_PATH, cache_dir() / "head_model.npz"]
    for p in candidates:
        if p.exists():
            z = np.load(p)
            if int(z["version"]) == ASSET_VERSION and tuple(z["exp_names"]) == EXP_NAMES:
                crop = z["crop"]
                return HeadModel(z["mean"], z["id_basis"], z["exp_basis"], cut_texture(crop),
                                 z["texture_lmk2d"], z["neutral_pose"])  # fmt: skip
    raise FileNotFoundError(
        f"no head model asset of version {ASSET_VERSION} at {', '.join(map(str, candidates))}; rebuild it with "
        "`python -m sandbox.world.build_head_model --rebuild` (needs mediapipe and scikit-image).")


def _source_image() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()


def cut_texture(crop: np.ndarray) -> np.ndarray:
    """Cut the 512^2 texture from the astronaut with a 2x3 affine (source px -> texture px)."""
    return cv2.warpAffine(_source_image(), np.asarray(crop, np.float64), (TEXTURE_SIZE, TEXTURE_SIZE),
                          flags=cv2.INTER_AREA if crop[0, 0] < 1 else cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
