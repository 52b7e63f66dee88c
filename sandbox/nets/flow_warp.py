"""The flow-warp decoder family: latent + multi-scale source features -> image.

StyleGAN2-like synthesis from a learned 4x4 constant, every conv modulated by one latent ``w``.
At each resolution a flow head predicts a 2-channel flow (tanh, in grid units) and a 1-channel
occlusion mask (sigmoid); the source encoder's feature map of that resolution is warped by the flow
with ``F.grid_sample`` and blended into the synthesis features by the mask. Shared by the lia
renderer (w = identity + motion latent) and GoHD's navigator (w = z_R + sum xi_i m_i).

Feature lists are ordered from the lowest resolution (4x4) to the output resolution, and their channel
counts follow :func:`channel_schedule`, so any encoder built with the same schedule fits.

``image_warp=True`` (a sandbox addition, not in LIA) adds one more flow + mask head at the output: the
source *image* is warped by it and blended with the synthesised RGB. Most of a talking frame is the
source moved, so copying its pixels gives sharp frames within a CPU-sized training budget, and the
synthesis is left for what the source cannot show (the mouth's inside, the eyes' lids).

``affine_flow=True`` (a sandbox addition, not in LIA) adds a global affine warp, a linear map of the
latent (zero-initialised: the identity), to every flow. The convolutional flow heads draw the head's
translation but little of its rotation and scale (docs/results/fit_affine.md); this gives the rigid
part a direct path from the latent. ``affine_detach=True`` stops its gradient at the latent, so the
encoder learns the code as it would without the affine warp and the affine map only reads it.
``affine_gate=True`` lets each flow head weigh the affine warp per pixel (a sigmoid gate, 0.5 at
init), so it can move the head and leave the background where it is.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


def resolutions(size: int) -> list[int]:
    """[4, 8, ..., size]; size must be a power of two >= 4."""
    if size < 4 or size & (size - 1):
        raise ValueError(f"size must be a power of two >= 4, got {size}")
    return [2**i for i in range(2, int(math.log2(size)) + 1)]


def channel_schedule(size: int, ch_min: int, ch_max: int) -> dict[int, int]:
    """Channels per resolution: ch_min at full size, doubling per halving, capped at ch_max."""
    return {r: min(ch_max, ch_min * (size // r)) for r in resolutions(size)}


def identity_grid(h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """Sampling grid [1, h, w, 2] (x, y) that makes grid_sample(align_corners=False) the identity."""
    theta = torch.eye(2, 3, dtype=like.dtype, device=like.device)[None]
    return F.affine_grid(theta, [1, 1, h, w], align_corners=False)


def affine_offset(theta: torch.Tensor | None, size: int) -> torch.Tensor | None:
    """The flow [B, 2, size, size] (grid units) of the affine sampling grids theta [B, 2, 3]; None for None."""
    if theta is None:
        return None
    grid = F.affine_grid(theta, [theta.shape[0], 1, size, size], align_corners=False)
    return rearrange(grid - identity_grid(size, size, theta), "b h w c -> b c h w")


def warp(feat: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward-warp feat [B, C, h, w] by flow [B, 2, h, w] (offsets in normalised grid units)."""
    grid = identity_grid(feat.shape[-2], feat.shape[-1], feat) + rearrange(flow, "b c h w -> b h w c")
    return F.grid_sample(feat, grid, mode="bilinear", padding_mode="border", align_corners=False)


class ModulatedConv2d(nn.Module):
    """Conv whose input channels are scaled per sample by a style from w (StyleGAN2), optionally
    demodulated. Implemented as modulate-input / conv / demodulate-output, which equals the
    weight-modulated form but runs as one ordinary batched conv (fast on CPU)."""

    def __init__(self, in_ch: int, out_ch: int, latent_dim: int, kernel: int = 3, demodulate: bool = True):
        super().__init__()
        # plain He-style init, no equalised-lr runtime scale: with Adam at the encoder's lr, N(0, 1)
        # weights scaled at run time moved ~10-25x slower (relative) than the encoder's plain convs
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel) / math.sqrt(in_ch * kernel * kernel))
        self.affine = nn.Linear(latent_dim, in_ch)
        nn.init.constant_(self.affine.bias, 1.0)  # styles start at 1: an unmodulated conv
        self.demodulate = demodulate
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        style = self.affine(w)  # [B, in]
        out = F.conv2d(x * style[:, :, None, None], self.weight, padding=self.padding)
        if self.demodulate:
            # ||W * s||_2 per (sample, out channel)
            sq = torch.einsum("oikl,bi->bo", self.weight.pow(2), style.pow(2))
            out = out * torch.rsqrt(sq + 1e-8)[:, :, None, None]
        return out


class StyledConv(nn.Module):
    """Modulated 3x3 conv + bias + leaky ReLU, optionally after a 2x bilinear upsample."""

    def __init__(self, in_ch: int, out_ch: int, latent_dim: int, upsample: bool = False):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, latent_dim)
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.upsample = upsample

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = self.conv(x, w) + self.bias[:, None, None]
        return F.leaky_relu(x, 0.2) * math.sqrt(2)


class ToRGB(nn.Module):
    def __init__(self, in_ch: int, latent_dim: int):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, 3, latent_dim, kernel=1, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(3))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias[:, None, None]


class ToFlow(nn.Module):
    """Flow (2 ch, tanh) + occlusion mask (1 ch, sigmoid), plus the flow ``base`` it is given (an affine
    warp's) times a per-pixel gate (1 ch, sigmoid) when ``gate``. Zero-initialised so training starts from
    the identity warp (+ half the base) with a half-open mask."""

    def __init__(self, in_ch: int, latent_dim: int, gate: bool = False):
        super().__init__()
        self.gate = gate
        self.conv = ModulatedConv2d(in_ch, 4 if gate else 3, latent_dim, kernel=3, demodulate=False)
        nn.init.zeros_(self.conv.weight)
        self.bias = nn.Parameter(torch.zeros(4 if gate else 3))

    def forward(self, x: torch.Tensor, w: torch.Tensor, base: torch.Tensor | None = None):
        # contiguous first: channel slices of a channels-last map are strided, and tanh forward + backward on
        # them took 4x as long (14.6 vs 3.7 ms for 8 x 2 x 128 x 128 on 2 CPU cores)
        out = (self.conv(x, w) + self.bias[:, None, None]).contiguous()
        flow = torch.tanh(out[:, :2])
        if base is not None:
            flow = flow + (torch.sigmoid(out[:, 3:4]) * base if self.gate else base)
        return flow, torch.sigmoid(out[:, 2:3])


class WarpBlock(nn.Module):
    """One resolution: styled convs, then warp the source feature in by flow + mask, then RGB."""

    def __init__(self, in_ch: int, out_ch: int, latent_dim: int, upsample: bool, gate: bool = False):
        super().__init__()
        self.conv1 = StyledConv(in_ch, out_ch, latent_dim, upsample=upsample)
        self.conv2 = StyledConv(out_ch, out_ch, latent_dim)
        self.to_flow = ToFlow(out_ch, latent_dim, gate)
        self.to_rgb = ToRGB(out_ch, latent_dim)

    def forward(self, x, w, feat, base_flow=None):
        x = self.conv2(self.conv1(x, w), w)
        flow, mask = self.to_flow(x, w, base_flow)
        # mask = 1: the source feature is visible there (copy it); 0: occluded (synthesise)
        x = mask * warp(feat, flow) + (1 - mask) * x
        return x, self.to_rgb(x, w), flow, mask


class FlowWarpDecoder(nn.Module):
    """dec(w [B, d], feats [4x4 .. size x size]) -> image [B, 3, size, size] in [0, 1] (unclamped)."""

    def __init__(self, size: int, latent_dim: int, ch_min: int = 16, ch_max: int = 128, image_warp: bool = False,
                 affine_flow: bool = False, affine_detach: bool = False, affine_gate: bool = False):  # fmt: skip
        super().__init__()
        for name, on in (("affine_detach", affine_detach), ("affine_gate", affine_gate)):
            if on and not affine_flow:
                raise ValueError(f"{name} only applies with affine_flow=True (rep.affine_flow=true)")
        self.size = size
        self.image_warp = image_warp
        self.channels = channel_schedule(size, ch_min, ch_max)
        res = resolutions(size)
        self.const = nn.Parameter(torch.randn(1, self.channels[4], 4, 4))
        self.blocks = nn.ModuleList(
            WarpBlock(self.channels[r // 2] if r > 4 else self.channels[4], self.channels[r], latent_dim, upsample=r > 4,
                      gate=affine_gate)
            for r in res
        )
        # mask starts at 0.5: started at 0.95 (copying), the default lia fit collapsed to copying the
        # source (every eval row the same PSNR, 20.8 dB) although 500-step fits looked better
        self.to_image_flow = ToFlow(self.channels[size], latent_dim, affine_gate) if image_warp else None
        self.to_affine = nn.Linear(latent_dim, 6) if affine_flow else None  # theta - identity, row-major 2 x 3
        self.affine_detach = affine_detach
        if self.to_affine is not None:
            nn.init.zeros_(self.to_affine.weight)
            nn.init.zeros_(self.to_affine.bias)
        # channels-last weights (and so activations): the lia fit's steps ran 20% faster on 2 CPU cores
        # (3.9 vs 3.2 steps/s of the auto-encoder alone at the default preset's sizes, torch 2.13, oneDNN)
        self.to(memory_format=torch.channels_last)

    def forward(self, w: torch.Tensor, feats: list[torch.Tensor], return_flows: bool = False,
                source: torch.Tensor | None = None, head_mask: bool = False):  # fmt: skip
        """``source`` [B, 3, size, size] in [0, 1]: the source image, required when image_warp is on.
        ``head_mask`` (with return_flows and image_warp): also return the output mask recomputed from detached
        inputs, (img, flows, mask): the same values, but a loss on it trains only the mask's head."""
        if head_mask and not (return_flows and self.image_warp):
            raise ValueError("head_mask needs return_flows=True and a decoder with image_warp=True")
        if self.image_warp and source is None:
            raise ValueError("this decoder warps the source image (image_warp=True): pass source=")
        if len(feats) != len(self.blocks):
            raise ValueError(f"expected {len(self.blocks)} feature maps (4..{self.size}), got {len(feats)}")
        x = self.const.expand(w.shape[0], -1, -1, -1)
        rgb = None
        flows = []
        theta = offset = None
        if self.to_affine is not None:
            theta = torch.eye(2, 3, dtype=w.dtype, device=w.device) + self.to_affine(w.detach() if self.affine_detach else w).view(-1, 2, 3)
        for block, feat in zip(self.blocks, feats):
            offset = affine_offset(theta, feat.shape[-1])
            x, rgb_r, flow, mask = block(x, w, feat, offset)
            # StyleGAN2 skip generator: RGB accumulates across scales
            rgb = rgb_r if rgb is None else F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False) + rgb_r
            flows.append((flow, mask))
        img = (rgb + 1) / 2  # synthesis works in [-1, 1]
        if self.to_image_flow is not None:
            flow, mask = self.to_image_flow(x, w, offset)  # the last block's offset: full size
            img = mask * warp(source, flow) + (1 - mask) * img
            flows.append((flow, mask))
            if head_mask:
                detached = None if offset is None else offset.detach()
                return img, flows, self.to_image_flow(x.detach(), w.detach(), detached)[1]
        return (img, flows) if return_flows else img
