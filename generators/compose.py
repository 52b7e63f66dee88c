"""Several generators on disjoint named parts of one motion vector (GoHD: conformer diffusion on ``pose``,
two-stage predictor on ``exp``; gaze by a third).

``ComposedGenerator({"pose": g1, "exp": g2, None: g3}, parts, dim)``: each sub-generator is built for its
part's width and sees the batch with ``x`` / ``x_ref`` cut to its dims (audio, emotion, aux, extra
unchanged); the key None stands for every dim no named part claims. Samples are written back into their
slots; NFE is the sum over sub-generators (they run one after another).
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from generators.base import Generator, SampleOutput
from sandbox.config import accepted_params
from sandbox.errors import ConfigError

REST = "rest"  # name of the None slot in loss terms and per-part arguments
AuxFn = Callable[[torch.Tensor], torch.Tensor]  # normalised motion [..., dim] -> aux features [..., k]


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
        was_training = self.training
        st = self.stream(cond, steps, guidance, seed)
        motion = st.run(cond["audio"])
        self.train(was_training)
        return SampleOutput(motion=motion, nfe=st.nfe)

    @torch.no_grad()
    def stream(self, cond: dict[str, torch.Tensor], steps=None, guidance=None, seed: int | None = None,
               chunk: int | None = None) -> "ComposedStream":
        """Every sub-generator's stream on the same audio (sub-generator k seeded ``seed + k``)."""
        streams = {}
        for k, (name, g) in enumerate(self.subs.items()):
            sub_cond = self._cut(cond, name)
            if not hasattr(g, "aux_dim"):  # only the two-stage predictor takes the reference's aux features
                sub_cond.pop("aux_ref", None)
            streams[name] = g.stream(sub_cond, steps=self._per_part(steps, name),
                                     guidance=self._per_part(guidance, name),
                                     seed=None if seed is None else seed + k, chunk=chunk)
        return ComposedStream(streams, {name: self.index(name) for name in self.subs}, self.dim, cond["x_ref"])


class ComposedStream:
    """Sub-generators' streams side by side, one per part: each gets the same audio, and a frame is
    emitted once every part has generated it."""

    def __init__(self, streams: dict[str, Any], index: dict[str, torch.Tensor], dim: int, like: torch.Tensor):
        self.streams, self.index, self.dim, self.like = streams, index, dim, like
        self.pending: dict[str, torch.Tensor | None] = {name: None for name in streams}

    @property
    def nfe(self) -> int:  # the sub-generators run one after another
        return sum(st.nfe for st in self.streams.values())

    def push(self, features: torch.Tensor) -> torch.Tensor:
        return self._emit({name: st.push(features) for name, st in self.streams.items()})

    def finish(self) -> torch.Tensor:
        return self._emit({name: st.finish() for name, st in self.streams.items()})

    def run(self, features: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.push(features), self.finish()], dim=1)

    def _emit(self, new: dict[str, torch.Tensor]) -> torch.Tensor:
        for name, x in new.items():
            if x.shape[1] > 0:
                self.pending[name] = x if self.pending[name] is None else torch.cat([self.pending[name], x], dim=1)
        n = min(0 if x is None else x.shape[1] for x in self.pending.values())
        motion = self.like.new_zeros(self.like.shape[0], n, self.dim)
        for name, x in self.pending.items():
            if n > 0:
                motion[..., self.index[name]] = x[:, :n].to(motion.dtype)  # a part sampled under autocast
                self.pending[name] = x[:, n:]
        return motion


# -- building a composition from config (gen=gohd) -------------------------------------------------
def part_aux_fn(aux_fn: AuxFn, dim: int, index: torch.Tensor, name: str) -> AuxFn:
    """aux_fn of a part's motion [..., len(index)] (the other dims at their training mean, normalised 0).
    Exact only when the features depend on that part alone (3dmm: the eye features are linear in exp):
    checked here, ConfigError otherwise."""

    def fn(x: torch.Tensor) -> torch.Tensor:
        full = x.new_zeros(*x.shape[:-1], dim)
        full[..., index.to(x.device)] = x
        return aux_fn(full)

    x = torch.randn(4, dim, generator=torch.Generator().manual_seed(0))
    if not torch.allclose(fn(x[:, index]), aux_fn(x), atol=1e-4, rtol=1e-4):
        raise ConfigError(f"the representation's aux features depend on dims outside part {name!r}: "
                          "a generator on that part cannot compute them")
    return fn


def composed_generator(
    dim: int,
    audio_dim: int,
    parts: dict[str, slice],
    subs: dict[str, Callable[..., Any] | None],
    aux_dim: int | None = None,
    aux_fn: AuxFn | None = None,
    audio_encoder: Callable[..., torch.nn.Module] | None = None,
):
    """A ComposedGenerator from config (gen=gohd): ``subs`` maps part names (``rest``: the dims no named
    part claims) to partially built generators (``_partial_: true`` nodes; None drops the slot). Each
    gets its part's width as ``dim``, the audio width, the audio encoder factory (each builds its own)
    and, where it names them, the aux features restricted to its part. The result's ``aux_fn`` (full
    motion) is what the trainer adds to batches."""
    subs = {k: v for k, v in subs.items() if v is not None}
    unknown = sorted(set(subs) - set(parts) - {REST})
    if unknown:
        raise ConfigError(f"gen.subs names part(s) {unknown} the representation lacks; parts: {sorted(parts)}")
    claimed = {i for k in subs if k != REST for i in range(dim)[parts[k]]}
    gens = {}
    for name, make in subs.items():
        if name == REST:
            index = torch.tensor([i for i in range(dim) if i not in claimed], dtype=torch.long)
        else:
            index = torch.arange(dim)[parts[name]]
        offered: dict[str, Any] = {"dim": len(index), "audio_dim": audio_dim, "audio_encoder": audio_encoder}
        accepted = accepted_params(make.func)[0]
        if "aux_dim" in accepted:
            if aux_fn is None:
                raise ConfigError(f"gen.subs.{name} needs aux features; the representation defines none")
            offered |= {"aux_dim": aux_dim, "aux_fn": part_aux_fn(aux_fn, dim, index, name)}
        gens[None if name == REST else name] = make(
            **{k: v for k, v in offered.items() if k in accepted and k not in make.keywords})
    gen = ComposedGenerator(gens, parts, dim)
    gen.aux_fn = aux_fn
    return gen
