"""The 3dmm representation: layout, eye-motion features, edits, and the encode paths (landmarks,
pixels through the analyser, ground truth)."""
from __future__ import annotations

import logging
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from representations.morphable import (
    AUX_NAMES,
    BROW_68,
    MorphableRepresentation,
    fill_missing,
)
from sandbox.analysis.face import LEFT_LIDS, RIGHT_LIDS
from sandbox.data.clips import Clip
from sandbox.errors import ConfigError, NoFaceError
from sandbox.face.head_model import EXP_NAMES, HeadModel
from sandbox.geometry.rotation import euler_to_rotvec, rotvec_to_euler

JAW = EXP_NAMES.index("jaw_open")


@contextmanager
def _captured(name: str):
    """Log records of one logger (caplog is function-scoped, which hypothesis rejects)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


@pytest.fixture(scope="module")
def rep() -> MorphableRepresentation:
    return MorphableRepresentation()


def test_layout():
    rep = MorphableRepresentation()
    assert rep.name == "3dmm" and rep.dim == 20
    assert rep.parts == {"pose": slice(0, 6), "exp": slice(6, 18), "gaze": slice(18, 20)}
    with pytest.raises(ConfigError, match="encode_from"):
        MorphableRepresentation(encode_from="magic")


# -- eye-motion features (GoHD fig. 4) --------------------------------------------------------------
def _features_from_mesh(model: HeadModel, exp: np.ndarray) -> np.ndarray:
    """The definition, computed the slow way: zero identity and pose, mesh landmarks, then ratios."""
    pairs = np.array(LEFT_LIDS + RIGHT_LIDS)
    neutral, mesh = model.shape(None, np.zeros(model.n_exp)), model.shape(None, exp)
    he = lambda s: (s[..., pairs[:, 1], 1] - s[..., pairs[:, 0], 1]).mean(-1)  # noqa: E731
    brows = (mesh[..., list(BROW_68), :2] - neutral[list(BROW_68), :2]).reshape(exp.shape[:-1] + (20,))
    return np.concatenate([(he(mesh) / he(neutral))[..., None], brows], -1)


@settings(max_examples=20, deadline=None)
@given(exp=arrays(np.float64, (3, len(EXP_NAMES)), elements=st.floats(0, 1)))
def test_aux_features_match_the_mesh_definition(rep, exp):
    motion = torch.zeros(3, 20, dtype=torch.float64)
    motion[:, 6:18] = torch.from_numpy(exp)
    got = rep.aux_features(motion).numpy()
    np.testing.assert_allclose(got, _features_from_mesh(rep.head, exp), atol=1e-5)


def test_aux_features_semantics_and_gradient(rep):
    e = lambda **k: torch.tensor([[k.get(n, 0.0) for n in EXP_NAMES]])  # noqa: E731
    motion = lambda ex: torch.cat([torch.zeros(1, 6), ex, torch.zeros(1, 2)], 1)  # noqa: E731
    assert len(AUX_NAMES) == 21
    f0 = rep.aux_features(motion(e()))
    torch.testing.assert_close(f0, torch.cat([torch.ones(1, 1), torch.zeros(1, 20)], 1))
    blink = rep.aux_features(motion(e(blink_l=1, blink_r=1)))
    assert blink[0, 0] < 0.2  # both eyes shut
    one = rep.aux_features(motion(e(blink_l=1)))[0, 0]
    assert 0.3 < one < 0.7  # one eye shut: about half
    raised = rep.aux_features(motion(e(brow_raise=1)))[0, 1:].reshape(10, 2)
    assert (raised[:, 1] < -0.3).all()  # y is down: brows go up
    assert rep.aux_features(motion(e(jaw_open=1)))[0, 1:].abs().max() < 0.05  # the jaw leaves the brows
    # differentiable through normalise -> denormalise (a generator's output)
    rep2 = MorphableRepresentation()
    rep2.norm.fit(torch.rand(50, 20) * 3)
    x = torch.randn(4, 20, requires_grad=True)
    rep2.aux_features(rep2.denormalize(x)).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad[:, 6:18].abs().sum() > 0 and x.grad[:, :6].abs().sum() == 0


# -- edits ----------------------------------------------------------------------------------------
def test_edit_sets_and_offsets_pose_and_gaze(rep):
    torch.manual_seed(0)
    m = torch.randn(5, 20) * 0.1
    m[:, 5] += 50
    out = rep.edit(m, pose=(0.3, -0.1, 0.05))
    np.testing.assert_allclose(rotvec_to_euler(out[:, :3].double().numpy()), np.tile([0.3, -0.1, 0.05], (5, 1)), atol=1e-5)
    torch.testing.assert_close(out[:, 3:], m[:, 3:])
    off = rep.edit(m, pose_offset=(0.2, 0, 0, 0, 0, 10))
    ypr = rotvec_to_euler(m[:, :3].double().numpy())
    np.testing.assert_allclose(rotvec_to_euler(off[:, :3].double().numpy()), ypr + [0.2, 0, 0], atol=1e-5)
    torch.testing.assert_close(off[:, 5], m[:, 5] + 10)
    look = rep.edit(m, gaze_offset=(0.0, -0.3 * np.pi))  # look toward the image left
    torch.testing.assert_close(look[:, 19], m[:, 19] - 0.3 * np.pi)
    torch.testing.assert_close(look[:, :19], m[:, :19])
    per_frame = rep.edit(m, gaze=np.linspace(0, 0.4, 10).reshape(5, 2))
    torch.testing.assert_close(per_frame[:, 18:], torch.linspace(0, 0.4, 10).reshape(5, 2))
    with pytest.raises(ValueError, match="pitch, yaw"):
        rep.edit(m, gaze=(1, 2, 3))


# -- encode paths ---------------------------------------------------------------------------------
def test_fill_missing_interpolates_and_holds_ends():
    v = np.array([[np.nan], [1.0], [np.nan], [3.0], [np.nan]])
    np.testing.assert_allclose(fill_missing(v, np.isfinite(v[:, 0]))[:, 0], [1, 1, 2, 3, 3])


@settings(max_examples=12, deadline=None)
@given(
    yp=st.tuples(st.floats(-30, 30), st.floats(-30, 30)),
    ex=arrays(np.float64, len(EXP_NAMES), elements=st.floats(0, 1)),
    jaws=st.tuples(st.floats(0, 0.6), st.floats(0.35, 0.65)),
)
def test_encode_landmarks_recovers_pose_and_jaw_order(rep, yp, ex, jaws):
    """mesh -> landmarks -> the representation's encode path (analyser fit without MediaPipe), with a
    frame without a face in the middle that must be interpolated."""
    lo = jaws[0]
    hi = min(1.0, lo + jaws[1])
    ypr = np.radians([yp[0], yp[1], 0.0])
    pose = np.r_[euler_to_rotvec(ypr), 0.5, -0.5, 50.0]
    exp = np.stack([ex, ex, ex])
    exp[:, JAW] = lo, (lo + hi) / 2, hi
    _, l2 = rep.head.landmarks(None, pose, exp, np.zeros(2), 256)
    l2[1] = np.nan
    with _captured("representations.morphable") as records:
        m = rep.encode_landmarks(l2, 256).double().numpy()
    assert any("1 of 3 frames" in r.getMessage() for r in records)
    err = np.degrees(np.abs(rotvec_to_euler(m[[0, 2], :3]) - ypr))
    assert err[:, :2].max() < 2.0, err
    assert m[2, 6 + JAW] > m[0, 6 + JAW]
    np.testing.assert_allclose(m[1], (m[0] + m[2]) / 2, rtol=1e-6, atol=1e-9)  # interpolated (in float32)


def test_extract_smoothing_takes_frame_to_frame_jitter_out_of_the_analysed_motion(rep):
    """Landmarks of a slowly opening and closing jaw, with independent pixel noise per frame, through the
    analyser's encode path: the extract stage's smoothing brings the motion closer to the true jaw; a
    still face stays where it is; a negative std is refused before any work."""
    from sandbox.pipeline.extract import smooth_motion
    from sandbox.run import compose_config

    t = 40
    pose = np.tile(np.r_[euler_to_rotvec(np.radians([10.0, -5.0, 0.0])), 0.5, -0.5, 50.0], (t, 1))
    exp = np.zeros((t, len(EXP_NAMES)))
    exp[:, JAW] = 0.4 + 0.3 * np.sin(np.arange(t) * 2 * np.pi / 16)
    _, l2 = rep.head.landmarks(None, pose, exp, np.zeros((t, 2)), 256)
    noisy = rep.encode_landmarks(l2 + np.random.default_rng(0).normal(0, 1.5, l2.shape), 256).numpy()
    # correlation: the fit's ridge shrinks the coefficients, which smoothing neither causes nor cures
    corr = {s: np.corrcoef(smooth_motion(noisy, s)[:, 6 + JAW], exp[:, JAW])[0, 1] for s in (0.0, 1.0)}
    assert 1 - corr[1.0] < 0.7 * (1 - corr[0.0]), corr
    still = np.repeat(noisy[:1], 5, axis=0)
    np.testing.assert_allclose(smooth_motion(still, 1.0), still, atol=1e-6)
    with pytest.raises(ConfigError, match="extract.smooth"):
        compose_config(["rep=3dmm", "gen=flow", "preset=smoke", "extract.smooth=-1"])


def test_encode_without_any_face_raises(rep):
    with pytest.raises(NoFaceError, match="no face found in any of the 2 frames"):
        rep.encode(torch.full((2, 3, 96, 96), 0.5))


def _rendered(model: HeadModel, t: int, size: int, seed: int):
    from sandbox.face.portrait import PortraitRenderer

    rng = np.random.default_rng(seed)
    ypr = rotvec_to_euler(model.neutral_pose[:3]) + np.c_[np.radians(rng.uniform(-20, 20, (t, 2))), np.zeros(t)]
    pose = np.c_[euler_to_rotvec(ypr), np.tile(model.neutral_pose[3:], (t, 1))]
    exp = np.zeros((t, model.n_exp))
    exp[:, JAW] = np.linspace(0, 1, t)[rng.permutation(t)]
    gaze = rng.uniform(-0.2, 0.2, (t, 2))
    cam, l2 = model.landmarks(None, pose, exp, gaze, size)
    frames = PortraitRenderer(model.texture, model.texture_lmk2d, size).render_batch(l2, cam[..., 2])
    gt = {"pose": pose.astype(np.float32), "exp": exp.astype(np.float32), "gaze": gaze.astype(np.float32)}
    return Clip("r", frames, np.zeros(t * 640, np.float32), gt=gt)


def test_analyser_encoding_matches_ground_truth_on_rendered_frames(rep, caplog):
    clip = _rendered(rep.head, t=10, size=256, seed=3)
    gt = rep.encode_clip(clip, source="gt")
    torch.testing.assert_close(gt[:, 6:18], torch.from_numpy(clip.gt["exp"]))
    frames = np.array(clip.frames)
    frames[4] = 128  # a frame without a face: interpolated, logged
    clip.frames = frames
    with caplog.at_level(logging.WARNING):
        enc = rep.encode_clip(clip, source="analyser")
    assert "1 of 10 frames" in caplog.text
    ok = np.arange(10) != 4
    err = np.degrees(np.abs(rotvec_to_euler(enc[ok, :3].double().numpy()) - rotvec_to_euler(gt[ok, :3].double().numpy())))
    assert err[:, 0].mean() < 3.0 and err[:, 1].mean() < 3.0, err
    assert np.corrcoef(enc[ok, 6 + JAW], gt[ok, 6 + JAW])[0, 1] > 0.5  # 40 frames: 0.56-0.61 (report)
    assert np.abs(enc[ok, 5] - gt[ok, 5]).mean() < 3.0  # depth (scale) within a few cm of 50


def test_reference_of_the_texture_is_its_own_neutral_motion(rep, tmp_path):
    tex = torch.from_numpy(rep.head.texture).permute(2, 0, 1).float() / 255
    ref = rep.reference(tex)
    assert ref.motion.shape == (20,) and torch.equal(rep.reference_motion(ref), ref.motion)
    ypr = np.degrees(rotvec_to_euler(ref.pose[:3]) - rotvec_to_euler(rep.head.neutral_pose[:3]))
    assert np.abs(ypr).max() < 1.5 and np.abs(ref.exp).max() < 0.1
    with pytest.raises(NoFaceError, match="no face found in the source image"):
        rep.reference(torch.full((3, 96, 96), 0.5))
    rep.norm.fit(torch.randn(30, 20))
    rep.save(tmp_path / "m.pt")
    back = MorphableRepresentation.load(tmp_path / "m.pt")
    torch.testing.assert_close(back.norm.std, rep.norm.std)
