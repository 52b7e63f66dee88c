"""Motion the eval stage renders besides the run's samples, for any representation: the static and
audio-energy baselines (generation and drawing are sample.generate_motion / render.render_motion).

Every motion here goes through the run's own renderer, so baseline rows differ from the run only in
where the motion came from.

Energy heuristic (representation-agnostic): on the training clips' extracted motion x_t fit, by least
squares, the line x_t ~= a + b * jaw_t through the ground-truth jaw-open track (``gt["mouth"][:, 0]``,
or the pocketsphinx-aligned one). b is the direction in motion space that opens the mouth. The
heuristic motion is ``x_ref + b * (e_t - jaw_ref)`` with e_t the audio-energy mouth opening
(:func:`sandbox.metrics.baselines.energy_heuristic_mouth`) and jaw_ref the source's own jaw opening
read off the line (projection of x_ref - a on b, clipped to [0, 1]): the source frame is kept when the
energy says "as open as the source", and everything else (head, eyes) holds still.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sandbox.metrics.baselines import energy_heuristic_mouth


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
