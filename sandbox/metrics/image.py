"""Frame-level reconstruction metrics for same-identity reenactment (FLOAT table 4 analogue).

Inputs are frame sequences [T, H, W, 3] (a single [H, W, 3] frame is accepted too), either uint8
(data range 255) or float (data range 1.0, i.e. images in [0, 1]); pass ``data_range`` to override.
Each metric is computed per frame and averaged over frames.
"""
from __future__ import annotations

import numpy as np

PSNR_MAX = 100.0  # dB; identical frames would give inf, which breaks means and JSON


def _prepare(pred: np.ndarray, target: np.ndarray, data_range: float | None) -> tuple[np.ndarray, np.ndarray, float]:
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f"frame shape mismatch: {pred.shape} vs {target.shape}")
    if pred.ndim == 3:
        pred, target = pred[None], target[None]
    if pred.ndim != 4:
        raise ValueError(f"expected frames [T, H, W, C], got shape {pred.shape}")
    if data_range is None:
        data_range = 255.0 if pred.dtype == np.uint8 and target.dtype == np.uint8 else 1.0
    return pred.astype(np.float64), target.astype(np.float64), float(data_range)


def psnr(pred: np.ndarray, target: np.ndarray, data_range: float | None = None) -> float:
    """Mean per-frame PSNR in dB (each frame capped at ``PSNR_MAX``)."""
    from skimage.metrics import peak_signal_noise_ratio

    p, t, dr = _prepare(pred, target, data_range)
    vals = [
        PSNR_MAX if np.array_equal(a, b) else min(PSNR_MAX, peak_signal_noise_ratio(b, a, data_range=dr))
        for a, b in zip(p, t)
    ]
    return float(np.mean(vals))


def ssim(pred: np.ndarray, target: np.ndarray, data_range: float | None = None) -> float:
    """Mean per-frame SSIM (skimage defaults: 7x7 uniform window, colour channels averaged)."""
    from skimage.metrics import structural_similarity

    p, t, dr = _prepare(pred, target, data_range)
    win = min(7, *p.shape[1:3])
    win -= 1 - win % 2  # skimage needs an odd window no larger than the image
    return float(np.mean([
        structural_similarity(b, a, data_range=dr, channel_axis=-1, win_size=win) for a, b in zip(p, t)
    ]))


def l1(pred: np.ndarray, target: np.ndarray, data_range: float | None = None) -> float:
    """Mean absolute error, normalised by the data range (so uint8 and [0, 1] floats agree)."""
    p, t, dr = _prepare(pred, target, data_range)
    return float(np.mean(np.abs(p - t)) / dr)
