"""LivePortrait-style warping networks: source image + implicit 3D keypoints -> driving image.

Written from the public description (../shared/REFERENCE_NOTES.md), not from its code.

* ``appearance(source)``: 2D convs down to S / feature_down, a 1x1 conv to C * D channels, reshaped
  to a feature volume [B, C, D, H', W'], then 3D residual blocks. Compute it once per source and
  pass it to ``forward`` for every driving frame of a clip.
* ``dense_motion(volume, x_s, x_d)``: K + 1 sparse motions (background identity, one translation per
  keypoint), a compressed copy of the volume warped by each, Gaussian heatmap differences, a 3D
  hourglass (pools H and W only) at H' / motion_down, a softmax mask over the K + 1 motions and a 2D
  occlusion map. The deformation is the mask-weighted sum of the motions.
* ``forward``: warp the volume (3D grid_sample), depth into channels, conv, times occlusion, SPADE
  residual blocks (the warped feature is also the "segmap"), upsampling, pixel-shuffle head, sigmoid.

Coordinates: keypoints x_s, x_d [B, K, 3] are (x, y, z) in [-1, 1], x right, y down, z depth: the
order and range of the last dim of a 5D ``F.grid_sample`` grid, which indexes (W, H, D) of the
volume (align_corners=False: voxel centres at (2i + 1) / n - 1). A deformation [B, D, H', W', 3] says
where in the source volume each driving voxel samples; for keypoint k it is z - x_d,k + x_s,k, so
content at x_s,k moves to x_d,k. Offsets are formed as ``x_s - x_d`` (exactly 0 when x_d = x_s), so
x_d = x_s gives exactly the identity grid whatever the mask.

Sizes. Timed with /tmp scratch code: one Adam step (forward, L1 on the image, backward) at batch 8,
min over 9 steps after 2 warm-up, torch 2.13 CPU, ``torch.set_num_threads(1)``, on the 2-vCPU dev box
while another job kept 1-2 cores busy (so an idle 2-core box should do better; not measured):

* CPU defaults (``WarpNetworks()``): 128 input, feature_down 4 -> volume 8 x 8 x 32 x 32 (C x D x H'
  x W'), dense motion at 8 x 16 x 16, SPADE width 16, 0.07 M parameters: 0.33-0.39 s per step
  (dense motion ~60 %). ``motion_down=4`` (dense motion at 8 x 8): 0.20 s. ``volume_blocks=2,
  decoder_channels=32, spade_blocks=2``: 0.43-0.47 s. ``motion_down=1``: 1.0 s.
  Two threads with another job on the box: 0.46 s with OMP_WAIT_POLICY=PASSIVE, 0.6-2.9 s without
  (OpenMP spin-waiting): train with one thread or the passive policy there.
* LivePortrait-like (``WarpNetworks(**LIVEPORTRAIT_SIZES)``): 256 input, volume 32 x 16 x 64 x 64,
  6 3D blocks (appearance 0.84 M parameters, as the original's ~0.8 M), dense motion at full volume
  resolution, SPADE width 256 x 6 blocks; the hourglass widths are a guess. 40 M parameters; one
  forward at batch 1 (no grad, same box): appearance 0.39 s + dense motion and decoder 3.0 s.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _sn

# the LivePortrait-like proportions (module docstring); not for CPU training
LIVEPORTRAIT_SIZES = dict(
    size=256, feature_down=4, encoder_channels=(64, 128, 256), volume_channels=32, volume_depth=16,
    volume_blocks=6, motion_down=1, motion_compress=4, motion_channels=(32, 64, 128, 256, 512),
    decoder_channels=256, spade_blocks=6, up_channels=(64,), spectral_norm=True,
)


def _norm(ch: int) -> nn.GroupNorm:
    # GroupNorm, not BatchNorm: a clip rendered at batch 1 behaves like training at batch 8
    return nn.GroupNorm(math.gcd(ch, 8), ch)


def identity_grid_3d(d: int, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """Grid [1, d, h, w, 3] in (x, y, z) order that makes 3D grid_sample(align_corners=False) the identity."""
    theta = torch.eye(3, 4, dtype=like.dtype, device=like.device)[None]
    return F.affine_grid(theta, [1, 1, d, h, w], align_corners=False)


def warp_volume(volume: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Sample volume [B, C, D, H, W] at grid [B, D', H', W', 3] (x, y, z), border padding."""
    return F.grid_sample(volume, grid, mode="bilinear", padding_mode="border", align_corners=False)


def keypoint_offsets(x_s: torch.Tensor, x_d: torch.Tensor) -> torch.Tensor:
    """Per-motion offsets [B, K + 1, 3]: 0 for the background, x_s,k - x_d,k per keypoint."""
    off = x_s - x_d
    return torch.cat([torch.zeros_like(off[:, :1]), off], dim=1)


def sparse_motions(x_s: torch.Tensor, x_d: torch.Tensor, d: int, h: int, w: int) -> torch.Tensor:
    """The K + 1 sampling grids [B, K + 1, d, h, w, 3]: identity, then z - x_d,k + x_s,k."""
    grid = identity_grid_3d(d, h, w, x_s)
    return grid[:, None] + keypoint_offsets(x_s, x_d)[:, :, None, None, None, :]


def deformation_from_mask(mask: torch.Tensor, x_s: torch.Tensor, x_d: torch.Tensor) -> torch.Tensor:
    """sum_k mask_k * motion_k for mask [B, K + 1, D, H, W] summing to 1 over k -> [B, D, H, W, 3].

    Written as identity + sum_k mask_k offset_k (equal when the mask sums to 1), so x_d = x_s gives the
    identity grid exactly, with no rounding from the mask."""
    grid = identity_grid_3d(*mask.shape[2:], mask)
    return grid + torch.einsum("bkdhw,bkc->bdhwc", mask, keypoint_offsets(x_s, x_d))


def _axis(n: int, like: torch.Tensor) -> torch.Tensor:
    """Voxel centres along one axis of n cells (align_corners=False)."""
    return (torch.arange(n, dtype=like.dtype, device=like.device) * 2 + 1) / n - 1


def keypoint_heatmaps(x_s: torch.Tensor, x_d: torch.Tensor, d: int, h: int, w: int, var: float) -> torch.Tensor:
    """[B, K + 1, d, h, w]: 0 for the background, exp(-|z - x_d|^2 / var) - exp(-|z - x_s|^2 / var)."""
    ax = [_axis(n, x_s) for n in (w, h, d)]  # (x, y, z) order, as the keypoints

    def gauss(x):
        # the Gaussian factorises over axes: 3 small exps instead of one per voxel and keypoint
        gx, gy, gz = (torch.exp(-(a - x[..., i, None]).pow(2) / var) for i, a in enumerate(ax))
        return torch.einsum("bkd,bkh,bkw->bkdhw", gz, gy, gx)

    heat = gauss(x_d) - gauss(x_s)
    return torch.cat([torch.zeros_like(heat[:, :1]), heat], dim=1)


class ResBlock3d(nn.Module):
    """Pre-activation 3D residual block (norm, ReLU, 3x3x3 conv, twice)."""

    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(_norm(ch), nn.ReLU(), nn.Conv3d(ch, ch, 3, padding=1),
                                  _norm(ch), nn.ReLU(), nn.Conv3d(ch, ch, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _conv_block(conv: nn.Module, ch: int) -> nn.Sequential:
    return nn.Sequential(conv, _norm(ch), nn.ReLU())


class Hourglass3d(nn.Module):
    """U-Net over [B, C, D, H, W]; pools H and W only (D is small). Output: channels[0] at full size."""

    def __init__(self, in_ch: int, channels: tuple[int, ...]):
        super().__init__()
        self.down = nn.ModuleList(
            _conv_block(nn.Conv3d(c_in, c, 3, padding=1), c) for c_in, c in zip((in_ch, *channels[:-1]), channels)
        )
        self.up = nn.ModuleList(
            _conv_block(nn.Conv3d(c, c_out, 3, padding=1), c_out) for c, c_out in zip(channels[:0:-1], channels[-2::-1])
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(F.avg_pool3d(x, (1, 2, 2)) if i else x)
            skips.append(x)
        for block, skip in zip(self.up, skips[-2::-1]):
            x = block(F.interpolate(x, scale_factor=(1, 2, 2), mode="nearest")) + skip
        return x


class SPADE(nn.Module):
    """Parameter-free norm of x, then a per-pixel scale and shift predicted from seg."""

    def __init__(self, ch: int, seg_ch: int, hidden: int):
        super().__init__()
        self.norm = nn.InstanceNorm2d(ch, affine=False)
        self.shared = nn.Sequential(nn.Conv2d(seg_ch, hidden, 3, padding=1), nn.ReLU())
        self.gamma_beta = nn.Conv2d(hidden, 2 * ch, 3, padding=1)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.gamma_beta(self.shared(seg)).chunk(2, dim=1)
        return self.norm(x) * (1 + gamma) + beta


class SPADEResBlock(nn.Module):
    def __init__(self, ch: int, spectral_norm: bool):
        super().__init__()
        wrap = _sn if spectral_norm else (lambda m: m)
        self.spade1, self.spade2 = SPADE(ch, ch, ch), SPADE(ch, ch, ch)
        self.conv1 = wrap(nn.Conv2d(ch, ch, 3, padding=1))
        self.conv2 = wrap(nn.Conv2d(ch, ch, 3, padding=1))

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.leaky_relu(self.spade1(x, seg), 0.2))
        h = self.conv2(F.leaky_relu(self.spade2(h, seg), 0.2))
        return x + h


class WarpNetworks(nn.Module):
    """Appearance volume, dense motion and warping decoder of an implicit-keypoint model.

    Images are [B, 3, size, size] in [0, 1]; keypoints [B, K, 3] in the grid frame (module docstring).
    ``encoder_channels`` has log2(feature_down) + 1 entries (the first at full size); ``up_channels``
    has log2(feature_down) - 1 entries (the pixel-shuffle head does the last 2x). The dense motion runs
    at (volume_depth, H' / motion_down, W' / motion_down); H' / motion_down must divide by
    2^(len(motion_channels) - 1). ``heatmap_var`` is var in exp(-|z - x|^2 / var) (0.02 = the original's);
    at volume_depth 8 the depth spacing (0.25) is wider than that Gaussian (sigma 0.1), so a keypoint's
    heatmap peak depends on how near its z lies to a depth slice: raise it if that matters.
    """

    def __init__(
        self,
        size: int = 128,
        num_keypoints: int = 21,
        feature_down: int = 4,
        encoder_channels: tuple[int, ...] = (8, 16, 32),
        volume_channels: int = 8,
        volume_depth: int = 8,
        volume_blocks: int = 1,
        motion_down: int = 2,
        motion_compress: int = 2,
        motion_channels: tuple[int, ...] = (8, 16),
        heatmap_var: float = 0.02,
        decoder_channels: int = 16,
        spade_blocks: int = 1,
        up_channels: tuple[int, ...] = (16,),
        spectral_norm: bool = False,
    ):
        super().__init__()
        n_down = int(math.log2(feature_down))
        if feature_down < 2 or 2**n_down != feature_down or size % feature_down:
            raise ValueError(f"feature_down must be a power of two >= 2 dividing size, got {feature_down}")
        if len(encoder_channels) != n_down + 1 or len(up_channels) != n_down - 1:
            raise ValueError(f"feature_down={feature_down} needs {n_down + 1} encoder_channels and "
                             f"{n_down - 1} up_channels, got {encoder_channels} and {up_channels}")
        feat = size // feature_down
        if feat % (motion_down * 2 ** (len(motion_channels) - 1)):
            raise ValueError(f"feature size {feat} must divide by motion_down * 2^(len(motion_channels) - 1)")
        self.size, self.num_keypoints, self.heatmap_var = size, num_keypoints, heatmap_var
        self.volume_channels, self.volume_depth, self.motion_down = volume_channels, volume_depth, motion_down

        # appearance: image -> [B, C, D, H', W']
        enc = [_conv_block(nn.Conv2d(3, encoder_channels[0], 3, padding=1), encoder_channels[0])]
        for c_in, c in zip(encoder_channels[:-1], encoder_channels[1:]):
            # pool before the conv: the conv at the higher resolution cost 4x for little gain
            enc += [nn.AvgPool2d(2), _conv_block(nn.Conv2d(c_in, c, 3, padding=1), c)]
        self.encoder = nn.Sequential(*enc, nn.Conv2d(encoder_channels[-1], volume_channels * volume_depth, 1))
        self.volume_blocks = nn.Sequential(*(ResBlock3d(volume_channels) for _ in range(volume_blocks)))

        # dense motion
        k1 = num_keypoints + 1
        self.compress = nn.Conv3d(volume_channels, motion_compress, 1)
        self.hourglass = Hourglass3d(k1 * (motion_compress + 1), motion_channels)
        self.mask_head = nn.Conv3d(motion_channels[0], k1, 3, padding=1)
        # zero init: training starts from a uniform mask (the mean keypoint translation)
        nn.init.zeros_(self.mask_head.weight)
        nn.init.zeros_(self.mask_head.bias)
        self.occlusion_head = nn.Conv2d(motion_channels[0] * volume_depth, 1, 3, padding=1)

        # warped volume -> image
        self.to_decoder = nn.Conv2d(volume_channels * volume_depth, decoder_channels, 3, padding=1)
        self.spade = nn.ModuleList(SPADEResBlock(decoder_channels, spectral_norm) for _ in range(spade_blocks))
        ups = []
        for c_in, c in zip((decoder_channels, *up_channels[:-1]), up_channels):
            ups += [nn.Upsample(scale_factor=2, mode="nearest"), _conv_block(nn.Conv2d(c_in, c, 3, padding=1), c)]
        self.up = nn.Sequential(*ups)
        self.head = nn.Sequential(nn.Conv2d((decoder_channels, *up_channels)[-1], 3 * 4, 3, padding=1),
                                  nn.PixelShuffle(2))
        # channels-last convs: on CPU the weight gradient of a contiguous 8-channel Conv3d took 1.1 s
        # against 55 ms channels-last (torch 2.13, oneDNN); 2D convs gain less but do too
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                m.to(memory_format=torch.channels_last_3d)
            elif isinstance(m, nn.Conv2d):
                m.to(memory_format=torch.channels_last)

    def _broadcast(self, volume, x_s, x_d):
        if x_s.shape[1:] != (self.num_keypoints, 3) or x_d.shape[1:] != (self.num_keypoints, 3):
            raise ValueError(f"keypoints must be [B, {self.num_keypoints}, 3], "
                             f"got {tuple(x_s.shape)} and {tuple(x_d.shape)}")
        b = x_d.shape[0]
        return volume.expand(b, *volume.shape[1:]), x_s.expand(b, -1, -1)

    def appearance(self, source: torch.Tensor) -> torch.Tensor:
        """source [B, 3, size, size] in [0, 1] -> feature volume [B, C, D, size/f, size/f]."""
        if source.shape[-2:] != (self.size, self.size):
            raise ValueError(f"expected {self.size}x{self.size} images, got {tuple(source.shape[-2:])}")
        x = self.encoder((source * 2 - 1).contiguous(memory_format=torch.channels_last))
        x = rearrange(x, "b (c d) h w -> b c d h w", c=self.volume_channels)
        return self.volume_blocks(x.contiguous(memory_format=torch.channels_last_3d))

    def dense_motion(self, volume: torch.Tensor, x_s: torch.Tensor, x_d: torch.Tensor) -> dict[str, torch.Tensor]:
        """-> deformation [B, D, H', W', 3] (grid_sample (x, y, z) order), mask [B, K + 1, D, H', W']
        (softmax over motions, index 0 the background), occlusion [B, 1, H', W'] in (0, 1).
        A batch-1 volume / x_s is shared by all B driving frames of x_d."""
        volume, x_s = self._broadcast(volume, x_s, x_d)
        d, h, w = volume.shape[2:]
        k1 = self.num_keypoints + 1
        feat = self.compress(volume)
        if self.motion_down > 1:
            feat = F.avg_pool3d(feat, (1, self.motion_down, self.motion_down))
        hm, wm = feat.shape[-2:]
        grids = sparse_motions(x_s, x_d, d, hm, wm)  # [B, K+1, d, hm, wm, 3]
        warped = warp_volume(feat.repeat_interleave(k1, dim=0), grids.flatten(0, 1))
        warped = rearrange(warped, "(b k) c d h w -> b k c d h w", k=k1)
        heat = keypoint_heatmaps(x_s, x_d, d, hm, wm, self.heatmap_var)[:, :, None]
        x = self.hourglass(rearrange(torch.cat([heat, warped], dim=2), "b k c d h w -> b (k c) d h w"))
        mask = F.softmax(self.mask_head(x), dim=1)
        occlusion = torch.sigmoid(self.occlusion_head(rearrange(x, "b c d h w -> b (c d) h w")))
        if self.motion_down > 1:
            # interpolated softmax weights still sum to 1, so the identity property survives
            mask = rearrange(F.interpolate(mask.flatten(1, 2), size=(h, w), mode="bilinear", align_corners=False),
                             "b (k d) h w -> b k d h w", k=k1)
            occlusion = F.interpolate(occlusion, size=(h, w), mode="bilinear", align_corners=False)
        return dict(deformation=deformation_from_mask(mask, x_s, x_d), mask=mask, occlusion=occlusion)

    def forward(self, volume_or_source: torch.Tensor, x_s: torch.Tensor, x_d: torch.Tensor) -> dict[str, torch.Tensor]:
        """volume [B|1, C, D, H', W'] (from ``appearance``) or source image [B|1, 3, S, S]; x_s [B|1, K, 3];
        x_d [B, K, 3]. A batch-1 volume / x_s is shared by all B driving frames.
        -> image [B, 3, S, S] in (0, 1), deformation, mask, occlusion (see ``dense_motion``)."""
        if volume_or_source.dim() not in (4, 5):
            raise ValueError("expected a source [B, 3, S, S] or a volume [B, C, D, H, W], "
                             f"got {tuple(volume_or_source.shape)}")
        volume = self.appearance(volume_or_source) if volume_or_source.dim() == 4 else volume_or_source
        volume, x_s = self._broadcast(volume, x_s, x_d)
        motion = self.dense_motion(volume, x_s, x_d)
        x = rearrange(warp_volume(volume, motion["deformation"]), "b c d h w -> b (c d) h w")
        x = self.to_decoder(x) * motion["occlusion"]
        seg = x
        for block in self.spade:
            x = block(x, seg)
        image = torch.sigmoid(self.head(self.up(x)))
        return dict(image=image, **motion)
