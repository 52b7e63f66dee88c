"""Masked, component-weighted image L1 (GoHD B.1; the pixel analogue of FLOAT A.2's component loss)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from sandbox.losses.motion import masked_mean


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


def affine_fit(points: torch.Tensor, target: torch.Tensor, ridge: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Ridge least-squares affine functions of ``points`` [B, N, 2] fitted to ``target`` [B, N, 2]:
    (coef [B, 3, 2], linear part then the translation as the last row; residual target - fit [B, N, 2])."""
    s = torch.cat([points, torch.ones_like(points[..., :1])], dim=-1)  # [B, N, 3]
    gram = s.transpose(1, 2) @ s + ridge * torch.eye(3, device=s.device, dtype=s.dtype)
    coef = torch.linalg.solve(gram, s.transpose(1, 2) @ target)  # [B, 3, 2]
    return coef, target - s @ coef


def nonrigid_part(err: torch.Tensor, points: torch.Tensor, ridge: float = 1e-6) -> torch.Tensor:
    """err [B, N, 2] minus its least-squares affine function of ``points`` [B, N, 2]: what no global
    2D affine motion explains. For landmark errors this is the error in expression (a jaw opening, a
    blink: about a pixel at 128 px) with the head motion's error (tens of pixels) taken out."""
    return affine_fit(points, err, ridge)[1]


def sample_at(field: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """field [B, C, h, w] read bilinearly at points [B, N, 2] in [-1, 1] (align_corners=False) -> [B, N, C]."""
    out = F.grid_sample(field, points[:, :, None, :], mode="bilinear", padding_mode="border", align_corners=False)
    return out[..., 0].transpose(1, 2)


def landmark_l1(err: torch.Tensor, points: torch.Tensor, valid: torch.Tensor | None = None,
                nonrigid: float = 0.0, point_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Scalar loss of landmark errors [B, N, 2]: mean |err| + ``nonrigid`` x mean |non-rigid part|
    (relative to the source ``points`` [B, N, 2]), averaged over the pairs that have landmarks
    (valid [B], None = all). ``point_weights`` [N] scale each landmark's errors in both means (None = 1)."""
    w = 1.0 if point_weights is None else point_weights.to(err)[:, None]
    per = (w * err.abs()).mean(dim=(1, 2))
    if nonrigid > 0:
        per = per + nonrigid * (w * nonrigid_part(err, points).abs()).mean(dim=(1, 2))
    return masked_mean(per, valid)


def landmark_flow_loss(flow: torch.Tensor, lmk_driving: torch.Tensor, lmk_source: torch.Tensor,
                       valid: torch.Tensor | None = None, nonrigid: float = 0.0,
                       point_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Supervise a backward warp with corresponding landmarks: where the driving frame has landmark i,
    the warp must sample the source at the source's landmark i.

    flow [B, 2, h, w]: offsets added to the identity grid (normalised units, align_corners=False);
    lmk_* [B, N, 2] normalised to [-1, 1] (x = 2 * px / W - 1); valid [B] weights pairs that have
    landmarks. Resolution-independent, so every scale of a flow-warping decoder can use it. ``point_weights``:
    :func:`landmark_l1`'s."""
    return landmark_l1(lmk_driving + sample_at(flow, lmk_driving) - lmk_source, lmk_source, valid, nonrigid,
                       point_weights)
