"""Procedural eyes and mouth interior, drawn where the face mesh opens.

The warp of the portrait leaves holes at the eye and inner-lip contours; these functions paint them.
Everything is computed on the polygon's bounding box only (a few hundred pixels at 128 px), in a local
frame whose u axis runs corner to corner and whose v axis points down the face, so head roll is handled.
Geometry (teeth height, iris size, shading) scales with the polygon, so any resolution works.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_SHIFT = 4  # cv2 fixed-point bits: 1/16 px polygon vertices
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class OpeningShape:
    """Texture-independent split of a closed contour into its two lips/lids.

    ``corner_a``/``corner_b`` are positions in the contour (not landmark ids); ``upper`` and ``lower`` run
    from corner_a to corner_b along each side.
    """

    contour: np.ndarray  # [K] landmark ids, closed cycle
    upper: np.ndarray  # [Ku] landmark ids, corner_a .. corner_b
    lower: np.ndarray  # [Kl] landmark ids, corner_a .. corner_b

    @staticmethod
    def of(name: str, lmk2d: np.ndarray) -> "OpeningShape":
        """The named contour of topology.contours() ('lips_inner', 'left_eye', ...), split at its upper
        side's known landmark."""
        from sandbox.face import topology

        return OpeningShape.from_texture(topology.contours()[name], lmk2d, topology.UPPER_SIDE[name])

    @staticmethod
    def from_texture(contour: np.ndarray, lmk2d: np.ndarray, upper_id: int | None = None) -> "OpeningShape":
        """Corners: the contour's two farthest points. ``upper_id``: a landmark of the upper side
        (topology.UPPER_SIDE); without it the side higher in the image is upper, which a closed mouth or
        eye leaves to pixel noise."""
        pts = lmk2d[contour]
        d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
        a, b = np.unravel_index(np.argmax(d), d.shape)
        if pts[a, 0] > pts[b, 0]:  # corner_a on the image left
            a, b = b, a
        k = len(contour)
        side1 = [contour[(a + i) % k] for i in range((b - a) % k + 1)]
        side2 = [contour[(a - i) % k] for i in range((a - b) % k + 1)]
        if upper_id is not None:
            if upper_id not in side1 + side2 or upper_id in (contour[a], contour[b]):
                raise ValueError(f"upper_id {upper_id} is not on one side of the contour")
            swap = upper_id not in side1
        else:  # the side with the smaller mean y (image up) is the upper lid/lip
            swap = lmk2d[side1, 1].mean() > lmk2d[side2, 1].mean()
        if swap:
            side1, side2 = side2, side1
        return OpeningShape(np.asarray(contour), np.asarray(side1), np.asarray(side2))


def fixed_point(pts: np.ndarray) -> np.ndarray:
    """Continuous pixel coords (pixel centre at i+0.5) -> cv2 fixed-point int32 (pixel centre at i)."""
    return np.round((pts - 0.5) * _ONE).astype(np.int32)


def _smoothstep(e0: float | np.ndarray, e1: float | np.ndarray, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass
class _Box:
    """A clipped bounding box of a polygon with the local (u, v) frame of its pixels."""

    x0: int
    y0: int
    x1: int
    y1: int
    u: np.ndarray  # [h, w] coordinate along corner_a -> corner_b, 0 at the midpoint, in px
    v: np.ndarray  # [h, w] coordinate perpendicular, positive down the face, in px
    width: float  # corner-to-corner length in px
    origin: np.ndarray
    axis_u: np.ndarray
    axis_v: np.ndarray

    def local(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = pts - self.origin
        return q @ self.axis_u, q @ self.axis_v


def _box(poly: np.ndarray, ca: np.ndarray, cb: np.ndarray, size: int, pad: float) -> _Box | None:
    x0, y0 = np.floor(poly.min(0) - pad).astype(int)
    x1, y1 = np.ceil(poly.max(0) + pad).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, size), min(y1, size)
    if x1 <= x0 or y1 <= y0:
        return None
    axis_u = cb - ca
    width = float(np.linalg.norm(axis_u))
    axis_u = axis_u / max(width, 1e-6)
    axis_v = np.array([-axis_u[1], axis_u[0]])  # u right -> v down in image coords
    origin = 0.5 * (ca + cb)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    xs += 0.5 - origin[0]
    ys += 0.5 - origin[1]
    u = xs * axis_u[0] + ys * axis_u[1]
    v = xs * axis_v[0] + ys * axis_v[1]
    return _Box(x0, y0, x1, y1, u, v, width, origin, axis_u, axis_v)


def _curve(box: _Box, pts: np.ndarray) -> np.ndarray:
    """v of a lid/lip polyline at every pixel's u (piecewise-linear, clamped at the corners)."""
    cu, cv = box.local(pts)
    order = np.argsort(cu)
    return np.interp(box.u, cu[order], cv[order]).astype(np.float32)


def _poly_alpha(box: _Box, poly: np.ndarray) -> np.ndarray:
    """Antialiased coverage of the polygon in the box, float32 [h, w] in [0, 1]."""
    m = np.zeros((box.y1 - box.y0, box.x1 - box.x0), np.uint8)
    cv2.fillPoly(m, [fixed_point(poly - [box.x0, box.y0])], 255, cv2.LINE_AA, _SHIFT)
    return m.astype(np.float32) * (1.0 / 255.0)


def _visible(box: _Box, ids: np.ndarray | None, opening_id: int) -> np.ndarray | float:
    """Where the opening won the depth test, grown by ``grow`` px so antialiased rims survive."""
    if ids is None:
        return 1.0
    win = (ids[box.y0 : box.y1, box.x0 : box.x1] == opening_id).astype(np.uint8)
    grow = 1 + int(round(0.04 * box.width))
    return cv2.dilate(win, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)).astype(np.float32)


def _composite(frame: np.ndarray, box: _Box, color: np.ndarray, alpha: np.ndarray) -> None:
    region = frame[box.y0 : box.y1, box.x0 : box.x1]
    a = alpha[..., None]
    region[:] = np.clip(region * (1.0 - a) + color * a + 0.5, 0, 255).astype(np.uint8)


def draw_mouth(
    frame: np.ndarray, lmk2d: np.ndarray, shape: OpeningShape, ids: np.ndarray | None = None, opening_id: int = 0,
    light: np.ndarray | None = None,
) -> None:
    """Paint the mouth cavity, teeth and tongue inside the inner-lip polygon (in place).

    ``ids``/``opening_id``: optional triangle-id map; the mouth shows only where (near where) the id map
    holds ``opening_id``, i.e. where the opening won the depth test. ``light``: per-channel gain [3] of the
    photo's light on the interior (:func:`interior_light`; None = the astronaut's, which the colours match).
    """
    poly = lmk2d[shape.contour]
    upper, lower = lmk2d[shape.upper], lmk2d[shape.lower]
    box = _box(poly, upper[0], upper[-1], frame.shape[0], pad=1.5)
    if box is None or box.width < 1e-3:
        return
    alpha = _poly_alpha(box, poly) * _visible(box, ids, opening_id)
    if not alpha.any():
        return
    w = box.width
    un = np.clip(box.u / (0.5 * w), -1.0, 1.0)  # -1 .. 1 corner to corner
    vu, vl = _curve(box, upper), _curve(box, lower)
    gap = np.maximum(vl - vu, 1e-3)
    depth_u = box.v - vu  # px below the upper lip
    height_l = vl - box.v  # px above the lower lip
    px = 1.0  # antialiasing width of the procedural edges

    # cavity: dark red, darkest in the middle of the opening (the throat)
    mid = 1.0 - np.abs(2.0 * np.clip(depth_u / gap, 0, 1) - 1.0)
    cav = (1.0 - 0.6 * mid * (1.0 - un**2))[..., None] * np.array([78, 34, 36], np.float32)

    # tongue: a flattened ellipse resting on the lower lip
    tv = (box.v - (vl - 0.03 * w)) / (0.1 * w)
    tongue_m = 0.8 * _smoothstep(1.05, 0.8, np.sqrt((un / 0.7) ** 2 + tv**2))
    tongue = np.array([128, 62, 64], np.float32) * (0.6 + 0.4 * np.clip(tv, 0, 1))[..., None]
    col = cav * (1.0 - tongue_m[..., None]) + tongue * tongue_m[..., None]

    # teeth: lighter in the middle, fading into shadow towards the corners; incisors a bit longer
    shade = (1.0 - 0.6 * un**2)[..., None]
    gaps = np.zeros_like(un)
    for g in (0.0, 0.26, 0.47):  # tooth boundaries (central incisors, laterals, canines)
        gaps = np.maximum(gaps, np.exp(-(((np.abs(un) - g) * w) / max(0.5, 0.01 * w)) ** 2))
    tooth = np.array([228, 222, 206], np.float32) * shade * (1.0 - 0.15 * gaps)[..., None]
    t_up = 0.13 * w * (1.0 - 0.35 * un**2)
    up_m = _smoothstep(t_up + px, t_up - px, depth_u) * _smoothstep(0.95, 0.75, np.abs(un))
    t_lo = 0.08 * w * (1.0 - 0.4 * un**2)
    lo_m = _smoothstep(t_lo + px, t_lo - px, height_l) * _smoothstep(0.8, 0.6, np.abs(un))
    lo_m *= _smoothstep(0.02 * w, 0.1 * w, gap)  # lower teeth only show once the jaw opens a little
    col = col * (1.0 - lo_m[..., None]) + 0.85 * tooth * lo_m[..., None]
    col = col * (1.0 - up_m[..., None]) + tooth * up_m[..., None]
    # the lips shade what's right under them
    col *= (1.0 - 0.35 * np.exp(-depth_u / max(0.7, 0.03 * w)))[..., None]
    if light is not None:
        col = col * np.asarray(light, np.float32)
    _composite(frame, box, col, alpha)


# the astronaut's sclera (median of the brighter half outside the irises, texture of sandbox.face.head_model):
# the light the interior's colours were drawn for
REFERENCE_SCLERA = np.array([201.0, 180.0, 169.0], np.float32)
LIGHT_RANGE = (0.3, 1.25)
# the strongest colour cast (brightest over darkest channel gain) read as light on a white surface: beyond it
# the eye shows lids or tinted glasses, not sclera (Grace Hopper's portrait: 2.7-3.0; a warm lamp about 1.5)
MAX_CAST = 1.8


def interior_light(texture: np.ndarray, lmk2d: np.ndarray, contours: tuple, irises: tuple) -> np.ndarray | None:
    """The photo's light on a white surface, per channel, relative to the astronaut's: the median of the
    brighter half of its sclera (eye contours minus the iris disks) over REFERENCE_SCLERA, clipped to
    LIGHT_RANGE. Teeth and cavity drawn with it take the photo's brightness and colour cast; sclera, unlike
    skin, does not vary with the person. None when the eyes show fewer than 20 sclera pixels (closed eyes) or
    what they show is more coloured than MAX_CAST allows (lids, tinted glasses): the caller keeps the default."""
    px = []
    for contour, iris in zip(contours, irises):
        m = np.zeros(texture.shape[:2], np.uint8)
        cv2.fillPoly(m, [np.round(lmk2d[contour]).astype(np.int32)], 1)
        yy, xx = np.nonzero(m)
        c, r = lmk2d[iris[0]], iris_radius(lmk2d, iris)
        keep = np.hypot(xx - c[0], yy - c[1]) > 1.15 * r
        px.append(texture[yy[keep], xx[keep]].astype(np.float32))
    px = np.concatenate(px)
    if len(px) < 20:
        return None
    lum = px.mean(1)
    gain = np.median(px[lum >= np.median(lum)], axis=0) / REFERENCE_SCLERA
    if gain.max() > MAX_CAST * gain.min():
        return None
    return np.clip(gain, *LIGHT_RANGE).astype(np.float32)


def iris_radius(lmk2d: np.ndarray, iris: np.ndarray) -> float:
    """Mean distance from the iris centre landmark to its 4 rim landmarks."""
    return float(np.linalg.norm(lmk2d[iris[1:]] - lmk2d[iris[0]], axis=-1).mean())


def draw_eye(
    frame: np.ndarray,
    lmk2d: np.ndarray,
    shape: OpeningShape,
    iris: np.ndarray,
    iris_color: np.ndarray,
    ids: np.ndarray | None = None,
    opening_id: int = 0,
) -> None:
    """Paint sclera, iris, pupil, catch light and lash line of one eye (in place).

    A closing lid is a thinning polygon: per column the eye fades out as the lid gap shrinks towards
    zero, so a closed eye shows only the warped lid skin and the lash line where the lids meet.
    """
    poly = lmk2d[shape.contour]
    upper, lower = lmk2d[shape.upper], lmk2d[shape.lower]
    w = float(np.linalg.norm(upper[-1] - upper[0]))
    box = _box(poly, upper[0], upper[-1], frame.shape[0], pad=1.5 + 0.1 * w)
    if box is None or w < 1e-3:
        return
    vis = _visible(box, ids, opening_id)
    vu, vl = _curve(box, upper), _curve(box, lower)
    gap = vl - vu
    alpha = _poly_alpha(box, poly) * _smoothstep(0.04 * w, 0.12 * w, gap) * vis
    un = np.clip(box.u / (0.5 * w), -1.0, 1.0)
    e = box.v - vu  # px below the upper lid

    # sclera: off-white, shadowed by the upper lid and towards the corners
    lid = np.exp(-np.maximum(e, 0) / max(0.6, 0.15 * w))
    sclera_shade = (1.0 - 0.35 * un**2 - 0.3 * lid)[..., None]
    col = np.array([214, 200, 192], np.float32) * sclera_shade

    # iris disk with a darker limbal ring, pupil, catch light
    c = lmk2d[iris[0]]
    r = max(iris_radius(lmk2d, iris), 0.5)
    cu, cv = box.local(c[None])
    dx, dy = box.u - cu[0], box.v - cv[0]
    d = np.sqrt(dx * dx + dy * dy)
    iris_m = np.clip(r - d + 0.5, 0.0, 1.0)[..., None]
    ring = 1.0 - 0.45 * _smoothstep(0.6 * r, r, d)
    iris_col = iris_color.astype(np.float32) * ring[..., None] * (1.0 - 0.4 * lid)[..., None]
    pupil_m = np.clip(0.42 * r - d + 0.5, 0.0, 1.0)[..., None]
    iris_col = iris_col * (1.0 - pupil_m) + np.array([14, 10, 10], np.float32) * pupil_m
    hl_d = np.sqrt((dx + 0.3 * r) ** 2 + (dy + 0.3 * r) ** 2)
    hl_m = 0.8 * np.clip(0.16 * r - hl_d + 0.5, 0.0, 1.0)[..., None]
    iris_col = iris_col * (1.0 - hl_m) + 250.0 * hl_m
    col = col * (1.0 - iris_m) + iris_col * iris_m

    # lash line along the upper lid (it stays where the lids meet when the eye closes)
    t = max(0.6, 0.045 * w)
    band = _smoothstep(-t - 0.5, -t + 0.5, e) * _smoothstep(0.3 * t + 0.5, 0.3 * t - 0.5, e)
    lash = 0.85 * band * _smoothstep(0.5 * w + 0.5, 0.35 * w, np.abs(box.u)) * vis
    lash_col = np.array([38, 28, 26], np.float32)
    col = col * alpha[..., None] * (1 - lash[..., None]) + lash_col * lash[..., None]
    total = alpha + lash * (1.0 - alpha)
    if not total.any():
        return
    _composite(frame, box, col / np.maximum(total, 1e-6)[..., None], total)


def sample_iris_color(texture: np.ndarray, lmk2d: np.ndarray, iris: np.ndarray) -> np.ndarray:
    """The portrait's own iris colour: median of the darker half of the pixels in the iris disk.

    The darker half drops catch lights and sclera bleeding in at the rim. Falls back to a brown.
    """
    c = lmk2d[iris[0]]
    r = iris_radius(lmk2d, iris)
    m = np.zeros(texture.shape[:2], np.uint8)
    cv2.circle(m, tuple(fixed_point(c[None])[0]), int(round(0.8 * r * _ONE)), 1, -1, cv2.LINE_8, _SHIFT)
    px = texture[m > 0].astype(np.float32)
    if len(px) < 4:
        return np.array([95, 65, 45], np.float32)
    lum = px.mean(1)
    dark = px[lum <= np.median(lum)]
    col = np.median(dark, axis=0)
    # keep it an iris: not near-black (the pupil would vanish), not sclera-bright; photos of dark irises
    # are dominated by noise in hue, so pull the saturation down a little
    mean = float(np.clip(col.mean(), 55.0, 140.0))
    col = mean + 0.7 * (col - col.mean())
    return np.clip(col, 10, 200).astype(np.float32)
