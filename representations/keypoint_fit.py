"""Training the implicit-keypoint auto-encoder (extractor + warp networks) on (source, driving) frame pairs
of one clip, as face-vid2vid / LivePortrait train theirs.

Each pair: the extractor reads both frames; the keypoints of both use the SOURCE's canonical keypoints
x_c (LivePortrait), x = s (x_c R + delta) + [t_x, t_y, 0]; the warp networks draw the driving frame from
the source's appearance volume moved by (x_s, x_d).

What is LivePortrait's / face-vid2vid's:
  * equivariance: keypoints found in an affinely warped driving frame map back onto the frame's own;
  * keypoint prior (pairwise separation, mean depth) and deformation prior |delta|_1;
  * head pose supervision (they use a pretrained HopeNet), soft-label cross-entropy over the 66 bins;
  * a Wing landmark guide tying named keypoints (representations.keypoint.GUIDE_LANDMARKS: eyes, brows,
    mouth corners and inner lips) to the face's landmarks.
What the sandbox adds, because it has ground truth and no pretrained networks:
  * the head pose target is the synthetic world's true pose (not HopeNet's estimate), plus an L1 in
    degrees; the landmarks are the world's true mesh landmarks;
  * optionally (``motion_readout``) a training-only linear readout from the expression change
    delta_d - delta_s to the world's 3dmm motion difference, as rep=lia's: without it the extractor's
    delta barely follows the jaw (a linear read of the jaw from delta, fitted on train clips, correlates
    0.49-0.63 with the jaw of held-out clips after 400 extractor-only steps, 0.80-0.81 with it);
  * the image loss is an L1 pyramid + the component-weighted L1 on the mouth and eyes (the masks of the
    true landmarks) instead of VGG perceptual and GAN losses (no VGG weights here).
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from representations.keypoint import GUIDE_LANDMARKS
from sandbox.data.pairs import COMPONENTS, FramePairs
from sandbox.geometry.rotation import matrix_to_angles, rotvec_to_matrix_torch
from sandbox.losses.keypoint import (
    equivariance_loss,
    keypoint_prior,
    pyramid_l1,
    random_affine,
    warp_affine,
    wing_loss,
)
from sandbox.losses.motion import masked_mean
from sandbox.nets.keypoint_extractor import bins_to_degrees, degrees_to_soft_bins
from sandbox.trainers.image_module import (
    ImageReconstructionModule,
    reconstruction_metrics,
    train_image_module,
)

ANGLES = ("pitch", "yaw", "roll")


def pose_degrees(pose: torch.Tensor) -> torch.Tensor:
    """The world's head pose [..., 6] (rotation vector, radians, acting on column vectors in the OpenCV
    camera frame: x right, y down, z away) -> (pitch, yaw, roll) [..., 3] in degrees in the keypoint
    space's convention (same axes, row vectors: R_kp = R_cv^T)."""
    R = rotvec_to_matrix_torch(pose[..., :3].float()).transpose(-1, -2)
    return torch.stack(matrix_to_angles(R), -1)


def pose_loss(out: dict[str, torch.Tensor], target_deg: torch.Tensor, valid: torch.Tensor,
              sigma: float = 3.0) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """(soft-bin cross-entropy, L1 in degrees) of the extractor's angle logits against the true angles
    [B, 3], averaged over the samples with ``valid`` [B]."""
    ce, deg = [], []
    for i, name in enumerate(ANGLES):
        logits = out[name]
        soft = degrees_to_soft_bins(target_deg[:, i], sigma)
        ce.append(-(soft * F.log_softmax(logits, -1)).sum(-1))
        deg.append((bins_to_degrees(logits) - target_deg[:, i]).abs())
    return masked_mean(torch.stack(ce, -1).mean(-1), valid), masked_mean(torch.stack(deg, -1).mean(-1), valid)


class KeypointObjective(nn.Module):
    """The model the shared image trainer optimises: predict(batch) -> {"image", "extra_losses"}."""

    def __init__(self, rep, weights: dict[str, float], pyramid_levels: int, kp_depth: float, kp_margin: float,
                 equivariance_affine: dict[str, float], readout_dim: int = 0, readout_gain: float = 50.0):  # fmt: skip
        super().__init__()
        # training-only (not part of rep): delta_d - delta_s -> 3dmm motion difference; the gain brings
        # delta's ~0.02 grid-frame changes to unit scale, so Adam at the fit's lr can fit the readout
        self.readout = nn.Linear(rep.parts["exp"].stop, readout_dim) if readout_dim else None
        self.readout_gain = readout_gain
        object.__setattr__(self, "rep", rep)  # its parameters are registered through the two nets below
        self.extractor, self.warp = rep.extractor, rep.warp
        self.weights, self.levels, self.kp_depth, self.kp_margin = dict(weights), pyramid_levels, kp_depth, kp_margin
        self.affine = dict(equivariance_affine)
        self.guide_kp = list(GUIDE_LANDMARKS)
        self.guide_lmk = list(GUIDE_LANDMARKS.values())

    def pair_keypoints(self, out: dict[str, torch.Tensor], motion: torch.Tensor, b: int):
        """(x_s, x_d) of an extractor pass whose first b items are sources and next b drivings, both
        from the SOURCE's canonical keypoints (LivePortrait)."""
        x_c = out["kp"][:b]
        return self.rep.keypoints(x_c, motion[:b]), self.rep.keypoints(x_c, motion[b : 2 * b])

    def draw(self, source: torch.Tensor, driving: torch.Tensor) -> torch.Tensor:
        """The driving frame drawn from the source (no auxiliary terms): reconstruction metrics."""
        out = self.extractor(torch.cat([source, driving]))
        x_s, x_d = self.pair_keypoints(out, self.rep._motion_from(out), source.shape[0])
        return self.warp(self.warp.appearance(source), x_s, x_d)["image"]

    def forward(self, batch: dict[str, torch.Tensor]) -> dict:
        src, drv = batch["source"], batch["driving"]
        b, w = src.shape[0], self.weights
        theta = random_affine(b, **self.affine, device=src.device)
        out = self.extractor(torch.cat([src, drv, warp_affine(drv, theta)]))
        motion = self.rep._motion_from(out)
        x_s, x_d = self.pair_keypoints(out, motion, b)
        image = self.warp(self.warp.appearance(src), x_s, x_d)["image"]
        own_d = self.rep.keypoints(out["kp"][b : 2 * b], motion[b : 2 * b])
        own_w = self.rep.keypoints(out["kp"][2 * b :], motion[2 * b :])
        extra = {
            "pyramid": (w["pyramid"], pyramid_l1(image, drv, self.levels)),
            "equivariance": (w["equivariance"], equivariance_loss(own_d, own_w, theta)),
            "kp_prior": (w["kp_prior"], keypoint_prior(x_d, self.kp_margin, self.kp_depth)),
            "deformation": (w["deformation"], out["exp"][: 2 * b].abs().mean()),
        }
        if "pose" in batch:
            valid = batch["has_motion"]
            target = pose_degrees(batch["pose"]).flatten(0, 1)  # [(source, driving) x B, 3] order below
            two = {k: torch.stack([out[k][:b], out[k][b : 2 * b]], 1).flatten(0, 1) for k in ANGLES}
            ce, deg = pose_loss(two, target, valid.repeat_interleave(2))
            extra["pose_ce"], extra["pose_deg"] = (w["pose_ce"], ce), (w["pose_deg"], deg)
        if "lmk_driving" in batch:
            guide = [wing_loss(x[:, self.guide_kp, :2], batch[key][:, self.guide_lmk], valid=batch["has_lmk"])
                     for x, key in ((x_s, "lmk_source"), (x_d, "lmk_driving"))]  # fmt: skip
            extra["guide"] = (w["guide"], (guide[0] + guide[1]) / 2)
        result = {"image": image, "extra_losses": extra}
        if self.readout is not None:
            delta = (out["exp"][b : 2 * b] - out["exp"][:b]).flatten(1)
            result["motion_readout"] = self.readout(self.readout_gain * delta)
        return result


DEFAULT_WEIGHTS = {"pyramid": 1.0, "equivariance": 10.0, "kp_prior": 10.0, "deformation": 5.0,
                   "pose_ce": 1.0, "pose_deg": 0.01, "guide": 10.0}  # fmt: skip


def fit_keypoint(rep, data, steps: int, batch_size: int, lr: float, weights: dict[str, float] | None,
                 loss_weights: dict[str, float] | None, pyramid_levels: int, kp_depth: float, kp_margin: float,
                 equivariance_affine: dict[str, float] | None, run_dir: str | Path | None, num_workers: int,
                 val_pairs: int, seed: int, motion_readout: float = 0.0, readout_gain: float = 50.0,
                 **trainer_kwargs) -> dict[str, float]:  # fmt: skip
    """Train ``rep``'s extractor and warp networks (see the module docstring); set rep.x_c_mean to the
    mean canonical keypoints of the training frames; return train loss + val reconstruction metrics."""
    from sandbox.errors import ConfigError
    from sandbox.trainers.factory import seed_everything

    seed_everything(seed)
    unknown = set(loss_weights or {}) - set(DEFAULT_WEIGHTS)
    if unknown:
        raise ConfigError(f"unknown keypoint loss terms {sorted(unknown)}; terms: {sorted(DEFAULT_WEIGHTS)}")
    pairs = FramePairs(data, "train", rep.config.size, seed=seed)
    readout_dim = pairs.motion_dim if motion_readout > 0 else 0
    objective = KeypointObjective(rep, {**DEFAULT_WEIGHTS, **(loss_weights or {})}, pyramid_levels, kp_depth,
                                  kp_margin, equivariance_affine or {}, readout_dim, readout_gain)  # fmt: skip
    module = ImageReconstructionModule(objective, objective, lr, {"mouth": 1.0, "eyes": 1.0, **(weights or {})},
                                       COMPONENTS, motion_readout=motion_readout)  # fmt: skip
    metrics = train_image_module(module, pairs, steps, batch_size, run_dir, num_workers, **trainer_kwargs)
    rep.x_c_mean.copy_(mean_canonical(rep, pairs))
    if val_pairs > 0 and data.splits.get("val"):
        metrics.update({f"val_{k}": v for k, v in evaluate(rep, data, "val", val_pairs).items()})
    return metrics


@torch.no_grad()
def mean_canonical(rep, pairs: FramePairs, n: int = 256) -> torch.Tensor:
    idx = torch.linspace(0, len(pairs) - 1, min(n, len(pairs))).round().long()
    frames = torch.stack([pairs[int(i)]["driving"] for i in idx])
    rep.extractor.eval()
    return torch.cat([rep.extractor(frames[i : i + 32])["kp"] for i in range(0, len(frames), 32)]).mean(0)


@torch.no_grad()
def evaluate(rep, data, split: str = "val", max_pairs: int = 64, batch_size: int = 16) -> dict[str, float]:
    """Same-identity reconstruction of fixed (source, driving) pairs: L1, PSNR (dB), SSIM."""
    pairs = FramePairs(data, split, rep.config.size, fixed=True)
    objective = KeypointObjective(rep, DEFAULT_WEIGHTS, 1, 0.0, 0.0, {})
    objective.eval()
    device = rep.x_c_mean.device
    return reconstruction_metrics(lambda b: objective.draw(b["source"], b["driving"]), pairs, max_pairs,
                                  batch_size, device)  # fmt: skip
