"""Stage 2, fit: learn the representation (and a separately learned renderer) on the train clips."""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

from sandbox.config import check_call, to_dict
from sandbox.pipeline.cache import content_hash
from sandbox.pipeline.components import (
    build_renderer,
    build_rep,
    load_state,
    renderer_learned,
    save_state,
)
from sandbox.pipeline.context import Context
from sandbox.trainers.factory import seed_everything


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


def run(ctx: Context) -> Fitted:
    cfg = ctx.cfg
    store = ctx.require("data")
    learned = renderer_learned(cfg)
    key = content_hash("fit", ctx.hashes["data"], cfg.rep, cfg.fit.rep, cfg.seed,
                       cfg.renderer if learned else None, cfg.fit.renderer if learned else None,
                       ctx.code(cfg.rep._target_, *([cfg.renderer._target_] if learned else [])))
    trainer = to_dict(cfg.trainer)

    def build(work: Path) -> dict:
        seed_everything(int(cfg.seed))
        rep = build_rep(cfg)
        info = {"rep": rep.fit(store, **fit_kwargs(rep.fit, cfg.fit.rep, "fit.rep", work / "rep_fit", int(cfg.seed), trainer)) or {}}
        renderer = build_renderer(cfg, rep)
        if getattr(renderer, "learned", False):
            kw = fit_kwargs(renderer.fit, cfg.fit.renderer, "fit.renderer", work / "renderer_fit", int(cfg.seed), trainer)
            info["renderer"] = renderer.fit(store, rep, **kw) or {}
        save_state(rep, work / "rep.pt")
        save_state(renderer, work / "renderer.pt")
        return info

    art = ctx.build("fit", key, build)
    ctx.hashes["fit"], ctx.artifacts["fit"] = key, art
    ctx.rep = build_rep(cfg)
    load_state(ctx.rep, art / "rep.pt")
    ctx.rep.eval()
    renderer = build_renderer(cfg, ctx.rep)
    load_state(renderer, art / "renderer.pt")
    return Fitted(art, renderer.eval())
