"""How the morphable head model (sandbox.face.head_model) is built from one real portrait.

MediaPipe Face Mesh finds 478 landmarks on scikit-image's astronaut; they are brought to a canonical,
metric, frontal frame (the mean shape), and procedural expression and identity bases are made as
harmonic displacement fields on the mesh. Run ``python -m sandbox.world.build_head_model --rebuild
[--preview out.png]`` to rewrite sandbox/assets/head_model.npz (the runtime model only loads it).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import cv2
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from sandbox.face import topology
from sandbox.face.head_model import (
    ASSET_PATH,
    CHIN,
    CROP_SCALE,
    EXP_NAMES,
    FOCAL,
    FOREHEAD,
    ID_NAMES,
    NOSE_TIP,
    SUBNASALE,
    TEXTURE_SIZE,
    HeadModel,
    _load_cached,
    _source_image,
    cut_texture,
)
from sandbox.geometry.rotation import euler_to_matrix, rotvec_to_matrix

log = logging.getLogger(__name__)

IPD_CM = 6.3  # metric scale of the model
HEAD_CENTRE_DEPTH_CM = 9.0  # model origin behind the nose tip
# landmark ids on the face's mid-line (used to find the photo's symmetry plane)
MIDLINE = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 164, 0, 11, 12, 13, 14, 15, 16, 17, 18,
           200, 199, 175, 152)  # fmt: skip
NOSE_WINGS = (48, 278, 64, 294, 98, 327, 129, 358, 102, 331, 49, 279, 219, 439, 115, 344)


def _face_crop(lmk2d: np.ndarray) -> np.ndarray:
    """Affine (2x3) of the square CROP_SCALE x box around the landmarks onto the texture."""
    lo, hi = lmk2d.min(0), lmk2d.max(0)
    centre, side = (lo + hi) / 2, CROP_SCALE * float((hi - lo).max())
    s = TEXTURE_SIZE / side
    return np.array([[s, 0, TEXTURE_SIZE / 2 - s * centre[0]], [0, s, TEXTURE_SIZE / 2 - s * centre[1]]])


def _canonical_frame(p: np.ndarray) -> np.ndarray:
    """Rotation (rows = canonical axes in photo coordinates) that makes the face frontal and upright.

    x: normal of the best plane through the mid-line landmarks (the symmetry plane), toward image right;
    y: forehead -> chin direction within that plane; z = x cross y (away from the camera).
    """
    mid = p[list(MIDLINE)]
    _, _, vt = np.linalg.svd(mid - mid.mean(0))
    x = vt[2] * np.sign(vt[2][0])
    y = p[CHIN] - p[FOREHEAD]
    y = y - x * (y @ x)
    y /= np.linalg.norm(y)
    return np.stack([x, y, np.cross(x, y)])


def build() -> tuple[HeadModel, np.ndarray]:
    """Detect the astronaut's face, build mean shape + bases, and return (model, crop affine)."""
    from sandbox.analysis.landmarks import detect
    from sandbox.errors import NoFaceError

    src = _source_image()
    faces = detect(src, max_num_faces=1)
    if not faces:
        raise NoFaceError("MediaPipe found no face in skimage.data.astronaut(): check the mediapipe install")
    crop = _face_crop(faces[0].lmk2d)
    tex = cut_texture(crop)
    faces = detect(tex, max_num_faces=1)
    if not faces:
        raise NoFaceError("MediaPipe found no face in the cropped astronaut texture")
    p = faces[0].lmk.astype(np.float64)  # texture px, z relative depth in x's scale

    # metric canonical shape: rotate the photo's relative-depth points into the frontal frame, scale to cm
    frame = _canonical_frame(p)
    scale = IPD_CM / np.linalg.norm(p[topology.LEFT_IRIS[0]] - p[topology.RIGHT_IRIS[0]])
    m = scale * (p - p[list(MIDLINE)].mean(0)) @ frame.T
    eye_y = (m[topology.LEFT_IRIS[0], 1] + m[topology.RIGHT_IRIS[0], 1]) / 2
    m -= np.array([0.0, eye_y, m[NOSE_TIP, 2] + HEAD_CENTRE_DEPTH_CM])

    # the photo's pose, then back-project the detected 2D points along their rays (keeping each point's
    # depth) so that the neutral pose reproduces the texture landmarks exactly
    k = np.array([[FOCAL * TEXTURE_SIZE, 0, TEXTURE_SIZE / 2], [0, FOCAL * TEXTURE_SIZE, TEXTURE_SIZE / 2],
                  [0, 0, 1]])  # fmt: skip
    ok, rvec, tvec = cv2.solvePnP(m, np.ascontiguousarray(p[:, :2]), k, None, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        raise RuntimeError("solvePnP failed on the astronaut landmarks")
    r = rotvec_to_matrix(rvec.ravel())
    cam = m @ r.T + tvec.ravel()
    rays = np.c_[p[:, :2], np.ones(len(p))] @ np.linalg.inv(k).T
    cam = rays * cam[:, 2:3]
    mean = (cam - tvec.ravel()) @ r
    neutral_pose = np.r_[rvec.ravel(), tvec.ravel()]

    exp_basis = expression_basis(mean)
    id_basis = identity_basis(mean)
    model = HeadModel(mean, id_basis, exp_basis, tex, p[:, :2], neutral_pose)
    return model, crop


# ------------------------------------------------------------------------------------------ bases


def _laplacian(n: int) -> sp.csr_matrix:
    """Uniform graph Laplacian of the 468-point tesselation (iris points left isolated)."""
    tri = topology.triangles()
    e = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    e = np.unique(np.sort(e, 1), axis=0)
    a = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    a = (a + a.T).tocsr()
    a.data[:] = 1.0
    return (sp.diags(np.asarray(a.sum(1)).ravel()) - a).tocsr()


def harmonic_field(mean: np.ndarray, fixed: dict[int, np.ndarray], radius: float) -> np.ndarray:
    """Smoothly extend displacements given on a few vertices to the mesh [478, 3].

    Vertices farther than ``radius`` cm from every constrained vertex are pinned to zero; the rest solve
    Laplace's equation on the mesh graph, which gives a smooth falloff that follows the surface (it does
    not leak across the mouth or eye openings, which the tesselation leaves open). Irises stay at zero.
    """
    n = topology.N_FACE
    idx = np.array(sorted(fixed), dtype=np.int64)
    val = np.array([fixed[i] for i in idx], dtype=np.float64).reshape(len(idx), -1)
    d = np.linalg.norm(mean[:n, None] - mean[None, idx], axis=-1).min(1)
    pinned = np.zeros(n, bool)
    pinned[idx] = True
    far = (d > radius) & ~pinned
    known = pinned | far
    x = np.zeros((n, val.shape[1]))
    x[idx] = val
    lap = _laplacian(n)
    free = np.flatnonzero(~known)
    if len(free):
        lff = lap[free][:, free]
        rhs = -lap[free][:, np.flatnonzero(known)] @ x[known]
        x[free] = spla.spsolve(lff.tocsc(), rhs).reshape(len(free), -1)
    out = np.zeros((topology.N_LANDMARKS, val.shape[1]))
    out[:n] = x
    return out


def _split_upper_lower(mean: np.ndarray, cycle: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split a closed contour at its two x-extremes: (upper, lower, corners) vertex ids."""
    xs = mean[cycle, 0]
    i0, i1 = sorted((int(np.argmin(xs)), int(np.argmax(xs))))
    a, b = cycle[i0 + 1 : i1], np.r_[cycle[i1 + 1 :], cycle[:i0]]
    if mean[a, 1].mean() > mean[b, 1].mean():
        a, b = b, a
    return a, b, cycle[[i0, i1]]


def _lid_meet(mean: np.ndarray, upper: np.ndarray, lower: np.ndarray, at: float) -> dict[int, np.ndarray]:
    """Vertical displacements closing the lids onto a curve ``at`` of the way from the lower to the upper lid."""
    lo = lower[np.argsort(mean[lower, 0])]
    up = upper[np.argsort(mean[upper, 0])]
    disp: dict[int, np.ndarray] = {}
    for v in up:
        ly = np.interp(mean[v, 0], mean[lo, 0], mean[lo, 1])
        disp[int(v)] = np.array([0.0, (1 - at) * (ly - mean[v, 1]), 0.0])
    for v in lo:
        uy = np.interp(mean[v, 0], mean[up, 0], mean[up, 1])
        disp[int(v)] = np.array([0.0, at * (uy - mean[v, 1]), 0.0])
    return disp


def _mean_dy(disp: dict[int, np.ndarray], verts: np.ndarray) -> float:
    return float(np.mean([disp[int(v)][1] for v in verts if int(v) in disp]))


def expression_basis(mean: np.ndarray) -> np.ndarray:
    """Procedural blendshapes [E, 478, 3] at full strength (coefficient 1), in cm."""
    c = topology.contours()
    lip_in_up, lip_in_lo, lip_in_corner = _split_upper_lower(mean, c["lips_inner"])
    lip_out_up, lip_out_lo, lip_out_corner = _split_upper_lower(mean, c["lips_outer"])
    lips = np.r_[c["lips_inner"], c["lips_outer"]]
    mouth_c = mean[lips].mean(0)
    half_w = (mean[lip_out_corner, 0].max() - mean[lip_out_corner, 0].min()) / 2
    lateral = lambda v: (mean[v, 0] - mouth_c[0]) / half_w  # noqa: E731  -1 .. 1 across the mouth
    eyes = {s: _split_upper_lower(mean, c[f"{s}_eye"]) for s in ("left", "right")}
    eye_contours = np.r_[c["left_eye"], c["right_eye"]]
    z3 = np.zeros(3)
    basis = {}

    # jaw_open: rotate the lower face about a hinge near the ears; harmonic weight 1 on the lower lip and
    # chin, 0 on the upper lip and everything above the nose base
    n = topology.N_FACE
    w_fixed: dict[int, np.ndarray] = {}
    for v in np.r_[lip_in_lo, lip_out_lo]:
        w_fixed[int(v)] = np.ones(1)
    for v in np.r_[lip_in_up, lip_out_up]:
        w_fixed[int(v)] = np.zeros(1)
    y_lip_lo, y_nose = mean[17, 1], mean[SUBNASALE, 1]
    for v in range(n):
        if mean[v, 1] > y_lip_lo + 0.8:
            w_fixed.setdefault(v, np.ones(1))
        elif mean[v, 1] < y_nose:
            w_fixed.setdefault(v, np.zeros(1))
    w = harmonic_field(mean, w_fixed, radius=1e9)[:, 0]
    hinge = np.array([0.0, 1.0, mean[NOSE_TIP, 2] + HEAD_CENTRE_DEPTH_CM])
    rot = euler_to_matrix(np.array([0.0, -np.radians(14.0), 0.0]))  # chin down and back
    jaw = ((mean - hinge) @ rot.T + hinge - mean) * w[:, None]
    jaw[n:] = 0
    basis["jaw_open"] = jaw

    # lip_spread: corners out and slightly back, lips thin a little
    fixed = {int(v): np.array([0.55 * lateral(v), 0.0, 0.25 * lateral(v) ** 2]) for v in lips}
    basis["lip_spread"] = harmonic_field(mean, fixed, radius=2.5)

    # lip_round: lips pulled toward the centre and pushed forward, inner lips part a little
    fixed = {int(v): np.array([-0.45 * lateral(v), 0.0, -0.55 * (1 - 0.5 * lateral(v) ** 2)]) for v in lips}
    for v in lip_in_up:
        fixed[int(v)] = fixed[int(v)] + np.array([0, -0.15, 0]) * (1 - lateral(v) ** 2)
    for v in lip_in_lo:
        fixed[int(v)] = fixed[int(v)] + np.array([0, 0.3, 0]) * (1 - lateral(v) ** 2)
    basis["lip_round"] = harmonic_field(mean, fixed, radius=2.5)

    # lip_press: the inner lips meet (the portrait smiles with parted lips, so closure must travel the
    # whole gap: m/b/p and rest need a closed mouth); the outer contours follow part of the way
    fixed = {}
    meet = _lid_meet(mean, lip_in_up, lip_in_lo, at=0.45)
    for v, d in meet.items():
        fixed[v] = d
    for v in lip_out_up:
        fixed[int(v)] = np.array([0, 0.55 * _mean_dy(meet, lip_in_up), 0.1]) * (1 - lateral(v) ** 2)
    for v in lip_out_lo:
        fixed[int(v)] = np.array([0, 0.55 * _mean_dy(meet, lip_in_lo), 0.1]) * (1 - lateral(v) ** 2)
    for v in np.r_[lip_in_corner, lip_out_corner]:
        fixed[int(v)] = z3
    basis["lip_press"] = harmonic_field(mean, fixed, radius=1.5)

    # smile / frown: mouth corners up-and-out / down-and-in, weighted toward the corners
    fixed = {int(v): np.array([0.35 * lateral(v), -0.55, 0.25]) * lateral(v) ** 2 for v in lips}
    basis["smile"] = harmonic_field(mean, fixed, radius=3.0)
    fixed = {int(v): np.array([-0.1 * lateral(v), 0.45, 0.0]) * lateral(v) ** 2 for v in lips}
    basis["frown"] = harmonic_field(mean, fixed, radius=2.5)

    # blinks: upper lid down to meet the lower lid (which rises a little); neighbours follow smoothly
    for side in ("left", "right"):
        up, lo, corners = eyes[side]
        disp = _lid_meet(mean, up, lo, at=0.2)
        for v in corners:
            disp[int(v)] = z3
        basis[f"blink_{'l' if side == 'left' else 'r'}"] = harmonic_field(mean, disp, radius=1.2)

    # brows: raise (up, slightly forward) / lower (down and toward the mid-line); eye contours stay put
    brows = np.r_[c["left_brow"], c["right_brow"]]
    fixed = {int(v): np.array([0.0, -0.75, -0.05]) for v in brows}
    fixed.update({int(v): z3 for v in eye_contours})
    basis["brow_raise"] = harmonic_field(mean, fixed, radius=3.0)
    fixed = {int(v): np.array([-0.25 * np.sign(mean[v, 0]), 0.45, -0.05]) for v in brows}
    fixed.update({int(v): z3 for v in eye_contours})
    basis["brow_lower"] = harmonic_field(mean, fixed, radius=2.5)

    # squint: lower lids rise a third of the way, upper lids drop a little
    fixed = {}
    for side in ("left", "right"):
        up, lo, corners = eyes[side]
        d = _lid_meet(mean, up, lo, at=0.0)  # displacement that would close fully onto the lower lid
        for v in lo:
            u = up[np.argmin(np.abs(mean[up, 0] - mean[v, 0]))]
            fixed[int(v)] = np.array([0.0, 0.3 * (mean[u, 1] - mean[v, 1]), -0.05])
        for v in up:
            fixed[int(v)] = 0.12 * d[int(v)]
        fixed.update({int(v): z3 for v in corners})
    basis["squint"] = harmonic_field(mean, fixed, radius=1.8)

    # sneer: nose wings and the upper lip's sides rise
    fixed = {int(v): np.array([0.0, -0.3, -0.05]) for v in NOSE_WINGS}
    for v in lip_out_up:
        fixed[int(v)] = np.array([0.0, -0.3, 0.0]) * np.exp(-((abs(lateral(v)) - 0.45) ** 2) / 0.08)
    fixed.update({int(v): z3 for v in np.r_[lip_in_corner, lip_out_corner]})
    basis["sneer"] = harmonic_field(mean, fixed, radius=1.5)

    return np.stack([basis[k] for k in EXP_NAMES])


def identity_basis(mean: np.ndarray) -> np.ndarray:
    """Smooth, mostly symmetric identity fields [n_id, 478, 3], one standard deviation each, in cm."""
    c = topology.contours()
    x, y = mean[:, 0], mean[:, 1]
    face_c = mean[: topology.N_FACE].mean(0)
    y_nose, y_chin, y_mouth = mean[SUBNASALE, 1], mean[CHIN, 1], mean[c["lips_outer"], 1].mean()

    def smooth(t):  # smoothstep on [0, 1]
        t = np.clip(t, 0, 1)
        return t * t * (3 - 2 * t)

    def gauss(centre, sigma):
        return np.exp(-np.sum((mean - centre) ** 2, -1) / (2 * sigma**2))

    def per_side(name_l, name_r, sigma):
        """(weight, offset from the nearer side's centre) for a bilateral feature."""
        cl, cr = mean[c[name_l]].mean(0), mean[c[name_r]].mean(0)
        gl, gr = gauss(cl, sigma), gauss(cr, sigma)
        w = np.maximum(gl, gr)
        centre = np.where((x >= 0)[:, None], cl, cr)  # subject's left eye is on +x
        return w, mean - centre, np.sign(x)

    zeros = np.zeros_like(mean)
    f = {}
    f["face_width"] = np.c_[0.05 * x, zeros[:, :2]]
    f["face_length"] = np.c_[zeros[:, 0], 0.05 * (y - face_c[1]), zeros[:, 0]]
    f["jaw_width"] = np.c_[0.08 * x * smooth((y - y_nose) / (y_chin - y_nose)), zeros[:, :2]]
    f["chin_length"] = np.c_[zeros[:, 0], 0.5 * smooth((y - y_mouth) / (y_chin - y_mouth)), zeros[:, 0]]
    g_nose = gauss(mean[NOSE_TIP], 1.6)
    f["nose_length"] = g_nose[:, None] * np.array([0.0, 0.15, -0.35])
    f["nose_width"] = np.c_[0.12 * (x - mean[NOSE_TIP, 0]) * g_nose, zeros[:, :2]]
    w_eye, rel_eye, side = per_side("left_eye", "right_eye", 1.4)
    f["eye_spacing"] = np.c_[0.25 * side * w_eye, zeros[:, :2]]
    f["eye_size"] = 0.12 * rel_eye * w_eye[:, None]
    mouth_c = mean[c["lips_outer"]].mean(0)
    g_mouth = gauss(mouth_c, 1.8)
    f["mouth_width"] = np.c_[0.1 * (x - mouth_c[0]) * g_mouth, zeros[:, :2]]
    w_brow, _, _ = per_side("left_brow", "right_brow", 1.3)
    f["brow_height"] = w_brow[:, None] * np.array([0.0, -0.3, 0.0])
    return np.stack([f[k] for k in ID_NAMES])


# ------------------------------------------------------------------------------------------ preview


def draw_mesh(img: np.ndarray, lmk2d: np.ndarray, colour=(0, 255, 0)) -> np.ndarray:
    """Draw the tesselation edges + iris centres over an image (anti-aliased)."""
    out = img.copy()
    tri = topology.triangles()
    pts = np.round(lmk2d * 16).astype(np.int32)  # 4 bits of sub-pixel precision
    polys = [pts[t] for t in tri]
    cv2.polylines(out, polys, True, colour, 1, cv2.LINE_AA, shift=4)
    for i in (topology.LEFT_IRIS[0], topology.RIGHT_IRIS[0]):
        cv2.circle(out, tuple(pts[i]), 3 * 16, (255, 0, 0), 1, cv2.LINE_AA, shift=4)
    return out


def preview(model: HeadModel, path: Path) -> None:
    """Grid of the mesh over the texture under a few expressions / poses / gazes."""
    from sandbox.geometry.rotation import euler_to_rotvec, rotvec_to_euler

    e = lambda **k: np.array([k.get(n, 0.0) for n in EXP_NAMES])  # noqa: E731
    ypr0 = rotvec_to_euler(model.neutral_pose[:3])

    def pose(yaw=0.0, pitch=0.0):
        return np.r_[euler_to_rotvec(ypr0 + np.radians([yaw, pitch, 0])), model.neutral_pose[3:]]

    cases = [
        ("neutral", model.neutral_pose, e(), (0, 0)),
        ("jaw_open", model.neutral_pose, e(jaw_open=1), (0, 0)),
        ("smile+spread", model.neutral_pose, e(smile=1, lip_spread=0.5), (0, 0)),
        ("lip_round", model.neutral_pose, e(lip_round=1), (0, 0)),
        ("blink_l", model.neutral_pose, e(blink_l=1), (0, 0)),
        ("brow_raise+squint", model.neutral_pose, e(brow_raise=1, squint=1), (0, 0)),
        ("yaw+25 gaze right", pose(yaw=25), e(jaw_open=0.4), (0, 0.4)),
        ("pitch+20 gaze up", pose(pitch=20), e(), (0.4, 0)),
    ]
    tiles = []
    for name, p, ex, g in cases:
        _, l2 = model.landmarks(None, p, ex, np.array(g, float), TEXTURE_SIZE)
        t = draw_mesh((model.texture * 0.6).astype(np.uint8), l2)
        cv2.putText(t, name, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 0), 2, cv2.LINE_AA)
        tiles.append(cv2.resize(t, (384, 384), interpolation=cv2.INTER_AREA))
    grid = np.concatenate([np.concatenate(tiles[:4], 1), np.concatenate(tiles[4:], 1)], 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rebuild", action="store_true", help="rebuild sandbox/assets/head_model.npz")
    ap.add_argument("--preview", type=Path, help="write a PNG grid of the mesh under a few expressions")
    args = ap.parse_args(argv)
    if args.rebuild:
        model, crop = build()
        model.save(ASSET_PATH, crop)
        _load_cached.cache_clear()
        res = np.abs(model.landmarks(None, model.neutral_pose, None, None, TEXTURE_SIZE)[1] - model.texture_lmk2d)
        print(f"wrote {ASSET_PATH} (neutral reprojection max error {res.max():.2e} px)")
    model = HeadModel.load()
    if args.preview:
        preview(model, args.preview)
        print(f"wrote {args.preview}")


if __name__ == "__main__":
    main()
