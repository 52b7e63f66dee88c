"""Portrait warp: the posed, expressed face mesh warps a portrait. The synthetic world renders its clips
with it, and the training-free mesh_warp renderer animates a real photo with it.

Piecewise-affine warp over one triangulation built once on the texture: MediaPipe's 854 face triangles,
plus background triangles (Delaunay over the face oval, a halo ring around it and image-border anchors,
outside the oval). Border anchors stay fixed at the frame border, so the background stays still; the halo
follows the head's 2D similarity motion part-way (hair and ears move with the head, the neck less), and
the bands between oval, halo and border stretch. The eye and inner-lip openings are holes in the
mesh; they are painted procedurally (render_eyes_mouth) instead of warping the portrait's own eyes/teeth.

Per frame: rasterise a triangle-id map in painter's order (background, then face triangles far to near,
openings as polygons just in front of their rim), turn ids into per-pixel source coordinates through a
table of per-triangle affine maps (one numpy gather), and sample the texture with one bilinear cv2.remap.

Coordinates: pixels, x right, y down, continuous convention (pixel i spans [i, i+1]; MediaPipe's normalised
coordinates times the image size). Scaling landmarks between resolutions is a plain multiplication.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from scipy.spatial import Delaunay

from sandbox.face import topology
from sandbox.face.eyes_mouth import (
    OpeningShape,
    draw_eye,
    draw_mouth,
    fixed_point,
    interior_light,
    sample_iris_color,
)

_SHIFT = 4
_BORDER_PER_SIDE = 8  # anchor segments per image side
_BORDER_PAD = 0.02  # anchors sit slightly outside the frame so the raster covers every pixel
_HALO_SCALE = 1.3  # halo ring = face oval scaled about its centroid
_HALO_FOLLOW = 0.7  # how far the halo follows the head (upper half; the neck side follows less)


@dataclass(frozen=True)
class _Mesh:
    """Static triangulation in normalised texture coordinates ([0, 1] over the texture)."""

    anchors: np.ndarray  # [B, 2] border anchors, normalised (also their destination, scaled by size)
    halo: np.ndarray  # [H, 2] halo points, normalised texture positions
    halo_follow: np.ndarray  # [H] fraction of the head's similarity motion each halo point follows
    rigid: np.ndarray  # landmark ids of the upper face (no jaw) that define the head's 2D motion
    triangles: np.ndarray  # [T, 3] indices into concat(landmarks[:468], anchors, halo); background first
    n_background: int
    mouth: OpeningShape
    eyes: tuple[OpeningShape, OpeningShape]
    irises: tuple[np.ndarray, np.ndarray]  # iris landmark ids (centre, rim) matched to ``eyes``
    rims: tuple[np.ndarray, ...]  # per opening (mouth, eye, eye): ids of face triangles touching it


def _border_anchors() -> np.ndarray:
    t = np.linspace(-_BORDER_PAD, 1 + _BORDER_PAD, _BORDER_PER_SIDE + 1)
    lo, hi = np.full_like(t, -_BORDER_PAD), np.full_like(t, 1 + _BORDER_PAD)
    pts = np.concatenate([np.stack([t, lo], 1), np.stack([t, hi], 1), np.stack([lo, t], 1), np.stack([hi, t], 1)])
    return np.unique(np.round(pts, 9), axis=0)


def _halo(lmk_n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every other face-oval point pushed out from the centroid; points near the frame border dropped."""
    oval = lmk_n[topology.contours()["face_oval"][::2]]
    c = oval.mean(0)
    halo = c + _HALO_SCALE * (oval - c)
    keep = ((halo > 0.03) & (halo < 0.97)).all(1)
    halo = halo[keep]
    # below the mouth the halo is neck and collar, which follow the head less than hair does
    y_mouth, y_chin = lmk_n[[13, 152], 1]
    t = np.clip((halo[:, 1] - y_mouth) / max(y_chin - y_mouth, 1e-6), 0, 1)
    return halo, _HALO_FOLLOW * (1.0 - 0.7 * t)


def _background_triangles(lmk_n: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Delaunay over the face oval + halo + border anchors (``anchors`` holds both), minus what lies
    inside the oval.

    A triangle straddling the oval (an oval edge that Delaunay did not keep) is kept: the face triangles
    are drawn over it, and dropping it would leave a hole.
    """
    oval = topology.contours()["face_oval"]
    pts = np.concatenate([lmk_n[oval], anchors])
    ids = np.concatenate([oval, topology.N_FACE + np.arange(len(anchors))])
    tri = Delaunay(pts).simplices
    poly = (lmk_n[oval] * 4096).astype(np.float32).reshape(-1, 1, 2)
    keep = []
    for t in tri:
        on_oval = t < len(oval)
        if not on_oval.all():
            keep.append(True)
            continue
        c = pts[t].mean(0) * 4096
        keep.append(cv2.pointPolygonTest(poly, (float(c[0]), float(c[1])), False) < 0)
    return ids[tri[np.array(keep)]]


def _build_mesh(lmk_n: np.ndarray) -> _Mesh:
    anchors = _border_anchors()
    halo, follow = _halo(lmk_n)
    bg = _background_triangles(lmk_n, np.concatenate([anchors, halo]))
    rigid = np.flatnonzero(lmk_n[: topology.N_FACE, 1] < lmk_n[1, 1])  # above the nose tip
    face = topology.triangles()
    mouth = OpeningShape.of("lips_inner", lmk_n)
    eyes = tuple(OpeningShape.of(k, lmk_n) for k in ("left_eye", "right_eye"))
    # match iris landmark sets to eye contours by position (robust to left/right naming conventions)
    iris_sets = (topology.LEFT_IRIS, topology.RIGHT_IRIS)
    d0 = np.linalg.norm(lmk_n[iris_sets[0][0]] - lmk_n[eyes[0].contour].mean(0))
    d1 = np.linalg.norm(lmk_n[iris_sets[1][0]] - lmk_n[eyes[0].contour].mean(0))
    irises = iris_sets if d0 <= d1 else iris_sets[::-1]
    rims = tuple(np.flatnonzero(np.isin(face, s.contour).any(1)) for s in (mouth, *eyes))
    return _Mesh(anchors, halo, follow, rigid, np.concatenate([bg, face]), len(bg), mouth, eyes, irises, rims)


@lru_cache(maxsize=8)
def _pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    return xs, ys


def _affine_to_source(dst: np.ndarray, src: np.ndarray) -> np.ndarray:
    """Per-triangle affine [T, 2, 3] mapping destination points to source points (continuous coords).

    Closed form from the edge vectors (batched numpy.linalg.solve is far slower for 3x3). Degenerate
    destination triangles (zero area: they rasterise to a line at most) map to their first vertex.
    """
    e_d = np.stack([dst[:, 1] - dst[:, 0], dst[:, 2] - dst[:, 0]], axis=2)  # [T, 2, 2], columns = edges
    e_s = np.stack([src[:, 1] - src[:, 0], src[:, 2] - src[:, 0]], axis=2)
    det = e_d[:, 0, 0] * e_d[:, 1, 1] - e_d[:, 0, 1] * e_d[:, 1, 0]
    bad = np.abs(det) < 1e-9
    inv_det = 1.0 / np.where(bad, 1.0, det)
    inv = np.empty_like(e_d)
    inv[:, 0, 0], inv[:, 1, 1] = e_d[:, 1, 1] * inv_det, e_d[:, 0, 0] * inv_det
    inv[:, 0, 1], inv[:, 1, 0] = -e_d[:, 0, 1] * inv_det, -e_d[:, 1, 0] * inv_det
    lin = e_s @ inv
    lin[bad] = 0.0
    trans = src[:, 0] - np.einsum("tij,tj->ti", lin, dst[:, 0])
    return np.concatenate([lin, trans[:, :, None]], axis=2)


def _affine_lstsq(dst: np.ndarray, src: np.ndarray) -> np.ndarray:
    """Least-squares affine [2, 3] mapping dst polygon points to src (for the openings' own pixels)."""
    d = np.concatenate([dst, np.ones((len(dst), 1))], axis=1)
    return np.linalg.lstsq(d, src, rcond=None)[0].T


def _clear_openings(texture: np.ndarray, lmk2d: np.ndarray, mesh: _Mesh) -> np.ndarray:
    """Inpaint the portrait's own eyes and teeth plus a thin margin around them.

    Landmark contours sit a little inside the visible eye/mouth, so lid and lip triangles carry a rim of
    sclera, lashes or teeth that would smear over the skin when a lid closes or the jaw drops; the lash
    line is redrawn procedurally instead.
    """
    mask = np.zeros(texture.shape[:2], np.uint8)
    for shape, grow in ((mesh.mouth, 0.03), *((e, 0.1) for e in mesh.eyes)):
        poly = lmk2d[shape.contour]
        width = np.linalg.norm(lmk2d[shape.upper[-1]] - lmk2d[shape.upper[0]])
        m = np.zeros_like(mask)
        cv2.fillPoly(m, [fixed_point(poly)], 255, cv2.LINE_8, _SHIFT)
        k = 2 * int(round(grow * width)) + 1
        mask |= cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return cv2.inpaint(texture, mask, 3, cv2.INPAINT_TELEA)


class PortraitRenderer:
    """Warps a portrait by a moving 478-point face mesh; paints eyes and mouth where the mesh opens."""

    def __init__(self, texture: np.ndarray, texture_lmk2d: np.ndarray, size: int, match_light: bool = False):
        """``match_light``: draw the mouth interior in the photo's light (eyes_mouth.interior_light) rather
        than in the astronaut's, for photos of other people and lighting (the world's portraits keep False)."""
        texture = np.ascontiguousarray(texture)
        if texture.ndim != 3 or texture.shape[2] != 3 or texture.shape[0] != texture.shape[1]:
            raise ValueError(f"texture must be a square [S, S, 3] image, got {texture.shape}")
        if texture_lmk2d.shape != (topology.N_LANDMARKS, 2):
            raise ValueError(f"texture_lmk2d must be [478, 2], got {texture_lmk2d.shape}")
        self.size = int(size)
        s = texture.shape[0]
        lmk_n = np.asarray(texture_lmk2d, np.float64) / s
        self._mesh = _build_mesh(lmk_n)
        # sample a texture pre-shrunk to the output scale: bilinear remap from a much larger image aliases
        if self.size < s:
            texture = cv2.resize(texture, (self.size, self.size), interpolation=cv2.INTER_AREA)
        self._tex = texture
        side = texture.shape[0]
        self._src = np.concatenate([lmk_n[: topology.N_FACE], self._mesh.anchors, self._mesh.halo]) * side
        self._rigid_ref = lmk_n[self._mesh.rigid] * self.size
        self._halo_ref = self._mesh.halo * self.size
        self._src_lmk = lmk_n * side
        self._anchor_dst = self._mesh.anchors * self.size
        self._iris_colors = tuple(sample_iris_color(self._tex, self._src_lmk, i) for i in self._mesh.irises)
        self._light = None
        if match_light:
            self._light = interior_light(self._tex, self._src_lmk, tuple(e.contour for e in self._mesh.eyes),
                                         self._mesh.irises)
        self._src_tris = self._src[self._mesh.triangles]
        self._tex = _clear_openings(self._tex, self._src_lmk, self._mesh)
        self._ids = np.zeros((self.size, self.size), np.uint16)

    # -- per frame --------------------------------------------------------------------------------------
    def _coefficients(self, verts: np.ndarray, lmk2d: np.ndarray) -> np.ndarray:
        """Table [1 + T + 3, 6] of map_x/map_y coefficients per id (0 = plain rescale, then triangles,
        then the three openings), in cv2's pixel-centre-at-integer convention."""
        m = self._mesh
        aff = [np.array([[[1.0, 0, 0], [0, 1.0, 0]]]) * (self._tex.shape[0] / self.size)]
        aff.append(_affine_to_source(verts[m.triangles], self._src_tris))
        for shape in (m.mouth, *m.eyes):
            aff.append(_affine_lstsq(lmk2d[shape.contour], self._src_lmk[shape.contour])[None])
        a = np.concatenate(aff)
        # evaluate at pixel centres (x + 0.5) and return cv2 coordinates (- 0.5)
        c = a[:, :, 2] + 0.5 * (a[:, :, 0] + a[:, :, 1]) - 0.5
        return np.concatenate([a[:, :, :2], c[:, :, None]], axis=2).reshape(-1, 6).astype(np.float32)

    def _rasterise(self, verts: np.ndarray, lmk2d: np.ndarray, depth: np.ndarray) -> np.ndarray:
        m = self._mesh
        ids = self._ids
        ids.fill(0)
        tris = list(fixed_point(verts[m.triangles]))  # a list: indexing it in the loop is cheap
        for k in range(m.n_background):
            cv2.fillConvexPoly(ids, tris[k], k + 1, cv2.LINE_8, _SHIFT)
        face = m.triangles[m.n_background :]
        z = depth[face].mean(1)
        # an opening is drawn right after the nearest triangle on its rim, so it covers the rim's boundary
        # pixels but anything nearer (the nose of a turned head) still occludes it
        n_tri = len(m.triangles)
        keys = [z]
        for rim in m.rims:
            keys.append(np.array([z[rim].min() - 1e-9]))
        order = np.argsort(-np.concatenate(keys), kind="stable")
        polys = [fixed_point(lmk2d[s.contour]) for s in (m.mouth, *m.eyes)]
        n_face, nb = len(face), m.n_background
        for k in order.tolist():
            if k < n_face:
                cv2.fillConvexPoly(ids, tris[nb + k], nb + k + 1, cv2.LINE_8, _SHIFT)
            else:
                cv2.fillPoly(ids, [polys[k - n_face]], n_tri + 1 + k - n_face, cv2.LINE_8, _SHIFT)
        return ids

    def _halo_dst(self, lmk2d: np.ndarray) -> np.ndarray:
        """Halo positions: rest position moved part-way along the head's least-squares 2D similarity."""
        x = self._rigid_ref[:, 0] + 1j * self._rigid_ref[:, 1]
        y = lmk2d[self._mesh.rigid, 0] + 1j * lmk2d[self._mesh.rigid, 1]
        xm, ym = x.mean(), y.mean()
        a = np.vdot(x - xm, y - ym) / max(np.vdot(x - xm, x - xm).real, 1e-9)  # rotation * scale
        h = self._halo_ref[:, 0] + 1j * self._halo_ref[:, 1]
        moved = a * (h - xm) + ym
        d = h + self._mesh.halo_follow * (moved - h)
        lim = self.size * np.array([0.01, 0.99])
        return np.clip(np.stack([d.real, d.imag], 1), lim[0], lim[1])

    def render(self, lmk2d: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """One frame: lmk2d [478, 2] output-frame pixels, depth [478] (larger = farther) -> uint8 [size, size, 3]."""
        lmk2d = np.asarray(lmk2d, np.float64)
        depth = np.asarray(depth, np.float64)
        if lmk2d.shape != (topology.N_LANDMARKS, 2) or depth.shape != (topology.N_LANDMARKS,):
            raise ValueError(f"expected lmk2d [478, 2] and depth [478], got {lmk2d.shape}, {depth.shape}")
        m = self._mesh
        verts = np.concatenate([lmk2d[: topology.N_FACE], self._anchor_dst, self._halo_dst(lmk2d)])
        ids = self._rasterise(verts, lmk2d, depth)
        coef = self._coefficients(verts, lmk2d).T.copy()  # [6, n_ids]
        flat = ids.ravel().astype(np.intp)  # np.take on flat intp indices: ~2x faster than table[ids]
        xs, ys = _pixel_grid(self.size)
        maps = []
        for r in (0, 3):
            mp = np.take(coef[r], flat).reshape(ids.shape)
            mp *= xs
            mp += np.take(coef[r + 1], flat).reshape(ids.shape) * ys
            mp += np.take(coef[r + 2], flat).reshape(ids.shape)
            maps.append(mp)
        map_x, map_y = maps
        frame = cv2.remap(self._tex, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        n_tri = len(m.triangles)
        draw_mouth(frame, lmk2d, m.mouth, ids, n_tri + 1, self._light)
        for j, (shape, iris, color) in enumerate(zip(m.eyes, m.irises, self._iris_colors)):
            draw_eye(frame, lmk2d, shape, iris, color, ids, n_tri + 2 + j)
        return frame

    def render_batch(self, lmk2d: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Frames for lmk2d [T, 478, 2] and depth [T, 478] -> uint8 [T, size, size, 3]."""
        out = np.empty((len(lmk2d), self.size, self.size, 3), np.uint8)
        for t in range(len(lmk2d)):
            out[t] = self.render(lmk2d[t], depth[t])
        return out


# -- development helpers: a real portrait with MediaPipe landmarks, and hand-made expressions -------------
def demo_portrait(size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's astronaut cropped to ~1.6x the face box at ``size`` px, with MediaPipe's 478
    landmarks [478, 3] (x, y in pixels; z in pixels, larger = farther). Needs mediapipe (~0.5 s)."""
    import mediapipe as mp
    from skimage import data

    img = data.astronaut()
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True) as fm:

        def detect(im: np.ndarray) -> np.ndarray:
            res = fm.process(im)
            if not res.multi_face_landmarks:
                raise RuntimeError("MediaPipe found no face")
            lm = np.array([[p.x, p.y, p.z] for p in res.multi_face_landmarks[0].landmark])
            return lm * im.shape[1]  # z is on the x scale

        lm = detect(img)
        lo, hi = lm[:, :2].min(0), lm[:, :2].max(0)
        c, s = (lo + hi) / 2, int((hi - lo).max() * 1.6)
        x0, y0 = (c - s / 2).astype(int)
        pad = np.pad(img, ((s, s), (s, s), (0, 0)), mode="edge")
        crop = cv2.resize(pad[y0 + s : y0 + 2 * s, x0 + s : x0 + 2 * s], (size, size), interpolation=cv2.INTER_AREA)
        return crop, detect(crop)


def demo_expression(
    lmk3d: np.ndarray,
    scale: float = 1.0,
    yaw_deg: float = 0.0,
    roll_deg: float = 0.0,
    shift: tuple[float, float] = (0.0, 0.0),
    jaw_open: float = 0.0,
    close_eye: int | None = None,
    gaze: tuple[float, float] = (0.0, 0.0),
) -> tuple[np.ndarray, np.ndarray]:
    """Crude hand-made pose/expression of texture landmarks [478, 3] -> (lmk2d [478, 2], depth [478]).

    jaw_open: drop of the lower lip in units of the mouth width; close_eye: 0/1 which contour of
    ``contours()`` ('left_eye', 'right_eye') to shut; gaze: iris shift in units of the eye width.
    For previews and tests only; the real head model lives elsewhere.
    """
    p = lmk3d.astype(np.float64).copy()
    cont = topology.contours()
    xy = p[:, :2]
    mouth = OpeningShape.of("lips_inner", xy)
    outer = OpeningShape.of("lips_outer", xy)
    mw = np.linalg.norm(xy[mouth.upper[0]] - xy[mouth.upper[-1]])
    if jaw_open:
        # weight 0 on/above the upper inner lip, 1 on/below the lower inner lip, fading sideways
        ux = xy[mouth.upper]
        yu = np.interp(xy[:, 0], *ux[np.argsort(ux[:, 0])].T)
        lx = xy[mouth.lower]
        yl = np.interp(xy[:, 0], *lx[np.argsort(lx[:, 0])].T)
        w = np.clip((xy[:, 1] - yu) / np.maximum(yl - yu, 1.0), 0, 1)
        cx = xy[mouth.upper].mean(0)[0]
        w *= np.clip(1 - ((xy[:, 0] - cx) / (1.8 * mw)) ** 2, 0, 1)
        w[mouth.upper] = 0
        w[outer.upper] = 0
        w[topology.N_FACE :] = 0
        p[:, 1] += jaw_open * mw * w
    if close_eye is not None:
        eye = OpeningShape.of(("left_eye", "right_eye")[close_eye], xy)
        lo = xy[eye.lower][np.argsort(xy[eye.lower, 0])]
        p[eye.upper, 1] = np.interp(p[eye.upper, 0], lo[:, 0], lo[:, 1])
    for k in ("left_eye", "right_eye"):
        c = xy[cont[k]]
        ew = c[:, 0].max() - c[:, 0].min()
        iris = topology.LEFT_IRIS if k == "left_eye" else topology.RIGHT_IRIS
        if np.linalg.norm(xy[iris[0]] - c.mean(0)) > ew:  # naming conventions differ: take the nearer set
            iris = topology.RIGHT_IRIS if k == "left_eye" else topology.LEFT_IRIS
        p[iris, :2] += np.array(gaze) * ew
    centre = p[: topology.N_FACE].mean(0)
    q = p - centre
    cy, sy = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
    cr, sr = np.cos(np.radians(roll_deg)), np.sin(np.radians(roll_deg))
    q = q @ np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]]).T
    q = q @ np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]]).T
    q = q + centre
    lmk2d = q[:, :2] * scale + np.array(shift) * scale
    return lmk2d, q[:, 2] * scale


def preview(path: str, size: int = 256) -> None:
    """Save a PNG strip: identity, yaw + open mouth, closed eye + gaze, roll + wide mouth + shift."""
    tex, lm = demo_portrait(512)
    r = PortraitRenderer(tex, lm[:, :2], size)
    s = size / 512
    poses = [
        dict(),
        dict(yaw_deg=20, jaw_open=0.35, shift=(10, 0)),
        dict(close_eye=0, gaze=(-0.18, 0.0)),
        dict(roll_deg=12, yaw_deg=-15, jaw_open=0.6, shift=(-20, 15), gaze=(0.15, 0.05)),
        dict(yaw_deg=45, jaw_open=0.2),
    ]
    frames = [r.render(*demo_expression(lm, scale=s, **kw)) for kw in poses]
    cv2.imwrite(path, cv2.cvtColor(np.concatenate(frames, axis=1), cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    import sys

    preview(sys.argv[1] if len(sys.argv) > 1 else "render_preview.png", int(sys.argv[2]) if len(sys.argv) > 2 else 256)
