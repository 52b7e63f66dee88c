"""Representation-agnostic baseline signals: a static head and an audio-energy mouth heuristic.

These only make signals; wiring them into a representation (which dimensions are jaw/mouth, how to
render) is the caller's job.
"""
from __future__ import annotations

import numpy as np

from sandbox.constants import SAMPLES_PER_FRAME

ENERGY_SMOOTH_FRAMES = 3  # ~120 ms: removes pitch-period flicker, keeps syllable rate (~4-6 Hz)
ENERGY_LOW_PCT, ENERGY_HIGH_PCT = 10.0, 95.0  # noise floor -> closed, loud syllables -> fully open
SILENCE_RMS = 1e-4  # below this spread the clip is treated as silent: mouth stays closed


def static_motion(x_ref: np.ndarray, T: int) -> np.ndarray:
    """The reference motion vector repeated for T frames: [dim] -> [T, dim] (a copy, writable)."""
    x = np.asarray(x_ref)
    return np.repeat(x[None], T, axis=0)


def static_frames(source: np.ndarray, T: int) -> np.ndarray:
    """The source image repeated for T frames: [H, W, 3] -> [T, H, W, 3] (same dtype, writable)."""
    src = np.asarray(source)
    return np.repeat(src[None], T, axis=0)


def frame_rms(audio: np.ndarray, T: int, hop: int = SAMPLES_PER_FRAME) -> np.ndarray:
    """RMS of each frame's ``hop`` samples; audio is zero-padded / cut to exactly T frames."""
    a = np.asarray(audio, dtype=np.float64).ravel()[: T * hop]
    a = np.pad(a, (0, T * hop - a.size))
    return np.sqrt(np.mean(a.reshape(T, hop) ** 2, axis=1))


def energy_heuristic_mouth(audio: np.ndarray, T: int, smooth_frames: int = ENERGY_SMOOTH_FRAMES) -> np.ndarray:
    """Mouth opening in [0, 1] per frame from 16 kHz audio: louder frame -> more open mouth.

    RMS per 40 ms frame, smoothed by a centred moving average, then mapped linearly so the clip's
    10th percentile (noise floor) is 0 and its 95th percentile is 1, clipped. Silent audio -> zeros.
    """
    if T <= 0:
        return np.zeros(0, dtype=np.float32)
    rms = frame_rms(audio, T)
    if smooth_frames > 1:
        k = np.ones(smooth_frames) / smooth_frames
        rms = np.convolve(np.pad(rms, smooth_frames // 2, mode="edge"), k, mode="valid")[:T]
    lo, hi = np.percentile(rms, [ENERGY_LOW_PCT, ENERGY_HIGH_PCT])
    if hi - lo < SILENCE_RMS:
        return np.zeros(T, dtype=np.float32)
    return np.clip((rms - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
