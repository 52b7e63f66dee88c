"""Does more synthetic data lift the audio -> jaw map in the held-out voices? More clips, more voices (issue 20):

    python -m experiments.data_scale [--seeds 3] [--sizes 80 160 320] [--out docs/results/data_scale.md]

experiments.audio_front found the generated jaw, and an audio encoder regressed straight on the true jaw,
stopping near 0.70 in the test clips' two held-out voices (0.80 on new sentences in the training voices).
This asks whether the world's size is the limit, without a generator or a fit: two worlds of 400 clips
(seed 0; 320 train, 40 val, 40 test; 64 px, as the audio and the jaw do not depend on the frame size):

* ``12 voices``: the world's voices, the default's 12 training voices;
* ``24 voices``: the same plus 12 eSpeak voice variants on the training accents (none of the held-out
  accents' voices). The held-out voices stay last, so both worlds hold the same val and test clips.

In each world, audio_front's regressor (log-mel, one conv encoder + linear head, 1500 steps) is trained on
N training clips drawn per seed (N = 80 is the default dataset's training split) and scored per clip on
val and test: correlation of its jaw with the world's at lag 0. Mean over seeds and clips ± half the 95%
interval; differences between arms resample both (``sandbox.metrics.stats``). Worlds and values are kept
under ``outputs/data_scale/`` and reused.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

import numpy as np

from experiments.audio_front import cell, page_head, regressor_values
from sandbox.metrics.stats import difference_ci
from sandbox.world.dataset import WorldConfig, build_dataset

ROOT = Path("outputs/data_scale")
WORLD = WorldConfig(n_clips=400, size=64)
SPLITS = ("val", "test")
# breath-free variants (reproducible: sandbox.world.speech.VOICES), on the training voices' accents
EXTRA_VOICES = (
    ("en-us+m1", 42, "male"), ("en-us+aunty", 55, "female"), ("en+m2", 40, "male"), ("en+grandma", 55, "female"),
    ("en-gb-scotland+m4", 40, "male"), ("en-gb-x-rp+f4", 58, "female"), ("en-gb-x-rp+m5", 38, "male"),
    ("en-us-nyc+linda", 55, "female"), ("en-us-nyc+m6", 44, "male"), ("en-gb-x-gbclan+belinda", 55, "female"),
    ("en-gb-x-gbclan+m7", 42, "male"), ("en-us+f1", 55, "female"),
)
WORLDS = {"12 voices": 0, "24 voices": len(EXTRA_VOICES)}  # name -> extra training voices


@contextlib.contextmanager
def extra_voices(n: int):
    """The world's voices with the first ``n`` of EXTRA_VOICES inserted before the held-out (last) ones."""
    import sandbox.world.speech as speech

    before = speech.VOICES
    extra = tuple(speech.Voice(v, f"extra {v}", pitch, gender) for v, pitch, gender in EXTRA_VOICES[:n])
    speech.VOICES = before[:len(before) - 2] + extra + before[len(before) - 2:]
    try:
        yield speech.VOICES
    finally:
        speech.VOICES = before


def world_dir(name: str, root: Path = ROOT) -> Path:
    return root / name.replace(" ", "_")


def build_world(name: str, cfg: WorldConfig = WORLD, root: Path = ROOT) -> Path:
    """The world's dataset directory, built (or finished) with its voices."""
    out = world_dir(name, root) / "data"
    if not (out / "index.json").is_file():
        with extra_voices(WORLDS[name]):
            build_dataset(out, cfg)
    return out


class WorldClips:
    """A dataset's splits and, per clip, its log-mel frames (the default features) and true jaw track,
    as experiments.audio_front.regressor_values reads them."""

    def __init__(self, data: Path):
        from sandbox.data.clips import ClipStore

        self.store = ClipStore(data)
        self.splits = {s: list(v) for s, v in self.store.splits.items()}
        self._clips: dict[str, dict[str, np.ndarray]] = {}

    def clip(self, cid: str) -> dict[str, np.ndarray]:
        if cid not in self._clips:
            from sandbox.audio.features import logmel_frames
            from sandbox.pipeline.eval import jaw_target

            c = self.store.load(cid, frames=False)
            audio = logmel_frames(c.audio)
            n = min(len(audio), len(c.gt["mouth"]))
            self._clips[cid] = {"audio": audio[:n].astype(np.float32), "jaw": jaw_target(c, n)}
        return self._clips[cid]


def world_values(name: str, sizes: list[int], seeds: int, steps: int = 1500, cfg: WorldConfig = WORLD,
                 root: Path = ROOT) -> dict[str, dict[str, list[float]]]:  # fmt: skip
    """"N/seed" -> split -> per-clip correlations of the regressor trained on N training clips drawn by seed,
    kept in the world's regressors.json."""
    clips = WorldClips(build_world(name, cfg, root))
    kept_path = world_dir(name, root) / "regressors.json"
    kept = json.loads(kept_path.read_text()) if kept_path.is_file() else {}
    train = clips.splits["train"]

    def key(n: int, s: int) -> str:  # the default's steps keep the short key
        return f"{n}/{s}" + ("" if steps == 1500 else f"/{steps}")

    for n in sizes:
        if n > len(train):
            raise ValueError(f"{n} training clips asked for; the world has {len(train)}")
        for s in range(seeds):
            if key(n, s) not in kept:
                ids = [train[i] for i in sorted(np.random.default_rng([s, n]).choice(len(train), n, replace=False))]
                kept[key(n, s)] = {sp: v for sp, v in regressor_values(clips, 1, s, steps=steps, train_ids=ids).items()
                                   if sp in SPLITS}
                kept_path.write_text(json.dumps(kept))
    return {f"{n}/{s}": kept[key(n, s)] for n in sizes for s in range(seeds)}


def diff_line(label: str, a: list[list[float]], b: list[list[float]]) -> str:
    d, lo, hi = difference_ci(a, b)
    return f"- {label}: {d:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--sizes", type=int, nargs="+", default=[80, 160, 320], help="training clips per regressor")
    p.add_argument("--out", type=Path, default=Path("docs/results/data_scale.md"))
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    values = {w: world_values(w, args.sizes, args.seeds) for w in WORLDS}
    minutes = (time.perf_counter() - t0) / 60

    def groups(w: str, n: int, sp: str) -> list[list[float]]:
        return [values[w][f"{n}/{s}"][sp] for s in range(args.seeds)]

    lines = [*page_head(__doc__, "experiments.data_scale", argv),
             f"Two worlds of {WORLD.n_clips} clips with the same val and test clips; {args.seeds} regressor seeds per "
             f"cell, each with its own draw of training clips (this invocation: {minutes:.0f} min on 2 CPU cores; worlds "
             "and values already under outputs/data_scale are reused). Correlation of the regressed jaw with the "
             "world's, per clip; mean ± half the 95% interval over seeds and clips. val: new sentences in the "
             "training voices; test: the two held-out voices.", "",
             "| training clips | " + " | ".join(f"{w}: {sp}" for w in WORLDS for sp in SPLITS) + " |",
             "|---:|" + "---:|" * (len(WORLDS) * len(SPLITS))]
    lines += [f"| {n} | " + " | ".join(cell(groups(w, n, sp)) for w in WORLDS for sp in SPLITS) + " |"
              for n in args.sizes]
    lines += ["", "Differences (95% interval):", ""]
    small, large = args.sizes[0], args.sizes[-1]
    for sp in SPLITS:
        for w in WORLDS:
            lines.append(diff_line(f"{sp}, {w}: {large} minus {small} clips", groups(w, large, sp), groups(w, small, sp)))
        for n in (small, large):
            lines.append(diff_line(f"{sp}, {n} clips: 24 minus 12 voices", groups("24 voices", n, sp),
                                   groups("12 voices", n, sp)))
        lines.append(diff_line(f"{sp}: 24 voices x {large} clips minus 12 voices x {small} clips",
                               groups("24 voices", large, sp), groups("12 voices", small, sp)))
    lines += ["", "## Reading", "", NOTE]
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


NOTE = (
    "The world's size is not what holds the held-out voices back. Four times the training clips lift new sentences "
    "in the training voices (+0.05, the interval above 0) but the held-out voices only +0.02 to +0.03, and twice the "
    "voices add as little (intervals span 0 at either size); both together give +0.054 [+0.013, +0.101], to 0.72, "
    "against 0.86 on new sentences and a read-out ceiling of 0.84 to 0.87 (audio_front.md). The generated jaw sits "
    "below this regressor (0.62 in those voices), and lip sync follows it, so a gain of this size would not lift "
    "sync to issue 20's 0.7 of the truth; a 4x dataset would also take the main job's data and extraction stages "
    "from about 1.5 to about 6 minutes. The default world stays at 100 clips and 14 voices. Left open: whether the "
    "held-out accents map sounds to other mouth shapes (the world's mouth follows each accent's phoneme labels), "
    "which no amount of other voices would teach."
)

if __name__ == "__main__":
    main()
