"""Differentiable 1-D structural similarity over time (GoHD eq. 26), for [B, T, D] sequences.

Per dimension i: (2 μ_i μ̂_i + C1)(2 cov_i + C2) / ((μ_i² + μ̂_i² + C1)(σ_i² + σ̂_i² + C2)), averaged over
dimensions. ``window=None`` takes the statistics over the whole (valid part of the) sequence, as eq. 26
does; ``window=w`` slides a w-frame window with stride 1 (the metric ``sandbox.metrics.motion.sequence_ssim``)
and averages over windows. C1 = (K1 L)², C2 = (K2 L)² with L the target's range per dimension (detached,
floored at 1e-3, as in the metric).
"""
from __future__ import annotations

import torch

K1, K2 = 0.01, 0.03


def sequence_ssim(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    window: int | None = None,
    data_range: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean SSIM (scalar, differentiable in ``pred``). mask [B, T]: True = real frame; a sliding window
    counts only when all its frames are real; sequences need >= 2 real frames."""
    b, t, _ = pred.shape
    m = torch.ones(b, t, dtype=pred.dtype, device=pred.device) if mask is None else mask.to(pred.dtype)
    if data_range is None:
        big = torch.finfo(target.dtype).max
        tgt = target.detach()
        hi = torch.where(m[..., None] > 0, tgt, torch.full_like(tgt, -big)).amax(1)
        lo = torch.where(m[..., None] > 0, tgt, torch.full_like(tgt, big)).amin(1)
        data_range = (hi - lo).clamp_min(1e-3)[:, None]  # [B, 1, D]
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2

    if window is None or window >= t:
        x, y, w = pred[:, None], target[:, None], m[:, None]  # one window: [B, 1, T, (D)]
        valid = w.sum(-1) >= 2
    else:
        x = pred.unfold(1, window, 1).transpose(-1, -2)  # [B, n_win, w, D]
        y = target.unfold(1, window, 1).transpose(-1, -2)
        w = m.unfold(1, window, 1)  # [B, n_win, w]
        valid = w.sum(-1) == window
    w = w[..., None]
    n = w.sum(2).clamp_min(1.0)
    mx, my = (x * w).sum(2) / n, (y * w).sum(2) / n  # [B, n_win, D]
    dx, dy = x - mx[:, :, None], y - my[:, :, None]
    vx, vy = (dx.square() * w).sum(2) / n, (dy.square() * w).sum(2) / n
    cov = (dx * dy * w).sum(2) / n
    s = (2 * mx * my + c1) * (2 * cov + c2) / ((mx.square() + my.square() + c1) * (vx + vy + c2))
    valid = valid[..., None].expand_as(s)
    return (s * valid).sum() / valid.sum().clamp_min(1)


def ssim_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None, window: int | None = None
) -> torch.Tensor:
    """L_ssim = 1 - SSIM (GoHD eq. 26)."""
    return 1.0 - sequence_ssim(pred, target, mask, window)
