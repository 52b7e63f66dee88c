"""Classifier-free guidance shared by every generator: training-time condition dropout, null
conditions, and the sampling-time combination of batched branches.

Two combinations over the guided conditions c_1..c_n (in the order given):

* incremental (FLOAT eq. 14, generalised): branches S_0 = {}, S_1 = {c_1}, ..., S_n = {c_1..c_n};
  v = v_{S_0} + sum_k g_k (v_{S_k} - v_{S_{k-1}}). For [audio, emotion]:
  v = v_uncond + g_a (v_a - v_uncond) + g_e (v_ae - v_a).
* independent: branches {}, {c_1}, ..., {c_n}; v = v_uncond + sum_k g_k (v_{c_k} - v_uncond).

Both evaluate n + 1 branches, batched into one network call. In incremental mode with every scale 1 the
sum telescopes to v_{S_n}, so only the fully conditioned branch is evaluated (guidance off).

Conditions that are dropped in training but not guided (FLOAT drops the reference motion) are listed only in
``drop_prob``; at sampling they are kept in every branch.
"""
from __future__ import annotations

from typing import Literal

import torch
from einops import repeat
from torch import nn

Branch = frozenset[str]


class Guidance(nn.Module):
    def __init__(
        self,
        conditions: list[str],
        mode: Literal["incremental", "independent"] = "incremental",
        null: Literal["zero", "learned"] = "zero",
        dims: dict[str, int] | None = None,
        drop_prob: dict[str, float] | None = None,
    ):
        super().__init__()
        if mode not in ("incremental", "independent"):
            raise ValueError(f"guidance mode must be 'incremental' or 'independent', got {mode!r}")
        if null not in ("zero", "learned"):
            raise ValueError(f"null must be 'zero' or 'learned', got {null!r}")
        self.conditions = list(conditions)
        self.mode, self.null = mode, null
        self.drop_prob = dict(drop_prob or {})
        for name, p in self.drop_prob.items():
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"drop probability for {name!r} must be in [0, 1], got {p}")
        self.names = list(dict.fromkeys(self.conditions + list(self.drop_prob)))
        self.nulls = nn.ParameterDict()
        if null == "learned":
            missing = [n for n in self.names if n not in (dims or {})]
            if missing:
                raise ValueError(f"learned nulls need dims for {missing}")
            # zero init: starts as the zero null and learns away from it
            self.nulls.update({n: nn.Parameter(torch.zeros(dims[n])) for n in self.names})

    # -- nulls and training-time dropout -------------------------------------------------------
    def null_like(self, name: str, value: torch.Tensor) -> torch.Tensor:
        if self.null == "zero":
            return torch.zeros_like(value)
        return self.nulls[name].to(value.dtype).expand_as(value)

    def drop(
        self, cond: dict[str, torch.Tensor], generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Replace each condition named in ``drop_prob`` by its null, per sample, with that probability.

        Values are [B, ...]; names without a drop probability pass through unchanged.
        """
        out = dict(cond)
        for name, p in self.drop_prob.items():
            if name not in cond or p == 0.0:
                continue
            value = cond[name]
            u = torch.rand(value.shape[0], generator=generator, device=value.device)
            dropped = (u < p).reshape(-1, *([1] * (value.ndim - 1)))
            out[name] = torch.where(dropped, self.null_like(name, value), value)
        return out

    # -- sampling-time branches ----------------------------------------------------------------
    def check_scales(self, scales: dict[str, float]) -> dict[str, float]:
        unknown = set(scales) - set(self.conditions)
        if unknown:
            raise ValueError(f"no guided condition(s) {sorted(unknown)}; guided: {self.conditions}")
        missing = set(self.conditions) - set(scales)
        if missing:
            raise ValueError(f"guidance scale(s) missing for {sorted(missing)}")
        return {c: float(scales[c]) for c in self.conditions}

    def branches(self, scales: dict[str, float]) -> list[Branch]:
        """The sets of guided conditions kept in each branch, in evaluation order."""
        scales = self.check_scales(scales)
        if not self.conditions or (self.mode == "incremental" and all(g == 1.0 for g in scales.values())):
            return [frozenset(self.conditions)]
        if self.mode == "incremental":
            return [frozenset(self.conditions[:k]) for k in range(len(self.conditions) + 1)]
        return [frozenset()] + [frozenset([c]) for c in self.conditions]

    def n_branches(self, scales: dict[str, float]) -> int:
        return len(self.branches(scales))

    def batch(self, cond: dict[str, torch.Tensor], scales: dict[str, float]) -> dict[str, torch.Tensor]:
        """Stack the branches along the batch: every value [B, ...] -> [n_branches * B, ...] (branch-major).

        Guided conditions absent from a branch become their null; everything else is repeated.
        """
        branches = self.branches(scales)
        out = {}
        for name, value in cond.items():
            if name in self.conditions:
                parts = [value if name in b else self.null_like(name, value) for b in branches]
                out[name] = torch.cat(parts, dim=0)
            else:
                out[name] = repeat(value, "b ... -> (k b) ...", k=len(branches))
        return out

    def combine(self, v: torch.Tensor, scales: dict[str, float]) -> torch.Tensor:
        """[n_branches * B, ...] network outputs (branch-major, as ``batch`` built them) -> guided [B, ...]."""
        branches = self.branches(scales)
        scales = self.check_scales(scales)
        outs = v.chunk(len(branches), dim=0)
        if len(branches) == 1:
            return outs[0]
        guided = outs[0]
        for k, name in enumerate(self.conditions, start=1):
            base = outs[k - 1] if self.mode == "incremental" else outs[0]
            guided = guided + scales[name] * (outs[k] - base)
        return guided
