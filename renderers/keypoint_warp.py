"""The keypoint_warp renderer: LivePortrait-style drawing of implicit-keypoint motion.

It draws with the warp networks of the KeypointRepresentation it is given (trained jointly with the
extractor by ``rep.fit``; held without registering the rep as a sub-module, so the weights live in one
checkpoint). Per frame: the motion is driven onto the source (``rep.drive``: relative to the first
frame by default, LivePortrait's and JoyVASA's way; ``rep=keypoint rep.driving=absolute`` takes it as
is), the source's and the driven keypoints are formed from the source's canonical keypoints, and the
source's appearance volume (computed once per reference) is warped and decoded.
"""
from __future__ import annotations

import torch

from renderers.base import Renderer
from representations.keypoint import KeypointReference, KeypointRepresentation


class KeypointWarpRenderer(Renderer):
    name = "keypoint_warp"
    representations = ("keypoint",)
    learned = True  # trained jointly with the representation: fit() has nothing left to do

    def __init__(self, rep: KeypointRepresentation):
        super().__init__()
        object.__setattr__(self, "rep", rep)

    @torch.no_grad()
    def render(self, reference: KeypointReference, motion: torch.Tensor, batch_size: int = 16) -> torch.Tensor:
        """motion [T, dim] un-normalised -> frames [T, 3, S, S] in [0, 1]."""
        rep = self.rep
        if motion.ndim != 2 or motion.shape[1] != rep.dim:
            raise ValueError(f"motion must be [T, {rep.dim}] (keypoint space), got {tuple(motion.shape)}")
        rep.warp.eval()
        device = rep.x_c_mean.device
        driven = rep.drive(reference, motion.to(device, torch.float32))
        x_c = reference.x_c.to(device)
        x_s = rep.keypoints(x_c, reference.motion.to(device))[None]
        volume = reference.features.to(device)[None]  # batch 1: the warp networks share it over the frames
        out = [rep.warp(volume, x_s, rep.keypoints(x_c, driven[i : i + batch_size]))["image"].cpu()
               for i in range(0, len(driven), batch_size)]  # fmt: skip
        s = rep.config.size
        return torch.cat(out).clamp(0, 1) if out else torch.zeros(0, 3, s, s)
