"""Several generators on disjoint named parts of one motion vector (GoHD: conformer diffusion on ``pose``,
two-stage predictor on ``exp``; gaze by a third).

``ComposedGenerator({"pose": g1, "exp": g2, None: g3}, parts, dim)``: each sub-generator is built for its
part's width and sees the batch with ``x`` / ``x_ref`` cut to its dims (audio, emotion, aux, extra
unchanged); the key None stands for every dim no named part claims. Samples are written back into their
slots; NFE is the sum over sub-generators (they run one after another).
"""
from __future__ import annotations

import torch
from torch import nn

from generators.base import Generator, SampleOutput

REST = "rest"  # name of the None slot in loss terms and per-part arguments


class ComposedGenerator(Generator):
    name = "composed"

    def __init__(self, generators: dict[str | None, Generator], parts: dict[str, slice], dim: int):
        first = next(iter(generators.values()))
        super().__init__(dim, first.audio_dim, first.n_prev, first.n_cur)
        unknown = [k for k in generators if k is not None and k not in parts]
        if unknown:
            raise ValueError(f"unknown part(s) {unknown}; parts: {sorted(parts)}")
        claimed: dict[int, str] = {}
        index: dict[str, torch.Tensor] = {}
        for name in [k for k in generators if k is not None]:
            idx = torch.arange(dim)[parts[name]]
            for i in idx.tolist():
                if i in claimed:
                    raise ValueError(f"parts {claimed[i]!r} and {name!r} overlap at dim {i}")
                claimed[i] = name
            index[name] = idx
        if None in generators:
            index[REST] = torch.tensor([i for i in range(dim) if i not in claimed], dtype=torch.long)
            if len(index[REST]) == 0:
                raise ValueError("the None generator has no dims left")
        self.subs = nn.ModuleDict({(REST if k is None else k): g for k, g in generators.items()})
        for name, g in self.subs.items():
            if g.dim != len(index[name]):
                raise ValueError(f"generator for {name!r} has dim {g.dim}, its part has {len(index[name])}")
            self.register_buffer(f"index_{name}", index[name], persistent=False)

    def index(self, name: str) -> torch.Tensor:
        return getattr(self, f"index_{name}")

    def _cut(self, data: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
        idx = self.index(name)
        return {k: (v[..., idx] if k in ("x", "x_ref") else v) for k, v in data.items()}

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        total = 0.0
        for name, g in self.subs.items():
            terms = g.loss(self._cut(batch, name))
            total = total + terms["total"]
            out.update({f"{name}/{k}": v for k, v in terms.items()})
        return {"total": total, **out}

    @property
    def needs_discriminator(self) -> bool:
        return any(getattr(g, "needs_discriminator", False) for g in self.subs.values())

    def discriminator_loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        total = 0.0
        for name, g in self.subs.items():
            if getattr(g, "needs_discriminator", False):
                terms = g.discriminator_loss(self._cut(batch, name))
                total = total + terms["total"]
                out.update({f"{name}/{k}": v for k, v in terms.items()})
        return {"total": total, **out}

    def _per_part(self, value, name: str):
        """``value``: one setting for all, or a dict keyed by part names (``rest`` for None)."""
        if isinstance(value, dict) and value and set(value) <= set(self.subs):
            return value.get(name)
        return value

    @torch.no_grad()
    def sample(
        self,
        cond: dict[str, torch.Tensor],
        steps: int | dict[str, int] | None = None,
        guidance: dict[str, float] | dict[str, dict[str, float]] | None = None,
        seed: int | None = None,
    ) -> SampleOutput:
        """``steps`` / ``guidance``: one value for every sub-generator or dicts keyed by part name."""
        b, t = cond["audio"].shape[:2]
        motion = cond["x_ref"].new_zeros(b, t, self.dim)
        nfe = 0
        for k, (name, g) in enumerate(self.subs.items()):
            sub_cond = self._cut(cond, name)
            if not hasattr(g, "aux_dim"):  # only the two-stage predictor takes the reference's aux features
                sub_cond.pop("aux_ref", None)
            out = g.sample(sub_cond, steps=self._per_part(steps, name), guidance=self._per_part(guidance, name),
                           seed=None if seed is None else seed + k)
            motion[..., self.index(name)] = out.motion
            nfe += out.nfe
        return SampleOutput(motion=motion, nfe=nfe)
