"""Stage 3, extract: encode every clip to motion [T, dim], fit the normaliser on the train split,
compute per-frame audio features; one ``clips/<id>.npz`` per clip (motion stored normalised).

This stage is the normaliser's one owner: it sees every training frame, saves the statistics to
``normalizer.pt`` in its artifact, and every later stage (and a reopened run) reads them from there."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from scipy.ndimage import gaussian_filter1d
from tqdm import tqdm

from sandbox.config import check_instantiable, instantiate
from sandbox.constants import EMOTIONS
from sandbox.errors import ConfigError
from sandbox.pipeline.cache import content_hash
from sandbox.pipeline.components import load_state, save_state
from sandbox.pipeline.context import Context, progress_disabled
from sandbox.pipeline.fit import fit_ignored

NORMALIZER = "normalizer.pt"  # the motion normaliser's statistics (Normalizer state dict)
MARGINALS = ("zscore", "gaussian")  # extract.marginals


@dataclass
class Extracted:
    path: Path
    splits: dict[str, list[str]]
    dim: int
    audio_dim: int

    def load(self, clip_id: str) -> dict[str, np.ndarray]:
        with np.load(self.path / "clips" / f"{clip_id}.npz") as z:
            return {k: z[k] for k in z.files}

    def split(self, name: str) -> list[dict[str, np.ndarray]]:
        return [self.load(c) for c in self.splits.get(name, [])]


def emotion_onehot(name: str | None) -> np.ndarray:
    e = np.zeros(len(EMOTIONS), np.float32)
    e[EMOTIONS.index(name if name in EMOTIONS else "neutral")] = 1.0
    return e


def emotion_condition(emotion) -> np.ndarray:
    """The generator's emotion condition float32 [7]: a name -> its one-hot (None -> neutral), or
    probabilities over EMOTIONS (emotion=auto's prediction, FLOAT's condition) -> checked, renormalised."""
    if emotion is None or isinstance(emotion, str):
        if emotion is not None and emotion not in EMOTIONS:
            raise ConfigError(f"emotion={emotion} is not one of {', '.join(EMOTIONS)} (emotion=auto is predicted from "
                              "the audio before it reaches the generator).")
        return emotion_onehot(emotion)
    p = np.asarray(emotion, np.float32).reshape(-1)
    if p.shape != (len(EMOTIONS),) or not np.isfinite(p).all() or (p < 0).any() or p.sum() <= 0:
        raise ConfigError(f"an emotion distribution is {len(EMOTIONS)} non-negative probabilities ({', '.join(EMOTIONS)}); "
                          f"got {np.asarray(emotion).tolist()}.")
    return p / p.sum()


def audio_features(fn, audio: np.ndarray, n_frames: int) -> np.ndarray:
    a = fn(audio, n_frames)
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    if a.ndim != 2 or a.shape[0] != n_frames:
        raise ValueError(f"features must return [T={n_frames}, d_a]; got {a.shape}")
    return a.astype(np.float32)


def smooth_motion(motion: np.ndarray, sigma: float) -> np.ndarray:
    """[T, dim] -> the same under a Gaussian over time of std ``sigma`` frames (0: unchanged). The encoders
    see each frame alone (the face analyser's model fit, lia's and keypoint's encoders), so what they add
    to the motion is independent from frame to frame; a weighted mean of neighbours keeps every bounded
    coefficient in its bounds."""
    if sigma <= 0 or len(motion) < 2:
        return motion
    return gaussian_filter1d(motion, sigma, axis=0, mode="nearest")


def check(cfg: DictConfig) -> None:
    """Preflight: the audio features' keys; the motion smoothing is a std."""
    check_instantiable(cfg.features, "features")
    sigma = cfg.extract.get("smooth", 0.0)
    if not isinstance(sigma, (int, float)) or isinstance(sigma, bool) or sigma < 0:
        raise ConfigError(f"extract.smooth is a std in frames (0: no smoothing), got {sigma!r}.")
    if cfg.extract.get("marginals", "zscore") not in MARGINALS:
        raise ConfigError(f"extract.marginals={cfg.extract.marginals!r}: choose one of {', '.join(MARGINALS)}.")


def run(ctx: Context) -> Extracted:
    cfg = ctx.cfg
    store = ctx.require("data")
    ctx.require("fit")
    ignored = {k: cfg.rep.get(k) for k in fit_ignored(cfg)}  # the fit's key left them out: this stage uses them
    settings = {k: v for k, v in cfg.extract.items() if not (k == "marginals" and v == "zscore")}  # keys as before it
    key = content_hash("extract", ctx.hashes["fit"], cfg.features, settings, ctx.code(cfg.features._target_),
                       *([ignored] if ignored else []))

    def build(work: Path) -> dict:
        rep, feat = ctx.rep, instantiate(cfg.features, "features")
        raw: dict[str, dict[str, np.ndarray]] = {}
        ids = [(s, c) for s in store.splits for c in store.ids(s)]
        sigma = float(cfg.extract.smooth)
        for split, cid in tqdm(ids, desc="extract", unit="clip", disable=progress_disabled()):
            clip = store.load(cid)
            motion = smooth_motion(rep.encode_clip(clip, batch_size=int(cfg.extract.batch_size)).numpy(), sigma)
            raw[cid] = {
                "motion": motion,
                "x_ref": motion[0],  # the clip's first frame is its source image
                "audio": audio_features(feat, clip.audio, clip.num_frames),
                "emotion": emotion_onehot(clip.meta.get("emotion")),
            }
        train = [raw[c]["motion"] for c in store.ids("train")]
        frames = torch.from_numpy(np.concatenate(train))
        rep.norm.fit(frames)
        if cfg.extract.get("marginals", "zscore") == "gaussian":
            rep.norm.fit_gaussian(frames)
        (work / "clips").mkdir()
        for cid, r in raw.items():
            r = dict(r, motion=rep.normalize(torch.from_numpy(r["motion"])).numpy(),
                     x_ref=rep.normalize(torch.from_numpy(r["x_ref"])).numpy())
            np.savez(work / "clips" / f"{cid}.npz", **r)
        save_state(rep.norm, work / NORMALIZER)
        some = next(iter(raw.values()))
        index = {"splits": store.splits, "dim": int(some["motion"].shape[1]), "audio_dim": int(some["audio"].shape[1])}
        (work / "index.json").write_text(json.dumps(index, indent=1))
        return {"n_clips": len(raw), "train_frames": int(sum(len(m) for m in train))}

    art = ctx.build("extract", key, build)
    ctx.hashes["extract"], ctx.artifacts["extract"] = key, art
    return load(art, ctx.rep)


def load(art: Path, rep) -> Extracted:
    """The extracted clips of an artifact directory; puts its normaliser statistics into ``rep``."""
    load_state(rep.norm, art / NORMALIZER)
    index = json.loads((art / "index.json").read_text())
    return Extracted(art, index["splits"], index["dim"], index["audio_dim"])
