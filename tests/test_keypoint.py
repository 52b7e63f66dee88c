"""Implicit-keypoint space: angle bins, extractor, layout, keypoint transform, driving, edits, aux
features, normalisers, checkpoints."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from representations.base import Normalizer
from representations.keypoint import (
    AUX_NAMES,
    BROW_KP,
    DIM,
    EYE_KP,
    GUIDE_LANDMARKS,
    LIP_KP,
    N_KP,
    REGIONS,
    KeypointReference,
    KeypointRepresentation,
    default_canonical,
)
from sandbox.analysis.face import LEFT_EYE_WIDTH, LEFT_LIDS, RIGHT_EYE_WIDTH, RIGHT_LIDS
from sandbox.config import accepted_params
from sandbox.nets.keypoint_extractor import (
    N_BINS,
    KeypointExtractor,
    bins_to_degrees,
    degrees_to_soft_bins,
)

TINY = dict(size=32, width=8, max_width=16, depth=2)


@pytest.fixture(scope="module")
def rep():
    torch.manual_seed(0)
    return KeypointRepresentation(**TINY).eval()


def random_motion(T: int, seed: int = 0, max_deg: float = 60.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    exp = 0.05 * torch.randn(T, 63, generator=g)
    scale = 1 + 0.2 * torch.rand(T, 1, generator=g)
    t = 0.1 * torch.randn(T, 3, generator=g)
    rot = (torch.rand(T, 3, generator=g) * 2 - 1) * max_deg
    return torch.cat([exp, scale, t, rot], -1)


# -- angle bins ---------------------------------------------------------------------------------
def test_bins_uniform_and_one_hot():
    assert bins_to_degrees(torch.zeros(N_BINS)).abs() < 1e-5
    logits = torch.full((N_BINS, N_BINS), -1e9)
    logits[torch.arange(N_BINS), torch.arange(N_BINS)] = 0.0
    want = 3 * torch.arange(N_BINS, dtype=torch.float32) - 97.5
    torch.testing.assert_close(bins_to_degrees(logits), want)


@settings(deadline=None, max_examples=60)
@given(st.floats(-60, 60), st.floats(1.0, 10.0))
def test_soft_bins_round_trip(deg, sigma):
    p = degrees_to_soft_bins(torch.tensor(deg), sigma)
    assert p.shape == (N_BINS,) and abs(float(p.sum()) - 1) < 1e-5 and (p >= 0).all()
    assert abs(float(bins_to_degrees(p.log())) - deg) < 0.5


# -- extractor ------------------------------------------------------------------------------------
def test_extractor_refuses_a_size_its_stem_and_blocks_do_not_divide():
    with pytest.raises(ValueError, match="multiple of stem_stride x 2"):
        KeypointExtractor(size=128, depth=3, stem_stride=32, pool="flatten")
    with pytest.raises(ValueError, match="multiple of stem_stride = 3"):
        KeypointExtractor(size=128, depth=2, stem_stride=3, pool="mean")
    assert KeypointExtractor(size=128, depth=3, stem_stride=2, pool="flatten").stem(torch.rand(1, 3, 128, 128)).shape[-1] == 64


@pytest.mark.parametrize("pool,stem_stride,depth", [("mean", 1, 2), ("flatten", 1, 2), ("flatten", 4, 1)])
def test_extractor_any_size_and_start(pool, stem_stride, depth):
    torch.manual_seed(0)
    net = KeypointExtractor(size=32, n_kp=21, width=8, max_width=16, depth=depth, pool=pool,
                            stem_stride=stem_stride).eval()  # fmt: skip
    assert net.stem(torch.rand(1, 3, 32, 32)).shape[-1] == 32 // stem_stride
    for s in (32, 50):
        out = net(torch.rand(2, 3, s, s))
        assert out["kp"].shape == out["exp"].shape == (2, 21, 3)
        assert out["t"].shape == (2, 3) and out["scale"].shape == (2, 1)
        assert all(out[a].shape == (2, N_BINS) for a in ("pitch", "yaw", "roll"))
    # starts near a rigid, neutral, frontal face: s ~ 1, angles ~ 0, delta small
    assert (out["scale"] - 1).abs().max() < 0.5
    assert bins_to_degrees(out["yaw"]).abs().max() < 10
    assert out["exp"].abs().mean() < 0.2


def test_extractor_flatten_reads_where():
    """Global mean pooling cannot tell a left-right mirrored feature map from the original (the mean of a
    map is the mean of its mirror); the flattened head can."""
    torch.manual_seed(0)
    for pool, differs in (("mean", False), ("flatten", True)):
        net = KeypointExtractor(size=32, n_kp=21, width=8, max_width=16, depth=2, pool=pool).eval()
        h = torch.randn(1, 16, 8, 8)
        assert (not torch.allclose(net.pooled(h), net.pooled(h.flip(-1)), atol=1e-5)) == differs, pool
    with pytest.raises(ValueError, match="pool"):
        KeypointExtractor(size=32, pool="max")


# -- layout and named keypoints -------------------------------------------------------------------
def test_parts_tile_and_order(rep):
    assert rep.dim == DIM == 70
    assert rep.parts == {"exp": slice(0, 63), "scale": slice(63, 64), "t": slice(64, 67), "rot": slice(67, 70)}
    covered = sorted(i for s in rep.parts.values() for i in range(70)[s])
    assert covered == list(range(70))
    assert rep.default_renderer == "keypoint_warp" and rep.learned


def test_named_keypoints():
    named = set(LIP_KP) | set(EYE_KP) | set(BROW_KP) | set(GUIDE_LANDMARKS)
    assert max(named) < N_KP and len(set(LIP_KP) & set(EYE_KP + BROW_KP)) == 0
    assert set(GUIDE_LANDMARKS) <= named and all(0 <= v < 478 for v in GUIDE_LANDMARKS.values())
    assert len(set(GUIDE_LANDMARKS.values())) == len(GUIDE_LANDMARKS)
    lm = set(GUIDE_LANDMARKS.values())
    assert set(LEFT_LIDS[1]) | set(RIGHT_LIDS[1]) | set(LEFT_EYE_WIDTH) | set(RIGHT_EYE_WIDTH) <= lm
    x = default_canonical()
    assert torch.cdist(x, x).add(torch.eye(N_KP)).min() > 0.05  # distinct keypoints before fit


def test_strict_config():
    accepted, required, anything = accepted_params(KeypointRepresentation)
    assert not anything and not required
    assert {"size", "n_kp", "width", "max_width", "depth", "norm", "driving", "warp"} <= accepted
    for bad in (dict(norm="minmax"), dict(driving="both"), dict(n_kp=10)):
        with pytest.raises(ValueError):
            KeypointRepresentation(**TINY, **bad)


# -- mapping ----------------------------------------------------------------------------------------
def test_encode_and_reference_shapes(rep):
    m = rep.encode(torch.rand(5, 3, 40, 40), batch_size=2)
    assert m.shape == (5, 70) and torch.isfinite(m).all()
    ref = rep.reference(torch.rand(3, 48, 48))
    assert ref.x_c.shape == (21, 3) and ref.motion.shape == (70,) and ref.image.shape == (3, 32, 32)
    assert ref.features is not None and ref.features.shape[0] == rep.warp.volume_channels and ref.size == 32
    torch.testing.assert_close(rep.reference_motion(ref), ref.motion)
    torch.testing.assert_close(rep.encode(ref.image[None])[0], ref.motion)


# -- geometry ---------------------------------------------------------------------------------------
def test_keypoints_identity_motion(rep):
    x_c = torch.randn(21, 3)
    m = torch.zeros(70)
    m[63] = 1.0
    torch.testing.assert_close(rep.keypoints(x_c, m), x_c)
    m[64:67] = torch.tensor([0.1, -0.2, 5.0])  # t_z is dropped
    torch.testing.assert_close(rep.keypoints(x_c, m), x_c + torch.tensor([0.1, -0.2, 0.0]))


def test_keypoints_formula_and_batching(rep):
    x_c, m = torch.randn(21, 3, dtype=torch.float64), random_motion(4).double()
    x = rep.keypoints(x_c, m)
    assert x.shape == (4, 21, 3)
    for i in range(4):
        Rm = torch.from_numpy(Rotation.from_euler("xyz", m[i, 67:70].numpy(), degrees=True).as_matrix().T)
        want = m[i, 63] * (x_c @ Rm + m[i, :63].view(21, 3)) + torch.cat([m[i, 64:66], torch.zeros(1, dtype=m.dtype)])
        torch.testing.assert_close(x[i], want)


def test_keypoints_gradients_reach_motion(rep):
    m = random_motion(3).requires_grad_(True)
    rep.keypoints(torch.randn(21, 3), m).square().sum().backward()
    g = m.grad
    assert torch.isfinite(g).all()
    for name in ("exp", "scale", "rot"):
        assert (g[:, rep.parts[name]].abs() > 0).all(), name
    assert (g[:, 64:66].abs() > 0).all() and (g[:, 66] == 0).all()  # t_z unused


@settings(deadline=None, max_examples=25)
@given(st.integers(0, 10_000), st.integers(0, 5))
def test_relative_driving_first_frame_gives_source(seed, k):
    rep = KeypointRepresentation(**TINY)
    src, motion = random_motion(1, seed + 1)[0], random_motion(6, seed)
    ref = _ref(src)
    out = rep.drive(ref, motion, first=motion[k])
    torch.testing.assert_close(rep.keypoints(ref.x_c, out[k]), rep.keypoints(ref.x_c, src), atol=1e-5, rtol=0)
    default = rep.drive(ref, motion)  # first defaults to motion[0]
    torch.testing.assert_close(rep.keypoints(ref.x_c, default[0]), rep.keypoints(ref.x_c, src), atol=1e-5, rtol=0)


def _ref(src: torch.Tensor):
    return KeypointReference(x_c=default_canonical(), motion=src, image=torch.zeros(3, 32, 32), size=32)


def test_relative_driving_composes_changes(rep):
    src = random_motion(1, 3, max_deg=0.0)[0]  # a frontal source
    src[67:70] = 0.0
    d = random_motion(1, 4)[0].repeat(2, 1)
    d[1, 68] += 10.0  # second frame: 10 degrees more yaw, 10 % larger, shifted, mouth opened
    d[1, 63] *= 1.1
    d[1, 64] += 0.05
    d[1, 3 * 17 + 1] += 0.02
    out = rep.drive(_ref(src), d)
    torch.testing.assert_close(out[0, :66], src[:66], atol=1e-6, rtol=0)  # first frame: the source
    torch.testing.assert_close(out[1, 63], src[63] * 1.1, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(out[1, 64], src[64] + 0.05, atol=1e-6, rtol=0)
    torch.testing.assert_close(out[1, 3 * 17 + 1], src[3 * 17 + 1] + 0.02, atol=1e-6, rtol=0)
    assert out[1, 66] == 0  # t_z zeroed, as LivePortrait
    d2 = torch.zeros(2, 70)
    d2[:, 63] = 1.0
    d2[1, 68] = 10.0  # from a frontal first frame, a pure yaw change adds to a frontal source's yaw
    torch.testing.assert_close(rep.drive(_ref(src), d2)[1, 67:70], torch.tensor([0.0, 10.0, 0.0]), atol=1e-4, rtol=0)


def test_absolute_driving_keeps_source_scale():
    rep = KeypointRepresentation(**TINY, driving="absolute")
    src, motion = random_motion(1, 1)[0], random_motion(4, 2)
    out = rep.drive(_ref(src), motion)
    assert (out[:, 63] == src[63]).all()
    torch.testing.assert_close(torch.cat([out[:, :63], out[:, 64:]], 1), torch.cat([motion[:, :63], motion[:, 64:]], 1))


# -- edits ------------------------------------------------------------------------------------------
def _exp_dims(kps) -> list[int]:
    return [3 * k + j for k in kps for j in range(3)]


@pytest.mark.parametrize("region", ["lips", "eyes"])
def test_edit_region_keeps_other_parts(rep, region):
    m, src = random_motion(5, 0), random_motion(1, 1)[0]
    out = rep.edit(m, region=region, source=src)
    inside = _exp_dims(REGIONS[region])
    outside = [i for i in range(70) if i not in inside]
    torch.testing.assert_close(out[:, inside], m[:, inside], rtol=0, atol=0)
    torch.testing.assert_close(out[:, outside], src[outside].expand(5, -1), rtol=0, atol=0)


def test_edit_pose_region_and_angles(rep):
    m, src = random_motion(5, 0), random_motion(1, 1)[0]
    out = rep.edit(m, region="pose", source=src)
    torch.testing.assert_close(out[:, :63], src[:63].expand(5, -1), rtol=0, atol=0)
    torch.testing.assert_close(out[:, 63:], m[:, 63:], rtol=0, atol=0)
    out = rep.edit(m, yaw=20.0, roll_offset=torch.arange(5.0))
    torch.testing.assert_close(out[:, 68], torch.full((5,), 20.0))
    torch.testing.assert_close(out[:, 69], m[:, 69] + torch.arange(5.0))
    torch.testing.assert_close(out[:, :68], m[:, :68], rtol=0, atol=0)  # pitch and the rest unchanged
    assert not torch.equal(out, m) and torch.equal(m, random_motion(5, 0))  # the input is not modified
    with pytest.raises(ValueError):
        rep.edit(m, region="lips")
    with pytest.raises(ValueError):
        rep.edit(m, region="nose", source=src)


# -- aux features -----------------------------------------------------------------------------------
def test_aux_features(rep):
    m = random_motion(4, 0).requires_grad_(True)
    f = rep.aux_features(m)
    assert f.shape == (4, len(AUX_NAMES))
    f.sum().backward()
    assert m.grad[:, :63].abs().sum() > 0 and (m.grad[:, 63:] == 0).all()  # pose-free, as GoHD's
    neutral = torch.zeros(70)
    neutral[63] = 1.0
    f0 = rep.aux_features(neutral)
    assert (f0 > 0).all()  # open eyes, brows above the eyes before any fit
    closing = neutral.clone()
    closing[3 * 3 + 1] += 0.05  # right upper lid moves down
    f1 = rep.aux_features(closing)
    assert f1[0] < f0[0] and torch.equal(f1[1:], f0[1:])
    raised = neutral.clone()
    raised[3 * BROW_KP[1] + 1] -= 0.05  # left brow up (y down)
    f2 = rep.aux_features(raised)
    assert f2[3] > f0[3] and torch.equal(f2[:3], f0[:3])
    assert torch.allclose(rep.aux_features(rep.edit(neutral, yaw=40.0, pitch=-20.0)), f0)


# -- normalisation ----------------------------------------------------------------------------------
@settings(deadline=None, max_examples=20)
@given(st.integers(0, 10_000), st.sampled_from(["zscore", "joyvasa"]))
def test_normaliser_round_trip(seed, norm):
    rep = KeypointRepresentation(**TINY, norm=norm)
    train = random_motion(50, seed)  # angles within +-60 degrees
    train[:, :63] *= torch.linspace(0.5, 3, 63)
    rep.norm.fit(train)
    z = rep.normalize(train)
    # float32 costs a few ulp at angles of ~60 degrees (ulp 4e-6): 1e-5 plus 1e-6 relative
    torch.testing.assert_close(rep.denormalize(z), train, atol=1e-5, rtol=1e-6)
    fresh = random_motion(7, seed + 1).double()  # float64 motion: the same statistics, exact
    torch.testing.assert_close(rep.denormalize(rep.normalize(fresh)), fresh, atol=1e-10, rtol=0)
    if norm == "joyvasa":
        assert z[:, 63:].min() >= -1e-6 and z[:, 63:].max() <= 1 + 1e-6
        torch.testing.assert_close(z[:, 63:].min(0).values, torch.zeros(7), atol=1e-6, rtol=0)
        torch.testing.assert_close(z[:, 63:].max(0).values, torch.ones(7), atol=1e-6, rtol=0)
    else:
        torch.testing.assert_close(z[:, 63:].mean(0), torch.zeros(7), atol=1e-5, rtol=0)
    torch.testing.assert_close(z[:, :63].mean(0), torch.zeros(63), atol=1e-5, rtol=0)
    torch.testing.assert_close(z[:, :63].std(0), torch.ones(63), atol=1e-4, rtol=0)
    with pytest.raises(RuntimeError):
        rep.norm.fit(train)  # the read-only guard still holds


def test_normaliser_schemes_do_not_mix():
    plain, mm = Normalizer(70), Normalizer(70, minmax=range(63, 70))
    assert set(plain.state_dict()) == {"mean", "std", "fitted"}  # unchanged for the existing spaces
    mm.fit(torch.randn(20, 70))
    with pytest.raises(RuntimeError):
        plain.load_state_dict(mm.state_dict())
    with pytest.raises(RuntimeError):
        Normalizer(70).load_state_dict(Normalizer(70, minmax=[1]).state_dict())
    with pytest.raises(ValueError):
        Normalizer(5, minmax=[4, 5])


# -- checkpoints ------------------------------------------------------------------------------------
def test_save_load_round_trip(tmp_path):
    torch.manual_seed(1)
    rep = KeypointRepresentation(**TINY, norm="joyvasa", driving="absolute")
    rep.norm.fit(random_motion(30, 0))
    rep.x_c_mean.add_(0.01)
    rep.save(tmp_path / "kp.pt")
    back = KeypointRepresentation.load(tmp_path / "kp.pt")
    assert back.config == rep.config and back.norm_scheme == "joyvasa" and back.driving == "absolute"
    frames = torch.rand(3, 3, 32, 32)
    torch.testing.assert_close(back.encode(frames), rep.encode(frames))
    torch.testing.assert_close(back.x_c_mean, rep.x_c_mean)
    torch.testing.assert_close(back.norm.std, rep.norm.std)


def test_warp_networks_wired(tmp_path):
    torch.manual_seed(0)
    rep = KeypointRepresentation(**TINY, warp={"volume_blocks": 1})
    assert rep.warp is not None and rep.warp.size == 32 and rep.warp.num_keypoints == 21
    ref = rep.reference(torch.rand(3, 40, 40))
    assert ref.features is not None and ref.features.shape[0] == rep.warp.volume_channels
    rep.save(tmp_path / "kp.pt")
    back = KeypointRepresentation.load(tmp_path / "kp.pt")
    assert back.warp_config == {"volume_blocks": 1}
    torch.testing.assert_close(back.reference(ref.image).features, ref.features)
    with pytest.raises(ValueError):
        KeypointRepresentation(**TINY, warp={"size": 64})
    assert KeypointRepresentation(**TINY).warp_config == {}  # the warp networks' CPU defaults
