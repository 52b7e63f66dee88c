"""The diffusion process, apart from any denoiser network (as diffusers keeps schedulers apart from
models): the forward process q(x_n | x_0), conversions between eps- and x0-parameterisations, and
diffusers' DDPM / DDIM samplers. Used by the diffusion transformer (generators.diffusion) and GoHD's
conformer (generators.conformer).
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler

Prediction = Literal["eps", "x0"]
Sampler = Literal["ddpm", "ddim"]
_DIFFUSERS_PREDICTION = {"eps": "epsilon", "x0": "sample"}


def _per_sample(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.to(like.device, like.dtype)[t].reshape(-1, *([1] * (like.ndim - 1)))


class DiffusionProcess:
    """A discrete forward process q(x_n | x_0) and its diffusers samplers.

    ``betas="squaredcos_cap_v2"`` (or any diffusers schedule name) or an explicit array of betas (GoHD's
    ``np.linspace(1e-4, 0.05, 150)``).
    """

    def __init__(
        self, train_steps: int = 500, betas: str | np.ndarray | list[float] = "squaredcos_cap_v2",
        prediction: Prediction = "eps",
        spacing: Literal["leading", "trailing", "linspace"] = "leading",
    ):
        if prediction not in _DIFFUSERS_PREDICTION:
            raise ValueError(f"prediction must be 'eps' or 'x0', got {prediction!r}")
        self.prediction = prediction
        self.config: dict = dict(
            num_train_timesteps=int(train_steps), clip_sample=False,  # normalised motion is not in [-1, 1]
            prediction_type=_DIFFUSERS_PREDICTION[prediction], timestep_spacing=spacing,
        )
        if isinstance(betas, str):
            self.config["beta_schedule"] = betas
        else:
            betas = np.asarray(betas, dtype=np.float64)
            if len(betas) != train_steps:
                raise ValueError(f"{len(betas)} betas for {train_steps} training steps")
            self.config["trained_betas"] = betas.tolist()
        self.train_steps = int(train_steps)
        self.alphas_cumprod = DDPMScheduler(**self.config).alphas_cumprod.clone()

    def alpha_bar(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """ᾱ_n per sample, shaped to broadcast against ``like`` [B, ...]."""
        return _per_sample(self.alphas_cumprod, t, like)

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_n = sqrt(ᾱ_n) x0 + sqrt(1 - ᾱ_n) eps."""
        ab = _per_sample(self.alphas_cumprod, t, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def x0_from_eps(self, x_t: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = _per_sample(self.alphas_cumprod, t, x_t)
        return (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()

    def eps_from_x0(self, x_t: torch.Tensor, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = _per_sample(self.alphas_cumprod, t, x_t)
        return (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()

    def to_x0(self, out: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The clean sample implied by a network output in this process's parameterisation."""
        return out if self.prediction == "x0" else self.x0_from_eps(x_t, out, t)

    def target(self, x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return x0 if self.prediction == "x0" else noise

    def sampler(self, kind: Sampler, steps: int) -> DDPMScheduler | DDIMScheduler:
        """A fresh scheduler with ``steps`` timesteps set (schedulers are stateful: one per window)."""
        if kind == "ddim":
            sched = DDIMScheduler(**self.config)
        elif kind == "ddpm":
            sched = DDPMScheduler(**self.config)
        else:
            raise ValueError(f"sampler must be 'ddpm' or 'ddim', got {kind!r}")
        if not 1 <= steps <= self.train_steps:
            raise ValueError(f"sample steps must be in [1, {self.train_steps}], got {steps}")
        sched.set_timesteps(steps)
        return sched
