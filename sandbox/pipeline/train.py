"""Stage 4, train: the generator on windows of extracted motion (Lightning; resumes from last.ckpt)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig
from torch.utils.data import DataLoader

from sandbox.config import check_call, to_dict
from sandbox.data.windows import WindowDataset
from sandbox.pipeline.cache import content_hash, targets_in
from sandbox.pipeline.components import build_gen, check_gen, load_state, save_state
from sandbox.pipeline.context import Context
from sandbox.trainers.factory import check_schedule_config, keep_logs, make_trainer, seed_everything
from sandbox.trainers.generator_module import GeneratorModule


@dataclass
class Trained:
    path: Path
    gen: object


def check(cfg: DictConfig) -> None:
    """Preflight: the generator's keys (and what it asks of the representation), the shared audio
    encoder, the trainer, the training module and the window sampler."""
    check_gen(cfg)
    check_call(make_trainer, cfg.trainer, "trainer")
    check_call(GeneratorModule, cfg.train.module, "train.module")
    check_schedule_config(cfg.train.module, "train.module", cfg.train.get("max_steps"))
    check_call(WindowDataset, cfg.train.windows, "train.windows")


def loaders(cfg, ex, gen) -> tuple[DataLoader, DataLoader | None]:
    wkw = check_call(WindowDataset, cfg.train.windows, "train.windows")
    lkw = to_dict(cfg.train.loader)
    train_ds = WindowDataset(ex.split("train"), gen.n_prev, gen.n_cur, seed=int(cfg.seeds.train), **wkw)
    train = DataLoader(train_ds, shuffle=False, drop_last=True, persistent_workers=lkw.get("num_workers", 0) > 0, **lkw)
    val_clips = ex.split("val")
    if not val_clips:
        return train, None
    n_val = max(lkw.get("batch_size", 8), min(len(train_ds), 4 * lkw.get("batch_size", 8)))
    val_ds = WindowDataset(val_clips, gen.n_prev, gen.n_cur, **{**wkw, "samples_per_epoch": n_val},
                           deterministic=True, seed=int(cfg.seeds.train))
    return train, DataLoader(val_ds, shuffle=False, **{**lkw, "num_workers": 0})


def setup(cfg, ex, rep, work: Path, max_steps: int | None = None, **trainer_kwargs):
    """(generator, training module, train loader, val loader or None, Trainer) as the stage builds them, seeded
    as it seeds them. ``max_steps`` (default ``train.max_steps``) trains longer or shorter while validation stays
    every quarter of ``train.max_steps``, so the steps the two share draw the same numbers
    (experiments.train_course); ``trainer_kwargs`` override make_trainer's settings (callbacks, loggers, ...)."""
    seed_everything(int(cfg.seeds.train))
    gen = build_gen(cfg, ex.dim, ex.audio_dim, rep)
    module = GeneratorModule(gen, **check_call(GeneratorModule, cfg.train.module, "train.module"))
    train_dl, val_dl = loaders(cfg, ex, gen)
    steps = int(cfg.train.max_steps)
    trainer = make_trainer(
        work, max_steps=max_steps or steps, log_every_n_steps=int(cfg.train.log_every_n_steps),
        val_check_interval=(cfg.train.val_check_interval or max(1, steps // 4)) if val_dl is not None else None,
        gradient_clip_val=cfg.train.gradient_clip_val, find_unused_parameters=True,
        **(to_dict(cfg.trainer) | trainer_kwargs),
    )
    return gen, module, train_dl, val_dl, trainer


def keyed_train_cfg(cfg: DictConfig) -> dict:
    """The ``train`` keys the artifact's key takes: not ``resume``, and not ``batch_factor``, which is in the resolved
    batch and steps already (a run that sets those two alone to the same values shares the artifact)."""
    return {k: v for k, v in to_dict(cfg.train).items() if k not in ("resume", "batch_factor")}


def run(ctx: Context) -> Trained:
    cfg = ctx.cfg
    ex = ctx.require("extract")
    key = content_hash("train", ctx.hashes["extract"], cfg.gen, cfg.audio_encoder, keyed_train_cfg(cfg), cfg.seeds.train,
                       ctx.code(*targets_in(cfg.gen), *targets_in(cfg.audio_encoder), "sandbox.pipeline.components",
                                "sandbox.data.windows", "sandbox.trainers.generator_module"))

    def build(work: Path) -> dict:
        _, module, train_dl, val_dl, trainer = setup(cfg, ex, ctx.rep, work)
        last = work / "checkpoints" / "last.ckpt"
        resume = str(last) if cfg.train.resume and last.is_file() else None
        keep_logs(work / "logs")
        t0 = time.perf_counter()
        trainer.fit(module, train_dl, val_dl, ckpt_path=resume)
        seconds = time.perf_counter() - t0
        if trainer.global_rank != 0:  # DDP: only rank 0 finishes the artifact
            raise SystemExit(0)
        save_state(module.final_generator(), work / "gen.pt")
        return {"steps": int(trainer.global_step), "seconds": seconds, "resumed_from": resume,
                "steps_per_s": trainer.global_step / max(seconds, 1e-9), "ema": module.ema is not None}

    art = ctx.build("train", key, build, resumable=bool(cfg.train.resume))
    ctx.hashes["train"], ctx.artifacts["train"] = key, art
    return load(cfg, art, ex, ctx.rep)


def load(cfg, art: Path, ex, rep) -> Trained:
    """The trained generator of an artifact directory (``ex``: the Extracted it was trained on)."""
    gen = build_gen(cfg, ex.dim, ex.audio_dim, rep)
    load_state(gen, art / "gen.pt")
    return Trained(art, gen.eval())
