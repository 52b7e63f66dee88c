"""Where the generated blinks come from: the noise or the audio (issue 20):

    python -m experiments.blink_origin [--seeds 3] [--arms NAME ...] [--out docs/results/blink_origin.md]

The world's blinks are a Poisson process at an emotion's rate, independent of the speech
(sandbox.world.motion), so a generator that models them samples them from its noise: two samples of one
clip blink at different times, and on any clip the generated lids follow the true ones no better than
chance. Each arm trains ``rep=3dmm gen=flow`` at ``--seeds`` training seeds (``stage=train``; runs already
under ``outputs/studies/blink_origin/<arm>/<seed>`` or in the cache are reused). The lids are read out of
the motion as in ``experiments.gen_jaw`` (a least-squares line from the motion to the world's lid closure,
fitted on the training clips), and per clip:

* ``blinks / min``: of the generated lids (two samples, generator seeds 0 and 1, averaged), and of the
  real extracted motion read the same way;
* ``follows the real lids``: correlation of sample 0's lid track with the world's;
* ``sample vs sample``: correlation of the two samples' lid tracks: about 0 where blinks come from the
  noise, near 1 where the audio decides them.

measured on 20 training clips and every validation and test clip, then on the validation and test clips
at several audio guidance scales. Mean over seeds and clips ± half the 95% interval
(``sandbox.metrics.stats.hierarchical_ci``).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from experiments.analyser_accuracy import corr
from experiments.audio_front import cell, page_head, train_run
from experiments.gen_jaw import RunMotion, lid_line
from sandbox.metrics.motion import blink_rate, read_jaw

ROOT = Path("outputs/studies/blink_origin")
ARMS: dict[str, list[str]] = {
    "default": [],
    "EMA of the weights (0.999)": ["train.module.ema_decay=0.999"],
    "audio dropped in 50% of training": ["+gen.drop_audio=0.5"],
}
BASE_OVERRIDES = ["rep=3dmm", "gen=flow"]
SPLITS = {"train": 20, "val": None, "test": None}  # clips measured per split (None: all)
SCALES = (0.0, 1.0, 2.0)  # audio guidance scales on the held-out clips (2 is the default)
MEASURES = ("rate_gen", "rate_real", "corr_real", "corr_samples")
NOTE = (
    "The default generator has memorised when its training clips blink: there its lids follow the clip's real "
    "blinks (0.68) and two samples agree (0.75), although the world's blinks do not depend on the speech, so only the "
    "clip's audio can place them. On new speech the blinks follow the real ones no better than chance (-0.03, 0.08) "
    "but two samples still agree at 0.46-0.55: the audio decides where they fall, not the noise. The audio guidance "
    "is what adds them: with guidance 0 the two samples are independent (0.05), blinks drawn from the noise, but "
    "only 8.8 per minute against 19.9; guidance 1 and 2 add audio-locked ones (11.5, 17.7). So the default's "
    "near-real rate is made of blinks an arbitrary audio-to-blink map fires on speech it never heard, and how often "
    "it fires is the training seed's: 23.7, 15.1 and 14.5 per minute here, 26.6, 16.2 and 5.1 in the rendered eval "
    "(quality.md). An EMA of the weights keeps the memorised blinks (0.69, 0.77 on training clips) and fires fewer "
    "on new speech (8.9 val, 5.5 test), alike across seeds (7.0, 7.8, 6.7): steadier, not sampled, and the same "
    "direction as longer training and the cosine schedule (lr_schedule.md), which also cut the held-out blinks. "
    "Dropping the audio in half the training steps (default 10%) mostly undoes the memorising (0.25 and 0.29 on "
    "training clips; samples agree at 0.14-0.22 on new speech) and its guidance-0 samples blink 15.3 per minute "
    "from the noise, but at the default guidance it blinks 10.3 per minute, scattered as much by seed (18.4, 6.9, "
    "5.6); its jaw barely moves (experiments.gen_jaw on these runs, val + test, one sample per clip: means 0.68 against 0.66). Neither change "
    "is the default: both put the held-out rate below issue 20's band. What the generator lacks at 1500 steps is "
    "the audio-free part of the motion: the branch trained without audio blinks at under half the real rate."
)


def arm_dir(arm: str) -> Path:
    return ROOT / "".join(ch for ch in arm.replace(" ", "_") if ch.isalnum() or ch in "_-")


def lid_measures(run, clip_ids: list[str], line: np.ndarray, audio_scale: float | None = None
                 ) -> dict[str, list[float]]:
    """Per clip of ``clip_ids``: the MEASURES (see the module's docstring) under ``line``."""
    out: dict[str, list[float]] = {k: [] for k in MEASURES}
    for cid in clip_ids:
        c = run.clip(cid)
        n = len(c["blink"])
        lids = [read_jaw(line, run.sample(c, seed, audio_scale)[:n]) for seed in (0, 1)]
        out["rate_gen"].append(float(np.mean([blink_rate(1 - x) for x in lids])))
        out["rate_real"].append(blink_rate(1 - read_jaw(line, c["motion"][:n])))
        out["corr_real"].append(corr(lids[0], c["blink"]))
        out["corr_samples"].append(corr(lids[0], lids[1]))
    return out


def run_values(run_dir: Path) -> dict:
    """{"split/<name>": measures, "scale/<g>": measures on val + test}, kept in the run directory
    (``blink_origin.json``) once measured."""
    kept = run_dir / "blink_origin.json"
    if kept.is_file():
        return json.loads(kept.read_text())
    run = RunMotion(run_dir)
    line = lid_line(run)
    out = {f"split/{s}": lid_measures(run, run.splits[s][:n], line) for s, n in SPLITS.items()}
    held_out = run.splits["val"] + run.splits["test"]
    out |= {f"scale/{g:g}": lid_measures(run, held_out, line, g) for g in SCALES}
    kept.write_text(json.dumps(out))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    p.add_argument("--out", type=Path, default=Path("docs/results/blink_origin.md"))
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    values = {arm: [run_values(train_run(BASE_OVERRIDES + ARMS[arm], s, arm_dir(arm) / str(s)))
                    for s in range(args.seeds)] for arm in args.arms}
    minutes = (time.perf_counter() - t0) / 60

    def row(label: str, arm: str, key: str) -> str:
        return f"| {label} | " + " | ".join(cell([v[key][m] for v in values[arm]], 2) for m in MEASURES) + " |"

    head = ["| | blinks / min, generated | blinks / min, real motion | follows the real lids | sample vs sample |",
            "|---|---:|---:|---:|---:|"]
    lines = [*page_head(__doc__, "experiments.blink_origin", argv),
             f"`rep=3dmm gen=flow`, default preset, {args.seeds} training seeds per arm (this invocation: "
             f"{minutes:.0f} min on 2 CPU cores; trainings in the cache are reused). Lids read out of the motion; "
             "per clip, mean ± half the 95% interval over seeds and clips. Training clips: the first "
             f"{SPLITS['train']}; val: new sentences in the training voices; test: the two held-out voices.", ""]
    for arm in args.arms:
        lines += [f"## {arm}" + (f" (`{' '.join(ARMS[arm])}`)" if ARMS[arm] else ""), "", *head]
        lines += [row(s, arm, f"split/{s}") for s in SPLITS]
        lines += [row(f"val + test, audio guidance {g:g}", arm, f"scale/{g:g}") for g in SCALES]
        by_seed = " / ".join(f"{np.mean(v['scale/2']['rate_gen']):.1f}" for v in values[arm])
        lines += ["", f"Generated blinks / min on val + test at audio guidance 2, by training seed: {by_seed}.", ""]
    lines += ["## Reading", "", NOTE or "(not written yet)"]
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
