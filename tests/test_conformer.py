"""GoHD's conformer residual diffusion: structure, residual target, eq. 3 CFG, part targeting, sampling."""
import pytest
import torch
from helpers import overfit, randomised

from generators.conformer import ConformerDiffusion

D, A = 7, 5
PARTS = {"pose": slice(0, 3), "exp": slice(3, 7)}
LP, LC = 4, 12


def make_gen(**kw) -> ConformerDiffusion:
    torch.manual_seed(0)
    args = dict(dim=D, audio_dim=A, channels=32, n_layers=2, n_conformers=1, heads=4, n_prev=LP, n_cur=LC,
                part="pose", parts=PARTS)
    return ConformerDiffusion(**{**args, **kw})


def make_batch(x, g):
    n, t, _ = x.shape
    return dict(x=x, audio=torch.randn(n, t, A, generator=g), x_ref=x[:, 0] + 0.5,
                emotion=torch.zeros(n, 7), mask=torch.ones(n, t, dtype=torch.bool))


def test_dilation_cycle_and_gated_blocks():
    gen = make_gen(n_layers=6, dilation_cycle=3)
    dil = [b.conformers[0].conv.depthwise.dilation[0] for b in gen.denoiser.blocks]
    assert dil == [1, 2, 4, 1, 2, 4]


def test_cfg_is_gohd_eq3_gamma_combination():
    gen = randomised(make_gen(gamma=0.4))
    g = torch.Generator().manual_seed(1)
    x_t, prev = torch.randn(2, LC, 3, generator=g), torch.randn(2, LP, 3, generator=g)
    audio, ref = torch.randn(2, LP + LC, 32, generator=g), torch.randn(2, 3, generator=g)
    t, mask = torch.tensor([5, 90]), torch.ones(2, LP + LC, dtype=torch.bool)
    scales = {"ref": 0.4}
    eps_c = gen.denoise(x_t, t, prev, audio, ref, None, mask)
    eps_u = gen.denoise(x_t, t, prev, audio, gen.guidance.null_like("ref", ref), None, mask)
    branch = gen.guidance.batch({"ref": ref, "prev": prev, "audio": audio, "mask": mask, "x": x_t, "t": t}, scales)
    both = gen.denoise(branch["x"], branch["t"], branch["prev"], branch["audio"], branch["ref"], None, branch["mask"])
    guided = gen.guidance.combine(both, scales)
    assert torch.allclose(guided, 0.4 * eps_c + 0.6 * eps_u, atol=1e-5)
    assert not torch.allclose(eps_c, eps_u)
    assert gen.guidance.n_branches({"ref": 1.0}) == 1  # gamma = 1: reference-conditional only


def test_loss_is_on_the_residual_of_the_part_only():
    gen = randomised(make_gen())
    batch = make_batch(torch.randn(3, LP + LC, D), torch.Generator().manual_seed(0))

    def loss(b):
        torch.manual_seed(3)
        return gen.loss(b)["total"]

    other = {**batch, "x": batch["x"].clone()}
    other["x"][..., 3:] = 99.0  # dims outside the part are another generator's business
    assert torch.allclose(loss(batch), loss(other))
    # with the reference condition nulled, only the residual x - x_ref is seen: a common shift is invisible
    gen.train()
    gen.guidance.drop_prob["ref"] = 1.0
    shifted = {**batch, "x": batch["x"] + 1.5, "x_ref": batch["x_ref"] + 1.5}
    assert torch.allclose(loss(batch), loss(shifted), atol=1e-5)
    moved = {**batch, "x": batch["x"] + 1.5}
    assert not torch.allclose(loss(batch), loss(moved), atol=1e-3)


def test_padded_frames_do_not_leak():
    gen = randomised(make_gen())
    g = torch.Generator().manual_seed(2)
    x_t, prev = torch.randn(1, LC, 3, generator=g), torch.randn(1, LP, 3, generator=g)
    audio, ref = torch.randn(1, LP + LC, 32, generator=g), torch.randn(1, 3, generator=g)
    mask = torch.ones(1, LP + LC, dtype=torch.bool)
    mask[:, -4:] = False
    t = torch.tensor([7])
    a = gen.denoise(x_t, t, prev, audio, ref, None, mask)
    x2, a2 = x_t.clone(), audio.clone()
    x2[:, -4:], a2[:, -4:] = 50.0, -50.0
    b = gen.denoise(x2, t, prev, a2, ref, None, mask)
    assert torch.allclose(a[:, :-4], b[:, :-4], atol=1e-4)


def test_loss_falls_on_tiny_overfit_set():
    g = torch.Generator().manual_seed(0)
    batch = make_batch(torch.cumsum(0.3 * torch.randn(16, LP + LC, D, generator=g), dim=1), g)
    before, after = overfit(make_gen(), batch, steps=100)
    print(f"conformer loss {before:.3f} -> {after:.3f}")
    assert after < 0.5 * before


def test_sample_shapes_slots_and_nfe():
    gen = randomised(make_gen(train_steps=30))
    total = int(2.5 * LC)
    g = torch.Generator().manual_seed(4)
    cond = dict(audio=torch.randn(2, total, A, generator=g), x_ref=torch.randn(2, D, generator=g),
                emotion=torch.zeros(2, 7))
    out = gen.sample(cond, steps=6, seed=0)
    assert out.motion.shape == (2, total, D) and out.nfe == 3 * 6 and out.branches == 2
    assert torch.equal(out.motion[..., 3:], cond["x_ref"][:, None, 3:].expand(2, total, 4))
    assert not torch.allclose(out.motion[..., :3], cond["x_ref"][:, None, :3].expand(2, total, 3))
    full = randomised(make_gen(train_steps=30, part=None))
    assert full.sample(cond, steps=2, seed=0, guidance={"ref": 1.0}).branches == 1
    with pytest.raises(ValueError, match="gaze"):
        make_gen(part="gaze")


def test_x0_prediction_targets_the_residual():
    batch = make_batch(torch.randn(3, LP + LC, D), torch.Generator().manual_seed(0))
    res = (batch["x"] - batch["x_ref"][:, None])[:, LP:, :3]
    losses = {}
    for prediction in ("eps", "x0"):
        gen = make_gen(prediction=prediction).eval()  # the zero-initialised head outputs 0
        torch.manual_seed(3)
        losses[prediction] = gen.loss(batch)["total"]
    assert torch.allclose(losses["x0"], res.square().mean())
    assert not torch.allclose(losses["eps"], losses["x0"], atol=1e-2)


@pytest.mark.parametrize("prediction", ["eps", "x0"])
def test_sampler_reads_the_output_in_its_parameterisation(prediction, monkeypatch):
    """A denoiser that always outputs the residual c: an x0 model's sample is exactly x_ref + c (DDPM's last
    step returns its clean estimate); an eps model reads c as noise and lands elsewhere."""
    gen = make_gen(prediction=prediction, train_steps=30)
    c = torch.tensor([0.3, -0.2, 0.5])
    monkeypatch.setattr(gen, "denoise", lambda x_t, *a: c.expand_as(x_t))
    g = torch.Generator().manual_seed(4)
    cond = dict(audio=torch.randn(1, LC, A, generator=g), x_ref=torch.randn(1, D, generator=g),
                emotion=torch.zeros(1, 7))
    part = gen.sample(cond, steps=30, seed=0, guidance={"ref": 1.0}).motion[..., :3]
    hit = torch.allclose(part, (cond["x_ref"][:, :3] + c)[:, None].expand_as(part), atol=1e-5)
    assert hit == (prediction == "x0")


@pytest.mark.parametrize("prediction", ["eps", "x0"])
def test_conformer_check_scores_the_trivial_answer(prediction, monkeypatch):
    """experiments.conformer_check: a denoiser that gives the trivial answer (eps: x_n / sqrt(1 - abar), x0: 0)
    scores exactly the 'copy' column, and implies a clean residual of 0."""
    from experiments.conformer_check import lag1, per_step

    gen = make_gen(prediction=prediction, train_steps=30)
    ab = gen.process.alphas_cumprod

    def trivial(x_t, t, *a):
        return x_t / (1 - ab[t])[:, None, None].sqrt() if prediction == "eps" else torch.zeros_like(x_t)

    monkeypatch.setattr(gen, "denoise", trivial)
    batch = make_batch(torch.randn(3, LP + LC, D), torch.Generator().manual_seed(0))
    rows = per_step(gen, batch, steps=(0, 10, 29))
    res = (batch["x"] - batch["x_ref"][:, None])[:, LP:, :3]
    assert [r["n"] for r in rows] == [0, 10, 29]
    for r in rows:
        assert r["err"] == pytest.approx(r["copy"], rel=1e-5)
        assert r["x0_err"] == pytest.approx(float(res.square().mean()), rel=1e-3)
    g = torch.Generator().manual_seed(1)
    assert abs(lag1(torch.randn(400, 5, generator=g).numpy())) < 0.15
    assert lag1(torch.randn(400, 5, generator=g).cumsum(0).numpy()) > 0.9
