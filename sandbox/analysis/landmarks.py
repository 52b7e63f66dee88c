"""Thin wrapper around MediaPipe Face Mesh (478 landmarks with irises), in pixel units.

MediaPipe's solution API gives no per-face score, so ``score`` is a visibility proxy: the fraction of
face-oval landmarks that fall inside the image (1 for a face fully in frame). The analyser combines it
with the morphable-model fit residual into its confidence.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

# glog / TF-lite chatter goes to stderr at graph start; these only help before mediapipe is loaded
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@dataclass
class Face:
    lmk: np.ndarray  # float32 [478, 3]: x, y in pixels, z relative depth in the same pixel scale as x
    score: float  # visibility proxy in [0, 1]

    @property
    def lmk2d(self) -> np.ndarray:
        return self.lmk[:, :2]

    @property
    def area(self) -> float:
        """Bounding-box area of the landmarks in pixels^2 (to pick the largest face)."""
        span = self.lmk[:, :2].max(0) - self.lmk[:, :2].min(0)
        return float(span[0] * span[1])


@contextmanager
def _stderr_silenced():
    """Route the C++ stderr (fd 2) to /dev/null: MediaPipe's graph prints glog warnings at start-up
    before absl logging is initialised, so no environment variable or Python logger reaches them.
    Python exceptions still propagate; only the chatter of the wrapped calls is lost."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (some embedded consoles): leave it alone
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _quiet_absl() -> None:
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # absl ships with mediapipe; nothing to silence without it
        pass


class LandmarkDetector:
    """``detect(img)`` -> list of :class:`Face`. ``video=True`` tracks across consecutive calls
    (use :meth:`reset` between unrelated sequences); ``video=False`` treats every image independently."""

    def __init__(self, max_num_faces: int = 4, video: bool = False, min_confidence: float = 0.5):
        import mediapipe as mp

        _quiet_absl()
        self._args = dict(
            static_image_mode=not video,
            max_num_faces=max_num_faces,
            refine_landmarks=True,
            min_detection_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
        )
        self._mp = mp
        self._oval = None
        self._new_mesh()

    def _new_mesh(self) -> None:
        with _stderr_silenced():
            self._mesh = self._mp.solutions.face_mesh.FaceMesh(**self._args)
        self._fresh = True

    def reset(self) -> None:
        """Forget tracking state (start of a new video)."""
        self._mesh.close()
        self._new_mesh()

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> "LandmarkDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def detect(self, image: np.ndarray) -> list[Face]:
        img = np.ascontiguousarray(image)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 image [H, W, 3], got {img.dtype} {img.shape}")
        h, w = img.shape[:2]
        if self._fresh:  # the first frame starts the TF-lite delegates, which log on stderr
            with _stderr_silenced():
                res = self._mesh.process(img)
            self._fresh = False
        else:
            res = self._mesh.process(img)
        if not res.multi_face_landmarks:
            return []
        faces = [self.face(np.array([(p.x * w, p.y * h, p.z * w) for p in fl.landmark], dtype=np.float32), (h, w))
                 for fl in res.multi_face_landmarks]
        faces.sort(key=lambda f: -f.area)
        return faces

    def face(self, lmk: np.ndarray, hw: tuple[int, int]) -> Face:
        """A :class:`Face` from pixel landmarks in an image of size ``hw``, scored by its visible oval."""
        if self._oval is None:
            from sandbox.face.topology import contours

            self._oval = contours()["face_oval"]
        o = lmk[self._oval, :2]
        inside = (o[:, 0] >= 0) & (o[:, 0] < hw[1]) & (o[:, 1] >= 0) & (o[:, 1] < hw[0])
        return Face(lmk=lmk, score=float(inside.mean()))


def detect(image: np.ndarray, max_num_faces: int = 4) -> list[Face]:
    """One-shot detection on a single image (static mode); faces sorted largest first."""
    with LandmarkDetector(max_num_faces=max_num_faces, video=False) as det:
        return det.detect(image)


# -- faces at any scale ------------------------------------------------------------------------------
# Face Mesh's own detector is BlazeFace short range (faces filling much of a 128 px view), so in a group
# photo or a small face in a large canvas it finds nothing. The full-range detector (192 px input) finds
# faces down to ~1/12 of the image side; over a pyramid of overlapping tiles it finds them at any scale.
# Each box is then meshed from a square crop around it, upsampled to MESH_PX.
MESH_PX = 256  # side the crop around a detected box is resampled to for the mesh
BOX_CONTEXT = 3.0  # crop side / detector box side: the whole head plus margin, as Face Mesh expects
MIN_TILE_PX = 256  # the pyramid stops when tiles get smaller than this


def _tiles(h: int, w: int) -> list[tuple[int, int, int]]:
    """(x0, y0, side) of square tiles: the whole image, then levels of half-overlapping squares whose
    side halves from the image's short side down to MIN_TILE_PX."""
    out = [(0, 0, max(h, w))]
    side = min(h, w)
    while side >= MIN_TILE_PX:
        step = side // 2
        xs = sorted({*range(0, max(w - side, 0) + 1, step), max(w - side, 0)})
        ys = sorted({*range(0, max(h - side, 0) + 1, step), max(h - side, 0)})
        out += [(x, y, side) for y in ys for x in xs]
        side //= 2
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes (x0, y0, x1, y1)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def detect_boxes(image: np.ndarray, min_confidence: float = 0.5) -> list[tuple[np.ndarray, float]]:
    """Face boxes (x0, y0, x1, y1 pixels) and scores from MediaPipe's full-range detector over the tile
    pyramid, overlaps merged (the higher score kept); highest score first."""
    import cv2
    import mediapipe as mp

    _quiet_absl()
    h, w = image.shape[:2]
    found = []
    with _stderr_silenced():  # the graph logs at start and at its first image
        fd = mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=min_confidence)
        fd.process(np.zeros((192, 192, 3), np.uint8))
    try:
        for x0, y0, side in _tiles(h, w):
            tile = np.zeros((side, side, 3), np.uint8)  # the whole image's tile is padded square
            part = image[y0:y0 + side, x0:x0 + side]
            tile[: part.shape[0], : part.shape[1]] = part
            if side > 4 * 192:  # the detector resamples to 192 px; area-averaging first avoids aliasing
                tile = cv2.resize(tile, (768, 768), interpolation=cv2.INTER_AREA)
            res = fd.process(tile)
            for d in res.detections or []:
                b = d.location_data.relative_bounding_box
                box = np.array([b.xmin, b.ymin, b.xmin + b.width, b.ymin + b.height]) * side
                found.append((box + [x0, y0, x0, y0], float(d.score[0])))
    finally:
        fd.close()
    kept: list[tuple[np.ndarray, float]] = []
    for box, score in sorted(found, key=lambda f: -f[1]):
        if all(_iou(box, k) < 0.3 for k, _ in kept):
            kept.append((box, score))
    return kept


def find_faces(image: np.ndarray, max_faces: int = 8) -> list[Face]:
    """Faces at any scale and position, largest first: Face Mesh on the whole image (faces that fill it),
    plus each full-range detection (:func:`detect_boxes`) meshed from an upsampled crop around it."""
    import cv2

    img = np.ascontiguousarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image [H, W, 3], got {img.dtype} {img.shape}")
    h, w = img.shape[:2]
    with LandmarkDetector(max_num_faces=max_faces, video=False) as det:
        faces = det.detect(img)
        boxes = [np.r_[f.lmk2d.min(0), f.lmk2d.max(0)] for f in faces]
        for box, _ in detect_boxes(img):
            if len(faces) >= max_faces:
                break
            centre, side = (box[:2] + box[2:]) / 2, BOX_CONTEXT * float((box[2:] - box[:2]).max())
            if any(b[0] <= centre[0] <= b[2] and b[1] <= centre[1] <= b[3] for b in boxes):
                continue  # a face already meshed
            s = MESH_PX / side
            x0, y0 = centre - side / 2
            crop = cv2.warpAffine(img, np.array([[s, 0, -s * x0], [0, s, -s * y0]]), (MESH_PX, MESH_PX),
                                  flags=cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA)  # fmt: skip
            near = [f for f in det.detect(crop)
                    if np.linalg.norm(f.lmk2d.mean(0) - MESH_PX / 2) < MESH_PX / (2 * BOX_CONTEXT)]
            if not near:
                continue  # the detector's box did not hold a face the mesh recognises
            lmk = near[0].lmk.copy()
            lmk[:, :2] = lmk[:, :2] / s + [x0, y0]
            lmk[:, 2] /= s
            face = det.face(lmk, (h, w))
            faces.append(face)
            boxes.append(np.r_[face.lmk2d.min(0), face.lmk2d.max(0)])
    faces.sort(key=lambda f: -f.area)
    return faces
