"""One place that builds ``lightning.Trainer`` objects, so every model trains the same way."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import lightning as L
import torch

from sandbox.errors import ConfigError

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    L.seed_everything(seed, workers=True, verbose=False)


def adam(params, lr: float, module: L.LightningModule | None = None, **kwargs) -> torch.optim.Adam:
    """Adam with the fused kernel: one pass over all parameters instead of a chain of per-parameter
    operations, the same update up to float rounding. On 2 idle CPU cores an optimiser step of the
    default-preset flow generator takes 1.4 ms instead of 6-8 (lia auto-encoder: 2 instead of 10), about 5%
    of a generator training step; on cores shared with other jobs the per-parameter loop took 87 ms.
    Not under ``module``'s mixed precision (trainer=gpu's bf16-mixed): Lightning refuses gradient clipping
    with an optimiser that unscales its own gradients, so there PyTorch's default: ``fused=None``, as an
    explicit False also turns off the foreach kernel (the per-parameter loop cost 14 of 250 ms a step on an
    H200)."""
    return torch.optim.Adam(params, lr=lr, fused=None if runs_mixed_precision(module) else True, **kwargs)


def runs_mixed_precision(module: L.LightningModule | None) -> bool:
    """Whether ``module`` is attached to a Trainer with a mixed-precision setting (``bf16-mixed``, ...)."""
    trainer = getattr(module, "_trainer", None)
    return trainer is not None and str(trainer.precision).endswith("-mixed")


LR_SCHEDULES = ("constant", "cosine", "linear", "wsd")


def check_lr_schedule(name: str, warmup_steps: int, key: str, decay_steps: int = 0,
                      total_steps: int | None = None) -> None:
    """Refuse a schedule name that :func:`with_lr_schedule` does not know, a ``decay_steps`` that it
    would not use, and (given the run's ``total_steps``) a warm-up plus decay longer than the run;
    ``key`` names the option."""
    if name not in LR_SCHEDULES:
        raise ValueError(f"{key}.lr_schedule={name!r} is not one of {', '.join(LR_SCHEDULES)}")
    if int(warmup_steps) < 0:
        raise ValueError(f"{key}.warmup_steps={warmup_steps} must be >= 0")
    if name == "wsd" and int(decay_steps) <= 0:
        raise ValueError(f"{key}.lr_schedule=wsd decays over the last {key}.decay_steps steps: set it > 0")
    if name != "wsd" and int(decay_steps):
        raise ValueError(f"{key}.decay_steps={decay_steps} only applies to {key}.lr_schedule=wsd (it is {name!r}): "
                         "set it to 0 or choose wsd")
    if name == "wsd" and total_steps is not None and int(warmup_steps) + int(decay_steps) > int(total_steps):
        raise ValueError(f"{key}: the schedule's warm-up ({warmup_steps}) and decay ({decay_steps}) steps exceed the "
                         f"run's {total_steps} steps: lower warmup_steps / decay_steps (the lia fit's: "
                         "scale.fit_warmup_steps, scale.fit_decay_steps) or choose another lr_schedule")


def check_schedule_config(settings, key: str, total_steps: int | None) -> None:
    """Preflight of a config block holding ``lr_schedule`` / ``warmup_steps`` / ``decay_steps`` (``key``
    names it) for a run of ``total_steps``: :func:`check_lr_schedule`'s refusals as a ConfigError,
    before any stage does work."""
    if "lr_schedule" not in settings:
        return
    total = int(total_steps) if total_steps is not None and int(total_steps) > 0 else None
    try:
        check_lr_schedule(str(settings["lr_schedule"]), int(settings.get("warmup_steps", 0)), key,
                          int(settings.get("decay_steps", 0)), total)
    except ValueError as exc:
        raise ConfigError(f"{exc}.") from None


def with_lr_schedule(opt: torch.optim.Optimizer, name: str, warmup_steps: int, module: L.LightningModule,
                     decay_steps: int = 0):
    """What ``module``'s configure_optimizers returns for ``opt`` under a diffusers schedule
    (constant | cosine | linear decay to 0 at its Trainer's ``max_steps``) after ``warmup_steps`` of
    linear warm-up, stepped per optimiser step; the bare optimiser for constant without warm-up (which
    needs no Trainer). ``wsd`` (warm-up, stable, decay; transformers' get_wsd_schedule): the full rate
    until the last ``decay_steps`` steps, then a cosine decay to 0 at ``max_steps``."""
    if name == "constant" and not warmup_steps:
        return opt
    total = max(int(module.trainer.max_steps), 1)
    if name == "wsd":
        from transformers import get_wsd_schedule

        check_lr_schedule(name, warmup_steps, "lr_schedule", decay_steps, total)
        sched = get_wsd_schedule(opt, num_warmup_steps=int(warmup_steps), num_decay_steps=int(decay_steps),
                                 num_training_steps=total)
    else:
        from diffusers.optimization import get_scheduler

        name = "constant_with_warmup" if name == "constant" else name
        sched = get_scheduler(name, opt, num_warmup_steps=int(warmup_steps), num_training_steps=total)
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def keep_logs(logs: Path) -> None:
    """Lightning's CSVLogger truncates metrics.csv when a run resumes: keep the earlier part aside
    (eval reads every ``metrics*.csv``) so loss curves survive an interruption."""
    f = logs / "metrics.csv"
    if f.is_file():
        f.rename(logs / f"metrics.part{len(list(logs.glob('metrics.part*.csv')))}.csv")


def _quiet_lightning() -> None:
    """Lightning logs hardware summaries and promotional tips at INFO, twice when the root logger has
    a handler; keep its warnings only (SANDBOX_LOG=DEBUG shows everything)."""
    if os.environ.get("SANDBOX_LOG", "").upper() != "DEBUG":
        for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
            logging.getLogger(name).setLevel(logging.WARNING)


def make_trainer(
    run_dir: str | Path,
    max_steps: int,
    accelerator: str = "cpu",
    devices: int | str = 1,
    strategy: str = "auto",
    precision: str = "32-true",
    num_nodes: int = 1,
    log_every_n_steps: int = 10,
    val_check_interval: int | float | None = None,
    gradient_clip_val: float | None = None,
    enable_progress_bar: bool = True,
    loggers: tuple[str, ...] = ("csv", "tensorboard"),
    callbacks: list | None = None,
    checkpoint_every_n_steps: int | None = None,
    num_threads: int | None = None,
    find_unused_parameters: bool = False,
) -> L.Trainer:
    """Build a Trainer that logs CSV (+ TensorBoard) into ``run_dir`` and checkpoints ``last.ckpt``
    there, so a rerun with ``ckpt_path=last`` resumes. ``find_unused_parameters``: under
    ``strategy="ddp"``, let a step leave parameters without gradients (GAN steps, stages, learned
    nulls used only when a condition is dropped)."""
    if find_unused_parameters and strategy == "ddp":
        strategy = "ddp_find_unused_parameters_true"
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _quiet_lightning()
    if num_threads:
        torch.set_num_threads(num_threads)
    if accelerator == "gpu" and not torch.cuda.is_available():
        raise RuntimeError("trainer=gpu was requested but no CUDA device is visible; use trainer=cpu")
    logger_objs = []
    if "csv" in loggers:
        logger_objs.append(L.pytorch.loggers.CSVLogger(str(run_dir), name="logs", version=""))
    if "tensorboard" in loggers:
        try:
            logger_objs.append(L.pytorch.loggers.TensorBoardLogger(str(run_dir), name="tb", version=""))
        except ModuleNotFoundError:  # tensorboard is optional
            log.warning("tensorboard not installed: logging CSV only")
    ckpt = L.pytorch.callbacks.ModelCheckpoint(
        dirpath=str(run_dir / "checkpoints"),
        save_last=True,
        save_top_k=0,
        every_n_train_steps=checkpoint_every_n_steps or max(1, max_steps // 4),
    )
    cbs = [ckpt] + list(callbacks or [])
    kwargs = dict(
        default_root_dir=str(run_dir),
        max_steps=max_steps,
        max_epochs=-1,
        accelerator=accelerator,
        devices=devices,
        strategy=strategy,
        precision=precision,
        num_nodes=num_nodes,
        logger=logger_objs or False,
        callbacks=cbs,
        log_every_n_steps=log_every_n_steps,
        enable_progress_bar=enable_progress_bar and not os.environ.get("SANDBOX_NO_PROGRESS"),
        enable_model_summary=False,
        gradient_clip_val=gradient_clip_val,
        deterministic=False,
        num_sanity_val_steps=0,
    )
    if val_check_interval is not None:
        kwargs["val_check_interval"] = val_check_interval
        kwargs["check_val_every_n_epoch"] = None
    return L.Trainer(**kwargs)
