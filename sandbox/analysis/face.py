"""The face analyser: MediaPipe landmarks -> morphable-model parameters + landmark measurements.

Used to encode 3dmm motion from any video and to measure generated videos for the metrics, so it only
relies on a landmark model nobody in the sandbox trained. Per frame:
  pose   cv2.solvePnP on the model's rigid landmarks (same intrinsics as the head model), then refined
         jointly with the expression by bounded, ridge-regularised Gauss-Newton on the reprojection residual;
  exp    the blendshape coefficients of that solve, bounded to [0, 1];
  gaze   Gauss-Newton on the iris landmarks (positions and offsets to the eye-contour centre) against
         the posed, expressed eye;
  blink  eye openness per eye (mean lid gap / eye width, image space; ~0.3 open, ~0 closed), [left, right]
         in the subject's sense (MediaPipe's);
  mouth_aperture  inner-lip vertical gap / nose-bridge length (168 -> 2) of the FITTED model's projected
                  landmarks: the fit pools lips, chin and jaw, so it is less noisy than the raw inner-lip
                  points (correlation with ground truth 0.89 vs 0.82 on 128 px synthetic clips);
  mouth_aperture_raw  the same measure on MediaPipe's raw landmarks;
  confidence      MediaPipe visibility proxy x exp(-rms / 0.25 cm) of the model-fit reprojection residual.
Frames without a face are NaN in every per-frame field (confidence 0): nothing is invented.
For frames that are not square the camera has f = FOCAL * max(H, W) and its principal point at the centre.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import lsq_linear

from sandbox.errors import NoFaceError
from sandbox.face import topology
from sandbox.face.head_model import FOCAL, HeadModel
from sandbox.geometry.rotation import matrix_to_rotvec, rotvec_to_matrix

log = logging.getLogger(__name__)

# landmark pairs for the image-space measurements (upper, lower)
LEFT_LIDS = ((385, 380), (386, 374), (387, 373))
LEFT_EYE_WIDTH = (362, 263)
RIGHT_LIDS = ((160, 144), (159, 145), (158, 153))
RIGHT_EYE_WIDTH = (33, 133)
INNER_LIPS = ((82, 87), (13, 14), (312, 317))
NOSE_BRIDGE = (168, 2)

EXP_RIDGE = 0.2  # cm^2: pull toward neutral. 2.0 recovered every coefficient at 0.3-0.45x its true size
# (blinks at 0.4x: re-rendered clips never blinked); 0.2: blink 0.7x, jaw 0.48x, pose as good (pitch 1.1 deg)
ID_RIDGE = 2.0  # cm^2: identity coefficients are N(0, 1) a priori
GAZE_RIDGE = 0.01
RMS_SCALE_CM = 0.25  # fit residual at which confidence falls to 1/e
GN_ITERS = 4


@dataclass
class FaceAnalysis:
    """Per-frame analysis of T frames; NaN where no face was found."""

    found: np.ndarray  # bool [T]
    confidence: np.ndarray  # float [T], 0 where not found
    lmk2d: np.ndarray  # [T, 478, 2] MediaPipe landmarks, pixels
    pose: np.ndarray  # [T, 6] rotvec + translation (cm), head-model convention
    exp: np.ndarray  # [T, E]
    gaze: np.ndarray  # [T, 2] (pitch, yaw) radians
    blink: np.ndarray  # [T, 2] eye openness (left, right)
    mouth_aperture: np.ndarray  # [T] from the fitted model's landmarks
    id_coeff: np.ndarray  # [n_id] (NaN when no frame had a face)
    rms: np.ndarray | None = None  # [T] reprojection residual of the model fit, cm-equivalent
    mouth_aperture_raw: np.ndarray | None = None  # [T] from MediaPipe's landmarks directly
    lmk_raw: np.ndarray | None = None  # [T, 68, 2] a 68-point backend's own landmarks (lmk2d: the fit's 478)

    @property
    def num_frames(self) -> int:
        return int(self.found.shape[0])

    @property
    def missing_fraction(self) -> float:
        return float(1.0 - self.found.mean()) if self.num_frames else 1.0


# ------------------------------------------------------------------------------------------ fitting


def _camera(size) -> tuple[float, float, float]:
    """(f, cx, cy) for an int size (square frame) or an (H, W) pair."""
    h, w = (size, size) if np.isscalar(size) else size
    return FOCAL * max(h, w), w / 2.0, h / 2.0


def _skew(q: np.ndarray) -> np.ndarray:
    """[..., 3] -> [..., 3, 3] cross-product matrices."""
    x, y, z = q[..., 0], q[..., 1], q[..., 2]
    o = np.zeros_like(x)
    return np.stack([o, -z, y, z, o, -x, -y, x, o], -1).reshape(q.shape + (3,))


def rigid_landmarks(model: HeadModel, tol_cm: float = 0.05) -> np.ndarray:
    """Face landmarks that no blendshape moves by more than ``tol_cm`` (for the initial PnP)."""
    move = np.linalg.norm(model.exp_basis, axis=-1).max(0)[: topology.N_FACE]
    return np.flatnonzero(move < tol_cm)


# landmarks on visible image features (nose ridge, tip, wings and base) besides the eye/lip/brow contours
NOSE_FEATURES = (1, 4, 5, 195, 197, 6, 168, 2, 98, 327, 48, 278, 64, 294, 129, 358, 94, 19)
FEATURE_WEIGHT, CHIN_WEIGHT, OTHER_WEIGHT = 1.0, 0.3, 0.05


def _point_weights(model: HeadModel) -> np.ndarray:
    """Residual weights per face landmark. MediaPipe places featureless points (cheeks, forehead) and the
    silhouette from its own 3D prior, which under-reports pitch on warped portraits (measured: pitch MAE
    2.9 deg with uniform weights vs 1.9 deg with these), so the fit leans on contours with image edges."""
    c = topology.contours()
    feat = np.r_[c["left_eye"], c["right_eye"], c["lips_outer"], c["lips_inner"], c["left_brow"],
                 c["right_brow"], NOSE_FEATURES]  # fmt: skip
    oval = c["face_oval"]
    chin = oval[model.mean[oval, 1] > model.mean[17, 1]]  # below the lower lip: carries the jaw
    w = np.full(topology.N_FACE, OTHER_WEIGHT)
    w[chin] = CHIN_WEIGHT
    w[feat] = FEATURE_WEIGHT
    return w


def _jacobian(model, base, pose, exp, bases, f):
    """Projected points [T, N, 2] and d(points)/d(params) [T, N, 2, P] for params (dR, dt, coeffs of bases)."""
    r = rotvec_to_matrix(pose[:, :3])  # [T, 3, 3]
    shape = base + np.tensordot(exp, model.exp_basis[:, : base.shape[0]], axes=(1, 0))
    q = shape @ r.transpose(0, 2, 1)
    cam = q + pose[:, None, 3:]
    z = cam[..., 2:3]
    uv = f * cam[..., :2] / z
    jp = np.zeros(cam.shape[:2] + (2, 3))
    jp[..., 0, 0] = jp[..., 1, 1] = (f / z)[..., 0]
    jp[..., :, 2] = -f * cam[..., :2] / z**2
    d_rot = -_skew(q)  # left perturbation
    d_t = np.broadcast_to(np.eye(3), d_rot.shape)
    d_b = np.matmul(r[:, None], bases.transpose(1, 2, 0)[None])  # [T, N, 3, K]
    d_cam = np.concatenate([d_rot, d_t, d_b], -1)
    return uv, jp @ d_cam


def _initial_pose(model_pts: np.ndarray, obs: np.ndarray, k: np.ndarray) -> np.ndarray:
    ok, rvec, tvec = cv2.solvePnP(model_pts, np.ascontiguousarray(obs), k, None, flags=cv2.SOLVEPNP_SQPNP)
    if not ok:
        ok, rvec, tvec = cv2.solvePnP(model_pts, np.ascontiguousarray(obs), k, None)
    return np.r_[rvec.ravel(), tvec.ravel()]


def _solve_frames(model, base, obs, pose, exp, f, w, iters):
    """Gauss-Newton on (pose, exp) per frame; exp bounded to [0, 1], ridge toward 0."""
    n, e = base.shape[0], model.n_exp
    ex = model.exp_basis[:, :n]
    lo = np.r_[np.full(6, -np.inf), np.zeros(e)]
    for _ in range(iters):
        uv, jac = _jacobian(model, base, pose, exp, ex, f)
        scale = pose[:, 5:6] / f  # px -> cm at the head's depth
        res = (obs - uv) * scale[:, :, None] * np.sqrt(w)[None, :, None]
        jac = jac * scale[:, :, None, None] * np.sqrt(w)[None, :, None, None]
        a = jac.reshape(len(pose), 2 * n, -1)
        b = res.reshape(len(pose), 2 * n)
        ata = a.transpose(0, 2, 1) @ a
        atb = (a.transpose(0, 2, 1) @ b[..., None])[..., 0]
        ata[:, 6:, 6:] += EXP_RIDGE * np.eye(e)
        atb[:, 6:] -= EXP_RIDGE * exp
        for t in range(len(pose)):
            # bounded least squares on the Cholesky-reduced normal equations (P x P, fast)
            u = np.linalg.cholesky(ata[t] + 1e-9 * np.eye(len(ata[t]))).T
            rhs = np.linalg.solve(u.T, atb[t])
            step = lsq_linear(u, rhs, bounds=(lo - np.r_[np.zeros(6), exp[t]],
                                              np.r_[np.full(6, np.inf), 1 - exp[t]]), method="bvls").x  # fmt: skip
            rot = rotvec_to_matrix(step[:3]) @ rotvec_to_matrix(pose[t, :3])
            pose[t, :3] = matrix_to_rotvec(rot)
            pose[t, 3:] += step[3:6]
            exp[t] = np.clip(exp[t] + step[6:], 0, 1)
    uv, _ = _jacobian(model, base, pose, exp, ex[:0], f)
    rms = np.sqrt((((obs - uv) * (pose[:, 5:6] / f)[:, :, None]) ** 2).sum(-1).mean(-1))
    return pose, exp, rms


def _solve_identity(model, obs, pose, exp, f, w, id0, iters=2):
    """Shared identity over frames, with per-frame pose + exp as nuisance parameters (dense normal equations)."""
    n, e, m = obs.shape[1], model.n_exp, model.n_id  # the face points (468), or a backend's (68) on a sub-model
    idc = id0.copy()
    for _ in range(iters):
        base = model.identity_shape(idc)[:n]
        bases = np.concatenate([model.exp_basis[:, :n], model.id_basis[:, :n]])
        uv, jac = _jacobian(model, base, pose, exp, bases, f)
        scale = pose[:, 5:6] / f
        sw = np.sqrt(w)[None, :, None]
        res = ((obs - uv) * scale[:, :, None] * sw).reshape(len(pose), -1)
        jac = (jac * scale[:, :, None, None] * sw[..., None]).reshape(len(pose), 2 * n, -1)
        per = 6 + e
        size = len(pose) * per + m
        h = np.zeros((size, size))
        g = np.zeros(size)
        for t in range(len(pose)):
            a_f, a_i = jac[t, :, :per], jac[t, :, per:]
            s = slice(t * per, (t + 1) * per)
            h[s, s] = a_f.T @ a_f + np.diag(np.r_[np.zeros(6), np.full(e, EXP_RIDGE)])
            h[s, -m:] = a_f.T @ a_i
            h[-m:, s] = h[s, -m:].T
            h[-m:, -m:] += a_i.T @ a_i
            g[s] = a_f.T @ res[t] - np.r_[np.zeros(6), EXP_RIDGE * exp[t]]
            g[-m:] += a_i.T @ res[t]
        h[-m:, -m:] += ID_RIDGE * np.eye(m)
        g[-m:] -= ID_RIDGE * idc
        step = np.linalg.solve(h + 1e-9 * np.eye(size), g)
        for t in range(len(pose)):
            d = step[t * per : (t + 1) * per]
            pose[t, :3] = matrix_to_rotvec(rotvec_to_matrix(d[:3]) @ rotvec_to_matrix(pose[t, :3]))
            pose[t, 3:] += d[3:6]
            exp[t] = np.clip(exp[t] + d[6:], 0, 1)
        idc = idc + step[-m:]
    return idc


def _solve_gaze(model, idc, obs, pose, exp, size, iters=3):
    """Gauss-Newton on (pitch, yaw) from the iris landmarks, both as positions and as offsets to their
    eye-contour centres (the offsets cancel most of a small pose error, the positions are immune to lid
    motion; on rendered frames the pair beats either alone); numeric Jacobian."""
    cs = topology.contours()
    eyes = (cs["left_eye"], cs["right_eye"])
    iris = np.r_[topology.LEFT_IRIS, topology.RIGHT_IRIS]
    owner = np.r_[np.zeros(5, int), np.ones(5, int)]  # which eye each iris point sits in

    def offsets(pts):  # [..., 478, 2] -> [..., 20, 2]
        centres = np.stack([pts[..., e, :].mean(-2) for e in eyes], -2)
        return np.concatenate([pts[..., iris, :], pts[..., iris, :] - centres[..., owner, :]], -2)

    f = _camera(size)[0]
    target = offsets(obs)
    gaze = np.zeros((len(pose), 2))
    eps = 1e-3
    for _ in range(iters):
        g_all = np.stack([gaze, gaze + [eps, 0], gaze + [0, eps]], 1)  # [T, 3, 2]
        cam = model.to_camera(model.shape(idc, exp[:, None], g_all), pose[:, None])
        off = offsets(f * cam[..., :2] / cam[..., 2:3])  # [T, 3, 20, 2]
        jac = ((off[:, 1:] - off[:, :1]) / eps).reshape(len(pose), 2, -1).transpose(0, 2, 1)  # [T, 2K, 2]
        res = (target - off[:, 0]).reshape(len(pose), -1)
        scale = (pose[:, 5] / f)[:, None]
        jac, res = jac * scale[..., None], res * scale
        ata = np.einsum("tik,til->tkl", jac, jac) + GAZE_RIDGE * np.eye(2)
        atb = np.einsum("tik,ti->tk", jac, res) - GAZE_RIDGE * gaze
        gaze = np.clip(gaze + np.linalg.solve(ata, atb[..., None])[..., 0], -0.8, 0.8)
    return gaze


def fit_landmarks(
    lmk2d: np.ndarray,
    size,
    model: HeadModel | None = None,
    id_coeff: np.ndarray | None = None,
    id_frames: int = 24,
) -> dict[str, np.ndarray]:
    """Fit the head model to landmarks [T, 478, 2] (pixels; NaN rows = no face) in a frame of ``size``
    (int for square frames or (H, W)). Returns pose [T, 6], exp [T, E], gaze [T, 2], id_coeff [n_id],
    rms [T] (cm-equivalent residual); NaN for frames without landmarks. ``id_coeff=None`` estimates the
    identity jointly over up to ``id_frames`` frames."""
    model = model or HeadModel.load()
    lmk2d = np.asarray(lmk2d, np.float64)
    t_all = len(lmk2d)
    ok = np.isfinite(lmk2d).all(axis=(1, 2))
    out = {
        "pose": np.full((t_all, 6), np.nan),
        "exp": np.full((t_all, model.n_exp), np.nan),
        "gaze": np.full((t_all, 2), np.nan),
        "rms": np.full(t_all, np.nan),
        "id_coeff": np.full(model.n_id, np.nan) if id_coeff is None else np.asarray(id_coeff, np.float64),
    }
    if not ok.any():
        return out
    f, cx, cy = _camera(size)
    k = np.array([[f, 0, cx], [0, f, cy], [0, 0, 1]])
    obs = lmk2d[ok] - [cx, cy]
    n = topology.N_FACE
    w = _point_weights(model)
    rigid = rigid_landmarks(model)
    idc = np.zeros(model.n_id) if id_coeff is None else np.asarray(id_coeff, np.float64)

    def per_frame(idc):
        base = model.identity_shape(idc)
        pose = np.stack([_initial_pose(base[rigid], o[rigid] + [cx, cy], k) for o in obs])
        exp = np.zeros((len(obs), model.n_exp))
        return _solve_frames(model, base[:n], obs[:, :n], pose, exp, f, w, GN_ITERS)

    pose, exp, rms = per_frame(idc)
    if id_coeff is None:
        sel = np.linspace(0, len(obs) - 1, min(id_frames, len(obs))).round().astype(int)
        idc = _solve_identity(model, obs[sel, :n], pose[sel].copy(), exp[sel].copy(), f, w, idc)
        base = model.identity_shape(idc)
        pose, exp, rms = _solve_frames(model, base[:n], obs[:, :n], pose, exp, f, w, 2)
    gaze = _solve_gaze(model, idc, obs, pose, exp, size)
    out["pose"][ok], out["exp"][ok], out["gaze"][ok], out["rms"][ok] = pose, exp, gaze, rms
    out["id_coeff"] = idc
    return out


# ------------------------------------------------------------------------------------------ measurements


def _gap(lmk: np.ndarray, pairs) -> np.ndarray:
    up, lo = np.array(pairs).T
    return np.linalg.norm(lmk[..., lo, :] - lmk[..., up, :], axis=-1).mean(-1)


def _dist(lmk: np.ndarray, pair) -> np.ndarray:
    return np.linalg.norm(lmk[..., pair[0], :] - lmk[..., pair[1], :], axis=-1)


def eye_openness(lmk2d: np.ndarray, lids=(LEFT_LIDS, RIGHT_LIDS),
                 widths=(LEFT_EYE_WIDTH, RIGHT_EYE_WIDTH)) -> np.ndarray:  # fmt: skip
    """[..., 478, 2] -> [..., 2] (left, right) lid gap / eye width. ``lids`` / ``widths``: the (upper, lower)
    lid pairs and eye-corner pair of each eye in another landmark scheme's numbering (a 68-point backend's)."""
    return np.stack([_gap(lmk2d, lid) / _dist(lmk2d, width) for lid, width in zip(lids, widths)], -1)


def mouth_aperture(lmk2d: np.ndarray, lips=INNER_LIPS, bridge=NOSE_BRIDGE) -> np.ndarray:
    """[..., 478, 2] -> [...] inner-lip gap / nose-bridge length (``lips`` / ``bridge`` in another scheme's
    numbering for a 68-point backend)."""
    return _gap(lmk2d, lips) / _dist(lmk2d, bridge)


# ------------------------------------------------------------------------------------------ analyser


class FaceAnalyser:
    """MediaPipe Face Mesh + head-model fit. ``video=True`` tracks landmarks across the frames of one
    :meth:`analyse` call (the tracker is reset at each call). ``backend="face_alignment"`` takes face-alignment's
    68 points instead (weights in ``model_dir``; sandbox.analysis.backends), fitted on their head-model vertices.
    ``workers`` > 1: :meth:`analyse_many` spreads videos over that many processes (:meth:`close` ends them)."""

    def __init__(self, head_model: HeadModel | None = None, video: bool = True, backend: str = "mediapipe",
                 model_dir: str | None = None, workers: int = 1):
        from sandbox.analysis.backends import check_backend

        if int(workers) < 1:
            raise ValueError(f"workers={workers} must be >= 1 (1 = analyse in this process)")
        self.model = head_model or HeadModel.load()
        self.video = video
        self.backend = check_backend(backend, model_dir)
        self.model_dir = model_dir
        self.workers = int(workers)
        self._points = None  # the 68-point detector, loaded on first use
        self._pool = None  # worker processes, started by the first analyse_many that needs them

    def analyse_many(self, videos: list[np.ndarray]) -> list[FaceAnalysis]:
        """:meth:`analyse` of each video, in order. The fit's small matrices run faster on one BLAS thread
        than on two (150 frames: 1.3 vs 1.5 s on 2 CPU cores), so each video gets one; with ``workers`` > 1
        that many videos are analysed at once, each in its own process (spawned: safe beside torch's threads)."""
        from threadpoolctl import threadpool_limits

        if self.workers == 1 or len(videos) < 2:
            with threadpool_limits(1, user_api="blas"):
                return [self.analyse(v) for v in videos]
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(self.workers, multiprocessing.get_context("spawn"), _start_worker,
                                             (self.model, self.video, self.backend, self.model_dir))
        return list(self._pool.map(_analyse_in_worker, videos))

    def close(self) -> None:
        """End the worker processes of :meth:`analyse_many` (a later call starts new ones)."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "FaceAnalyser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _points_detector(self):
        if self._points is None:
            from sandbox.analysis.backends import detector

            self._points = detector(self.model_dir)
        return self._points

    def _detect(self, frames: np.ndarray, max_faces: int = 1):
        if self.backend != "mediapipe":  # no tracker: every frame is found and fitted alone
            return [self._points_detector().detect(fr, max_faces) for fr in frames]
        from sandbox.analysis.landmarks import LandmarkDetector

        with LandmarkDetector(max_num_faces=max_faces, video=self.video and len(frames) > 1) as det:
            return [det.detect(fr) for fr in frames]

    def analyse(self, frames: np.ndarray) -> FaceAnalysis:
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        return self._from_faces([fs[0] if fs else None for fs in self._detect(frames)], frames.shape[1:3])

    def analyse_image(self, img: np.ndarray) -> FaceAnalysis:
        return self.analyse(np.asarray(img)[None])

    def _from_faces(self, faces, hw) -> FaceAnalysis:
        if self.backend != "mediapipe":
            from sandbox.analysis.backends import analysis_ibug68

            return analysis_ibug68(self.model, faces, hw)
        t = len(faces)
        lmk = np.full((t, topology.N_LANDMARKS, 2), np.nan)
        score = np.zeros(t)
        for i, fc in enumerate(faces):
            if fc is not None:
                lmk[i], score[i] = fc.lmk2d, fc.score
        found = np.isfinite(lmk).all(axis=(1, 2))
        fit = fit_landmarks(lmk, tuple(hw), self.model)
        conf = np.where(found, score * np.exp(-np.nan_to_num(fit["rms"], nan=np.inf) / RMS_SCALE_CM), 0.0)
        model_lmk = np.full_like(lmk, np.nan)
        if found.any():
            _, model_lmk[found] = self.model.landmarks(
                fit["id_coeff"], fit["pose"][found], fit["exp"][found], fit["gaze"][found], int(max(hw))
            )  # a ratio of distances: the principal point of a non-square frame does not change it
        return FaceAnalysis(
            found=found,
            confidence=conf,
            lmk2d=lmk,
            pose=fit["pose"],
            exp=fit["exp"],
            gaze=fit["gaze"],
            blink=eye_openness(lmk),
            mouth_aperture=mouth_aperture(model_lmk),
            id_coeff=fit["id_coeff"],
            rms=fit["rms"],
            mouth_aperture_raw=mouth_aperture(lmk),
        )

    def require_face(self, image: np.ndarray, name: str) -> FaceAnalysis:
        """Analysis of the largest face in ``image``; NoFaceError when there is none."""
        img = np.asarray(image)
        faces = self._static(img)
        if not faces:
            raise NoFaceError(
                f"no face found in {name}: use a photo with one clearly visible, roughly frontal face"
            )
        if len(faces) > 1:
            log.warning("%d faces found in %s: using the largest", len(faces), name)
        return self._from_faces([faces[0]], img.shape[:2])

    def _static(self, img: np.ndarray):
        if self.backend != "mediapipe":
            return self._points_detector().detect(img, max_faces=4)
        from sandbox.analysis.landmarks import detect

        return detect(img, max_num_faces=4)


_WORKER: FaceAnalyser | None = None  # the analyser of a worker process of FaceAnalyser.analyse_many


def _start_worker(model: HeadModel, video: bool, backend: str, model_dir: str | None) -> None:
    from threadpoolctl import threadpool_limits

    global _WORKER
    threadpool_limits(1, user_api="blas")
    _WORKER = FaceAnalyser(model, video, backend, model_dir)


def _analyse_in_worker(frames: np.ndarray) -> FaceAnalysis:
    return _WORKER.analyse(frames)


def require_face(image: np.ndarray, name: str, head_model: HeadModel | None = None) -> FaceAnalysis:
    """The largest face's analysis; raises NoFaceError naming ``name`` when there is none."""
    return FaceAnalyser(head_model, video=False).require_face(image, name)
