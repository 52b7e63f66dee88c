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


def resize_square(frames: torch.Tensor, size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """float [B, 3, H, W] -> float32 [B, 3, size, size] on ``device`` (antialiased bilinear when the
    side differs): what a model trained at ``size`` reads."""
    frames = frames.to(device=device, dtype=torch.float32)
    if frames.shape[-2:] != (size, size):
        frames = torch.nn.functional.interpolate(frames, size=(size, size), mode="bilinear", antialias=True,
                                                 align_corners=False)  # fmt: skip
    return frames
