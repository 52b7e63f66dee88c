"""Learned audio encoder on top of per-frame features (log-mel or wav2vec2).

A temporal convolution lets each frame see its neighbours (a phoneme's acoustic cues spread
over ~100 ms, and lips anticipate the next sound), then a per-frame projection and LayerNorm,
so generators get features of a fixed width and scale whatever the front end. In training, SpecAugment's
frequency masks (``freq_mask``, stacked spectra) and dropout, together with the standardised log-mel, lift the
held-out voices (the config's defaults); more convs (``layers``) and a random stretch of the spectra
(``freq_warp``) were measured not to help (docs/results/audio_front.md).
"""
from __future__ import annotations

import torch
from torch import nn


class AudioEncoder(nn.Module):
    """[B, T, d_in] -> [B, T, d_out]; the length T is preserved (same padding)."""

    def __init__(self, d_in: int, d_out: int = 128, hidden: int | None = None, kernel: int = 5, layers: int = 1,
                 dropout: float = 0.0, freq_warp: float = 0.0, warp_groups: int = 4, freq_mask: int = 0,
                 freq_masks: int = 2):
        super().__init__()
        if kernel % 2 != 1:
            raise ValueError(f"kernel must be odd to keep frames aligned; got {kernel}")
        if (freq_warp or freq_mask) and d_in % warp_groups:
            raise ValueError(f"freq_warp and freq_mask need features of warp_groups={warp_groups} stacked spectra; "
                             f"d_in={d_in}")
        if not 0 <= freq_mask <= d_in // warp_groups or freq_masks < 0:
            raise ValueError(f"freq_mask is a band count in [0, {d_in // warp_groups}] and freq_masks >= 0; "
                             f"got {freq_mask}, {freq_masks}")
        if not 0.0 <= freq_warp < 0.5:
            raise ValueError(f"freq_warp is a relative warp in [0, 0.5); got {freq_warp}")
        if layers < 1:
            raise ValueError(f"layers must be >= 1; got {layers}")
        hidden = hidden or d_out
        self.freq_warp, self.warp_groups = float(freq_warp), int(warp_groups)
        self.freq_mask, self.freq_masks = int(freq_mask), int(freq_masks)
        self.out_dim = d_out
        self.context = layers * (kernel // 2)  # frames seen on each side (a stream waits for them)
        self.norm_in = nn.LayerNorm(d_in)  # raw log-mel sits around -14..+5; normalise per frame
        self.conv = nn.Conv1d(d_in, hidden, kernel, padding=kernel // 2)
        # further convs, residual: each widens the receptive field by kernel - 1 frames
        self.blocks = nn.ModuleList(nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2) for _ in range(layers - 1))
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Linear(hidden, d_out)
        self.norm_out = nn.LayerNorm(d_out)

    def warp(self, a: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """Band k of each stacked spectrum of item b reads band k * alpha[b] (linear interpolation, edges
        clamped): a vocal-tract-length-like stretch of the spectral envelope and the harmonics."""
        b, t, d = a.shape
        bands = d // self.warp_groups
        x = a.reshape(b, t, self.warp_groups, bands)
        pos = (torch.arange(bands, device=a.device, dtype=a.dtype)[None] * alpha[:, None]).clamp(0, bands - 1)
        lo = pos.floor().long()
        hi = (lo + 1).clamp(max=bands - 1)
        w = (pos - lo.to(a.dtype))[:, None, None, :]
        idx = lambda i: i[:, None, None, :].expand(b, t, self.warp_groups, bands)  # noqa: E731
        out = x.gather(-1, idx(lo)) * (1 - w) + x.gather(-1, idx(hi)) * w
        return out.reshape(b, t, d)

    def mask(self, a: torch.Tensor) -> torch.Tensor:
        """SpecAugment's frequency masking: ``freq_masks`` runs of 0 to ``freq_mask`` bands per item, the same
        bands in each stacked spectrum and every frame, set to the item's mean."""
        b, t, d = a.shape
        bands = d // self.warp_groups
        k = torch.arange(bands, device=a.device)
        width = torch.randint(0, self.freq_mask + 1, (b, self.freq_masks, 1), device=a.device)
        first = (torch.rand(b, self.freq_masks, 1, device=a.device) * (bands - width + 1)).floor().long()
        hit = ((k >= first) & (k < first + width)).any(1)  # [b, bands]
        hit = hit[:, None, None, :].expand(b, t, self.warp_groups, bands).reshape(b, t, d)
        return torch.where(hit, a.mean((1, 2), keepdim=True), a)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        if self.training and self.freq_warp > 0:
            alpha = 1 + (torch.rand(a.shape[0], device=a.device, dtype=a.dtype) * 2 - 1) * self.freq_warp
            a = self.warp(a, alpha)
        if self.training and self.freq_mask > 0 and self.freq_masks > 0:
            a = self.mask(a)
        h = self.act(self.conv(self.norm_in(a).transpose(1, 2)))
        for block in self.blocks:
            h = h + self.act(block(h))
        return self.norm_out(self.proj(self.drop(h.transpose(1, 2))))
