"""Stage 6, render: the representation's renderer draws each sample; mp4 with the audio muxed in."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from tqdm import tqdm

from sandbox.data.frames import to_tensor, to_uint8
from sandbox.errors import ConfigError
from sandbox.pipeline.context import Context, progress_disabled
from sandbox.video import write_mp4


@dataclass
class Rendered:
    name: str
    mp4: Path
    frames_per_s: float


def check(cfg: DictConfig) -> None:
    """Preflight: a usable batch size (the renderer itself was checked with the fit stage)."""
    if int(cfg.render.batch_size) < 1:
        raise ConfigError(f"render.batch_size={cfg.render.batch_size} must be at least 1.")


@torch.no_grad()
def render_motion(rep, renderer, source: np.ndarray, motion: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """uint8 frames [T, H, W, 3] of un-normalised ``motion`` [T, dim] drawn from ``source``."""
    ref = rep.reference(to_tensor(source))
    frames = renderer.render(ref, torch.as_tensor(np.asarray(motion), dtype=torch.float32), batch_size=batch_size)
    return to_uint8(frames)


@torch.no_grad()
def run(ctx: Context) -> list[Rendered]:
    samples = ctx.require("sample")
    renderer = ctx.require("fit").renderer
    out = []
    for s in tqdm(samples, desc="render", unit="clip", disable=progress_disabled()):
        with np.load(s.npz) as z:
            motion, audio, source = torch.from_numpy(z["motion"]), z["audio"], z["source"]
        t0 = time.perf_counter()
        frames = render_motion(ctx.rep, renderer, source, motion, batch_size=int(ctx.cfg.render.batch_size))
        dt = time.perf_counter() - t0
        mp4 = write_mp4(s.npz.with_suffix(".mp4"), frames, audio)
        out.append(Rendered(s.name, mp4, frames.shape[0] / max(dt, 1e-9)))
    return out
