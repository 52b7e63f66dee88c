"""Training-free 3dmm renderer: the source photo warped by the posed, expressed head-model mesh.

The photo is the texture of the synthetic world's PortraitRenderer (piecewise-affine warp over the
MediaPipe triangulation plus background anchors, eyes and mouth interior painted where the mesh opens, the
interior in the photo's light as its sclera shows it),
with the photo's own detected landmarks as texture coordinates. For each frame the destination mesh is
the head model under the frame's (pose, exp, gaze) with the photo's fitted identity, plus the photo's
fit residual: the motion is absolute (the analyser's space), so the residual between the detected
landmarks and the fitted model (what the 10 identity directions cannot express) is carried along in
model space, rotating with the head. A motion equal to the reference's own motion therefore puts every
landmark exactly where it was detected, and the warp is the identity: the photo comes back unchanged
except inside the eye and inner-lip openings, which are always repainted.
"""
from __future__ import annotations

import numpy as np
import torch

from renderers.base import Renderer
from representations.morphable import DIM, EXP, GAZE, POSE, MorphableReference
from sandbox.data.frames import to_tensor
from sandbox.face.head_model import HeadModel
from sandbox.face.portrait import PortraitRenderer
from sandbox.geometry.rotation import rotvec_to_matrix


class MeshWarpRenderer(Renderer):
    """render(reference, motion [T, 20]) -> frames [T, 3, S, S] with S = ``size`` or the photo's side.

    The source photo must be square (crop it with sandbox.analysis.source.prepare_source).
    Speed, one thread on a shared 2-core CPU (noisy, best of 3 over 50 frames of random pose, jaw and
    gaze): 29 frames/s at 512x512, 81 at 256, 109 at 128; a still head renders ~2x faster."""

    name = "mesh_warp"
    representations = ("3dmm",)
    learned = False

    def __init__(self, rep=None, size: int | None = None):
        """rep: the MorphableRepresentation (offered by the harness; unused beyond its head model);
        size: output side in pixels (None = the source photo's side)."""
        super().__init__()
        self.size = None if size is None else int(size)
        self.head = getattr(rep, "head", None) or HeadModel.load()

    # -- per reference ------------------------------------------------------------------------------
    def _prepare(self, ref: MorphableReference, size: int) -> tuple[PortraitRenderer, np.ndarray]:
        """(renderer for this photo at ``size``, model-space residual [478, 3]) cached on the reference."""
        key = f"mesh_warp/{size}"
        if key not in ref.cache:
            h, w = ref.size
            if h != w:
                raise ValueError(f"mesh_warp needs a square source photo, got {w}x{h}: crop it around the face "
                                 "with sandbox.analysis.source.prepare_source")  # fmt: skip
            ref.cache[key] = (PortraitRenderer(ref.image, np.asarray(ref.lmk2d, np.float64), size, match_light=True),
                              self._residual(ref))
        return ref.cache[key]

    def _residual(self, ref: MorphableReference) -> np.ndarray:
        """Model-space offsets that make the fitted model reproject onto the detected landmarks exactly."""
        side = ref.size[0]
        cam, fit2d = self.head.landmarks(ref.id_coeff, ref.pose, ref.exp, ref.gaze, side)
        f = self.head.camera_matrix(side)[0, 0]
        # a camera-space shift at each point's own depth moves its projection by exactly the residual
        shift = np.concatenate([(ref.lmk2d - fit2d) * cam[:, 2:3] / f, np.zeros((len(cam), 1))], axis=1)
        return shift @ rotvec_to_matrix(ref.pose[:3])  # R^T applied to row vectors

    # -- per frame -----------------------------------------------------------------------------------
    def landmarks(self, ref: MorphableReference, motion: torch.Tensor | np.ndarray, size: int | None = None):
        """(lmk2d [T, 478, 2] pixels of a size x size frame, depth [T, 478] cm) for motion [T, 20]."""
        size = size or self.size or ref.size[0]
        _, residual = self._prepare(ref, size)
        m = torch.as_tensor(motion).detach().double().cpu().numpy()
        shape = self.head.shape(ref.id_coeff, m[:, EXP], m[:, GAZE]) + residual
        cam = self.head.to_camera(shape, m[:, POSE])
        return self.head.project(cam, size), cam[..., 2]

    @torch.no_grad()
    def render(self, reference: MorphableReference, motion: torch.Tensor, batch_size: int = 16) -> torch.Tensor:
        if motion.ndim != 2 or motion.shape[1] != DIM:
            raise ValueError(f"motion must be [T, 20] (3dmm: pose 6 + exp 12 + gaze 2), got {tuple(motion.shape)}")
        size = self.size or reference.size[0]
        warp, _ = self._prepare(reference, size)
        out = torch.empty(motion.shape[0], 3, size, size)
        for i in range(0, motion.shape[0], batch_size):  # batches bound the landmark arrays' memory
            lmk2d, depth = self.landmarks(reference, motion[i : i + batch_size], size)
            frames = warp.render_batch(lmk2d, depth)
            out[i : i + len(frames)] = to_tensor(frames)
        return out
