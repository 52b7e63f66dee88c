"""Run reports: the canonical metric definitions, metrics.json, report.md and diagnostic plots.

metrics.json layout (``METRICS_VERSION`` "1"), one per run directory::

    {
      "version": "1",
      "rows": {"<row>": {"<metric>": number | string | null, ...}, ...},
      "definitions": {"<metric>": {"text": "...", "higher_is_better": true | false | null}, ...},
      "flags": ["...", ...],            # optional
      "per_clip": {"<row>": {"<metric>": [value per test clip], ...}, ...},   # optional
      "ci": {"<row>": {"<metric>": [low, high], ...}, ...},   # optional: 95% bootstrap interval of the row value
      "extra": {...}                    # optional, free-form (device name, config, ...)
    }

A row's value is the mean over the test clips (set-level metrics such as P-FID: the value of the
pooled clips, one-element lists in ``per_clip``); ``ci`` is its bootstrap interval over the clips
(sandbox.metrics.stats).

Rows are the run itself and its baselines (e.g. "run", "ground_truth", "static", "energy"). A metric's
``higher_is_better`` is true (shown as an up arrow), false (down arrow) or null: neither, the value
should be close to the ground-truth row's (shown as an approximately-equal sign). NaN / inf are
written as null so the file is strict JSON.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from sandbox.constants import FPS
from sandbox.errors import InputFileError

METRICS_VERSION = "3"  # 3: every test clip, per_clip + ci; sync chance by phase-randomised tracks, noise-gated
METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"
MISSING_FLAG_THRESHOLD = 0.2

Definition = tuple[str, bool | None]

_DEFINITIONS: dict[str, Definition] = {
    # lip sync (landmark-space analogue of LSE-D / LSE-C; see sandbox.metrics.sync)
    "sync_offset": ("best-lag offset in frames between mouth aperture and the audio's jaw-open track; "
                    "positive = video lags audio (mean over clips)", None),
    "sync_abs_offset": ("mean |best-lag offset| in frames", False),
    "sync_confidence": ("peak minus median normalised cross-correlation over lags -15..15 (LSE-C analogue), "
                        "minus the same for phase-randomised jaw-open tracks (chance), times the share of the "
                        "mouth track's variance above the analyser's noise on still renders (a still mouth ~0)", True),
    "sync_motion_fraction": ("share of the mouth-aperture variance above the analyser's noise on still renders "
                             "(0 = the mouth does not move)", None),
    "sync_corr0": ("correlation of mouth aperture with the jaw-open track at lag 0", True),
    "missing_fraction": ("fraction of frames where the face analyser found no face", False),
    # motion realism (GoHD / FLOAT)
    "p_fid": ("Frechet distance of fitted head pose [6] between generated and real test frames (P-FID)", False),
    "e_fid": ("Frechet distance of fitted expression coefficients between generated and real frames (E-FID)", False),
    "pose_diversity": ("mean per-dimension variance of pose across seeds of the same audio (GoHD Var_p)", None),
    "exp_diversity": ("mean per-dimension variance of expression across seeds of the same audio (GoHD Var_e)", None),
    "ssim_pose": ("1-D SSIM of pose vs ground truth over 25-frame windows, per dimension (GoHD SSIM_p)", True),
    "ssim_exp": ("1-D SSIM of expression vs ground truth over 25-frame windows, per dimension (GoHD SSIM_e)", True),
    "jitter": ("mean landmark acceleration |x[t+1]-2x[t]+x[t-1]| in pixels/frame^2", False),
    "blink_rate": ("blinks per minute (openness dips below 0.5 x median, 0.3 s refractory)", None),
    "head_rot_std": ("spread of the fitted head rotation over a clip, degrees (RMS over the three axes of the "
                     "std over frames)", None),
    # motion space (no renderer, no analyser): the jaw read out of the motion by a line fitted on training motion
    "jaw_corr0": ("correlation at lag 0 of the jaw read out of the row's motion with the audio's jaw-open track", True),
    "jaw_best_corr": ("best correlation of that read-out jaw with the jaw-open track over lags -10..10", True),
    "jaw_std_ratio": ("spread of the read-out jaw over that of the clip's real motion (1 = real amplitude)", None),
    "motion_fd": ("Frechet distance of normalised motion frames to the test clips' real (encoded) motion", False),
    # image reconstruction (same-identity reenactment)
    "psnr": ("peak signal-to-noise ratio vs ground-truth frames, dB (per frame, capped at 100)", True),
    "ssim": ("image SSIM vs ground-truth frames (7x7 window, colour averaged)", True),
    "l1": ("mean absolute pixel error vs ground-truth frames, as a fraction of the data range", False),
    # speed
    "nfe": ("network function evaluations per generated sequence", False),
    "gen_fps": ("motion generator frames per second", True),
    "render_fps": ("renderer frames per second", True),
    "e2e_fps": ("end-to-end frames per second, audio in to frames out", True),
    "train_steps_per_s": ("training optimiser steps per second", True),
}

_ARROWS = {True: "↑", False: "↓", None: "≈"}


def metric_definitions() -> dict[str, Definition]:
    """Canonical metric name -> (text definition, higher_is_better or None = closer to ground truth)."""
    return dict(_DEFINITIONS)


# ----------------------------------------------------------------------------------------- json

def _json_safe(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if isinstance(v, np.ndarray):
        return _json_safe(v.tolist())
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    return v


def _definitions_to_json(defs: Mapping[str, Any]) -> dict[str, dict]:
    return {k: {"text": t, "higher_is_better": hib} for k, (t, hib) in normalise_definitions(defs).items()}


def normalise_definitions(defs: Mapping[str, Any] | None) -> dict[str, Definition]:
    """Accepts (text, direction) tuples/lists or {"text", "higher_is_better"} dicts."""
    out: dict[str, Definition] = {}
    for k, d in (defs or {}).items():
        if isinstance(d, Mapping):
            out[k] = (str(d.get("text", "")), d.get("higher_is_better"))
        else:
            out[k] = (str(d[0]), d[1])
    return out


def write_metrics_json(
    run_dir: str | Path,
    rows: Mapping[str, Mapping[str, Any]],
    definitions: Mapping[str, Any] | None = None,
    flags: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
    per_clip: Mapping[str, Mapping[str, Sequence]] | None = None,
    ci: Mapping[str, Mapping[str, Sequence]] | None = None,
) -> Path:
    """Write ``run_dir/metrics.json`` in the layout above (definitions default to the canonical ones)."""
    path = Path(run_dir) / METRICS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "version": METRICS_VERSION,
        "rows": _json_safe(rows),
        "definitions": _definitions_to_json(definitions if definitions is not None else _DEFINITIONS),
        "flags": list(flags),
    }
    if per_clip:
        doc["per_clip"] = _json_safe(per_clip)
    if ci:
        doc["ci"] = _json_safe(ci)
    if extra:
        doc["extra"] = _json_safe(extra)
    path.write_text(json.dumps(doc, indent=1, allow_nan=False))
    return path


def read_metrics_json(run_dir: str | Path) -> dict:
    """Load a run's metrics.json (``run_dir`` may also be the file itself)."""
    p = Path(run_dir)
    path = p if p.is_file() else p / METRICS_FILE
    if not path.is_file():
        raise InputFileError(f"no {METRICS_FILE} in {p}: run the eval stage for this run first")
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InputFileError(f"{path} is not valid JSON ({e}); re-run the eval stage") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("rows"), dict):
        raise InputFileError(f"{path} has no 'rows' mapping; expected the layout in sandbox.metrics.run_report")
    return doc


# ----------------------------------------------------------------------------------------- table

def format_value(v: Any) -> str:
    """3 significant digits (1 decimal from 100, integers from 1000, scientific below 1e-3); None/NaN -> "–"."""
    if v is None:
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        x = float(v)
        if not math.isfinite(x):
            return "–" if math.isnan(x) else ("inf" if x > 0 else "-inf")
        if x == 0:
            return "0"
        a = abs(x)
        if a >= 1000:
            return f"{x:.0f}"
        if a >= 100:
            return f"{x:.1f}"
        if a >= 1e-3:
            return f"{x:#.3g}"  # '#' keeps trailing zeros so columns read at the same precision
        return f"{x:.2e}"
    return str(v).replace("|", "\\|")


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (int, float, str, bool, np.integer, np.floating, np.bool_))


def table_columns(rows: Mapping[str, Mapping[str, Any]], definitions: Mapping[str, Any]) -> list[str]:
    """Scalar metrics present in any row: defined ones in definition order, then the rest sorted."""
    present = {k for r in rows.values() for k, v in r.items() if _is_scalar(v)}
    known = [k for k in definitions if k in present]
    return known + sorted(present - set(known))


def with_interval(v: Any, interval: Sequence | None) -> str:
    """``0.238 ± 0.041`` (half the width of a 95% interval; the interval may be asymmetric: the CSV and
    metrics.json keep both ends), or the bare value without one."""
    text = format_value(v)
    if interval is None or len(interval) != 2 or any(x is None for x in interval) or text == "–":
        return text
    return f"{text} ± {format_value((float(interval[1]) - float(interval[0])) / 2)}"


def markdown_table(rows: Mapping[str, Mapping[str, Any]], definitions: Mapping[str, Any] | None = None,
                   ci: Mapping[str, Mapping[str, Sequence]] | None = None, columns: Sequence[str] | None = None,
                   best: Mapping[str, str] | None = None) -> str:
    """One markdown table: a line per row, a column per metric, direction arrows in the header; with
    ``ci``, each value carries its 95% interval; ``best`` {metric: row} puts that cell in bold."""
    defs = normalise_definitions(definitions if definitions is not None else _DEFINITIONS)
    cols = list(columns) if columns is not None else table_columns(rows, defs)
    head = ["row"] + [f"{c} {_ARROWS[defs[c][1]]}" if c in defs else c for c in cols]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * len(cols)) + "|"]
    ci, best = ci or {}, best or {}
    for name, r in rows.items():
        cells = [with_interval(r.get(c), ci.get(name, {}).get(c)) if _is_scalar(r.get(c)) else "–" for c in cols]
        cells = [f"**{x}**" if best.get(c) == name and x != "–" else x for c, x in zip(cols, cells)]
        lines.append("| " + " | ".join([format_value(str(name))] + cells) + " |")
    return "\n".join(lines)


def _finite(rows: Mapping[str, Mapping[str, Any]], row: str, col: str) -> float | None:
    v = rows.get(row, {}).get(col)
    return float(v) if isinstance(v, (int, float, np.floating)) and math.isfinite(v) else None


def missing_flags(rows: Mapping[str, Mapping[str, Any]], threshold: float = MISSING_FLAG_THRESHOLD) -> list[str]:
    """A flag for every row whose ``missing_fraction`` exceeds ``threshold``."""
    out = []
    for name in rows:
        mf = _finite(rows, name, "missing_fraction")
        if mf is not None and mf > threshold:
            out.append(f"> {threshold:.0%} of frames missing for {name} ({mf:.1%})")
    return out


def comparison_flags(rows: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Plain findings from the baseline rows: a lip-sync metric that does not separate the ground truth
    from a still head, a run that does not beat a baseline, and whether the reconstruction row (real
    motion through the same representation and renderer) shows the limit is upstream of the generator."""
    out = []
    conf = {r: _finite(rows, r, "sync_confidence") for r in ("run", "ground_truth", "reconstruction", "static", "energy")}
    gt, gt_off, static = conf["ground_truth"], _finite(rows, "ground_truth", "sync_offset"), conf["static"]
    if gt is not None and (gt_off != 0 or (static is not None and gt <= static)):
        out.append(f"lip-sync metric suspect: ground truth scores {gt:.3f} at offset {gt_off} (static head: {static})")
    run = conf["run"]
    behind = [f"the {name} ({v:.3f})" for name, v in (("static head", static), ("energy heuristic", conf["energy"]))
              if run is not None and v is not None and run <= v]  # fmt: skip
    if behind:
        msg = f"run sync confidence {run:.3f} is not above " + " or ".join(behind)
        rec, cap = conf["reconstruction"], max(v for v in (static, conf["energy"]) if v is not None)
        if rec is not None and rec <= cap + 0.1:
            msg += (f"; real motion through this representation and renderer (reconstruction row) reaches only "
                    f"{rec:.3f}, so they limit lip sync before the generator does")
        out.append(msg)
    pf, ps = _finite(rows, "run", "p_fid"), _finite(rows, "static", "p_fid")
    if pf is not None and ps is not None and pf >= ps:
        out.append(f"run P-FID {pf:.3g} is not below the static head's {ps:.3g}")
    return out


def flag_item(flag: str) -> str:
    """A markdown list item; a leading '>' is escaped so it does not turn into a blockquote."""
    return f"- \\{flag}" if flag.startswith(">") else f"- {flag}"


def write_report(
    run_dir: str | Path,
    rows: Mapping[str, Mapping[str, Any]],
    definitions: Mapping[str, Any] | None = None,
    flags: Sequence[str] = (),
    title: str | None = None,
    notes: Sequence[str] = (),
    ci: Mapping[str, Mapping[str, Sequence]] | None = None,
) -> Path:
    """Write ``run_dir/report.md``: the metric table, a Flags section (given flags plus automatic
    missing-face flags), ``notes`` (markdown lines: links, plots, settings) and the definitions of
    the metrics shown."""
    run_dir = Path(run_dir)
    defs = normalise_definitions(definitions if definitions is not None else _DEFINITIONS)
    all_flags = list(dict.fromkeys([*flags, *missing_flags(rows)]))
    parts = [f"# {title or run_dir.name}", "", markdown_table(rows, defs, ci), "",
             "↑ higher is better, ↓ lower is better, ≈ closest to the ground-truth row is better; – = not measured; "
             "± half the width of the 95% bootstrap interval over the test clips.",
             "", "## Flags", ""]
    parts += [flag_item(f) for f in all_flags] or ["None."]
    if notes:
        parts += ["", *notes]
    parts += ["", "## Definitions", ""]
    parts += [f"- **{c}** ({_ARROWS[defs[c][1]]}): {defs[c][0]}" for c in table_columns(rows, defs) if c in defs]
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / REPORT_FILE
    path.write_text("\n".join(parts) + "\n")
    return path


# ----------------------------------------------------------------------------------------- plots

def _figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (8, 3)):
    # Figure + Agg canvas directly: no pyplot global state, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def _zscore(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(x)
    if ok.sum() < 2 or np.std(x[ok]) < 1e-12:
        return x - (np.mean(x[ok]) if ok.any() else 0.0)
    return (x - x[ok].mean()) / x[ok].std()


def plot_sync(path: str | Path, mouth: np.ndarray, visemes: np.ndarray, fps: float = FPS) -> Path:
    """Measured mouth aperture vs the audio's jaw-open track (both z-scored), offset in the title."""
    from sandbox.metrics.sync import lip_sync

    r = lip_sync(mouth, visemes, detrend_frames=min(FPS, len(mouth), len(visemes)))  # short clips: see sync.detrend
    fig, ax = _figure()
    a = ax[0, 0]
    t = np.arange(len(mouth)) / fps
    a.plot(t, _zscore(mouth), label="measured mouth aperture")
    a.plot(np.arange(len(visemes)) / fps, _zscore(visemes), label="viseme jaw-open", alpha=0.7)
    a.set_xlabel("time (s)")
    a.set_ylabel("z-score")
    a.set_title(f"offset {r['offset']:+.0f} frames, confidence {r['confidence']:.2f}, "
                f"missing {r['missing_fraction']:.0%}")
    a.legend(loc="upper right", fontsize=8)
    return _save(fig, path)


POSE_NAMES = ("rot x", "rot y", "rot z", "tr x", "tr y", "tr z")


def plot_pose(generated: np.ndarray, real: np.ndarray, path: str | Path, fps: float = FPS) -> Path:
    """Generated vs real pose curves, one panel per dimension ([T, 6]; lengths may differ)."""
    g, r = np.asarray(generated, dtype=np.float64), np.asarray(real, dtype=np.float64)
    d = g.shape[1]
    ncols = min(3, d)
    nrows = int(math.ceil(d / ncols))
    fig, ax = _figure(nrows, ncols, size=(4 * ncols, 2.2 * nrows))
    for i in range(d):
        a = ax[i // ncols, i % ncols]
        a.plot(np.arange(len(r)) / fps, r[:, i], label="real", color="0.4")
        a.plot(np.arange(len(g)) / fps, g[:, i], label="generated")
        a.set_title(POSE_NAMES[i] if d == 6 else f"dim {i}", fontsize=9)
    ax[0, 0].legend(fontsize=7)
    return _save(fig, path)


def lightning_csv_files(path: str | Path) -> list[Path]:
    """The CSV files of one Lightning log: ``path`` itself, or for a log directory its resume parts
    (``metrics.part0.csv``, ... kept by the train stage because CSVLogger truncates metrics.csv when a
    run resumes) in order, then ``metrics.csv``."""
    p = Path(path)
    if not p.is_dir():
        return [p]
    parts = sorted(p.glob("metrics.part*.csv"), key=lambda f: int(f.stem.removeprefix("metrics.part") or 0))
    return parts + [f for f in [p / "metrics.csv"] if f.is_file()]


def read_lightning_csv(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Lightning CSVLogger metrics.csv (or a log directory, see :func:`lightning_csv_files`) ->
    {column: (steps, values)} for the non-empty cells, sorted by step."""
    out: dict[str, tuple[list, list]] = {}
    for file in lightning_csv_files(path):
        with open(file, newline="") as f:
            for i, row in enumerate(csv.DictReader(f)):
                step = row.get("step") or i
                for k, v in row.items():
                    if k in ("step", "epoch") or v in (None, ""):
                        continue
                    try:
                        val = float(v)
                    except ValueError:
                        continue
                    xs, ys = out.setdefault(k, ([], []))
                    xs.append(float(step))
                    ys.append(val)
    series = {}
    for k, (x, y) in out.items():
        order = np.argsort(x, kind="stable")
        series[k] = (np.asarray(x)[order], np.asarray(y)[order])
    return series


def plot_losses(csv_paths: str | Path | Iterable[str | Path], path: str | Path) -> Path:
    """Loss curves from one or more Lightning metrics.csv files or log directories (only columns with
    'loss' in the name when there are any), log y-axis when all values are positive."""
    paths = [Path(csv_paths)] if isinstance(csv_paths, (str, Path)) else [Path(p) for p in csv_paths]
    fig, ax = _figure(size=(8, 4))
    a = ax[0, 0]
    all_pos = True
    for p in paths:
        series = read_lightning_csv(p)
        losses = {k: s for k, s in series.items() if "loss" in k} or series
        for k, (x, y) in losses.items():
            label = k if len(paths) == 1 else f"{(p if p.is_dir() else p.parent).name}: {k}"
            a.plot(x, y, label=label, marker="." if len(x) < 30 else None)
            all_pos &= bool(np.all(y > 0))
    if all_pos and a.lines:
        a.set_yscale("log")
    a.set_xlabel("step")
    if a.lines:
        a.legend(fontsize=7)
    return _save(fig, path)
