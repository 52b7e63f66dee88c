"""Sweeps on Hydra's own multirun machinery:

    python -m sandbox.run -m gen=flow,diffusion gen.conditioning=adaln,cross_attn seeds.train=0,1,2
    python -m sandbox.report outputs/sweep-<stamp>

Hydra's sweeper expands the overrides with its grammar (``a,b``, ``range(0,3)``, ``glob(*)``), Hydra's
launcher runs one job per combination, and each job is a plain ``python -m sandbox.run <its overrides>
out=<sweep dir>/<job number>`` in a child process: a job is exactly a single run (same checks, same
content-hashed cache, so jobs share every stage they have in common; Lightning DDP inside a job works
as in a single run). Every job's config is checked before the first one starts.

Launchers: ``hydra/launcher=basic`` (default: one job after another on this machine) or, on a SLURM
cluster, Hydra's official submitit plugin (``pip install -e ".[cluster]"``, then
``hydra/launcher=submitit_slurm hydra.launcher.partition=P hydra.launcher.gpus_per_node=1 ...``). Put
the cache on a file system every node sees (``paths.cache=DIR`` or ``SANDBOX_CACHE``); concurrent jobs
wait for each other's stages through a file lock per stage key.

Hydra keys a sweep honours: ``hydra.sweep.dir`` / ``hydra.sweep.subdir`` (where the job directories
go), ``hydra/launcher=NAME`` and ``hydra.launcher.*``, ``hydra.sweeper.max_batch_size``. Others
(``hydra.run.dir`` belongs to single runs; ``out=`` would put every job in one directory) are refused.
"""
from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

from sandbox.errors import ConfigError, SandboxError

log = logging.getLogger("sandbox.sweep")

MULTIRUN_FLAGS = ("-m", "--multirun")
SWEEP_HYDRA_KEYS = ("hydra.sweep.", "hydra/launcher=", "hydra.launcher.", "hydra.sweeper.max_batch_size=")


class SweepJobError(SandboxError):
    """A job of a sweep exited with an error (its own run directory holds run.log)."""


def is_hydra_key(override: str) -> bool:
    return override.lstrip("+~").startswith(("hydra.", "hydra/"))


def split_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """-> (job overrides, Hydra overrides the sweep honours); refuses the ones it would not."""
    job, hydra_keys = [], []
    for o in argv:
        if not is_hydra_key(o):
            if o.lstrip("+~").partition("=")[0] == "out":
                raise ConfigError("out= names one run directory; a sweep puts each job in its own under "
                                  "hydra.sweep.dir (default: <paths.outputs>/sweep-<time>). Set hydra.sweep.dir=DIR instead.")
            job.append(o)
        elif o.lstrip("+~").startswith(SWEEP_HYDRA_KEYS):
            hydra_keys.append(o)
        else:
            raise ConfigError(f"{o}: a sweep honours only {', '.join(k.rstrip('.=') for k in SWEEP_HYDRA_KEYS)} "
                              "of Hydra's keys (hydra.run.dir belongs to single runs, which take out=DIR).")
    return job, hydra_keys


def expand(job_overrides: list[str]) -> list[list[str]]:
    """The jobs Hydra's basic sweeper will run: the Cartesian product of the sweep overrides."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra._internal.utils import create_config_search_path
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    from sandbox.registry import CONF_DIR

    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(CONF_DIR)))
    try:
        parsed = OverridesParser.create(config_loader=loader).parse_overrides(job_overrides)
        return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
    except HydraException as exc:
        raise ConfigError(f"cannot parse the sweep: {str(exc).splitlines()[0]}") from None


def preflight_jobs(jobs: list[list[str]]) -> None:
    """Compose and check every job (sandbox.run.compose_config) before any starts."""
    from sandbox.run import compose_config

    for i, job in enumerate(jobs):
        try:
            compose_config(job)
        except SandboxError as exc:
            raise ConfigError(f"job {i} ({' '.join(job)}): {exc}") from None


def sweep_dir(hydra_overrides: list[str], job_overrides: list[str]) -> tuple[Path, list[str]]:
    """Where the job directories go: the user's hydra.sweep.dir, else <paths.outputs>/sweep-<time>
    (set explicitly so this process can name it when the sweep ends)."""
    for o in hydra_overrides:
        key, _, value = o.lstrip("+").partition("=")
        if key == "hydra.sweep.dir":
            return Path(value), hydra_overrides
    outputs = "outputs"
    for o in job_overrides:
        key, _, value = o.lstrip("+").partition("=")
        if key == "paths.outputs" and "," not in value:
            outputs = value
    path = Path(outputs) / f"sweep-{time.strftime('%Y%m%d-%H%M%S')}"
    return path, hydra_overrides + [f"hydra.sweep.dir={path}"]


def run_job(cfg) -> str:
    """Hydra's task function: run this job's overrides as a single run in a child process (picklable,
    so a cluster launcher can ship it to a node)."""
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.get()
    out = Path(hc.runtime.output_dir)
    overrides = list(hc.overrides.task)
    cmd = [sys.executable, "-m", "sandbox.run", *overrides, f"out={out}"]
    log.info("job %s: %s", hc.job.num, " ".join(overrides) or "(defaults)")
    rc = subprocess.call(cmd)
    if rc != 0:
        raise SweepJobError(f"job {hc.job.num} ({' '.join(overrides)}) exited with status {rc}; see {out / 'run.log'}")
    return str(out)


def main(argv: list[str]) -> int:
    """``python -m sandbox.run -m ...``: check every job, then hand the sweep to Hydra."""
    import hydra

    from sandbox.registry import CONF_DIR

    argv = [a for a in argv if a not in MULTIRUN_FLAGS]
    try:
        job_overrides, hydra_overrides = split_overrides(argv)
        jobs = expand(job_overrides)
        t0 = time.perf_counter()
        preflight_jobs(jobs)
        where, hydra_overrides = sweep_dir(hydra_overrides, job_overrides)
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log.info("%d jobs checked in %.1f s; sweep directory %s", len(jobs), time.perf_counter() - t0, where)

    task = hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")(run_job)
    saved = sys.argv
    sys.argv = [saved[0], "--multirun", *hydra_overrides, *job_overrides]
    try:
        task()
    except SystemExit as exc:  # Hydra reports a failed job and exits 1
        if exc.code not in (0, None):
            print(f"error: the sweep did not finish; job directories are under {where}", file=sys.stderr)
            return 1
    finally:
        sys.argv = saved
    print(f"done: {where} ({len(jobs)} jobs); table: python -m sandbox.report {where}")
    return 0
