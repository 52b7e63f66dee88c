"""Stage 7, eval: metrics.json, report.md and plots/*.png in the run directory.

The evaluation function is pluggable (``eval._target_``): it receives :class:`EvalInputs` and returns
a metrics dict. :func:`basic_eval` is the minimal one (motion error, jitter, speed, loss curves,
a generated-vs-real trajectory plot, all in normalised motion units); the full suite replaces it
from config.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from sandbox.config import instantiate
from sandbox.pipeline.context import Context


@dataclass
class EvalInputs:
    run_dir: Path
    cfg: DictConfig
    samples: list  # sandbox.pipeline.sample.Sample (npz: motion, real_motion?, audio, source)
    videos: list  # sandbox.pipeline.render.Rendered (mp4 paths)
    train_dir: Path  # holds logs/metrics.csv and train info.json
    rep: object = None
    speed: dict = field(default_factory=dict)


def read_metrics_csv(logs: Path) -> dict[str, list[tuple[int, float]]]:
    """Lightning CSVLogger files in ``logs`` (parts kept across resumes, then metrics.csv) ->
    {metric: [(step, value), ...]} sorted by step."""
    series: dict[str, list[tuple[int, float]]] = {}
    files = sorted(logs.glob("metrics.part*.csv"), key=lambda p: int(p.stem.removeprefix("metrics.part")))
    for path in files + [p for p in [logs / "metrics.csv"] if p.is_file()]:
        with path.open() as f:
            for row in csv.DictReader(f):
                step = int(float(row.get("step") or 0))
                for k, v in row.items():
                    if k not in ("step", "epoch") and v not in ("", None):
                        series.setdefault(k, []).append((step, float(v)))
    return {k: sorted(v) for k, v in series.items()}


def plot_losses(series: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in series if k.startswith(("train/", "val/")) and not k.endswith("_epoch")]
    fig, ax = plt.subplots(figsize=(7, 4))
    for k in sorted(keys):
        s, v = zip(*series[k])
        ax.plot(s, v, label=k, marker="o" if k.startswith("val/") else None, lw=1)
    ax.set_xlabel("step"), ax.set_ylabel("loss"), ax.set_title("generator training")
    if keys:
        ax.legend(fontsize=7)
    fig.tight_layout(), fig.savefig(path, dpi=100), plt.close(fig)


def plot_trajectory(gen: np.ndarray, real: np.ndarray | None, path: Path, dims: int = 4) -> None:
    """The ``dims`` dimensions that move most in the real clip (else in the generated one)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ref = real if real is not None else gen
    order = np.argsort(-ref.std(0))[: min(dims, gen.shape[1])]
    fig, axes = plt.subplots(len(order), 1, figsize=(8, 1.6 * len(order)), sharex=True, squeeze=False)
    for d, ax in zip(order, axes[:, 0]):
        ax.plot(gen[:, d], label="generated", lw=1)
        if real is not None:
            ax.plot(real[:, d], label="real", lw=1, alpha=0.8)
        ax.set_ylabel(f"dim {d} (norm.)")
    axes[0, 0].legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("frame (25 fps)")
    fig.tight_layout(), fig.savefig(path, dpi=100), plt.close(fig)


def jitter(m: np.ndarray) -> float:
    return float(np.abs(np.diff(m, 2, axis=0)).mean()) if len(m) > 2 else 0.0


def basic_eval(inputs: EvalInputs) -> dict:
    plots = inputs.run_dir / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    per: dict[str, dict] = {}
    for i, s in enumerate(inputs.samples):
        with np.load(s.npz) as z:  # normalised motion: one unit = one training std in every dim
            m, real = z["motion_norm"], (z["real_motion_norm"] if "real_motion_norm" in z.files else None)
        row = {"frames": int(len(m)), "nfe": s.nfe, "gen_frames_per_s": s.frames_per_s, "jitter": jitter(m)}
        if real is not None:
            n = min(len(m), len(real))
            row |= {"mse_vs_real": float(((m[:n] - real[:n]) ** 2).mean()), "jitter_real": jitter(real)}
        per[s.name] = row
        if i == 0:
            plot_trajectory(m, real, plots / "trajectory.png")
    series = read_metrics_csv(inputs.train_dir / "logs")
    plot_losses(series, plots / "loss.png")
    train_info = json.loads((inputs.train_dir / "info.json").read_text()) if (inputs.train_dir / "info.json").is_file() else {}
    mean = lambda k: float(np.mean([r[k] for r in per.values() if k in r])) if any(k in r for r in per.values()) else None  # noqa: E731
    metrics = {
        "samples": per,
        "mean": {k: mean(k) for k in ("mse_vs_real", "jitter", "jitter_real", "nfe", "gen_frames_per_s")},
        "render_frames_per_s": float(np.mean([v.frames_per_s for v in inputs.videos])) if inputs.videos else None,
        "train": {k: train_info.get(k) for k in ("steps", "steps_per_s", "seconds")},
        "final_losses": {k: v[-1][1] for k, v in series.items() if k.startswith(("train/", "val/"))},
    }
    (inputs.run_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    write_report(inputs, metrics)
    return metrics


def write_report(inputs: EvalInputs, metrics: dict) -> None:
    c = inputs.cfg
    lines = [
        f"# {c.choice.rep} x {c.choice.gen} (renderer {c.choice.renderer}, data {c.choice.data}, preset {c.choice.preset})",
        "",
        "| sample | frames | NFE | gen frames/s | MSE vs real | jitter (real) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in metrics["samples"].items():
        mse = f"{r['mse_vs_real']:.4g}" if "mse_vs_real" in r else "-"
        jr = f"{r['jitter']:.4g} ({r['jitter_real']:.4g})" if "jitter_real" in r else f"{r['jitter']:.4g}"
        lines.append(f"| {name} | {r['frames']} | {r['nfe']} | {r['gen_frames_per_s']:.1f} | {mse} | {jr} |")
    lines += ["", f"Training: {metrics['train']}", f"Renderer frames/s: {metrics['render_frames_per_s']}", "",
              "Videos: " + ", ".join(f"[{v.name}](samples/{v.mp4.name})" for v in inputs.videos), "",
              "![losses](plots/loss.png)", "", "![trajectory](plots/trajectory.png)", ""]
    (inputs.run_dir / "report.md").write_text("\n".join(lines))


def run(ctx: Context) -> dict:
    samples = ctx.require("sample")
    videos = ctx.require("render")
    fn = instantiate(ctx.cfg.eval, "eval")
    inputs = EvalInputs(ctx.run_dir, ctx.cfg, samples, videos, ctx.artifacts["train"], ctx.rep)
    return fn(inputs)
