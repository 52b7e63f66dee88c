"""LIA-style motion latent auto-encoder (FLOAT sec. 4.1 / app. A) and its motion representation.

Decomposition (FLOAT eq. 8-9):  w_S = w_{S->r} + w_{r->S},  w_{r->S} = sum_m lambda_m(S) q_m.

* Identity latent w_{S->r}: the encoder's latent of the source, E(S).w, used as is. Nothing is
  subtracted from it: training decodes dec(E(S).w + Q lambda(D), feats(S)) -> D for random (S, D) of
  one clip, so E(S).w is pushed to the motion-free "reference" code (FLOAT app. A.1: it decodes to the
  average pose/expression), and the source's own motion is the separate term w_{r->S} = Q lambda(S).
  Reconstructing the source itself is therefore dec(w_{S->r} + w_{r->S}), and a generator's x_ref is
  w_{r->S} (``reference_motion``).
* Motion magnitudes lambda(X) = MLP(E(X).w) in R^M; basis Q = qr(W).Q for a learned W [d, M], so
  Q^T Q = I by construction (no orthogonality loss).
* Spaces: ``space="latent"`` (default, FLOAT's choice) exposes the free d-dim motion latent r; a
  generator's output there is decoded as is, not projected on span(Q). ``space="coeff"`` exposes
  lambda [M] and decodes Q lambda. lambda-control (FLOAT eq. 15) works in both: lambda_k = <r, q_k>.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import WeightedRandomSampler

from representations.base import Representation
from sandbox.config import forwards_kwargs
from sandbox.data.frames import resize_square
from sandbox.data.pairs import COMPONENTS, FramePairs
from sandbox.face.topology import N_LANDMARKS
from sandbox.nets.basis import orthonormal_basis
from sandbox.nets.flow_warp import FlowWarpDecoder
from sandbox.nets.image_encoder import ImageEncoder, he_init
from sandbox.trainers.image_module import (
    ImageReconstructionModule,
    reconstruction_metrics,
    train_image_module,
)

SPACES = ("latent", "coeff")
EYE_PHASE_PARAMS = ("decoder", "fine")  # what fit's eye phase trains


@dataclass
class LiaConfig:
    size: int = 128  # image side; paper preset 512
    latent_dim: int = 128  # d; paper 512
    motion_dim: int = 20  # M orthonormal directions; paper 20
    ch_min: int = 16  # channels at full resolution (doubling per halving)
    ch_max: int = 128  # channel cap at low resolutions; paper-like 512
    mlp_layers: int = 4  # hidden layers of the lambda MLP (FLOAT: 4 x d, then d -> M)
    image_warp: bool = True  # sandbox addition: also warp the source image at the output (flow_warp docstring)
    affine_flow: bool = False  # sandbox addition: a global affine warp from the latent in every flow (flow_warp)
    affine_detach: bool = False  # the affine warp reads the latent without training it (flow_warp)
    affine_gate: bool = False  # each flow weighs the affine warp per pixel (flow_warp)


class LiaAutoEncoder(nn.Module):
    def __init__(self, cfg: LiaConfig):
        super().__init__()
        if cfg.motion_dim > cfg.latent_dim:
            raise ValueError(f"motion_dim M={cfg.motion_dim} must be <= latent_dim d={cfg.latent_dim}")
        self.cfg = cfg
        d = cfg.latent_dim
        self.encoder = ImageEncoder(cfg.size, d, cfg.ch_min, cfg.ch_max)
        self.decoder = FlowWarpDecoder(cfg.size, d, cfg.ch_min, cfg.ch_max, image_warp=cfg.image_warp,
                                       affine_flow=cfg.affine_flow, affine_detach=cfg.affine_detach,
                                       affine_gate=cfg.affine_gate)
        layers: list[nn.Module] = []
        for _ in range(cfg.mlp_layers):
            layers += [nn.Linear(d, d), nn.LeakyReLU(0.2)]
        self.motion_mlp = he_init(nn.Sequential(*layers, nn.Linear(d, cfg.motion_dim)))
        self.basis_weight = nn.Parameter(torch.randn(d, cfg.motion_dim))
        # training-only probe (used when fit(landmark_flow > 0)): lambda(D) - lambda(S) must predict the
        # landmark displacement, so the motion code varies with the motion from the first steps
        self.motion_probe = nn.Linear(cfg.motion_dim, 2 * N_LANDMARKS)

    def basis(self) -> torch.Tensor:
        return orthonormal_basis(self.basis_weight)

    def analyse(self, img: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """img [B, 3, S, S] in [0, 1] -> (identity latent w_{X->r} [B, d], feats, lambda(X) [B, M])."""
        w, feats = self.encoder(img)
        return w, feats, self.motion_mlp(w)

    def decode(self, identity: torch.Tensor, motion_latent: torch.Tensor, feats: list[torch.Tensor],
               source: torch.Tensor | None = None, return_flows: bool = False, head_mask: bool = False):  # fmt: skip
        return self.decoder(identity + motion_latent, feats, return_flows=return_flows, source=source,
                            head_mask=head_mask)

    def forward(self, source: torch.Tensor, driving: torch.Tensor, return_aux: bool = False,
                mask_head_only: bool = False):  # fmt: skip
        """Reconstruct driving from source: dec(w_{S->r} + Q lambda(D), feats(S)), in [0, 1] unclamped.
        ``return_aux``: a dict with the image, the decoder's per-scale (flow, mask) and the probe's
        predicted landmark displacement [B, N, 2]; ``mask_head_only``: its "image_mask" passes gradients
        to the mask's head only (FlowWarpDecoder's head_mask)."""
        b = source.shape[0]
        w, feats, lam = self.analyse(torch.cat([source, driving]))  # one encoder pass for both
        head = return_aux and mask_head_only
        out = self.decode(w[:b], lam[b:] @ self.basis().T, [f[:b] for f in feats], source, return_flows=return_aux,
                          head_mask=head)
        if not return_aux:
            return out
        img, flows = out[:2]
        delta = lam[b:] - lam[:b]
        aux = {"image": img, "flows": flows, "displacement": self.motion_probe(delta).view(b, -1, 2),
               "code_delta": delta}
        if self.cfg.image_warp:  # the output's blend of the warped source (1) and the synthesis (0)
            aux["image_mask"] = out[2] if head else flows[-1][1]
        return aux


@dataclass
class LiaReference:
    identity: torch.Tensor  # w_{S->r} [d]
    feats: list[torch.Tensor]  # source feature maps [C, r, r], r = 4 .. size
    coeffs: torch.Tensor  # lambda(S) [M]
    motion: torch.Tensor  # the source's own motion in the representation's space [dim]
    size: int = 0  # side the feature maps were computed at
    image: torch.Tensor | None = None  # the source at that side [3, size, size], for image_warp


class LiaRepresentation(Representation):
    name = "lia"
    learned = True

    @forwards_kwargs(LiaConfig)
    def __init__(self, space: str = "latent", **cfg):
        if space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}, got {space!r}")
        self.config = LiaConfig(**cfg)
        dim = self.config.latent_dim if space == "latent" else self.config.motion_dim
        super().__init__(dim, {space: slice(0, dim)})
        self.space = space
        self.ae = LiaAutoEncoder(self.config)

    # -- space conversions ----------------------------------------------------------------------
    def basis(self) -> torch.Tensor:
        return self.ae.basis()

    def to_latent(self, motion: torch.Tensor) -> torch.Tensor:
        """Motion [..., dim] -> motion latent r [..., d] added to the identity latent."""
        return motion @ self.basis().T.to(motion) if self.space == "coeff" else motion

    def coefficients(self, motion: torch.Tensor) -> torch.Tensor:
        """Motion [..., dim] -> lambda [..., M] (eq. 15: lambda_k = <r, q_k>)."""
        return motion if self.space == "coeff" else motion @ self.basis().to(motion)

    def aux_features(self, motion: torch.Tensor) -> torch.Tensor:
        """The analogue of GoHD's eye/brow features, [..., M] from un-normalised motion [..., dim]: the
        basis coefficients lambda_k = <r, q_k> (eq. 15).

        LIA's directions are learned, not named, so no subset of them is "the eyes": the honest
        analogue of f is the whole low-dimensional motion code. In ``space="coeff"`` it is the motion
        itself (two_stage's stage 1 is then near-identity: f carries everything, audio only refines);
        in ``space="latent"`` it is the projection on span(Q), and stage 1 must add the part of r
        outside it. Differentiable in ``motion``; the basis is a constant here (a generator's loss
        must not send gradients into the auto-encoder)."""
        if self.space == "coeff":
            return motion
        with torch.no_grad():
            q = self.basis()
        return motion @ q.to(motion)

    def edit(self, motion: torch.Tensor, k: int, delta: float | None = None, value: float | None = None) -> torch.Tensor:
        """lambda-control on un-normalised motion [..., dim]: move along direction k by ``delta`` or set lambda_k to ``value``; every other
        coefficient (and, in latent space, the part outside span(Q)) is unchanged."""
        if (delta is None) == (value is None):
            raise ValueError("give exactly one of delta or value")
        M = self.config.motion_dim
        if not 0 <= k < M:
            raise IndexError(f"direction k={k} outside 0..{M - 1}")
        lam_k = self.coefficients(motion)[..., k : k + 1]
        step = torch.as_tensor(delta, dtype=motion.dtype) if delta is not None else value - lam_k
        if self.space == "coeff":
            out = motion.clone()
            out[..., k : k + 1] = lam_k + step
            return out
        return motion + step * self.basis()[:, k].to(motion)

    # -- mapping --------------------------------------------------------------------------------
    def _prepare(self, frames: torch.Tensor) -> torch.Tensor:
        return resize_square(frames, self.config.size, self.ae.basis_weight.device)

    @torch.no_grad()
    def encode(self, frames: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
        was = self.ae.training
        self.ae.eval()
        out = []
        for i in range(0, frames.shape[0], batch_size):
            _, _, lam = self.ae.analyse(self._prepare(frames[i : i + batch_size]))
            out.append(lam if self.space == "coeff" else lam @ self.basis().T)
        self.ae.train(was)
        return torch.cat(out) if out else torch.zeros(0, self.dim)

    @torch.no_grad()
    def reference(self, source_image: torch.Tensor) -> LiaReference:
        self.ae.eval()
        img = self._prepare(source_image[None])
        w, feats, lam = self.ae.analyse(img)
        motion = lam[0] if self.space == "coeff" else lam[0] @ self.basis().T
        return LiaReference(identity=w[0], feats=[f[0] for f in feats], coeffs=lam[0], motion=motion,
                            size=self.config.size, image=img[0])  # fmt: skip

    def reference_motion(self, ref: LiaReference) -> torch.Tensor:
        return ref.motion

    def decode(self, ref: LiaReference, motion: torch.Tensor) -> torch.Tensor:
        """motion [B, dim] un-normalised -> frames [B, 3, S, S] in [0, 1]; differentiable in ``motion``
        (the renderer calls it without gradients; experiments.lia_mouth optimises a code through it)."""
        r = self.to_latent(motion.to(ref.identity))
        feats = [f.expand(r.shape[0], -1, -1, -1) for f in ref.feats]
        source = None if ref.image is None else ref.image.expand(r.shape[0], -1, -1, -1)
        return self.ae.decode(ref.identity.expand_as(r), r, feats, source).clamp(0, 1)

    # -- learning -------------------------------------------------------------------------------
    def fit(
        self,
        data,
        steps: int = 2000,
        batch_size: int = 8,
        lr: float = 2e-4,
        weights: dict[str, float] | None = None,
        run_dir: str | Path | None = None,
        num_workers: int = 0,
        val_pairs: int = 64,
        seed: int = 0,
        landmark_flow: float = 0.0,
        landmark_nonrigid: float = 0.0,
        flow_min_size: int = 0,
        flow_nonrigid: float = 0.0,
        motion_readout: float = 0.0,
        lr_schedule: str = "constant",
        warmup_steps: int = 0,
        decay_steps: int = 0,
        precision: str = "32-true",
        blink_pairs: float = 0.0,
        flow_eyes: float = 0.0,
        eye_mask: float = 0.0,
        eye_mask_detach: bool = False,
        eye_phase_steps: int = 0,
        eye_phase_weight: float = 10.0,
        eye_phase_blinks: float = 0.25,
        eye_phase_params: str = "decoder",
        eye_phase_flow: bool = False,
        eye_phase_lr: float | None = None,
        **trainer_kwargs,
    ) -> dict[str, float]:
        """Train the auto-encoder on pairs of ``data`` (a ClipStore) through make_trainer and report train
        loss + val reconstruction metrics. The motion normaliser is not fitted here (the extract stage
        owns it: it encodes every training frame).
        ``trainer_kwargs`` go to :func:`sandbox.trainers.factory.make_trainer`.

        ``landmark_flow`` > 0 adds a sandbox-specific term (not in LIA/FLOAT): the decoder's warp fields
        must carry each driving landmark back to the source's (ground-truth landmarks of the synthetic
        world). LIA's own objective is self-supervised and needs long training before the motion code
        is used at all; in a few CPU minutes it learns to copy the source (motion code std ~3e-4, measured),
        and this term makes the motion code carry the motion. 0 = LIA as published.

        ``landmark_nonrigid`` (default 0, an experiment that did not pay off): extra weight on the
        probe errors' non-rigid part, since head motion moves the lips by pixels and the jaw by ~1 px at
        128 px, and the default fit's code keeps no jaw (experiments.lia_mouth: R^2 0.03 in-sample).
        Measured at 1500 steps: 3 gives in-sample R^2 0.23 but held-out -3.2 and val PSNR 21.2 dB
        (22.2 without); 10 loses the head motion too.

        ``flow_min_size`` / ``flow_nonrigid`` (sandbox additions): the landmark term covers only warp
        fields of at least that many pixels, and the non-rigid part of their landmark errors (what no
        affine head motion explains: the jaw, the lids) weighs ``flow_nonrigid`` more.
        ``motion_readout`` > 0 (sandbox addition): a training-only linear readout from lambda(D) -
        lambda(S) to the pair's 3dmm motion difference (gt pose, exp, gaze; standardised), squared error,
        so the code carries the jaw from the first steps. Measured (experiments.lia_mouth, README).
        ``lr_schedule`` (constant | cosine | linear | wsd), ``warmup_steps``, ``decay_steps``: the learning rate over the steps
        (:func:`sandbox.trainers.factory.with_lr_schedule`). ``precision``: Lightning's (``bf16-mixed``
        autocasts the convolutions and matrix products to bfloat16).
        ``blink_pairs`` > 0 (sandbox addition): that share of the training pairs is drawn from the driving
        frames with closed eyes (about 4% of the default world's frames), so the decoder sees blinks more
        often; 0 = every frame alike. ``flow_eyes`` > 0 (sandbox addition): the eye-contour landmarks' errors
        in the warp fields' landmark term weigh that much more than the others'. ``eye_mask`` > 0 (sandbox
        addition, needs image_warp): that much of the output mask's mean inside the eyes on pairs whose driving
        eyes are closed, so the decoder draws closed lids with its synthesis instead of blending in the
        source's open eyes (a backward warp cannot close an eye: both lids would sample one source point).
        ``eye_mask_detach``: that term trains only the mask's head, not the decoder's features or the motion
        code (which every other term shares). ``eye_phase_steps`` > 0 (sandbox addition): after the fit, that
        many more steps train the decoder alone (the encoder, the motion basis and so the code are frozen) with
        the eyes weighted ``eye_phase_weight`` in the component L1 and ``eye_phase_blinks`` of the pairs
        closed-eyed, its rate decayed by a cosine to 0; the code the generator learns is the first phase's.
        ``eye_phase_params``: decoder (all of it) | fine (its full-resolution block and output head only).
        ``eye_phase_flow``: the phase keeps the fit's landmark terms on the warp fields (``landmark_flow`` and
        its options) but for the eye contours', so the mouth's warps stay supervised and the lids are free.
        ``eye_phase_lr``: the phase's peak rate (None = ``lr``)."""

        from sandbox.trainers.factory import seed_everything

        if eye_phase_params not in EYE_PHASE_PARAMS:
            raise ValueError(f"fit.rep.eye_phase_params={eye_phase_params} is not one of {' | '.join(EYE_PHASE_PARAMS)}")

        if eye_mask and not self.config.image_warp:
            raise ValueError("fit.rep.eye_mask supervises the output mask of the source-image warp: it needs "
                             "rep.image_warp=true (or set fit.rep.eye_mask=0)")
        if (eye_phase_flow or eye_phase_lr is not None) and eye_phase_steps <= 0:
            raise ValueError("fit.rep.eye_phase_flow and fit.rep.eye_phase_lr change the eye phase: set "
                             "fit.rep.eye_phase_steps > 0 (or leave them at false / null)")
        if eye_phase_flow and landmark_flow <= 0:
            raise ValueError("fit.rep.eye_phase_flow keeps the fit's landmark_flow term: set fit.rep.landmark_flow > 0")
        if eye_mask_detach and not eye_mask:
            raise ValueError("fit.rep.eye_mask_detach only changes the fit.rep.eye_mask term: set eye_mask > 0")
        seed_everything(seed)
        weights = {"mouth": 1.0, "eyes": 1.0, **(weights or {})}
        pairs = FramePairs(data, "train", self.config.size, seed=seed)
        # training-only linear readout lambda(D) - lambda(S) -> 3dmm motion difference (not saved)
        readout = nn.Linear(self.config.motion_dim, pairs.motion_dim) if motion_readout > 0 and pairs.motion_dim else None
        aux = landmark_flow > 0 or readout is not None or eye_mask > 0

        def predict(b):
            out = self.ae(b["source"], b["driving"], return_aux=aux, mask_head_only=eye_mask_detach)
            if readout is not None:
                out["motion_readout"] = readout(out["code_delta"])
            return out

        module = ImageReconstructionModule(
            nn.ModuleDict({"ae": self.ae, "readout": readout or nn.Identity()}), predict, lr, weights,
            COMPONENTS, landmark_flow=landmark_flow, nonrigid=landmark_nonrigid,
            flow_min_size=flow_min_size, flow_nonrigid=flow_nonrigid, motion_readout=motion_readout,
            lr_schedule=lr_schedule, warmup_steps=warmup_steps, decay_steps=decay_steps, flow_eyes=flow_eyes,
            eye_mask=eye_mask,
        )
        sampler = None
        if blink_pairs:  # a share outside (0, 1) is refused by blink_weights
            sampler = WeightedRandomSampler(pairs.blink_weights(blink_pairs).tolist(), len(pairs), replacement=True)
        metrics = train_image_module(module, pairs, steps, batch_size, run_dir, num_workers, precision=precision,
                                     sampler=sampler, **trainer_kwargs)
        if eye_phase_steps > 0:
            # the eye contours weigh 0 (flow_eyes -1): a closed eye's two lid landmarks meet at one point, which a
            # backward warp cannot carry back to both source lids; the term would hold the eye open
            flow_terms = (dict(landmark_flow=landmark_flow, nonrigid=landmark_nonrigid, flow_min_size=flow_min_size,
                               flow_nonrigid=flow_nonrigid, flow_eyes=-1.0) if eye_phase_flow else {})
            metrics |= self._eye_phase(pairs, eye_phase_steps, eye_phase_weight, eye_phase_blinks, eye_phase_params,
                                       weights, lr if eye_phase_lr is None else eye_phase_lr, batch_size, run_dir,
                                       num_workers, precision, trainer_kwargs, flow_terms)
        if val_pairs > 0 and data.splits.get("val"):
            metrics.update({f"val_{k}": v for k, v in self.evaluate(data, "val", val_pairs).items()})
        return metrics

    def _eye_phase(self, pairs, steps, weight, blinks, params, weights, lr, batch_size, run_dir, num_workers,
                   precision, trainer_kwargs, flow_terms=None) -> dict[str, float]:
        """fit's second phase: the decoder (or its finest block and head) alone, the eyes weighted ``weight``,
        ``blinks`` of the pairs closed-eyed; ``flow_terms``: ImageReconstructionModule's landmark options."""
        last = len(self.ae.decoder.blocks) - 1
        trained = (("decoder.",) if params == "decoder" else (f"decoder.blocks.{last}.", "decoder.to_image_flow."))
        frozen = [p for n, p in self.ae.named_parameters() if not n.startswith(trained) and p.requires_grad]
        for p in frozen:
            p.requires_grad_(False)
        try:
            aux = bool(flow_terms)
            module = ImageReconstructionModule(self.ae, lambda b: self.ae(b["source"], b["driving"], return_aux=aux),
                                               lr, {**weights, "eyes": weight}, COMPONENTS, lr_schedule="cosine",
                                               **(flow_terms or {}))
            sampler = WeightedRandomSampler(pairs.blink_weights(blinks).tolist(), len(pairs), replacement=True)
            out = train_image_module(module, pairs, steps, batch_size,
                                     None if run_dir is None else Path(run_dir) / "eye_phase", num_workers,
                                     precision=precision, sampler=sampler, **trainer_kwargs)
        finally:
            for p in frozen:
                p.requires_grad_(True)
        return {f"eye_phase_{k}": v for k, v in out.items()}

    @torch.no_grad()
    def evaluate(self, data, split: str = "val", max_pairs: int = 64, batch_size: int = 16) -> dict[str, float]:
        """Same-identity reconstruction of fixed (source, driving) pairs: L1, PSNR (dB), SSIM."""
        pairs = FramePairs(data, split, self.config.size, fixed=True)
        self.ae.eval()
        device = self.ae.basis_weight.device
        return reconstruction_metrics(lambda b: self.ae(b["source"], b["driving"]), pairs, max_pairs, batch_size, device)

    # -- checkpoints ----------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """One file: config + space + state_dict (auto-encoder weights and the normaliser)."""
        torch.save({"config": asdict(self.config), "space": self.space, "state_dict": self.state_dict()}, path)

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> "LiaRepresentation":
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
        rep = cls(space=ckpt["space"], **ckpt["config"])
        rep.load_state_dict(ckpt["state_dict"])
        return rep.eval()
