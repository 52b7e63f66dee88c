"""LightningModule that trains any Generator through its ``loss(batch)`` (all terms logged)."""
from __future__ import annotations

import lightning as L
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from generators.base import Generator


class GeneratorModule(L.LightningModule):
    def __init__(
        self,
        gen: Generator,
        lr: float = 1e-4,
        weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        ema_decay: float | None = None,
    ):
        """``ema_decay``: keep an exponential moving average of the weights (used for validation and
        returned by :meth:`final_generator`); None trains and samples with the raw weights."""
        super().__init__()
        self.gen = gen
        self.lr, self.weight_decay, self.betas = lr, weight_decay, tuple(betas)
        self.ema = (
            AveragedModel(gen, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True) if ema_decay else None
        )
        self.save_hyperparameters(ignore=["gen"])

    def _log_terms(self, prefix: str, out: dict[str, torch.Tensor], batch: dict, on_step: bool) -> None:
        if "total" not in out:
            raise KeyError(f"{type(self.gen).__name__}.loss() must return a 'total' term; got {sorted(out)}")
        bs = int(batch["x"].shape[0])
        for k, v in out.items():
            self.log(f"{prefix}/{k}", v.detach().float(), on_step=on_step, on_epoch=not on_step,
                     prog_bar=k == "total", batch_size=bs)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        out = self.gen.loss(batch)
        self._log_terms("train", out, batch, on_step=True)
        return out["total"]

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if self.ema is not None:
            self.ema.update_parameters(self.gen)

    @torch.no_grad()
    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        out = self.final_generator().loss(batch)
        self._log_terms("val", out, batch, on_step=False)

    def configure_optimizers(self):
        return torch.optim.Adam(self.gen.parameters(), lr=self.lr, betas=self.betas, weight_decay=self.weight_decay)

    def final_generator(self) -> Generator:
        return self.ema.module if self.ema is not None else self.gen
