"""Does generated motion move with the emotion label? ``python -m experiments.emotion_motion --run RUN
[--seeds 0 1 2] [--out docs/results/emotion_motion.md]``

RUN is a trained ``rep=3dmm`` run (its expression coefficients are named: sandbox.face.head_model.EXP_NAMES).
Every held-out test clip is sampled from its own audio and first frame once per emotion label (one-hot, the
run's guidance), for each sampling seed; the label's effect is the clip's time-mean expression minus the
same clip's under ``neutral``. The world's truth is each emotion's held expression offsets
(sandbox.world.motion.STYLES). Reported, with bootstrap 95% intervals over clips:

* per emotion, the generated offset of each coefficient the world biases, beside the world's offset;
* the correlation between generated and true offsets over all (emotion, coefficient) pairs;
* the same for the real clips (their extracted motion's time-mean, grouped by their labels, minus the
  neutral clips'), over the training clips: what the analyser reads of the world's offsets.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from experiments.analyser_accuracy import corr
from representations.morphable import EXP
from sandbox.constants import EMOTIONS
from sandbox.face.head_model import EXP_NAMES
from sandbox.metrics.stats import set_statistic_ci
from sandbox.world.motion import STYLES


def true_offsets() -> np.ndarray:
    """[7, 12] the world's held expression offsets per emotion (neutral: 0)."""
    out = np.zeros((len(EMOTIONS), len(EXP_NAMES)))
    for i, e in enumerate(EMOTIONS):
        for name, v in STYLES[e].exp_bias.items():
            out[i, EXP_NAMES.index(name)] = v
    return out


def generated_offsets(run, seeds: list[int]) -> np.ndarray:
    """[clips, 7, 12]: per test clip, the time-mean expression under each label minus under neutral (mean
    over ``seeds``)."""
    from sandbox.config import instantiate, to_dict
    from sandbox.pipeline.sample import generate_motion

    store = run.store
    features = instantiate(run.cfg.features, "features")
    guidance = to_dict(run.cfg.sample.guidance) or None
    out = []
    for cid in store.ids("test"):
        clip = store.load(cid)
        src = np.asarray(clip.frames[0])
        means = np.zeros((len(EMOTIONS), len(EXP_NAMES)))
        for emotion_i, emotion in enumerate(EMOTIONS):
            for seed in seeds:
                motion, _, _ = generate_motion(run.rep, run.gen, features, src, clip.audio, emotion,
                                               run.cfg.sample.steps, guidance, seed)  # fmt: skip
                means[emotion_i] += np.asarray(motion)[:, EXP].mean(0) / len(seeds)
        out.append(means - means[EMOTIONS.index("neutral")])
    return np.stack(out)


def real_offsets(run) -> tuple[np.ndarray, np.ndarray]:
    """([clips, 12] time-mean extracted expression of each training clip, [clips] its label index)."""
    ex = run.extracted
    store = run.store
    means, labels = [], []
    for cid in store.ids("train"):
        motion = run.rep.denormalize(torch.from_numpy(ex.load(cid)["motion"])).numpy()
        means.append(motion[:, EXP].mean(0))
        labels.append(EMOTIONS.index(store.load(cid).meta.get("emotion") or "neutral"))
    return np.stack(means), np.array(labels)


def offset_corr(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two [emotions, coefficients] offset tables over all their entries."""
    return corr(a.ravel(), b.ravel())


def over_clips(per_clip: np.ndarray, statistic) -> tuple[float, float]:
    """95% interval of ``statistic`` (a function of the clip-mean [7, 12] offsets), resampling the clips."""
    return set_statistic_ci(list(per_clip), lambda xs: statistic(np.mean(xs, 0)), n_resamples=2000)


def main(argv: list[str] | None = None) -> int:
    from sandbox.pipeline.reopen import reopen

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", default="docs/results/emotion_motion.md")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    run = reopen(args.run)
    if run.cfg.choice.rep != "3dmm":
        raise SystemExit(f"{args.run} is a rep={run.cfg.choice.rep} run: this measure reads named 3dmm expressions")
    truth = true_offsets()
    gen = generated_offsets(run, args.seeds)  # [C, 7, 12]
    real, labels = real_offsets(run)
    real_delta = np.stack([real[labels == i].mean(0) - real[labels == EMOTIONS.index("neutral")].mean(0)
                           if (labels == i).any() else np.full(len(EXP_NAMES), np.nan)
                           for i in range(len(EMOTIONS))])  # fmt: skip
    emo = [i for i, e in enumerate(EMOTIONS) if e != "neutral"]
    r_gen = offset_corr(gen.mean(0)[emo], truth[emo])
    ci_gen = over_clips(gen, lambda m: offset_corr(m[emo], truth[emo]))
    ok = np.isfinite(real_delta[emo]).all(1)
    r_real = offset_corr(real_delta[emo][ok], truth[emo][ok])
    lines = [
        "# Does generated motion move with the emotion label?\n",
        f"    python -m experiments.emotion_motion --run {args.run} --seeds {' '.join(map(str, args.seeds))}\n",
        f"The run: `{' '.join(yaml.safe_load((Path(args.run) / 'overrides.yaml').read_text()) or [])}` (rep=3dmm, "
        f"{run.cfg.choice.gen}; "
        f"{len(gen)} held-out test clips x 7 labels x {len(args.seeds)} sampling seeds; "
        f"{time.perf_counter() - t0:.0f} s on 2 CPU cores). Offsets are time-mean expression coefficients under "
        "a label minus under neutral, for the same clip and seed; the world's are sandbox.world.motion.STYLES.\n",
        f"**Correlation of generated with the world's offsets** (6 emotions x 12 coefficients): {r_gen:.2f} "
        f"[{ci_gen[0]:.2f}, {ci_gen[1]:.2f}] (bootstrap over test clips). The real training clips' extracted "
        f"motion, grouped by label: {r_real:.2f} (what the analyser reads of the world's offsets).\n",
        "| emotion | coefficient | world | generated (95% CI over clips) | real clips, extracted |",
        "|---|---|---:|---:|---:|",
    ]
    for i in emo:
        for name, v in STYLES[EMOTIONS[i]].exp_bias.items():
            k = EXP_NAMES.index(name)
            lo, hi = over_clips(gen, lambda m, i=i, k=k: float(m[i, k]))
            lines.append(f"| {EMOTIONS[i]} | {name} | {v:.2f} | {gen[:, i, k].mean():+.3f} [{lo:+.3f}, {hi:+.3f}] | "
                         f"{real_delta[i, k]:+.3f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
