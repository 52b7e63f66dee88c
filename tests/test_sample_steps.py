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
