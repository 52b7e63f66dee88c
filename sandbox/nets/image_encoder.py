"""Conv image encoder: image -> latent [d] + one feature map per resolution (4x4 .. size).

Residual downsampling blocks; the channel schedule is the decoder's (:func:`channel_schedule`), so the
feature maps plug straight into :class:`sandbox.nets.flow_warp.FlowWarpDecoder`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from sandbox.nets.flow_warp import channel_schedule, resolutions


def he_init(module: nn.Module, slope: float = 0.2) -> nn.Module:
    """He-normal weights for leaky-ReLU(slope) nets and zero biases on every conv/linear of ``module``.

    PyTorch's default init (variance 1/(3 fan_in)) shrinks the signal ~2x per layer: through this
    encoder the latent varied across images by 2e-5 (std over a batch) against a bias of 0.02, so
    the motion code started as a constant and took most of a CPU fit to start carrying motion."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, a=slope, nonlinearity="leaky_relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def _channels_last_grad(x: torch.Tensor) -> torch.Tensor:
    """x, whose gradient is made channels-last: a decoder's grid_sample sends back contiguous gradients,
    and mixed with the channels-last ones of the next block they took the slow strided kernels
    (backward of leaky ReLU and pooling 4-7x slower than either format alone)."""
    if x.requires_grad:
        x.register_hook(lambda g: g.contiguous(memory_format=torch.channels_last))
    return x


class ResBlockDown(nn.Module):
    """Two 3x3 convs and a 2x average-pool, with a pooled 1x1 skip (variance kept by 1/sqrt 2)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, in_ch, 3, padding=1)
        self.conv2 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.conv1(x), 0.2)
        h = F.avg_pool2d(F.leaky_relu(self.conv2(h), 0.2), 2)
        return (h + self.skip(F.avg_pool2d(x, 2))) / math.sqrt(2)


class ImageEncoder(nn.Module):
    """E(image [B, 3, size, size] in [0, 1]) -> (w [B, d], feats [4x4, 8x8, .., size x size])."""

    def __init__(self, size: int, latent_dim: int, ch_min: int = 16, ch_max: int = 128):
        super().__init__()
        self.size = size
        self.channels = channel_schedule(size, ch_min, ch_max)
        res = resolutions(size)[::-1]  # size .. 4
        self.stem = nn.Conv2d(3, self.channels[size], 3, padding=1)
        self.down = nn.ModuleList(ResBlockDown(self.channels[r], self.channels[r // 2]) for r in res[:-1])
        c4 = self.channels[4]
        self.head = nn.Sequential(nn.Conv2d(c4, c4, 3, padding=1), nn.LeakyReLU(0.2))
        self.to_latent = nn.Linear(c4 * 16, latent_dim)
        he_init(self)
        self.to(memory_format=torch.channels_last)  # channels-last: see FlowWarpDecoder

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if img.shape[-1] != self.size or img.shape[-2] != self.size:
            raise ValueError(f"encoder expects {self.size}x{self.size} images, got {tuple(img.shape[-2:])}")
        x = _channels_last_grad(F.leaky_relu(self.stem((img * 2 - 1).contiguous(memory_format=torch.channels_last)), 0.2))
        feats = [x]
        for block in self.down:
            x = _channels_last_grad(block(x))
            feats.append(x)
        w = self.to_latent(rearrange(self.head(x), "b c h w -> b (c h w)"))
        return w, feats[::-1]
