"""Lip sync from a measured mouth-aperture track against the audio's viseme (jaw-open) track.

This is a landmark-space stand-in for SyncNet's LSE-D / LSE-C: instead of embedding distances we use
normalised cross-correlation between the mouth opening seen on the rendered frames and the jaw-open
target derived from the driving audio.

Conventions
-----------
* ``corr(k)`` correlates ``m[t]`` with ``v[t - k]`` over frames valid in both (Pearson, per lag).
  **Positive offset = video lags audio**: the mouth opens ``k`` frames after the audio says so.
* ``offset``: the lag in ``[-max_lag, max_lag]`` with the highest correlation (ties -> smallest |lag|,
  so a flat curve gives 0).
* ``confidence`` = peak correlation minus the median correlation over all lags (LSE-C analogue), minus
  ``chance_confidence``: the same statistic for ``N_SURROGATES`` phase-randomised copies of the viseme
  track (same power spectrum, so the same autocorrelation, but no alignment with the mouth; a fixed
  seed keeps the metric deterministic). Peak minus median is positive even for an unrelated mouth (the
  best of 31 noisy lags), so the chance level is taken off, on clips of any length (circular shifts,
  used before, need > 2 * (max_lag + 10) frames and left short clips uncorrected).
* ``noise_std`` (optional): the analyser's aperture noise, the std of the detrended track measured on
  still renders (eval takes it from the ``static`` row). ``motion_fraction`` = 1 - (noise_std / std)^2,
  floored at 0, is the share of the track's variance above that noise; the confidence is multiplied
  by it, so a mouth that does not move scores ~0 whatever the correlations of its noise (and a mouth
  barely above the noise scores little). Without ``noise_std`` it is 1.
* ``corr0`` = correlation at lag 0; ``peak_corr`` = correlation at ``offset``.
* ``missing_fraction`` = fraction of frames where the mouth track is not finite (face not found).

Both tracks are detrended first (a NaN-aware moving average over ``detrend_frames`` frames, default 1 s,
is subtracted) so slow drifts such as a head moving towards the camera do not dominate the correlation;
pass ``detrend_frames=None`` to skip. Zero-variance overlaps give correlation 0, never an exception.
"""
from __future__ import annotations

import numpy as np

from sandbox.constants import FPS

MIN_OVERLAP = 8  # frames valid in both tracks needed before a correlation is trusted
N_SURROGATES = 32  # phase-randomised viseme tracks that estimate the chance confidence
SURROGATE_SEED = 0
_VAR_EPS = 1e-12


def moving_average_nan(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average that ignores NaN samples; NaN where the input is NaN."""
    x = np.asarray(x, dtype=np.float64)
    valid = np.isfinite(x)
    if window <= 1 or x.size == 0:
        return np.where(valid, x, np.nan)
    kernel = np.ones(min(int(window), x.size))  # a window longer than the clip covers the clip
    num = np.convolve(np.where(valid, x, 0.0), kernel, mode="same")
    den = np.convolve(valid.astype(np.float64), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    return np.where(valid, out, np.nan)


def detrend(x: np.ndarray, window: int | None) -> np.ndarray:
    """High-pass a track by subtracting its NaN-aware moving average."""
    x = np.asarray(x, dtype=np.float64)
    if window is None or window <= 1:
        return np.where(np.isfinite(x), x, np.nan)
    return x - moving_average_nan(x, window)


def _pearson(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """Correlation over pairs finite in both; 0 when too few pairs or either side is constant."""
    ok = np.isfinite(a) & np.isfinite(b)
    n = int(ok.sum())
    if n < MIN_OVERLAP:
        return 0.0, n
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    if den < _VAR_EPS * n:
        return 0.0, n
    return float(np.clip((a * b).sum() / den, -1.0, 1.0)), n


def correlation_curve(
    m: np.ndarray, v: np.ndarray, max_lag: int = 15
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (lags [L], corr [L], overlap counts [L]) with corr(k) = corr(m[t], v[t-k])."""
    m = np.asarray(m, dtype=np.float64).ravel()
    v = np.asarray(v, dtype=np.float64).ravel()
    T = min(m.size, v.size)  # tolerate an off-by-one between audio- and video-derived lengths
    m, v = m[:T], v[:T]
    lags = np.arange(-max_lag, max_lag + 1)
    corr = np.zeros(lags.size)
    counts = np.zeros(lags.size, dtype=np.int64)
    for i, k in enumerate(lags):
        if abs(k) >= T:
            continue
        a, b = (m[k:], v[: T - k]) if k >= 0 else (m[: T + k], v[-k:])
        corr[i], counts[i] = _pearson(a, b)
    return lags, corr, counts


def _summarise(lags: np.ndarray, corr: np.ndarray) -> dict[str, float]:
    # Ties broken towards lag 0: a flat curve must not report a spurious offset of -max_lag.
    order = np.lexsort((np.abs(lags), -corr))
    best = int(order[0])
    return {
        "offset": float(lags[best]),
        "confidence": float(corr[best] - np.median(corr)),
        "corr0": float(corr[lags == 0][0]) if np.any(lags == 0) else 0.0,
        "peak_corr": float(corr[best]),
    }


def phase_randomised(v: np.ndarray, n: int, seed: int = SURROGATE_SEED) -> np.ndarray:
    """[n, T] surrogates of ``v``: same amplitude spectrum, uniformly random phases (NaNs -> the mean)."""
    v = np.asarray(v, dtype=np.float64)
    ok = np.isfinite(v)
    x = np.where(ok, v, v[ok].mean() if ok.any() else 0.0)
    spec = np.fft.rfft(x - x.mean())
    phases = np.random.default_rng(seed).uniform(0, 2 * np.pi, (n, spec.size))
    phases[:, 0] = 0.0  # the mean stays real
    if x.size % 2 == 0:
        phases[:, -1] = 0.0  # ... and so does the Nyquist bin
    out = np.fft.irfft(np.abs(spec) * np.exp(1j * phases), n=x.size) + x.mean()
    return np.where(ok, out, np.nan)


def chance_confidence(m: np.ndarray, v: np.ndarray, max_lag: int) -> float:
    """Mean peak-minus-median of ``m`` against phase-randomised copies of ``v`` (see module doc)."""
    T = min(m.size, v.size)
    if T < MIN_OVERLAP:
        return 0.0
    return float(np.mean([_summarise(*correlation_curve(m[:T], s, max_lag)[:2])["confidence"]
                          for s in phase_randomised(v[:T], N_SURROGATES)]))


def motion_fraction(m: np.ndarray, noise_std: float | None) -> float:
    """Share of the (detrended) track's variance above the analyser's noise: 1 - (noise / std)^2, >= 0."""
    if noise_std is None:
        return 1.0
    var = float(np.nanvar(m)) if np.isfinite(m).sum() > 1 else 0.0
    if var <= _VAR_EPS:
        return 0.0
    return float(max(0.0, 1.0 - noise_std**2 / var))


def aperture_noise(tracks: list[np.ndarray], detrend_frames: int | None = FPS) -> float | None:
    """The analyser's aperture noise: pooled std of detrended mouth tracks of still renders."""
    parts = [detrend(np.asarray(t, np.float64).ravel(), detrend_frames) for t in tracks]
    x = np.concatenate(parts) if parts else np.zeros(0)
    x = x[np.isfinite(x)]
    return float(np.std(x)) if x.size > 1 else None


def lip_sync(
    m: np.ndarray, v: np.ndarray, max_lag: int = 15, detrend_frames: int | None = FPS,
    noise_std: float | None = None,
) -> dict[str, float]:
    """Lip-sync offset / confidence of mouth track ``m`` [T] against viseme track ``v`` [T]."""
    m = np.asarray(m, dtype=np.float64).ravel()
    missing = float(np.mean(~np.isfinite(m))) if m.size else 1.0
    md, vd = detrend(m, detrend_frames), detrend(v, detrend_frames)
    lags, corr, _ = correlation_curve(md, vd, max_lag)
    out = _summarise(lags, corr)
    out["chance_confidence"] = chance_confidence(md, vd, max_lag)
    out["motion_fraction"] = motion_fraction(md, noise_std)
    out["confidence"] = (out["confidence"] - out["chance_confidence"]) * out["motion_fraction"]
    out["missing_fraction"] = missing
    return out


def lip_sync_dataset(
    pairs: list[tuple[np.ndarray, np.ndarray]],
    max_lag: int = 15,
    detrend_frames: int | None = FPS,
    noise_std: float | None = None,
) -> dict:
    """Per-clip lip sync averaged over clips, plus a pooled curve.

    Returns the mean of each per-clip value (``offset``, ``abs_offset``, ``confidence``, ``corr0``,
    ``peak_corr``, ``motion_fraction``, ``missing_fraction``), ``per_clip`` (each clip's values), ``pooled_offset`` / ``pooled_confidence`` read off the
    pooled curve (per-lag correlations averaged with weights = valid overlapping frames, so long
    clips count more), and ``lags`` / ``pooled_curve`` as lists for plotting.
    """
    if not pairs:
        raise ValueError("lip_sync_dataset needs at least one (mouth, viseme) pair")
    per_clip = []
    lags = np.arange(-max_lag, max_lag + 1)
    num = np.zeros(lags.size)
    den = np.zeros(lags.size)
    for m, v in pairs:
        m = np.asarray(m, dtype=np.float64).ravel()
        r = lip_sync(m, v, max_lag, detrend_frames, noise_std)
        r["abs_offset"] = abs(r["offset"])
        per_clip.append(r)
        _, c, n = correlation_curve(detrend(m, detrend_frames), detrend(v, detrend_frames), max_lag)
        num += c * n
        den += n
    pooled = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    summary = _summarise(lags, pooled)
    out: dict = {k: float(np.mean([r[k] for r in per_clip])) for k in per_clip[0]}
    out["pooled_offset"] = summary["offset"]
    out["pooled_confidence"] = summary["confidence"]
    out["lags"] = lags.tolist()
    out["pooled_curve"] = pooled.tolist()
    out["n_clips"] = len(per_clip)
    out["per_clip"] = per_clip
    return out
