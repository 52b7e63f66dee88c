"""The lia renderer: identity latent + motion -> frames through the auto-encoder's flow-warp decoder.

It draws with the weights of the LiaRepresentation it is given (trained by ``rep.fit``); it holds the
representation without registering it as a sub-module, so those weights live in one checkpoint only.
"""
from __future__ import annotations

import torch

from renderers.base import Renderer
from representations.lia import LiaReference, LiaRepresentation


class LiaRenderer(Renderer):
    name = "lia"
    representations = ("lia",)
    learned = True  # trained jointly with the representation: fit() has nothing left to do

    def __init__(self, rep: LiaRepresentation):
        super().__init__()
        object.__setattr__(self, "rep", rep)  # not a sub-module: see the module docstring

    @torch.no_grad()
    def render(self, reference: LiaReference, motion: torch.Tensor, batch_size: int = 16) -> torch.Tensor:
        """motion [T, dim] un-normalised -> frames [T, 3, S, S] in [0, 1] (dec(w_{S->r} + r_t, feats_S))."""
        if motion.ndim != 2 or motion.shape[1] != self.rep.dim:
            raise ValueError(f"motion must be [T, {self.rep.dim}] ({self.rep.space} space), got {tuple(motion.shape)}")
        self.rep.ae.eval()
        out = [self.rep.decode(reference, motion[i : i + batch_size]).cpu() for i in range(0, motion.shape[0], batch_size)]
        s = self.rep.config.size
        return torch.cat(out) if out else torch.zeros(0, 3, s, s)
