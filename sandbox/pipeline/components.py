"""Building the selected components from the composed config (strictly: see sandbox.config)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
from omegaconf import DictConfig

from sandbox.audio.features import stacks_log_mel
from sandbox.config import (
    accepted_params,
    check_instantiable,
    instantiate,
    locate,
    offered_names,
)
from sandbox.errors import ConfigError

# runtime values a generator constructor may name (passed only where it does; see build_gen)
GEN_OFFERED = ("dim", "audio_dim", "rep", "parts", "aux_dim", "aux_fn", "audio_encoder")
AuxFn = Callable[[torch.Tensor], torch.Tensor]  # normalised motion [..., dim] -> aux features [..., k]


def build_rep(cfg: DictConfig):
    return instantiate(cfg.rep, "rep")


def build_renderer(cfg: DictConfig, rep):
    return instantiate(cfg.renderer, "renderer", offered={"rep": rep})


def audio_encoder_factory(cfg: DictConfig) -> Callable[..., torch.nn.Module] | None:
    """The shared learned audio front end (config ``audio_encoder``, a ``_partial_`` node) as a factory
    each generator calls with its widths (generators.conditioning.build_audio_encoder); None: FLOAT's
    per-frame projection."""
    node = cfg.get("audio_encoder")
    return None if node is None else instantiate(node, "audio_encoder")


def build_gen(cfg: DictConfig, dim: int, audio_dim: int, rep):
    """The generator with whatever of GEN_OFFERED its constructor names: the rep's ``parts``, the shared
    ``audio_encoder`` factory and, for generators that read GoHD's spontaneous features (two_stage),
    ``aux_dim`` / ``aux_fn``."""
    offered: dict[str, Any] = {"dim": dim, "audio_dim": audio_dim, "rep": rep, "parts": dict(rep.parts),
                               "audio_encoder": audio_encoder_factory(cfg)}
    if offered_names(cfg.gen, "gen", ("aux_dim", "aux_fn")):
        aux = aux_spec(rep)
        if aux is None and "aux_dim" in _required(cfg.gen):
            raise ConfigError(_no_aux_message(cfg, rep))
        if aux is not None:
            offered["aux_dim"], offered["aux_fn"] = aux
    return instantiate(cfg.gen, "gen", offered=offered)


def aux_spec(rep) -> tuple[int, AuxFn] | None:
    """(k, aux_fn) with aux_fn(x) = rep.aux_features(rep.denormalize(x)) on normalised motion [..., dim]
    (any leading dims, differentiable); None when the rep defines no aux features."""
    try:
        k = int(rep.aux_features(torch.zeros(1, rep.dim)).shape[-1])
    except NotImplementedError:
        return None

    def aux_fn(x: torch.Tensor) -> torch.Tensor:  # a closure, not a partial: EMA's deepcopy shares the rep
        return rep.aux_features(rep.denormalize(x))

    return k, aux_fn


# -- preflight: what the generator config asks of the representation -------------------------------
def _required(node: DictConfig) -> set[str]:
    return accepted_params(locate(str(node._target_)))[1]


def _no_aux_message(cfg: DictConfig, rep) -> str:
    return (f"gen={_choice(cfg, 'gen')} reads GoHD's spontaneous (eye/brow) features, but rep={_choice(cfg, 'rep')} "
            f"defines no aux_features ({type(rep).__name__}); use rep=3dmm or rep=lia.")


def _choice(cfg: DictConfig, group: str) -> str:
    choice = cfg.get("choice")
    return str(choice[group]) if choice is not None and choice.get(group) else str(cfg[group]._target_)


def _asks(node: Any) -> tuple[set[str], bool]:
    """(part names the gen config mentions, whether some target in it requires aux features): the
    ``part`` of a generator on one part, ``part_weights`` keys, ``subs`` keys of a composition."""
    from generators.compose import REST

    names: set[str] = set()
    aux = False
    if isinstance(node, DictConfig):
        if "_target_" in node:
            aux = aux or "aux_dim" in _required(node)
        for key, value in node.items():
            if key == "part" and isinstance(value, str):
                names.add(value)
            elif key in ("part_weights", "subs") and isinstance(value, DictConfig):
                names |= {str(k) for k, v in value.items() if k != REST and v is not None}
            sub_names, sub_aux = _asks(value)
            names, aux = names | sub_names, aux or sub_aux
    return names, aux


def check_gen(cfg: DictConfig, rep=None) -> None:
    """Preflight for ``cfg.gen``: every key consumed (given GEN_OFFERED), and the representation has the
    parts and aux features the config asks for. Builds the rep (no data, no fitting) only when the
    config names parts or needs aux features. ConfigError before any work otherwise."""
    check_instantiable(cfg.gen, "gen", offered=GEN_OFFERED)
    if cfg.get("audio_encoder") is not None:
        check_instantiable(cfg.audio_encoder, "audio_encoder", forced=("d_in", "d_out"))
        feats = str(cfg.get("features", {}).get("_target_", ""))
        for key, does in (("freq_warp", "stretches"), ("freq_mask", "masks bands of")):
            if cfg.audio_encoder.get(key) and not stacks_log_mel(locate(feats)):
                raise ConfigError(f"audio_encoder.{key} {does} stacked log-mel spectra, but features are {feats}; "
                                  f"set audio_encoder.{key}=0 with these features.")
    names, aux = _asks(cfg.gen)
    if not names and not aux:
        return
    rep = rep if rep is not None else build_rep(cfg)
    missing = sorted(names - set(rep.parts))
    if missing:
        raise ConfigError(
            f"gen={_choice(cfg, 'gen')} works on the motion part(s) {missing}, but rep={_choice(cfg, 'rep')} "
            f"has only {sorted(rep.parts)}. Use rep=3dmm (pose, exp, gaze), or a generator on the whole "
            "vector (flow, diffusion, conformer, two_stage)."
        )
    if aux and aux_spec(rep) is None:
        raise ConfigError(_no_aux_message(cfg, rep))


def renderer_learned(cfg: DictConfig) -> bool:
    return bool(getattr(locate(str(cfg.renderer._target_)), "learned", False))


def save_state(module: torch.nn.Module, path: Path) -> None:
    torch.save(module.state_dict(), path)


def load_state(module: torch.nn.Module, path: Path) -> None:
    module.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))


@torch.no_grad()
def reference_motion(rep, source: torch.Tensor) -> torch.Tensor:
    """x_ref [dim] (un-normalised) for a source frame [3, H, W]: the rep's own reference motion where it
    defines one, else the encoding of the source frame."""
    try:
        return rep.reference_motion(rep.reference(source)).reshape(-1).float().cpu()
    except NotImplementedError:
        return rep.encode(source[None])[0].float().cpu()
