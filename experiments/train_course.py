"""What a generator learns first and what last: its motion measured along one training (issue 20).

    python -m experiments.train_course --run RUN [RUN ...] [--steps 4500] [--at 250 500 1000 1500 3000 4500]
                                       [--splits val test] [--pcs 7] [--out docs/results/train_course]

Each RUN is a run directory (``python -m sandbox.run ... stage=extract`` is enough) of the synthetic world;
give one per training seed. Its generator is trained again from scratch, as the train stage trains it (the
run's config, seed, windows, validation interval and trainer), but for ``--steps`` steps, and a copy of the
weights is kept at each step of ``--at``. Each copy then samples every clip of ``--splits`` (the same noise at
every step) and :func:`experiments.gen_jaw.measure` reads the motion: how the jaw follows the speech, how
often the motion reaches a closed lid's code, the head rotation's amplitude, and the spread along the training
motion's principal directions, so one sees which factor of the motion the generator fits first and which it
is still learning when the default preset stops (1500 steps). The learning-rate schedule runs over
``--steps``, so only a constant schedule (the default) makes the course's first steps the run's own: the
page reports how far the copy at the run's step count lies from the run's trained generator, where the run
has one.

Writes ``OUT.md`` (a table per measure: mean and 95% interval over the runs' seeds and the clips, by step),
``OUT.json`` (every clip's values) and ``OUT.png``, headed by the command; ``--page-only`` rewrites the page and
the plot from ``OUT.json`` (a new ``--note``, say) without training.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import numpy as np

from experiments.gen_jaw import RunMotion, measure
from sandbox.metrics.stats import hierarchical_ci, paired_difference_ci
from sandbox.pipeline import train as train_stage

# measure name -> (what it is, the real motion's counterpart in measure()'s output or None)
MEASURES = {
    "jaw_corr0_gen": ("jaw read out of the motion vs the world's, correlation at lag 0", "jaw_corr0_real"),
    "jaw_std_ratio": ("jaw amplitude, generated over real", None),
    "blink_code_gen": ("share of frames past halfway along the code's blink axis", "blink_code_real"),
    "blink_rate_gen": ("blinks per minute of the lids read out of the motion", "blink_rate_real"),
    "head_std_ratio": ("head rotation amplitude (read out of the motion), generated over real", None),
    "motion_fd": ("Frechet distance of generated to real frames (pooled over the clips)", None),
}


class Snapshots(L.Callback):
    """Copies of the generator's final weights (the EMA's where there is one) at the given global steps."""

    def __init__(self, at: list[int]):
        self.at, self.states = set(at), {}

    def on_train_batch_end(self, trainer, module, outputs, batch, i):
        step = int(trainer.global_step)
        if step in self.at and step not in self.states:
            self.states[step] = {k: v.detach().clone() for k, v in module.final_generator().state_dict().items()}


def train_with_snapshots(motion: RunMotion, steps: int, at: list[int]) -> tuple[dict[int, dict], object, float]:
    """Train the run's generator afresh for ``steps`` steps; (step -> state dict, the generator, seconds)."""
    snaps = Snapshots(at)
    with tempfile.TemporaryDirectory() as work:
        gen, module, train_dl, val_dl, trainer = train_stage.setup(
            motion.cfg, motion.extracted, motion.rep, Path(work), max_steps=steps, loggers=(), callbacks=[snaps],
            checkpoint_every_n_steps=steps)
        t0 = time.perf_counter()
        trainer.fit(module, train_dl, val_dl)
        seconds = time.perf_counter() - t0
    return snaps.states, gen.eval(), seconds


def max_abs_difference(a: dict, b: dict) -> float:
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a if a[k].is_floating_point())


def summary(per_run: list[dict], key: str) -> tuple[float | None, float | None, float | None]:
    """(mean, low, high) over runs (seeds) and their clips of one per-clip measure."""
    return hierarchical_ci([r[key] for r in per_run if key in r])


def fmt(m, lo, hi) -> str:
    if m is None:
        return "–"
    return f"{m:.3g}" if lo is None else f"{m:.3g} [{lo:.3g}, {hi:.3g}]"


def write_page(out: Path, command: str, note: str, results: dict, at: list[int], pcs: int, meta: dict) -> None:
    runs = list(results)
    lines = [f"# {meta['title']}", "", f"`{command}`", "", meta["header"], ""]
    if note:
        lines += [note, ""]
    keys = [k for k in MEASURES if any(k in results[r][str(at[0])] for r in runs)]
    lines += ["| step | " + " | ".join(keys) + " |", "|---:|" + "---:|" * len(keys)]
    for step in at:
        per_run = [results[r][str(step)] for r in runs]
        lines.append(f"| {step} | " + " | ".join(fmt(*summary(per_run, k)) for k in keys) + " |")
    first = [results[r][str(at[0])] for r in runs]
    lines.append("| real | " + " | ".join(
        fmt(*summary(first, MEASURES[k][1])) if MEASURES[k][1] else "–" for k in keys) + " |")
    lines += ["", "Mean [95% interval] over the runs' training seeds and the clips (hierarchical bootstrap); "
              "real: the extracted motion of the same clips.", ""]
    lines += [f"- {k}: {MEASURES[k][0]}" for k in keys] + [""]
    base, last = meta["compare"], at[-1]
    if base in at and base != last:
        lines += [f"From step {base} (the default preset's) to step {last}, paired over the same seeds and clips "
                  "(mean [95% interval]; an interval that excludes 0 is marked):", ""]
        for k in keys:
            pairs = [(results[r][str(last)][k], results[r][str(base)][k]) for r in runs
                     if k in results[r][str(last)] and k in results[r][str(base)]]
            d, lo, hi = paired_difference_ci([a for a, _ in pairs], [b for _, b in pairs]) if pairs else (None,) * 3
            sure = lo is not None and (lo > 0 or hi < 0)
            text = "–" if d is None else f"{d:+.3g}" + ("" if lo is None else f" [{lo:+.3g}, {hi:+.3g}]")
            lines.append(f"- {k}: {'**' if sure else ''}{text}{'**' if sure else ''} ({len(pairs)} seeds)")
        lines.append("")
    if pcs:
        lines += ["Spread along the training motion's principal directions (1 = the real clips' within-clip std):", ""]
        pkeys = [f"spread_pc{i + 1}" for i in range(pcs)]
        lines += ["| step | " + " | ".join(f"PC{i + 1}" for i in range(pcs)) + " |", "|---:|" + "---:|" * pcs]
        for step in at:
            per_run = [results[r][str(step)] for r in runs]
            lines.append(f"| {step} | " + " | ".join(fmt(*summary(per_run, k)) for k in pkeys) + " |")
        lines.append("")
    lines += [f"![{out.name}]({out.name}.png)", ""]
    out.with_suffix(".md").write_text("\n".join(lines))


def plot(out: Path, results: dict, at: list[int], pcs: int, compare: int | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = list(results)
    keys = [k for k in MEASURES if any(k in results[r][str(at[0])] for r in runs)]
    panels = keys + (["spread_pc"] if pcs else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3), squeeze=False)
    for ax, k in zip(axes[0], panels):
        series = [f"spread_pc{i + 1}" for i in range(pcs)] if k == "spread_pc" else [k]
        for s in series:
            stats = [summary([results[r][str(step)] for r in runs], s) for step in at]
            m = np.array([x[0] for x in stats], float)
            lo = np.array([x[1] if x[1] is not None else x[0] for x in stats], float)
            hi = np.array([x[2] if x[2] is not None else x[0] for x in stats], float)
            ax.plot(at, m, marker="o", ms=3, label=s.replace("spread_", "") if k == "spread_pc" else None)
            ax.fill_between(at, lo, hi, alpha=0.2)
        if k != "spread_pc" and MEASURES[k][1]:
            ax.axhline(summary([results[r][str(at[0])] for r in runs], MEASURES[k][1])[0], color="k", ls="--", lw=1)
        if k == "spread_pc" or k.endswith("_ratio"):  # 1 = the real amplitude
            ax.axhline(1.0, color="k", ls="--", lw=1)
        if k == "spread_pc":
            ax.legend(fontsize=6)
        if compare is not None:
            ax.axvline(compare, color="grey", ls=":", lw=1)
        ax.set_title(k, fontsize=8)
        ax.set_xlabel("generator steps", fontsize=8)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, type=Path, nargs="+", help="run directories, one per training seed")
    p.add_argument("--steps", type=int, default=4500, help="generator steps to train")
    p.add_argument("--at", type=int, nargs="+", default=[250, 500, 1000, 1500, 3000, 4500],
                   help="steps at which the generator is measured")
    p.add_argument("--splits", nargs="+", default=["val", "test"])
    p.add_argument("--pcs", type=int, default=7, help="principal directions of the training motion to measure")
    p.add_argument("--compare", type=int, default=1500,
                   help="the step whose generator the last step's is compared with (the default preset's 1500)")
    p.add_argument("--out", type=Path, required=True, help="output path without suffix (.md, .json, .png)")
    p.add_argument("--title", default="What the generator learns first: its motion along one training")
    p.add_argument("--note", default="")
    p.add_argument("--page-only", action="store_true", help="rewrite the page and plot from OUT.json, no training")
    args = p.parse_args(argv)
    at = sorted(set(args.at))
    if at[0] < 1 or at[-1] > args.steps:
        p.error(f"--at must lie in 1..--steps ({args.steps}), got {at}")
    for run_dir in args.run:  # fail before any training on a run that cannot be used
        if not (run_dir / "config.yaml").is_file():
            p.error(f"{run_dir} is not a run directory (no config.yaml)")
    command = "python -m experiments.train_course " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])
                                                               if a != "--page-only")
    if args.page_only:
        saved = json.loads(args.out.with_suffix(".json").read_text())
        results, header = saved["results"], saved["header"]
        if list(results) != [str(r) for r in args.run] or any(list(v) != [str(a) for a in at] for v in results.values()):
            p.error(f"{args.out.with_suffix('.json')} holds other runs or steps than --run and --at")
    else:
        results, meta_runs, t_start = {}, [], time.perf_counter()
        for run_dir in args.run:
            motion = RunMotion(run_dir)
            trained = motion.gen
            states, gen, seconds = train_with_snapshots(motion, args.steps, at)
            run_steps = int(motion.cfg.train.max_steps)
            drift = (max_abs_difference(states[run_steps], trained.state_dict())
                     if trained is not None and run_steps in states else None)
            motion.gen = gen
            results[str(run_dir)] = {}
            for step in at:
                gen.load_state_dict(states[step])
                out = measure(motion, args.splits, per_clip=True, pcs=args.pcs)
                results[str(run_dir)][str(step)] = out["per_clip"] | {"motion_fd": [out["motion_fd"]]}
                print(f"{run_dir} step {step}: " + ", ".join(f"{k} {out[k]:.3f}" for k in MEASURES if k in out),
                      flush=True)
            r2 = f"; head read-out R^2 {out['head_r2_real']:.2f}" if "head_r2_real" in out else ""
            meta_runs.append(f"{run_dir} (seed {motion.cfg.seeds.train}, {args.steps} steps in {seconds / 60:.1f} min{r2}"
                             + (f"; step {run_steps} vs the run's generator: max |weight difference| {drift:.2g})"
                                if drift is not None else ")"))
        header = (f"{len(args.run)} training seeds, every clip of {' + '.join(args.splits)}; "
                  f"{(time.perf_counter() - t_start) / 60:.1f} min on this machine. Runs: " + "; ".join(meta_runs) + ".")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps({"header": header, "results": results}))
    write_page(args.out, command, args.note, results, at, args.pcs, {"title": args.title, "header": header,
                                                                    "compare": args.compare})
    plot(args.out, results, at, args.pcs, args.compare)
    print(f"wrote {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
