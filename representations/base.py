"""The Representation contract: a motion space with a fixed per-frame vector layout.

Every generator works on ``[T, dim]`` motion vectors of any representation; every renderer for a
representation turns ``(reference, motion)`` back into frames.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import nn

from sandbox.data.frames import to_tensor


class Normalizer(nn.Module):
    """Per-dimension z-scoring with statistics fitted on training motion; saved in the state dict.

    One owner fits it: the extract stage (sandbox.pipeline.extract), which sees every training frame and
    saves the statistics to one file of its artifact. Fitted statistics are read-only: ``fit`` refuses
    to overwrite them (``refit=True`` for a deliberate second fit).

    ``minmax`` (optional indices): those dimensions are min-max scaled to [0, 1] on the fitting data
    instead (JoyVASA's pose dims). They reuse the affine buffers: ``mean`` holds their minimum and
    ``std`` their range, so normalize / denormalize are the same formulas for every dimension. The
    indices are a buffer too, so statistics fitted with another scheme refuse to load."""

    def __init__(self, dim: int, eps: float = 1e-4, minmax=None):
        super().__init__()
        self.eps = eps
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        self.register_buffer("fitted", torch.tensor(False))
        if minmax is not None:
            minmax = torch.as_tensor(minmax, dtype=torch.long).reshape(-1)
            if len(minmax) and (minmax.min() < 0 or minmax.max() >= dim or len(minmax.unique()) != len(minmax)):
                raise ValueError(f"minmax indices must be distinct and in 0..{dim - 1}, got {minmax.tolist()}")
        self.register_buffer("minmax", minmax)  # None: plain z-scoring, and no key in the state dict

    @torch.no_grad()
    def fit(self, motion: torch.Tensor, refit: bool = False) -> "Normalizer":
        """motion: [N, dim] (all training frames stacked)."""
        if bool(self.fitted) and not refit:
            raise RuntimeError("the normaliser is fitted already; its statistics are read-only (refit=True to overwrite)")
        m = motion.reshape(-1, motion.shape[-1]).double()
        self.mean.copy_(m.mean(0).float())
        self.std.copy_(m.std(0).clamp_min(self.eps).float())
        if self.minmax is not None and len(self.minmax):
            lo, hi = m[:, self.minmax].min(0).values, m[:, self.minmax].max(0).values
            self.mean[self.minmax] = lo.float()
            self.std[self.minmax] = (hi - lo).clamp_min(self.eps).float()
        self.fitted.fill_(True)
        return self

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x)) / self.std.to(x)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std.to(x) + self.mean.to(x)


class Representation(nn.Module, ABC):
    """A motion space. Subclasses set ``name``, ``dim`` and ``parts`` (name -> slice of the vector)."""

    name: str = "base"
    learned: bool = False  # True when fit() trains a model (lia, keypoint auto-encoders)

    def __init__(self, dim: int, parts: dict[str, slice]):
        super().__init__()
        self.dim = dim
        self.parts = dict(parts)
        covered = sorted(i for s in self.parts.values() for i in range(dim)[s])
        if covered != list(range(dim)):
            raise ValueError(f"parts {self.parts} must tile 0..{dim} exactly")
        self.norm = Normalizer(dim)

    # -- learning -------------------------------------------------------------------------------
    def fit(self, data, **kwargs) -> dict[str, float]:
        """Learn the space from a ClipStore (no-op for analytic spaces). Returns metrics."""
        return {}

    # -- mapping --------------------------------------------------------------------------------
    @abstractmethod
    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """frames float [T, 3, H, W] in [0, 1] -> motion [T, dim] (un-normalised)."""

    @torch.no_grad()
    def encode_clip(self, clip, batch_size: int = 32) -> torch.Tensor:
        """A dataset Clip -> motion [T, dim]. Default: encode its frames in batches; spaces that can
        read ground truth or need whole-clip context (3dmm tracking) override this."""
        frames = clip.frames
        out = [
            self.encode(to_tensor(frames[i : i + batch_size]))
            for i in range(0, len(frames), batch_size)
        ]
        return torch.cat(out).float()

    @abstractmethod
    def reference(self, source_image: torch.Tensor) -> Any:
        """source float [3, H, W] in [0, 1] -> whatever this space's renderers need from the source."""

    def reference_motion(self, ref: Any) -> torch.Tensor:
        """The motion vector [dim] of the reference itself (x_ref for generators)."""
        raise NotImplementedError

    def normalize(self, motion: torch.Tensor) -> torch.Tensor:
        return self.norm.normalize(motion)

    def denormalize(self, motion: torch.Tensor) -> torch.Tensor:
        return self.norm.denormalize(motion)

    # -- structure for generators ---------------------------------------------------------------
    def aux_features(self, motion: torch.Tensor) -> torch.Tensor:
        """The 'spontaneous' eye/brow features GoHD's two-stage generator targets: [T, k]."""
        raise NotImplementedError(f"{self.name} defines no aux_features")

    def edit(self, motion: torch.Tensor, **kwargs) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} supports no edit()")

    def part(self, motion: torch.Tensor, name: str) -> torch.Tensor:
        if name not in self.parts:
            raise KeyError(f"{self.name} has no part {name!r}; parts: {sorted(self.parts)}")
        return motion[..., self.parts[name]]
