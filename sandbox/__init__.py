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

# librosa's numba kernels (pyin's localmin) segfault when LLVM compiles them for this machine's AMD EPYC
# (seen 2026-12, numba 0.61 / llvmlite 0.44); generic x86-64 code runs. Set before numba is imported.
os.environ.setdefault("NUMBA_CPU_NAME", "generic")

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
