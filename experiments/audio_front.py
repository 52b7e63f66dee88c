"""Where the generated jaw loses the speech, and what the audio front end changes (issue 20):

    python -m experiments.audio_front [--seeds 3] [--arms NAME ...] [--out docs/results/audio_front.md]

Each arm trains ``rep=lia gen=flow`` on the default preset at ``--seeds`` training seeds (``stage=train``;
data, fit and, where the features are the same, extraction come from the cache; a run directory already
under ``outputs/studies/audio_front/<arm>/<seed>`` with a trained generator is measured as it is). Every
clip of each split is then sampled and its jaw read out of the motion, as in ``experiments.gen_jaw``:

* ``train``: the clips the generator was trained on;
* ``val``: new sentences in the training voices and identities;
* ``test``: new sentences in the two held-out voices, on the held-out identity (the eval's clips).

A second table trains no generator: the audio encoder alone plus a linear head, regressed on the world's
jaw-open coefficient (mean squared error, the generator's window length, batch and step count), as a bound on
what the audio features carry about the jaw in voices never heard. Numbers are the mean over seeds and clips
± half the 95% interval (``sandbox.metrics.stats.hierarchical_ci``: seeds, then clips, resampled).
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from experiments.analyser_accuracy import corr
from experiments.gen_jaw import RunMotion, jaw_line, measure
from experiments.studies import PLAIN_AUDIO
from sandbox.metrics.motion import read_jaw
from sandbox.metrics.stats import difference_ci, hierarchical_ci

SPLITS = ("train", "val", "test")
ROOT = Path("outputs/studies/audio_front")
BASE = "plain log-mel, 1 conv (the default until 2026-12-06)"
WHOLE = "log-mel standardised over the whole utterance, dropout 0.3, frequency masks of up to 20 bands"
DEFAULT = "default: log-mel standardised by the utterance so far (5-frame warm-up), dropout 0.3, masks of up to 20 bands"
LIA = ["rep=lia", "gen=flow"]
ARMS: dict[str, list[str]] = {
    BASE: PLAIN_AUDIO,
    "+ frequency warp 0.15 in training": [*PLAIN_AUDIO, "+audio_encoder.freq_warp=0.15"],
    "MFCC 1-20 for log-mel": ["features._target_=sandbox.audio.features.mfcc_frames", *PLAIN_AUDIO[1:]],
    "3 convs (residual)": [*PLAIN_AUDIO, "+audio_encoder.layers=3"],
    WHOLE: ["+features.warmup=1000000"],
    DEFAULT: [],
}
REGRESSOR_LAYERS = (1, 3)
NOTE = (
    "On plain log-mel the generated jaw follows the speech almost as well as the read-out allows on the clips it was "
    "trained on (0.83 of a 0.84-0.87 ceiling), less on new sentences in the training voices (0.72) and least in the "
    "two held-out voices (0.60), the eval's clips. It is not the held-out identity (a training clip's reference "
    "changes nothing) nor sampling noise (two samples of a clip nearly coincide): the generator's jaw is "
    "systematically off in voices it never heard. Standardising each log-mel band over the utterance (the speaker's "
    "and the channel's spectral envelope, constant over a clip, drops out) together with dropout 0.3 and frequency "
    "masks in training lifts the held-out voices by +0.09 with the whole utterance's statistics and +0.06 with the "
    "utterance so far (the default, which streams; both intervals above 0), and leaves new sentences in the training "
    "voices where they were. The audio alone shows the same: an encoder regressed straight on the world's jaw "
    "reaches 0.70 in the held-out voices on plain log-mel (1 conv or 3) and 0.77 with the default front end. In a "
    "screen of that regressor (3 seeds each; a throwaway script, not in the repository) none of the three parts alone lifted "
    "the held-out voices (dropout 0.3: -0.01, masks of 20 bands: -0.01, standardisation: +0.03, intervals spanning "
    "0), all three together +0.09 [+0.05, +0.13]. Trained on fewer clips the plain regressor does as well from 3 "
    "or 6 voices as from all 12, so the number of training voices is not what it lacks. Measured at commit 4faf394 "
    "against plain log-mel and not re-run here (`--arms` runs them): a frequency warp of 0.15 in training (test "
    "-0.04 [-0.10, +0.03]), MFCC 1-20 for log-mel (-0.03 [-0.08, +0.03]) and 3 convs (+0.00 [-0.06, +0.06]). Not "
    "measured: whether the held-out accents map the same sounds to other mouth shapes (the world's mouth follows "
    "eSpeak's phoneme labels of each accent)."
)
VOICE_SUBSETS = (3, 6)  # training voices, against as many clips drawn from all of them


def default_encoder() -> dict:
    """The config's audio-encoder training settings (dropout, frequency masks), for the regressor."""
    from sandbox.run import compose_config

    enc = compose_config(LIA).audio_encoder
    return {k: enc[k] for k in ("dropout", "freq_mask")}


def arm_dir(arm: str) -> Path:
    return ROOT / "".join(ch for ch in arm.replace(" ", "_").replace("+", "and") if ch.isalnum() or ch in "_-")


def train_run(overrides: list[str], seed: int, out: Path) -> Path:
    """``out``, with a generator trained there (``sandbox.run *overrides``, the crossing included) unless one
    already is."""
    artifacts = out / "artifacts.json"
    if not artifacts.is_file() or "train" not in json.loads(artifacts.read_text()):
        cmd = [sys.executable, "-m", "sandbox.run", *overrides, f"seeds.train={seed}",
               "stage=train", f"out={out}"]
        print("  $ " + " ".join(cmd[1:]), flush=True)
        subprocess.run(cmd, check=True)
    return out


def generator_values(run_dir: Path) -> dict[str, list[float]]:
    """split -> per-clip correlation of the generated jaw with the true one (lag 0), kept in the run
    directory (``jaw_by_split.json``) once measured."""
    kept = run_dir / "jaw_by_split.json"
    if kept.is_file():
        return json.loads(kept.read_text())
    run = RunMotion(run_dir)
    out = {s: measure(run, [s], per_clip=True)["per_clip"]["jaw_corr0_gen"] for s in SPLITS}
    kept.write_text(json.dumps(out))
    return out


def regressor_values(run: RunMotion, layers: int, seed: int, steps: int = 1500, batch: int = 16,
                     window: int = 60, train_ids: list[str] | None = None, **encoder) -> dict[str, list[float]]:
    """split -> per-clip correlation with the true jaw of an audio encoder (``encoder``: its further settings)
    + linear head trained on it (on ``train_ids``, default every training clip), on ``run``'s audio features."""
    from sandbox.audio.encoder import AudioEncoder

    clips = {s: [run.clip(c) for c in run.splits[s]] for s in SPLITS}
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = torch.nn.Sequential(AudioEncoder(clips["train"][0]["audio"].shape[1], 128, kernel=5, layers=layers, **encoder),
                              torch.nn.Linear(128, 1))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    train = [run.clip(c) for c in (train_ids or run.splits["train"])]
    train = [c for c in train if len(c["jaw"]) > window]
    for _ in range(steps):
        picks = [train[i] for i in rng.integers(0, len(train), batch)]
        starts = [int(rng.integers(0, len(c["jaw"]) - window)) for c in picks]
        a = torch.from_numpy(np.stack([c["audio"][s:s + window] for c, s in zip(picks, starts)]))
        j = torch.from_numpy(np.stack([c["jaw"][s:s + window] for c, s in zip(picks, starts)])).float()
        loss = (net(a)[..., 0] - j).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        return {s: [corr(net(torch.from_numpy(c["audio"])[None])[0, :, 0].numpy()[: len(c["jaw"])], c["jaw"])
                    for c in clips[s]] for s in SPLITS}


def diagnostics(run: RunMotion) -> dict[str, list[float]]:
    """Per test clip: the generated jaw's correlation with the true one as sampled, with the reference
    (identity) of a training clip instead of the clip's own, and between two samples (generator seeds 0, 1)."""
    line = jaw_line(run)
    reference = run.clip(run.splits["train"][0])["x_ref"]
    out: dict[str, list[float]] = {"own": [], "training reference": [], "sample vs sample": []}
    for cid in run.splits["test"]:
        c = run.clip(cid)
        jaw = lambda cond, seed: read_jaw(line, run.sample(cond, seed))[: len(c["jaw"])]  # noqa: E731
        first = jaw(c, 0)
        out["own"].append(corr(first, c["jaw"]))
        out["training reference"].append(corr(jaw({**c, "x_ref": reference}, 0), c["jaw"]))
        out["sample vs sample"].append(corr(first, jaw(c, 1)))
    return out


def training_voices(run: RunMotion) -> dict[str, list[str]]:
    """voice -> its training clips."""
    by_voice: dict[str, list[str]] = {}
    for cid in run.splits["train"]:
        by_voice.setdefault(run.store.load(cid, frames=False).meta["voice"], []).append(cid)
    return by_voice


def voice_subsets(by_voice: dict[str, list[str]], every: list[str], n_voices: int, seed: int
                  ) -> tuple[list[str], list[str]]:
    """(every training clip of ``n_voices`` training voices, as many of the training clips ``every``), drawn
    with ``seed``: the same amount of speech from a few or from all the training voices."""
    rng = np.random.default_rng(seed)
    voices = sorted(by_voice)
    few = [c for i in rng.choice(len(voices), n_voices, replace=False) for c in by_voice[voices[i]]]
    return few, [every[i] for i in rng.choice(len(every), len(few), replace=False)]


def page_head(doc: str, module: str, argv: list[str] | None) -> list[str]:
    """A results page's first lines: its title (the first line of the module's docstring) and the command that
    regenerates it, with the arguments given (the command line's when ``argv`` is None)."""
    cmd = " ".join([f"python -m {module}", shlex.join(sys.argv[1:] if argv is None else argv)]).rstrip()
    return [f"# {doc.splitlines()[0].rstrip(':')}", "", f"Regenerate: `{cmd}`", ""]


def cell(groups: list[list[float]], digits: int = 3) -> str:
    """Mean ± half the 95% interval of per-seed lists of per-clip values; "–" when there are none."""
    m, lo, hi = hierarchical_ci(groups)
    if m is None:
        return "–"
    return f"{m:.{digits}f}" if lo is None else f"{m:.{digits}f} ± {(hi - lo) / 2:.{digits}f}"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    p.add_argument("--out", type=Path, default=Path("docs/results/audio_front.md"))
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    gen: dict[str, list[dict[str, list[float]]]] = {}
    for arm in args.arms:
        gen[arm] = [generator_values(train_run(LIA + ARMS[arm], s, arm_dir(arm) / str(s))) for s in range(args.seeds)]
        print(arm, {s: round(float(np.mean([np.mean(v[s]) for v in gen[arm]])), 3) for s in SPLITS}, flush=True)
    base_run = RunMotion(train_run(LIA + ARMS[BASE], 0, arm_dir(BASE) / "0"))  # opened once: its clips load once
    kept_path = ROOT / "regressors.json"  # per-clip values of the diagnostics and of every regressor, by its settings
    kept = json.loads(kept_path.read_text()) if kept_path.is_file() else {}

    def regressor(layers: int, seed: int, subset: str = "all", train_ids: list[str] | None = None,
                  run: RunMotion = base_run, front: str = "") -> dict:
        key = f"{layers}/{seed}/{subset}" + (f"/{front}" if front else "")
        if key not in kept:
            kept[key] = regressor_values(run, layers, seed, train_ids=train_ids, **(default_encoder() if front else {}))
            kept_path.write_text(json.dumps(kept))
        return kept[key]

    if "diagnostics" not in kept:
        kept["diagnostics"] = diagnostics(base_run)
        kept_path.write_text(json.dumps(kept))
    diag = kept["diagnostics"]
    reg = {f"{n} conv{'s' if n > 1 else ''}, plain log-mel": [regressor(n, s) for s in range(args.seeds)] for n in REGRESSOR_LAYERS}
    default_run = RunMotion(train_run(LIA + ARMS[DEFAULT], 0, arm_dir(DEFAULT) / "0"))  # its features: the default's
    reg["1 conv, the default front end (standardised so far, dropout 0.3, masks)"] = [regressor(1, s, run=default_run, front="default") for s in range(args.seeds)]
    voices: dict[int, dict[str, list]] = {}
    by_voice = training_voices(base_run)
    for n_voices in VOICE_SUBSETS:
        runs = {"few": [], "all": [], "clips": []}
        for s in range(args.seeds):
            few, every = voice_subsets(by_voice, base_run.splits["train"], n_voices, s)
            runs["clips"].append(len(few))
            runs["few"].append(regressor(1, s, f"{n_voices} voices", few))
            runs["all"].append(regressor(1, s, f"{len(every)} clips of all voices", every))
        voices[n_voices] = runs
    minutes = (time.perf_counter() - t0) / 60

    lines = [*page_head(__doc__, "experiments.audio_front", argv),
             f"`rep=lia gen=flow`, default preset, {args.seeds} training seeds per arm. On this machine (2 CPU cores) a "
             "generator trains in about 3 min and a regressor in about 1; runs and fits already measured are read back "
             f"(this invocation: {minutes:.0f} min). Correlation at lag 0 of the jaw read out of "
             "the motion with the world's jaw, per clip; mean ± half the 95% interval over seeds and clips. The "
             "read-out's ceiling, the same line on the real extracted motion, is 0.84 to 0.87 in every split.", "",
             "## Generators", "", "| audio front end | train | val (training voices) | test (held-out voices) |",
             "|---|---:|---:|---:|"]
    lines += [f"| {arm} | " + " | ".join(cell([v[s] for v in gen[arm]]) for s in SPLITS) + " |" for arm in gen]
    if BASE in gen:
        lines += ["", f"Differences from {BASE} (95% interval):", ""]
        for arm in gen:
            if arm != BASE:
                parts = []
                for s in ("val", "test"):
                    d, lo, hi = difference_ci([v[s] for v in gen[arm]], [v[s] for v in gen[BASE]])
                    parts.append(f"{s} {d:+.3f} [{lo:+.3f}, {hi:+.3f}]")
                lines.append(f"- {arm}: " + "; ".join(parts))
    lines += ["", f"On the plain log-mel's seed 0, per test clip: as sampled {cell([diag['own']])}; with a training clip's reference "
              f"(another identity) {cell([diag['training reference']])}; two samples (generator seeds 0, 1) correlate at "
              f"{cell([diag['sample vs sample']])}."]
    lines += ["", "## The audio alone: encoder + linear head regressed on the true jaw (no generator, no motion space)",
              "", "| encoder | train | val | test |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | " + " | ".join(cell([v[s] for v in values]) for s in SPLITS) + " |"
              for name, values in reg.items()]
    lines += ["", "The same regressor (1 conv, plain log-mel) trained on part of the training clips: every clip of a few training "
              "voices, or as many clips drawn from all 12 (both drawn per seed):", "",
              "| training clips | from | val | test (held-out voices) |", "|---|---|---:|---:|"]
    diffs = []
    for n_voices, runs in voices.items():
        clips = "-".join(str(n) for n in sorted({min(runs["clips"]), max(runs["clips"])}))
        for key, label in (("few", f"{n_voices} voices"), ("all", "all 12 voices")):
            lines.append(f"| {clips} | {label} | " + " | ".join(cell([v[s] for v in runs[key]]) for s in ("val", "test"))
                         + " |")
        d, lo, hi = difference_ci([v["test"] for v in runs["all"]], [v["test"] for v in runs["few"]])
        diffs.append(f"- test, all 12 voices minus {n_voices}: {d:+.3f} [{lo:+.3f}, {hi:+.3f}]")
    lines += ["", *diffs]
    lines += ["", "## Reading", "", NOTE]
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
