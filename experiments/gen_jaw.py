"""Does a trained generator move the jaw with the speech, measured in motion space (no renderer)?

    python -m experiments.gen_jaw --run RUN_DIR [RUN_DIR ...] [--splits val test] [--seeds 1]
                                  [--audio-scales 1 2 3] [--steps 10 20] [--json OUT]

RUN_DIR is any run directory of the synthetic world (its config.yaml and artifacts.json name the
extracted motion and the trained generator). A least-squares line from the extracted motion (in z-scores,
whatever ``extract.marginals`` the run used) to the world's jaw-open coefficient is fitted on the train
clips; it reads the jaw out of motion. Then every clip of ``--splits`` is sampled from its own audio,
reference and emotion, as the sample stage does, and printed, pooled over all those clips (20 in the
default dataset, where the eval's lip sync sees 2):

* jaw_corr0_gen / _real: correlation of the read-out jaw with the true jaw at lag 0, on generated and
  on real (extracted) motion; the real one is the ceiling the readout allows.
* jaw_best_gen, jaw_lag_gen: the best correlation over lags -10..10 and its lag (positive = late).
* jaw_std_ratio: std of the read-out jaw of generated motion over that of real motion (1 = the real
  amplitude; guidance above 1 inflates it).
* motion_fd: Frechet distance between generated and real motion frames (z-scores, all dims, pooled
  over the clips): how real the whole motion (pose included) is, on 20 clips rather than the eval's 2.
* blink_rate_gen / _real: the eval's blinks per minute on the lids read out of the motion (a line fitted,
  like the jaw's, from training motion to the world's blink coefficient; openness = 1 - read-out).
* blink_code_gen / _real: the share of frames whose motion lies past halfway along the code's blink axis
  (the training motion's mean on closed-eyed frames, the world's lid closure above 0.5, less its mean on
  the others): how often the motion reaches a closed lid's code, a deep blink rather than the read-out's
  shallow dips, which the blink rate counts too. Neither is given where the code carries no lid (blink_axis).
* spread_<part>: per clip, the RMS over the part's dimensions of the std over frames, generated over real
  (1 = real amplitude), for each part of the representation (e.g. 3dmm's pose): where motion is lost.
* head_std_ratio: per clip, the RMS over the three axes of the std over frames of the head rotation read out
  of the motion (a line fitted, like the jaw's, to the world's rotation vector), generated over real;
  head_r2_real: that line's R^2 on the measured clips' real motion (how much of the rotation the code carries
  linearly: a low one makes the ratio a loose guide).
* spread_pc<i> (``pcs`` > 0 in :func:`measure`): per clip, the std over frames of the generated motion along
  the training motion's i-th principal direction, over the real clips' mean of the same (1 = real amplitude):
  which directions of a learnt code (lia's mixes the face's factors in every dimension) lack motion.

``--audio-scales`` repeats the measure for each audio guidance scale g_a, ``--steps`` for each number of
sampling steps (NFE); default: the run's own.

In rep=3dmm the read-out jaw moves with the drawn lip sync; in rep=lia it is a loose guide to it (the
decoder draws the mouth from the whole code: docs/results/sync_chain.md), so rank lia's settings on the
eval's sync, on the validation clips (``sample.split=val``) where a setting is being chosen.
"""
from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import torch

from experiments.analyser_accuracy import corr
from sandbox.config import to_dict
from sandbox.metrics.motion import blink_rate, fit_jaw_readout, frechet_distance, read_jaw, readout_r2
from sandbox.metrics.sync import correlation_curve
from sandbox.pipeline.eval import jaw_target, zscores
from sandbox.pipeline.reopen import reopen
from sandbox.world.motion import EXP

MAX_LAG = 10


def blink_target(clip, n_frames: int) -> np.ndarray:
    """[n_frames] the world's lid closure of a dataset clip (1 = closed), both eyes' coefficients averaged."""
    return clip.gt["exp"][:n_frames][:, [EXP["blink_l"], EXP["blink_r"]]].mean(1)


class RunMotion:
    """A run directory's dataset, extracted motion and trained generator (None where the run stopped before its
    train stage)."""

    def __init__(self, run_dir: Path):
        run = reopen(run_dir)
        self.cfg, self.store, self.extracted, self.rep = run.cfg, run.store, run.extracted, run.rep
        self.gen = run.gen if "train" in run.artifacts else None
        self.parts = dict(run.rep.parts)
        self.splits = self.extracted.splits
        self._clips: dict[str, dict[str, np.ndarray]] = {}

    def clip(self, cid: str) -> dict[str, np.ndarray]:
        """The clip's extracted arrays and its true jaw track, loaded once (each guidance scale reuses them)."""
        if cid not in self._clips:
            out = self.extracted.load(cid)
            out["motion"] = zscores(self.rep, out["motion"])  # x_ref stays as the generator sees it
            clip = self.store.load(cid, frames=False)
            out["jaw"] = jaw_target(clip, len(out["motion"]))
            if "exp" in clip.gt:
                out["blink"] = blink_target(clip, len(out["motion"]))
            if "pose" in clip.gt:
                out["head"] = clip.gt["pose"][: len(out["motion"]), :3]  # the world's head rotation vector
            self._clips[cid] = out
        return self._clips[cid]

    @torch.no_grad()
    def sample(self, c: dict[str, np.ndarray], seed: int, audio_scale: float | None = None,
               steps: int | None = None) -> np.ndarray:
        cond = {k: torch.from_numpy(c[k])[None] for k in ("audio", "x_ref", "emotion")}
        s = self.cfg.sample
        guidance = to_dict(s.guidance) | ({"audio": audio_scale} if audio_scale is not None else {})
        res = self.gen.sample(cond, steps=steps or s.steps, guidance=guidance or None, seed=seed)
        return zscores(self.rep, res.motion[0].float().numpy())


def jaw_line(run: RunMotion, n_train: int = 80):
    """The least-squares line from a run's extracted motion to the world's jaw, fitted on its first ``n_train``
    training clips (sandbox.metrics.motion.fit_jaw_readout; read it with read_jaw)."""
    train = [run.clip(c) for c in run.splits["train"][:n_train]]
    return fit_jaw_readout([c["motion"] for c in train], [c["jaw"] for c in train])


def lid_line(run: RunMotion, n_train: int = 80):
    """The least-squares line from a run's extracted motion to the world's lid closure (1 = closed), fitted on
    its first ``n_train`` training clips; read it with read_jaw."""
    train = [run.clip(c) for c in run.splits["train"][:n_train]]
    return fit_jaw_readout([c["motion"] for c in train], [c["blink"] for c in train])


def blink_axis(motions: list[np.ndarray], closures: list[np.ndarray], closed: float = 0.5, spill: float = 3.0):
    """(unit direction, threshold) from the mean motion of frames whose lid closure exceeds ``closed`` less the
    mean of the others, the threshold halfway between the two means along it; None without both kinds, and None
    where the axis does not tell them apart: more than ``spill`` times as many frames past halfway as closed ones
    (a code that carries no lid: one lia fit puts half its frames there)."""
    x, c = np.concatenate(motions), np.concatenate(closures) > closed
    if c.all() or not c.any():
        return None
    shut, opened = x[c].mean(0), x[~c].mean(0)
    u = (shut - opened) / np.linalg.norm(shut - opened)
    threshold = float((shut + opened) @ u / 2)
    if np.mean(x @ u > threshold) > spill * c.mean():
        return None
    return u, threshold


def past_halfway(axis, m: np.ndarray) -> float:
    """Share of the frames of m [T, d] past the threshold of ``axis`` (blink_axis)."""
    return float(np.mean(np.asarray(m) @ axis[0] > axis[1]))


def rms_std(x: np.ndarray) -> float:
    """sqrt of the mean over dimensions of the variance over frames of x [T, d]."""
    return float(np.sqrt(np.asarray(x, np.float64).var(0).mean()))


def principal_directions(motions: list[np.ndarray], k: int) -> np.ndarray:
    """[d, k] the first ``k`` principal directions (largest variance first) of the frames of ``motions``."""
    w, v = np.linalg.eigh(np.cov(np.concatenate(motions).astype(np.float64).T))
    return v[:, np.argsort(w)[::-1][:k]]


def measure(run: RunMotion, splits: list[str], seeds: int = 1, n_train: int = 80,
            audio_scale: float | None = None, per_clip: bool = False, steps: int | None = None,
            pcs: int = 0) -> dict:  # fmt: skip
    """The module's measures pooled over ``splits``; ``per_clip``: also each clip's (and sample's) jaw, blink,
    head and spread values; ``pcs``: the spread along the training motion's first ``pcs`` principal directions."""
    train = [run.clip(c) for c in run.splits["train"][:n_train]]
    line = jaw_line(run, n_train)
    has_blink = all("blink" in c for c in train)
    axis = blink_axis([c["motion"] for c in train], [c["blink"] for c in train]) if has_blink else None
    lids = lid_line(run, n_train) if axis is not None else None  # no lid in the code: nothing to read blinks from
    head = (fit_jaw_readout([c["motion"] for c in train], [c["head"] for c in train])
            if all("head" in c for c in train) else None)
    pc = principal_directions([c["motion"] for c in train], pcs) if pcs else None

    def read(m: np.ndarray) -> np.ndarray:
        return read_jaw(line, m)

    rows: dict[str, list[float]] = {k: [] for k in ("corr0_gen", "corr0_real", "best_gen", "lag_gen", "std_ratio")}
    spread: dict[str, list[float]] = {part: [] for part in run.parts}
    blinks: dict[str, list[float]] = {f"blink_{m}_{w}": [] for m in ("rate", "code") for w in ("gen", "real")}
    heads: list[float] = []
    generated, reals, gen_pcs = [], [], []
    clips = [run.clip(cid) for s in splits for cid in run.splits.get(s, [])]
    for c in clips:
        real = read(c["motion"])
        reals.append(c["motion"])
        rows["corr0_real"].append(corr(real, c["jaw"]))
        if lids is not None:
            blinks["blink_rate_real"].append(blink_rate(1 - read_jaw(lids, c["motion"])))
        if axis is not None:
            blinks["blink_code_real"].append(past_halfway(axis, c["motion"]))
        for seed in range(seeds):
            generated.append(run.sample(c, seed, audio_scale, steps)[: len(real)])
            gen = read(generated[-1])
            lags, by_lag, _ = correlation_curve(gen, c["jaw"], MAX_LAG)
            rows["corr0_gen"].append(float(by_lag[lags == 0][0]))
            rows["best_gen"].append(float(by_lag.max()))
            rows["lag_gen"].append(int(lags[np.argmax(by_lag)]))
            rows["std_ratio"].append(float(gen.std() / max(real.std(), 1e-9)))
            if lids is not None:
                blinks["blink_rate_gen"].append(blink_rate(1 - read_jaw(lids, generated[-1])))
            if axis is not None:
                blinks["blink_code_gen"].append(past_halfway(axis, generated[-1]))
            for part, sl in run.parts.items():
                spread[part].append(rms_std(generated[-1][:, sl]) / max(rms_std(c["motion"][: len(real), sl]), 1e-9))
            if head is not None:
                heads.append(rms_std(read_jaw(head, generated[-1])) / max(rms_std(read_jaw(head, c["motion"])), 1e-9))
            if pc is not None:
                gen_pcs.append((generated[-1] @ pc).std(0))
    out = {f"jaw_{k}": float(np.mean(v)) for k, v in rows.items()}
    out |= {f"spread_{part}": float(np.mean(v)) for part, v in spread.items()}
    out |= {k: float(np.mean(v)) for k, v in blinks.items() if v}
    pc_spread = {}
    if pc is not None:  # in units of the real clips' mean within-clip std along each direction
        ratio = np.array(gen_pcs) / np.maximum(np.mean([(m @ pc).std(0) for m in reals], axis=0), 1e-9)
        pc_spread = {f"spread_pc{i + 1}": ratio[:, i].tolist() for i in range(pcs)}
        out |= {k: float(np.mean(v)) for k, v in pc_spread.items()}
    if heads:
        out["head_std_ratio"] = float(np.mean(heads))
        out["head_r2_real"] = readout_r2(np.concatenate([read_jaw(head, c["motion"]) for c in clips]),
                                         np.concatenate([c["head"] for c in clips]))
    out["motion_fd"] = frechet_distance(np.concatenate(generated), np.concatenate(reals))
    out["clips"] = len(rows["corr0_real"])
    if per_clip:
        out["per_clip"] = ({f"jaw_{k}": v for k, v in rows.items()} | {f"spread_{p}": v for p, v in spread.items()}
                           | {k: v for k, v in blinks.items() if v} | pc_spread | ({"head_std_ratio": heads} if heads else {}))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, type=Path, nargs="+", help="run directories with a trained generator")
    p.add_argument("--splits", nargs="+", default=["val", "test"])
    p.add_argument("--seeds", type=int, default=1, help="generator samples per clip")
    p.add_argument("--audio-scales", type=float, nargs="+", default=[None], help="audio guidance scales g_a")
    p.add_argument("--steps", type=int, nargs="+", default=[None], help="sampling steps (NFE)")
    p.add_argument("--json", type=Path, help="also write the numbers here")
    args = p.parse_args(argv)
    results = {}
    for run_dir in args.run:
        run = RunMotion(run_dir)
        if run.gen is None:
            p.error(f"{run_dir} has no trained generator: run its command to stage=train first")
        for g, n in itertools.product(args.audio_scales, args.steps):
            name = f"{run_dir}" + ("" if g is None else f" g_a={g:g}") + ("" if n is None else f" steps={n}")
            results[name] = out = measure(run, args.splits, args.seeds, audio_scale=g, steps=n)
            print(name)
            for k, v in out.items():
                print(f"  {k:18s} {v:.3f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
