"""Baselines the eval stage renders besides the run's samples, for any representation: a static head
and an audio-energy mouth.

The signals (:func:`static_motion`, :func:`static_frames`, :func:`energy_heuristic_mouth`) know no
representation. :func:`energy_motion` turns the energy mouth into motion through a :class:`JawLine`:
on the training clips' extracted motion x_t fit, by least squares, the line x_t ~= a + b * jaw_t
through the ground-truth jaw-open track (``gt["mouth"][:, 0]``, or the pocketsphinx-aligned one); b is
the direction in motion space that opens the mouth. The heuristic motion is
``x_ref + b * (e_t - jaw_ref)`` with e_t the energy mouth opening and jaw_ref the source's own jaw
opening read off the line (projection of x_ref - a on b, clipped to [0, 1]): the source frame is kept
when the energy says "as open as the source", and everything else (head, eyes) holds still.

The eval stage draws every baseline motion with the run's own renderer, so baseline rows differ from
the run only in where the motion came from.
"""
from __future__ import annotations

from dataclasses import dataclass

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


@dataclass
class JawLine:
    """motion ~= a + b * jaw (un-normalised motion units)."""

    a: np.ndarray  # [dim]
    b: np.ndarray  # [dim]

    def jaw_of(self, x: np.ndarray) -> float:
        """Jaw opening of motion vector x read off the line (least-squares projection), in [0, 1]."""
        nb = float(self.b @ self.b)
        return float(np.clip((x - self.a) @ self.b / nb, 0.0, 1.0)) if nb > 0 else 0.0


def fit_jaw_line(motions: list[np.ndarray], jaws: list[np.ndarray]) -> JawLine:
    """Least squares over all frames of the clips (each motion [T, dim] with its jaw track [T])."""
    n = [min(len(m), len(j)) for m, j in zip(motions, jaws)]
    x = np.concatenate([np.asarray(m, np.float64)[:k] for m, k in zip(motions, n)])
    j = np.concatenate([np.asarray(v, np.float64)[:k] for v, k in zip(jaws, n)])
    design = np.stack([np.ones_like(j), j], 1)
    coef, *_ = np.linalg.lstsq(design, x, rcond=None)
    return JawLine(coef[0], coef[1])


def energy_motion(x_ref: np.ndarray, audio: np.ndarray, n_frames: int, line: JawLine) -> np.ndarray:
    """[T, dim] motion of the energy heuristic (module docstring)."""
    e = energy_heuristic_mouth(audio, n_frames).astype(np.float64)
    x_ref = np.asarray(x_ref, np.float64)
    return (x_ref[None] + (e - line.jaw_of(x_ref))[:, None] * line.b[None]).astype(np.float32)
