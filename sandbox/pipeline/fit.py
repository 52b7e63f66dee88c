"""Stage 2, fit: learn the representation (and a separately learned renderer) on the train clips
(resumes an interrupted fit from its last checkpoint with ``fit.resume``)."""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from sandbox.config import check_call, check_instantiable, locate, to_dict
from sandbox.errors import ConfigError
from sandbox.pipeline.cache import content_hash
from sandbox.pipeline.components import (
    build_renderer,
    build_rep,
    load_state,
    renderer_learned,
    save_state,
)
from sandbox.pipeline.context import Context
from sandbox.trainers.factory import check_schedule_config, seed_everything


@dataclass
class Fitted:
    path: Path
    renderer: object


def fit_kwargs(fn, node, where: str, run_dir: Path, seed: int, trainer: dict) -> dict:
    """Config kwargs (checked) + what the harness offers: ``run_dir`` / ``seed`` where named, and the
    trainer settings where ``fn`` forwards ``**kwargs`` (to make_trainer, so fits use the GPU too)."""
    kw = check_call(fn, node, where)
    params = inspect.signature(fn).parameters
    for name, value in (("run_dir", str(run_dir)), ("seed", seed)):
        if name in params and name not in kw:
            kw[name] = value
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        kw = {**trainer, **kw}
    return kw


def _checkpoints(fn) -> bool:
    """Whether a fit trains through make_trainer: it forwards ``**kwargs`` and is not the base no-op."""
    from renderers.base import Renderer
    from representations.base import Representation

    params = inspect.signature(fn).parameters.values()
    return fn not in (Representation.fit, Renderer.fit) and any(p.kind is p.VAR_KEYWORD for p in params)


def trainer_settings(cfg: DictConfig) -> dict:
    """make_trainer settings for the fits: ``cfg.trainer`` + ``fit.checkpoint_every``, which is refused
    where no fit of this crossing trains through make_trainer (it would do nothing)."""
    trainer = to_dict(cfg.trainer)
    every = cfg.fit.checkpoint_every
    if every is None:
        return trainer
    if int(every) < 1:
        raise ConfigError(f"fit.checkpoint_every={every} must be a positive number of steps (or null).")
    fits = [locate(str(cfg.rep._target_)).fit]
    if renderer_learned(cfg):
        fits.append(locate(str(cfg.renderer._target_)).fit)
    if not any(_checkpoints(f) for f in fits):
        raise ConfigError(f"fit.checkpoint_every={every}: nothing this crossing fits writes checkpoints; remove it.")
    return {**trainer, "checkpoint_every_n_steps": int(every)}


def check(cfg: DictConfig) -> None:
    """Preflight: the representation's and renderer's keys, their fits' keyword arguments and the fit
    checkpoint interval."""
    check_instantiable(cfg.rep, "rep")
    check_instantiable(cfg.renderer, "renderer", offered=("rep",))
    check_call(locate(str(cfg.rep._target_)).fit, cfg.fit.rep, "fit.rep")
    check_call(locate(str(cfg.renderer._target_)).fit, cfg.fit.renderer, "fit.renderer")
    for key in ("rep", "renderer"):
        settings = cfg.fit[key]
        check_schedule_config(settings, f"fit.{key}", settings.get("steps"))
    trainer_settings(cfg)


def run(ctx: Context) -> Fitted:
    cfg = ctx.cfg
    store = ctx.require("data")
    learned = renderer_learned(cfg)
    trainer = trainer_settings(cfg)
    # fit.resume / fit.checkpoint_every change no result: not in the key
    key = content_hash("fit", ctx.hashes["data"], fit_config(cfg), cfg.fit.rep, cfg.seeds.fit,
                       cfg.renderer if learned else None, cfg.fit.renderer if learned else None,
                       ctx.code(cfg.rep._target_, *([cfg.renderer._target_] if learned else [])))

    def build(work: Path) -> dict:
        seed_everything(int(cfg.seeds.fit))
        rep = build_rep(cfg)
        info = {"rep": rep.fit(store, **fit_kwargs(rep.fit, cfg.fit.rep, "fit.rep", work / "rep_fit", int(cfg.seeds.fit), trainer)) or {}}
        renderer = build_renderer(cfg, rep)
        if getattr(renderer, "learned", False):
            kw = fit_kwargs(renderer.fit, cfg.fit.renderer, "fit.renderer", work / "renderer_fit", int(cfg.seeds.fit), trainer)
            info["renderer"] = renderer.fit(store, rep, **kw) or {}
        save_state(rep, work / "rep.pt")
        save_state(renderer, work / "renderer.pt")
        return info

    art = ctx.build("fit", key, build, resumable=bool(cfg.fit.resume))
    ctx.hashes["fit"], ctx.artifacts["fit"] = key, art
    ctx.rep, fitted = load(cfg, art)
    return fitted


def fit_ignored(cfg: DictConfig) -> tuple[str, ...]:
    """The rep's config keys its fit never reads (the class's ``fit_ignores``, e.g. keypoint's ``norm``)."""
    return tuple(getattr(locate(str(cfg.rep._target_)), "fit_ignores", ()))


def fit_config(cfg: DictConfig) -> dict:
    """The rep's config as the fit's cache key sees it: without :func:`fit_ignored`, so a run that changes
    only those keys reuses the fit (the extract stage's key carries them instead)."""
    ignored = fit_ignored(cfg)
    return {k: v for k, v in OmegaConf.to_container(cfg.rep, resolve=True).items() if k not in ignored}


def load_fitted_state(rep, path: Path) -> None:
    """The fit's weights into ``rep``, but for the normaliser: the fit never fits it (the extract stage loads
    its statistics), and its layout follows ``norm``, which a shared fit may not share."""
    state = {k: v for k, v in torch.load(path, map_location="cpu", weights_only=True).items()
             if not k.startswith("norm.")}
    missing, unexpected = rep.load_state_dict(state, strict=False)
    wrong = [k for k in missing if not k.startswith("norm.")] + list(unexpected)
    if wrong:
        raise RuntimeError(f"{path} does not hold this representation's weights: {wrong[:5]}")


def load(cfg: DictConfig, art: Path) -> tuple[object, Fitted]:
    """(the fitted representation, Fitted with its renderer) of a fit artifact directory. The rep's
    normaliser is not fitted yet: the extract stage's load puts its statistics in."""
    rep = build_rep(cfg)
    load_fitted_state(rep, art / "rep.pt")
    renderer = build_renderer(cfg, rep.eval())
    load_state(renderer, art / "renderer.pt")
    return rep, Fitted(art, renderer.eval())
