"""On-disk clip format shared by the synthetic world and real-video import.

A dataset directory holds ``index.json`` ({"splits": {"train": [...], "val": [...], "test": [...]},
"meta": {...}}) and one directory per clip::

    <root>/<clip_id>/frames.npy   uint8 [T, H, W, 3] RGB, 25 fps
    <root>/<clip_id>/audio.wav    16 kHz mono PCM16, length ~= T * 640 samples
    <root>/<clip_id>/gt.npz       per-frame ground truth (keys below; absent keys = unknown)
    <root>/<clip_id>/meta.json    emotion, voice, identity, text, seed, ...

``gt.npz`` keys written by the synthetic world (real video writes the analyser's estimates):
    pose        float32 [T, 6]      rotation vector (3, radians) + translation (3, camera space)
    exp         float32 [T, E]      expression blendshape coefficients
    gaze        float32 [T, 2]      (pitch, yaw) radians
    id_coeff    float32 [n_id]      identity-shape coefficients (constant per clip)
    lmk3d       float32 [T, 478, 3] camera-space landmarks
    lmk2d       float32 [T, 478, 2] pixel coordinates in the frame
    visemes     int16   [T]         viseme id per frame (see sandbox.face.visemes)
    mouth       float32 [T, 3]      mouth targets (jaw open, lip width, lip closure) in [0, 1]

Clips are written atomically: into ``<clip_id>.tmp`` then renamed, so an interrupted build never
leaves a half-written clip that looks complete.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sandbox.audio.io import load_audio, save_wav
from sandbox.constants import FPS, SAMPLE_RATE

SPLITS = ("train", "val", "test")


@dataclass
class Clip:
    clip_id: str
    frames: np.ndarray  # uint8 [T, H, W, 3]
    audio: np.ndarray  # float32 [N] at 16 kHz
    gt: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def duration(self) -> float:
        return self.num_frames / FPS


def write_clip(root: Path, clip: Clip) -> Path:
    """Write one clip atomically; returns its directory."""
    root = Path(root)
    final = root / clip.clip_id
    tmp = root / f"{clip.clip_id}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    np.save(tmp / "frames.npy", np.ascontiguousarray(clip.frames, dtype=np.uint8))
    save_wav(tmp / "audio.wav", clip.audio, SAMPLE_RATE)
    np.savez(tmp / "gt.npz", **clip.gt)
    (tmp / "meta.json").write_text(json.dumps(clip.meta, indent=1, default=_json_default))
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    return final


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")


class ClipStore:
    """Read access to a dataset directory written by :func:`write_clip` + ``index.json``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        index = self.root / "index.json"
        if not index.exists():
            raise FileNotFoundError(
                f"{index} not found: build a dataset first, e.g. `python -m sandbox.world.dataset --out {self.root}`"
            )
        self.index = json.loads(index.read_text())
        self.splits: dict[str, list[str]] = self.index["splits"]
        self.meta: dict = self.index.get("meta", {})

    def ids(self, split: str) -> list[str]:
        if split not in self.splits:
            raise KeyError(f"unknown split {split!r}; available: {sorted(self.splits)}")
        return list(self.splits[split])

    def load(self, clip_id: str, frames: bool = True, mmap: bool = True) -> Clip:
        d = self.root / clip_id
        fr = np.load(d / "frames.npy", mmap_mode="r" if mmap else None) if frames else np.zeros((0,), np.uint8)
        audio = load_audio(d / "audio.wav")
        with np.load(d / "gt.npz") as z:
            gt = {k: z[k] for k in z.files}
        meta = json.loads((d / "meta.json").read_text())
        return Clip(clip_id=clip_id, frames=fr, audio=audio, gt=gt, meta=meta)

    def clips(self, split: str, frames: bool = True):
        for cid in self.ids(split):
            yield self.load(cid, frames=frames)


def write_index(root: Path, splits: dict[str, list[str]], meta: dict) -> None:
    root = Path(root)
    tmp = root / "index.json.tmp"
    tmp.write_text(json.dumps({"splits": splits, "meta": meta}, indent=1, default=_json_default))
    tmp.rename(root / "index.json")
