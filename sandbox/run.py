"""One command for any crossing:

    python -m sandbox.run rep=lia gen=flow [renderer=NAME] [data=synthetic] [trainer=cpu|gpu|ddp]
        [preset=smoke|default|paper] [stage=all|data|fit|extract|train|sample|render|eval|emotion]
        [source=IMG audio=WAV [emotion=auto|happy]] [out=DIR] [any.config.key=value ...]
    python -m sandbox.run -m KEY=a,b [KEY2=range(0,3) ...]   # a sweep (sandbox/sweep.py)

Names are checked before Hydra composes (an unknown one lists the available names), the renderer
defaults to the representation's, and every component config is checked against its target's
signature before any work starts.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from sandbox.budget import register_resolvers
from sandbox.errors import ConfigError, SandboxError
from sandbox.precision import register_resolver
from sandbox.registry import (
    CONF_DIR,
    GROUPS,
    check_crossing,
    check_name,
    default_renderer,
)
from sandbox.sweep import MULTIRUN_FLAGS
from sandbox.sweep import main as sweep_main

log = logging.getLogger("sandbox.run")
register_resolver()  # ${cpu_bf16:...} in the configs (rep=lia's fit precision)
register_resolvers()  # ${batch:...}, ${steps_for:...}: the generator's batch and steps from the preset's windows
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"

STAGE_NAMES = ("all", "data", "fit", "extract", "train", "sample", "render", "eval", "emotion")


def group_choices(overrides: list[str]) -> dict[str, str]:
    """``rep=lia`` style overrides of the config groups (``+``/``++`` prefixes allowed)."""
    out = {}
    for o in overrides:
        key, sep, value = o.lstrip("+").partition("=")
        if sep and key in GROUPS and value not in ("null", ""):
            out[key] = value
    return out


def _compose(overrides: list[str]) -> tuple[DictConfig, dict]:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException

    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            cfg = compose("config", overrides=overrides, return_hydra_config=True)
    except HydraException as exc:  # names were checked already; this is a bad key or value
        msg = str(exc).splitlines()[0]
        if "Could not find" in msg:  # e.g. an override inside a preset names a missing config
            raise ConfigError(f"{msg}. Available: " + "; ".join(f"{g}: {', '.join(_names(g))}" for g in GROUPS)) from None
        raise ConfigError(f"{msg} (check the spelling of the key; `python -m sandbox.run --help` lists the groups)") from None
    choices = {k: v for k, v in OmegaConf.to_container(cfg.hydra.runtime.choices).items() if not k.startswith("hydra")}
    with _open(cfg):
        del cfg["hydra"]
    return cfg, choices


def _names(group: str) -> list[str]:
    from sandbox.registry import available

    return available(group)


class _open:
    """Temporarily lift struct mode so the harness can add/remove its own keys."""

    def __init__(self, cfg: DictConfig):
        self.cfg = cfg

    def __enter__(self):
        OmegaConf.set_struct(self.cfg, False)

    def __exit__(self, *exc):
        OmegaConf.set_struct(self.cfg, True)


def compose_config(overrides: list[str]) -> DictConfig:
    """Check names, compose, pick the default renderer, check the crossing and every component's keys.
    Raises ConfigError / InputFileError before any work."""
    from sandbox.sweep import is_hydra_key

    hydra_keys = [o for o in overrides if is_hydra_key(o)]
    if hydra_keys:  # composed with Hydra's compose API: its run-directory and launcher keys would do nothing
        raise ConfigError(f"{hydra_keys[0]}: a single run does not use Hydra's own keys; choose the run directory "
                          "with out=DIR and the parent of new run directories with paths.outputs=DIR. "
                          "Sweeps (-m) take hydra.sweep.dir and hydra/launcher.")
    for group, name in group_choices(overrides).items():
        check_name(group, name)
    cfg, choices = _compose(overrides)
    if choices.get("rep") is None:
        raise ConfigError(f"no representation selected; add rep=NAME ({', '.join(_names('rep'))}).")
    if choices.get("gen") is None:
        raise ConfigError(f"no generator selected; add gen=NAME ({', '.join(_names('gen'))}).")
    if choices.get("renderer") is None:
        name = default_renderer(choices["rep"])
        log.info("renderer=%s (default for rep=%s)", name, choices["rep"])
        cfg, choices = _compose(overrides + [f"renderer={name}"])
    check_crossing(choices["rep"], choices["renderer"])
    try:  # missing_keys resolves interpolations: a resolver's error (e.g. train.batch_factor=0) surfaces here
        missing = sorted(OmegaConf.missing_keys(cfg))
    except OmegaConfBaseException as exc:
        raise ConfigError(f"the config does not resolve: {exc}".splitlines()[0]) from None
    if missing:
        raise ConfigError(f"no value for {', '.join(missing)}; set it on the command line, e.g. `{missing[0]}=...`.")
    try:
        OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"the config does not resolve: {exc}".splitlines()[0]) from None
    with _open(cfg):
        cfg.choice = {g: choices.get(g) for g in GROUPS}
    preflight(cfg)
    return cfg


def preflight(cfg: DictConfig) -> None:
    """Every key consumed, every required file present, every combination of inputs complete: each
    stage checks its own inputs (``check(cfg)`` of each stage module), in pipeline order."""
    from sandbox.pipeline import CHECKS, ORDER

    if cfg.stage not in STAGE_NAMES:
        raise ConfigError(f"unknown stage {cfg.stage!r}; stages: {', '.join(STAGE_NAMES)}.")
    for stage in ORDER:
        CHECKS[stage](cfg)


def cache_root(cfg: DictConfig) -> Path:
    from sandbox.paths import cache_dir

    if cfg.paths.cache:
        root = Path(str(cfg.paths.cache)).expanduser()
        root.mkdir(parents=True, exist_ok=True)
        return root
    return cache_dir()


def run_dir(cfg: DictConfig) -> Path:
    if cfg.out:
        return Path(str(cfg.out)).expanduser()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(str(cfg.paths.outputs)) / f"{cfg.choice.rep}-{cfg.choice.gen}-{stamp}"


def run_pipeline(cfg: DictConfig, overrides: list[str] | None = None):
    """Run ``cfg.stage`` (with its prerequisites) and return the Context. ``overrides`` (the command
    line) are recorded in the run directory's overrides.yaml, which ``sandbox.report`` groups by."""
    from sandbox.pipeline import STAGES, Context
    from sandbox.pipeline.context import is_ddp_worker

    target = "eval" if cfg.stage == "all" else str(cfg.stage)
    if target == "sample" and cfg.audio is not None:
        target = "render"  # the user's own photo + audio: the mp4 is what they came for
    if is_ddp_worker():
        return _run_worker(cfg, target)
    out = run_dir(cfg)
    out.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, out / "config.yaml", resolve=True)
    if overrides is not None:
        kept = [o for o in overrides if o.lstrip("+~").partition("=")[0] != "out"]
        (out / "overrides.yaml").write_text(yaml.safe_dump(kept))
    ctx = Context(cfg=cfg, run_dir=out, cache_root=cache_root(cfg), choices=dict(cfg.choice), stages=STAGES)
    handler = logging.FileHandler(out / "run.log")  # the run's own log, beside what it wrote
    handler.setFormatter(logging.Formatter("%(asctime)s " + LOG_FORMAT))
    handler.setLevel(logging.INFO)
    logging.getLogger().addHandler(handler)
    ours = logging.getLogger("sandbox")
    level = ours.level
    if ours.getEffectiveLevel() > logging.INFO:  # e.g. from Python without basicConfig: run.log still gets INFO
        ours.setLevel(logging.INFO)
    log.info("run directory %s, cache %s", out, ctx.cache_root)
    try:
        ctx.require(target)
    except SandboxError as exc:
        log.error("the run stopped: %s", exc)
        raise
    except Exception:
        log.exception("the run failed")
        raise
    finally:
        write_artifacts(ctx)
        logging.getLogger().removeHandler(handler)
        handler.close()
        ours.setLevel(level)
    return ctx


def _run_worker(cfg: DictConfig, target: str):
    """A DDP worker (Lightning re-runs the command for every rank > 0): walk the same stages up to the
    last training one so every trainer.fit meets rank 0's, reading the shared cache and building what it
    lacks in a private directory that is removed afterwards. Sampling and evaluation are rank 0's."""
    import shutil
    import socket
    import tempfile

    from sandbox.pipeline import STAGES, Context
    from sandbox.pipeline.context import ORDER

    shared = cache_root(cfg)
    shared.mkdir(parents=True, exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix=f"worker-{socket.gethostname()}-{os.getpid()}-", dir=shared))
    ctx = Context(cfg=cfg, run_dir=private / "run", cache_root=shared, choices=dict(cfg.choice), stages=STAGES,
                  private_root=private)
    ctx.run_dir.mkdir()
    try:
        ctx.require(ORDER[min(ORDER.index(target), ORDER.index("train"))])
    finally:
        shutil.rmtree(private, ignore_errors=True)
    return ctx


def write_artifacts(ctx) -> None:
    """artifacts.json (stage -> hash + cache path), a ``checkpoints`` link to the generator's, and
    ``logs/`` links to the training logs (CSV and TensorBoard) of the fit and the generator, so
    ``tensorboard --logdir outputs`` finds every run's curves."""
    info = {s: {"hash": ctx.hashes[s], "path": str(ctx.artifacts[s].resolve())} for s in ctx.hashes}
    (ctx.run_dir / "artifacts.json").write_text(json.dumps(info, indent=1))
    links = {"checkpoints": ("train", "checkpoints")}
    for stage, sub in (("fit", "rep_fit"), ("fit", "renderer_fit"), ("train", "")):
        for kind, folder in (("csv", "logs"), ("tensorboard", "tb")):
            links[f"logs/{sub or stage}_{kind}"] = (stage, f"{sub}/{folder}" if sub else folder)
    for name, (stage, rel) in links.items():
        target = ctx.artifacts[stage] / rel if stage in ctx.artifacts else None
        link = ctx.run_dir / name
        if target is None or not target.is_dir() or link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(exist_ok=True)
        try:
            link.symlink_to(target.resolve(), target_is_directory=True)
        except OSError:  # no symlinks here: artifacts.json has the paths
            pass


def usage() -> str:
    lines = [__doc__.strip(), "", "Available:"]
    for g in GROUPS:
        lines.append(f"  {g}: {', '.join(_names(g))}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help", "help") for a in argv):
        print(usage())
        return 0
    logging.basicConfig(level=os.environ.get("SANDBOX_LOG", "INFO"), format=LOG_FORMAT)
    warnings.filterwarnings("ignore", message=".*treespec.*")  # Lightning-internal deprecation, not ours
    if any(a in MULTIRUN_FLAGS for a in argv):
        return sweep_main(argv)
    try:
        cfg = compose_config(argv)
        ctx = run_pipeline(cfg, argv)
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"done: {ctx.run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
