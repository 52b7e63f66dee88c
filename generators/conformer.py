"""GoHD's head-pose generator (sec. 3.1, fig. 3) made generic: conformer-structured residual diffusion.

* Target: the residual sequence Δ = x - x_ref of one named part of the motion vector (``part="pose"``;
  None = all dims), eps-prediction DDPM with GoHD's betas linspace(1e-4, 0.05, 150) (eq. 1-2, 4).
  ``prediction="x0"`` predicts Δ itself: gen=conformer's config default (gen=gohd's pose part keeps eps).
  Why: at GoHD's last step sqrt(ᾱ) = 0.15, so the clean estimate an eps model implies multiplies its error
  by up to 6.5; on rep=keypoint's 70 numbers the eps denoiser trained at the CPU budget samples white noise
  (sync -0.02), the x0 one its conditional mean (sync 0.24; docs/results/keypoint.md).
* Denoiser: a DiffWave-style stack of residual blocks. Each block: diffusion-step projection added ->
  conformer layers (attention + dilated depthwise conv, dilation 2^(i mod cycle)) -> + projected local
  condition (per-frame audio ⊕ repeated x_ref part) -> gated tanh * sigmoid -> residual and skip paths;
  the skips are summed into the output head.
* CFG (eq. 3): ε^γ = γ ε(x_n, a ⊕ p0) + (1 - γ) ε(x_n, a), 0 < γ < 1, from ONE network trained with the
  reference dropped to a (learned) null with ``drop_ref`` instead of GoHD's two separately trained models.
  ``Guidance`` over the condition "ref" in incremental mode computes exactly this with scale γ.
* Windows: L' clean context residuals are prepended as tokens with a context flag channel (the network
  predicts noise for the current frames only), so ``generate_windows`` can chain windows.

Samples are full motion vectors: the dims outside the part hold x_ref (another generator fills them; see
``generators/compose.py``).
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from conformer.conformer import Attention, FeedForward, PreNorm, Scale, Swish
from einops import rearrange, repeat
from torch import nn

from generators.backbone import SinusoidalTimeEmbedding
from generators.base import Generator
from generators.conditioning import (
    AudioEncoderSpec,
    GuidedSampleOutput,
    build_audio_encoder,
    check_cond_keys,
    context_keep,
    frame_mask,
    per_frame_condition,
    seeded_generator,
    window_mask,
)
from generators.diffusion_process import DiffusionProcess, Prediction, Sampler
from generators.guidance import Guidance
from generators.windowing import WindowStream, encoder_context
from sandbox.constants import N_EMOTIONS


def gohd_betas(steps: int = 150, start: float = 1e-4, end: float = 0.05) -> np.ndarray:
    return np.linspace(start, end, steps)


class DilatedConvModule(nn.Module):
    """The conformer convolution module with a dilated depthwise conv. GroupNorm instead of the
    ``conformer`` package's BatchNorm (batch statistics would mix guidance branches and padded frames)."""

    def __init__(self, dim: int, kernel: int = 3, dilation: int = 1, expansion: int = 2, dropout: float = 0.0):
        super().__init__()
        inner = dim * expansion
        self.norm = nn.LayerNorm(dim)
        self.pointwise_in = nn.Conv1d(dim, 2 * inner, 1)
        self.depthwise = nn.Conv1d(inner, inner, kernel, groups=inner, dilation=dilation,
                                   padding=dilation * (kernel - 1) // 2)
        self.group_norm = nn.GroupNorm(1, inner)
        self.act = Swish()
        self.pointwise_out = nn.Conv1d(inner, dim, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = rearrange(self.norm(x), "b n c -> b c n")
        h = F.glu(self.pointwise_in(h), dim=1)
        if mask is not None:  # padded frames must not leak into valid ones through the conv
            h = h * rearrange(mask, "b n -> b 1 n").to(h.dtype)
        h = self.act(self.group_norm(self.depthwise(h)))
        return self.drop(rearrange(self.pointwise_out(h), "b c n -> b n c"))


class DilatedConformerLayer(nn.Module):
    """Macaron conformer layer (the ``conformer`` package's feed-forward and relative-position
    attention) with a dilated convolution module."""

    def __init__(self, dim: int, heads: int, kernel: int, dilation: int, ff_mult: int = 2, dropout: float = 0.0):
        super().__init__()
        self.ff1 = Scale(0.5, PreNorm(dim, FeedForward(dim, mult=ff_mult, dropout=dropout)))
        self.attn = PreNorm(dim, Attention(dim, heads=heads, dim_head=dim // heads, dropout=dropout))
        self.conv = DilatedConvModule(dim, kernel, dilation, dropout=dropout)
        self.ff2 = Scale(0.5, PreNorm(dim, FeedForward(dim, mult=ff_mult, dropout=dropout)))
        self.post_norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.ff1(x)
        x = x + self.attn(x, mask=mask)
        x = x + self.conv(x, mask)
        x = x + self.ff2(x)
        return self.post_norm(x)


class ConformerResidualBlock(nn.Module):
    """DiffWave residual block with its dilated conv replaced by conformer layers (GoHD fig. 3)."""

    def __init__(self, channels: int, cond_dim: int, heads: int, kernel: int, dilation: int, n_conformers: int,
                 dropout: float = 0.0):
        super().__init__()
        self.step_proj = nn.Linear(channels, channels)
        self.conformers = nn.ModuleList(
            DilatedConformerLayer(channels, heads, kernel, dilation, dropout=dropout) for _ in range(n_conformers)
        )
        self.mid_proj = nn.Linear(channels, 2 * channels)
        self.cond_proj = nn.Linear(cond_dim, 2 * channels)
        self.out_proj = nn.Linear(channels, 2 * channels)

    def forward(self, x, step, cond, mask) -> tuple[torch.Tensor, torch.Tensor]:
        h = x + self.step_proj(step)[:, None]
        for layer in self.conformers:
            h = layer(h, mask)
        h = self.mid_proj(h) + self.cond_proj(cond)
        filt, gate = h.chunk(2, dim=-1)
        residual, skip = self.out_proj(torch.tanh(filt) * torch.sigmoid(gate)).chunk(2, dim=-1)
        return (x + residual) / math.sqrt(2.0), skip


class ConformerDenoiser(nn.Module):
    """[B, N, d_in] noisy / context tokens + step [B] + local condition [B, N, cond_dim] -> eps [B, N, d_out]."""

    def __init__(self, d_in: int, d_out: int, cond_dim: int, channels: int = 64, n_layers: int = 6,
                 dilation_cycle: int = 3, n_conformers: int = 2, heads: int = 4, kernel: int = 3,
                 dropout: float = 0.0):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels {channels} must be divisible by heads {heads}")
        self.to_channels = nn.Linear(d_in, channels)
        self.step_emb = SinusoidalTimeEmbedding(channels, scale=1.0)
        self.blocks = nn.ModuleList(
            ConformerResidualBlock(channels, cond_dim, heads, kernel, 2 ** (i % dilation_cycle), n_conformers,
                                   dropout)
            for i in range(n_layers)
        )
        self.head = nn.Sequential(nn.Linear(channels, channels), nn.SiLU(), nn.Linear(channels, d_out))
        nn.init.zeros_(self.head[-1].weight)  # DiffWave: the output starts at zero
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, x, t, cond, mask=None) -> torch.Tensor:
        h = self.to_channels(x)
        step = self.step_emb(t)
        skips = 0.0
        for block in self.blocks:
            h, skip = block(h, step, cond, mask)
            skips = skips + skip
        return self.head(skips / math.sqrt(len(self.blocks)))


class ConformerDiffusion(Generator):
    name = "conformer"

    def __init__(
        self,
        dim: int,
        audio_dim: int,
        emotion_dim: int = N_EMOTIONS,
        channels: int = 64,
        n_layers: int = 6,
        dilation_cycle: int = 3,
        n_conformers: int = 2,
        heads: int = 4,
        kernel: int = 3,
        dropout: float = 0.0,
        n_prev: int = 10,
        n_cur: int = 50,
        overlap: int = 0,
        part: str | None = None,
        parts: dict[str, slice] | None = None,
        use_emotion: bool = False,
        train_steps: int = 150,
        betas: tuple[float, float] = (1e-4, 0.05),
        prediction: Prediction = "eps",
        sampler: Sampler = "ddpm",
        sample_steps: int | None = None,
        ddim_eta: float = 0.0,
        gamma: float = 0.4,
        drop_ref: float = 0.2,
        null: Literal["zero", "learned"] = "learned",
        prev_drop: float = 0.5,
        audio_encoder: AudioEncoderSpec = None,
        audio_hidden: int | None = None,
    ):
        """``betas``: (start, end) of GoHD's linear schedule over ``train_steps``. ``gamma``: eq. 3's γ
        (0.4 in GoHD; 1 = reference-conditional only, one branch). ``use_emotion`` adds the emotion vector to
        the local condition (GoHD has none). ``prediction``: the network's target, eps (GoHD) or x0."""
        super().__init__(dim, audio_dim, n_prev, n_cur, overlap)
        if part is not None and (parts is None or part not in parts):
            raise ValueError(f"part {part!r} is not one of the representation's parts {sorted(parts or {})}")
        self.part = part
        self.register_buffer("index", torch.arange(dim)[parts[part]] if part else torch.arange(dim),
                             persistent=False)
        d = len(self.index)
        self.part_dim, self.use_emotion, self.prev_drop = d, use_emotion, prev_drop
        self.process = DiffusionProcess(train_steps, gohd_betas(train_steps, *betas), prediction)
        self.sampler_kind, self.ddim_eta = sampler, ddim_eta
        self.process.sampler(sampler, 1)
        self.sample_steps = sample_steps or (50 if sampler == "ddim" else train_steps)
        self.gamma = gamma

        self.audio_encoder, audio_hidden = build_audio_encoder(audio_dim, channels, audio_encoder, audio_hidden)
        self.audio_hidden = audio_hidden
        cond_dim = audio_hidden + d + (emotion_dim if use_emotion else 0)
        # tokens: [residual (clean context or noisy current) | context flag]
        self.denoiser = ConformerDenoiser(d + 1, d, cond_dim, channels, n_layers, dilation_cycle, n_conformers,
                                          heads, kernel, dropout)
        self.guidance = Guidance(["ref"], mode="incremental", null=null, dims={"ref": d},
                                 drop_prob={"ref": drop_ref})

    # -- the denoiser ----------------------------------------------------------------------------
    def denoise(self, x_t, t, prev_res, audio, ref, emotion, mask) -> torch.Tensor:
        """eps (or x0, by ``prediction``) for the current frames [B, L, d]: x_t [B, L, d] noisy residuals, prev_res [B, L', d] clean
        context residuals, audio [B, L'+L, h_a], ref [B, d] reference part (or its null)."""
        lp = prev_res.shape[1]
        flags = torch.cat([x_t.new_ones(x_t.shape[0], lp, 1), x_t.new_zeros(*x_t.shape[:2], 1)], dim=1)
        tokens = torch.cat([torch.cat([prev_res, x_t], dim=1), flags], dim=-1)
        local = [ref, audio] + ([emotion] if self.use_emotion else [])
        return self.denoiser(tokens, t, per_frame_condition(*local), mask)[:, lp:]

    # -- training -------------------------------------------------------------------------------
    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """GoHD eq. 2 on the part's residual to the reference, masked."""
        x, x_ref = batch["x"][..., self.index], batch["x_ref"][..., self.index]
        b, lp = x.shape[0], self.n_prev
        mask = frame_mask(batch)
        audio = self.audio_encoder(batch["audio"])
        res = x - x_ref[:, None]
        prev_res, res0 = res[:, :lp], res[:, lp:]
        t = torch.randint(0, self.process.train_steps, (b,), device=x.device)
        noise = torch.randn_like(res0)
        x_t = self.process.add_noise(res0, noise, t)
        cond = {"ref": x_ref}
        if self.training:
            cond = self.guidance.drop(cond)
        keep = context_keep(b, self.prev_drop, self.training, x.device)[:, None] & mask[:, :lp]
        prev_res = prev_res * keep[..., None].to(x.dtype)  # zeros = "no motion yet" (the start window)
        kpm = torch.cat([torch.ones_like(keep), mask[:, lp:]], dim=1)
        out = self.denoise(x_t, t, prev_res, audio, cond["ref"], batch["emotion"], kpm)
        target = self.process.target(res0, noise)
        simple = ((out - target).square() * mask[:, lp:, None]).sum() / (mask[:, lp:].sum() * x.shape[-1]).clamp_min(1)
        return {"total": simple, "simple": simple}

    # -- sampling -------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        cond: dict[str, torch.Tensor],
        steps: int | None = None,
        guidance: dict[str, float] | None = None,
        seed: int | None = None,
    ) -> GuidedSampleOutput:
        """cond: audio [B, T, d_a], x_ref [B, dim], emotion [B, E]. ``guidance={"ref": γ}`` overrides
        ``gamma``. Returns full motion vectors (x_ref outside the part)."""
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
        scales = self.guidance.check_scales({"ref": self.gamma, **(guidance or {})})
        n_branch = self.guidance.n_branches(scales)
        self.eval()
        x_ref = cond["x_ref"]
        ref = x_ref[..., self.index]
        b, device = x_ref.shape[0], x_ref.device
        gen = seeded_generator(seed, device)
        calls = 0

        def window(prev_res, prev_audio, cur_audio, valid_len):
            nonlocal calls
            if prev_res is None:
                prev_res = x_ref.new_zeros(b, self.n_prev, self.part_dim)
                prev_audio = x_ref.new_zeros(b, self.n_prev, self.audio_hidden)
            branch = self.guidance.batch(
                {"ref": ref, "emotion": cond["emotion"], "prev": prev_res,
                 "audio": torch.cat([prev_audio, cur_audio], dim=1),
                 "mask": window_mask(b, self.n_prev, self.n_cur, valid_len, device)},
                scales,
            )
            sched = self.process.sampler(self.sampler_kind, steps)
            extra = {"eta": self.ddim_eta} if self.sampler_kind == "ddim" else {}
            x = torch.randn(b, self.n_cur, self.part_dim, generator=gen, device=device)
            for t in sched.timesteps:
                calls += 1
                xb = repeat(x, "b ... -> (k b) ...", k=n_branch)
                out = self.denoise(xb, t.to(device).expand(xb.shape[0]), branch["prev"], branch["audio"],
                                   branch["ref"], branch["emotion"], branch["mask"])
                x = sched.step(self.guidance.combine(out, scales), int(t), x, generator=gen, **extra).prev_sample
            return x

        def full_motion(residual):  # the windows generate the part's residual of x_ref
            motion = repeat(x_ref, "b d -> b n d", n=residual.shape[1]).clone()
            motion[..., self.index] = residual + ref[:, None]  # eq. 4: p̂ = p0 + Δ̂
            return motion

        return WindowStream(window, self.n_prev, self.n_cur, overlap=self.overlap, chunk=chunk,
                            encode=self.audio_encoder, context=encoder_context(self.audio_encoder),
                            post=full_motion, nfe=lambda: calls, branches=n_branch, blend=self.blend)
