"""motion-sandbox: interchangeable motion representations, generators and renderers for audio-driven
talking portraits. The Python entry point (the CLI is ``python -m sandbox.run``):

    import sandbox
    run = sandbox.run_crossing("rep=lia", "gen=flow", "preset=smoke")   # the CLI's overrides -> a Run
    run = sandbox.reopen("outputs/lia-flow-20261201-101500")            # a run directory -> a Run
    out = run.animate("photo.png", "speech.wav", emotion="happy", mp4="talk.mp4")
    out.frames, out.audio, out.motion                                   # uint8 [T,H,W,3], 16 kHz, [T,dim]
    run.metrics["rows"]["run"]["sync_confidence"]
"""
from __future__ import annotations

import os
from pathlib import Path

# Set before numba is imported. librosa's numba kernels crashed (segfault in pyin) once a fresh install
# had built the dataset: its worker processes had each compiled them into one on-disk cache at the same
# time (sandbox.parallel now compiles them once). The cache lives with the sandbox's, so one broken by an
# earlier version in librosa's install directory is not loaded. Generic x86-64 code: set when the crash
# was first blamed on host-CPU code (AMD EPYC); kept, as that machine was not tried again.
os.environ.setdefault("NUMBA_CPU_NAME", "generic")
os.environ.setdefault(
    "NUMBA_CACHE_DIR", str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "motion-sandbox" / "numba")
)

__all__ = ["reopen", "run_crossing"]


def run_crossing(*overrides: str):
    """Run a crossing exactly as ``python -m sandbox.run OVERRIDES...`` does (same checks, cache and run
    directory) and return it reopened (sandbox.pipeline.reopen.Run). Raises the CLI's errors."""
    from sandbox.pipeline.reopen import reopen as _reopen
    from sandbox.run import compose_config, run_pipeline

    ctx = run_pipeline(compose_config(list(overrides)), list(overrides))
    return _reopen(ctx.run_dir)


def reopen(run_dir: str | Path):
    """A run directory written by ``python -m sandbox.run`` (sandbox.pipeline.reopen.Run)."""
    from sandbox.pipeline.reopen import reopen as _reopen

    return _reopen(run_dir)
