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
        if self._oval is None:
            from sandbox.face.topology import contours

            self._oval = contours()["face_oval"]
        faces = []
        for fl in res.multi_face_landmarks:
            lmk = np.array([(p.x * w, p.y * h, p.z * w) for p in fl.landmark], dtype=np.float32)
            o = lmk[self._oval, :2]
            inside = (o[:, 0] >= 0) & (o[:, 0] < w) & (o[:, 1] >= 0) & (o[:, 1] < h)
            faces.append(Face(lmk=lmk, score=float(inside.mean())))
        faces.sort(key=lambda f: -f.area)
        return faces


def detect(image: np.ndarray, max_num_faces: int = 4) -> list[Face]:
    """One-shot detection on a single image (static mode); faces sorted largest first."""
    with LandmarkDetector(max_num_faces=max_num_faces, video=False) as det:
        return det.detect(image)
