"""Jobs that run at the same time share the stage cache safely: one builds, the other waits and reuses."""
from __future__ import annotations

import json
import multiprocessing as mp
import time
from pathlib import Path

from sandbox.pipeline.cache import build_or_reuse, is_done


def _job(root: str, log: str, barrier) -> str:
    def build(work: Path) -> dict:
        with open(log, "a") as f:
            f.write(f"build {work.name}\n")
        (work / "part1").write_text("half")
        time.sleep(1.0)  # long enough for the other job to arrive while this one builds
        (work / "part2").write_text("done")
        return {"built_by": mp.current_process().name}

    barrier.wait()  # both reach the empty cache together
    events: list = []
    path = build_or_reuse(Path(root), "fit", "abc123", build, events=events)
    assert (path / "part1").read_text() == "half" and (path / "part2").read_text() == "done"
    return events[-1][0]


def test_two_processes_on_an_empty_cache_build_once(tmp_path):
    ctx = mp.get_context("spawn")
    barrier = ctx.Manager().Barrier(2)
    log = tmp_path / "builds.log"
    with ctx.Pool(2) as pool:
        results = [pool.apply_async(_job, (str(tmp_path / "cache"), str(log), barrier)) for _ in range(2)]
        kinds = sorted(r.get(timeout=120) for r in results)
    assert kinds == ["build", "reuse"]  # neither crashed on the other's half-built .partial directory
    assert log.read_text().count("build") == 1
    final = tmp_path / "cache" / "fit" / "abc123"
    assert is_done(final) and json.loads((final / "info.json").read_text())["built_by"]
    assert not (tmp_path / "cache" / "fit" / "abc123.partial").exists()
