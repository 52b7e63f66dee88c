"""Learned audio encoder on top of per-frame features (log-mel or wav2vec2).

A temporal convolution lets each frame see its neighbours (a phoneme's acoustic cues spread
over ~100 ms, and lips anticipate the next sound), then a per-frame projection and LayerNorm,
so generators get features of a fixed width and scale whatever the front end.
"""
from __future__ import annotations

import torch
from torch import nn


class AudioEncoder(nn.Module):
    """[B, T, d_in] -> [B, T, d_out]; the length T is preserved (same padding)."""

    def __init__(self, d_in: int, d_out: int = 128, hidden: int | None = None, kernel: int = 5,
                 dropout: float = 0.0):
        super().__init__()
        if kernel % 2 != 1:
            raise ValueError(f"kernel must be odd to keep frames aligned; got {kernel}")
        hidden = hidden or d_out
        self.out_dim = d_out
        self.context = kernel // 2  # frames seen on each side (a stream waits for them)
        self.norm_in = nn.LayerNorm(d_in)  # raw log-mel sits around -14..+5; normalise per frame
        self.conv = nn.Conv1d(d_in, hidden, kernel, padding=kernel // 2)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Linear(hidden, d_out)
        self.norm_out = nn.LayerNorm(d_out)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        h = self.conv(self.norm_in(a).transpose(1, 2)).transpose(1, 2)
        return self.norm_out(self.proj(self.drop(self.act(h))))
