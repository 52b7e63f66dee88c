"""mesh_warp: the training-free 3dmm renderer reproduces its photo at the photo's own motion and
draws other motions where the analyser finds them."""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
import torch

from renderers.mesh_warp import MeshWarpRenderer
from representations.morphable import MorphableRepresentation
from sandbox.face import topology
from sandbox.face.head_model import EXP_NAMES
from sandbox.geometry.rotation import rotvec_to_euler

JAW = 6 + EXP_NAMES.index("jaw_open")


@pytest.fixture(scope="module")
def rep() -> MorphableRepresentation:
    return MorphableRepresentation(video=False)


@pytest.fixture(scope="module")
def ref(rep):
    return rep.reference(torch.from_numpy(rep.head.texture).permute(2, 0, 1).float() / 255)


def _openings(lmk2d: np.ndarray, size: int, grow: int = 2) -> np.ndarray:
    """The eye and inner-lip polygons (repainted by the renderer), grown by ``grow`` px."""
    c = topology.contours()
    m = np.zeros((size, size), np.uint8)
    cv2.fillPoly(m, [np.round((lmk2d[c[k]] - 0.5) * 16).astype(np.int32) for k in ("lips_inner", "left_eye", "right_eye")],
                 1, cv2.LINE_8, 4)  # fmt: skip
    return cv2.dilate(m, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)).astype(bool)


def test_own_motion_reproduces_the_photo(rep, ref):
    warp = MeshWarpRenderer(rep)
    lmk2d, _ = warp.landmarks(ref, ref.motion[None])
    np.testing.assert_allclose(lmk2d[0], ref.lmk2d, atol=1e-3)  # the fit residual is carried exactly
    out = warp.render(ref, ref.motion[None].repeat(2, 1))
    assert out.shape == (2, 3, 512, 512)
    img = (out[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    err = (img.astype(np.float64) - rep.head.texture) ** 2
    holes = _openings(ref.lmk2d, 512)
    assert holes.mean() < 0.03  # only the eyes and the mouth opening are excluded
    psnr = 10 * np.log10(255**2 / err[~holes].mean())
    assert psnr > 35, psnr


def test_drawn_motion_is_found_by_the_analyser(rep, ref):
    """Absolute motion: a frame drawn at (yaw + 15 deg, jaw open) analyses back to that motion."""
    from sandbox.analysis.face import FaceAnalyser

    warp = MeshWarpRenderer(rep, size=256)
    target = rep.edit(ref.motion[None], pose_offset=(np.radians(15), 0, 0))
    target[0, JAW] = 0.8
    frames = warp.render(ref, torch.cat([ref.motion[None], target]))
    assert frames.shape == (2, 3, 256, 256)
    a = FaceAnalyser(rep.head, video=False).analyse((frames.permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8))
    yaw = np.degrees(rotvec_to_euler(a.pose[:, :3])[:, 0])
    want = np.degrees(rotvec_to_euler(np.stack([ref.pose[:3], target[0, :3].double().numpy()]))[:, 0])
    assert np.abs(yaw - want).max() < 3.0, (yaw, want)
    assert a.exp[1, JAW - 6] > a.exp[0, JAW - 6] + 0.3 and a.mouth_aperture[1] > 1.5 * a.mouth_aperture[0]


def test_gaze_edit_moves_only_the_irises(rep, ref):
    warp = MeshWarpRenderer(rep)
    look = rep.edit(ref.motion[None], gaze_offset=(0.0, -0.3))
    a, _ = warp.landmarks(ref, ref.motion[None])
    b, _ = warp.landmarks(ref, look)
    moved = np.linalg.norm(b[0] - a[0], axis=1) > 1e-6
    assert set(np.flatnonzero(moved)) == set(np.r_[topology.LEFT_IRIS, topology.RIGHT_IRIS])
    assert (b[0, topology.LEFT_IRIS, 0] < a[0, topology.LEFT_IRIS, 0]).all()  # toward the image left


def test_non_square_source_is_refused(rep, ref):
    from dataclasses import replace

    wide = replace(ref, image=np.zeros((512, 600, 3), np.uint8), cache={})
    with pytest.raises(ValueError, match="prepare_source"):
        MeshWarpRenderer(rep).render(wide, ref.motion[None])
    with pytest.raises(ValueError, match=r"\[T, 20\]"):
        MeshWarpRenderer(rep).render(ref, torch.zeros(2, 6))


@pytest.mark.slow
def test_speed_at_512(rep, ref):
    """Timing only (shared CPU: noisy); prints frames/s, asserts a loose floor."""
    warp = MeshWarpRenderer(rep)
    motion = rep.edit(ref.motion[None].repeat(25, 1), pose_offset=np.c_[np.linspace(-0.3, 0.3, 25), np.zeros((25, 2))])
    warp.render(ref, motion[:1])
    t0 = time.perf_counter()
    warp.render(ref, motion)
    fps = 25 / (time.perf_counter() - t0)
    print(f"\nmesh_warp 512x512: {fps:.1f} frames/s")
    assert fps > 5


def test_mouth_interior_takes_the_photos_light():
    """The interior's light is read off the sclera: 1 for the astronaut the colours were drawn for, the
    photo's gain (brightness and colour cast) for a dimmer, warmer copy, and the teeth are drawn with it."""
    from sandbox.face.eyes_mouth import interior_light
    from sandbox.face.head_model import HeadModel
    from sandbox.face.portrait import PortraitRenderer, demo_expression

    head = HeadModel.load()
    tex, lmk = head.texture, np.asarray(head.texture_lmk2d, np.float64)
    eyes = tuple(topology.contours()[k] for k in ("left_eye", "right_eye"))
    irises = (topology.LEFT_IRIS, topology.RIGHT_IRIS)
    np.testing.assert_allclose(interior_light(tex, lmk, eyes, irises), 1.0, atol=0.03)
    gain = np.array([0.6, 0.5, 0.4])
    dim = np.clip(tex * gain, 0, 255).astype(np.uint8)
    np.testing.assert_allclose(interior_light(dim, lmk, eyes, irises), gain, atol=0.03)
    # eyes that show no white (tinted glasses, lids): a cast no light on a white surface has -> no estimate
    amber = np.clip(tex * np.array([0.75, 0.35, 0.3]), 0, 255).astype(np.uint8)
    assert interior_light(amber, lmk, eyes, irises) is None
    # the open mouth, drawn by the renderer in each light: the interior is darker by about the gain
    lmk3d = np.c_[lmk, np.zeros(len(lmk))]
    pose = demo_expression(lmk3d, scale=0.5, jaw_open=0.5)
    mouth = cv2.fillPoly(np.zeros((256, 256), np.uint8), [np.round(pose[0][topology.contours()["lips_inner"]])
                                                           .astype(np.int32)], 1).astype(bool)  # fmt: skip
    inner = cv2.erode(mouth.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert inner.sum() > 100
    plain = PortraitRenderer(dim, lmk, 256).render(*pose)[inner].mean(0)
    lit = PortraitRenderer(dim, lmk, 256, match_light=True).render(*pose)[inner].mean(0)
    np.testing.assert_allclose(lit / plain, gain, rtol=0.15)
