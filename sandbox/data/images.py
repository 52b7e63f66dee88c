"""Loading a user's still image (the source portrait) as RGB uint8, whatever its file format."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from sandbox.errors import InputFileError

log = logging.getLogger(__name__)

SUFFIXES = ".jpg, .jpeg, .png, .webp, .bmp, .tif, .tiff, .gif"


def load_image(path: str | Path, background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """Read any common image file -> uint8 RGB [H, W, 3].

    Greyscale is repeated to three channels; an alpha channel is composited over ``background``
    (white by default: a transparent cut-out portrait then sits on a plain backdrop instead of the
    arbitrary colour stored under alpha = 0); 16-bit and palette images are converted; EXIF
    orientation is applied (phone photos). Raises :class:`InputFileError` with a hint on a missing
    file, a directory or a file that is not a readable image.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise InputFileError(f"image file not found: {path}. Check the path (relative paths are from {Path.cwd()}).")
    if path.is_dir():
        raise InputFileError(f"{path} is a directory; pass an image file ({SUFFIXES}).")
    try:
        with Image.open(path) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            return _to_rgb(im, background)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InputFileError(
            f"{path} is not a readable image ({type(e).__name__}: {e}). Pass a photo as {SUFFIXES}; "
            "if it is one, re-save it with an image editor."
        ) from e


def _to_rgb(im, background: tuple[int, int, int]) -> np.ndarray:
    from PIL import Image

    if im.mode == "P":  # palette: may carry transparency
        im = im.convert("RGBA")
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16/32-bit greyscale: scale to 8 bits
        a = np.asarray(im, np.float64)
        top = 65535.0 if a.max() > 255 else 255.0
        return np.repeat(np.clip(a / top * 255 + 0.5, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    if im.mode in ("LA", "RGBA", "PA") or (im.mode == "RGB" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, tuple(background) + (255,))
        bg.alpha_composite(rgba)
        im = bg
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), np.uint8))
