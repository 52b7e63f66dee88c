"""Stage 5, sample: drive the generator with held-out test audio and the test identity's source
frame (``sample.split=val``: the validation clips'; or the user's source=IMG audio=WAV); records NFE and
generator frames/s."""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from sandbox.config import instantiate, to_dict
from sandbox.constants import EMOTIONS, SAMPLES_PER_FRAME
from sandbox.data.frames import to_tensor
from sandbox.errors import ConfigError, InputFileError
from sandbox.pipeline.components import reference_motion
from sandbox.pipeline.context import Context
from sandbox.pipeline.emotion import AUTO, predict, wants_auto
from sandbox.pipeline.extract import audio_features, emotion_condition

SPLITS = ("test", "val")


def driven_ids(store, split: str = "test") -> list[str]:
    """The held-out clips ``sample.split`` drives: test (val where a dataset has no test split), or val."""
    ids = store.ids(split) or (store.ids("val") if split == "test" else [])
    if not ids:
        raise ConfigError(f"sample.split={split}: the dataset has no {split} clips (its splits: "
                          f"{', '.join(f'{k} {len(v)}' for k, v in store.splits.items())}).")
    return ids


@dataclass
class Sample:
    name: str
    npz: Path  # motion [T, dim] (un-normalised) + motion_norm, real_motion(_norm) if any, audio, source uint8 [H, W, 3]
    nfe: int
    frames_per_s: float


def check(cfg: DictConfig) -> None:
    """Preflight: a photo comes with audio, the files exist, the emotion is one of the seven."""
    if cfg.source is not None and cfg.audio is None:
        raise ConfigError(f"source={cfg.source} needs driving audio too: add audio=PATH.wav (any common audio format).")
    for key, kind in (("source", "source image"), ("audio", "audio file")):
        if cfg[key] is not None and not Path(str(cfg[key])).expanduser().is_file():
            raise InputFileError(f"{kind} not found: {cfg[key]} (from {key}=; relative paths are from {Path.cwd()}).")
    check_source_face(cfg.get("source_face"), cfg.source)
    split = (cfg.get("sample") or {}).get("split", "test")  # reopened runs check a partial config
    if split not in SPLITS:
        raise ConfigError(f"sample.split={split} is not one of {' | '.join(SPLITS)} (the held-out clips "
                          "driven and scored: test for results, val for choosing settings).")
    if cfg.emotion is not None and cfg.emotion not in (*EMOTIONS, AUTO):
        raise ConfigError(f"emotion={cfg.emotion} is not one of {', '.join(EMOTIONS)} (or auto: predicted from the "
                          "audio; the default with audio=).")


def check_source_face(face, source) -> None:
    """``source_face=K`` is a face index and comes with a photo."""
    if face is not None and (not isinstance(face, int) or isinstance(face, bool) or face < 0):
        raise ConfigError(f"source_face={face} must be a face index: 0 (the largest), 1 (the next), ...")
    if face is not None and source is None:
        raise ConfigError(f"source_face={face} picks a face of your photo: add source=PATH.")


def load_source(path: str, size: int, face: int | None = None) -> np.ndarray:
    """The user's photo -> uint8 [size, size, 3]: the square crop around the largest face (``face=K``: the
    K-th largest), FLOAT-style (padded where the face is cut off by the border; NoFaceError naming the file
    when there is none)."""
    from sandbox.analysis.source import prepare_source
    from sandbox.data.images import load_image

    return prepare_source(load_image(path), Path(path).name, size=size, face=face)


def drives(ctx: Context):
    """-> list of (name, source uint8 [H, W, 3], audio [N], emotion, real motion or None); the emotion is a
    name, or with audio= and emotion=auto (or unset) the speech-emotion classifier's probabilities [7]."""
    from sandbox.audio.io import load_audio

    cfg, store, ex = ctx.cfg, ctx.require("data"), ctx.require("extract")
    test = driven_ids(store, cfg.sample.get("split", "test"))
    first = store.load(test[0])
    if cfg.audio is not None:
        audio = load_audio(cfg.audio)
        size = int(cfg.sample.source_size or first.frames.shape[1])
        src = load_source(cfg.source, size, cfg.get("source_face")) if cfg.source else np.asarray(first.frames[0])
        emotion = cfg.emotion
        if wants_auto(cfg):  # after the photo's checks: a photo without a face fails before any classifier work
            emotion = predict(ctx.require("emotion"), audio, Path(cfg.audio).name)
        return [(Path(cfg.audio).stem, src, audio, emotion, None)]
    out = []
    for cid in test if cfg.sample.n_clips is None else test[: int(cfg.sample.n_clips)]:
        clip = store.load(cid)
        real = ctx.rep.denormalize(torch.from_numpy(ex.load(cid)["motion"])).numpy()
        out.append((cid, np.asarray(clip.frames[0]), clip.audio, clip.meta.get("emotion"), real))
    return out


@torch.no_grad()
def generate_motion(rep, gen, features, source: np.ndarray, audio: np.ndarray, emotion,
                    steps=None, guidance=None, seed: int = 0) -> tuple[np.ndarray, int, float]:
    """One generator sample for (source uint8 [H, W, 3], 16 kHz audio) as the sample stage draws it:
    (un-normalised motion [T, dim], NFE, seconds). ``emotion``: a name (None: neutral) or probabilities [7]."""
    n = math.ceil(len(audio) / SAMPLES_PER_FRAME)
    src = to_tensor(source)
    cond = {
        "audio": torch.from_numpy(audio_features(features, audio, n))[None],
        "x_ref": rep.normalize(reference_motion(rep, src))[None],
        "emotion": torch.from_numpy(emotion_condition(emotion))[None],
    }
    t0 = time.perf_counter()
    res = gen.sample(cond, steps=steps, guidance=guidance, seed=seed)
    dt = time.perf_counter() - t0
    return rep.denormalize(res.motion[0].float()).numpy(), int(res.nfe), dt


@torch.no_grad()
def run(ctx: Context) -> list[Sample]:
    cfg = ctx.cfg
    gen = ctx.require("train").gen
    rep = ctx.rep
    feat = instantiate(cfg.features, "features")
    out_dir = ctx.run_dir / "samples"
    out_dir.mkdir(parents=True, exist_ok=True)
    samples = []
    for name, src, audio, emotion, real in drives(ctx):
        motion, nfe, dt = generate_motion(rep, gen, feat, src, audio, emotion, steps=cfg.sample.steps,
                                          guidance=to_dict(cfg.sample.guidance) or None, seed=int(cfg.seeds.sample))
        norm = rep.norm.zscore(torch.from_numpy(motion))
        path = out_dir / f"{name}.npz"
        extra = {"motion_norm": norm.numpy()}
        if real is not None:  # z-scored copies: comparable units across dims and representations
            extra |= {"real_motion": real, "real_motion_norm": rep.norm.zscore(torch.from_numpy(real)).numpy()}
        if emotion is not None and not isinstance(emotion, str):  # emotion=auto: the predicted probabilities
            extra["emotion_probs"], emotion = np.asarray(emotion, np.float32), AUTO
        np.savez(path, motion=motion, audio=audio, source=src, emotion=emotion or "neutral", **extra)
        samples.append(Sample(name, path, nfe, motion.shape[0] / max(dt, 1e-9)))
    (out_dir / "samples.json").write_text(json.dumps([{**s.__dict__, "npz": str(s.npz)} for s in samples], indent=1))
    return samples
