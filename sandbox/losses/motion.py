"""Temporal motion losses on [B, T, D] sequences: velocity (1st difference) and smoothness (2nd).

Every loss takes an optional frame mask [B, T] (True = real frame) and averages over valid entries only:
a k-th difference is valid only when all k+1 frames it spans are valid.
"""
from __future__ import annotations

from typing import Literal

import torch

Kind = Literal["l1", "l2"]


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``values`` [B, T, ...] over entries whose frame mask [B, T] is True."""
    if mask is None:
        return values.mean()
    m = mask.to(values.dtype).reshape(*mask.shape, *([1] * (values.ndim - mask.ndim))).expand_as(values)
    # clamp: an all-padded batch gives 0, not NaN
    return (values * m).sum() / m.sum().clamp_min(1.0)


def pointwise(diff: torch.Tensor, kind: Kind) -> torch.Tensor:
    if kind == "l1":
        return diff.abs()
    if kind == "l2":
        return diff.square()
    raise ValueError(f"loss kind must be 'l1' or 'l2', got {kind!r}")


def difference(x: torch.Tensor, order: int = 1) -> torch.Tensor:
    """k-th finite difference along time (dim 1): [B, T, D] -> [B, T-k, D]."""
    for _ in range(order):
        x = x[:, 1:] - x[:, :-1]
    return x


def difference_mask(mask: torch.Tensor | None, order: int = 1) -> torch.Tensor | None:
    """A k-th difference at frame i is valid iff frames i..i+k are all valid."""
    if mask is None:
        return None
    for _ in range(order):
        mask = mask[:, 1:] & mask[:, :-1]
    return mask


def velocity_loss(
    pred: torch.Tensor, target: torch.Tensor, kind: Kind = "l1", mask: torch.Tensor | None = None
) -> torch.Tensor:
    """|| Δpred - Δtarget || on one-frame differences (FLOAT eq. 12, JoyVASA L_vel)."""
    return masked_mean(pointwise(difference(pred) - difference(target), kind), difference_mask(mask))


def smoothness_loss(
    pred: torch.Tensor,
    target: torch.Tensor | None = None,
    kind: Kind = "l2",
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Second-difference (acceleration) loss.

    JoyVASA's L_smooth = ||x̂_{t+2} - 2 x̂_{t+1} + x̂_t||^2 penalises the prediction's own acceleration
    (towards zero): that is the default (``target=None``, ``kind="l2"``). Given a ``target``, the
    prediction's acceleration is matched to the target's instead.
    """
    acc = difference(pred, 2)
    if target is not None:
        acc = acc - difference(target, 2)
    return masked_mean(pointwise(acc, kind), difference_mask(mask, 2))
