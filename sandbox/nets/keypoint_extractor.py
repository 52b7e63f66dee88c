"""Motion extractor of the implicit-keypoint space (LivePortrait-style), CPU-sized.

image [B, 3, S, S] in [0, 1] -> a dict of per-image tensors:
  kp     [B, K, 3]  canonical keypoints x_c (identity-specific, pose- and expression-free)
  exp    [B, K, 3]  expression deformation delta
  t      [B, 3]     translation (t_z is predicted but the keypoint transform drops it)
  scale  [B, 1]     raw linear scale, as LivePortrait (no activation; starts near 1)
  pitch, yaw, roll  [B, N_BINS] logits over angle bins; :func:`bins_to_degrees` decodes them.
LivePortrait uses a ConvNeXt-V2-Tiny backbone at 256 px; here strided residual conv blocks with
GroupNorm / LeakyReLU, a global average pool (or, ``pool="flatten"``, the 8 x 8 map flattened),
LayerNorm and one linear head per output.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# Angle bins: the ONE bin-centre convention of the sandbox (LivePortrait's): centre of bin i is
# BIN_WIDTH * i - BIN_OFFSET degrees, i = 0 .. N_BINS - 1, i.e. -97.5 .. 97.5. face-vid2vid / HopeNet
# code uses an offset of 99: mixing the two gives a constant 1.5 degree bias.
N_BINS = 66
BIN_WIDTH = 3.0
BIN_OFFSET = 97.5


def bin_centres(device=None, dtype=torch.float32) -> torch.Tensor:
    return torch.arange(N_BINS, device=device, dtype=dtype) * BIN_WIDTH - BIN_OFFSET


def bins_to_degrees(logits: torch.Tensor) -> torch.Tensor:
    """logits [..., N_BINS] -> degrees [...]: the expected bin centre under softmax(logits).
    Uniform logits give 0; a one-hot on bin i gives 3 i - 97.5. Differentiable."""
    p = torch.softmax(logits, dim=-1)
    return p @ bin_centres(logits.device, p.dtype)


def degrees_to_soft_bins(deg: torch.Tensor, sigma: float = 3.0) -> torch.Tensor:
    """Ground-truth angle(s) [...] in degrees -> soft label [..., N_BINS] (probabilities): a Gaussian of
    std ``sigma`` degrees over the bin centres, for ``F.cross_entropy(logits, target)``.
    ``bins_to_degrees(target.log())`` gives ``deg`` back within 0.5 degree for |deg| <= 60, sigma >= 1
    (farther out the Gaussian is cut at the last bin and the mean shrinks toward 0)."""
    deg = torch.as_tensor(deg)
    c = bin_centres(deg.device, deg.dtype if deg.is_floating_point() else torch.float32)
    return torch.softmax(-((c - deg[..., None]) ** 2) / (2 * sigma**2), dim=-1)


def spiral_keypoints(n: int, radius: float = 0.7) -> torch.Tensor:
    """A fixed, well-spread layout of n points [n, 3] on a disc in the x-y plane (golden-angle spiral, z
    = 0): the default start of x_c, so keypoints are distinct before any training."""
    i = torch.arange(n, dtype=torch.float64)
    r = radius * torch.sqrt((i + 0.5) / n)
    a = i * math.pi * (3 - math.sqrt(5))
    return torch.stack([r * torch.cos(a), r * torch.sin(a), torch.zeros_like(r)], -1).float()


POOLS = ("mean", "flatten")


def _groups(ch: int) -> int:
    return math.gcd(ch, 8)


class DownBlock(nn.Module):
    """Strided 3x3 conv + 3x3 conv (GroupNorm, LeakyReLU) with a pooled 1x1 skip: halves the side."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 3, stride=2, padding=1), nn.GroupNorm(_groups(out_ch), out_ch), nn.LeakyReLU(0.2),
            nn.Conv2d(out_ch, out_ch, 3, padding=1), nn.GroupNorm(_groups(out_ch), out_ch), nn.LeakyReLU(0.2),
        )  # fmt: skip
        self.skip = nn.Conv2d(in_ch, out_ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.body(x) + self.skip(F.avg_pool2d(x, 2, ceil_mode=True))) / math.sqrt(2)


class KeypointExtractor(nn.Module):
    """image [B, 3, S, S] in [0, 1] (any S: resized to ``size``) -> dict (module docstring).

    ``width`` channels after the stem, doubled per block up to ``max_width``; ``depth`` blocks (128 px
    and depth 4 end at 8 x 8). ``stem_stride`` > 1: a patchify stem (a stride x stride conv of that
    stride, as ConvNeXt's, LivePortrait's backbone) instead of a 3x3 conv at full size; 4 with depth 2
    also ends at 8 x 8 for a fraction of the cost. ``kp_init`` [n_kp, 3]: the bias of the x_c head
    (default: a spiral), so keypoints start spread out; the other heads start small (delta ~ 0, t ~ 0, s ~ 1, angles ~ 0)."""

    def __init__(self, size: int = 128, n_kp: int = 21, width: int = 16, max_width: int = 128, depth: int = 4,
                 kp_init: torch.Tensor | None = None, pool: str = "mean", flat_channels: int = 16,
                 stem_stride: int = 1):  # fmt: skip
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
        step = stem_stride * 2**depth if pool == "flatten" else stem_stride
        if stem_stride < 1 or size % step:
            raise ValueError(f"the extractor's size {size} must be a multiple of "
                             + ("stem_stride x 2^depth" if pool == "flatten" else "stem_stride")
                             + f" = {step} (stem_stride {stem_stride}, depth {depth}); change rep.stem_stride or rep.depth")
        self.size, self.n_kp, self.pool = size, n_kp, pool
        chans = [min(width * 2**i, max_width) for i in range(depth + 1)]
        k, pad = (3, 1) if stem_stride == 1 else (stem_stride, 0)
        stem = nn.Conv2d(3, chans[0], k, stride=stem_stride, padding=pad)
        self.stem = nn.Sequential(stem, nn.GroupNorm(_groups(chans[0]), chans[0]), nn.LeakyReLU(0.2))
        self.blocks = nn.Sequential(*(DownBlock(a, b) for a, b in zip(chans[:-1], chans[1:])))
        feat = chans[-1]
        if pool == "flatten":
            side = size // (stem_stride * 2**depth)
            self.reduce = nn.Conv2d(feat, flat_channels, 1)
            feat = flat_channels * side * side
        self.norm = nn.LayerNorm(feat)
        outs = {"kp": n_kp * 3, "exp": n_kp * 3, "t": 3, "scale": 1, "pitch": N_BINS, "yaw": N_BINS, "roll": N_BINS}
        self.heads = nn.ModuleDict({k: nn.Linear(feat, n) for k, n in outs.items()})
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=0.2, nonlinearity="leaky_relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        kp_init = spiral_keypoints(n_kp) if kp_init is None else torch.as_tensor(kp_init, dtype=torch.float32)
        if kp_init.shape != (n_kp, 3):
            raise ValueError(f"kp_init must be [{n_kp}, 3], got {tuple(kp_init.shape)}")
        with torch.no_grad():
            for k, head in self.heads.items():
                head.weight.mul_(0.1)  # start near the biases below: a rigid, neutral, frontal face
                head.bias.zero_()
            self.heads["kp"].bias.copy_(kp_init.reshape(-1))
            self.heads["scale"].bias.fill_(1.0)

    def features(self, img: torch.Tensor) -> torch.Tensor:
        """img [B, 3, S, S] in [0, 1] -> pooled, layer-normed features [B, C]."""
        if img.shape[-2:] != (self.size, self.size):
            img = F.interpolate(img, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
        return self.pooled(self.blocks(self.stem(img * 2 - 1)))

    def pooled(self, h: torch.Tensor) -> torch.Tensor:
        """Backbone map [B, C, h, w] -> head input [B, F]: its global mean (translation-blind), or a 1x1
        conv to ``flat_channels`` flattened, which keeps where on the face a feature is."""
        return self.norm(h.mean((-2, -1)) if self.pool == "mean" else self.reduce(h).flatten(1))

    def forward(self, img: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.features(img)
        out = {k: head(f) for k, head in self.heads.items()}
        out["kp"] = out["kp"].unflatten(-1, (self.n_kp, 3))
        out["exp"] = out["exp"].unflatten(-1, (self.n_kp, 3))
        return out
