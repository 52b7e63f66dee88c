"""Build the synthetic talking-head dataset: ``python -m sandbox.world.dataset --out DIR``.

Each clip: an eSpeak sentence in some voice and emotion -> visemes + prosody -> motion programs ->
morphable-model landmarks -> the portrait warped by the mesh. Splits hold out sentences (val, test),
voices (test) and one identity (test). Clips are deterministic given (seed, clip index), written
atomically, and a rerun skips the clips already complete (resumable).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from sandbox.constants import EMOTIONS, SAMPLES_PER_FRAME
from sandbox.data.clips import Clip, write_clip, write_index
from sandbox.errors import ConfigError
from sandbox.parallel import fork_map

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorldConfig:
    n_clips: int = 100
    size: int = 128
    seed: int = 0
    min_seconds: float = 5.0
    max_seconds: float = 10.0
    n_identities: int = 8  # the last one is held out for test
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    n_test_voices: int = 2  # the last voices are held out for test


@dataclass(frozen=True)
class ClipPlan:
    clip_id: str
    index: int
    split: str
    identity: int
    voice: int
    emotion: str


def plan_clips(cfg: WorldConfig) -> list[ClipPlan]:
    """Assign each clip its split, identity, voice and emotion (deterministic by seed)."""
    from sandbox.world.speech import VOICES

    if cfg.n_test_voices >= len(VOICES):
        raise ConfigError(f"n_test_voices={cfg.n_test_voices} leaves no training voice ({len(VOICES)} voices)")
    if cfg.n_identities < 2:
        raise ConfigError("n_identities must be >= 2 (one is held out for test)")
    rng = np.random.default_rng([cfg.seed, 7919])
    n_test = max(1, round(cfg.n_clips * cfg.test_fraction))
    n_val = max(1, round(cfg.n_clips * cfg.val_fraction))
    n_train = cfg.n_clips - n_val - n_test
    if n_train < 1:
        raise ConfigError(f"n_clips={cfg.n_clips} is too small for train/val/test splits; use at least 3")
    train_voices = np.arange(len(VOICES) - cfg.n_test_voices)
    test_voices = np.arange(len(VOICES) - cfg.n_test_voices, len(VOICES))
    plans = []
    for i in range(cfg.n_clips):
        split = "train" if i < n_train else ("val" if i < n_train + n_val else "test")
        if split == "test":
            identity, voice = cfg.n_identities - 1, int(rng.choice(test_voices))
        else:
            identity, voice = int(rng.integers(0, cfg.n_identities - 1)), int(rng.choice(train_voices))
        emotion = EMOTIONS[int(rng.integers(0, len(EMOTIONS)))]
        plans.append(ClipPlan(f"{split}_{i:04d}", i, split, identity, voice, emotion))
    return plans


class _World:
    """Per-process state: head model, identities and renderers (built lazily, reused across clips)."""

    def __init__(self, cfg: WorldConfig):
        from sandbox.face.head_model import HeadModel
        from sandbox.world.identities import make_identities

        self.cfg = cfg
        self.head = HeadModel.load()
        self.identities = make_identities(
            cfg.n_identities, self.head.texture, self.head.texture_lmk2d, self.head.id_basis.shape[0], cfg.seed
        )
        self._renderers: dict[int, object] = {}

    def renderer(self, identity: int):
        from sandbox.face.portrait import PortraitRenderer

        if identity not in self._renderers:
            self._renderers[identity] = PortraitRenderer(
                self.identities[identity].texture, self.head.texture_lmk2d, self.cfg.size
            )
        return self._renderers[identity]


_WORLD: _World | None = None


def _speak(plan: ClipPlan, cfg: WorldConfig, rng: np.random.Generator):
    """Synthesize a sentence that lasts between min_seconds and max_seconds (cropped if needed)."""
    from sandbox.world.sentences import make_sentence
    from sandbox.world.speech import VOICES, emotion_prosody, synthesize

    voice = VOICES[plan.voice]
    pro = emotion_prosody(plan.emotion)
    kwargs = voice.synth_kwargs(pro)
    n_words = (8, 18)
    best, miss = None, np.inf  # the candidate closest to the window if none lands in it
    for _ in range(8):
        text = make_sentence(rng, n_words=n_words, pool=plan.split)
        speech = synthesize(text, **kwargs)
        dur = len(speech.audio) / 16000
        gap = max(cfg.min_seconds - dur, dur - cfg.max_seconds, 0.0)
        if dur > cfg.max_seconds:  # cropped to max_seconds later: a long candidate only costs the crop
            gap = 0.1 * gap
        if gap < miss:
            best, miss = speech, gap
        if dur < cfg.min_seconds:
            n_words = (n_words[0] + 3, n_words[1] + 4)
        elif dur > cfg.max_seconds:
            n_words = (max(2, n_words[0] - 3), max(3, n_words[1] - 4))
        else:
            break
    return best


def make_clip(plan: ClipPlan, cfg: WorldConfig) -> Clip:
    """Generate one clip (pure function of the plan, the config and the head model)."""
    global _WORLD
    if _WORLD is None or _WORLD.cfg != cfg:
        _WORLD = _World(cfg)
    world = _WORLD
    from sandbox.face.visemes import viseme_track
    from sandbox.world.motion import motion_program
    from sandbox.world.speech import VOICES, prosody_track

    rng = np.random.default_rng([cfg.seed, plan.index])
    speech = _speak(plan, cfg, rng)
    audio = speech.audio[: int(cfg.max_seconds * 16000)]
    n_frames = int(np.ceil(len(audio) / SAMPLES_PER_FRAME))
    audio = np.pad(audio, (0, n_frames * SAMPLES_PER_FRAME - len(audio)))
    visemes, mouth = viseme_track(speech.phonemes, n_frames)
    pros = prosody_track(audio)
    prog = motion_program(rng, mouth, pros["energy"][:n_frames], pros["f0"][:n_frames], plan.emotion,
                          world.head.neutral_pose)
    ident = world.identities[plan.identity]
    lmk3d, lmk2d = world.head.landmarks(ident.id_coeff, prog["pose"], prog["exp"], prog["gaze"], cfg.size)
    frames = world.renderer(plan.identity).render_batch(lmk2d, lmk3d[..., 2])
    gt = {
        "pose": prog["pose"], "exp": prog["exp"], "gaze": prog["gaze"],
        "id_coeff": ident.id_coeff.astype(np.float32),
        "lmk3d": lmk3d.astype(np.float32), "lmk2d": lmk2d.astype(np.float32),
        "visemes": visemes.astype(np.int16), "mouth": mouth.astype(np.float32),
    }
    meta = {
        "split": plan.split, "emotion": plan.emotion, "emotion_id": EMOTIONS.index(plan.emotion),
        "voice": VOICES[plan.voice].name, "voice_id": plan.voice, "identity": plan.identity,
        "text": speech.text, "seed": [cfg.seed, plan.index], "fps": 25, "size": cfg.size,
    }
    return Clip(plan.clip_id, frames, audio.astype(np.float32), gt, meta)


def _build_one(args) -> str:
    plan, cfg, out = args
    write_clip(Path(out), make_clip(plan, cfg))
    return plan.clip_id


def build_dataset(out: str | Path, cfg: WorldConfig = WorldConfig(), workers: int | None = None,
                  progress: bool = True) -> Path:
    """Build (or finish building) the dataset in ``out``; returns the directory."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "world.json"
    if cfg_path.exists() and json.loads(cfg_path.read_text()) != asdict(cfg):
        raise ConfigError(
            f"{out} holds a dataset built with other settings ({cfg_path}); pass another --out or delete it"
        )
    cfg_path.write_text(json.dumps(asdict(cfg), indent=1))
    plans = plan_clips(cfg)
    todo = [p for p in plans if not (out / p.clip_id / "meta.json").exists()]
    workers = workers or min(len(todo), os.cpu_count() or 1) or 1
    bar = tqdm(total=len(plans), initial=len(plans) - len(todo), desc="synthetic clips", unit="clip",
               disable=not progress or bool(os.environ.get("SANDBOX_NO_PROGRESS")))
    for _ in fork_map(_build_one, [(p, cfg, str(out)) for p in todo], workers):
        bar.update()
    bar.close()
    splits = {s: [p.clip_id for p in plans if p.split == s] for s in ("train", "val", "test")}
    write_index(out, splits, {"world": asdict(cfg), "n_frames_note": "25 fps, 16 kHz"})
    return out


def frame_strip(frames: np.ndarray, n: int = 8, start: int = 0, step: int = 3) -> np.ndarray:
    """Concatenate ``n`` frames side by side (uint8 [H, n*W, 3])."""
    idx = np.clip(start + step * np.arange(n), 0, len(frames) - 1)
    return np.concatenate([frames[i] for i in idx], axis=1)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="dataset directory (created; a rerun resumes)")
    p.add_argument("--clips", type=int, default=WorldConfig.n_clips)
    p.add_argument("--size", type=int, default=WorldConfig.size)
    p.add_argument("--seed", type=int, default=WorldConfig.seed)
    p.add_argument("--min-seconds", type=float, default=WorldConfig.min_seconds)
    p.add_argument("--max-seconds", type=float, default=WorldConfig.max_seconds)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--strip", default=None, help="also save a frame-strip PNG of the first training clip here")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    cfg = WorldConfig(n_clips=a.clips, size=a.size, seed=a.seed, min_seconds=a.min_seconds,
                      max_seconds=a.max_seconds)
    out = build_dataset(a.out, cfg, workers=a.workers)
    log.info("dataset written to %s", out)
    if a.strip:
        import imageio.v3 as iio

        from sandbox.data.clips import ClipStore

        store = ClipStore(out)
        clip = store.load(store.ids("train")[0])
        frames = np.asarray(clip.frames)
        iio.imwrite(a.strip, frame_strip(frames, n=8, start=len(frames) // 4, step=3))
        log.info("frame strip written to %s", a.strip)


if __name__ == "__main__":
    main()
