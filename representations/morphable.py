"""The 3dmm motion space (GoHD app. A): head pose, expression blendshapes and gaze of the sandbox's
morphable head model (sandbox.face.head_model), per frame.

Layout (dim 20):  pose 0:6   rotation vector (3, radians) + translation (3, cm, camera space)
                  exp  6:18  the 12 blendshape coefficients of EXP_NAMES, in [0, 1] (0 = neutral)
                  gaze 18:20 (pitch, yaw) radians; positive yaw moves the irises toward the image right
Scale: the camera is a fixed pinhole (f = FOCAL x frame size), so there is no separate scale: the apparent
size of the head is set by the z translation (~50 cm from the camera; farther = smaller). Translations
are in cm and rotations in radians, hence very different magnitudes: the Normalizer (fitted by the
extract stage on the training clips) z-scores every dimension before a generator sees it.

Encoding: the face analyser (MediaPipe + model fit) on pixels, or the synthetic world's ground truth
(``encode_clip`` with ``encode_from="gt"``). Both live in the same absolute space (same head model and
camera), so a generator trained on one can drive renderers fitted with the other.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from representations.base import Representation
from sandbox.analysis.backends import IBUG68_TO_MEDIAPIPE
from sandbox.analysis.face import LEFT_LIDS, RIGHT_LIDS, FaceAnalyser
from sandbox.data.frames import to_tensor, to_uint8
from sandbox.errors import ConfigError, NoFaceError
from sandbox.face.head_model import HeadModel
from sandbox.geometry.rotation import euler_to_rotvec, rotvec_to_euler

log = logging.getLogger(__name__)

POSE, EXP, GAZE = slice(0, 6), slice(6, 18), slice(18, 20)
DIM = 20
ENCODE_FROM = ("analyser", "gt")
# MediaPipe ids of the 68-point scheme's brow points 17..26 (GoHD fig. 4): upper brow rows, image left
# to right (subject's right brow outer -> inner, then left brow inner -> outer)
BROW_68 = tuple(int(i) for i in IBUG68_TO_MEDIAPIPE[17:27])  # (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)
AUX_NAMES = ("blink_ratio",) + tuple(f"brow{i}_{a}" for i in range(17, 27) for a in "xy")


@dataclass
class MorphableReference:
    """What the 3dmm renderers need from a source photo (from :meth:`MorphableRepresentation.reference`)."""

    image: np.ndarray  # uint8 [H, W, 3] the source photo
    lmk2d: np.ndarray  # [478, 2] its MediaPipe landmarks, pixels (68-point backends: the fitted model's)
    id_coeff: np.ndarray  # [n_id] fitted identity
    pose: np.ndarray  # [6] fitted pose of the photo
    exp: np.ndarray  # [E] fitted expression of the photo
    gaze: np.ndarray  # [2] fitted gaze of the photo
    motion: torch.Tensor  # [20] = pose + exp + gaze (the photo's own motion, x_ref)
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # renderer-side state

    @property
    def size(self) -> tuple[int, int]:
        return int(self.image.shape[0]), int(self.image.shape[1])

    def tensor(self) -> torch.Tensor:
        """The photo as float [3, H, W] in [0, 1]."""
        return to_tensor(self.image)


def fill_missing(values: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Linear interpolation over time of rows where ``found`` is False (nearest value at the ends)."""
    out = np.array(values, np.float64)
    t = np.arange(len(out))
    for d in range(out.shape[1]):
        out[~found, d] = np.interp(t[~found], t[found], out[found, d])
    return out


class MorphableRepresentation(Representation):
    name = "3dmm"
    learned = False
    default_renderer = "mesh_warp"  # training-free; renderer=navigator is the learned alternative

    def __init__(self, encode_from: str = "analyser", video: bool = True, landmarks: str = "mediapipe",
                 landmarks_dir: str | None = None):
        """encode_from: what ``encode_clip`` uses by default: "analyser" (pixels -> MediaPipe -> model
        fit; works on any video) or "gt" (the synthetic world's ground truth). video: the analyser
        tracks landmarks across the frames of one call. landmarks: the analyser's landmark model,
        "mediapipe" or "face_alignment" (68 points, weights from the local ``landmarks_dir``;
        sandbox.analysis.backends)."""
        if encode_from not in ENCODE_FROM:
            raise ConfigError(f"encode_from must be one of {ENCODE_FROM}, got {encode_from!r}")
        from sandbox.analysis.backends import check_backend

        self.landmarks = check_backend(landmarks, landmarks_dir)  # before any work: names, extra, weights
        self.landmarks_dir = landmarks_dir
        super().__init__(DIM, {"pose": POSE, "exp": EXP, "gaze": GAZE})
        self.encode_from = encode_from
        self.video = video
        self.head = HeadModel.load()
        weight, bias = eye_feature_map(self.head)
        # the aux map is a function of the (fixed) head model: buffers, but not worth a checkpoint entry
        self.register_buffer("aux_weight", torch.as_tensor(weight, dtype=torch.float32), persistent=False)
        self.register_buffer("aux_bias", torch.as_tensor(bias, dtype=torch.float32), persistent=False)

    # nothing to learn: fit() is the base class's no-op (the extract stage fits the normaliser)

    # -- mapping ----------------------------------------------------------------------------------
    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """frames float [T, 3, H, W] in [0, 1] -> motion [T, 20] through the face analyser.

        Frames where no face is found are interpolated linearly from their neighbours (held constant
        before the first / after the last found frame) and the fraction is logged; NoFaceError when
        no frame has a face."""
        if frames.ndim != 4 or frames.shape[1] != 3:
            raise ValueError(f"frames must be [T, 3, H, W], got {tuple(frames.shape)}")
        if frames.shape[0] == 0:
            return torch.zeros(0, DIM)
        a = self._analyser(video=self.video).analyse(to_uint8(frames))
        return self._assemble(a.pose, a.exp, a.gaze, a.found)

    def _analyser(self, video: bool) -> FaceAnalyser:
        return FaceAnalyser(self.head, video=video, backend=self.landmarks, model_dir=self.landmarks_dir)

    def encode_landmarks(self, lmk2d: np.ndarray, size: int | tuple[int, int]) -> torch.Tensor:
        """The encode path from landmarks [T, 478, 2] (pixels of a ``size`` frame; NaN rows = no face)
        instead of pixels: the analyser's model fit, then the same gap filling as :meth:`encode`."""
        from sandbox.analysis.face import fit_landmarks

        lmk2d = np.asarray(lmk2d, np.float64)
        fit = fit_landmarks(lmk2d, size, self.head)
        return self._assemble(fit["pose"], fit["exp"], fit["gaze"], np.isfinite(lmk2d).all(axis=(1, 2)))

    @staticmethod
    def _assemble(pose: np.ndarray, exp: np.ndarray, gaze: np.ndarray, found: np.ndarray) -> torch.Tensor:
        n = len(found)
        if not found.any():
            raise NoFaceError(f"no face found in any of the {n} frames: the video needs a visible face")
        motion = np.concatenate([pose, exp, gaze], axis=1)
        if not found.all():
            log.warning("no face in %d of %d frames (%.1f%%): interpolated from the neighbouring frames",
                        (~found).sum(), n, 100 * (~found).mean())  # fmt: skip
            motion = fill_missing(motion, found)
        return torch.as_tensor(motion, dtype=torch.float32)

    def encode_clip(self, clip, batch_size: int = 32, source: str | None = None) -> torch.Tensor:
        """A Clip -> motion [T, 20], from ``source`` ("analyser" | "gt"; default ``encode_from``)."""
        source = source or self.encode_from
        if source not in ENCODE_FROM:
            raise ConfigError(f"source must be one of {ENCODE_FROM}, got {source!r}")
        if source == "gt":
            missing = [k for k in ("pose", "exp", "gaze") if k not in clip.gt]
            if missing:
                raise ConfigError(f"clip {clip.clip_id} has no ground-truth {missing} (real video?): "
                                  "use rep.encode_from=analyser")  # fmt: skip
            g = clip.gt
            return torch.as_tensor(np.concatenate([g["pose"], g["exp"], g["gaze"]], axis=1), dtype=torch.float32)
        frames = to_tensor(clip.frames)
        return self.encode(frames)

    def reference(self, source_image: torch.Tensor, name: str = "the source image") -> MorphableReference:
        """source float [3, H, W] in [0, 1] -> the photo, its landmarks and its fitted identity + motion."""
        img = to_uint8(source_image)
        a = self._analyser(video=False).require_face(img, name)
        motion = np.concatenate([a.pose[0], a.exp[0], a.gaze[0]])
        return MorphableReference(
            image=img, lmk2d=a.lmk2d[0], id_coeff=a.id_coeff, pose=a.pose[0], exp=a.exp[0], gaze=a.gaze[0],
            motion=torch.as_tensor(motion, dtype=torch.float32),
        )  # fmt: skip

    def reference_motion(self, ref: MorphableReference) -> torch.Tensor:
        return ref.motion

    # -- structure for generators ------------------------------------------------------------------
    def aux_features(self, motion: torch.Tensor) -> torch.Tensor:
        """GoHD's eye-motion feature f_t (fig. 4), [..., 21] from un-normalised motion [..., 20]:

        0      blink ratio he_t / he_r: mean lid gap (3 vertical pairs per eye, both eyes) of the mesh
               with expression e_t over that of the neutral mesh (1 open as in the photo, ~0 shut);
        1..20  brow displacements l_t - l_r (x, y; cm) of the 10 brow points 17..26 of the 68-point
               scheme, flattened point by point (AUX_NAMES).
        The mesh is the model-space shape with identity and pose zeroed, as in the paper; lid gaps are
        vertical differences, so the whole feature is linear in exp and differentiable (works on
        ``denormalize(x)`` of a generator's output)."""
        return motion[..., EXP] @ self.aux_weight.to(motion) + self.aux_bias.to(motion)

    def edit(
        self,
        motion: torch.Tensor,
        pose: Any = None,
        pose_offset: Any = None,
        gaze: Any = None,
        gaze_offset: Any = None,
    ) -> torch.Tensor:
        """Set or offset the head pose and gaze of un-normalised motion [..., 20] (a new tensor).

        pose / pose_offset: (yaw, pitch, roll) radians, optionally followed by a translation (x, y, z
        cm): 3 or 6 values, or per-frame [..., 3 | 6]. Offsets add to the Euler angles (and translation).
        gaze / gaze_offset: (pitch, yaw) radians, or per-frame [..., 2]. Signs as the head's: positive
        yaw looks toward the image right, positive pitch looks up; e.g. gaze_offset=(0, -0.3 * pi)
        looks toward the image left.
        """
        out = motion.detach().cpu().double().numpy().copy()
        if pose is not None or pose_offset is not None:
            ypr, trans = rotvec_to_euler(out[..., :3]), out[..., 3:6]
            for value, add in ((pose, False), (pose_offset, True)):
                if value is None:
                    continue
                v = np.asarray(value, np.float64)
                if v.shape[-1] not in (3, 6):
                    raise ValueError(f"pose values are (yaw, pitch, roll[, x, y, z]): 3 or 6 numbers, got {v.shape}")
                ypr = ypr + v[..., :3] if add else np.broadcast_to(v[..., :3], ypr.shape)
                if v.shape[-1] == 6:
                    trans = trans + v[..., 3:] if add else np.broadcast_to(v[..., 3:], trans.shape)
            out[..., :3] = euler_to_rotvec(ypr)
            out[..., 3:6] = trans
        for value, add in ((gaze, False), (gaze_offset, True)):
            if value is None:
                continue
            v = np.asarray(value, np.float64)
            if v.shape[-1] != 2:
                raise ValueError(f"gaze values are (pitch, yaw) radians, got shape {v.shape}")
            out[..., GAZE] = out[..., GAZE] + v if add else np.broadcast_to(v, out[..., GAZE].shape)
        return torch.as_tensor(out, dtype=motion.dtype, device=motion.device)

    # -- checkpoints --------------------------------------------------------------------------------
    def save(self, path) -> None:
        torch.save({"config": {"encode_from": self.encode_from, "video": self.video},
                    "state_dict": self.state_dict()}, path)

    @classmethod
    def load(cls, path, map_location: str | torch.device = "cpu") -> "MorphableRepresentation":
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
        rep = cls(**ckpt["config"])
        rep.load_state_dict(ckpt["state_dict"])
        return rep.eval()


def eye_feature_map(model: HeadModel) -> tuple[np.ndarray, np.ndarray]:
    """(W [E, 21], b [21]) with f = exp @ W + b the eye-motion feature of :meth:`aux_features`."""
    basis = model.exp_basis  # [E, 478, 3], model space, y down
    pairs = np.array(LEFT_LIDS + RIGHT_LIDS)  # (upper, lower)
    he_r = float((model.mean[pairs[:, 1], 1] - model.mean[pairs[:, 0], 1]).mean())
    d_he = (basis[:, pairs[:, 1], 1] - basis[:, pairs[:, 0], 1]).mean(1)  # [E]
    brows = basis[:, list(BROW_68), :2].reshape(len(basis), -1)  # [E, 20]
    weight = np.concatenate([d_he[:, None] / he_r, brows], axis=1)
    bias = np.zeros(weight.shape[1])
    bias[0] = 1.0
    return weight, bias

