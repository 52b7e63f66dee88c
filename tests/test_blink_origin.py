"""experiments.blink_origin's per-clip lid measures on stand-in runs: one whose 'generator' replays the
clip's real motion (blinks decided by the input), one that blinks at times drawn from its seed."""
from __future__ import annotations

import numpy as np
import pytest

from experiments.blink_origin import lid_measures
from experiments.gen_jaw import lid_line

N = 400  # frames: 16 s, six blinks among 43 slots 9 frames apart (blink_rate merges closer ones)
SLOTS = np.arange(10, N - 10, 9)


def blink_track(starts) -> np.ndarray:
    b = np.zeros(N)
    for s in starts:
        b[s : s + 4] = [0.5, 1.0, 1.0, 0.5]
    return b


class StandInRun:
    """Clips whose motion carries the lid closure linearly (plus noise dimensions); ``sample`` replays
    the clip's motion, or with ``noise_blinks`` draws 6 blink times from its seed."""

    def __init__(self, noise_blinks: bool):
        rng = np.random.default_rng(0)
        self.splits = {"train": [f"t{i}" for i in range(6)], "val": ["v0", "v1", "v2"]}
        self.clips = {}
        for cid in [c for ids in self.splits.values() for c in ids]:
            blink = blink_track(rng.choice(SLOTS, 6, replace=False))
            other = rng.normal(size=(N, 2))
            self.clips[cid] = {"motion": np.c_[other, 3.0 * blink + 0.05 * rng.normal(size=N)], "blink": blink}
        self.noise_blinks = noise_blinks

    def clip(self, cid):
        return self.clips[cid]

    def sample(self, c, seed, audio_scale=None):
        if not self.noise_blinks:
            return c["motion"]
        rng = np.random.default_rng(1000 + seed + int(1e6 * abs(c["motion"][0, 0])))
        blink = blink_track(rng.choice(SLOTS, 6, replace=False))
        return np.c_[c["motion"][:, :2], 3.0 * blink]


def test_replayed_motion_blinks_where_the_clip_does():
    run = StandInRun(noise_blinks=False)
    out = lid_measures(run, run.splits["val"], lid_line(run))
    assert np.mean(out["corr_real"]) > 0.95 and np.mean(out["corr_samples"]) == pytest.approx(1.0)
    assert out["rate_gen"] == pytest.approx(out["rate_real"])
    assert np.mean(out["rate_real"]) == pytest.approx(6 / (N / 25) * 60, rel=0.1)  # 6 blinks in 16 s


def test_blinks_drawn_from_the_seed_follow_neither_the_clip_nor_each_other():
    run = StandInRun(noise_blinks=True)
    out = lid_measures(run, run.splits["val"], lid_line(run))
    assert abs(np.mean(out["corr_real"])) < 0.4 and abs(np.mean(out["corr_samples"])) < 0.4
    assert np.mean(out["rate_gen"]) == pytest.approx(np.mean(out["rate_real"]), rel=0.1)  # same rate, other times
