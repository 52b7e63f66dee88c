"""Combine several runs into one markdown table (each run's metrics.json rows, side by side).

    python -m sandbox.report RUN_DIR [RUN_DIR ...] [--out combined.md]

Rows are named ``<run>/<row>`` where ``<run>`` is the run directory's name (parent/name when two runs
share a name). The table is printed and, with ``--out``, also written to a file.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from sandbox.errors import SandboxError
from sandbox.metrics.run_report import (
    flag_item,
    markdown_table,
    metric_definitions,
    missing_flags,
    normalise_definitions,
    read_metrics_json,
)


def _run_names(dirs: Sequence[Path]) -> list[str]:
    names = [d.resolve().name for d in dirs]
    if len(set(names)) < len(names):  # disambiguate equal basenames with their parent directory
        names = [f"{d.resolve().parent.name}/{d.resolve().name}" for d in dirs]
    if len(set(names)) < len(names):
        names = [str(d) for d in dirs]
    return names


def combine(run_dirs: Sequence[str | Path]) -> str:
    """Markdown for the combined table of ``run_dirs`` (raises InputFileError on a missing metrics.json)."""
    dirs = [Path(d) for d in run_dirs]
    docs = [read_metrics_json(d) for d in dirs]
    defs = metric_definitions()
    rows: dict[str, dict] = {}
    flags: list[str] = []
    for name, doc in zip(_run_names(dirs), docs):
        for k, v in normalise_definitions(doc.get("definitions")).items():
            defs.setdefault(k, v)  # canonical definitions win; run-specific extras are added
        for row, metrics in doc["rows"].items():
            rows[f"{name}/{row}"] = metrics
        flags += [f"{name}: {f}" for f in doc.get("flags", [])]
    flags = list(dict.fromkeys(flags + missing_flags(rows)))
    parts = [markdown_table(rows, defs), "",
             "↑ higher is better, ↓ lower is better, ≈ closest to the ground-truth row is better; – = not measured."]
    if flags:
        parts += ["", "## Flags", "", *[flag_item(f) for f in flags]]
    return "\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sandbox.report", description=__doc__.splitlines()[0])
    ap.add_argument("run_dirs", nargs="+", type=Path, help="run directories containing metrics.json")
    ap.add_argument("--out", type=Path, default=None, help="also write the combined markdown here")
    args = ap.parse_args(argv)
    try:
        text = combine(args.run_dirs)
    except SandboxError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(text, end="")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
