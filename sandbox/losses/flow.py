"""Optimal-transport conditional flow matching (Lipman et al. 2022; FLOAT eq. 11).

Path from noise x0 ~ N(0, I) to data x1: x_t = (1 - (1 - σ_min) t) x0 + t x1, whose constant velocity is
u = x1 - (1 - σ_min) x0. With σ_min = 0 (FLOAT) this is the straight line (1 - t) x0 + t x1, u = x1 - x0.
"""
from __future__ import annotations

import torch

from sandbox.losses.motion import Kind, masked_mean, pointwise


def _per_sample(t: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    """Broadcast a flow time (scalar or [B]) against ``like`` [B, ...]."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    return t.reshape(-1, *([1] * (like.ndim - 1))) if t.ndim == 1 else t


def ot_interpolate(
    x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor | float, sigma_min: float = 0.0
) -> torch.Tensor:
    t = _per_sample(t, x1)
    return (1 - (1 - sigma_min) * t) * x0 + t * x1


def ot_target_velocity(x0: torch.Tensor, x1: torch.Tensor, sigma_min: float = 0.0) -> torch.Tensor:
    return x1 - (1 - sigma_min) * x0


def flow_matching_loss(
    v_pred: torch.Tensor, v_target: torch.Tensor, kind: Kind = "l1", mask: torch.Tensor | None = None
) -> torch.Tensor:
    """|| v_θ(x_t, c, t) - u_t || averaged over valid frames (mask [B, T])."""
    return masked_mean(pointwise(v_pred - v_target, kind), mask)
