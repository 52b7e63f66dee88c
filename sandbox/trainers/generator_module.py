"""LightningModule that trains any Generator through its ``loss(batch)`` (all terms logged).

Generators holding discriminators (two_stage, a composition with one) train adversarially, as
``generators/two_stage.py`` prescribes: manual optimisation with one optimiser over the generator's
parameters and one over the discriminators', and per batch a discriminator step (while
``gen.needs_discriminator``) then a generator step. Every other generator keeps automatic optimisation.

Generators with an ``aux_fn`` (normalised motion -> GoHD's spontaneous features) get ``batch["aux"]`` /
``batch["aux_ref"]`` computed here, on the batch's device: a matmul per batch for 3dmm and lia, so
neither extraction nor the window dataset needs to store them.
"""
from __future__ import annotations

import warnings

import lightning as L
import torch
from torch.optim.swa_utils import AveragedModel

from generators.base import Generator
from sandbox.trainers.factory import adam, check_lr_schedule, with_lr_schedule

# checkpoints hold the weights after each step with either kind of optimisation: nothing to warn about
warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization")


def discriminator_parameters(gen: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The parameters of every discriminator inside ``gen`` (itself or its sub-generators)."""
    found: dict[int, torch.nn.Parameter] = {}
    for m in gen.modules():
        if callable(getattr(m, "discriminator_parameters", None)):
            found.update((id(p), p) for p in m.discriminator_parameters())
    return list(found.values())



def ema_with_warmup(decay: float):
    """AveragedModel's update with the warm-up diffusers' EMAModel and timm use: the decay after n
    updates is min(decay, (1 + n) / (10 + n)), so early averages follow the weights instead of
    lagging ~1/(1 - decay) steps behind them (at 0.999, ~1000 steps: most of a short run)."""

    @torch.no_grad()
    def update(ema_params, params, num_averaged) -> None:
        n = int(num_averaged)
        d = min(decay, (1 + n) / (10 + n))
        for e, p in zip(ema_params, params):
            if e.is_floating_point():
                e.lerp_(p.detach().to(e.dtype), 1.0 - d)
            else:  # integer buffers are counters (two_stage's stage schedule): copied, not averaged
                e.copy_(p)

    return update


class GeneratorModule(L.LightningModule):
    def __init__(
        self,
        gen: Generator,
        lr: float = 1e-4,
        weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        ema_decay: float | None = None,
        discriminator_lr: float | None = None,
        lr_schedule: str = "constant",
        warmup_steps: int = 0,
        decay_steps: int = 0,
    ):
        """``ema_decay``: keep an exponential moving average of the weights (used for validation and
        returned by :meth:`final_generator`), with the usual warm-up (:func:`ema_with_warmup`); None
        trains and samples with the raw weights.
        ``discriminator_lr``: adversarial generators only (None = ``lr``; GoHD uses 1e-6 with 1e-4).
        ``lr_schedule``: a diffusers schedule name (constant, cosine, linear, ...) stepped per optimiser
        step over the trainer's ``max_steps``, after ``warmup_steps`` of linear warm-up (``wsd``: the full rate
        until the last ``decay_steps``, :func:`sandbox.trainers.factory.with_lr_schedule`)."""
        super().__init__()
        check_lr_schedule(lr_schedule, warmup_steps, "train.module", decay_steps)
        if (lr_schedule != "constant" or warmup_steps) and discriminator_parameters(gen):
            raise ValueError(f"{type(gen).__name__} trains adversarially (two optimisers): train.module.lr_schedule "
                             "and warmup_steps are not supported there; leave them at constant / 0")
        self.lr_schedule, self.warmup_steps, self.decay_steps = lr_schedule, int(warmup_steps), int(decay_steps)
        self.gen = gen
        self.lr, self.weight_decay, self.betas = lr, weight_decay, tuple(betas)
        self.discriminator_lr = discriminator_lr
        self.ema = (
            AveragedModel(gen, multi_avg_fn=ema_with_warmup(ema_decay), use_buffers=True) if ema_decay else None
        )
        self.automatic_optimization = not discriminator_parameters(gen)
        self.clip_val: float | None = None  # manual optimisation clips here (see configure_callbacks)
        self.save_hyperparameters(ignore=["gen"])

    def _log_terms(self, prefix: str, out: dict[str, torch.Tensor], batch: dict, on_step: bool) -> None:
        if "total" not in out:
            raise KeyError(f"{type(self.gen).__name__}.loss() must return a 'total' term; got {sorted(out)}")
        bs = int(batch["x"].shape[0])
        for k, v in out.items():
            self.log(f"{prefix}/{k}", v.detach().float(), on_step=on_step, on_epoch=not on_step,
                     prog_bar=k == "total", batch_size=bs, sync_dist=not on_step)  # epoch means over all ranks

    def with_aux(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        fn = getattr(self.gen, "aux_fn", None)
        if fn is None or "aux" in batch:
            return batch
        with torch.no_grad():
            return {**batch, "aux": fn(batch["x"]), "aux_ref": fn(batch["x_ref"])}

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        batch = self.with_aux(batch)
        if self.automatic_optimization:
            out = self.gen.loss(batch)
            self._log_terms("train", out, batch, on_step=True)
            return out["total"]
        opt_g, opt_d = self.optimizers()
        if getattr(self.gen, "needs_discriminator", False):
            d = self.gen.discriminator_loss(batch)
            # the raw optimiser: Lightning counts every LightningOptimizer.step in global_step, and
            # max_steps / checkpoints count batches (fine for 32-bit and bf16; fp16 would need its scaler)
            self._manual_step(opt_d, d["total"], opt_d.optimizer)
            self._log_terms("train/disc", d, batch, on_step=True)
        out = self.gen.loss(batch)
        self._manual_step(opt_g, out["total"], opt_g)
        self._log_terms("train", out, batch, on_step=True)
        return out["total"].detach()

    def _manual_step(self, opt, loss: torch.Tensor, stepper) -> None:
        opt.zero_grad()
        self.manual_backward(loss)
        if self.clip_val:
            self.clip_gradients(opt, gradient_clip_val=self.clip_val, gradient_clip_algorithm="norm")
        stepper.step()

    def configure_callbacks(self):
        # Lightning refuses Trainer(gradient_clip_val) with manual optimisation (checked right after this
        # hook, when the module is attached): take the value over and clip each optimiser's step instead
        if not self.automatic_optimization and self.trainer.gradient_clip_val:
            self.clip_val = float(self.trainer.gradient_clip_val)
            self.trainer.gradient_clip_val = None
        return []

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if self.ema is not None:
            self.ema.update_parameters(self.gen)
            # integer buffers are counters (two_stage's stage schedule), not weights: copy, don't average
            for b_ema, b in zip(self.ema.module.buffers(), self.gen.buffers()):
                if not b.is_floating_point():
                    b_ema.copy_(b)

    @torch.no_grad()
    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        out = self.final_generator().loss(self.with_aux(batch))
        self._log_terms("val", out, batch, on_step=False)

    def configure_optimizers(self):
        if self.automatic_optimization:
            opt = adam(self.gen.parameters(), self.lr, self, betas=self.betas, weight_decay=self.weight_decay)
            return with_lr_schedule(opt, self.lr_schedule, self.warmup_steps, self, self.decay_steps)
        disc = discriminator_parameters(self.gen)
        ids = {id(p) for p in disc}
        own = [p for p in self.gen.parameters() if id(p) not in ids]
        return [
            adam(own, self.lr, self, betas=self.betas, weight_decay=self.weight_decay),
            adam(disc, self.discriminator_lr or self.lr, self, betas=self.betas),
        ]

    def final_generator(self) -> Generator:
        return self.ema.module if self.ema is not None else self.gen
