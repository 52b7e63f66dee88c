"""Denoising diffusion of motion windows (JoyVASA; FLOAT's eps / x0 ablation) on the shared backbone.

Per window: tokens = [L' clean preceding frames | L noisy current frames x_t]; per-frame condition
c^l = Emb(n) + ToCondition([x_ref, audio_l, emotion]) with the diffusion step n in place of flow time
(same ``MotionTransformer``, ``adaln`` or ``cross_attn``). The network predicts either the noise eps
(``prediction="eps"``) or the clean current frames x0 (``"x0"``, JoyVASA eq. 2).

* Forward process and samplers are diffusers' schedulers: cosine betas (``squaredcos_cap_v2``) over 500
  training steps (FLOAT / VASA-1 settings); DDIM with 50 steps (FLOAT ablation) or DDPM ancestral
  sampling (JoyVASA). Sub-sampled timesteps use diffusers' default "leading" spacing (DDIM 50 of 500:
  490, 480, ..., 0). "trailing" (499, 489, ..., 9) starts from purer noise but breaks eps-prediction: the
  cosine schedule's last step has ᾱ = 1e-8, so x̂0 = (x - sqrt(1 - ᾱ) ε̂) / sqrt(ᾱ) amplifies any error in ε̂
  10^4-fold (measured: eps-mode DDIM samples in the hundreds on normalised motion).
* Losses (JoyVASA eq. 4-8, L2): simple (on what the network predicts) + velocity + smoothness (own
  acceleration of x̂0) over [context | x̂0], + extra weight on named parts (``part_weights``, L_exp).
  In eps mode x̂0 = (x_t - sqrt(1 - ᾱ) ε̂) / sqrt(ᾱ) explodes at high noise, so the auxiliary terms see
  its error scaled by sqrt(ᾱ_n) (i.e. weighted by ᾱ_n).
* Start window: zeros or learned start features (JoyVASA's X_start / A_start); in training they replace
  the context where it is dropped or lies before the clip start (mask False), so they are what the model
  meets at the first window.
* CFG (JoyVASA eq. 3) through ``Guidance``: audio dropped with p = 0.1, learned null, scale 2.

NFE: ``nfe`` counts denoiser network CALLS summed over windows (all guidance branches batched in one call;
``branches`` says how many).
"""
from __future__ import annotations

from typing import Literal

import torch
from einops import repeat
from torch import nn

from generators.backbone import Conditioning, MotionTransformer, SinusoidalTimeEmbedding
from generators.base import Generator
from generators.conditioning import (
    AudioEncoderSpec,
    ContextStart,
    GuidedSampleOutput,
    Start,
    build_audio_encoder,
    check_cond_keys,
    context_keep,
    frame_mask,
    per_frame_condition,
    random_truncation,
    seeded_generator,
    window_mask,
)
from generators.diffusion_process import DiffusionProcess, Prediction, Sampler
from generators.guidance import Guidance
from generators.windowing import WindowStream, encoder_context
from sandbox.constants import N_EMOTIONS
from sandbox.losses import masked_mean, smoothness_loss, velocity_loss


def resolve_part_weights(
    parts: dict[str, slice] | None, part_weights: dict[str, float] | None, default: dict[str, float]
) -> dict[str, float]:
    """Explicit weights must name existing parts; the default applies to the parts that exist."""
    parts = parts or {}
    if part_weights is None:
        return {k: w for k, w in default.items() if k in parts}
    unknown = set(part_weights) - set(parts)
    if unknown:
        raise ValueError(f"part_weights name unknown part(s) {sorted(unknown)}; parts: {sorted(parts)}")
    return {k: float(w) for k, w in part_weights.items()}


class DiffusionGenerator(Generator):
    name = "diffusion"

    def __init__(
        self,
        dim: int,
        audio_dim: int,
        emotion_dim: int = N_EMOTIONS,
        hidden: int = 64,
        depth: int = 2,
        heads: int = 4,
        n_prev: int = 25,
        n_cur: int = 100,
        overlap: int = 0,
        conditioning: Conditioning = "adaln",
        local_window: int | None = 2,
        ff_mult: int = 4,
        dropout: float = 0.0,
        prediction: Prediction = "x0",
        sampler: Sampler = "ddpm",
        train_steps: int = 500,
        sample_steps: int | None = None,
        beta_schedule: str = "squaredcos_cap_v2",
        ddim_eta: float = 0.0,
        start: Start = "learned",
        prev_drop: float = 0.5,
        truncate_prob: float = 0.0,
        guided: tuple[str, ...] = ("audio",),
        scales: dict[str, float] | None = None,
        guidance_mode: Literal["incremental", "independent"] = "incremental",
        null: Literal["zero", "learned"] = "learned",
        drop_audio: float = 0.1,
        drop_ref: float = 0.0,
        drop_emotion: float = 0.0,
        lambda_simple: float = 1.0,
        lambda_vel: float = 5.0,
        lambda_smooth: float = 0.5,
        parts: dict[str, slice] | None = None,
        part_weights: dict[str, float] | None = None,
        audio_encoder: AudioEncoderSpec = None,
        audio_hidden: int | None = None,
    ):
        """``sample_steps``: default 50 for DDIM, ``train_steps`` for DDPM. ``scales``: default guidance
        scales (audio 2, others 1). ``part_weights`` default {"exp": 0.1} when the representation has an
        ``exp`` part (JoyVASA's L_exp)."""
        super().__init__(dim, audio_dim, n_prev, n_cur, overlap)
        self.emotion_dim = emotion_dim
        self.process = DiffusionProcess(train_steps, beta_schedule, prediction)
        self.sampler_kind, self.ddim_eta = sampler, ddim_eta
        self.process.sampler(sampler, 1)  # fail early on a bad sampler name
        self.sample_steps = sample_steps or (50 if sampler == "ddim" else train_steps)
        self.prev_drop, self.truncate_prob = prev_drop, truncate_prob
        self.lambdas = {"simple": lambda_simple, "vel": lambda_vel, "smooth": lambda_smooth}
        self.parts = dict(parts or {})
        self.part_weights = resolve_part_weights(parts, part_weights, {"exp": 0.1})

        self.audio_encoder, audio_hidden = build_audio_encoder(audio_dim, hidden, audio_encoder, audio_hidden)
        self.audio_hidden = audio_hidden
        self.start = ContextStart(n_prev, dim, audio_hidden, start)
        self.step_emb = SinusoidalTimeEmbedding(hidden, scale=1.0)  # integer steps spread the frequencies
        self.to_condition = nn.Linear(dim + audio_hidden + emotion_dim, hidden)
        self.denoiser = MotionTransformer(
            dim_in=dim, dim_out=dim, hidden=hidden, depth=depth, heads=heads, cond_dim=hidden,
            conditioning=conditioning, local_window=local_window, ff_mult=ff_mult, dropout=dropout,
            max_len=n_prev + n_cur,
        )
        self.guidance = Guidance(
            conditions=list(guided), mode=guidance_mode, null=null,
            dims={"audio": audio_hidden, "ref": dim, "emotion": emotion_dim},
            drop_prob={"audio": drop_audio, "ref": drop_ref, "emotion": drop_emotion},
        )
        default = {c: (2.0 if c == "audio" else 1.0) for c in guided}
        self.default_scales = self.guidance.check_scales({**default, **(scales or {})})

    # -- the denoiser ---------------------------------------------------------------------------
    def denoise(
        self,
        x_t: torch.Tensor,  # [B, L, dim] noisy current frames
        t: torch.Tensor,  # [B] integer diffusion steps
        prev_motion: torch.Tensor,  # [B, L', dim] clean context (or start features)
        prev_audio: torch.Tensor,  # [B, L', h_a]
        audio: torch.Tensor,  # [B, L, h_a]
        ref: torch.Tensor,  # [B, dim]
        emotion: torch.Tensor,  # [B, E]
        key_padding_mask: torch.Tensor | None = None,  # [B, L'+L]
    ) -> torch.Tensor:
        """The network's prediction (eps or x0) for the current frames: [B, L, dim]."""
        tokens = torch.cat([prev_motion, x_t], dim=1)
        per_frame = per_frame_condition(ref, torch.cat([prev_audio, audio], dim=1), emotion)
        cond = self.step_emb(t)[:, None] + self.to_condition(per_frame)
        return self.denoiser(tokens, cond, key_padding_mask)[:, prev_motion.shape[1] :]

    # -- training ---------------------------------------------------------------------------------
    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["x"]
        b, n, _ = x.shape
        lp = self.n_prev
        mask = frame_mask(batch)
        if self.training:
            mask = random_truncation(mask, lp, self.truncate_prob)
        audio = self.audio_encoder(batch["audio"])
        x_prev, x0 = x[:, :lp], x[:, lp:]
        a_prev, a_cur = audio[:, :lp], audio[:, lp:]

        t = torch.randint(0, self.process.train_steps, (b,), device=x.device)
        noise = torch.randn_like(x0)
        x_t = self.process.add_noise(x0, noise, t)

        cond = {"audio": a_cur, "ref": batch["x_ref"], "emotion": batch["emotion"]}
        if self.training:
            cond = self.guidance.drop(cond)
        keep = context_keep(b, self.prev_drop, self.training, x.device)
        real_ctx = keep[:, None] & mask[:, :lp]  # start features elsewhere, always visible
        ctx_motion, ctx_audio = self.start.replace(x_prev, a_prev, real_ctx)
        kpm = torch.cat([torch.ones_like(mask[:, :lp]), mask[:, lp:]], dim=1)

        out = self.denoise(x_t, t, ctx_motion, ctx_audio, cond["audio"], cond["ref"], cond["emotion"], kpm)
        cur_mask = mask[:, lp:]
        terms = {"simple": masked_mean((out - self.process.target(x0, noise)).square(), cur_mask)}

        x0_hat = self.process.to_x0(out, x_t, t)
        if self.process.prediction == "eps":  # bound the auxiliary terms at high noise (module doc)
            ab = self.process.alpha_bar(t, x0)
            x0_hat = x0 + ab.sqrt() * (x0_hat - x0)
        # velocity / smoothness over [real context | x̂0]: the seam step counts where the context is real
        seq_mask = torch.cat([real_ctx, cur_mask], dim=1)
        seq_hat = torch.cat([x_prev, x0_hat], dim=1)
        terms["vel"] = velocity_loss(seq_hat, x, "l2", seq_mask)
        terms["smooth"] = smoothness_loss(seq_hat, None, "l2", seq_mask)
        total = sum(self.lambdas[k] * v for k, v in terms.items())
        for name, w in self.part_weights.items():
            sl = self.parts[name]
            terms[name] = masked_mean((x0_hat[..., sl] - x0[..., sl]).square(), cur_mask)
            total = total + w * terms[name]
        return {"total": total, **terms}

    # -- sampling ---------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        cond: dict[str, torch.Tensor],
        steps: int | None = None,
        guidance: dict[str, float] | None = None,
        seed: int | None = None,
    ) -> GuidedSampleOutput:
        """cond: audio [B, T, d_a], x_ref [B, dim], emotion [B, E]. ``steps``: denoising steps per window
        (one network call each)."""
        was_training = self.training
        st = self.stream(cond, steps, guidance, seed)
        motion = st.run(cond["audio"])
        self.train(was_training)
        return GuidedSampleOutput(motion=motion, nfe=st.nfe, branches=st.branches)

    @torch.no_grad()
    def stream(
        self,
        cond: dict[str, torch.Tensor],
        steps: int | None = None,
        guidance: dict[str, float] | None = None,
        seed: int | None = None,
        chunk: int | None = None,
    ) -> WindowStream:
        """``sample`` fed incrementally (generators.windowing.WindowStream). cond: x_ref, emotion."""
        check_cond_keys(cond, {"audio", "x_ref", "emotion"}, type(self).__name__)
        steps = steps or self.sample_steps
        scales = self.guidance.check_scales({**self.default_scales, **(guidance or {})})
        n_branch = self.guidance.n_branches(scales)
        self.eval()
        ref = cond["x_ref"]
        b, device = ref.shape[0], ref.device
        gen = seeded_generator(seed, device)
        calls = 0

        def window(prev_motion, prev_audio, cur_audio, valid_len):
            nonlocal calls
            prev_motion, prev_audio = self.start.fill(prev_motion, prev_audio, b, ref)
            branch = self.guidance.batch(
                {"audio": cur_audio, "emotion": cond["emotion"], "ref": ref,
                 "prev_motion": prev_motion, "prev_audio": prev_audio,
                 "mask": window_mask(b, self.n_prev, self.n_cur, valid_len, device)},
                scales,
            )
            sched = self.process.sampler(self.sampler_kind, steps)
            x = torch.randn(b, self.n_cur, self.dim, generator=gen, device=device)
            extra = {"eta": self.ddim_eta} if self.sampler_kind == "ddim" else {}
            for t in sched.timesteps:
                calls += 1
                xb = repeat(x, "b ... -> (k b) ...", k=n_branch)
                out = self.denoise(
                    xb, t.to(device).expand(xb.shape[0]), branch["prev_motion"], branch["prev_audio"],
                    branch["audio"], branch["ref"], branch["emotion"], branch["mask"],
                )
                out = self.guidance.combine(out, scales)
                x = sched.step(out, int(t), x, generator=gen, **extra).prev_sample
            return x

        start_m, start_a = self.start.for_windows()
        return WindowStream(window, self.n_prev, self.n_cur, start_m, start_a, self.overlap, chunk,
                            encode=self.audio_encoder, context=encoder_context(self.audio_encoder),
                            nfe=lambda: calls, branches=n_branch, blend=self.blend)
