"""Every generator with every representation, from the real configs: each crossing composes (strict keys),
builds with the rep's parts and aux features, trains two Lightning steps on a synthetic batch (two_stage:
one stage-1 step, then one adversarial stage-2 step) and samples 2.5 windows as the sample stage does.
Plus: gen=gohd needs pose/exp parts (ConfigError before any work), lia's aux analogue, and one real
end-to-end CLI run of a non-flow generator (~20 s)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from generators.compose import part_aux_fn
from sandbox.config import check_call, to_dict
from sandbox.constants import N_EMOTIONS
from sandbox.errors import ConfigError
from sandbox.pipeline.components import aux_spec, build_gen, build_rep
from sandbox.run import compose_config, main
from sandbox.trainers.factory import make_trainer
from sandbox.trainers.generator_module import GeneratorModule, discriminator_parameters

AUDIO_DIM, BATCH = 6, 3
GENS = {
    "flow": ["gen=flow"],
    "diffusion-x0": ["gen=diffusion", "gen.prediction=x0"],
    "diffusion-eps": ["gen=diffusion", "gen.prediction=eps"],
    "conformer": ["gen=conformer"],
    "two_stage": ["gen=two_stage"],
}
CROSSINGS = [(r, g) for r in ("lia", "3dmm", "keypoint") for g in GENS] + [("3dmm", "gohd")]
_REPS: dict[str, object] = {}


def compose(rep: str, gen: list[str], tmp: Path, *extra: str):
    # max_steps=2: two_stage's stage 1 is the first half of training -> one step of each stage;
    # freq_mask=0: the batches' audio is AUDIO_DIM random channels, not stacked log-mel spectra
    return compose_config([f"rep={rep}", *gen, "preset=smoke", f"paths.cache={tmp / 'cache'}",
                           f"out={tmp / 'run'}", "train.max_steps=2", "audio_encoder.freq_mask=0", *extra])


def rep_for(name: str, cfg):
    if name not in _REPS:  # an unfitted rep: identity normaliser, random lia basis; enough for shapes
        torch.manual_seed(0)
        _REPS[name] = build_rep(cfg)
    return _REPS[name]


def window_batch(n: int, dim: int) -> dict[str, torch.Tensor]:
    """A collated WindowDataset batch: the first window starts at the clip start (L' padded), the last
    is truncated."""
    g = torch.Generator().manual_seed(0)
    mask = torch.ones(BATCH, n, dtype=torch.bool)
    mask[0, :2], mask[-1, -3:] = False, False
    x = torch.randn(BATCH, n, dim, generator=g).cumsum(1) * 0.3 * mask[..., None]
    return {"x": x, "audio": torch.randn(BATCH, n, AUDIO_DIM, generator=g) * mask[..., None],
            "x_ref": torch.randn(BATCH, dim, generator=g), "emotion": torch.eye(N_EMOTIONS)[:BATCH], "mask": mask}


@pytest.mark.parametrize("rep_name,gen_name", CROSSINGS, ids=[f"{r}-{g}" for r, g in CROSSINGS])
def test_crossing_trains_and_samples(rep_name, gen_name, tmp_path):
    adversarial = gen_name in ("two_stage", "gohd")
    ema = ["train.module.ema_decay=0.5"] if adversarial else []  # EMA along the manual optimisation path
    cfg = compose(rep_name, GENS.get(gen_name, [f"gen={gen_name}"]), tmp_path, *ema)
    rep = rep_for(rep_name, cfg)
    torch.manual_seed(0)
    gen = build_gen(cfg, rep.dim, AUDIO_DIM, rep)
    module = GeneratorModule(gen, **check_call(GeneratorModule, cfg.train.module, "train.module"))
    assert module.automatic_optimization is not adversarial
    disc = {id(p) for p in discriminator_parameters(gen)}
    before = {n: p.detach().clone() for n, p in gen.named_parameters()}
    trainer = make_trainer(tmp_path / "train", max_steps=2, loggers=(), enable_progress_bar=False,
                           log_every_n_steps=1, gradient_clip_val=cfg.train.gradient_clip_val)
    trainer.fit(module, DataLoader([window_batch(gen.window, rep.dim)] * 2, batch_size=None))
    assert trainer.global_step == 2  # batches, not optimiser steps (the discriminator's is not counted)
    changed = {id(p) for n, p in gen.named_parameters() if not torch.equal(p, before[n])}
    assert changed - disc, "no generator weight moved"
    if adversarial:
        assert changed & disc, "the discriminators never trained"
        assert module.clip_val == cfg.train.gradient_clip_val  # clipping taken over from the Trainer
        counters = [(a, b) for a, b in zip(module.ema.module.buffers(), gen.buffers()) if not b.is_floating_point()]
        assert counters and all(torch.equal(a, b) for a, b in counters)  # the EMA copy is in stage 2 too

    t = 5 * gen.n_cur // 2  # 2.5 windows
    cond = {"audio": torch.randn(1, t, AUDIO_DIM), "x_ref": torch.randn(1, rep.dim),
            "emotion": torch.eye(N_EMOTIONS)[:1]}
    res = module.final_generator().sample(cond, steps=cfg.sample.steps,
                                          guidance=to_dict(cfg.sample.guidance) or None, seed=0)
    assert res.motion.shape == (1, t, rep.dim) and torch.isfinite(res.motion).all() and res.nfe >= 3
    if gen_name == "gohd":  # every part generated: pose and gaze residuals to x_ref, exp by two_stage
        for part in ("pose", "exp", "gaze"):
            assert res.motion[0, :, rep.parts[part]].std(0).gt(0).all(), part


@pytest.mark.parametrize("rep_name,gen_name", [("lia", "flow"), ("3dmm", "gohd")])
def test_mixed_precision_trains_with_gradient_clipping(rep_name, gen_name, tmp_path):
    """trainer=gpu's bf16-mixed (here on the CPU) with train.gradient_clip_val: Lightning refuses to clip
    for an optimiser that unscales its own gradients (fused Adam), so the modules must not build one."""
    cfg = compose(rep_name, [f"gen={gen_name}"], tmp_path)
    rep = rep_for(rep_name, cfg)
    gen = build_gen(cfg, rep.dim, AUDIO_DIM, rep)
    module = GeneratorModule(gen, **check_call(GeneratorModule, cfg.train.module, "train.module"))
    trainer = make_trainer(tmp_path / "train", max_steps=2, loggers=(), enable_progress_bar=False,
                           precision="bf16-mixed", gradient_clip_val=1.0)
    trainer.fit(module, DataLoader([window_batch(gen.window, rep.dim)] * 2, batch_size=None))
    assert trainer.global_step == 2
    assert not any(o.defaults.get("fused") for o in trainer.optimizers)
    # and PyTorch picks the kernel: an explicit fused=False also turns foreach off (a per-parameter loop)
    assert all(o.defaults.get("fused") is None and o.defaults.get("foreach") is None for o in trainer.optimizers)


def test_gohd_samples_under_bf16_autocast(tmp_path):
    """Its parts come from different generators; under autocast one may return bf16 (the GPU check's
    sampling failed there): the composed motion stays in x_ref's dtype."""
    cfg = compose("3dmm", ["gen=gohd"], tmp_path)
    rep = rep_for("3dmm", cfg)
    gen = build_gen(cfg, rep.dim, AUDIO_DIM, rep).eval()
    cond = {"audio": torch.randn(1, 2 * gen.n_cur, AUDIO_DIM), "x_ref": torch.randn(1, rep.dim),
            "emotion": torch.eye(N_EMOTIONS)[:1]}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        motion = gen.sample(cond, seed=0).motion
    assert motion.dtype == torch.float32 and motion.shape == (1, 2 * gen.n_cur, rep.dim)
    assert torch.isfinite(motion).all()


def encoded_change(enc: torch.nn.Module, frame: int = 4) -> torch.Tensor:
    """Which encoded frames [T] change when only the audio of ``frame`` does."""
    a = torch.randn(1, 9, AUDIO_DIM)
    b = a.clone()
    b[0, frame] = torch.randn(AUDIO_DIM) * 3.0  # not a constant shift: LayerNorm would remove it
    enc.eval()  # no dropout
    with torch.no_grad():
        return (enc(a) - enc(b)).abs().amax(-1)[0] > 1e-6


def test_every_generator_gets_its_own_shared_audio_encoder(tmp_path):
    from generators.compose import ComposedGenerator
    from sandbox.audio.encoder import AudioEncoder

    for rep_name, gen_name in [("lia", "flow"), ("lia", "diffusion-x0"), ("3dmm", "gohd")]:
        cfg = compose(rep_name, GENS.get(gen_name, [f"gen={gen_name}"]), tmp_path)
        rep = rep_for(rep_name, cfg)
        gen = build_gen(cfg, rep.dim, AUDIO_DIM, rep)
        gens = list(gen.subs.values()) if isinstance(gen, ComposedGenerator) else [gen]
        encoders = [g.audio_encoder for g in gens]
        assert all(isinstance(e, AudioEncoder) for e in encoders), gen_name
        assert len({id(e) for e in encoders}) == len(encoders)  # the composition's parts do not share weights
        assert encoded_change(encoders[0]).tolist() == [i in range(2, 7) for i in range(9)]  # kernel 5
    cfg = compose("lia", ["gen=flow"], tmp_path, "audio_encoder=null")  # FLOAT's projection: each frame alone
    gen = build_gen(cfg, rep_for("lia", cfg).dim, AUDIO_DIM, rep_for("lia", cfg))
    assert not isinstance(gen.audio_encoder, AudioEncoder)
    assert encoded_change(gen.audio_encoder).tolist() == [i == 4 for i in range(9)]
    with pytest.raises(ConfigError, match="audio_encoder"):
        compose("lia", ["gen=flow"], tmp_path, "+audio_encoder.width=3")


def test_gohd_needs_pose_and_exp_parts_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match=r"gen=gohd works on the motion part\(s\) \['exp', 'pose'\].*rep=lia has only"):
        compose("lia", ["gen=gohd"], tmp_path)
    assert not (tmp_path / "cache").exists() and not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match=r"part\(s\) \['eyes'\]"):
        compose("3dmm", ["gen=conformer", "gen.part=eyes"], tmp_path)


def test_lia_aux_features_are_the_basis_coefficients(tmp_path):
    for space in ("coeff", "latent"):
        cfg = compose("lia", ["gen=two_stage"], tmp_path, f"rep.space={space}")
        torch.manual_seed(0)
        rep = build_rep(cfg)
        k, aux_fn = aux_spec(rep)
        assert k == rep.config.motion_dim
        x = torch.randn(2, 5, rep.dim, requires_grad=True)  # normalised, batched
        f = aux_fn(x)
        assert f.shape == (2, 5, k)
        assert torch.allclose(f, rep.coefficients(rep.denormalize(x)), atol=1e-5)
        f.square().sum().backward()
        assert x.grad.abs().sum() > 0 and rep.ae.basis_weight.grad is None  # no gradient into the auto-encoder


def test_part_aux_fn_refuses_features_that_read_other_parts():
    weight = torch.randn(6, 2)
    only_exp = part_aux_fn(lambda x: x[..., 2:4] @ weight[2:4], 6, torch.arange(2, 4), "exp")
    assert torch.allclose(only_exp(torch.ones(3, 2)), weight[2:4].sum(0).expand(3, 2))
    with pytest.raises(ConfigError, match="outside part 'exp'"):
        part_aux_fn(lambda x: x @ weight, 6, torch.arange(2, 4), "exp")


def test_cli_two_stage_on_lia_end_to_end(tmp_path):
    out = tmp_path / "run"
    assert main(["rep=lia", "gen=two_stage", "preset=smoke", f"paths.cache={tmp_path / 'cache'}", f"out={out}"]) == 0
    assert list((out / "samples").glob("*.mp4")) and (out / "report.md").is_file()
    train = Path(json.loads((out / "artifacts.json").read_text())["train"]["path"])
    assert json.loads((train / "info.json").read_text())["steps"] == 30
    header = (train / "logs" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "train/disc/total" in header and "train/ssim" in header  # stage 2 trained adversarially


def test_cli_keypoint_end_to_end(tmp_path):
    """rep=keypoint through every stage: extractor + warp networks fitted, motion extracted, generator
    trained, samples drawn by keypoint_warp and scored (a few fit steps: shapes and plumbing only)."""
    out = tmp_path / "run"
    assert main(["rep=keypoint", "gen=flow", "preset=smoke", "scale.fit_steps=4", "fit.rep.val_pairs=4",
                 f"paths.cache={tmp_path / 'cache'}", f"out={out}"]) == 0  # fmt: skip
    assert list((out / "samples").glob("*.mp4")) and (out / "report.md").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["rows"]["run"]["nfe"] > 0 and "reconstruction" in metrics["rows"]
    fit = Path(json.loads((out / "artifacts.json").read_text())["fit"]["path"])
    assert json.loads((fit / "info.json").read_text())["rep"]["steps"] == 4
    # experiments.keypoint_check reopens the run: pose errors on every test frame and the three-row strip
    from experiments.keypoint_check import main as check

    check(["--run", str(out), "--strip", str(tmp_path / "strip.png"), "--json", str(tmp_path / "pose.json")])
    pose = json.loads((tmp_path / "pose.json").read_text())
    assert pose["frames"] > 0 and all(np.isfinite(pose[f"{a}_mae"]) for a in ("pitch", "yaw", "roll"))
    import imageio.v3 as iio

    h, w, _ = iio.imread(tmp_path / "strip.png").shape
    assert h in (3 * 64, 3 * 128) and w == 8 * h // 3  # three rows of 8 frames (videos under 128 px are written at 128)
