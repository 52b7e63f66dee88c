"""The sequence backbone shared by the flow and diffusion generators: a vector-field / denoiser transformer
over per-frame motion tokens with per-frame conditions and a local (banded) self-attention mask.

Two ways to condition (FLOAT sec. 4.2 and its ablation, tab. 3):

* ``adaln`` (FLOAT): frame-wise AdaLN. Frame l's condition c^l gives that frame's own shift / scale / gate
  (eq. 10: γ LN(X^l) + β and α X^l, twice per block: 6 x hidden, DiT adaLN-Zero: modulation and output
  layers zero-initialised), then a masked self-attention mixes frames. Written here on top of
  x-transformers' ``Attention`` / ``FeedForward``: x-transformers' own ``use_adaptive_layernorm`` does accept
  a per-token condition [B, N, dim_condition], but it is scale-only (no shift β) and its adaptive layerscale
  gate is ``sigmoid`` with bias -2 (not zero-initialised), so it is not eq. 10.
* ``cross_attn`` (the ablation): tokens = Linear(x); each block = local masked self-attention, then
  cross-attention to the condition sequence, then feed-forward (x-transformers ``Encoder`` with
  ``cross_attend=True``). The cross-attention is FULL over the valid condition frames (x-transformers passes
  no ``attn_mask`` to cross-attention layers); it knows relative positions through rotary embeddings on both
  queries and keys (``context_pos``), so it can learn to look at its own frame.

Positions: rotary (relative) in every self-attention: works for any window length and matches the notion
of a frame seeing its neighbours [i - w, i + w]. With ``max_len`` a learned absolute embedding is added to
the tokens too: relative positions alone cannot tell a token whether it is clean context or a noisy current
frame, or that it sits at the window's edge (measured on a tiny flow model: without it the last frames of
each window flattened, steps 0.16-0.18 vs 0.25 elsewhere). The local mask is applied in every layer, so with depth D
a frame's receptive field is D * w frames.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from einops import rearrange
from torch import nn
from x_transformers import Encoder
from x_transformers.x_transformers import Attention, FeedForward, RotaryEmbedding

Conditioning = Literal["adaln", "cross_attn"]


def local_attention_mask(
    n: int,
    window: int | None,
    key_padding_mask: torch.Tensor | None = None,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Boolean attention mask, True = may attend: [B or 1, 1, N, N].

    Query i sees keys j with |i - j| <= window (all keys when window is None) that are valid. Every query
    always sees itself, so a padded frame attends to itself only (no all-masked row -> no NaN) while valid
    frames never see padded ones.
    """
    idx = torch.arange(n, device=device)
    band = torch.ones(n, n, dtype=torch.bool, device=device)
    if window is not None:
        band = (idx[:, None] - idx[None, :]).abs() <= window
    mask = rearrange(band, "i j -> 1 1 i j")
    if key_padding_mask is not None:
        eye = rearrange(torch.eye(n, dtype=torch.bool, device=device), "i j -> 1 1 i j")
        mask = mask & (rearrange(key_padding_mask.bool(), "b j -> b 1 1 j") | eye)
    return mask


class SinusoidalTimeEmbedding(nn.Module):
    """Emb(t): sinusoidal features of a (flow or diffusion) time followed by an MLP (DiT's t-embedder).

    ``scale`` multiplies t first: flow time lives in [0, 1], so 1000 spreads it over the frequencies the
    way integer diffusion steps are spread.
    """

    def __init__(self, hidden: int, freq_dim: int = 256, scale: float = 1000.0, max_period: float = 10_000.0):
        super().__init__()
        self.freq_dim, self.scale, self.max_period = freq_dim, scale, max_period
        self.mlp = nn.Sequential(nn.Linear(freq_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """t [B] (or scalar) -> [B, hidden]."""
        t = torch.as_tensor(t, dtype=torch.float32, device=self.mlp[0].weight.device).reshape(-1)
        half = self.freq_dim // 2
        freqs = torch.exp(-math.log(self.max_period) * torch.arange(half, device=t.device) / half)
        args = (t * self.scale)[:, None] * freqs[None]
        return self.mlp(torch.cat([args.cos(), args.sin()], dim=-1))


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class FrameAdaLNBlock(nn.Module):
    """One DiT block with per-frame (not per-sequence) shift / scale / gate, FLOAT eq. 10."""

    def __init__(self, hidden: int, heads: int, cond_dim: int, ff_mult: int = 4, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(hidden, heads=heads, dim_head=hidden // heads, dropout=dropout)
        self.norm2 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.ff = FeedForward(hidden, mult=ff_mult, dropout=dropout)
        # ToScaleShift: c^l -> (β1, γ1, α1, β2, γ2, α2); zero-init so each block starts as the identity
        self.to_scale_shift = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 6 * hidden))
        nn.init.zeros_(self.to_scale_shift[1].weight)
        nn.init.zeros_(self.to_scale_shift[1].bias)

    def forward(self, x, cond, attn_mask, rotary) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.to_scale_shift(cond).chunk(6, dim=-1)
        h = _modulate(self.norm1(x), shift1, scale1)
        x = x + gate1 * self.attn(h, attn_mask=attn_mask, rotary_pos_emb=rotary)
        return x + gate2 * self.ff(_modulate(self.norm2(x), shift2, scale2))


class MotionTransformer(nn.Module):
    """Per-frame tokens x [B, N, dim_in] + per-frame conditions [B, N, cond_dim] -> [B, N, dim_out]."""

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        hidden: int,
        depth: int,
        heads: int,
        cond_dim: int,
        conditioning: Conditioning = "adaln",
        local_window: int | None = 2,
        ff_mult: int = 4,
        dropout: float = 0.0,
        max_len: int | None = None,
    ):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden {hidden} must be divisible by heads {heads}")
        if conditioning not in ("adaln", "cross_attn"):
            raise ValueError(f"conditioning must be 'adaln' or 'cross_attn', got {conditioning!r}")
        self.conditioning = conditioning
        self.local_window = local_window
        self.to_tokens = nn.Linear(dim_in, hidden)
        self.max_len = max_len
        self.pos_emb = None
        if max_len is not None:
            self.pos_emb = nn.Parameter(0.02 * torch.randn(max_len, hidden))
        dim_head = hidden // heads
        if conditioning == "adaln":
            self.rotary = RotaryEmbedding(max(dim_head // 2, 2))
            self.blocks = nn.ModuleList(
                FrameAdaLNBlock(hidden, heads, cond_dim, ff_mult, dropout) for _ in range(depth)
            )
            self.final_norm = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
            self.final_scale_shift = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 2 * hidden))
            nn.init.zeros_(self.final_scale_shift[1].weight)
            nn.init.zeros_(self.final_scale_shift[1].bias)
        else:
            self.to_context = nn.Linear(cond_dim, hidden)
            self.encoder = Encoder(
                dim=hidden,
                depth=depth,
                heads=heads,
                attn_dim_head=dim_head,
                cross_attend=True,
                rotary_pos_emb=True,
                ff_mult=ff_mult,
                attn_dropout=dropout,
                ff_dropout=dropout,
                verbose=False,  # silences a language-model hint about rotary dims
            )
        self.to_out = nn.Linear(hidden, dim_out)
        nn.init.zeros_(self.to_out.weight)  # DiT: the field starts at 0
        nn.init.zeros_(self.to_out.bias)

    def forward(
        self, x: torch.Tensor, cond: torch.Tensor, key_padding_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        n = x.shape[1]
        attn_mask = local_attention_mask(n, self.local_window, key_padding_mask, device=x.device)
        attn_mask = attn_mask.expand(x.shape[0], 1, n, n)
        h = self.to_tokens(x)
        if self.pos_emb is not None:
            if n > self.max_len:
                raise ValueError(f"sequence of {n} tokens exceeds max_len {self.max_len}")
            h = h + self.pos_emb[:n]
        pos = torch.arange(n, device=x.device)
        if self.conditioning == "adaln":
            rotary = self.rotary(pos)
            for block in self.blocks:
                h = block(h, cond, attn_mask, rotary)
            shift, scale = self.final_scale_shift(cond).chunk(2, dim=-1)
            h = _modulate(self.final_norm(h), shift, scale)
        else:
            context_mask = None if key_padding_mask is None else key_padding_mask.bool()
            h = self.encoder(
                h,
                context=self.to_context(cond),
                context_mask=context_mask,
                attn_mask=attn_mask,
                context_pos=pos,
            )
        return self.to_out(h)
