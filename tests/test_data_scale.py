"""experiments.data_scale on two tiny worlds: the extra voices reach the training clips only, both worlds
hold the same test clips, and the regressor values are kept and reused."""
from __future__ import annotations

import json

import numpy as np

from experiments.data_scale import EXTRA_VOICES, build_world, diff_line, extra_voices, world_values
from sandbox.data.clips import ClipStore
from sandbox.world.dataset import WorldConfig
from sandbox.world.speech import VOICES

TINY = WorldConfig(n_clips=12, size=48, min_seconds=2.6, max_seconds=3.2)  # > the 60-frame windows


def test_extra_voices_go_before_the_held_out_ones_and_are_restored():
    with extra_voices(3) as voices:
        assert len(voices) == len(VOICES) + 3
        assert voices[-2:] == VOICES[-2:]
        assert [v.id for v in voices[-5:-2]] == [v for v, _, _ in EXTRA_VOICES[:3]]
    import sandbox.world.speech as speech

    assert speech.VOICES == VOICES


def test_worlds_share_test_clips_and_values_are_kept(tmp_path):
    stores = {w: ClipStore(build_world(w, TINY, tmp_path)) for w in ("12 voices", "24 voices")}
    a, b = (stores[w] for w in ("12 voices", "24 voices"))
    assert a.splits["test"] == b.splits["test"]
    for cid in a.splits["test"]:
        ca, cb = a.load(cid, frames=False), b.load(cid, frames=False)
        assert ca.meta["voice"] == cb.meta["voice"] and ca.meta["text"] == cb.meta["text"]
        np.testing.assert_array_equal(ca.audio, cb.audio)
    extra = {f"extra {v}" for v, _, _ in EXTRA_VOICES}
    train_voices = {b.load(c, frames=False).meta["voice"] for c in b.splits["train"]}
    assert train_voices & extra, "the 24-voice world's training clips use none of the extra voices"
    assert not {a.load(c, frames=False).meta["voice"] for c in a.splits["train"]} & extra

    vals = world_values("12 voices", [4], 2, steps=5, cfg=TINY, root=tmp_path)
    assert set(vals) == {"4/0", "4/1"}
    assert set(vals["4/0"]) == {"val", "test"} and len(vals["4/0"]["test"]) == len(a.splits["test"])
    kept = json.loads((tmp_path / "12_voices" / "regressors.json").read_text())
    assert set(kept) == {"4/0/5", "4/1/5"}
    assert world_values("12 voices", [4], 2, steps=5, cfg=TINY, root=tmp_path) == vals  # read back, not retrained
    assert diff_line("x", [[1.0, 1.2]], [[0.5, 0.7]]).startswith("- x: +0.500 [")
