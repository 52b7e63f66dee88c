"""experiments.gen_jaw's measure on a stand-in run whose 'generator' replays (shifted, scaled) real motion."""
from __future__ import annotations

import numpy as np
import pytest

from experiments.gen_jaw import measure


class ReplayRun:
    """Clips whose motion carries the jaw linearly; sample() returns it delayed by ``delay`` frames and
    scaled by ``gain`` (around the clip mean)."""

    def __init__(self, delay: int = 0, gain: float = 1.0, n: int = 120, lid: bool = True):
        rng = np.random.default_rng(0)
        self.splits = {"train": [f"t{i}" for i in range(6)], "val": ["v0", "v1"], "test": ["s0"]}
        self.clips = {}
        for cid in [c for ids in self.splits.values() for c in ids]:
            jaw = np.convolve(rng.random(n + 8), np.ones(5) / 5, "same")[4:-4]
            other = rng.normal(size=(n, 3))
            blink = np.zeros(n)
            for start in range(10, n - 5, 30):  # a 4-frame blink every 30 frames: 50 per minute at 25 fps
                blink[start : start + 4] = [0.5, 1.0, 1.0, 0.5]
            motion = np.c_[other[:, :1], 2.0 * jaw[:, None] + 0.1 * other[:, 1:2], other[:, 2:] + 5.0 * lid * blink[:, None]]
            head = np.c_[0.3 * other[:, :1], -0.1 * other[:, :1], 0.0 * other[:, :1]]  # the rotation lives in dim 0
            self.clips[cid] = {"motion": motion, "jaw": jaw, "blink": blink, "head": head}
        self.delay, self.gain = delay, gain
        self.parts = {"head": slice(0, 1), "mouth": slice(1, 3)}

    def clip(self, cid):
        return self.clips[cid]

    def sample(self, c, seed, audio_scale=None, steps=None):
        m = np.roll(c["motion"], self.delay, axis=0)
        return m.mean(0) + self.gain * (m - m.mean(0))


def test_replayed_real_motion_scores_like_real_motion():
    out = measure(ReplayRun(), ["val", "test"])
    assert out["clips"] == 3
    assert out["jaw_corr0_real"] > 0.8  # the readout finds the jaw
    assert out["jaw_corr0_gen"] == pytest.approx(out["jaw_corr0_real"])
    assert out["jaw_lag_gen"] == 0 and out["jaw_std_ratio"] == pytest.approx(1.0)
    assert out["spread_head"] == pytest.approx(1.0) and out["spread_mouth"] == pytest.approx(1.0)
    assert out["blink_rate_real"] == pytest.approx(50.0, rel=0.1) and out["blink_rate_gen"] == out["blink_rate_real"]
    assert out["motion_fd"] == pytest.approx(0.0, abs=1e-4)


def test_a_late_louder_generator_shows_its_lag_and_amplitude():
    out = measure(ReplayRun(delay=3, gain=1.5), ["val", "test"])
    assert out["jaw_lag_gen"] == 3  # positive = the generated jaw is late
    assert out["spread_head"] == pytest.approx(1.5, rel=0.05) and out["spread_mouth"] == pytest.approx(1.5, rel=0.05)
    assert out["jaw_best_gen"] == pytest.approx(out["jaw_corr0_real"], abs=0.05)
    assert out["jaw_corr0_gen"] < out["jaw_best_gen"] - 0.2
    assert out["jaw_std_ratio"] == pytest.approx(1.5)
    assert out["motion_fd"] > 0.1  # 1.5x the spread is not the real distribution


def test_blink_code_share_counts_frames_that_reach_a_closed_lid():
    real = measure(ReplayRun(), ["val", "test"])
    assert 0.03 < real["blink_code_real"] < 0.2  # 2 to 4 closed-lid frames in every 30
    assert real["blink_code_gen"] == pytest.approx(real["blink_code_real"])
    damped = measure(ReplayRun(gain=0.3), ["val", "test"])  # the blinks' codes a third as deep
    assert damped["blink_code_gen"] < real["blink_code_real"] / 5
    assert damped["blink_code_real"] == real["blink_code_real"]


def test_a_code_without_the_lid_gets_no_blink_measures():
    out = measure(ReplayRun(lid=False), ["val", "test"])  # the closed frames' mean differs from the rest by noise
    assert not any(k.startswith("blink_") for k in out)
    assert "jaw_corr0_gen" in out


def test_head_and_principal_spreads_follow_the_generated_amplitude():
    real = measure(ReplayRun(), ["val", "test"], pcs=3)
    assert real["head_std_ratio"] == pytest.approx(1.0) and real["head_r2_real"] == pytest.approx(1.0)
    for i in (1, 2, 3):  # replayed real motion: each direction as wide as in the real clips, up to clip scatter
        assert real[f"spread_pc{i}"] == pytest.approx(1.0, abs=0.15)
    loud = measure(ReplayRun(gain=1.5), ["val", "test"], pcs=3, per_clip=True)
    assert loud["head_std_ratio"] == pytest.approx(1.5)
    assert [loud[f"spread_pc{i}"] / real[f"spread_pc{i}"] for i in (1, 2, 3)] == pytest.approx([1.5] * 3)
    assert len(loud["per_clip"]["spread_pc1"]) == loud["clips"] and "spread_pc4" not in loud


def test_principal_directions_come_largest_variance_first():
    from experiments.gen_jaw import principal_directions

    x = np.random.default_rng(1).normal(size=(2000, 3)) * [0.5, 3.0, 1.0]
    v = principal_directions([x[:1000], x[1000:]], 2)
    assert v.shape == (3, 2)
    assert abs(v[1, 0]) == pytest.approx(1.0, abs=0.01) and abs(v[2, 1]) == pytest.approx(1.0, abs=0.01)
