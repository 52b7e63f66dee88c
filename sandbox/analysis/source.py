"""Preparing a source portrait the way the models saw faces in training (FLOAT's pre-processing note).

FLOAT's README warns that talking-portrait models depend on the training field of view and crops the
reference photo automatically around the face, padding (black) where the crop leaves the image. We do
the same with the rule the synthetic world used to cut its portraits (sandbox.face.head_model): a
square of CROP_SCALE (1.6) x the larger side of the MediaPipe landmark box, centred on that box.
Faces are found at any scale and position (sandbox.analysis.landmarks.find_faces: a group photo, a small
face off-centre in a large canvas). Several faces: the largest is used, or the K-th largest with
``face=K``; the log names which and where. A face cut off by the border: padded (warning). A small
face: upsampled (warning). No face: NoFaceError naming the file.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from sandbox.errors import ConfigError, NoFaceError
from sandbox.face.head_model import CROP_SCALE

log = logging.getLogger(__name__)

PAD_MODES = {"constant": cv2.BORDER_CONSTANT, "edge": cv2.BORDER_REPLICATE, "reflect": cv2.BORDER_REFLECT_101}
MIN_FACE_PX = 64  # landmark-box side below which the crop is mostly upsampling


@dataclass(frozen=True)
class SourceCrop:
    """Where the square crop lies in the original image (pixels, continuous coordinates)."""

    x0: float
    y0: float
    side: float
    face_px: float  # larger side of the landmark box
    n_faces: int
    padded: bool  # the crop leaves the image
    cut_off: bool  # the face itself leaves the image (MediaPipe extrapolated landmarks beyond the border)

    def affine(self, size: int) -> np.ndarray:
        """2x3 affine from original pixels to the size x size crop."""
        s = size / self.side
        return np.array([[s, 0.0, -s * self.x0], [0.0, s, -s * self.y0]])


def plan_crop(image: np.ndarray, name: str, scale: float = CROP_SCALE, face: int | None = None) -> SourceCrop:
    """Find the faces and place the crop around the largest (or the ``face``-th largest, from 0); logs
    which face it took and what it had to do."""
    from sandbox.analysis.landmarks import find_faces

    img = _check(image, name)
    faces = find_faces(img)  # largest first
    if not faces:
        raise NoFaceError(
            f"no face found in {name}: use a photo with a clearly visible, roughly frontal face "
            "(at least ~40 px across, not heavily occluded)"
        )
    k = 0 if face is None else int(face)
    if not 0 <= k < len(faces):
        raise ConfigError(f"source_face={face}: {name} has {len(faces)} face(s); "
                          f"use 0 (the largest) to {len(faces) - 1}")  # fmt: skip
    lmk = faces[k].lmk2d.astype(np.float64)
    h, w = img.shape[:2]
    lo, hi = lmk.min(0), lmk.max(0)
    centre, face_px = (lo + hi) / 2, float((hi - lo).max())
    if len(faces) > 1:
        log.warning("%d faces found in %s: using %s, %.0f px across at x=%.0f, y=%.0f (source_face=K picks "
                    "the K-th largest)", len(faces), name, "the largest" if k == 0 else f"face {k}",
                    face_px, *centre)  # fmt: skip
    else:
        log.info("face found in %s: %.0f px across at x=%.0f, y=%.0f", name, face_px, *centre)
    side = scale * face_px
    x0, y0 = centre - side / 2
    padded = x0 < 0 or y0 < 0 or x0 + side > w or y0 + side > h
    cut_off = bool((lo < 0).any() or hi[0] > w or hi[1] > h)
    if cut_off:
        log.warning("the face in %s is cut off by the image border: the missing part is padded; "
                    "a photo showing the whole head works better", name)  # fmt: skip
    elif padded:
        log.info("the %.1fx crop around the face in %s leaves the image: padding it", scale, name)
    if face_px < MIN_FACE_PX:
        log.warning("the face in %s is small (%.0f px across): the crop is upsampled and will look soft; "
                    "use a larger or closer photo", name, face_px)  # fmt: skip
    return SourceCrop(float(x0), float(y0), float(side), face_px, len(faces), bool(padded), cut_off)


def prepare_source(
    image: np.ndarray,
    name: str,
    size: int | None = None,
    scale: float = CROP_SCALE,
    pad: str = "constant",
    face: int | None = None,
) -> np.ndarray:
    """uint8 RGB [H, W, 3] -> the square crop around the largest face (``face=K``: the K-th largest,
    from 0), uint8 [S, S, 3].

    ``size`` None keeps the crop's own resolution (rounded); ``pad`` is how the area outside the
    photo is filled: "constant" (black, as FLOAT does), "edge" or "reflect".
    """
    if pad not in PAD_MODES:
        raise ValueError(f"pad must be one of {sorted(PAD_MODES)}, got {pad!r}")
    img = _check(image, name)
    crop = plan_crop(img, name, scale, face)
    out = int(size) if size else max(1, int(round(crop.side)))
    flags = cv2.INTER_AREA if out < crop.side else cv2.INTER_CUBIC
    return cv2.warpAffine(img, crop.affine(out), (out, out), flags=flags, borderMode=PAD_MODES[pad],
                          borderValue=(0, 0, 0))  # fmt: skip


def _check(image: np.ndarray, name: str) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"{name}: expected an RGB uint8 image [H, W, 3] (see sandbox.data.images.load_image), "
                         f"got {img.dtype} {img.shape}")  # fmt: skip
    return np.ascontiguousarray(img)
