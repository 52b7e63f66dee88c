"""FLOAT's flow generator and the shared backbone / windowing it is built from."""

import pytest
import torch
from helpers import overfit, randomised, seam_and_within_steps, smooth_waves

from generators.backbone import MotionTransformer, local_attention_mask
from generators.flow import FlowGenerator
from generators.windowing import generate_windows, window_starts

D, A = 4, 5  # motion dim, raw audio dim
LP, LC = 4, 12  # tiny L', L


def backbone(conditioning="adaln", window=2, depth=1):
    return randomised(
        MotionTransformer(D, D, hidden=32, depth=depth, heads=4, cond_dim=8, conditioning=conditioning,
                          local_window=window)
    )


# -- backbone: the local mask is really applied --------------------------------------------------------
def test_local_mask_construction():
    m = local_attention_mask(6, 1)[0, 0]
    assert m[2].tolist() == [False, True, True, True, False, False]
    assert local_attention_mask(6, None).all()
    kpm = torch.tensor([[True, True, True, True, False, False]])
    m = local_attention_mask(6, None, kpm)[0, 0]
    assert not m[0, 4] and not m[0, 5]  # valid frames never see padding
    assert m[5].tolist() == [True] * 4 + [False, True]  # padding sees itself (no empty row)


@pytest.mark.parametrize("conditioning", ["adaln", "cross_attn"])
def test_far_frame_does_not_change_output_within_window(conditioning):
    torch.manual_seed(1)
    x, c = torch.randn(2, 16, D), torch.randn(2, 16, 8)
    x2 = x.clone()
    x2[:, 12] += 5.0  # frames |i - 12| > 2 must not notice at depth 1
    net = backbone(conditioning, window=2)
    y, y2 = net(x, c), net(x2, c)
    assert torch.equal(y[:, :10], y2[:, :10])
    assert not torch.allclose(y[:, 10:15], y2[:, 10:15])
    full = backbone(conditioning, window=None)
    assert not torch.allclose(full(x, c)[:, :10], full(x2, c)[:, :10])


def test_adaln_condition_is_frame_wise_and_receptive_field_grows_with_depth():
    torch.manual_seed(2)
    x, c = torch.randn(1, 16, D), torch.randn(1, 16, 8)
    c2 = c.clone()
    c2[:, 12] += 5.0
    net = backbone(depth=1)
    y, y2 = net(x, c), net(x, c2)
    assert torch.equal(y[:, :10], y2[:, :10])
    deep = backbone(depth=2)  # receptive field 2 * 2 = 4 frames
    y, y2 = deep(x, c), deep(x, c2)
    assert torch.equal(y[:, :8], y2[:, :8])
    assert not torch.allclose(y[:, 8], y2[:, 8])


@pytest.mark.parametrize("conditioning", ["adaln", "cross_attn"])
def test_padded_frames_do_not_leak_into_valid_frames(conditioning):
    torch.manual_seed(3)
    x, c = torch.randn(1, 10, D), torch.randn(1, 10, 8)
    kpm = torch.tensor([[True] * 7 + [False] * 3])
    x2, c2 = x.clone(), c.clone()
    x2[:, 7:] = 100.0
    c2[:, 7:] = -100.0
    net = backbone(conditioning, window=None, depth=2)
    y, y2 = net(x, c, kpm), net(x2, c2, kpm)
    assert torch.allclose(y[:, :7], y2[:, :7], atol=1e-5)
    assert torch.isfinite(y).all()
    # so a short window may drop its padding instead (what sampling does): the same valid frames
    assert torch.allclose(net(x[:, :7], c[:, :7]), y[:, :7], atol=1e-5)
    placed = randomised(MotionTransformer(D, D, hidden=32, depth=2, heads=4, cond_dim=8, conditioning=conditioning,
                                          local_window=2, max_len=10))  # learned absolute positions too
    assert torch.allclose(placed(x[:, :7], c[:, :7]), placed(x2, c2, kpm)[:, :7], atol=1e-5)


# -- windowing ---------------------------------------------------------------------------------------------
def test_windowing_frame_count_and_carried_context():
    n_prev, n_cur, total = 3, 10, 34  # 3.4 windows
    audio = torch.arange(total, dtype=torch.float32).reshape(1, total, 1).repeat(2, 1, 1)
    seen = []

    def fn(prev_motion, prev_audio, cur_audio, valid_len):
        seen.append((prev_motion, prev_audio, cur_audio.clone(), valid_len))
        return cur_audio.repeat(1, 1, 2) * 10  # motion = 10 x frame index, two dims

    out = generate_windows(fn, audio, n_prev, n_cur)
    assert out.shape == (2, total, 2)
    assert torch.equal(out[0, :, 0], torch.arange(total) * 10.0)
    assert [s[3] for s in seen] == [10, 10, 10, 4]
    assert seen[0][0] is None and seen[0][1] is None
    for w in range(1, 4):
        prev_motion, prev_audio, cur_audio, _ = seen[w]
        idx = torch.arange(w * n_cur - n_prev, w * n_cur, dtype=torch.float32)
        assert torch.equal(prev_motion[0, :, 0], idx * 10)  # the last generated frames
        assert torch.equal(prev_audio[0, :, 0], idx)
        assert cur_audio.shape[1] == n_cur
    assert torch.equal(seen[3][2][0, 4:, 0], torch.zeros(6))  # last window zero-padded


def test_windowing_start_features_and_short_windows():
    start = torch.full((5, 1), -1.0)  # learned-start-style features, n_prev > n_cur
    seen = []

    def fn(prev_motion, prev_audio, cur_audio, valid_len):
        seen.append(prev_motion)
        return cur_audio + 1

    audio = torch.zeros(1, 9, 1)
    generate_windows(fn, audio, n_prev=5, n_cur=3, start_motion=start, start_audio=start)
    assert torch.equal(seen[0][0, :, 0], torch.full((5,), -1.0))
    assert seen[1][0, :, 0].tolist() == [-1, -1, 1, 1, 1]  # start fills the front


@pytest.mark.parametrize("total", [10, 34, 35, 38, 41])
def test_windowing_overlap_crossfades_and_carries_final_frames(total):
    """overlap k: windows start every n_cur - k frames; the k shared frames blend linearly from the old
    window to the new; a window's context is the final (blended) frames before it."""
    n_prev, n_cur, k = 3, 10, 4
    audio = torch.zeros(1, total, 1)
    seen = []

    def fn(prev_motion, prev_audio, cur_audio, valid_len):
        seen.append(prev_motion)
        return torch.full((1, n_cur, 1), float(len(seen) - 1))  # window w draws the constant w

    out = generate_windows(fn, audio, n_prev, n_cur, overlap=k)[0, :, 0]
    assert out.shape == (total,)
    starts = window_starts(total, n_cur, k)
    assert len(seen) == len(starts) and starts[-1] + n_cur >= total and all(s < total for s in starts)
    ramp = torch.arange(1, k + 1) / (k + 1)
    for w, s in enumerate(starts[1:], start=1):
        torch.testing.assert_close(out[s : s + k], (w - 1) + ramp[: min(k, total - s)])
        torch.testing.assert_close(seen[w][0, :, 0], out[s - n_prev : s])  # final frames as context
    steps = out.diff().abs()
    assert steps.max() <= 1 / (k + 1) + 1e-6  # a unit jump between windows spread over k + 1 steps
    # no overlap: back-to-back windows, each seam one full jump
    flat = generate_windows(fn, audio, n_prev, n_cur)[0, :, 0]
    assert flat.shape == (total,) and (total <= n_cur or flat.diff().abs().max() >= 1)
    with pytest.raises(ValueError, match="overlap"):
        window_starts(total, n_cur, n_cur)


# -- the generator -------------------------------------------------------------------------------------------
def make_gen(**kw) -> FlowGenerator:
    torch.manual_seed(0)
    args = dict(dim=D, audio_dim=A, hidden=32, depth=2, heads=4, n_prev=LP, n_cur=LC)
    return FlowGenerator(**{**args, **kw})


def make_batch(x: torch.Tensor, g: torch.Generator) -> dict[str, torch.Tensor]:
    n, t, _ = x.shape
    return dict(
        x=x,
        audio=torch.randn(n, t, A, generator=g),
        x_ref=x[:, 0],
        emotion=torch.eye(7)[torch.randint(0, 7, (n,), generator=g)],
        mask=torch.ones(n, t, dtype=torch.bool),
    )


def cond_for(b: int, total: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    return dict(audio=torch.randn(b, total, A, generator=g), x_ref=torch.randn(b, D, generator=g),
                emotion=torch.softmax(torch.randn(b, 7, generator=g), -1))


@pytest.mark.parametrize("conditioning", ["adaln", "cross_attn"])
def test_loss_keys_and_gradients(conditioning):
    gen = make_gen(conditioning=conditioning)
    batch = make_batch(torch.randn(3, LP + LC, D), torch.Generator().manual_seed(0))
    batch["mask"][0, -5:] = False  # a truncated window
    out = gen.loss(batch)
    assert set(out) == {"total", "ot", "vel"}
    assert all(v.ndim == 0 and torch.isfinite(v) for v in out.values())
    out["total"].backward()
    assert gen.field.to_out.weight.grad.abs().sum() > 0


def test_loss_ignores_padded_frames():
    gen = make_gen().eval()
    batch = make_batch(torch.randn(2, LP + LC, D), torch.Generator().manual_seed(0))
    batch["mask"][:, -3:] = False
    torch.manual_seed(9)
    a = gen.loss(batch)["total"]
    batch["x"][:, -3:] = 1e3
    torch.manual_seed(9)
    assert torch.allclose(a, gen.loss(batch)["total"])


@pytest.mark.parametrize("prev_drop, sees_context", [(1.0, False), (0.0, True)])
def test_context_dropout_hides_the_preceding_frames_in_training(prev_drop, sees_context):
    """gen.prev_drop (FLOAT's 0.5): the share of training windows whose L' preceding frames are replaced by
    the start features; at 1 the loss cannot depend on them, at 0 it does."""
    gen = randomised(make_gen(prev_drop=prev_drop, drop_audio=0.0, drop_ref=0.0, drop_emotion=0.0)).train()
    batch = make_batch(torch.randn(2, LP + LC, D), torch.Generator().manual_seed(0))
    torch.manual_seed(9)
    a = gen.loss(batch)["ot"]
    batch["x"] = batch["x"].clone()  # x_ref is a view of the first frame: it stays as it was
    batch["x"][:, :LP] += 3.0
    torch.manual_seed(9)
    assert torch.allclose(a, gen.loss(batch)["ot"]) != sees_context


def test_uniform_training_times_are_torch_rand_and_logit_normal_gathers_at_its_mean():
    """gen.t_sampling: uniform (the default) draws what torch.rand did before the option existed, so default
    runs are unchanged; logit_normal (SD3) puts more pairs near sigmoid(t_logit_mean) than uniform does."""
    gen = make_gen()
    torch.manual_seed(3)
    expected = torch.rand(4000)
    torch.manual_seed(3)
    assert torch.equal(gen.training_times(4000), expected)
    for mean in (0.0, -1.0):
        gen = make_gen(t_sampling="logit_normal", t_logit_mean=mean)
        torch.manual_seed(3)
        t = gen.training_times(4000)
        assert t.min() > 0 and t.max() < 1
        centre = torch.sigmoid(torch.tensor(mean))
        near = ((t - centre).abs() < 0.15).float().mean()
        assert near > 0.45  # uniform: at most 0.30
        assert abs(t.median() - centre) < 0.03


def test_training_times_setting_is_checked_and_reaches_the_loss():
    with pytest.raises(ValueError, match="t_sampling"):
        make_gen(t_sampling="beta")
    with pytest.raises(ValueError, match="t_logit_std"):
        make_gen(t_sampling="logit_normal", t_logit_std=0.0)
    batch = make_batch(torch.randn(4, LP + LC, D), torch.Generator().manual_seed(0))
    losses = []
    for mean in (-4.0, 4.0):  # nearly all pairs at the noise, or at the data: different regression targets
        gen = randomised(make_gen(t_sampling="logit_normal", t_logit_mean=mean, lambda_vel=0.0))  # the same weights
        torch.manual_seed(9)
        losses.append(gen.loss(batch)["ot"])
    assert not torch.allclose(losses[0], losses[1])


def test_loss_falls_on_tiny_overfit_set():
    g = torch.Generator().manual_seed(0)
    walks = torch.cumsum(0.3 * torch.randn(16, LP + LC, D, generator=g), dim=1)
    batch = make_batch(walks, g)
    before, after = overfit(make_gen(), batch, steps=150)
    print(f"overfit loss {before:.3f} -> {after:.3f}")
    assert after < 0.6 * before


def test_sample_length_seed_and_exact_nfe():
    gen = make_gen()
    total = int(3.4 * LC)  # 40 frames: 4 windows, the last padded
    cond = cond_for(2, total)
    a = gen.sample(cond, steps=10, seed=0)
    assert a.motion.shape == (2, total, D)
    assert a.nfe == 4 * 9  # euler over linspace(0, 1, 10): 9 calls per window
    assert a.branches == 3  # uncond, audio, audio + emotion
    # zero-init output layer gives v = 0: perturb so the seed actually matters through the field too
    randomised(gen)
    a, b = gen.sample(cond, seed=0), gen.sample(cond, seed=0)
    assert torch.equal(a.motion, b.motion)
    assert not torch.allclose(a.motion, gen.sample(cond, seed=1).motion)
    assert gen.sample(cond, steps=5, guidance={"audio": 1.0, "emotion": 1.0}, seed=0).branches == 1
    assert gen.sample(cond, steps=5, seed=0).nfe == 4 * 4
    overlapped = make_gen(overlap=2).sample(cond, steps=5, seed=0)
    assert overlapped.motion.shape == (2, total, D) and overlapped.nfe == len(window_starts(total, LC, 2)) * 4
    with pytest.raises(ValueError, match="overlap"):
        make_gen(overlap=LC)
    mid = make_gen(ode_method="midpoint").sample(cond, steps=5, seed=0)
    assert mid.nfe == 4 * 4 * 2  # two evaluations per midpoint step


def test_sample_uses_guidance_and_rejects_unknown_inputs():
    gen = randomised(make_gen())
    cond = cond_for(1, LC)
    plain = gen.sample(cond, guidance={"audio": 1.0, "emotion": 1.0}, seed=0).motion
    guided = gen.sample(cond, guidance={"audio": 3.0, "emotion": 1.0}, seed=0).motion
    assert not torch.allclose(plain, guided)
    with pytest.raises(ValueError, match="pose"):
        gen.sample({**cond, "pose": torch.zeros(1, LC, 3)})
    with pytest.raises(ValueError, match="ref"):
        gen.sample(cond, guidance={"ref": 2.0})


@pytest.mark.slow
def test_window_seams_are_no_larger_than_within_window_steps():
    # hidden 32 / 600 steps still leaves seams ~2x the data step; hidden 64 / 1200 steps closes the gap
    g = torch.Generator().manual_seed(0)
    gen = make_gen(hidden=64)
    opt = torch.optim.Adam(gen.parameters(), lr=3e-3)
    for _ in range(1200):
        x = smooth_waves(32, LP + LC, D, g)
        batch = dict(x=x, audio=torch.zeros(32, LP + LC, A), x_ref=x[:, 0], emotion=torch.zeros(32, 7))
        opt.zero_grad()
        gen.loss(batch)["total"].backward()
        opt.step()
    total = int(3.4 * LC)
    out = gen.sample(dict(audio=torch.zeros(4, total, A), x_ref=torch.zeros(4, D), emotion=torch.zeros(4, 7)),
                     seed=1, guidance={"audio": 1.0, "emotion": 1.0}).motion
    seam_max, within_max = seam_and_within_steps(out, LC)
    assert seam_max <= within_max
