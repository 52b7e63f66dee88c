"""Aggregate runs into one comparison table: a line per configuration, mean ± 95% CI over training
seeds and test clips, the best value per column in bold.

    python -m sandbox.report SWEEP_DIR_OR_RUN_DIR [...] [--rows run[,static,...]|all]
                             [--metrics sync_confidence,p_fid,...|all] [--out PREFIX]

``--out PREFIX`` also writes PREFIX.md, PREFIX.csv (both ends of every interval) and PREFIX.png (a
panel per metric). A directory holding a metrics.json is a run; any other directory is searched for
runs below it (a sweep directory holds one per job). A run's configuration is its overrides
(``overrides.yaml``, written by ``sandbox.run``) without the seed keys (``seed``, ``seeds.*``) and the
places files go (``out``, ``paths.*``): runs that differ only there are replicates of one
configuration. Labels show only the keys that differ between configurations.

The interval is a two-level bootstrap (sandbox.metrics.stats): seeds, then the test clips of each
drawn seed; a set-level metric (P-FID, E-FID, motion FD: one value per run) is bootstrapped over
seeds, or, with a single seed, keeps the run's own interval over clips.
"""
from __future__ import annotations

import argparse
import csv
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import yaml

from sandbox.errors import InputFileError, SandboxError
from sandbox.metrics.run_report import (
    METRICS_FILE,
    flag_item,
    markdown_table,
    metric_definitions,
    normalise_definitions,
    read_metrics_json,
)
from sandbox.metrics.stats import hierarchical_ci

OVERRIDES_FILE = "overrides.yaml"
REPLICATE_KEYS = ("seed", "seeds.", "out", "paths.", "hydra.")
DEFAULT_METRICS = ("sync_confidence", "sync_abs_offset", "p_fid", "e_fid", "jaw_corr0", "jaw_best_corr",
                   "jaw_std_ratio", "motion_fd", "psnr", "jitter", "nfe", "e2e_fps")


@dataclass
class Line:
    label: str
    row: str
    runs: list[Path]
    values: dict[str, tuple] = field(default_factory=dict)  # metric -> (mean, low, high)
    n_clips: int = 0


def find_runs(paths: Sequence[str | Path]) -> list[Path]:
    """Run directories (holding metrics.json) at or below ``paths``, in a stable order."""
    runs: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise InputFileError(f"{p} does not exist; give run or sweep directories")
        if (p / METRICS_FILE).is_file() or p.is_file():
            runs.append(p)
            continue
        found = sorted({m.parent for m in p.rglob(METRICS_FILE)}, key=_natural)
        if not found:
            raise InputFileError(f"no {METRICS_FILE} in {p} or below it: run the eval stage (stage=all) first")
        runs += found
    return list(dict.fromkeys(runs))


def _natural(p: Path) -> tuple:
    return tuple(int(x) if x.isdigit() else x for x in p.parts)


def overrides(run_dir: Path) -> list[str]:
    """The command-line overrides a run was made with (empty when it left no record)."""
    for f in (run_dir / OVERRIDES_FILE, run_dir / ".hydra" / OVERRIDES_FILE):
        if f.is_file():
            return [str(o) for o in (yaml.safe_load(f.read_text()) or [])]
    return []


def configuration(run_dir: Path) -> tuple[str, ...]:
    """The overrides that define a configuration (seeds and output places removed), sorted."""
    recorded = overrides(run_dir)
    if not recorded:  # no record: every run is its own configuration, named by its directory
        return (run_dir.name,)
    return tuple(sorted(o for o in recorded if not o.lstrip("+~").startswith(REPLICATE_KEYS)))


def labels(configs: list[tuple[str, ...]]) -> list[str]:
    """Each configuration's overrides that are not shared by all of them."""
    shared = set.intersection(*(set(c) for c in configs)) if len(configs) > 1 else set()
    return [" ".join(o for o in c if o not in shared) or "(defaults)" for c in configs]


def aggregate(paths: Sequence[str | Path], rows: Sequence[str] | None = ("run",),
              metrics: Sequence[str] | None = DEFAULT_METRICS, label: str | None = None
              ) -> tuple[list[Line], dict, list[str]]:
    """-> (lines, metric definitions, flags). ``rows``/``metrics`` None: all there are. ``label``: treat
    every run found as a replicate of one configuration of that name (instead of grouping by overrides)."""
    runs = find_runs(paths)
    docs = {r: read_metrics_json(r) for r in runs}
    groups: dict[tuple, list[Path]] = {}
    for r in runs:
        groups.setdefault((label,) if label is not None else configuration(r), []).append(r)
    defs = metric_definitions()
    for doc in docs.values():
        for k, v in normalise_definitions(doc.get("definitions")).items():
            defs.setdefault(k, v)
    lines = []
    names = [label] if label is not None else labels(list(groups))
    for name, members in zip(names, groups.values()):
        present = list(dict.fromkeys(row for m in members for row in docs[m]["rows"]))
        for row in [r for r in present if rows is None or r in rows]:
            line = Line(name, row, members)
            cols = metrics or list(dict.fromkeys(k for m in members for k in docs[m]["rows"].get(row, {})))
            for k in cols:
                line.values[k] = _interval([docs[m] for m in members], row, k)
            line.n_clips = max(len(docs[m].get("extra", {}).get("clips", [])) for m in members)
            lines.append(line)
    if not lines:
        raise InputFileError(f"none of the {len(runs)} runs has a row named {', '.join(rows or [])}")
    flags = [f"{r.name}: {f}" for r in runs for f in docs[r].get("flags", [])]
    return lines, defs, list(dict.fromkeys(flags))


def _interval(docs: list[dict], row: str, metric: str) -> tuple:
    groups = []
    for d in docs:
        per = d.get("per_clip", {}).get(row, {}).get(metric)
        groups.append(per if per is not None else [d["rows"].get(row, {}).get(metric)])
    values = [v for g in groups for v in g if isinstance(v, (int, float))]
    if not values:
        return (None, None, None)
    if len(docs) == 1 and len(groups[0]) == 1:  # one run, a set-level value: its own interval over clips
        lo, hi = (docs[0].get("ci", {}).get(row, {}).get(metric) or (None, None))
        return (groups[0][0], lo, hi)
    return hierarchical_ci(groups)


def best_lines(lines: list[Line], defs: dict) -> dict[str, str]:
    """{metric: key of the best line} among the ``run`` lines, by the metric's direction."""
    out = {}
    runs = [ln for ln in lines if ln.row == "run"]
    for k in {k for ln in runs for k in ln.values}:
        direction = defs.get(k, ("", None))[1]
        scored = [(ln.values[k][0], _key(ln)) for ln in runs if ln.values.get(k, (None,))[0] is not None]
        if direction is None or len(scored) < 2:
            continue
        out[k] = (max if direction else min)(scored)[1]
    return out


def _key(line: Line) -> str:
    return line.label if line.row == "run" else f"{line.label} / {line.row}"


def to_markdown(lines: list[Line], defs: dict, flags: Sequence[str] = ()) -> str:
    cols = list(dict.fromkeys(k for ln in lines for k in ln.values))
    rows = {_key(ln): {k: v[0] for k, v in ln.values.items()} for ln in lines}
    ci = {_key(ln): {k: (v[1], v[2]) for k, v in ln.values.items()} for ln in lines}
    seeds = {_key(ln): f"{len(ln.runs)} seed(s) x {ln.n_clips} clip(s)" for ln in lines}
    parts = [markdown_table(rows, defs, ci, columns=cols, best=best_lines(lines, defs)), "",
             "Mean ± half the width of the 95% bootstrap interval over training seeds and test clips; "
             "**bold**: the best run line per column (↑ higher, ↓ lower is better; ≈ no direction).", "",
             *[f"- {k}: {v}" for k, v in seeds.items()]]
    if flags:
        parts += ["", "## Flags", "", *[flag_item(f) for f in flags]]
    return "\n".join(parts) + "\n"


def write_csv(lines: list[Line], path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["configuration", "row", "seeds", "metric", "mean", "ci_low", "ci_high", "runs"])
        for ln in lines:
            for k, (m, lo, hi) in ln.values.items():
                w.writerow([ln.label, ln.row, len(ln.runs), k, m, lo, hi, " ".join(str(r) for r in ln.runs)])


def plot(lines: list[Line], defs: dict, path: Path) -> None:
    """A panel per metric: each line's mean with its interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [k for k in dict.fromkeys(k for ln in lines for k in ln.values)
            if any(ln.values[k][0] is not None for ln in lines if k in ln.values)]
    if not cols:
        return
    ncols = min(4, len(cols))
    nrows = -(-len(cols) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols + 1.5, (0.4 * len(lines) + 1.0) * nrows),
                             sharey=True, squeeze=False)
    names = [_key(ln) for ln in lines]
    for ax, k in zip(axes.ravel(), cols):
        for y, ln in enumerate(lines):
            m, lo, hi = ln.values.get(k, (None, None, None))
            if m is None:
                continue
            err = [[m - lo], [hi - m]] if lo is not None and hi is not None else None
            ax.errorbar([m], [y], xerr=err, fmt="o", color="C0" if ln.row == "run" else "0.5", capsize=3)
        arrow = {True: " ↑", False: " ↓"}.get(defs.get(k, ("", None))[1], "")
        ax.set_title(k + arrow, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(cols):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_yticks(range(len(names)), [n_[:40] for n_ in names], fontsize=8)
    axes[0][0].invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sandbox.report", description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", type=Path, help="run directories, or sweep directories holding them")
    ap.add_argument("--rows", default="run", help="comma-separated rows (run, ground_truth, reconstruction, "
                                                  "static, energy) or 'all' (default: run)")
    ap.add_argument("--metrics", default=",".join(DEFAULT_METRICS), help="comma-separated metrics or 'all'")
    ap.add_argument("--out", type=Path, default=None, help="also write OUT.md, OUT.csv and OUT.png")
    ap.add_argument("--note", default="", help="a paragraph for OUT.md under the command (e.g. how the runs were made)")
    args = ap.parse_args(argv)
    rows = None if args.rows == "all" else args.rows.split(",")
    metrics = None if args.metrics == "all" else args.metrics.split(",")
    try:
        lines, defs, flags = aggregate(args.dirs, rows, metrics)
    except SandboxError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = to_markdown(lines, defs, flags)
    print(text, end="")
    if args.out is not None:
        out = args.out.with_suffix("") if args.out.suffix in (".md", ".csv", ".png") else args.out
        out.parent.mkdir(parents=True, exist_ok=True)
        command = "python -m sandbox.report " + shlex.join(sys.argv[1:] if argv is None else list(argv))
        note = f"{args.note}\n\n" if args.note else ""
        out.with_suffix(".md").write_text(f"Made by `{command}`\n\n{note}{text}\n![{out.name}]({out.name}.png)\n")
        write_csv(lines, out.with_suffix(".csv"))
        plot(lines, defs, out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
