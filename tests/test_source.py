"""Loading a user's photo (any format) and cropping it FLOAT-style around the largest face."""
from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
from PIL import Image

from sandbox.analysis.source import plan_crop, prepare_source
from sandbox.data.images import load_image
from sandbox.errors import InputFileError, NoFaceError
from sandbox.face.head_model import HeadModel


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    return HeadModel.load().texture


# -- load_image -----------------------------------------------------------------------------------
def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputFileError, match="image file not found: .*nope.png. Check the path"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(InputFileError, match="is a directory"):
        load_image(tmp_path)


def test_text_file_named_png(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("not an image at all\n")
    with pytest.raises(InputFileError, match="notes.png is not a readable image"):
        load_image(p)


def test_formats_load_to_rgb_uint8(tmp_path, portrait):
    small = portrait[::4, ::4]
    Image.fromarray(small).save(tmp_path / "a.jpg", quality=95)
    jpg = load_image(tmp_path / "a.jpg")
    assert jpg.dtype == np.uint8 and jpg.shape == small.shape and np.abs(jpg.astype(int) - small).mean() < 6
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    Image.fromarray(grey).save(tmp_path / "g.png")
    g = load_image(tmp_path / "g.png")
    assert g.shape == small.shape and (g[..., 0] == grey).all() and (g[..., 1] == g[..., 2]).all()
    rgba = np.dstack([small, np.full(small.shape[:2], 255, np.uint8)])
    rgba[:10, :, 3] = 0  # a transparent band over arbitrary colours
    rgba[10:20, :, 3] = 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    t = load_image(tmp_path / "t.png")
    assert t.shape == small.shape and (t[:10] == 255).all()  # composited on white
    assert (t[20:] == small[20:]).all()
    half = (small[10:20].astype(int) + 255) / 2
    assert np.abs(t[10:20] - half).max() <= 2
    cv2.imwrite(str(tmp_path / "deep.png"), grey.astype(np.uint16) * 257)  # 16-bit greyscale PNG
    d = load_image(tmp_path / "deep.png")
    assert d.dtype == np.uint8 and np.abs(d[..., 0].astype(int) - grey).max() <= 1


# -- prepare_source ---------------------------------------------------------------------------------
def test_flat_image_has_no_face(tmp_path):
    with pytest.raises(NoFaceError, match="no face found in wall.png"):
        prepare_source(np.full((200, 300, 3), 120, np.uint8), "wall.png")


def test_two_faces_use_the_largest_with_a_warning(portrait, caplog):
    two = np.full((512, 800, 3), 200, np.uint8)
    two[:, :512] = portrait
    two[150:406, 532:788] = cv2.resize(portrait, (256, 256), interpolation=cv2.INTER_AREA)
    with caplog.at_level(logging.WARNING):
        crop = plan_crop(two, "two.png")
        out = prepare_source(two, "two.png", size=256)
    assert "2 faces found in two.png: using the largest" in caplog.text
    assert crop.n_faces == 2 and crop.x0 + crop.side / 2 < 512 and crop.face_px > 250  # the big one
    assert out.shape == (256, 256, 3) and out.dtype == np.uint8


def test_face_cut_off_by_the_border_is_padded(portrait, caplog):
    cut = np.ascontiguousarray(portrait[:, 200:])  # the face's right side (image left) is gone
    with caplog.at_level(logging.WARNING):
        crop = plan_crop(cut, "cut.png")
        out = prepare_source(cut, "cut.png", size=128)
    assert crop.cut_off and crop.padded and crop.x0 < 0
    assert "cut off by the image border" in caplog.text and "cut.png" in caplog.text
    assert out.shape == (128, 128, 3) and (out[:, :5] == 0).all()  # black padding, as FLOAT pads


def test_centred_crop_of_a_framed_portrait(portrait, caplog):
    """A portrait inside a larger frame: the crop finds the same 1.6x framing as the world's texture."""
    big = np.full((900, 900, 3), 90, np.uint8)
    big[200:712, 250:762] = portrait
    with caplog.at_level(logging.INFO):
        out = prepare_source(big, "framed.png", size=512)
    assert "cut off" not in caplog.text and "small" not in caplog.text
    diff = np.abs(out.astype(int) - portrait).mean()
    assert diff < 12, diff  # same framing, up to the detector's jitter


def test_small_face_warns(portrait, caplog):
    canvas = np.full((400, 400, 3), 128, np.uint8)
    canvas[150:246, 150:246] = cv2.resize(portrait, (96, 96), interpolation=cv2.INTER_AREA)
    with caplog.at_level(logging.WARNING):
        out = prepare_source(canvas, "tiny.jpg")
    assert "tiny.jpg is small" in caplog.text
    assert out.shape[0] == out.shape[1] and out.shape[0] < 120  # native resolution kept when size=None


# -- faces at any scale and position (real photo composites) --------------------------------------
HEAD = (slice(20, 320), slice(100, 350))  # the astronaut's head and shoulders; her face is ~100 px tall


@pytest.fixture(scope="module")
def astronaut():
    """The astronaut's head-and-shoulders crop and its landmarks found at native resolution."""
    from skimage import data

    from sandbox.analysis.landmarks import find_faces

    img = np.ascontiguousarray(data.astronaut()[HEAD])
    return img, find_faces(img)[0].lmk2d


def _paste(canvas, img, scale, x, y):
    im = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas[y:y + im.shape[0], x:x + im.shape[1]] = im
    return canvas


def _error(face, lmk, scale, x, y) -> float:
    """Mean landmark distance to where the pasted astronaut's face lies, over that face's size."""
    want = lmk * scale + [x, y]
    return float(np.linalg.norm(face.lmk2d - want, axis=1).mean() / np.ptp(want, 0).max())


def test_group_photo_finds_every_face_largest_first(astronaut, caplog):
    from sandbox.analysis.landmarks import find_faces

    img, lmk = astronaut
    group = np.full((886, 1280, 3), 180, np.uint8)  # the group photo: six faces ~100 px across
    places = [(0.85 + 0.05 * k, 30 + (k % 3) * 420, 60 + (k // 3) * 420) for k in range(6)]
    for s, x, y in places:
        _paste(group, img, s, x, y)
    faces = find_faces(group)
    assert len(faces) == 6
    assert [f.area for f in faces] == sorted((f.area for f in faces), reverse=True)
    for face, (s, x, y) in zip(faces, places[::-1]):  # the largest was pasted last
        assert _error(face, lmk, s, x, y) < 0.05
    with caplog.at_level(logging.INFO):
        largest, smallest = plan_crop(group, "group.jpg"), plan_crop(group, "group.jpg", face=5)
    assert "6 faces found in group.jpg: using the largest" in caplog.text and "face 5" in caplog.text
    for crop, (s, x, y) in ((largest, places[-1]), (smallest, places[0])):
        cx, cy = lmk.mean(0) * s + [x, y]
        assert crop.x0 < cx < crop.x0 + crop.side and crop.y0 < cy < crop.y0 + crop.side
    assert largest.n_faces == 6 and smallest.face_px < largest.face_px
    from sandbox.errors import ConfigError

    with pytest.raises(ConfigError, match="group.jpg has 6 face"):
        plan_crop(group, "group.jpg", face=6)


@pytest.mark.parametrize("scale,where", [(0.85, "top right"), (0.6, "bottom left"), (0.45, "centre")])
def test_small_face_anywhere_in_a_large_canvas(astronaut, scale, where):
    """A portrait placed small and off-centre (the issue's ~90 px face) down to ~45 px: found, meshed in
    place, and cropped to the same framing as the portrait alone."""
    img, lmk = astronaut
    h, w = int(img.shape[0] * scale), int(img.shape[1] * scale)
    x, y = {"top right": (1400 - w - 20, 20), "bottom left": (20, 900 - h - 20),
            "centre": (700 - w // 2, 450 - h // 2)}[where]  # fmt: skip
    canvas = _paste(np.full((900, 1400, 3), 90, np.uint8), img, scale, x, y)
    crop = plan_crop(canvas, "small.png")
    assert crop.n_faces == 1
    from sandbox.analysis.landmarks import find_faces

    assert _error(find_faces(canvas)[0], lmk, scale, x, y) < 0.05
    alone = prepare_source(img, "alone.png", size=96)
    assert np.abs(prepare_source(canvas, "small.png", size=96).astype(int) - alone).mean() < 15


def test_source_face_key_is_checked():
    from omegaconf import OmegaConf

    from sandbox.errors import ConfigError
    from sandbox.pipeline.sample import check

    base = {"source": None, "audio": None, "emotion": None}
    with pytest.raises(ConfigError, match="add source=PATH"):
        check(OmegaConf.create({**base, "source_face": 1}))
    with pytest.raises(ConfigError, match="must be a face index"):
        check(OmegaConf.create({**base, "source_face": -1}))
