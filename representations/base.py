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

GAUSS_LEVELS = 1001  # quantiles per dimension of the Gaussian marginals


class Normalizer(nn.Module):
    """Per-dimension z-scoring with statistics fitted on training motion; saved in the state dict.

    One owner fits it: the extract stage (sandbox.pipeline.extract), which sees every training frame and
    saves the statistics to one file of its artifact. Fitted statistics are read-only: ``fit`` refuses
    to overwrite them (``refit=True`` for a deliberate second fit).

    ``minmax`` (optional indices): those dimensions are min-max scaled to [0, 1] on the fitting data
    instead (JoyVASA's pose dims). They reuse the affine buffers: ``mean`` holds their minimum and
    ``std`` their range, so normalize / denormalize are the same formulas for every dimension. The
    indices are a buffer too, so statistics fitted with another scheme refuse to load.

    ``fit_gaussian`` (``extract.marginals=gaussian``) adds Gaussian marginals: after the affine step each
    dimension goes through its training CDF to a standard normal (its quantiles a buffer, absent otherwise)."""

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
        self.register_buffer("quantiles", None)  # Gaussian marginals (fit_gaussian); None: no key either

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
        z = self.zscore(x)
        return z if self.quantiles is None else self._to_gaussian(z)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        z = x if self.quantiles is None else self._from_gaussian(x)
        return z * self.std.to(x) + self.mean.to(x)

    def zscore(self, x: torch.Tensor) -> torch.Tensor:
        """Un-normalised motion in the affine units alone (z-scores; minmax dims in [0, 1]): the same for
        either marginal scheme, so measures taken in them compare across runs."""
        return (x - self.mean.to(x)) / self.std.to(x)

    def to_zscore(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised motion -> :meth:`zscore` units (``x`` itself without Gaussian marginals)."""
        return x if self.quantiles is None else self._from_gaussian(x)

    # -- Gaussian marginals ---------------------------------------------------------------------
    # A rare event of one dimension (a blink: 4% of frames) lies 5-7 z-scores out, where a generator's
    # Gaussian noise seldom goes; through the dimension's training CDF it lies where its share puts it.
    @torch.no_grad()
    def fit_gaussian(self, motion: torch.Tensor, levels: int = GAUSS_LEVELS) -> "Normalizer":
        """After :meth:`fit`: each dimension's z-scores through its empirical CDF (``levels`` quantiles of
        ``motion`` [N, dim], un-normalised) and the standard normal's inverse CDF, so every marginal is about
        N(0, 1). Values tied at an atom (a blendshape at 0) go to the middle of the atom's share; beyond the
        training range they clamp to it, and the extreme frames to half a frame's share from it."""
        if not bool(self.fitted):
            raise RuntimeError("fit the affine statistics first (Normalizer.fit)")
        if self.quantiles is not None:
            raise RuntimeError("the Gaussian marginals are fitted already; their statistics are read-only")
        z = self.zscore(motion.reshape(-1, motion.shape[-1]).float()).double()
        probs = _levels(levels)
        self.register_buffer("quantiles", torch.quantile(z, probs, dim=0).float())  # [levels, dim]
        self.register_buffer("n_fit", torch.tensor(len(z)))
        return self

    def _bounds(self) -> tuple[float, float]:
        half = 0.5 / int(self.n_fit)  # half a frame's share: the extreme frames land at about +-4 std (13k frames)
        return half, 1.0 - half

    # in float64: float32 cannot tell the upper tail's levels apart (1 - 3e-6 is within a few ulp of 1)
    def _to_gaussian(self, z: torch.Tensor) -> torch.Tensor:
        q, zd = self.quantiles.double().cpu(), z.double().cpu()
        p = _levels(len(q))
        lo, hi = self._bounds()
        u = 0.5 * (_interp(zd, q, p) - _interp(-zd, -q.flip(0), -p.flip(0)))  # ties: the middle of their share
        return _NORMAL.icdf(u.clamp(lo, hi)).to(z)

    def _from_gaussian(self, y: torch.Tensor) -> torch.Tensor:
        q = self.quantiles.double().cpu()
        return _interp(_NORMAL.cdf(y.double().cpu()), _levels(len(q)), q).to(y)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # statistics fitted with Gaussian marginals carry their quantiles: take their shape before loading
        if self.quantiles is None and prefix + "quantiles" in state_dict:
            for name in ("quantiles", "n_fit"):
                self.register_buffer(name, torch.empty_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


_NORMAL = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))


def _levels(n: int) -> torch.Tensor:
    """The probabilities (float64) of the quantiles kept: 0, 1 and between them the normal CDF at evenly spaced
    scores from -4.5 to 4.5, so the tails, where the rare events are, get as many levels as the middle."""
    inner = _NORMAL.cdf(torch.linspace(-4.5, 4.5, n - 2, dtype=torch.float64))
    return torch.cat([inner.new_zeros(1), inner, inner.new_ones(1)])


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Per-column piecewise-linear interpolation (np.interp on each dimension): x [..., D], xp and fp [K]
    or [K, D], xp non-decreasing per column; clamped to fp's ends outside xp's range."""
    d = x.shape[-1]
    xp, fp = (v[:, None].expand(-1, d) if v.ndim == 1 else v for v in (xp, fp))
    cols, xpt, fpt = x.reshape(-1, d).T.contiguous(), xp.T.contiguous(), fp.T.contiguous()  # [D, N], [D, K]
    hi = torch.searchsorted(xpt, cols).clamp(1, xp.shape[0] - 1)
    x0, x1 = xpt.gather(1, hi - 1), xpt.gather(1, hi)
    f0, f1 = fpt.gather(1, hi - 1), fpt.gather(1, hi)
    w = ((cols - x0) / (x1 - x0).clamp_min(torch.finfo(x.dtype).tiny)).clamp(0, 1)
    return (f0 + w * (f1 - f0)).T.reshape(x.shape)


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
