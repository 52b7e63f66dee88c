"""Motion realism metrics on coefficient / landmark sequences (GoHD, FLOAT).

* ``frechet_distance``: FID formula on raw motion vectors; P-FID on pose [*, 6], E-FID on expression.
* ``diversity``: GoHD's Var, mean per-dimension variance across seeds of the same audio.
* ``sequence_ssim``: GoHD's SSIM_p / SSIM_e, 1-D SSIM over sliding time windows per dimension.
* ``jitter``: mean acceleration magnitude (second difference) of landmarks.
* ``blink_rate``: blinks per minute from an eye-openness track.
All functions ignore NaN frames (face not found) rather than failing.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

from sandbox.constants import FPS

SSIM_WINDOW = 25  # frames (1 s at 25 fps): long enough to hold a head nod or a blink
SSIM_K1, SSIM_K2 = 0.01, 0.03  # Wang et al. 2004 constants, scaled by each dimension's data range


def _finite_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    x = x.reshape(x.shape[0], -1)
    return x[np.all(np.isfinite(x), axis=1)]


def frechet_distance(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2) between rows of a [N, d] and b [M, d].

    Rows with any NaN are dropped. ``eps * I`` is added to both covariances so the matrix square root
    exists for rank-deficient sets (e.g. a static head), and only its real part is kept (sqrtm returns
    tiny imaginary parts from round-off). The result is clamped at 0.
    """
    a, b = _finite_rows(a), _finite_rows(b)
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError(f"frechet_distance needs >= 2 finite rows per set, got {a.shape[0]} and {b.shape[0]}")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"dimension mismatch: {a.shape[1]} vs {b.shape[1]}")
    d = a.shape[1]
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a = np.atleast_2d(np.cov(a, rowvar=False)) + eps * np.eye(d)
    cov_b = np.atleast_2d(np.cov(b, rowvar=False)) + eps * np.eye(d)
    covmean = linalg.sqrtm(cov_a @ cov_b)
    covmean = np.real(covmean)
    # eps sits in both covariances, so identical sets still cancel exactly in the trace.
    fd = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2.0 * covmean))
    return max(fd, 0.0) if np.isfinite(fd) else float("nan")


def diversity(samples: np.ndarray) -> float:
    """Mean per-dimension variance across seeds: samples [S, T, d] for S seeds of the same audio.

    Variance (ddof=0) is taken over the seed axis for every frame and dimension, then averaged
    (NaN-aware). Identical seeds -> 0. Compare with the same statistic on real clips, not "higher is better".
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 2:
        x = x[..., None]
    if x.shape[0] < 2:
        raise ValueError("diversity needs at least 2 seeds (axis 0)")
    with np.errstate(invalid="ignore"):
        var = np.nanvar(x, axis=0)
    return float(np.nanmean(var)) if np.any(np.isfinite(var)) else float("nan")


def sequence_ssim(
    x: np.ndarray, y: np.ndarray, window: int = SSIM_WINDOW, data_range: float | np.ndarray | None = None
) -> float:
    """GoHD's SSIM_p / SSIM_e: 1-D SSIM over sliding windows of ``window`` frames (stride 1), per
    dimension, averaged over windows and dimensions. x, y: [T, d].

    Per window: (2 mu_x mu_y + C1)(2 cov + C2) / ((mu_x^2 + mu_y^2 + C1)(var_x + var_y + C2)) with
    C1 = (K1 L)^2, C2 = (K2 L)^2, K1 = 0.01, K2 = 0.03 and L the data range of that dimension over both
    sequences (max - min; floored at 1e-3 so constants never vanish). Windows containing NaN are skipped.
    Identical sequences give 1; T shorter than ``window`` uses one window of length T.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim == 1:
        x, y = x[:, None], y[:, None]
    if x.shape != y.shape:
        raise ValueError(f"shape mismatch: {x.shape} vs {y.shape}")
    T = x.shape[0]
    w = max(2, min(int(window), T))
    if T < 2:
        return float("nan")
    if data_range is None:
        both = np.concatenate([x, y], axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN dimensions -> L floored below
            L = np.nanmax(both, axis=0) - np.nanmin(both, axis=0)
    else:
        L = np.broadcast_to(np.asarray(data_range, dtype=np.float64), x.shape[1:])
    L = np.maximum(np.nan_to_num(L, nan=0.0), 1e-3)
    c1, c2 = (SSIM_K1 * L) ** 2, (SSIM_K2 * L) ** 2
    xw = np.lib.stride_tricks.sliding_window_view(x, w, axis=0)  # [n_win, d, w]
    yw = np.lib.stride_tricks.sliding_window_view(y, w, axis=0)
    mx, my = xw.mean(-1), yw.mean(-1)
    vx, vy = xw.var(-1), yw.var(-1)
    cov = ((xw - mx[..., None]) * (yw - my[..., None])).mean(-1)
    s = (2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(np.nanmean(s)) if np.isfinite(s).any() else float("nan")


def jitter(lmk: np.ndarray) -> float:
    """Mean acceleration magnitude: mean over frames and points of ||x[t+1] - 2 x[t] + x[t-1]||.

    lmk: [T, N, C] (landmarks, norm over the last axis) or [T, d] (treated as one d-vector per frame).
    Units: input units per frame^2 (pixels for lmk2d). Triples touching a NaN frame are skipped.
    """
    x = np.asarray(lmk, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.shape[0] < 3:
        return float("nan")
    acc = np.linalg.norm(x[2:] - 2 * x[1:-1] + x[:-2], axis=-1)
    return float(np.nanmean(acc)) if np.isfinite(acc).any() else float("nan")


def rotation_std(pose: np.ndarray) -> float:
    """Head-rotation spread of one clip in degrees: sqrt of the mean over the three axes of the variance
    over frames of the rotation vector (pose [T, >= 3], radians, rotation first). NaN frames are skipped."""
    rot = np.asarray(pose, dtype=np.float64)[:, :3]
    rot = rot[np.isfinite(rot).all(1)]
    if len(rot) < 2:
        return float("nan")
    return float(np.degrees(np.sqrt(rot.var(0).mean())))


def eyes_closed(openness: np.ndarray, rel_threshold: float = 0.5) -> np.ndarray:
    """Frames [T] (bool) whose eye openness [T] (or [T, 2] per eye, averaged) is below ``rel_threshold`` x the
    track's median: :func:`blink_rate`'s closed eyes. NaN frames never count; a median <= 0 closes none."""
    x = np.asarray(openness, dtype=np.float64)
    if x.ndim == 2:
        x = np.nanmean(x, axis=1) if np.isfinite(x).any() else np.full(x.shape[0], np.nan)
    valid = np.isfinite(x)
    med = float(np.median(x[valid])) if valid.any() else 0.0
    return valid & (x < rel_threshold * med) if med > 0 else np.zeros(len(x), bool)


def blink_rate(
    openness: np.ndarray,
    fps: float = FPS,
    rel_threshold: float = 0.5,
    refractory_s: float = 0.3,
) -> float:
    """Blinks per minute from eye openness [T] (or [T, 2] per eye, averaged).

    A blink starts where openness drops below ``rel_threshold`` x the clip's median openness (coming
    from above); starts closer than ``refractory_s`` to the previous counted blink are ignored so a
    noisy crossing counts once. NaN frames never count as closed. The rate divides by the duration
    of the finite frames. A median <= 0 (eyes never open / no signal) gives 0.
    """
    x = np.asarray(openness, dtype=np.float64)
    n_valid = int((np.isfinite(x).any(1) if x.ndim == 2 else np.isfinite(x)).sum())
    if n_valid == 0:
        return float("nan")
    closed = eyes_closed(x, rel_threshold)
    starts = np.flatnonzero(closed & ~np.concatenate([[False], closed[:-1]]))
    refractory = refractory_s * fps
    count, last = 0, -np.inf
    for s in starts:
        if s - last >= refractory:
            count += 1
            last = s
    return count / (n_valid / fps) * 60.0


def fit_jaw_readout(motions: list[np.ndarray], jaws: list[np.ndarray]) -> np.ndarray:
    """Least-squares line [d + 1] (weights, bias) from motion frames [T, d] to the jaw-open coefficient:
    reads how open the jaw is out of any motion space, without a renderer."""
    x = np.concatenate([np.asarray(m, np.float64) for m in motions])
    y = np.concatenate([np.asarray(j, np.float64)[: len(m)] for m, j in zip(motions, jaws)])
    return np.linalg.lstsq(np.c_[x, np.ones(len(x))], y, rcond=None)[0]


def read_jaw(readout: np.ndarray, m: np.ndarray) -> np.ndarray:
    """[T] jaw-open read out of motion [T, d] with a :func:`fit_jaw_readout` line."""
    return np.c_[np.asarray(m, np.float64), np.ones(len(m))] @ readout


def readout_r2(pred: np.ndarray, y: np.ndarray) -> float:
    """R^2 of a read-out's predictions of y [N] or [N, k] (k targets pooled: 1 - their summed squared error
    over their summed variance about each target's mean)."""
    pred, y = np.asarray(pred, np.float64), np.asarray(y, np.float64)
    return float(1 - ((pred - y) ** 2).sum() / max(((y - y.mean(0)) ** 2).sum(), 1e-12))


def label_offset_scores(offsets: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """How a generator's per-label offsets [labels, d] (e.g. time-mean expression under each emotion minus
    under neutral) follow the true ones [labels, d]: (correlation over all entries, least-squares gain of
    generated on true; 1 = the true amplitude, 0 = no response)."""
    g, t = np.asarray(offsets, np.float64).ravel(), np.asarray(truth, np.float64).ravel()
    if g.std() < 1e-12 or t.std() < 1e-12:
        return 0.0, float(g @ t / max(t @ t, 1e-12))
    return float(np.corrcoef(g, t)[0, 1]), float(g @ t / (t @ t))


def window_seams(motion: np.ndarray, stride: int) -> tuple[float, float]:
    """(seam step, within step) of motion [T, dim] made window by window, ``stride`` new frames per
    window (windows emit frames [i * stride, (i + 1) * stride)): the mean L2 norm of the one-frame steps
    into each window's first frame, and of all the other steps. Equal in expectation when windows join
    seamlessly; NaN where a kind has no step."""
    steps = np.linalg.norm(np.diff(np.asarray(motion, np.float64), axis=0), axis=-1)  # step into frame f + 1
    frame = np.arange(1, len(steps) + 1)
    at_seam = frame % stride == 0
    seam = float(steps[at_seam].mean()) if at_seam.any() else float("nan")
    within = float(steps[~at_seam].mean()) if (~at_seam).any() else float("nan")
    return seam, within
