"""Masked, component-weighted image L1 (GoHD B.1; the pixel analogue of FLOAT A.2's component loss)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


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


def landmark_flow_loss(flow: torch.Tensor, lmk_driving: torch.Tensor, lmk_source: torch.Tensor,
                       valid: torch.Tensor | None = None) -> torch.Tensor:
    """Supervise a backward warp with corresponding landmarks: where the driving frame has landmark i,
    the warp must sample the source at the source's landmark i.

    flow [B, 2, h, w]: offsets added to the identity grid (normalised units, align_corners=False);
    lmk_* [B, N, 2] normalised to [-1, 1] (x = 2 * px / W - 1); valid [B] weights pairs that have
    landmarks. Resolution-independent, so every scale of a flow-warping decoder can use it."""
    grid = lmk_driving[:, :, None, :]  # [B, N, 1, 2]
    at = F.grid_sample(flow, grid, mode="bilinear", padding_mode="border", align_corners=False)[..., 0]
    err = (lmk_driving + at.transpose(1, 2) - lmk_source).abs().mean(dim=(1, 2))  # [B]
    if valid is None:
        return err.mean()
    return (err * valid).sum() / valid.sum().clamp_min(1.0)
