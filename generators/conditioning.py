"""Pieces every windowed generator builds its condition from: the audio encoder, the per-frame condition
vector, the preceding-frame context (zeros or learned start features, context dropout), window masks and
seeded sampling noise. Shared by flow, diffusion and conformer so that they differ only in their
generative process.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from einops import repeat
from torch import nn

from generators.base import SampleOutput

Start = Literal["zeros", "learned"]


@dataclass
class GuidedSampleOutput(SampleOutput):
    branches: int = 1  # guidance branches batched into every network call


# -- audio ------------------------------------------------------------------------------------------
def default_audio_encoder(d_in: int, d_out: int) -> nn.Module:
    """FLOAT's audio projection (Linear -> LayerNorm -> SiLU, each frame alone), used when no encoder is
    injected."""
    return nn.Sequential(nn.Linear(d_in, d_out), nn.LayerNorm(d_out), nn.SiLU())


AudioEncoderSpec = nn.Module | Callable[..., nn.Module] | None


def build_audio_encoder(
    audio_dim: int, hidden: int, audio_encoder: AudioEncoderSpec = None, audio_hidden: int | None = None
) -> tuple[nn.Module, int]:
    """(encoder, its width): FLOAT's projection when ``audio_encoder`` is None; a factory (what a config
    node with ``_partial_: true`` builds, e.g. the pipeline's shared ``audio_encoder``) is called with
    ``d_in=audio_dim, d_out=audio_hidden or hidden``; a module is used as given (its width from
    ``audio_hidden`` or its ``out_dim``)."""
    if not isinstance(audio_encoder, nn.Module):
        audio_hidden = audio_hidden or hidden
        make = audio_encoder or default_audio_encoder
        return make(d_in=audio_dim, d_out=audio_hidden), audio_hidden
    if audio_hidden is None:
        audio_hidden = getattr(audio_encoder, "out_dim", None)
        if audio_hidden is None:
            raise ValueError("an injected audio_encoder needs audio_hidden= (or an out_dim attribute)")
    return audio_encoder, audio_hidden


# -- per-frame condition ----------------------------------------------------------------------------
def per_frame_condition(*parts: torch.Tensor) -> torch.Tensor:
    """Concatenate per-frame [B, N, d] and per-sequence [B, d] conditions (repeated over the N frames),
    in the order given: [B, N, sum d]."""
    n = next(p.shape[1] for p in parts if p.ndim == 3)
    return torch.cat([p if p.ndim == 3 else repeat(p, "b d -> b n d", n=n) for p in parts], dim=-1)


def frame_mask(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The batch's frame mask [B, N] (all True when absent), as bool."""
    x = batch["x"]
    mask = batch.get("mask")
    if mask is None:
        return torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
    return mask.bool()


def window_mask(b: int, n_prev: int, n_cur: int, valid_len: int, device: torch.device) -> torch.Tensor:
    """Sampling-time key-padding mask: context and the first ``valid_len`` current frames are real."""
    mask = torch.ones(b, n_prev + n_cur, dtype=torch.bool, device=device)
    mask[:, n_prev + valid_len :] = False
    return mask


def random_truncation(
    mask: torch.Tensor, n_prev: int, prob: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """JoyVASA's random truncation: with probability ``prob`` per sample, cut the current frames at a
    random length in [1, L) (frames after the cut become padding)."""
    b, n = mask.shape
    n_cur = n - n_prev
    if prob <= 0.0 or n_cur < 2:
        return mask
    cut = torch.randint(1, n_cur, (b,), generator=generator, device=mask.device)
    hit = torch.rand(b, generator=generator, device=mask.device) < prob
    pos = torch.arange(n_cur, device=mask.device)[None]
    keep_cur = ~hit[:, None] | (pos < cut[:, None])
    return mask & torch.cat([mask.new_ones(b, n_prev), keep_cur], dim=1)


def check_cond_keys(cond: dict[str, torch.Tensor], allowed: set[str], who: str) -> None:
    unknown = set(cond) - allowed
    if unknown:
        raise ValueError(f"{who}.sample does not use condition(s) {sorted(unknown)}; it takes {sorted(allowed)}")


def seeded_generator(seed: int | None, device: torch.device) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(seed if seed is not None else int(torch.randint(0, 2**31 - 1, ()).item()))
    return gen


# -- preceding-frame context ------------------------------------------------------------------------
class ContextStart(nn.Module):
    """What stands in for the L' preceding frames where there are none (the first window, a dropped
    context, frames before a clip's start): zeros (FLOAT) or learned start motion / audio features
    (JoyVASA's X_start, A_start).
    """

    def __init__(self, n_prev: int, dim: int, audio_dim: int, start: Start = "zeros"):
        super().__init__()
        if start not in ("zeros", "learned"):
            raise ValueError(f"start must be 'zeros' or 'learned', got {start!r}")
        self.n_prev, self.dim, self.audio_dim, self.kind = n_prev, dim, audio_dim, start
        if start == "learned":
            self.motion = nn.Parameter(torch.zeros(n_prev, dim))
            self.audio = nn.Parameter(torch.zeros(n_prev, audio_dim))

    def features(self, b: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Start motion [B, L', dim] and audio [B, L', h_a]."""
        if self.kind == "zeros":
            return like.new_zeros(b, self.n_prev, self.dim), like.new_zeros(b, self.n_prev, self.audio_dim)
        return (repeat(self.motion.to(like.dtype), "n d -> b n d", b=b),
                repeat(self.audio.to(like.dtype), "n d -> b n d", b=b))

    def for_windows(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Start features for ``generate_windows`` (None = the window function's own zeros)."""
        return (self.motion, self.audio) if self.kind == "learned" else (None, None)

    def fill(
        self, prev_motion: torch.Tensor | None, prev_audio: torch.Tensor | None, b: int, like: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        start_m, start_a = self.features(b, like)
        return (start_m if prev_motion is None else prev_motion,
                start_a if prev_audio is None else prev_audio)

    def replace(
        self, x_prev: torch.Tensor, a_prev: torch.Tensor, use_real: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Keep real context where ``use_real`` ([B] or [B, L']) is True, start features elsewhere."""
        if use_real.ndim == 1:
            use_real = repeat(use_real, "b -> b n", n=x_prev.shape[1])
        start_m, start_a = self.features(x_prev.shape[0], x_prev)
        keep = use_real[..., None]
        return torch.where(keep, x_prev, start_m), torch.where(keep, a_prev, start_a)


def context_keep(b: int, prev_drop: float, training: bool, device: torch.device) -> torch.Tensor:
    """Per sample: keep the real preceding frames (True) or drop them (FLOAT p = 0.5, training only)."""
    if not training or prev_drop <= 0.0:
        return torch.ones(b, dtype=torch.bool, device=device)
    return torch.rand(b, device=device) >= prev_drop
