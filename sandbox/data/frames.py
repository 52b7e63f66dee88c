"""Frames between their two forms: uint8 [..., H, W, 3] arrays (files, video, the analyser) and float
[..., 3, H, W] tensors in [0, 1] (models)."""
from __future__ import annotations

import numpy as np
import torch


def to_tensor(frames) -> torch.Tensor:
    """uint8 [..., H, W, 3] -> float [..., 3, H, W] in [0, 1]; copied, since frames may be a read-only memmap."""
    return torch.from_numpy(np.array(frames, dtype=np.uint8)).movedim(-1, -3).float().div_(255.0)


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """float [..., 3, H, W] in [0, 1] -> uint8 [..., H, W, 3] (rounded, clipped)."""
    x = frames.detach().float().clamp(0, 1).mul(255).add(0.5).to(torch.uint8)
    return np.ascontiguousarray(x.movedim(-3, -1).cpu().numpy())
