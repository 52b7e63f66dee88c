"""GoHD navigator: orthonormal dictionary, iris masks, shapes, training on tiny rendered clips, save/load."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from renderers.navigator import NAV_COMPONENTS, NavigatorRenderer, iris_masks
from representations.morphable import MorphableRepresentation
from sandbox.data.clips import Clip, ClipStore, write_clip, write_index
from sandbox.data.pairs import component_masks
from sandbox.face.head_model import HeadModel
from sandbox.face.portrait import PortraitRenderer
from sandbox.geometry.rotation import euler_to_rotvec, rotvec_to_euler

TINY = dict(size=32, latent_dim=32, n_directions=8, ch_min=8, ch_max=32, mlp_layers=2, mlp_hidden=64)


def rendered_clip(cid: str, seed: int, model: HeadModel, t: int = 8, size: int = 64) -> Clip:
    """A short clip of the head model under random pose / jaw / blink / gaze, with its ground truth."""
    rng = np.random.default_rng(seed)
    ypr0 = rotvec_to_euler(model.neutral_pose[:3])
    ypr = ypr0 + np.radians(rng.uniform(-15, 15, (t, 3)) * [1, 1, 0.3])
    pose = np.c_[euler_to_rotvec(ypr), np.tile(model.neutral_pose[3:], (t, 1))]
    exp = np.zeros((t, model.n_exp))
    exp[:, 0] = rng.uniform(0, 1, t)  # jaw_open
    exp[:, 6:8] = rng.uniform(0, 1, (t, 1)) ** 4  # occasional blinks
    gaze = rng.uniform(-0.3, 0.3, (t, 2))
    cam, l2 = model.landmarks(None, pose, exp, gaze, size)
    frames = PortraitRenderer(model.texture, model.texture_lmk2d, size).render_batch(l2, cam[..., 2])
    gt = {"pose": pose.astype(np.float32), "exp": exp.astype(np.float32), "gaze": gaze.astype(np.float32),
          "lmk2d": l2.astype(np.float32), "id_coeff": np.zeros(model.n_id, np.float32)}  # fmt: skip
    return Clip(cid, frames, np.zeros(t * 640, np.float32), gt=gt)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> ClipStore:
    model = HeadModel.load()
    root = tmp_path_factory.mktemp("heads")
    for i in range(4):
        write_clip(root, rendered_clip(f"c{i}", i, model))
    write_index(root, {"train": ["c0", "c1", "c2"], "val": ["c3"], "test": []}, {})
    return ClipStore(root)


@pytest.fixture(scope="module")
def rep(store) -> MorphableRepresentation:
    r = MorphableRepresentation(encode_from="gt")
    r.fit(store)
    return r


def test_dictionary_is_orthonormal_and_navigation_lies_in_its_span(rep):
    torch.manual_seed(0)
    nav = NavigatorRenderer(rep, **TINY)
    q = nav.net.directions.basis()
    torch.testing.assert_close(q.T @ q, torch.eye(8), atol=1e-5, rtol=0)
    eta = nav.net.navigate(torch.randn(5, 32), torch.randn(5, 20))
    torch.testing.assert_close((eta @ q) @ q.T, eta, atol=1e-5, rtol=0)


def test_iris_mask_sits_inside_the_eyes_and_follows_the_gaze():
    model = HeadModel.load()
    size = 128
    masks = []
    for yaw in (-0.3, 0.3):
        _, l2 = model.landmarks(None, None, None, np.array([0.0, yaw]), 512)
        eyes = component_masks(l2, (512, 512), size, dilate=0)[1]
        m = iris_masks(l2, eyes, (512, 512), size)
        assert m.sum() > 10 and (m <= eyes).all()
        masks.append(m)
    xs = [np.nonzero(m)[1].mean() for m in masks]
    assert xs[1] > xs[0] + 1  # positive gaze yaw: irises toward the image right


def test_render_shapes_range_and_rep_not_a_submodule(rep):
    nav = NavigatorRenderer(rep, **TINY)
    tex = torch.from_numpy(HeadModel.load().texture).permute(2, 0, 1).float() / 255
    ref = rep.reference(tex)
    motion = ref.motion[None].repeat(5, 1)
    out = nav.render(ref, motion, batch_size=2)
    assert out.shape == (5, 3, 32, 32) and out.min() >= 0 and out.max() <= 1
    torch.testing.assert_close(out[0], out[4])  # the same motion draws the same frame
    assert not any(n.startswith("rep") for n in nav.state_dict())
    with pytest.raises(ValueError, match=r"\[T, 20\]"):
        nav.render(ref, torch.zeros(3, 7))


def test_training_reduces_loss_and_roundtrips(store, rep, tmp_path):
    torch.manual_seed(0)
    # the synthesis path must learn; with image_warp the tiny set is near-solved by copying at init
    nav = NavigatorRenderer(rep, **TINY, image_warp=False)
    before = nav.evaluate(store, "train", max_pairs=24)
    m = nav.fit(store, steps=60, batch_size=8, lr=2e-3, run_dir=tmp_path / "run", loggers=("csv",))
    after = nav.evaluate(store, "train", max_pairs=24)
    assert m["steps"] == 60
    assert m["train_loss_final"] < 0.6 * m["train_loss_first"], m
    assert after["l1"] < 0.7 * before["l1"], (before, after)
    assert {"val_l1", "val_psnr", "val_ssim"} <= set(m) and np.isfinite(m["val_psnr"])
    nav.save(tmp_path / "nav.pt")
    back = NavigatorRenderer.load(tmp_path / "nav.pt", rep)
    ref = rep.reference(torch.from_numpy(HeadModel.load().texture).permute(2, 0, 1).float() / 255)
    motion = ref.motion[None].repeat(2, 1)
    drawn = nav.render(ref, motion)
    torch.testing.assert_close(back.render(ref, motion), drawn)
    # the navigator keeps the rho statistics it was trained with: refitting the rep's normaliser
    # (the extract stage does) must not change what it draws
    saved = {k: v.clone() for k, v in rep.norm.state_dict().items()}
    rep.norm.fit(torch.randn(40, 20) * 5)
    torch.testing.assert_close(nav.render(ref, motion), drawn)
    rep.norm.load_state_dict(saved)


def test_iris_component_is_weighted(store, rep):
    nav = NavigatorRenderer(rep, **TINY)
    item = nav._dataset(store, "train", "gt", fixed=True, seed=0)[3]
    assert item["masks"].shape == (len(NAV_COMPONENTS), 32, 32) and item["rho"].shape == (20,)
    assert item["masks"][2].sum() > 0 and (item["masks"][2] <= item["masks"][1]).all()
    with pytest.raises(Exception, match="unknown loss components"):
        nav.fit(store, steps=1, weights={"nose": 1.0})
