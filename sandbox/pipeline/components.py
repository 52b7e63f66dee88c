"""Building the selected components from the composed config (strictly: see sandbox.config)."""
from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig

from sandbox.config import instantiate, locate


def build_rep(cfg: DictConfig):
    return instantiate(cfg.rep, "rep")


def build_renderer(cfg: DictConfig, rep):
    return instantiate(cfg.renderer, "renderer", offered={"rep": rep})


def build_gen(cfg: DictConfig, dim: int, audio_dim: int, rep):
    return instantiate(cfg.gen, "gen", offered={"dim": dim, "audio_dim": audio_dim, "rep": rep})


def renderer_learned(cfg: DictConfig) -> bool:
    return bool(getattr(locate(str(cfg.renderer._target_)), "learned", False))


def save_state(module: torch.nn.Module, path: Path) -> None:
    torch.save(module.state_dict(), path)


def load_state(module: torch.nn.Module, path: Path) -> None:
    module.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))


def frames_to_tensor(frames) -> torch.Tensor:
    """uint8 [T, H, W, 3] (possibly a read-only memmap: copied) -> float [T, 3, H, W] in [0, 1]."""
    import numpy as np

    return torch.from_numpy(np.array(frames, dtype=np.uint8)).permute(0, 3, 1, 2).float().div_(255.0)


def tensor_to_frames(frames: torch.Tensor):
    """float [T, 3, H, W] in [0, 1] -> uint8 [T, H, W, 3]."""
    return (frames.detach().float().clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


@torch.no_grad()
def reference_motion(rep, source: torch.Tensor) -> torch.Tensor:
    """x_ref [dim] (un-normalised) for a source frame [3, H, W]: the rep's own reference motion where it
    defines one, else the encoding of the source frame."""
    try:
        return rep.reference_motion(rep.reference(source)).reshape(-1).float().cpu()
    except NotImplementedError:
        return rep.encode(source[None])[0].float().cpu()
