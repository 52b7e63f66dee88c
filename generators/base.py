"""The Generator contract: audio-conditioned sequence models over any representation's motion.

Training batch (all tensors; motion already normalised by the representation):
    x        [B, L'+L, dim]   motion: L' preceding frames then L current frames
    audio    [B, L'+L, d_a]   per-frame audio features aligned to x
    x_ref    [B, dim]         reference motion (the source frame's)
    emotion  [B, 7]           emotion probabilities / one-hot
    mask     [B, L'+L] bool   True where a frame is real (False for truncated-window padding)
    extra    [B, L'+L, d_c]   optional per-frame conditions (e.g. 3D pose)
    aux      [B, L'+L, k]     optional rep.aux_features(x) (two_stage)

``loss(batch) -> {"total": scalar, <name>: scalar, ...}`` (all logged).
``sample(cond, steps, guidance, seed) -> SampleOutput`` generates any length window by window,
carrying the last L' generated frames and audio features into the next window.
``stream(cond, steps, guidance, seed, chunk)`` (optional) is the same sampler fed incrementally
(generators.windowing.WindowStream: ``push(features) -> final frames``, ``finish()``); the sandbox's
generators sample through it, so a stream and a sample of the same audio and seed agree.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class SampleOutput:
    motion: torch.Tensor  # [B, T, dim] normalised motion
    nfe: int  # network evaluations actually performed (batched guidance branches count once each call)


class Generator(nn.Module, ABC):
    name: str = "base"
    blends: tuple[str, ...] = ("fade", "offset")  # how its windows can join (generators.windowing)

    def __init__(self, dim: int, audio_dim: int, n_prev: int, n_cur: int, overlap: int = 0):
        """``overlap``: frames shared (and cross-faded) by consecutive sampling windows
        (generators.windowing); 0 = the papers' back-to-back windows."""
        super().__init__()
        if not 0 <= overlap < max(n_cur, 1):
            raise ValueError(f"overlap must be in [0, n_cur={n_cur}), got {overlap}")
        self.dim = dim
        self.audio_dim = audio_dim
        self.n_prev = n_prev
        self.n_cur = n_cur
        self.overlap = overlap
        self.blend = "fade"  # a sampling setting, read when a stream starts

    @property
    def window(self) -> int:
        return self.n_prev + self.n_cur

    @abstractmethod
    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]: ...

    @abstractmethod
    @torch.no_grad()
    def sample(
        self,
        cond: dict[str, torch.Tensor],  # audio [B, T, d_a], x_ref [B, dim], emotion [B, 7], extra?
        steps: int | None = None,
        guidance: dict[str, float] | None = None,
        seed: int | None = None,
    ) -> SampleOutput: ...

    def stream(self, cond: dict[str, torch.Tensor], steps: int | None = None,
               guidance: dict[str, float] | None = None, seed: int | None = None, chunk: int | None = None):
        """``sample`` fed incrementally; generators that cannot stream say so."""
        raise NotImplementedError(f"generator {type(self).__name__} does not stream (it has no stream() method)")
