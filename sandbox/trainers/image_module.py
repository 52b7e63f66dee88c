"""The shared Lightning loop for image auto-encoders trained on (source, driving) frame pairs.

Used by the lia auto-encoder and GoHD's navigator: a model predicts the driving frame from a batch,
the loss is the component-weighted L1 (GoHD B.1 / FLOAT A.2: global L1 + weight x L1 averaged inside
each component mask), and every term is logged. Also the shared reconstruction metrics (L1, PSNR, SSIM).
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from sandbox.losses.image import (
    landmark_flow_loss,
    landmark_l1,
    masked_component_l1,
    masked_l1,
)
from sandbox.losses.motion import masked_mean

# batch -> predicted driving frames, or a dict with "image" and optionally, for landmark supervision,
# "flows" ([(flow, mask)] per decoder scale) and "displacement" ([B, N, 2] predicted landmark motion), and
# "extra_losses" ({name: (weight, scalar)}: the model's own terms, added with their weights and logged)
Predict = Callable[[dict[str, torch.Tensor]], "torch.Tensor | dict"]


def component_weighted_l1(
    pred: torch.Tensor,
    target: torch.Tensor,
    masks: torch.Tensor,
    weights: dict[str, float],
    components: Sequence[str],
) -> dict[str, torch.Tensor]:
    """Loss + logged terms. masks [B, len(components), H, W] in ``components`` order; a component
    missing from ``weights`` gets weight 0 (logged, not trained on)."""
    per = {name: masks[:, i : i + 1] for i, name in enumerate(components)}
    terms = {"l1": (pred - target).abs().mean()}
    terms.update({f"l1_{n}": masked_l1(pred.detach(), target, m) for n, m in per.items()})
    terms["loss"] = masked_component_l1(pred, target, {n: (m, weights.get(n, 0.0)) for n, m in per.items()})
    return terms


class ImageReconstructionModule(L.LightningModule):
    """Trains ``model`` (whose parameters are optimised) to reconstruct batch["driving"] via ``predict``."""

    def __init__(self, model: nn.Module, predict: Predict, lr: float, weights: dict[str, float],
                 components: Sequence[str], betas: tuple[float, float] = (0.5, 0.99),
                 landmark_flow: float = 0.0, nonrigid: float = 0.0, flow_min_size: int = 0,
                 flow_nonrigid: float = 0.0, motion_readout: float = 0.0, lr_schedule: str = "constant",
                 warmup_steps: int = 0, flow_eyes: float = 0.0, eye_mask: float = 0.0, decay_steps: int = 0):  # fmt: skip
        """landmark_flow > 0: also supervise the decoder's warp fields with corresponding landmarks
        (sandbox.losses.image.landmark_flow_loss, averaged over the scales of at least ``flow_min_size``
        pixels, ``flow_nonrigid`` more weight on the non-rigid part of their errors, each eye-contour
        landmark's errors ``flow_eyes`` more than the others') where the pairs have them;
        ``motion_readout`` > 0 adds that much squared error of out["motion_readout"] against
        batch["motion_delta"] (pairs with has_motion);
        ``nonrigid`` adds that much of the probe errors' non-rigid part (sandbox.losses.image.landmark_l1;
        not on the warp fields: there it swamped the fit, coarse scales cannot bend around the lips).
        ``eye_mask`` > 0 adds that much of out["image_mask"]'s mean inside the eyes (the "eyes" component's
        mask) on the pairs with batch["eyes_closed"], so closed lids are synthesised rather than copied.
        ``lr_schedule`` / ``warmup_steps`` / ``decay_steps``: :func:`sandbox.trainers.factory.with_lr_schedule`
        over the trainer's max_steps."""
        from sandbox.trainers.factory import check_lr_schedule

        check_lr_schedule(lr_schedule, warmup_steps, "fit.rep", decay_steps)
        super().__init__()
        self.lr_schedule, self.warmup_steps, self.decay_steps = lr_schedule, int(warmup_steps), int(decay_steps)
        self.landmark_flow = landmark_flow
        self.nonrigid = nonrigid
        self.flow_min_size = flow_min_size
        self.flow_nonrigid = flow_nonrigid
        # a buffer (not saved) so the weights follow the module to its device once, not per step
        self.register_buffer("flow_weights", eye_point_weights(flow_eyes) if flow_eyes else None, persistent=False)
        self.motion_readout = motion_readout
        self.eye_mask = eye_mask
        self.model = model
        self.predict = predict
        self.lr = lr
        self.betas = betas
        self.weights = dict(weights)
        self.components = tuple(components)
        self.history: list[float] = []  # per-step total loss, for the fit() metrics
        self.resumed_from_step: int | None = None  # global step of the checkpoint a fit resumed from

    def training_step(self, batch, batch_idx):
        out = self.predict(batch)
        pred = out["image"] if isinstance(out, dict) else out
        terms = component_weighted_l1(pred, batch["driving"], batch["masks"], self.weights, self.components)
        if isinstance(out, dict) and self.landmark_flow > 0 and "lmk_driving" in batch:
            lmk_d, lmk_s, valid = batch["lmk_driving"], batch["lmk_source"], batch["has_lmk"]
            flows = [f for f, _ in out["flows"] if f.shape[-1] >= self.flow_min_size]
            terms["flow"] = torch.stack([
                landmark_flow_loss(f, lmk_d, lmk_s, valid, self.flow_nonrigid, self.flow_weights) for f in flows
            ]).mean()
            terms["loss"] = terms["loss"] + self.landmark_flow * terms["flow"]
            if "displacement" in out:
                terms["probe"] = landmark_l1(out["displacement"] - (lmk_d - lmk_s), lmk_s, valid, self.nonrigid)
                terms["loss"] = terms["loss"] + self.landmark_flow * terms["probe"]
        if isinstance(out, dict) and self.motion_readout > 0 and "motion_readout" in out:
            # squared error: a jaw that is shut in most pairs is not worth learning to an L1 (median) fit
            per = (out["motion_readout"] - batch["motion_delta"]).pow(2).mean(1)
            terms["readout"] = masked_mean(per, batch["has_motion"])
            terms["loss"] = terms["loss"] + self.motion_readout * terms["readout"]
        if isinstance(out, dict) and self.eye_mask > 0 and "image_mask" in out and "eyes_closed" in batch:
            eyes = batch["masks"][:, self.components.index("eyes")].unsqueeze(1)
            per = (out["image_mask"] * eyes).sum((1, 2, 3)) / eyes.sum((1, 2, 3)).clamp_min(1.0)
            terms["eye_mask"] = masked_mean(per, batch["eyes_closed"] > 0)
            terms["loss"] = terms["loss"] + self.eye_mask * terms["eye_mask"]
        if isinstance(out, dict):  # a model's own weighted terms (e.g. the keypoint auto-encoder's priors)
            for name, (weight, value) in out.get("extra_losses", {}).items():
                terms[name] = value
                terms["loss"] = terms["loss"] + weight * value
        self.log_dict({f"train/{k}": v.detach() for k, v in terms.items()}, prog_bar=False)
        self.history.append(float(terms["loss"].detach()))
        return terms["loss"]

    def configure_optimizers(self):
        from sandbox.trainers.factory import adam, with_lr_schedule

        opt = adam(self.model.parameters(), self.lr, self, betas=self.betas)
        return with_lr_schedule(opt, self.lr_schedule, self.warmup_steps, self, self.decay_steps)

    # the loss history travels with the checkpoint so a resumed fit reports the whole run's losses
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["loss_history"] = list(self.history)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.history = list(checkpoint.get("loss_history", []))
        self.resumed_from_step = int(checkpoint.get("global_step", 0))


def eye_point_weights(extra: float) -> torch.Tensor:
    """Per-landmark weights [478] of the face mesh: 1 + ``extra`` on both eyes' contours, 1 elsewhere."""
    from sandbox.face.topology import N_LANDMARKS, contours

    c = contours()
    w = torch.ones(N_LANDMARKS)
    w[np.r_[c["left_eye"], c["right_eye"]]] += float(extra)
    return w


def train_image_module(
    module: ImageReconstructionModule,
    dataset: Dataset,
    steps: int,
    batch_size: int,
    run_dir: str | Path | None = None,
    num_workers: int = 0,
    resume: bool = True,
    sampler: Sampler | None = None,
    **trainer_kwargs,
) -> dict[str, float]:
    """Run ``steps`` optimiser steps through make_trainer (CSV/TensorBoard logs + last.ckpt in
    ``run_dir``, a temporary directory when None); returns first/final loss and the step count.
    ``resume``: continue from ``run_dir/checkpoints/last.ckpt`` when there is one (an interrupted
    fit), up to the same ``steps`` in all; the metrics then carry ``resumed_from_step``. ``sampler``: draws
    the items (instead of shuffling them alike)."""
    from sandbox.trainers.factory import keep_logs, make_trainer

    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        drop_last=len(dataset) >= batch_size,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )
    last = Path(run_dir) / "checkpoints" / "last.ckpt" if run_dir is not None else None
    ckpt = str(last) if resume and last is not None and last.is_file() else None
    if ckpt is not None:
        keep_logs(Path(run_dir) / "logs")
    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_trainer(run_dir or tmp, max_steps=steps, **trainer_kwargs)
        module.model.train()
        trainer.fit(module, loader, ckpt_path=ckpt)
    module.model.cpu().eval()
    hist = module.history
    metrics = {
        "train_loss_first": hist[0] if hist else float("nan"),
        "train_loss_final": float(np.mean(hist[-10:])) if hist else float("nan"),
        "steps": float(trainer.global_step),  # the history alone misses steps a resume skipped
    }
    if ckpt is not None:
        metrics["resumed_from_step"] = float(module.resumed_from_step or 0)
    return metrics


@torch.no_grad()
def reconstruction_metrics(predict: Predict, dataset: Dataset, max_pairs: int = 64, batch_size: int = 16,
                           device: torch.device | str = "cpu") -> dict[str, float]:  # fmt: skip
    """Mean L1, PSNR (dB) and SSIM of ``predict`` on up to ``max_pairs`` evenly spaced items of a
    fixed-pair dataset (items are dicts of tensors with at least "driving")."""
    from skimage.metrics import structural_similarity

    idx = np.linspace(0, len(dataset) - 1, min(max_pairs, len(dataset))).round().astype(int)
    l1, psnr, ssim = [], [], []
    for i in range(0, len(idx), batch_size):
        items = [dataset[int(j)] for j in idx[i : i + batch_size]]
        batch = {k: torch.stack([it[k] for it in items]).to(device) for k in items[0]}
        pred = predict(batch).clamp(0, 1)
        drv = batch["driving"]
        l1 += (pred - drv).abs().mean((1, 2, 3)).tolist()
        mse = (pred - drv).pow(2).mean((1, 2, 3)).clamp_min(1e-10)
        psnr += (10 * torch.log10(1 / mse)).tolist()
        for p, t in zip(pred.cpu().numpy(), drv.cpu().numpy()):
            ssim.append(float(structural_similarity(p, t, channel_axis=0, data_range=1.0)))
    return {"l1": float(np.mean(l1)), "psnr": float(np.mean(psnr)), "ssim": float(np.mean(ssim))}
