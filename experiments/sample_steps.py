"""Sampling steps and the motion's short events: blinks, head motion and the jaw (issue 20):

    python -m experiments.sample_steps [--seeds 3] [--settings 5 10 20 40] [--base 10] [--out docs/results/sample_steps.md]

The flow generator integrates its vector field from noise to motion with ``sample.steps`` Euler steps. Few
steps follow the field's early, averaged direction over long strides, which may smooth out events shorter than
a stride, as blinks are. Each crossing (``rep=lia`` and ``rep=3dmm``, ``gen=flow``, default preset) is trained
at ``--seeds`` training seeds (``stage=train``; trainings in the cache are reused), then every validation
clip (new sentences in the training voices) and every test clip (the held-out voices) is sampled once per
number of steps and measured in motion space as in ``experiments.gen_jaw``: the jaw and the lids read out of
the motion by least-squares lines fitted on the training clips, and the spread of each part of the motion
over that of the clip's real motion. The steps are chosen on the validation clips; the test clips are the
eval's, shown for the record. Mean over seeds and clips ± half the 95% interval
(``sandbox.metrics.stats.hierarchical_ci``); motion FD is pooled per seed (mean over seeds).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from experiments.audio_front import cell, page_head, train_run
from experiments.gen_jaw import RunMotion, measure
from sandbox.metrics.stats import paired_difference_ci

ROOT = Path("outputs/studies/sample_steps")
CROSSINGS = {"lia": ["rep=lia", "gen=flow"], "3dmm": ["rep=3dmm", "gen=flow"]}
SPREAD = {"lia": "coeff", "3dmm": "pose"}  # the part whose spread is shown: lia's only part, 3dmm's head pose
SPLITS = ("val", "test")
MEASURES = {"jaw_corr0_gen": "jaw corr.", "jaw_std_ratio": "jaw amplitude", "blink_rate_gen": "blinks / min",
            "spread": "spread"}
NOTE = (
    "More steps trade a little of the jaw for the motion's short and large movements, in both spaces and in every "
    "training seed. Paired on the same trainings and clips, on the validation clips, from 10 to 20 steps: 3dmm "
    "blinks +1.8 [+0.4, +3.6] per minute more (10.9 to 12.7; the real motion 20.7), its head pose spreads +0.04 "
    "[+0.04, +0.05] more (0.88 to 0.93 of the real), its motion FD falls in every seed (3.91 to 3.73), and the "
    "jaw's correlation drops by 0.006 [0.005, 0.007]. lia's latent spreads +0.035 [+0.024, +0.042] more, its FD "
    "falls in two seeds of three (5.10 to 4.90), at the same cost in the jaw (-0.005); it still hardly blinks (its "
    "auto-encoder draws no blink, quality.md). Five steps lose on everything but the jaw (3dmm blinks -4.1 [-7.3, "
    "-1.4]); 40 add less again (3dmm blinks +1.2 over 20, the jaw -0.003) for twice the network evaluations. The "
    "test clips move the same way. A reading, not a measured cause: few Euler steps follow the field's early, "
    "averaged direction over long strides, which smooths what is short. So the default is 20 steps "
    "(gen/flow.yaml; experiment=float_lia keeps FLOAT's 10); sampling costs twice the network evaluations, and a "
    "stream that needs the speed sets `sample.steps` lower (streaming.md). quality.md measures the change rendered.")


KNOBS = {"steps": "steps", "audio_scale": "audio guidance"}  # measure()'s sampling keyword -> its column title


def run_values(run_dir: Path, settings: list, knob: str = "steps") -> dict:
    """{"<split>/<setting>": measure's per-clip values and motion FD} for each value of the sampling ``knob``
    (``steps`` or ``audio_scale``), kept in the run directory (``sample_<knob>.json``); only settings not
    measured yet are sampled."""
    kept_path = run_dir / f"sample_{knob}.json"
    kept = json.loads(kept_path.read_text()) if kept_path.is_file() else {}
    todo = [(s, n) for s in SPLITS for n in settings if f"{s}/{n:g}" not in kept]
    if todo:
        run = RunMotion(run_dir)
        for split, n in todo:
            out = measure(run, [split], per_clip=True, **{knob: n})
            kept[f"{split}/{n:g}"] = out["per_clip"] | {"motion_fd": out["motion_fd"]}
            kept_path.write_text(json.dumps(kept))
    return kept


def screen_page(doc: str, module: str, argv: list[str] | None, knob: str, settings: list, base, seeds: int,
                note: str, out: Path) -> None:
    """Train each crossing at ``seeds`` seeds (cached), measure every setting of ``knob`` on the validation and
    test clips, and write the page: a table per crossing and split, and each setting's paired difference from
    ``base``."""
    settings = sorted(set(settings) | {base})
    t0 = time.perf_counter()
    values = {rep: [run_values(train_run(over, s, ROOT / rep / str(s)), settings, knob) for s in range(seeds)]
              for rep, over in CROSSINGS.items()}
    minutes = (time.perf_counter() - t0) / 60

    def per_seed(rep: str, key: str, m: str) -> list[list[float]]:
        name = f"spread_{SPREAD[rep]}" if m == "spread" else m
        return [v[key][name] for v in values[rep]]

    lines = [*page_head(doc, module, argv),
             f"{seeds} training seeds per crossing, one sample per clip (this invocation: {minutes:.0f} min on 2 "
             "CPU cores; trainings in the cache are reused). Jaw corr.: the read-out jaw's correlation with the world's "
             "at lag 0; jaw amplitude and spread: generated over real (1 = real); spread: RMS over the part's "
             "dimensions of the std over frames (lia: its whole latent, 3dmm: head pose). Real blinks / min read "
             "the same way from the real motion are given per split.", ""]
    for rep in CROSSINGS:
        for split in SPLITS:
            real = np.mean([np.mean(v[f"{split}/{settings[0]:g}"].get("blink_rate_real", [0.0])) for v in values[rep]])
            lines += [f"## rep={rep} gen=flow, {split} (real blinks / min {real:.1f})", "",
                      f"| {KNOBS[knob]} | " + " | ".join(MEASURES.values()) + " | motion FD |",
                      "|---:|" + "---:|" * (len(MEASURES) + 1)]
            for n in settings:
                key = f"{split}/{n:g}"
                fd = [v[key]["motion_fd"] for v in values[rep]]
                lines.append(f"| {n:g} | " + " | ".join(cell(per_seed(rep, key, m), 2 if m == "blink_rate_gen" else 3)
                                                        for m in MEASURES)
                             + f" | {np.mean(fd):.2f} ({' / '.join(f'{x:.2f}' for x in fd)}) |")
            lines += ["", f"Differences from {KNOBS[knob]} {base:g}, paired (the same trainings and clips; 95% "
                      "interval):", ""]
            for n in settings:
                if n == base:
                    continue
                parts = []
                for m, label in MEASURES.items():
                    d, lo, hi = paired_difference_ci(per_seed(rep, f"{split}/{n:g}", m),
                                                     per_seed(rep, f"{split}/{base:g}", m))
                    parts.append(f"{label} {d:+.3f} [{lo:+.3f}, {hi:+.3f}]")
                lines.append(f"- {KNOBS[knob]} {n:g}: " + "; ".join(parts))
            lines.append("")
    lines += ["## Reading", "", note or "(not written yet)"]
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


def screen_main(argv: list[str] | None, doc: str, module: str, knob: str, settings: list, base, note: str) -> None:
    """The command line of a screen of one sampling ``knob``: ``--settings`` (its values), ``--base``, ``--seeds``,
    ``--out`` (default docs/results/<module's name>.md)."""
    kind = type(base)
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--settings", type=kind, nargs="+", default=settings, help=f"the {KNOBS[knob]} values")
    p.add_argument("--base", type=kind, default=base, help="the setting the others are compared with")
    p.add_argument("--out", type=Path, default=Path(f"docs/results/{module.rsplit('.', 1)[-1]}.md"))
    args = p.parse_args(argv)
    screen_page(doc, module, argv, knob, args.settings, args.base, args.seeds, note, args.out)


def main(argv: list[str] | None = None) -> None:
    screen_main(argv, __doc__, "experiments.sample_steps", "steps", [5, 10, 20, 40], 10, NOTE)


if __name__ == "__main__":
    main()
