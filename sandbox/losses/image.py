"""Masked, component-weighted image L1 (GoHD B.1; the pixel analogue of FLOAT A.2's component loss)."""
from __future__ import annotations

import torch


def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean |pred - target| inside ``mask`` [B, 1, H, W] (soft masks weight pixels), over all channels."""
    err = (pred - target).abs() * mask
    # |M| counts every channel the mask covers; an empty mask contributes 0, not NaN
    return err.sum() / (mask.sum() * pred.shape[1]).clamp_min(1e-8)


def masked_component_l1(
    pred: torch.Tensor,
    target: torch.Tensor,
    weights: dict[str, tuple[torch.Tensor, float]] | None = None,
) -> torch.Tensor:
    """Global L1 plus, per facial component, weight * L1 averaged inside that component's mask.

    pred, target: [B, 3, H, W]; weights: name -> (mask [B, 1, H, W], weight). The per-component mean
    makes small regions (eyes, mouth) count as much as their weight says, whatever their area.
    """
    loss = (pred - target).abs().mean()
    for mask, w in (weights or {}).values():
        loss = loss + w * masked_l1(pred, target, mask.to(pred.dtype))
    return loss
