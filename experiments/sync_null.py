"""Can a still mouth game the lip-sync confidence? Re-score a finished run's eval videos at several
clip lengths, with and without the analyser-noise gate (sandbox.metrics.sync).

    python -m experiments.sync_null RUN_DIR [RUN_DIR ...] [--lengths 17 25 50 100 150] [--out docs/results/sync_null.md]

For every row of each run (run, ground_truth, reconstruction, static, energy) and every length L, each
test clip's first L frames are scored; the table gives the mean confidence over the runs' clips and,
in brackets, the chance-corrected confidence without the noise gate. The noise is the static row's,
as in eval. A trustworthy metric puts the static row at ~0 at every length.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from sandbox.analysis.face import FaceAnalyser
from sandbox.constants import FPS
from sandbox.metrics.sync import aperture_noise, lip_sync
from sandbox.pipeline.eval import jaw_target
from sandbox.pipeline.reopen import reopen
from sandbox.video import read_video

ROWS = ("run", "ground_truth", "reconstruction", "static", "energy")


def row_videos(run_dir: Path, row: str) -> list[Path]:
    return sorted((run_dir / ("samples" if row == "run" else f"eval/{row}")).glob("*.mp4"))


def score_run(run_dir: Path, lengths: list[int], max_lag: int = 15) -> dict[str, dict[int, list[tuple[float, float]]]]:
    """{row: {length: [(gated, ungated) confidence per clip]}}."""
    store = reopen(run_dir).store
    analyser = FaceAnalyser(video=True)
    tracks = {row: {p.stem: analyser.analyse(read_video(p)[0]).mouth_aperture for p in row_videos(run_dir, row)}
              for row in ROWS}
    jaws = {name: jaw_target(store.load(name, frames=False), len(m)) for name, m in tracks["run"].items()}
    out: dict = {row: {} for row in ROWS}
    for L in lengths:
        lag, window = max(1, min(max_lag, L // 3)), min(FPS, L)
        noise = aperture_noise([m[:L] for m in tracks["static"].values()], window)
        for row in ROWS:
            vals = []
            for name, m in tracks[row].items():
                if name not in jaws:  # e.g. per-seed renders
                    continue
                n = min(L, len(m), len(jaws[name]))
                gated = lip_sync(m[:n], jaws[name][:n], lag, window, noise)["confidence"]
                raw = lip_sync(m[:n], jaws[name][:n], lag, window, None)["confidence"]
                vals.append((gated, raw))
            out[row][L] = vals
    return out


def table(results: list[dict], lengths: list[int]) -> str:
    lines = ["| row | " + " | ".join(f"{L} frames" for L in lengths) + " |",
             "|---|" + "---:|" * len(lengths)]
    for row in ROWS:
        cells = []
        for L in lengths:
            vals = [v for r in results for v in r[row].get(L, [])]
            if not vals:
                cells.append("–")
                continue
            g, u = np.mean(vals, 0)
            cells.append(f"{g:.3f} ({u:.3f})")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--lengths", nargs="+", type=int, default=[17, 25, 50, 100, 150])
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    results = [score_run(r, a.lengths) for r in a.runs]
    n = sum(len(v) for v in results[0]["run"].values()) // max(1, len(a.lengths))
    text = "\n".join([
        f"`python -m experiments.sync_null {' '.join(str(r) for r in a.runs)} --lengths {' '.join(map(str, a.lengths))}`",
        "", f"Lip-sync confidence by clip length (first L frames of each test clip; {len(a.runs)} run(s), "
        f"{n} clip(s) in the first): gated by the analyser's noise (in brackets: chance-corrected only).",
        "", table(results, a.lengths), ""])
    print(text)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
