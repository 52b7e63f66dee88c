"""GoHD's latent navigable face animator (sec. 3.3, eq. 9), a learned 3dmm renderer.

    z_R = E(I_S).w                         identity latent of the source (+ E's multi-scale features)
    xi  = MLP(rho_D (+) z_R)  in R^n        rho_D = the driving frame's 3dmm motion (pose + exp + gaze),
                                            z-scored with statistics of the navigator's training motion
    eta = sum_i xi_i m_i                   m_i: learned orthonormal dictionary (QR, sandbox.nets.basis)
    I_D = dec(z_R + eta, feats(I_S))       the flow-warp decoder family shared with lia

Simplifications, stated: frame-wise driving (the paper smooths rho over a window of radius r with
max-pooling; here r = 0); reconstruction loss = the shared component-weighted L1 (GoHD B.1, mouth and
eye boxes) without the VGG perceptual and expression-network terms (no pretrained networks here).
Gaze term: GoHD trains gaze through "a simple gaze loss" it does not define; ours is an extra-weighted L1
inside the driving frame's visible irises (discs from the ground-truth iris landmarks, intersected
with the eye opening), i.e. the pixels that change when only the gaze changes. It is a pixel loss on
where the iris is drawn, not an angular gaze error.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from renderers.base import Renderer
from representations.base import Normalizer
from representations.morphable import DIM, MorphableReference
from sandbox.config import forwards_kwargs
from sandbox.data.frames import resize_square
from sandbox.data.pairs import COMPONENTS, FramePairs
from sandbox.errors import ConfigError
from sandbox.face import topology
from sandbox.nets.basis import OrthonormalBasis
from sandbox.nets.flow_warp import FlowWarpDecoder
from sandbox.nets.image_encoder import ImageEncoder
from sandbox.trainers.image_module import (
    ImageReconstructionModule,
    reconstruction_metrics,
    train_image_module,
)

NAV_COMPONENTS = COMPONENTS + ("iris",)
MOTION_FROM = ("gt", "analyser")


@dataclass
class NavigatorConfig:
    size: int = 64  # image side; GoHD 256
    latent_dim: int = 128  # d of z_R; GoHD 512
    n_directions: int = 20  # dictionary size n; GoHD 20
    ch_min: int = 16
    ch_max: int = 128
    mlp_layers: int = 3  # hidden layers of the xi MLP
    mlp_hidden: int = 256
    image_warp: bool = True  # sandbox addition: also warp the source image at the output (flow_warp docstring)


class Navigator(nn.Module):
    def __init__(self, cfg: NavigatorConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.latent_dim
        self.encoder = ImageEncoder(cfg.size, d, cfg.ch_min, cfg.ch_max)
        self.decoder = FlowWarpDecoder(cfg.size, d, cfg.ch_min, cfg.ch_max, image_warp=cfg.image_warp)
        layers: list[nn.Module] = []
        width = DIM + d
        for _ in range(cfg.mlp_layers):
            layers += [nn.Linear(width, cfg.mlp_hidden), nn.LeakyReLU(0.2)]
            width = cfg.mlp_hidden
        self.mlp = nn.Sequential(*layers, nn.Linear(width, cfg.n_directions))
        self.directions = OrthonormalBasis(d, cfg.n_directions)

    def navigate(self, z_r: torch.Tensor, rho: torch.Tensor) -> torch.Tensor:
        """eta [B, d] = sum_i xi_i m_i with xi = MLP(rho (+) z_R)."""
        return self.directions(self.mlp(torch.cat([rho, z_r], dim=-1)))

    def forward(self, source: torch.Tensor, rho: torch.Tensor) -> torch.Tensor:
        """source [B, 3, S, S] in [0, 1], rho [B, 20] normalised motion -> frames [B, 3, S, S] (unclamped)."""
        z_r, feats = self.encoder(source)
        return self.decoder(z_r + self.navigate(z_r, rho), feats, source=source)


def iris_masks(lmk2d: np.ndarray, eyes: np.ndarray, src_hw: tuple[int, int], size: int) -> np.ndarray:
    """float32 [size, size]: both iris discs (centre + mean rim radius from the 10 iris landmarks of a
    src_hw frame) inside the eye-opening mask ``eyes`` [size, size]."""
    scale = size / src_hw[1], size / src_hw[0]
    out = np.zeros((size, size), np.uint8)
    for iris in (topology.LEFT_IRIS, topology.RIGHT_IRIS):
        p = (lmk2d[iris].astype(np.float64) + 0.5) * scale - 0.5
        r = np.linalg.norm(p[1:] - p[0], axis=1).mean()
        cv2.circle(out, tuple(int(v) for v in np.round(p[0] * 16)), int(round(max(r, 0.5) * 16)), 1, -1, cv2.LINE_8, 4)
    return (out * (eyes > 0)).astype(np.float32)


class MotionPairs(Dataset):
    """FramePairs items plus "rho" (the driving frame's normalised motion [20]) and the iris mask as a
    third mask channel (masks [3, S, S]: mouth, eyes, iris)."""

    def __init__(self, pairs: FramePairs, motion: list[torch.Tensor]):
        self.pairs = pairs
        self.motion = motion

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = dict(self.pairs[i])
        ci, t = self.pairs.index[i]
        clip = self.pairs.clips[ci]
        if "lmk2d" in clip.gt:
            iris = iris_masks(clip.gt["lmk2d"][t], item["masks"][1].numpy(), clip.frames.shape[1:3], self.pairs.size)
        else:
            iris = np.zeros((self.pairs.size, self.pairs.size), np.float32)
        item["masks"] = torch.cat([item["masks"], torch.from_numpy(iris)[None]])
        item["rho"] = self.motion[ci][t]
        return item


class NavigatorRenderer(Renderer):
    name = "navigator"
    representations = ("3dmm",)
    learned = True

    @forwards_kwargs(NavigatorConfig)
    def __init__(self, rep, **cfg):
        """rep: the MorphableRepresentation (encodes the training clips); cfg: NavigatorConfig fields."""
        super().__init__()
        object.__setattr__(self, "rep", rep)  # not a sub-module: its state lives in its own checkpoint
        self.config = NavigatorConfig(**cfg)
        self.net = Navigator(self.config)
        # the navigator's own input standardisation, fitted on the motion it trains on and saved with
        # its weights: the renderer is fitted before the extract stage fits the motion normaliser, and
        # what it draws must not depend on that normaliser
        self.rho_norm = Normalizer(DIM)

    def _device(self) -> torch.device:
        return self.net.directions.weight.device

    def _resize(self, img: torch.Tensor) -> torch.Tensor:
        return resize_square(img, self.config.size, self._device())

    def _predict(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.net(batch["source"], batch["rho"])

    @torch.no_grad()
    def render(self, reference: MorphableReference, motion: torch.Tensor, batch_size: int = 16) -> torch.Tensor:
        """motion [T, 20] un-normalised -> frames [T, 3, size, size] in [0, 1]."""
        if motion.ndim != 2 or motion.shape[1] != DIM:
            raise ValueError(f"motion must be [T, {DIM}] (3dmm), got {tuple(motion.shape)}")
        self.net.eval()
        source = self._resize(reference.tensor()[None])
        z_r, feats = self.net.encoder(source)
        rho = self.rho_norm.normalize(motion.to(self._device(), torch.float32))
        out = []
        for i in range(0, len(rho), batch_size):
            r = rho[i : i + batch_size]
            z = z_r.expand(len(r), -1)
            f = [x.expand(len(r), -1, -1, -1) for x in feats]
            src = source.expand(len(r), -1, -1, -1)
            out.append(self.net.decoder(z + self.net.navigate(z, r), f, source=src).clamp(0, 1).cpu())
        s = self.config.size
        return torch.cat(out) if out else torch.zeros(0, 3, s, s)

    # -- learning ------------------------------------------------------------------------------------
    def _dataset(self, data, split: str, motion_from: str, fixed: bool, seed: int) -> MotionPairs:
        if motion_from not in MOTION_FROM:
            raise ConfigError(f"motion_from must be one of {MOTION_FROM}, got {motion_from!r}")
        pairs = FramePairs(data, split, self.config.size, fixed=fixed, seed=seed)
        motion = [self.rep.encode_clip(clip, source=motion_from) for clip in pairs.clips]
        if not bool(self.rho_norm.fitted):
            self.rho_norm.fit(torch.cat(motion))
        return MotionPairs(pairs, [self.rho_norm.normalize(m) for m in motion])

    def fit(
        self,
        data,
        rep=None,
        steps: int = 2000,
        batch_size: int = 8,
        lr: float = 1e-4,
        weights: dict[str, float] | None = None,
        motion_from: str = "gt",
        run_dir: str | Path | None = None,
        num_workers: int = 0,
        val_pairs: int = 64,
        seed: int = 0,
        **trainer_kwargs,
    ) -> dict[str, float]:
        """Train on (source, driving) pairs of the train clips, driving motion from the ground truth
        (``motion_from="gt"``) or the analyser. Loss: L1 + weight x masked L1 per component (mouth,
        eyes, iris; defaults 1, 1, 2). ``trainer_kwargs`` go to make_trainer. GoHD used Adam lr 1e-4."""
        from sandbox.trainers.factory import seed_everything

        if rep is not None and rep is not self.rep:
            object.__setattr__(self, "rep", rep)
        seed_everything(seed)
        weights = {"mouth": 1.0, "eyes": 1.0, "iris": 2.0, **(weights or {})}
        unknown = set(weights) - set(NAV_COMPONENTS)
        if unknown:
            raise ConfigError(f"unknown loss components {sorted(unknown)}; available: {NAV_COMPONENTS}")
        dataset = self._dataset(data, "train", motion_from, fixed=False, seed=seed)
        module = ImageReconstructionModule(self.net, self._predict, lr, weights, NAV_COMPONENTS)
        metrics = train_image_module(module, dataset, steps, batch_size, run_dir, num_workers, **trainer_kwargs)
        if val_pairs > 0 and data.splits.get("val"):
            val = self.evaluate(data, "val", val_pairs, motion_from=motion_from)
            metrics.update({f"val_{k}": v for k, v in val.items()})
        return metrics

    @torch.no_grad()
    def evaluate(self, data, split: str = "val", max_pairs: int = 64, batch_size: int = 16,
                 motion_from: str = "gt") -> dict[str, float]:  # fmt: skip
        """Same-identity reconstruction of fixed (source, driving) pairs: L1, PSNR (dB), SSIM."""
        self.net.eval()
        dataset = self._dataset(data, split, motion_from, fixed=True, seed=0)
        return reconstruction_metrics(self._predict, dataset, max_pairs, batch_size, self._device())

    # -- checkpoints ----------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """One file: config + the navigator's weights (the representation saves its own normaliser)."""
        torch.save({"config": asdict(self.config), "state_dict": self.state_dict()}, path)

    @classmethod
    def load(cls, path: str | Path, rep, map_location: str | torch.device = "cpu") -> "NavigatorRenderer":
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
        out = cls(rep, **ckpt["config"])
        out.load_state_dict(ckpt["state_dict"])
        return out.eval()
