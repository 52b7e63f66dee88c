"""GoHD's two-stage expression predictor (sec. 3.2, fig. 5, B.2) made generic over representations.

The "spontaneous" features f (``rep.aux_features``: 3dmm blink ratio + brow displacements; batch["aux"]
[B, N, k]) separate the one-to-one part of motion (lips, from audio) from the one-to-many part (eyes,
brows).

* Stage 1 (eq. 5): frame-wise E_map(Φ_a(a_t) ⊕ x_ref ⊕ f_t) -> x_t with the ground-truth f as input.
  Loss λ_1 L1(x̂, x) (+ λ_eye L1(aux(x̂), f) when a differentiable ``aux_fn`` is given). GoHD's
  landmark / shut-up / lip-reading terms need a face mesh and a lip expert: not here.
* Stage 2 (eq. 6-8), stage 1 frozen: an LSTM over Φ_a(a_t) ⊕ ω_0 ⊕ x_ref ⊕ z_t (ω = Emb(f),
  z_t ~ N(0, I) per frame, concatenated to the input) predicts Δω_t; f̂_t = Dec(ω_0 + Δω_t);
  x̂ = E_map(a, x_ref, f̂). Loss (eq. 25-27, appendix C weights): 2 L_ssim(f̂, f) + 2 L1(f̂, f)
  + 1 LS-GAN(D_eye) + 1 LS-GAN(D_te on x̂) + 1 LS-GAN(D_tf on f̂) + 1 L_stage1(x̂).
* Discriminators (least squares, Mao et al.): D_eye a small transformer over [audio ⊕ f] (GoHD feeds
  eye-area landmarks; f is their representation-independent analogue), D_te / D_tf PatchGAN-style 1-D
  convs over motion and feature sequences.

Training protocol (what a LightningModule must do; ``sandbox/trainers/generator_module.py``):
  while ``needs_discriminator`` is False (stage 1) just minimise ``loss(batch)["total"]``. In stage 2 use
  manual optimisation with two optimisers, one over ``generator_parameters()``, one over
  ``discriminator_parameters()`` (GoHD lr 1e-4 / 1e-6), and per batch:
      d = gen.discriminator_loss(batch); opt_d.zero_grad(); backward(d["total"]); opt_d.step()
      g = gen.loss(batch);               opt_g.zero_grad(); backward(g["total"]); opt_g.step()
  ``loss`` never sends gradients into the discriminators or (in stage 2) into stage 1, so an optimiser over
  all ``parameters()`` cannot change them either, but the discriminators then never train.
  The stage is ``stage`` (1 or 2) or, when ``stage=None``, step-based: stage 1 for the first
  ``stage1_steps`` training calls of ``loss``, then stage 2.

Sampling runs the LSTM window by window (``WindowStream``), carrying its state across windows; f_0
comes from cond["aux_ref"] (rep.aux_features of the reference), else ``aux_fn(x_ref)``. NFE = 1 per
window (one pass of LSTM + decoder + E_map).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from x_transformers import Encoder

from generators.base import Generator, SampleOutput
from generators.conditioning import (
    AudioEncoderSpec,
    build_audio_encoder,
    check_cond_keys,
    frame_mask,
    per_frame_condition,
    seeded_generator,
)
from generators.windowing import WindowStream, encoder_context
from sandbox.losses import masked_mean
from sandbox.losses.ssim import ssim_loss

AuxFn = Callable[[torch.Tensor], torch.Tensor]  # motion [..., dim] -> aux features [..., k]


# -- least-squares GAN (Mao et al. 2017) ------------------------------------------------------------
def lsgan_discriminator_loss(real: torch.Tensor, fake: torch.Tensor, mask: torch.Tensor | None = None):
    return 0.5 * (masked_mean((real - 1).square(), mask) + masked_mean(fake.square(), mask))


def lsgan_generator_loss(fake: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    return masked_mean((fake - 1).square(), mask)


def mlp(d_in: int, hidden: int, d_out: int, depth: int = 2) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth - 1):
        layers += [nn.Linear(d_in if i == 0 else hidden, hidden), nn.SiLU()]
    layers.append(nn.Linear(hidden if depth > 1 else d_in, d_out))
    return nn.Sequential(*layers)


# -- discriminators ----------------------------------------------------------------------------------
class EyeDiscriminator(nn.Module):
    """D_eye: transformer over per-frame [audio ⊕ f] -> per-frame realness scores [B, N]."""

    def __init__(self, audio_dim: int, aux_dim: int, hidden: int = 64, depth: int = 2, heads: int = 4):
        super().__init__()
        self.to_tokens = nn.Linear(audio_dim + aux_dim, hidden)
        dim_head = max(hidden // heads, 8)  # x-transformers' rotary needs a few dims per head
        self.encoder = Encoder(dim=hidden, depth=depth, heads=heads, attn_dim_head=dim_head,
                               rotary_pos_emb=True, rotary_emb_dim=dim_head // 2, verbose=False)
        self.to_score = nn.Linear(hidden, 1)

    def forward(self, audio: torch.Tensor, aux: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.encoder(self.to_tokens(torch.cat([audio, aux], dim=-1)), mask=mask)
        return self.to_score(h)[..., 0]


class TemporalPatchDiscriminator(nn.Module):
    """D_te / D_tf: PatchGAN over time: strided 1-D convs -> one score per temporal patch [B, P]."""

    def __init__(self, in_dim: int, hidden: int = 64, n_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = []
        c = in_dim
        for i in range(n_layers):
            out = hidden * 2 ** min(i, 2)
            layers += [nn.Conv1d(c, out, 4, stride=2 if i < n_layers - 1 else 1, padding=1), nn.LeakyReLU(0.2)]
            c = out
        layers.append(nn.Conv1d(c, 1, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, seq: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None:  # padded frames look the same (zero) in real and generated sequences
            seq = seq * mask[..., None].to(seq.dtype)
        return self.net(seq.transpose(1, 2))[:, 0]


class TwoStageGenerator(Generator):
    name = "two_stage"
    blends = ()  # the LSTM state carries the context: its windows never overlap, so nothing joins them

    def __init__(
        self,
        dim: int,
        audio_dim: int,
        aux_dim: int,
        hidden: int = 64,
        depth: int = 3,
        emb_dim: int = 32,
        lstm_hidden: int = 64,
        noise_dim: int = 8,
        disc_hidden: int = 32,
        n_prev: int = 0,
        n_cur: int = 100,
        stage: int | None = None,
        stage1_steps: int = 1000,
        lambda_l1: float = 2.0,
        lambda_eye: float = 2.0,
        lambda_ssim: float = 2.0,
        lambda_aux_l1: float = 2.0,
        lambda_adv_eye: float = 1.0,
        lambda_adv_motion: float = 1.0,
        lambda_adv_aux: float = 1.0,
        lambda_stage1: float = 1.0,
        ssim_window: int | None = None,
        aux_fn: AuxFn | None = None,
        audio_encoder: AudioEncoderSpec = None,
        audio_hidden: int | None = None,
        use_aux: bool = True,
    ):
        """``stage``: 1 or 2 fixed, or None for the step-based switch after ``stage1_steps`` training calls.
        With ``stage=1`` stage 2 is never trained, so sampling holds f at the reference's f_0.
        ``use_aux``: f is an input of stage 1 (GoHD); False feeds zeros instead (with ``stage=1``: GoHD
        table 3's "w/o Stage 2 & f", a plain audio -> expression regressor).
        ``aux_fn``: the representation's differentiable aux_features (enables stage 1's L_eye and a
        fallback f_0 at sampling)."""
        super().__init__(dim, audio_dim, n_prev, n_cur)
        if stage not in (None, 1, 2):
            raise ValueError(f"stage must be 1, 2 or None (step-based), got {stage!r}")
        self.aux_dim, self.noise_dim = aux_dim, noise_dim
        self.fixed_stage, self.stage1_steps = stage, stage1_steps
        self.register_buffer("train_calls", torch.zeros((), dtype=torch.long))
        self.lambdas = dict(l1=lambda_l1, eye=lambda_eye, ssim=lambda_ssim, aux_l1=lambda_aux_l1,
                            adv_eye=lambda_adv_eye, adv_motion=lambda_adv_motion, adv_aux=lambda_adv_aux,
                            stage1=lambda_stage1)
        self.ssim_window = ssim_window
        self.aux_fn = aux_fn
        self.use_aux = use_aux

        # stage 1: Φ_a and E_map
        self.audio_encoder, audio_hidden = build_audio_encoder(audio_dim, hidden, audio_encoder, audio_hidden)
        self.audio_hidden = audio_hidden
        self.expression_map = mlp(audio_hidden + dim + aux_dim, hidden, dim, depth)
        # stage 2: Emb, LSTM -> Δω, Dec
        self.aux_embed = mlp(aux_dim, hidden, emb_dim)
        self.aux_decode = mlp(emb_dim, hidden, aux_dim)
        self.lstm = nn.LSTM(audio_hidden + emb_dim + dim + noise_dim, lstm_hidden, batch_first=True)
        self.to_delta = nn.Linear(lstm_hidden, emb_dim)
        nn.init.zeros_(self.to_delta.weight)  # starts at ω_t = ω_0 (residual prediction)
        nn.init.zeros_(self.to_delta.bias)
        # discriminators (trained only through discriminator_loss)
        self.disc_eye = EyeDiscriminator(audio_dim, aux_dim, disc_hidden)
        self.disc_motion = TemporalPatchDiscriminator(dim, disc_hidden)
        self.disc_aux = TemporalPatchDiscriminator(aux_dim, disc_hidden)

    # -- parameter groups and stage ---------------------------------------------------------------
    def stage1_modules(self) -> list[nn.Module]:
        return [self.audio_encoder, self.expression_map]

    def stage2_modules(self) -> list[nn.Module]:
        return [self.aux_embed, self.aux_decode, self.lstm, self.to_delta]

    def discriminators(self) -> list[nn.Module]:
        return [self.disc_eye, self.disc_motion, self.disc_aux]

    def generator_parameters(self) -> list[nn.Parameter]:
        return [p for m in self.stage1_modules() + self.stage2_modules() for p in m.parameters()]

    def discriminator_parameters(self) -> list[nn.Parameter]:
        return [p for m in self.discriminators() for p in m.parameters()]

    @property
    def stage(self) -> int:
        if self.fixed_stage is not None:
            return self.fixed_stage
        return 1 if int(self.train_calls) < self.stage1_steps else 2

    @property
    def needs_discriminator(self) -> bool:
        return self.stage == 2

    def _set_trainable(self, modules: list[nn.Module], flag: bool) -> None:
        for m in modules:
            m.requires_grad_(flag)

    # -- the networks -----------------------------------------------------------------------------
    def express(self, audio_enc: torch.Tensor, x_ref: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        """Stage 1, frame-wise (eq. 5): [B, N, h_a], [B, dim], [B, N, k] -> x [B, N, dim]."""
        if not self.use_aux:
            aux = torch.zeros_like(aux)
        return self.expression_map(per_frame_condition(audio_enc, x_ref, aux))

    def generate_aux(self, audio_enc, x_ref, aux0, z, state=None):
        """Stage 2 (eq. 6-7): f̂ [B, N, k] and the LSTM state to carry on."""
        w0 = self.aux_embed(aux0)
        out, state = self.lstm(per_frame_condition(audio_enc, w0, x_ref, z), state)
        return self.aux_decode(w0[:, None] + self.to_delta(out)), state

    def _aux0(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if "aux_ref" in batch:
            return batch["aux_ref"]
        if self.aux_fn is not None:
            return self.aux_fn(batch["x_ref"])
        return batch["aux"][:, 0]  # the window's first frame stands in for the reference

    def _fake(self, batch, audio_enc):
        x = batch["x"]
        z = torch.randn(*x.shape[:2], self.noise_dim, device=x.device, dtype=x.dtype)
        aux_hat, _ = self.generate_aux(audio_enc, batch["x_ref"], self._aux0(batch), z)
        return aux_hat, self.express(audio_enc, batch["x_ref"], aux_hat)

    # -- losses -----------------------------------------------------------------------------------
    def _stage1_terms(self, x_hat, batch, mask) -> dict[str, torch.Tensor]:
        terms = {"l1": masked_mean((x_hat - batch["x"]).abs(), mask)}
        if self.aux_fn is not None:
            terms["eye"] = masked_mean((self.aux_fn(x_hat) - batch["aux"]).abs(), mask)
        return terms

    def _stage1_total(self, terms) -> torch.Tensor:
        return sum(self.lambdas[k] * v for k, v in terms.items())

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if "aux" not in batch:
            raise KeyError("two_stage needs batch['aux'] = rep.aux_features(x) [B, N, k]")
        stage = self.stage
        if self.training:
            self.train_calls += 1
        mask = frame_mask(batch)
        if stage == 1:
            self._set_trainable(self.stage1_modules(), True)
            x_hat = self.express(self.audio_encoder(batch["audio"]), batch["x_ref"], batch["aux"])
            terms = self._stage1_terms(x_hat, batch, mask)
            return {"total": self._stage1_total(terms), **terms}

        # stage 2: stage 1 and the discriminators get no gradient from the generator's loss
        self._set_trainable(self.stage1_modules() + self.discriminators(), False)
        try:
            audio_enc = self.audio_encoder(batch["audio"])
            aux_hat, x_hat = self._fake(batch, audio_enc)
            s1 = self._stage1_terms(x_hat, batch, mask)
            terms = {
                "ssim": ssim_loss(aux_hat, batch["aux"], mask, self.ssim_window),
                "aux_l1": masked_mean((aux_hat - batch["aux"]).abs(), mask),
                "adv_eye": lsgan_generator_loss(self.disc_eye(batch["audio"], aux_hat, mask), mask),
                "adv_motion": lsgan_generator_loss(self.disc_motion(x_hat, mask)),
                "adv_aux": lsgan_generator_loss(self.disc_aux(aux_hat, mask)),
                "stage1": self._stage1_total(s1),
            }
        finally:
            self._set_trainable(self.discriminators(), True)
        total = sum(self.lambdas[k] * v for k, v in terms.items())
        return {"total": total, **terms, **{f"stage1_{k}": v for k, v in s1.items()}}

    def discriminator_loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Least-squares loss of the three discriminators on real vs generated (detached) sequences."""
        mask = frame_mask(batch)
        with torch.no_grad():
            aux_hat, x_hat = self._fake(batch, self.audio_encoder(batch["audio"]))
        a, aux, x = batch["audio"], batch["aux"], batch["x"]
        terms = {
            "d_eye": lsgan_discriminator_loss(self.disc_eye(a, aux, mask), self.disc_eye(a, aux_hat, mask), mask),
            "d_motion": lsgan_discriminator_loss(self.disc_motion(x, mask), self.disc_motion(x_hat, mask)),
            "d_aux": lsgan_discriminator_loss(self.disc_aux(aux, mask), self.disc_aux(aux_hat, mask)),
        }
        return {"total": sum(terms.values()), **terms}

    # -- sampling ---------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        cond: dict[str, torch.Tensor],
        steps: int | None = None,
        guidance: dict[str, float] | None = None,
        seed: int | None = None,
    ) -> SampleOutput:
        """cond: audio [B, T, d_a], x_ref [B, dim], emotion (unused), aux_ref [B, k] (else aux_fn(x_ref)).
        ``steps`` / ``guidance`` do not apply (one pass per window)."""
        was_training = self.training
        st = self.stream(cond, steps, guidance, seed)
        motion = st.run(cond["audio"])
        self.train(was_training)
        return SampleOutput(motion=motion, nfe=st.nfe)

    @torch.no_grad()
    def stream(
        self,
        cond: dict[str, torch.Tensor],
        steps: int | None = None,
        guidance: dict[str, float] | None = None,
        seed: int | None = None,
        chunk: int | None = None,
    ) -> WindowStream:
        """``sample`` fed incrementally (generators.windowing.WindowStream); the LSTM state carries over
        from window to window. cond: x_ref, aux_ref (or aux_fn)."""
        check_cond_keys(cond, {"audio", "x_ref", "emotion", "aux_ref"}, type(self).__name__)
        if guidance:
            raise ValueError("two_stage has no guidance")
        if "aux_ref" in cond:
            aux0 = cond["aux_ref"]
        elif self.aux_fn is not None:
            aux0 = self.aux_fn(cond["x_ref"])
        else:
            raise ValueError("two_stage.sample needs cond['aux_ref'] = rep.aux_features(x_ref) (or aux_fn)")
        self.eval()
        x_ref = cond["x_ref"]
        b, device = x_ref.shape[0], x_ref.device
        gen = seeded_generator(seed, device)
        state, calls = None, 0

        def window(prev_motion, prev_audio, cur_audio, valid_len):
            # the frames past valid_len are padding: the LSTM (causal) runs over the valid ones only, so
            # its state after a short window (a stream's chunk) carries on exactly
            nonlocal state, calls
            calls += 1
            audio = cur_audio[:, :valid_len]
            pad = (0, 0, 0, cur_audio.shape[1] - valid_len)
            if self.fixed_stage == 1:  # stage 2 never trained: f stays at the reference's
                x = self.express(audio, x_ref, aux0[:, None].expand(-1, valid_len, -1))
                return torch.nn.functional.pad(x, pad)
            z = torch.randn(b, cur_audio.shape[1], self.noise_dim, generator=gen, device=device)[:, :valid_len]
            aux_hat, state = self.generate_aux(audio, x_ref, aux0, z, state)
            return torch.nn.functional.pad(self.express(audio, x_ref, aux_hat), pad)

        # the LSTM state is the context: no preceding frames
        return WindowStream(window, 0, self.n_cur, chunk=chunk, encode=self.audio_encoder,
                            context=encoder_context(self.audio_encoder), nfe=lambda: calls)
