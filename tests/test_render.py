"""Ground-truth portrait renderer: warp fidelity, openings (mouth, eyes), depth order, shapes, speed."""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from sandbox.face import topology
from sandbox.face.eyes_mouth import OpeningShape, fixed_point
from sandbox.face.portrait import PortraitRenderer, demo_expression, demo_portrait


@pytest.fixture(scope="module")
def portrait() -> tuple[np.ndarray, np.ndarray]:
    return demo_portrait(512)


@pytest.fixture(scope="module")
def r512(portrait) -> PortraitRenderer:
    tex, lm = portrait
    return PortraitRenderer(tex, lm[:, :2], 512)


def _poly_mask(size: int, poly: np.ndarray, grow: int = 0) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    cv2.fillPoly(m, [fixed_point(poly)], 1, cv2.LINE_8, 4)
    if grow > 0:
        m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    elif grow < 0:
        m = cv2.erode(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (-2 * grow + 1, -2 * grow + 1)))
    return m.astype(bool)


def _lum(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def _sclera_like(img: np.ndarray) -> np.ndarray:
    """Bright, grey-white pixels: this portrait's skin is much redder (R - B > 35)."""
    f = img.astype(np.float32)
    return (_lum(img) > 120) & (f[..., 0] - f[..., 2] < 30)


def test_identity_reproduces_texture_away_from_openings(portrait, r512):
    tex, lm = portrait
    out = r512.render(lm[:, :2], lm[:, 2])
    cont = topology.contours()
    keep = np.ones((512, 512), bool)
    for k, grow in (("lips_inner", 6), ("left_eye", 10), ("right_eye", 10)):
        keep &= ~_poly_mask(512, lm[cont[k], :2], grow)
    mse = ((out[keep].astype(np.float64) - tex[keep]) ** 2).mean()
    psnr = 10 * np.log10(255.0**2 / max(mse, 1e-12))
    assert psnr > 30, psnr
    # the openings are redrawn, not copied: the portrait's own teeth/eyes are not reproduced exactly
    eye = _poly_mask(512, lm[cont["right_eye"], :2], -1)
    assert np.abs(out[eye].astype(float) - tex[eye]).mean() > 3


@pytest.mark.parametrize("size", [64, 128, 300])
def test_shapes_and_full_coverage(portrait, size):
    tex, lm = portrait
    r = PortraitRenderer(tex, lm[:, :2], size)
    frames = [demo_expression(lm, scale=size / 512, **kw) for kw in (dict(), dict(yaw_deg=15, shift=(20, -10)))]
    out = r.render_batch(np.stack([f[0] for f in frames]), np.stack([f[1] for f in frames]))
    assert out.shape == (2, size, size, 3) and out.dtype == np.uint8
    # no holes: every pixel of the last frame lies in some triangle (id 0 = uncovered fallback)
    assert (r._ids > 0).all()
    assert out[0].std() > 20  # an image, not a flat fill


def test_open_mouth_is_darker_than_closed(portrait, r512):
    tex, lm = portrait
    cont = topology.contours()
    opened, z_open = demo_expression(lm, jaw_open=0.5)
    closed = lm.copy()
    mouth = OpeningShape.of("lips_inner", lm[:, :2])
    # lips meet: every lower inner-lip point onto the upper lip curve
    up = lm[mouth.upper, :2][np.argsort(lm[mouth.upper, 0])]
    closed[mouth.lower, 1] = np.interp(closed[mouth.lower, 0], up[:, 0], up[:, 1])
    region = _poly_mask(512, opened[cont["lips_inner"]], -2)
    assert region.sum() > 200
    lum_open = _lum(r512.render(opened, z_open))[region].mean()
    lum_closed = _lum(r512.render(closed[:, :2], closed[:, 2]))[region].mean()
    assert lum_open < lum_closed - 30, (lum_open, lum_closed)


@pytest.mark.parametrize("eye", [0, 1])
def test_closed_eye_shows_no_sclera(portrait, r512, eye):
    tex, lm = portrait
    name = ("left_eye", "right_eye")[eye]
    region = _poly_mask(512, lm[topology.contours()[name], :2], 1)
    open_frame = r512.render(lm[:, :2], lm[:, 2])
    assert _sclera_like(open_frame)[region].mean() > 0.2
    closed = r512.render(*demo_expression(lm, close_eye=eye))
    assert _sclera_like(closed)[region].mean() < 0.01


def _dark_centroid(img: np.ndarray, region: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(region & (_lum(img) < 90))
    assert len(xs) > 10
    return np.array([xs.mean(), ys.mean()])


def test_iris_follows_its_landmarks(portrait, r512):
    tex, lm = portrait
    cont = topology.contours()
    region = _poly_mask(512, lm[cont["left_eye"], :2], 0) | _poly_mask(512, lm[cont["right_eye"], :2], 0)
    base = _dark_centroid(r512.render(lm[:, :2], lm[:, 2]), region)
    eye_w = np.ptp(lm[cont["left_eye"], 0])
    for g in (-0.15, 0.15):
        moved = _dark_centroid(r512.render(*demo_expression(lm, gaze=(g, 0.0))), region)
        assert np.sign(moved[0] - base[0]) == np.sign(g)
        assert abs(moved[0] - base[0]) > 0.4 * abs(g) * eye_w


def test_depth_order_nearer_surface_wins(portrait, r512):
    """Fold the lower face up over the upper face: whichever half is nearer must be the one visible."""
    tex, lm = portrait
    cont = topology.contours()
    lower = np.zeros(len(lm), bool)
    lower[: topology.N_FACE] = lm[: topology.N_FACE, 1] > lm[2, 1]  # below the nose bottom
    lift = lm[cont["lips_inner"], 1].mean() - lm[cont["right_eye"], 1].mean()
    moved, _ = demo_expression(lm, jaw_open=0.5)
    moved[lower, 1] -= lift  # the open mouth now lies over the eye line
    region = _poly_mask(512, moved[cont["lips_inner"]], -3)
    z = lm[:, 2].copy()
    near, far = z.copy(), z.copy()
    near[lower] -= 1000.0
    far[lower] += 1000.0
    lum_near = _lum(r512.render(moved, near))[region].mean()
    lum_far = _lum(r512.render(moved, far))[region].mean()
    assert lum_near < lum_far - 30, (lum_near, lum_far)


def test_speed_single_thread(portrait, capsys):
    """Speed is reported, not asserted (the test machine is shared)."""
    tex, lm = portrait
    cv2.setNumThreads(1)
    for size, n in ((128, 20), (512, 5)):
        r = PortraitRenderer(tex, lm[:, :2], size)
        frames = [demo_expression(lm, scale=size / 512, yaw_deg=10 * np.sin(t), jaw_open=0.2) for t in range(n)]
        r.render(*frames[0])
        t0 = time.perf_counter()
        for f in frames:
            r.render(*f)
        with capsys.disabled():
            print(f"\nPortraitRenderer {size}x{size}: {(time.perf_counter() - t0) / n * 1e3:.1f} ms/frame")


@pytest.mark.slow
def test_upsampled_output(portrait):
    tex, lm = portrait
    out = PortraitRenderer(tex, lm[:, :2], 1024).render(*demo_expression(lm, scale=2.0, jaw_open=0.3))
    assert out.shape == (1024, 1024, 3)


def test_closed_mouth_photo_keeps_its_upper_lip(portrait):
    """A photo's closed lips coincide, so which side is upper cannot be read off its pixels: the split comes
    from the topology, and the opened mouth draws the same teeth whichever lip the landmark noise put higher."""
    tex, lm = portrait
    up = OpeningShape.of("lips_inner", lm[:, :2])
    curve = lm[up.upper, :2][np.argsort(lm[up.upper, 0])]
    opened = demo_expression(lm, jaw_open=0.6)
    frames, splits = [], []
    for nudge in (0.3, -0.3):  # lower lip a hair below, then a hair above, the upper one
        closed = lm[:, :2].copy()
        closed[up.lower[1:-1], 1] = np.interp(closed[up.lower[1:-1], 0], *curve.T) + nudge
        by_height = OpeningShape.from_texture(topology.contours()["lips_inner"], closed)
        splits.append(topology.UPPER_SIDE["lips_inner"] in by_height.upper)
        shape = OpeningShape.of("lips_inner", closed)
        assert set(shape.upper) == set(up.upper) and set(shape.lower) == set(up.lower)
        frames.append(PortraitRenderer(tex, closed, 512).render(*opened).astype(np.float32))
    assert splits == [True, False]  # the height rule flips with the nudge; the topology does not
    region = _poly_mask(512, opened[0][topology.contours()["lips_inner"]], -2)
    assert region.sum() > 200
    assert np.abs(frames[0] - frames[1])[region].mean() < 5
