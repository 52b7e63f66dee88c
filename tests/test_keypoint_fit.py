"""Training the implicit-keypoint auto-encoder (representations.keypoint_fit) and its renderer."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from renderers.keypoint_warp import KeypointWarpRenderer
from representations.keypoint import KeypointRepresentation
from representations.keypoint_fit import pose_degrees
from sandbox.data.clips import ClipStore
from sandbox.geometry.rotation import angles_to_matrix, rotvec_to_matrix_torch
from sandbox.world.dataset import WorldConfig, build_dataset

TINY = dict(size=32, width=8, max_width=16, depth=2, warp={"volume_blocks": 1})


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> ClipStore:
    root = tmp_path_factory.mktemp("world")
    build_dataset(root, WorldConfig(n_clips=6, size=48, seed=5, min_seconds=1.0, max_seconds=1.5), workers=1,
                  progress=False)  # fmt: skip
    return ClipStore(root)


def test_pose_degrees_is_the_transposed_camera_rotation():
    """The world's column-vector rotation vector and the keypoint space's row-vector angles describe the
    same rotation: x R_kp = (R_cv x^T)^T."""
    g = torch.Generator().manual_seed(0)
    pose = torch.cat([torch.rand(16, 3, generator=g) * 0.8 - 0.4, torch.randn(16, 3, generator=g)], 1)
    R_kp = angles_to_matrix(*pose_degrees(pose).unbind(-1))
    torch.testing.assert_close(R_kp, rotvec_to_matrix_torch(pose[:, :3]).transpose(-1, -2), atol=1e-5, rtol=0)


def _curve(log_dir, name: str) -> list[float]:
    rows = list(csv.DictReader(open(log_dir / "logs" / "metrics.csv")))
    return [float(r[f"train/{name}"]) for r in rows if r.get(f"train/{name}")]


def test_fitting_a_tiny_set_reduces_the_losses_and_renders(store, tmp_path):
    torch.manual_seed(0)
    rep = KeypointRepresentation(**TINY)
    metrics = rep.fit(store, steps=60, batch_size=8, lr=2e-3, run_dir=tmp_path / "fit", val_pairs=8,
                      loggers=("csv",), log_every_n_steps=1)  # fmt: skip
    assert metrics["steps"] == 60 and np.isfinite(metrics["val_psnr"])
    for term in ("l1", "pyramid", "pose_ce", "pose_deg", "guide"):
        curve = _curve(tmp_path / "fit", term)
        first, last = np.mean(curve[:5]), np.mean(curve[-5:])
        assert last < 0.9 * first, (term, first, last)
    assert not torch.allclose(rep.x_c_mean, KeypointRepresentation(**TINY).x_c_mean)  # set from the data
    # the renderer draws a clip from a reference; the reference's own motion reproduces the source's keypoints
    clip = store.load(store.ids("train")[0])
    frames = torch.from_numpy(np.asarray(clip.frames[:6])).permute(0, 3, 1, 2).float() / 255
    motion = rep.encode(frames)
    ref = rep.reference(frames[0])
    video = KeypointWarpRenderer(rep).render(ref, motion, batch_size=4)
    assert video.shape == (6, 3, 32, 32) and 0 <= video.min() and video.max() <= 1
    driven = rep.drive(ref, motion)
    torch.testing.assert_close(rep.keypoints(ref.x_c, driven[0]), rep.keypoints(ref.x_c, ref.motion), atol=1e-4, rtol=0)


def test_motion_readout_trains_and_is_not_saved(store, tmp_path):
    """The training-only readout delta_d - delta_s -> 3dmm motion difference: its loss falls on a tiny set,
    and the saved representation holds no readout weights (it loads into a plain rep)."""
    torch.manual_seed(0)
    rep = KeypointRepresentation(**TINY, pool="flatten")
    rep.fit(store, steps=60, batch_size=8, lr=2e-3, motion_readout=1.0, run_dir=tmp_path / "fit", val_pairs=0,
            loggers=("csv",), log_every_n_steps=1)  # fmt: skip
    curve = _curve(tmp_path / "fit", "readout")
    assert len(curve) == 60 and np.mean(curve[-5:]) < 0.9 * np.mean(curve[:5])
    assert not any("readout" in k for k in rep.state_dict())
    rep.save(tmp_path / "rep.pt")
    again = KeypointRepresentation.load(tmp_path / "rep.pt")
    assert again.config.pool == "flatten"
    frames = torch.rand(3, 3, 32, 32)
    torch.testing.assert_close(again.encode(frames), rep.encode(frames))


def test_fit_without_readout_logs_no_readout(store, tmp_path):
    rep = KeypointRepresentation(**TINY)
    rep.fit(store, steps=3, batch_size=4, run_dir=tmp_path / "fit", val_pairs=0, loggers=("csv",),
            log_every_n_steps=1)  # fmt: skip
    assert _curve(tmp_path / "fit", "readout") == []


def test_the_fit_does_not_read_the_normalisation(store, tmp_path):
    """``fit_ignores = ("norm",)`` lets experiment=joyvasa reuse rep=keypoint's fit: the same seed fits the
    same weights under either scheme (the extract stage fits the normaliser, after the fit)."""
    from representations.keypoint import KeypointRepresentation as KR

    states = []
    for norm in ("zscore", "joyvasa"):
        torch.manual_seed(0)
        rep = KR(**TINY, norm=norm)
        rep.fit(store, steps=3, batch_size=4, run_dir=tmp_path / norm, val_pairs=0, loggers=(), seed=0)
        states.append({k: v for k, v in rep.state_dict().items() if not k.startswith("norm.")})
    assert KR.fit_ignores == ("norm",)
    assert states[0].keys() == states[1].keys()
    for k in states[0]:
        torch.testing.assert_close(states[0][k], states[1][k], atol=0, rtol=0, msg=k)
    torch.manual_seed(0)
    unfitted = KR(**TINY).state_dict()["extractor.stem.0.weight"]
    assert not torch.equal(states[0]["extractor.stem.0.weight"], unfitted)  # the fit did train
