"""LIA motion auto-encoder: orthonormal basis, lambda-control, warping, shapes, training, pairs."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from renderers.lia import LiaRenderer
from representations.lia import (
    LiaAutoEncoder,
    LiaConfig,
    LiaRepresentation,
    orthonormal_basis,
)
from sandbox.data.clips import Clip, ClipStore, write_clip, write_index
from sandbox.data.pairs import FramePairs, component_masks
from sandbox.nets.flow_warp import FlowWarpDecoder, warp
from sandbox.nets.image_encoder import ImageEncoder

TINY = dict(size=32, latent_dim=16, motion_dim=4, ch_min=8, ch_max=32, mlp_layers=2)


def _blob_clip(cid: str, seed: int, T: int = 8, H: int = 48) -> Clip:
    """A moving, breathing coloured blob on a flat background; landmarks ride along with it."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:H].astype(np.float32)
    bg, fg = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    template = rng.normal(0, 6, (478, 2)).astype(np.float32)
    frames, lmk, motion = [], [], []
    for t in range(T):
        cx, cy = H / 2 + 8 * np.sin(t / 2 + seed), H / 2 + 6 * np.cos(t / 3 + seed)
        r = 9 + 3 * np.sin(t)
        a = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r**2))[..., None]
        frames.append((bg * (1 - a) + fg * a).astype(np.uint8))
        lmk.append(np.clip(template + [cx, cy], 0, H - 1))
        motion.append([cx, cy, r])
    m = np.asarray(motion, np.float32)
    gt = {"lmk2d": np.stack(lmk).astype(np.float32), "pose": np.pad(m[:, :2], ((0, 0), (0, 4))),
          "exp": m[:, 2:], "gaze": np.zeros((T, 2), np.float32)}  # 3dmm-like motion: the readout's target
    return Clip(cid, np.stack(frames), np.zeros(T * 640, np.float32), gt=gt)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> ClipStore:
    root = tmp_path_factory.mktemp("blobs")
    for i in range(4):
        write_clip(root, _blob_clip(f"c{i}", i))
    write_index(root, {"train": ["c0", "c1", "c2"], "val": ["c3"], "test": []}, {})
    return ClipStore(root)


# -- basis and lambda-control ----------------------------------------------------------------------
shapes = st.integers(1, 12).flatmap(lambda m: st.tuples(st.integers(m, 24), st.just(m)))


@settings(max_examples=40, deadline=None)
@given(shape=shapes, scale=st.floats(1e-2, 1e2), seed=st.integers(0, 2**31 - 1))
def test_basis_orthonormal_and_coefficients_recovered(shape, scale, seed):
    d, m = shape
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(d, m, generator=g, dtype=torch.float64) * scale
    Q = orthonormal_basis(W)
    assert Q.shape == (d, m)
    torch.testing.assert_close(Q.T @ Q, torch.eye(m, dtype=torch.float64), atol=1e-5, rtol=0)
    lam = torch.randn(5, m, generator=g, dtype=torch.float64) * 3
    torch.testing.assert_close((lam @ Q.T) @ Q, lam, atol=1e-5, rtol=0)  # eq. 15


@pytest.mark.parametrize("space", ["latent", "coeff"])
@settings(max_examples=25, deadline=None)
@given(k=st.integers(0, 3), amount=st.floats(-5, 5), use_value=st.booleans(), seed=st.integers(0, 10_000))
def test_lambda_control_moves_only_direction_k(space, k, amount, use_value, seed):
    torch.manual_seed(0)
    rep = LiaRepresentation(space=space, **TINY)
    g = torch.Generator().manual_seed(seed)
    motion = torch.randn(6, rep.dim, generator=g)
    kw = {"value": amount} if use_value else {"delta": amount}
    edited = rep.edit(motion, k=k, **kw)
    before, after = rep.coefficients(motion), rep.coefficients(edited)
    others = [i for i in range(4) if i != k]
    torch.testing.assert_close(after[:, others], before[:, others], atol=1e-5, rtol=0)
    expect = torch.full((6,), amount) if use_value else before[:, k] + amount
    torch.testing.assert_close(after[:, k], expect, atol=1e-4, rtol=0)
    if space == "latent":  # the part outside span(Q) is kept too (the free latent is not projected)
        Q = rep.basis()
        outside = lambda x: x - (x @ Q) @ Q.T  # noqa: E731
        torch.testing.assert_close(outside(edited), outside(motion), atol=1e-5, rtol=0)


def test_edit_rejects_bad_arguments():
    rep = LiaRepresentation(**TINY)
    m = torch.zeros(2, rep.dim)
    with pytest.raises(ValueError):
        rep.edit(m, k=0)
    with pytest.raises(IndexError):
        rep.edit(m, k=4, delta=1.0)


# -- decoder warping --------------------------------------------------------------------------------
def test_zero_flow_warp_is_identity():
    feat = torch.randn(2, 5, 7, 9)
    torch.testing.assert_close(warp(feat, torch.zeros(2, 2, 7, 9)), feat, atol=1e-5, rtol=0)


def test_uniform_flow_shifts_by_whole_pixels():
    feat = torch.randn(1, 3, 8, 8)
    flow = torch.zeros(1, 2, 8, 8)
    flow[:, 0] = 2.0 / 8  # one pixel in x, in normalised units
    out = warp(feat, flow)
    torch.testing.assert_close(out[..., :-1], feat[..., 1:], atol=1e-5, rtol=0)


def test_untrained_decoder_starts_from_identity_warp_and_half_mask():
    torch.manual_seed(0)
    enc, dec = ImageEncoder(16, 8, 4, 8), FlowWarpDecoder(16, 8, 4, 8)
    w, feats = enc(torch.rand(2, 3, 16, 16))
    assert [f.shape[-1] for f in feats] == [4, 8, 16]
    img, flows = dec(w, feats, return_flows=True)
    assert img.shape == (2, 3, 16, 16)
    for flow, mask in flows:
        assert flow.abs().max() == 0 and torch.allclose(mask, torch.full_like(mask, 0.5))


def test_image_warp_blends_the_warped_source_with_the_synthesis():
    """image_warp: out = mask * warp(source, flow) + (1 - mask) * synthesis; at init flow 0, mask 0.5."""
    torch.manual_seed(0)
    enc = ImageEncoder(16, 8, 4, 8)
    plain, warped = FlowWarpDecoder(16, 8, 4, 8), FlowWarpDecoder(16, 8, 4, 8, image_warp=True)
    warped.load_state_dict(plain.state_dict(), strict=False)  # same synthesis weights
    src = torch.rand(2, 3, 16, 16)
    w, feats = enc(src)
    with pytest.raises(ValueError, match="source="):
        warped(w, feats)
    synth = plain(w, feats)
    img, flows = warped(w, feats, return_flows=True, source=src)
    assert len(flows) == len(plain.blocks) + 1
    torch.testing.assert_close(img, 0.5 * src + 0.5 * synth)
    with torch.no_grad():
        warped.to_image_flow.bias.copy_(torch.tensor([math.atanh(2.0 / 16), 0.0, 30.0]))  # x by 1 px; copy
    shifted = warped(w, feats, source=src)
    torch.testing.assert_close(shifted[..., :-1], src[..., 1:], atol=1e-4, rtol=0)


def test_affine_flow_starts_as_identity_and_adds_its_affine_grid_to_every_flow():
    """affine_flow: theta = I + linear(w), zero-initialised; its sampling offsets are added to each scale's
    flow and to the image warp's, so a 90-degree rotation theta rotates the copied source image."""
    torch.manual_seed(0)
    enc = ImageEncoder(16, 8, 4, 8)
    plain = FlowWarpDecoder(16, 8, 4, 8, image_warp=True)
    affine = FlowWarpDecoder(16, 8, 4, 8, image_warp=True, affine_flow=True)
    affine.load_state_dict(plain.state_dict(), strict=False)
    src = torch.rand(2, 3, 16, 16)
    w, feats = enc(src)
    torch.testing.assert_close(affine(w, feats, source=src), plain(w, feats, source=src))
    with torch.no_grad():
        affine.to_affine.bias.copy_(torch.tensor([-1.0, -1.0, 0.0, 1.0, -1.0, 0.0]))  # theta = [[0, -1], [1, 0]]
        affine.to_image_flow.bias[2] = 30.0  # mask 1: copy the warped source
    img, flows = affine(w, feats, source=src, return_flows=True)
    torch.testing.assert_close(img, torch.rot90(src, 1, dims=(-2, -1)), atol=1e-4, rtol=0)
    for flow, _ in flows:  # every scale's flow is the rotation's offsets (its own heads are still zero)
        r = flow.shape[-1]
        grid = torch.stack(torch.meshgrid(torch.arange(r), torch.arange(r), indexing="xy"), -1)
        xy = (2 * grid.float() + 1) / r - 1  # pixel centres in grid units
        expected = torch.stack([-xy[..., 1] - xy[..., 0], xy[..., 0] - xy[..., 1]])
        torch.testing.assert_close(flow, expected.expand_as(flow), atol=1e-5, rtol=0)


@pytest.mark.parametrize("detach", [False, True])
def test_affine_detach_stops_the_affine_warps_gradient_at_the_latent(detach):
    """With the convolutional flow heads at zero and the image mask at 1, the frame depends on the latent only
    through the affine warp: affine_detach=True leaves the latent without a gradient, False does not."""
    torch.manual_seed(0)
    enc = ImageEncoder(16, 8, 4, 8)
    dec = FlowWarpDecoder(16, 8, 4, 8, image_warp=True, affine_flow=True, affine_detach=detach)
    with torch.no_grad():
        dec.to_affine.weight.normal_(0, 0.1)
        dec.to_image_flow.bias[2] = 30.0
    src = torch.rand(2, 3, 16, 16)
    w, feats = enc(src)
    w = w.detach().requires_grad_(True)
    dec(w, [f.detach() for f in feats], source=src).sum().backward()
    assert dec.to_affine.weight.grad.abs().max() > 0
    assert (w.grad.abs().max() > 0) != detach
    with pytest.raises(ValueError, match="affine_flow"):
        FlowWarpDecoder(16, 8, 4, 8, affine_detach=True)  # refused, not ignored

def test_affine_gate_weighs_the_affine_warp_per_pixel():
    """affine_gate: each flow head adds sigmoid(gate) x the affine offsets, half at init; the image head's gate
    shut leaves the copied source unmoved, open it rotates it."""
    torch.manual_seed(0)
    enc = ImageEncoder(16, 8, 4, 8)
    dec = FlowWarpDecoder(16, 8, 4, 8, image_warp=True, affine_flow=True, affine_gate=True)
    with torch.no_grad():
        dec.to_affine.bias.copy_(torch.tensor([-1.0, -1.0, 0.0, 1.0, -1.0, 0.0]))  # theta = [[0, -1], [1, 0]]
    src = torch.rand(2, 3, 16, 16)
    w, feats = enc(src)
    _, flows = dec(w, feats, source=src, return_flows=True)
    full = FlowWarpDecoder(16, 8, 4, 8, image_warp=True, affine_flow=True)
    full.load_state_dict({k: v for k, v in dec.state_dict().items() if "to_flow" not in k and "image_flow" not in k},
                         strict=False)
    _, ungated = full(w, feats, source=src, return_flows=True)
    for (f, _), (u, _) in zip(flows, ungated):
        torch.testing.assert_close(f, 0.5 * u)
    # the image head: copy everywhere (mask 1), gate shut (bias -30) then open (+30)
    head = dec.to_image_flow
    with torch.no_grad():
        head.bias[2] = 30.0
        head.bias[3] = -30.0
    img = dec(w, feats, source=src)
    torch.testing.assert_close(img, src, atol=1e-4, rtol=0)  # gate shut: the affine warp moves nothing
    with torch.no_grad():
        head.bias[3] = 30.0
    torch.testing.assert_close(dec(w, feats, source=src), torch.rot90(src, 1, dims=(-2, -1)), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="affine_flow"):
        FlowWarpDecoder(16, 8, 4, 8, affine_gate=True)  # refused, not ignored


# -- representation / renderer shapes ----------------------------------------------------------------
@pytest.mark.parametrize("space,dim", [("latent", 16), ("coeff", 4)])
def test_encode_reference_render_shapes(space, dim):
    rep = LiaRepresentation(space=space, **TINY)
    assert rep.dim == dim and rep.parts == {space: slice(0, dim)}
    frames = torch.rand(5, 3, 40, 40)  # resized to the model size internally
    motion = rep.encode(frames)
    assert motion.shape == (5, dim)
    ref = rep.reference(frames[0])
    assert rep.reference_motion(ref).shape == (dim,)
    torch.testing.assert_close(rep.reference_motion(ref), rep.encode(frames[:1])[0], atol=1e-5, rtol=1e-5)
    out = LiaRenderer(rep).render(ref, motion, batch_size=2)
    assert out.shape == (5, 3, 32, 32) and out.min() >= 0 and out.max() <= 1
    assert not any(n.startswith("rep") for n, _ in LiaRenderer(rep).named_parameters())


def test_coeff_and_latent_spaces_render_the_same_frames():
    torch.manual_seed(0)
    lat = LiaRepresentation(space="latent", **TINY)
    coe = LiaRepresentation(space="coeff", **TINY)
    coe.ae.load_state_dict(lat.ae.state_dict())
    frames = torch.rand(3, 3, 32, 32)
    ref_l, ref_c = lat.reference(frames[0]), coe.reference(frames[0])
    a = LiaRenderer(lat).render(ref_l, lat.encode(frames))
    b = LiaRenderer(coe).render(ref_c, coe.encode(frames))
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_optimised_code_draws_the_target_closer_than_the_encoded_code():
    """experiments.lia_mouth's oracle: decode is differentiable in the motion, and optimising a code
    through the frozen decoder lowers the image L1 below what the encoder's code gives."""
    from experiments.lia_mouth import optimised_code
    from sandbox.data.frames import to_tensor
    from sandbox.pipeline.render import render_motion

    torch.manual_seed(0)
    rep = LiaRepresentation(space="coeff", **TINY)
    frames = (np.random.default_rng(0).random((3, 32, 32, 3)) * 255).astype(np.uint8)
    before = to_tensor(render_motion(rep, LiaRenderer(rep), frames[0], rep.encode(to_tensor(frames)).numpy()))
    after = to_tensor(optimised_code(rep, frames[0], frames, steps=30))
    target = to_tensor(frames)
    assert (after - target).abs().mean() < (before - target).abs().mean() - 1e-3


# -- data pairs -------------------------------------------------------------------------------------
def test_pairs_shapes_same_clip_and_masks(store):
    ds = FramePairs(store, "train", 32, fixed=True)
    assert len(ds) == 24
    item = ds[5]
    assert item["source"].shape == item["driving"].shape == (3, 32, 32)
    assert item["masks"].shape == (2, 32, 32)
    assert 0 < item["masks"][0].sum() < 32 * 32 and set(item["masks"].unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(ds[5]["source"], item["source"])  # fixed: deterministic source
    # the source comes from the driving frame's clip: its background colour matches
    clip_frames = torch.from_numpy(np.array(store.load("c0").frames)).float() / 255
    corner = clip_frames[0, 0, 0]
    torch.testing.assert_close(item["source"][:, 0, 0], corner, atol=0.02, rtol=0)


def test_pairs_motion_delta_is_the_standardised_motion_difference(store):
    ds = FramePairs(store, "train", 32, fixed=True)
    assert ds.motion_dim == 6 + 1 + 2
    # constant dimensions (pose 2..5, gaze) keep scale 1; moving ones are scaled by their std
    assert np.all(ds.motion_scale[2:6] == 1) and np.all(ds.motion_scale[7:] == 1) and ds.motion_scale[0] > 1
    for i in (0, 5, 17):
        ci, t = ds.index[i]
        clip = ds.clips[ci]
        s = ds._source_frame(i, clip.num_frames)
        m = np.concatenate([clip.gt["pose"], clip.gt["exp"], clip.gt["gaze"]], axis=1)
        np.testing.assert_allclose(ds[i]["motion_delta"].numpy(), (m[t] - m[s]) / ds.motion_scale, rtol=1e-5, atol=1e-6)
        assert ds[i]["has_motion"].item() == 1.0


def _blinking(clip: Clip, closed: list[int]) -> Clip:
    """The clip with eyes of its landmarks open (4 px lid gap) except at frames ``closed`` (0.5 px)."""
    from sandbox.analysis.face import LEFT_EYE_WIDTH, LEFT_LIDS, RIGHT_EYE_WIDTH, RIGHT_LIDS

    lmk = clip.gt["lmk2d"].copy()
    for t in range(len(lmk)):
        gap = 0.5 if t in closed else 4.0
        for lids, (a, b) in ((LEFT_LIDS, LEFT_EYE_WIDTH), (RIGHT_LIDS, RIGHT_EYE_WIDTH)):
            lmk[t, b] = lmk[t, a] + [10.0, 0.0]
            for up, lo in lids:
                lmk[t, up] = lmk[t, lo] - [0.0, gap]
    return Clip(clip.clip_id, clip.frames, clip.audio, gt={**clip.gt, "lmk2d": lmk})


@pytest.fixture(scope="module")
def blink_store(tmp_path_factory) -> ClipStore:
    root = tmp_path_factory.mktemp("blinks")
    for i in range(3):
        write_clip(root, _blinking(_blob_clip(f"c{i}", i), closed=[2 + i]))
    write_index(root, {"train": ["c0", "c1", "c2"], "val": [], "test": []}, {})
    return ClipStore(root)


def test_pairs_flag_closed_eyes_and_weight_them_to_the_asked_share(blink_store, store):
    ds = FramePairs(blink_store, "train", 32)
    assert np.flatnonzero(ds.eyes_closed).tolist() == [2, 8 + 3, 16 + 4]
    w = ds.blink_weights(0.3)
    assert w.sum() == pytest.approx(1.0) and w[ds.eyes_closed].sum() == pytest.approx(0.3)
    assert len(set(w[~ds.eyes_closed].round(12))) == 1  # the open frames stay alike
    for bad in (0.0, 1.0, -0.2):
        with pytest.raises(ValueError, match="share"):
            ds.blink_weights(bad)
    # the blob clips' random lid landmarks: no frame reads as closed, nothing to draw more often
    with pytest.raises(ValueError, match="no training frame has its eyes closed"):
        FramePairs(store, "train", 32).blink_weights(0.3)


@pytest.mark.parametrize("share", [0.0, 0.5])
def test_fit_draws_closed_eye_pairs_at_the_blink_share(blink_store, tmp_path, monkeypatch, share):
    """fit(blink_pairs=s): about s of the driving frames drawn have closed eyes (3 of 24 without)."""
    drawn = []
    get = FramePairs.__getitem__

    def spy(self, i):
        drawn.append(bool(self.eyes_closed[i]))
        return get(self, i)

    monkeypatch.setattr(FramePairs, "__getitem__", spy)
    torch.manual_seed(0)
    rep = LiaRepresentation(space="coeff", **TINY)
    rep.fit(blink_store, steps=12, batch_size=8, lr=1e-3, run_dir=tmp_path / "run", loggers=("csv",), val_pairs=0,
            blink_pairs=share, seed=1)
    frac = np.mean(drawn)
    assert len(drawn) >= 96
    assert (0.3 < frac < 0.7) if share else frac < 0.25, frac
    with pytest.raises(ValueError, match="share"):
        rep.fit(blink_store, steps=1, batch_size=8, run_dir=tmp_path / "bad", loggers=("csv",), val_pairs=0,
                blink_pairs=-0.1)


def test_eye_mask_term_makes_the_decoder_synthesise_closed_eyes(blink_store, tmp_path):
    """fit(eye_mask=w): inside closed eyes the output mask (the share of the warped source copied there) ends
    lower than in the same fit without the term; without the source-image warp the option is refused."""
    pairs = FramePairs(blink_store, "train", 32, fixed=True)
    items = [pairs[int(i)] for i in np.flatnonzero(pairs.eyes_closed)]
    batch = {k: torch.stack([it[k] for it in items]) for k in items[0]}
    eyes = batch["masks"][:, 1:2]
    assert batch["eyes_closed"].tolist() == [1.0] * 3 and eyes.sum() > 0

    def closed_eye_mask(weight: float, name: str) -> float:
        torch.manual_seed(0)
        rep = LiaRepresentation(space="coeff", **TINY)
        rep.fit(blink_store, steps=30, batch_size=8, lr=2e-3, run_dir=tmp_path / name, loggers=("csv",),
                val_pairs=0, blink_pairs=0.5, eye_mask=weight, seed=0)
        with torch.no_grad():
            out = rep.ae(batch["source"], batch["driving"], return_aux=True)
        return float((out["image_mask"] * eyes).sum() / eyes.sum())

    off, on = closed_eye_mask(0.0, "off"), closed_eye_mask(10.0, "on")
    assert on < off - 0.1, (on, off)
    with pytest.raises(ValueError, match="image_warp"):
        LiaRepresentation(space="coeff", **TINY, image_warp=False).fit(
            blink_store, steps=1, batch_size=8, run_dir=tmp_path / "bad", loggers=("csv",), val_pairs=0, eye_mask=1.0)
    with pytest.raises(ValueError, match="eye_mask > 0"):
        LiaRepresentation(space="coeff", **TINY).fit(
            blink_store, steps=1, batch_size=8, run_dir=tmp_path / "bad2", loggers=("csv",), val_pairs=0,
            eye_mask_detach=True)


def test_mask_head_only_keeps_the_mask_values_and_trains_nothing_but_the_head():
    """mask_head_only: aux["image_mask"] has the output mask's values, but a loss on it reaches only the
    mask's head (not the encoder, so not the motion code, nor the decoder's blocks); without it, it reaches both."""
    torch.manual_seed(0)
    ae = LiaAutoEncoder(LiaConfig(size=16, latent_dim=8, motion_dim=4, ch_min=4, ch_max=8))
    torch.nn.init.normal_(ae.decoder.to_image_flow.conv.weight, std=0.1)  # zero-initialised: no gradient past it
    src, drv = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    grads = {}
    for head_only in (False, True):
        ae.zero_grad(set_to_none=True)
        aux = ae(src, drv, return_aux=True, mask_head_only=head_only)
        torch.testing.assert_close(aux["image_mask"], aux["flows"][-1][1])
        aux["image_mask"].mean().backward()
        grads[head_only] = [
            sum(float(p.grad.abs().sum()) for p in m.parameters() if p.grad is not None)
            for m in (ae.decoder.to_image_flow, ae.encoder, ae.decoder.blocks)
        ]
    assert all(g > 0 for g in grads[False]), grads
    assert grads[True][0] > 0 and grads[True][1:] == [0, 0], grads
    with pytest.raises(ValueError, match="head_mask"):
        ae.decoder(torch.zeros(1, 8), [torch.zeros(1, 1, 1, 1)], head_mask=True)


def test_component_masks_follow_scaled_landmarks():
    from sandbox.face.topology import contours

    lips = contours()["lips_outer"]
    lmk = np.full((478, 2), 5.0, np.float32)  # eyes collapse to a point far from the mouth
    ang = np.linspace(0, 2 * np.pi, len(lips), endpoint=False)
    lmk[lips] = np.stack([40 + 16 * np.cos(ang), 24 + 16 * np.sin(ang)], 1)  # circle r=16 in a 64px frame
    masks = component_masks(lmk, (64, 64), 32, dilate=0)
    assert abs(masks[0].sum() - np.pi * 8**2) < 0.2 * np.pi * 8**2  # r=8 at 32px (+ fillPoly's boundary)
    ys, xs = np.nonzero(masks[0])
    assert abs(xs.mean() - 19.75) < 0.5 and abs(ys.mean() - 11.75) < 0.5
    assert masks[1].sum() <= 2  # degenerate eye polygons cover (almost) nothing


# -- training --------------------------------------------------------------------------------------
def test_training_reduces_reconstruction_loss_and_roundtrips(store, tmp_path):
    torch.manual_seed(0)
    # the synthesis path must learn; with image_warp the tiny set is near-solved by copying at init
    rep = LiaRepresentation(space="latent", **TINY, image_warp=False)
    before = rep.evaluate(store, "train", max_pairs=24)
    metrics = rep.fit(store, steps=60, batch_size=8, lr=2e-3, run_dir=tmp_path / "run", loggers=("csv",))
    after = rep.evaluate(store, "train", max_pairs=24)
    assert metrics["steps"] == 60
    assert after["l1"] < 0.6 * before["l1"], (before, after)
    assert metrics["train_loss_final"] < 0.6 * metrics["train_loss_first"], metrics
    assert {"val_l1", "val_psnr", "val_ssim"} <= set(metrics) and np.isfinite(metrics["val_psnr"])
    assert not bool(rep.norm.fitted)  # the extract stage owns the normaliser
    rep.norm.fit(rep.encode(torch.rand(6, 3, 32, 32)))
    # save / load keeps the weights and the normaliser
    rep.save(tmp_path / "lia.pt")
    back = LiaRepresentation.load(tmp_path / "lia.pt")
    frames = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(back.encode(frames), rep.encode(frames))
    torch.testing.assert_close(back.norm.mean, rep.norm.mean)


def test_affine_flow_is_trained_by_the_landmark_term_and_saved(store, tmp_path):
    """rep.affine_flow: the landmark-supervised fit moves the affine head off the identity, and a saved
    representation loads with it (the same decoded frames)."""
    torch.manual_seed(0)
    rep = LiaRepresentation(space="coeff", **TINY, affine_flow=True)
    rep.fit(store, steps=10, batch_size=4, lr=2e-3, run_dir=tmp_path / "run", loggers=("csv",), val_pairs=0,
            landmark_flow=5.0)
    assert rep.ae.decoder.to_affine.weight.abs().max() > 0
    rep.norm.fit(rep.encode(torch.rand(6, 3, 32, 32)))
    rep.save(tmp_path / "lia.pt")
    back = LiaRepresentation.load(tmp_path / "lia.pt")
    assert back.config.affine_flow and back.ae.decoder.to_affine is not None
    src = torch.rand(3, 32, 32)
    motion = rep.encode(torch.rand(2, 3, 32, 32))
    torch.testing.assert_close(back.decode(back.reference(src), motion), rep.decode(rep.reference(src), motion))


def test_the_eye_phase_trains_the_decoder_alone(blink_store, tmp_path):
    """fit(eye_phase_steps=n): the same first phase, then only the decoder moves (the code stays as it was)."""
    def fitted(n: int, name: str) -> tuple[LiaRepresentation, dict]:
        torch.manual_seed(0)
        rep = LiaRepresentation(space="coeff", **TINY)
        m = rep.fit(blink_store, steps=6, batch_size=8, lr=1e-3, run_dir=tmp_path / name, loggers=("csv",),
                    val_pairs=0, seed=0, eye_phase_steps=n)
        return rep, m

    (base, _), (eyed, m) = fitted(0, "base"), fitted(4, "eyes")
    assert m["eye_phase_steps"] == 4 and (tmp_path / "eyes" / "eye_phase").is_dir()
    a, b = dict(base.ae.named_parameters()), dict(eyed.ae.named_parameters())
    moved = {n for n in a if not torch.equal(a[n], b[n])}
    assert moved and all(n.startswith("decoder.") for n in moved)
    assert all(p.requires_grad for p in eyed.ae.parameters())  # unfrozen after the phase
    torch.manual_seed(0)
    fine = LiaRepresentation(space="coeff", **TINY)
    fine.fit(blink_store, steps=6, batch_size=8, lr=1e-3, run_dir=tmp_path / "fine", loggers=("csv",), val_pairs=0,
             seed=0, eye_phase_steps=4, eye_phase_params="fine")
    c = dict(fine.ae.named_parameters())
    last = len(fine.ae.decoder.blocks) - 1
    moved = {n for n in a if not torch.equal(a[n], c[n])}
    assert moved and all(n.startswith((f"decoder.blocks.{last}.", "decoder.to_image_flow.")) for n in moved)
    with pytest.raises(ValueError, match="eye_phase_params=coarse"):
        fine.fit(blink_store, steps=1, batch_size=8, run_dir=tmp_path / "bad", loggers=("csv",), val_pairs=0,
                 eye_phase_steps=1, eye_phase_params="coarse")


def test_the_eye_phase_keeps_the_landmark_term_and_takes_its_own_rate(blink_store, tmp_path):
    """eye_phase_flow: the phase logs (and so trains with) the warp fields' landmark term, which it drops
    otherwise; eye_phase_lr=0 leaves the first phase's decoder as it was; both refuse a fit without the phase."""
    def fitted(name: str, **kw) -> LiaRepresentation:
        torch.manual_seed(0)
        rep = LiaRepresentation(space="coeff", **TINY)
        rep.fit(blink_store, steps=4, batch_size=8, lr=1e-3, run_dir=tmp_path / name, loggers=("csv",),
                val_pairs=0, seed=0, landmark_flow=5.0, log_every_n_steps=1, **kw)
        return rep

    def logged(name: str) -> set[str]:
        (csv,) = (tmp_path / name / "eye_phase").rglob("metrics.csv")
        return set(csv.read_text().splitlines()[0].split(","))

    fitted("flow", eye_phase_steps=3, eye_phase_flow=True)
    fitted("plain", eye_phase_steps=3)
    assert "train/flow" in logged("flow") and "train/flow" not in logged("plain")
    base, still = fitted("base"), fitted("still", eye_phase_steps=3, eye_phase_lr=0.0)
    for (n, a), b in zip(base.ae.named_parameters(), still.ae.parameters()):
        torch.testing.assert_close(a, b, msg=n)
    for kw in ({"eye_phase_flow": True}, {"eye_phase_lr": 1e-4}):
        with pytest.raises(ValueError, match="eye_phase_steps > 0"):
            fitted("bad", **kw)


def test_a_fit_is_reproducible_by_its_seed(store, tmp_path):
    """Two fits with the same seed (landmark term, flow_eyes, blink-free sampling) end with identical weights, so a
    comparison's fit seed names one fit; another seed gives another."""
    def fit(seed, name):
        torch.manual_seed(seed)  # the fit stage seeds before it builds the representation
        rep = LiaRepresentation(space="coeff", **TINY)
        rep.fit(store, steps=8, batch_size=4, lr=1e-3, run_dir=tmp_path / name, loggers=("csv",), val_pairs=0,
                landmark_flow=5.0, flow_nonrigid=20.0, flow_eyes=5.0, motion_readout=1.0, seed=seed)
        return torch.cat([p.detach().flatten() for p in rep.parameters()])

    a, b, c = fit(3, "a"), fit(3, "b"), fit(4, "c")
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_fit_in_bf16_autocasts_the_convolutions_and_still_learns(store, tmp_path):
    """fit(precision="bf16-mixed"): the convolutions run in bfloat16, the weights stay float32, the loss falls."""
    torch.manual_seed(0)
    rep = LiaRepresentation(space="latent", **TINY, image_warp=False)
    seen = set()
    rep.ae.encoder.stem.register_forward_hook(lambda m, i, out: seen.add(out.dtype) if m.training else None)
    metrics = rep.fit(store, steps=40, batch_size=8, lr=2e-3, run_dir=tmp_path / "run", loggers=("csv",),
                      precision="bf16-mixed", val_pairs=0)
    assert seen == {torch.bfloat16}
    assert {p.dtype for p in rep.ae.parameters()} == {torch.float32}
    assert metrics["train_loss_final"] < 0.7 * metrics["train_loss_first"], metrics


def test_landmark_supervision_terms_are_trained_when_asked():
    """fit(landmark_flow > 0): the warp fields and the motion probe get their own logged, weighted terms."""
    from sandbox.trainers.image_module import ImageReconstructionModule

    torch.manual_seed(0)
    ae = LiaAutoEncoder(LiaConfig(size=32, latent_dim=16, motion_dim=4, ch_min=4, ch_max=16, mlp_layers=1))
    b = 2
    lmk_s = torch.rand(b, 478, 2) * 1.6 - 0.8
    batch = {"source": torch.rand(b, 3, 32, 32), "driving": torch.rand(b, 3, 32, 32),
             "masks": torch.zeros(b, 2, 32, 32), "lmk_source": lmk_s, "lmk_driving": lmk_s + 0.1,
             "has_lmk": torch.ones(b)}
    logged = {}
    plain = ImageReconstructionModule(ae, lambda x: ae(x["source"], x["driving"]), 1e-3, {}, ("mouth", "eyes"))
    plain.log_dict = lambda d, **kw: logged.update(plain=set(d))
    sup = ImageReconstructionModule(ae, lambda x: ae(x["source"], x["driving"], return_aux=True), 1e-3, {},
                                    ("mouth", "eyes"), landmark_flow=5.0)
    sup.log_dict = lambda d, **kw: logged.update(sup=set(d))
    base = plain.training_step(batch, 0)
    total = sup.training_step(batch, 0)
    assert {"train/flow", "train/probe"} <= logged["sup"] and "train/flow" not in logged["plain"]
    # zero-initialised flows miss the 0.1 displacement: the extra terms make the loss larger
    assert total.item() > base.item() + 5.0 * 0.05
    total.backward()
    assert ae.motion_probe.weight.grad.abs().sum() > 0 and ae.motion_mlp[0].weight.grad.abs().sum() > 0

    # flow_min_size drops the coarse scales from the flow term; motion_readout adds its own term
    readout = torch.nn.Linear(4, 3)
    batch.update(motion_delta=torch.randn(b, 3), has_motion=torch.ones(b))

    def with_readout(x):
        out = ae(x["source"], x["driving"], return_aux=True)
        out["motion_readout"] = readout(out["code_delta"])
        return out

    terms = {}
    for name, kw in {"all": {}, "fine": {"flow_min_size": 16, "motion_readout": 1.0}}.items():
        mod = ImageReconstructionModule(ae, with_readout, 1e-3, {}, ("mouth", "eyes"), landmark_flow=5.0, **kw)
        mod.log_dict = lambda d, name=name, **kw: terms.update({name: d})
        mod.training_step(batch, 0)
    assert "train/readout" in terms["fine"] and "train/readout" not in terms["all"]
    out = with_readout(batch)
    from sandbox.losses.image import landmark_flow_loss

    fine = [f for f, _ in out["flows"] if f.shape[-1] >= 16]
    assert len(fine) < len(out["flows"])
    expect = torch.stack([landmark_flow_loss(f, lmk_s + 0.1, lmk_s, batch["has_lmk"]) for f in fine]).mean()
    torch.testing.assert_close(terms["fine"]["train/flow"], expect.detach())
    expect_ro = (out["motion_readout"] - batch["motion_delta"]).pow(2).mean()
    torch.testing.assert_close(terms["fine"]["train/readout"], expect_ro.detach())


def test_he_init_lets_the_encoder_latent_vary_with_the_image():
    """With PyTorch's default init the latent was ~constant across images (std over a batch 2e-5 at
    128 px): the motion code had nothing to start from."""
    from sandbox.nets.image_encoder import he_init

    torch.manual_seed(0)
    imgs = torch.rand(8, 3, 64, 64) * torch.rand(8, 1, 1, 1)  # images of different brightness

    def variation(enc):  # std of the latent across images, relative to its size
        w, _ = enc(imgs)
        return (w.std(0).mean() / w.abs().mean()).item()

    enc = ImageEncoder(64, 32, ch_min=8, ch_max=32)
    default = ImageEncoder(64, 32, ch_min=8, ch_max=32)
    for m in default.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            m.reset_parameters()  # PyTorch's default init, undoing he_init
    assert variation(enc) > 0.05 and variation(enc) > 10 * variation(default)
    assert he_init(default) is default
