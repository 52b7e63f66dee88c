"""Losses of the implicit-keypoint auto-encoder (face-vid2vid's keypoint losses, LivePortrait's landmark
guide), one implementation each. Keypoints live in the warp volume's frame: x right, y down, z depth,
all in [-1, 1] (the grid of ``F.grid_sample``)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def pyramid_l1(pred: torch.Tensor, target: torch.Tensor, levels: int = 3) -> torch.Tensor:
    """Mean L1 over an image pyramid (full size, 1/2, 1/4, ...): [B, C, H, W] pairs. Coarse levels
    give gradients that reach far when the warp is off by more than a few pixels."""
    total = pred.new_zeros(())
    for i in range(levels):
        if i:
            pred, target = F.avg_pool2d(pred, 2), F.avg_pool2d(target, 2)
        total = total + (pred - target).abs().mean()
    return total / levels


def keypoint_prior(kp: torch.Tensor, margin: float = 0.1, depth: float = 0.33) -> torch.Tensor:
    """face-vid2vid's prior on keypoints [B, K, 3]: pairs closer than ``margin`` (squared distance) are
    pushed apart (no collapse onto one point) and the mean depth is held at ``depth``."""
    d2 = torch.cdist(kp, kp).pow(2)
    off = ~torch.eye(kp.shape[1], dtype=torch.bool, device=kp.device)
    separation = F.relu(margin - d2)[:, off].sum(-1).mean()
    return separation + (kp[..., 2].mean(-1) - depth).abs().mean()


def random_affine(batch: int, max_scale: float = 0.1, max_shift: float = 0.1, max_degrees: float = 10.0,
                  generator: torch.Generator | None = None, device=None) -> torch.Tensor:  # fmt: skip
    """Random 2D affine maps theta [B, 2, 3] near the identity, in ``F.affine_grid``'s convention: the
    output pixel at p samples the input at theta @ [p, 1] (normalised coordinates)."""
    u = torch.rand(batch, 4, generator=generator).to(device) * 2 - 1
    scale = 1 + max_scale * u[:, 0]
    angle = math.radians(max_degrees) * u[:, 1]
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    return torch.stack([torch.stack([cos, -sin, max_shift * u[:, 2]], -1),
                        torch.stack([sin, cos, max_shift * u[:, 3]], -1)], 1)  # fmt: skip


def warp_affine(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Images [B, C, H, W] resampled by theta [B, 2, 3] (border padding)."""
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, padding_mode="border", align_corners=False)


def equivariance_loss(kp: torch.Tensor, kp_warped: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Keypoints must move with the image: a keypoint found at x' in ``warp_affine(image, theta)`` is the
    one found at x = theta @ [x', 1] in ``image`` (x, y only). kp, kp_warped [B, K, >=2]."""
    xy = kp_warped[..., :2]
    mapped = xy @ theta[:, :, :2].transpose(1, 2) + theta[:, None, :, 2]
    return (mapped - kp[..., :2]).abs().mean()


def wing_loss(pred: torch.Tensor, target: torch.Tensor, width: float = 0.1, curvature: float = 0.02,
              valid: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """Wing loss (Feng et al. 2018) on points [B, N, D], summed over D and averaged over points and
    the samples where ``valid`` [B] is set: logarithmic (steep) for errors below ``width``, L1 above,
    continuous at ``width``. Defaults suit coordinates in [-1, 1] (width 0.1 = 6 px at 128 px)."""
    err = (pred - target).abs()
    c = width - width * math.log1p(width / curvature)
    per = torch.where(err < width, width * torch.log1p(err / curvature), err - c).sum(-1).mean(-1)
    if valid is None:
        return per.mean()
    valid = valid.to(per)
    return (per * valid).sum() / valid.sum().clamp_min(1.0)
