"""Motion programs of the synthetic world: per-frame expression, head pose and gaze for one clip.

What is one-to-one with the audio: the lips (from the viseme track). What is correlated but not
determined: head pose (nods at energy/pitch accents + slow stochastic drift) and brow raises at
pitch accents. What is one-to-many: blinks (Poisson, ~15-20 per minute), gaze saccades and the
drift's noise. Emotion biases all of them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from sandbox.constants import FPS
from sandbox.face.head_model import EXP_NAMES
from sandbox.geometry.rotation import (
    euler_to_matrix,
    matrix_to_rotvec,
    rotvec_to_matrix,
)

EXP = {name: i for i, name in enumerate(EXP_NAMES)}
JAW_GAIN = 1.4  # viseme jaw targets peak at 0.9: use the blendshape's full range so speech is visible at 128 px
MAX_ANGLE = np.radians(25.0)  # keep poses inside the range the analyser is validated on


@dataclass(frozen=True)
class EmotionStyle:
    """How an emotion biases motion. Offsets are expression coefficients held through the clip."""

    exp_bias: dict
    head_gain: float = 1.0  # amplitude of accent nods and drift
    head_speed: float = 1.0  # drift time-scale multiplier (>1 = faster)
    pitch_offset: float = 0.0  # radians, + = head up
    blink_rate: float = 17.0  # per minute
    gaze_pitch: float = 0.0  # radians, + = looking up
    mouth_gain: float = 1.0


STYLES: dict[str, EmotionStyle] = {
    "neutral": EmotionStyle({}),
    "happy": EmotionStyle({"smile": 0.55, "squint": 0.15}, head_gain=1.3, pitch_offset=0.03, mouth_gain=1.1),
    "sad": EmotionStyle({"frown": 0.45, "brow_raise": 0.15}, head_gain=0.6, head_speed=0.6, pitch_offset=-0.08,
                        blink_rate=13.0, gaze_pitch=-0.12, mouth_gain=0.8),
    "angry": EmotionStyle({"brow_lower": 0.6, "squint": 0.3, "lip_press": 0.1}, head_gain=1.5, head_speed=1.4,
                          pitch_offset=-0.03, blink_rate=15.0, mouth_gain=1.2),
    "fear": EmotionStyle({"brow_raise": 0.45, "lip_spread": 0.2}, head_gain=0.8, head_speed=1.8, blink_rate=24.0,
                         pitch_offset=-0.02),
    "surprise": EmotionStyle({"brow_raise": 0.75, "jaw_open": 0.12}, head_gain=1.1, pitch_offset=0.06,
                             blink_rate=12.0, gaze_pitch=0.04, mouth_gain=1.15),
    "disgust": EmotionStyle({"sneer": 0.5, "brow_lower": 0.3, "frown": 0.2}, head_gain=0.9, head_speed=0.8,
                            pitch_offset=-0.02),
}


def _ou(rng: np.random.Generator, n: int, tau_s: float, sigma: float) -> np.ndarray:
    """Ornstein-Uhlenbeck drift sampled at FPS (stationary std = sigma)."""
    a = np.exp(-1.0 / (tau_s * FPS))
    x = np.empty(n)
    x[0] = rng.normal(0, sigma)
    noise = rng.normal(0, sigma * np.sqrt(1 - a * a), n)
    for i in range(1, n):
        x[i] = a * x[i - 1] + noise[i]
    return x


def accent_track(energy: np.ndarray, f0: np.ndarray) -> np.ndarray:
    """Prosodic accents in [0, 1]: rises of loudness and pitch peaks (smoothed, normalised)."""
    e = gaussian_filter1d(np.log1p(energy / (energy.max() + 1e-8) * 50), 1.5)
    rise = np.clip(np.gradient(e), 0, None)
    f = np.where(np.isfinite(f0), f0, np.nan)
    if np.isfinite(f).sum() > 3:
        med = np.nanmedian(f)
        fz = np.nan_to_num((f - med) / (np.nanstd(f) + 1e-6), nan=0.0)
        rise = rise / (rise.max() + 1e-8) + 0.5 * np.clip(gaussian_filter1d(fz, 2.0), 0, None) / 2.0
    acc = gaussian_filter1d(rise, 2.0)
    return acc / (acc.max() + 1e-8)


def blink_track(rng: np.random.Generator, n: int, rate_per_min: float) -> np.ndarray:
    """Blink closure in [0, 1]: Poisson onsets (refractory 0.6 s), fast close, slower reopen."""
    out = np.zeros(n)
    t = rng.exponential(60.0 / rate_per_min) * rng.uniform(0.2, 1.0)
    shape = np.concatenate([np.linspace(0.35, 1.0, 2), [1.0], np.linspace(0.75, 0.1, 3)])  # ~240 ms
    while t * FPS < n:
        i = int(t * FPS)
        seg = shape[: n - i] * rng.uniform(0.9, 1.0)
        out[i : i + len(seg)] = np.maximum(out[i : i + len(seg)], seg)
        t += 0.6 + rng.exponential(60.0 / rate_per_min - 0.6)
    return out


def gaze_track(rng: np.random.Generator, n: int, style: EmotionStyle) -> np.ndarray:
    """Fixations (0.3-1.8 s) joined by fast saccades, biased to the camera; (pitch, yaw) radians."""
    gaze = np.zeros((n, 2))
    i = 0
    cur = np.array([style.gaze_pitch, 0.0])
    while i < n:
        dur = int(rng.uniform(0.3, 1.8) * FPS)
        target = np.array([style.gaze_pitch, 0.0]) + rng.normal(0, [0.06, 0.12])
        if rng.random() < 0.5:  # return towards the listener / camera
            target *= 0.3
        gaze[i : i + dur] = target
        if i > 0:  # one-frame saccade blend
            gaze[i] = 0.5 * (cur + target)
        cur = target
        i += dur
    return gaze


def lips_from_mouth(mouth: np.ndarray, gain: float) -> dict[str, np.ndarray]:
    """Mouth targets (jaw_open, lip_width, lip_closure in [0,1], lip_width 0.5 = rest) -> blendshapes."""
    jaw, width, closure = mouth[:, 0], mouth[:, 1], mouth[:, 2]
    return {
        "jaw_open": np.clip(jaw * gain * JAW_GAIN, 0, 1),
        "lip_spread": np.clip((width - 0.5) * 2.0, 0, 1),
        "lip_round": np.clip((0.5 - width) * 2.0, 0, 1),
        "lip_press": np.clip(closure, 0, 1),
    }


def motion_program(
    rng: np.random.Generator,
    mouth: np.ndarray,  # [T, 3] jaw_open, lip_width, lip_closure
    energy: np.ndarray,  # [T]
    f0: np.ndarray,  # [T], NaN where unvoiced
    emotion: str,
    neutral_pose: np.ndarray,  # [6] the portrait's own framing
) -> dict[str, np.ndarray]:
    """Ground-truth exp [T, E], pose [T, 6] (absolute: neutral composed with the program) and gaze [T, 2]."""
    n = mouth.shape[0]
    style = STYLES[emotion]
    exp = np.zeros((n, len(EXP_NAMES)))
    for name, v in style.exp_bias.items():
        exp[:, EXP[name]] += v * np.clip(1 + _ou(rng, n, 2.0, 0.15), 0.5, 1.5)
    for name, v in lips_from_mouth(mouth, style.mouth_gain).items():
        exp[:, EXP[name]] += v

    acc = accent_track(energy, f0)
    speech = gaussian_filter1d((energy > 0.1 * energy.max()).astype(float), 3)
    brow_pulse = gaussian_filter1d(np.where(acc > 0.6, acc, 0.0), 2.0)
    exp[:, EXP["brow_raise"]] += 0.5 * brow_pulse * rng.uniform(0.5, 1.0)

    blink = blink_track(rng, n, style.blink_rate)
    exp[:, EXP["blink_l"]] = np.maximum(exp[:, EXP["blink_l"]], blink)
    exp[:, EXP["blink_r"]] = np.maximum(exp[:, EXP["blink_r"]], np.roll(blink, rng.integers(0, 2)) * rng.uniform(0.9, 1.0))
    exp = np.clip(exp, 0, 1)

    g, s = style.head_gain, style.head_speed
    nod = gaussian_filter1d(acc, 2.5)
    pitch = style.pitch_offset + g * (0.12 * (nod - nod.mean()) + _ou(rng, n, 1.0 / s, 0.035)) - 0.02 * speech
    yaw = g * (_ou(rng, n, 1.5 / s, 0.07) + 0.04 * (nod - nod.mean()) * rng.choice([-1, 1]))
    roll = g * _ou(rng, n, 1.5 / s, 0.025)
    ypr = np.clip(np.stack([yaw, pitch, roll], 1), -MAX_ANGLE, MAX_ANGLE)
    # the program's rotation acts in the head's own frame, after the portrait's neutral orientation
    rot = rotvec_to_matrix(neutral_pose[:3]) @ euler_to_matrix(ypr)
    dist = np.abs(neutral_pose[5]) + 1e-6
    trans = neutral_pose[3:] + dist * np.stack(
        [_ou(rng, n, 3.0, 0.012) - 0.08 * yaw, _ou(rng, n, 3.0, 0.008) - 0.05 * pitch, _ou(rng, n, 4.0, 0.02)], 1
    )
    pose = np.concatenate([matrix_to_rotvec(rot), trans], 1)
    gaze = gaze_track(rng, n, style)
    return {"exp": exp.astype(np.float32), "pose": pose.astype(np.float32), "gaze": gaze.astype(np.float32)}
