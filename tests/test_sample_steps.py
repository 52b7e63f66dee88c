"""experiments.sample_steps keeps each (split, steps) measure in the run directory and samples only what is new."""
from __future__ import annotations

import json

import numpy as np
from test_gen_jaw import ReplayRun  # tests/ is on sys.path under pytest (rootdir-less test modules)

from experiments import sample_steps


class StepsRun(ReplayRun):
    """Replays real motion scaled by steps / 10, counting the samplings per number of steps."""

    def __init__(self):
        super().__init__()
        self.calls: dict[int, int] = {}

    def sample(self, c, seed, audio_scale=None, steps=None):
        self.calls[steps] = self.calls.get(steps, 0) + 1
        self.gain = steps / 10
        return super().sample(c, seed, audio_scale, steps)


def test_run_values_measures_each_setting_once_and_follows_the_sampler(tmp_path, monkeypatch):
    runs = []
    monkeypatch.setattr(sample_steps, "RunMotion", lambda d: runs.append(StepsRun()) or runs[-1])
    kept = sample_steps.run_values(tmp_path, [10, 20])
    assert set(kept) == {"val/10", "val/20", "test/10", "test/20"}
    assert runs[0].calls == {10: 3, 20: 3}  # 2 val clips + 1 test clip per setting
    np.testing.assert_allclose(kept["val/10"]["spread_mouth"], 1.0, rtol=1e-6)  # the real amplitude
    np.testing.assert_allclose(kept["val/20"]["spread_mouth"], 2.0, rtol=1e-6)
    assert json.loads((tmp_path / "sample_steps.json").read_text()) == kept
    again = sample_steps.run_values(tmp_path, [10, 20, 40])
    assert runs[-1].calls == {40: 3}  # only the new setting is sampled
    assert again["val/10"] == kept["val/10"] and "test/40" in again


class ScaleRun(ReplayRun):
    """Replays real motion scaled by the audio guidance scale, recording the scales it was sampled at."""

    def __init__(self):
        super().__init__()
        self.scales: list = []

    def sample(self, c, seed, audio_scale=None, steps=None):
        self.scales.append((audio_scale, steps))
        self.gain = audio_scale
        return super().sample(c, seed, audio_scale, steps)


def test_run_values_screens_the_audio_guidance_in_its_own_file(tmp_path, monkeypatch):
    runs = []
    monkeypatch.setattr(sample_steps, "RunMotion", lambda d: runs.append(ScaleRun()) or runs[-1])
    kept = sample_steps.run_values(tmp_path, [2.0, 3.0], knob="audio_scale")
    assert set(kept) == {"val/2", "val/3", "test/2", "test/3"}
    assert sorted(set(runs[0].scales)) == [(2.0, None), (3.0, None)]  # the scale reaches the sampler, steps do not
    np.testing.assert_allclose(kept["val/3"]["jaw_std_ratio"], 3.0, rtol=1e-6)
    assert (tmp_path / "sample_audio_scale.json").is_file() and not (tmp_path / "sample_steps.json").exists()
