"""FLOAT's generator: OT flow matching of motion with a frame-wise-AdaLN vector-field transformer.

Per window: tokens = [L' clean preceding frames | L noisy current frames x_t]; per-frame condition
c_t^l = Emb(t) + ToCondition([x_ref, audio_l, emotion]) (sec. 4.2). Training (eq. 11-13) regresses
u = x1 - x0 on the current frames only (see ``loss``); sampling solves dx/dt = v(x, t) from t = 0 to 1
with torchdiffeq, window by window, with incremental classifier-free guidance on audio and emotion
(eq. 14).

NFE: ``SampleOutput.nfe`` counts vector-field network CALLS (summed over windows); one call evaluates all
guidance branches as one batch. ``FlowSampleOutput.branches`` says how many, so network evaluations of
single samples = nfe * branches.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from einops import repeat
from torch import nn
from torchdiffeq import odeint

from generators.backbone import Conditioning, MotionTransformer, SinusoidalTimeEmbedding
from generators.base import Generator
from generators.conditioning import (
    AudioEncoderSpec,
    GuidedSampleOutput,
    build_audio_encoder,
    check_cond_keys,
    context_keep,
    default_audio_encoder,
    frame_mask,
    per_frame_condition,
    seeded_generator,
    window_mask,
)
from generators.guidance import Guidance
from generators.windowing import WindowStream, encoder_context
from sandbox.constants import N_EMOTIONS
from sandbox.losses import (
    flow_matching_loss,
    ot_interpolate,
    ot_target_velocity,
    velocity_loss,
)

FlowSampleOutput = GuidedSampleOutput  # nfe + branches
__all__ = ["FlowGenerator", "FlowSampleOutput", "default_audio_encoder"]


class FlowGenerator(Generator):
    name = "flow"
    blends = ("fade", "offset", "inpaint")  # inpaint: its windows take known frames

    def __init__(
        self,
        dim: int,
        audio_dim: int,
        emotion_dim: int = N_EMOTIONS,
        hidden: int = 64,
        depth: int = 2,
        heads: int = 4,
        n_prev: int = 10,
        n_cur: int = 50,
        overlap: int = 0,
        blend: Literal["fade", "offset", "inpaint"] = "fade",
        conditioning: Conditioning = "adaln",
        local_window: int | None = 2,
        ff_mult: int = 4,
        dropout: float = 0.0,
        prev_drop: float = 0.5,
        drop_audio: float = 0.1,
        drop_ref: float = 0.1,
        drop_emotion: float = 0.1,
        guidance_mode: Literal["incremental", "independent"] = "incremental",
        null: Literal["zero", "learned"] = "zero",
        g_audio: float = 2.0,
        g_emotion: float = 1.0,
        ode_method: str = "euler",
        nfe: int = 10,
        sigma_min: float = 0.0,
        lambda_ot: float = 1.0,
        lambda_vel: float = 1.0,
        loss_kind: Literal["l1", "l2"] = "l1",
        t_sampling: Literal["uniform", "logit_normal"] = "uniform",
        t_logit_mean: float = 0.0,
        t_logit_std: float = 1.0,
        audio_encoder: AudioEncoderSpec = None,
        audio_hidden: int | None = None,
    ):
        super().__init__(dim, audio_dim, n_prev, n_cur, overlap)
        if t_sampling not in ("uniform", "logit_normal"):
            raise ValueError(f"t_sampling must be 'uniform' or 'logit_normal', got {t_sampling!r}")
        if t_logit_std <= 0:
            raise ValueError(f"t_logit_std must be > 0, got {t_logit_std}")
        self.t_sampling, self.t_logit_mean, self.t_logit_std = t_sampling, t_logit_mean, t_logit_std
        if blend not in self.blends:
            raise ValueError(f"blend must be one of {self.blends}, got {blend!r}")
        self.blend = blend  # how windows join across the overlap (generators.windowing), read per stream
        self.emotion_dim = emotion_dim
        self.prev_drop = prev_drop
        self.ode_method, self.nfe = ode_method, nfe
        self.sigma_min = sigma_min
        self.lambda_ot, self.lambda_vel, self.loss_kind = lambda_ot, lambda_vel, loss_kind
        self.default_scales = {"audio": g_audio, "emotion": g_emotion}

        self.audio_encoder, audio_hidden = build_audio_encoder(audio_dim, hidden, audio_encoder, audio_hidden)
        self.audio_hidden = audio_hidden

        self.time_emb = SinusoidalTimeEmbedding(hidden)
        self.to_condition = nn.Linear(dim + audio_hidden + emotion_dim, hidden)
        self.field = MotionTransformer(
            dim_in=dim,
            dim_out=dim,
            hidden=hidden,
            depth=depth,
            heads=heads,
            cond_dim=hidden,
            conditioning=conditioning,
            local_window=local_window,
            ff_mult=ff_mult,
            dropout=dropout,
            max_len=n_prev + n_cur,  # fixed window layout: tokens learn where context ends
        )
        self.guidance = Guidance(
            conditions=["audio", "emotion"],
            mode=guidance_mode,
            null=null,
            dims={"audio": audio_hidden, "ref": dim, "emotion": emotion_dim},
            drop_prob={"audio": drop_audio, "ref": drop_ref, "emotion": drop_emotion},
        )

    # -- the vector field ------------------------------------------------------------------------
    def vector_field(
        self,
        x_t: torch.Tensor,  # [B, L, dim] noisy current frames
        t: torch.Tensor,  # [B] flow time
        prev_motion: torch.Tensor,  # [B, L', dim] clean preceding frames (zeros when dropped)
        prev_audio: torch.Tensor,  # [B, L', h_a] their encoded audio
        audio: torch.Tensor,  # [B, L, h_a] encoded current audio
        ref: torch.Tensor,  # [B, dim]
        emotion: torch.Tensor,  # [B, E]
        key_padding_mask: torch.Tensor | None = None,  # [B, L'+L] True = real frame
    ) -> torch.Tensor:
        """v_θ on the current frames: [B, L, dim]."""
        tokens = torch.cat([prev_motion, x_t], dim=1)
        per_frame = per_frame_condition(ref, torch.cat([prev_audio, audio], dim=1), emotion)
        cond = self.time_emb(t)[:, None] + self.to_condition(per_frame)
        return self.field(tokens, cond, key_padding_mask)[:, prev_motion.shape[1] :]

    # -- training ---------------------------------------------------------------------------------
    def training_times(self, b: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """[b] flow times of a training batch (t = 0 noise, 1 data): uniform (FLOAT) or logit-normal, t =
        sigmoid(N(t_logit_mean, t_logit_std)) (SD3, Esser et al. 2024, whose time runs the other way: its
        mean is -t_logit_mean). Uniform draws the same numbers as torch.rand(b)."""
        from diffusers.training_utils import compute_density_for_timestep_sampling  # 2 s to import: only to train

        # diffusers draws torch.rand for any scheme but its two named ones ("uniform" among them)
        return compute_density_for_timestep_sampling(self.t_sampling, b, self.t_logit_mean, self.t_logit_std,
                                                     device=device)

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """OT flow matching (eq. 11) + velocity (eq. 12) on the L current frames, both masked.

        Deviations from eq. 11-12, on purpose: the L' clean context frames get no flow-matching loss (eq.
        11's second term asks the context tokens' outputs to reproduce the clean context, which they are
        given as input), and the velocity term compares one-frame differences of the implied endpoint
        x̂1 = x_t + (1 - t) v, appended to the clean context, against the data. Inside the current frames
        Δx̂1 - Δx1 = (1 - t)(Δv - Δu): eq. 12 weighted by (1 - t).
        """
        x = batch["x"]
        b, n, _ = x.shape
        lp = self.n_prev
        mask = frame_mask(batch)
        audio = self.audio_encoder(batch["audio"])
        x_prev, x1 = x[:, :lp], x[:, lp:]
        a_prev, a_cur = audio[:, :lp], audio[:, lp:]

        t = self.training_times(b, x.device)
        x0 = torch.randn_like(x1)
        x_t = ot_interpolate(x0, x1, t, self.sigma_min)
        u = ot_target_velocity(x0, x1, self.sigma_min)

        cond = {"audio": a_cur, "ref": batch["x_ref"], "emotion": batch["emotion"]}
        if self.training:
            cond = self.guidance.drop(cond)
        keep = context_keep(b, self.prev_drop, self.training, x.device)
        ctx_motion = x_prev * keep[:, None, None].to(x.dtype)
        ctx_audio = a_prev * keep[:, None, None].to(x.dtype)

        v = self.vector_field(x_t, t, ctx_motion, ctx_audio, cond["audio"], cond["ref"], cond["emotion"], mask)
        ot = flow_matching_loss(v, u, self.loss_kind, mask[:, lp:])
        # velocity over [context | x̂1] as eq. 12 runs over L'+L frames: the context is given, so the only
        # extra term is the seam step from the last context frame (skipped where the context was dropped)
        x1_hat = x_t + (1 - t)[:, None, None] * v
        vel_mask = mask & torch.cat([repeat(keep, "b -> b n", n=lp), mask.new_ones(b, n - lp)], dim=1)
        vel = velocity_loss(
            torch.cat([x_prev, x1_hat], dim=1), x, self.loss_kind, vel_mask
        )
        total = self.lambda_ot * ot + self.lambda_vel * vel
        return {"total": total, "ot": ot, "vel": vel}

    # -- sampling ---------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        cond: dict[str, torch.Tensor],
        steps: int | None = None,
        guidance: dict[str, float] | None = None,
        seed: int | None = None,
    ) -> FlowSampleOutput:
        """cond: audio [B, T, d_a], x_ref [B, dim], emotion [B, E]. ``steps`` = number of ODE time points
        (t = linspace(0, 1, steps), FLOAT's convention): Euler makes steps - 1 network calls per window.
        """
        was_training = self.training
        st = self.stream(cond, steps, guidance, seed)
        motion = st.run(cond["audio"])
        self.train(was_training)
        return FlowSampleOutput(motion=motion, nfe=st.nfe, branches=st.branches)

    @torch.no_grad()
    def stream(
        self,
        cond: dict[str, torch.Tensor],
        steps: int | None = None,
        guidance: dict[str, float] | None = None,
        seed: int | None = None,
        chunk: int | None = None,
    ) -> WindowStream:
        """``sample`` fed incrementally (generators.windowing.WindowStream): push raw audio features as
        they arrive. cond: x_ref [B, dim], emotion [B, E] (audio, if there, is ignored)."""
        check_cond_keys(cond, {"audio", "x_ref", "emotion"}, "FlowGenerator")
        steps = steps or self.nfe
        if steps < 2:
            raise ValueError(f"steps is the number of ODE time points and must be >= 2, got {steps}")
        scales = self.guidance.check_scales({**self.default_scales, **(guidance or {})})
        n_branch = self.guidance.n_branches(scales)
        self.eval()
        ref = cond["x_ref"]
        b, device = ref.shape[0], ref.device
        gen = seeded_generator(seed, device)
        ts = torch.linspace(0.0, 1.0, steps, device=device)
        calls = 0

        def window(prev_motion, prev_audio, cur_audio, valid_len, known=None):
            lp = self.n_prev
            if prev_motion is None:
                prev_motion = ref.new_zeros(b, lp, self.dim)
            if prev_audio is None:
                prev_audio = ref.new_zeros(b, lp, self.audio_hidden)
            # A short window (a stream's chunk, a clip's last window) runs on its valid frames only: the
            # padding is masked out of every attention, so dropping it changes nothing but the cost.
            n = valid_len
            cur_audio = cur_audio[:, :n]
            mask = window_mask(b, lp, n, n, device)
            branch_cond = self.guidance.batch(
                {"audio": cur_audio, "emotion": cond["emotion"], "ref": ref,
                 "prev_motion": prev_motion, "prev_audio": prev_audio, "mask": mask},
                scales,
            )

            # the whole window's noise is drawn, so the generator's random stream is the same either way
            x0 = torch.randn(b, self.n_cur, self.dim, generator=gen, device=device)[:, :n]
            k = 0 if known is None else known.shape[1]
            # replacement sampling: known frames move at their straight-path velocity, so every solver keeps
            # them on ot_interpolate(x0, known, t) while the rest of the window is sampled around them
            u_known = ot_target_velocity(x0[:, :k], known, self.sigma_min) if k else None

            def field(t, x):
                nonlocal calls
                calls += 1
                xb = repeat(x, "b ... -> (k b) ...", k=n_branch)
                tb = t.expand(xb.shape[0])
                v = self.vector_field(
                    xb, tb, branch_cond["prev_motion"], branch_cond["prev_audio"], branch_cond["audio"],
                    branch_cond["ref"], branch_cond["emotion"], branch_cond["mask"],
                )
                v = self.guidance.combine(v, scales)
                return torch.cat([u_known, v[:, k:]], dim=1) if k else v

            out = odeint(field, x0, ts, method=self.ode_method)[-1]
            if k:
                out = torch.cat([known, out[:, k:]], dim=1)
            return F.pad(out, (0, 0, 0, self.n_cur - n))

        return WindowStream(window, self.n_prev, self.n_cur, overlap=self.overlap, chunk=chunk,
                            encode=self.audio_encoder, context=encoder_context(self.audio_encoder),
                            nfe=lambda: calls, branches=n_branch, blend=self.blend)
