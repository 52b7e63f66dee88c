"""The Renderer contract: ``render(reference, motion [T, dim]) -> frames [T, 3, H, W]`` in [0, 1]."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import nn


class Renderer(nn.Module, ABC):
    name: str = "base"
    representations: tuple[str, ...] = ()  # names of the representations this renderer draws
    learned: bool = False

    def fit(self, data, rep, **kwargs) -> dict[str, float]:
        """Train on a ClipStore given the fitted representation (no-op for training-free renderers)."""
        return {}

    @abstractmethod
    def render(self, reference: Any, motion: torch.Tensor, batch_size: int = 16) -> torch.Tensor:
        """reference from ``rep.reference(source)``; motion [T, dim] un-normalised -> frames [T, 3, H, W]."""
