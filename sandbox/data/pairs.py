"""(source, driving) frame pairs from the same clip, for training image auto-encoders (lia, keypoint).

Each item is one driving frame of a split plus a source frame drawn from the same clip, both resized
to ``size``, with component masks of the driving frame (mouth, eyes) rasterised from gt["lmk2d"] for
the component-weighted reconstruction loss. ``fixed=True`` makes the source choice a function of
the index (validation); otherwise it is drawn from torch's RNG (seeded by the trainer, per worker).
:meth:`FramePairs.blink_weights` lets a sampler draw the rare driving frames with closed eyes more often.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from sandbox.analysis.face import eye_openness
from sandbox.data.clips import ClipStore
from sandbox.data.frames import to_tensor
from sandbox.metrics.motion import eyes_closed

COMPONENTS = ("mouth", "eyes")
MOTION_KEYS = ("pose", "exp", "gaze")  # gt keys of the 3dmm motion (world truth or analyser estimates)
_SHIFT = 4  # fillPoly sub-pixel bits: vertices in 1/16 pixel


def resize_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """uint8 [H, W, 3] -> uint8 [size, size, 3] (area filter when shrinking)."""
    h, w = frame.shape[:2]
    if (h, w) == (size, size):
        return np.ascontiguousarray(frame)
    interp = cv2.INTER_AREA if size < min(h, w) else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(frame), (size, size), interpolation=interp)


def component_masks(lmk2d: np.ndarray, src_hw: tuple[int, int], size: int, dilate: int = 1) -> np.ndarray:
    """Binary masks float32 [2, size, size] (mouth, eyes) from pixel landmarks [478, 2] of a
    src_hw frame: the outer-lip polygon and both eye polygons, dilated by ``dilate`` pixels.
    fillPoly includes boundary pixels, so a mask is slightly larger than the polygon's area."""
    from sandbox.face.topology import contours

    c = contours()
    scale = np.array([size / src_hw[1], size / src_hw[0]], dtype=np.float64)
    # pixel centres sit at integer coordinates in both frames, hence the half-pixel terms
    xy = (lmk2d.astype(np.float64) + 0.5) * scale - 0.5
    pts = np.round(xy * (1 << _SHIFT)).astype(np.int32)
    groups = {"mouth": ["lips_outer"], "eyes": ["left_eye", "right_eye"]}
    out = np.zeros((len(COMPONENTS), size, size), np.uint8)
    kernel = np.ones((2 * dilate + 1, 2 * dilate + 1), np.uint8) if dilate > 0 else None
    for i, name in enumerate(COMPONENTS):
        m = np.zeros((size, size), np.uint8)
        cv2.fillPoly(m, [pts[c[k]] for k in groups[name]], 1, lineType=cv2.LINE_8, shift=_SHIFT)
        out[i] = cv2.dilate(m, kernel) if kernel is not None else m
    return out.astype(np.float32)


class FramePairs(Dataset):
    """Items: {"source", "driving": float [3, S, S] in [0, 1]; "masks": float [2, S, S] (mouth, eyes)
    of the driving frame; "lmk_source", "lmk_driving" [478, 2] in [-1, 1] and "has_lmk"; "motion_delta"
    (driving minus source 3dmm motion, standardised), "pose" [2, 6] (source, driving: rotation vector,
    translation), "has_motion" and "eyes_closed" (1.0 where the driving frame's eyes are closed)}.
    Length = number of driving frames in the split."""

    def __init__(
        self,
        store: ClipStore,
        split: str,
        size: int,
        fixed: bool = False,
        seed: int = 0,
        mask_dilate: int | None = None,
    ):
        self.size = size
        self.fixed = fixed
        self.seed = seed
        self.mask_dilate = max(1, size // 64) if mask_dilate is None else mask_dilate
        self.clips = [store.load(cid) for cid in store.ids(split)]  # frames are memory-mapped
        self.index = [(ci, t) for ci, clip in enumerate(self.clips) for t in range(clip.num_frames)]
        if not self.index:
            raise ValueError(f"split {split!r} of {store.root} has no frames")
        # each clip's 3dmm motion [T, D] (None where the clip has none), built once, not per item, and
        # its per-dimension std over the split, so every dimension of a motion difference counts alike
        # in a readout loss (constant dimensions keep scale 1)
        self.motions = [
            np.concatenate([c.gt[k] for k in MOTION_KEYS], axis=1).astype(np.float32)
            if all(k in c.gt for k in MOTION_KEYS) else None
            for c in self.clips
        ]
        known = [m for m in self.motions if m is not None]
        self.motion_dim = known[0].shape[1] if known else 0
        std = np.concatenate(known).std(0) if known else np.ones(0)
        self.motion_scale = np.where(std > 1e-6, std, 1.0).astype(np.float32)
        # per item: the driving frame's eyes are closed by the eval's blink rule (mean openness of both eyes
        # below 0.5 x its clip's median); False for clips without landmarks
        self.eyes_closed = np.concatenate([self._closed(c) for c in self.clips])

    @staticmethod
    def _closed(clip) -> np.ndarray:
        if "lmk2d" not in clip.gt:
            return np.zeros(clip.num_frames, bool)
        return eyes_closed(eye_openness(clip.gt["lmk2d"]).mean(-1))

    def blink_weights(self, share: float) -> np.ndarray:
        """Per-item sampling weights [len] (summing to 1) under which the items whose driving eyes are closed
        make up ``share`` of the draws (the rest keep their relative weights); for a WeightedRandomSampler."""
        if not 0.0 < share < 1.0:
            raise ValueError(f"blink share {share} must lie in (0, 1) (0 = sample every frame alike)")
        n_closed = int(self.eyes_closed.sum())
        if n_closed == 0:
            raise ValueError("no training frame has its eyes closed (or the clips have no lmk2d landmarks): "
                             "there are no blink frames to draw more often; set the blink share to 0")
        return np.where(self.eyes_closed, share / n_closed, (1.0 - share) / (len(self) - n_closed))

    def __len__(self) -> int:
        return len(self.index)

    def _source_frame(self, i: int, n: int) -> int:
        if self.fixed:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
            return int(torch.randint(n, (1,), generator=g))
        return int(torch.randint(n, (1,)))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        ci, t = self.index[i]
        clip = self.clips[ci]
        s = self._source_frame(i, clip.num_frames)
        drv = clip.frames[t]
        n_lmk = 478
        if "lmk2d" in clip.gt:
            masks = component_masks(clip.gt["lmk2d"][t], drv.shape[:2], self.size, self.mask_dilate)
            h, w = drv.shape[:2]
            norm = np.array([2.0 / w, 2.0 / h], np.float32)  # pixels (i spans [i, i+1]) -> [-1, 1]
            lmk_s, lmk_d = (clip.gt["lmk2d"][k].astype(np.float32) * norm - 1.0 for k in (s, t))
            has_lmk = 1.0
        else:  # real video without landmarks: plain L1 only
            masks = np.zeros((len(COMPONENTS), self.size, self.size), np.float32)
            lmk_s = lmk_d = np.zeros((n_lmk, 2), np.float32)
            has_lmk = 0.0
        m = self.motions[ci]
        if m is not None:
            motion_delta, has_motion = (m[t] - m[s]) / self.motion_scale, 1.0
            pose = np.stack([m[s, :6], m[t, :6]])
        else:
            motion_delta, has_motion = np.zeros(self.motion_dim, np.float32), 0.0
            pose = np.zeros((2, 6), np.float32)
        return {
            "source": to_tensor(resize_frame(clip.frames[s], self.size)),
            "driving": to_tensor(resize_frame(drv, self.size)),
            "masks": torch.from_numpy(masks),
            "lmk_source": torch.from_numpy(lmk_s),
            "lmk_driving": torch.from_numpy(lmk_d),
            "has_lmk": torch.tensor(has_lmk),
            "motion_delta": torch.from_numpy(motion_delta),
            "has_motion": torch.tensor(has_motion),
            "pose": torch.from_numpy(pose),  # (source, driving) head pose: rotation vector + translation
            "eyes_closed": torch.tensor(float(self.eyes_closed[i])),
        }
