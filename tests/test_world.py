"""The synthetic world: dataset determinism, held-out splits, clip consistency, motion statistics."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from sandbox.constants import SAMPLES_PER_FRAME
from sandbox.data.clips import ClipStore
from sandbox.errors import ConfigError
from sandbox.face.head_model import EXP_NAMES
from sandbox.world.dataset import WorldConfig, build_dataset, make_clip, plan_clips
from sandbox.world.motion import blink_track, motion_program

TINY = WorldConfig(n_clips=5, size=48, seed=3, min_seconds=1.0, max_seconds=2.0)


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    build_dataset(out, TINY, workers=1, progress=False)
    return ClipStore(out)


def test_clips_are_consistent(tiny_store):
    for split in ("train", "val", "test"):
        for clip in tiny_store.clips(split):
            t = clip.num_frames
            assert clip.frames.shape == (t, 48, 48, 3) and clip.frames.dtype == np.uint8
            assert len(clip.audio) == t * SAMPLES_PER_FRAME
            assert np.abs(clip.audio).max() > 0.01  # speech, not silence
            assert clip.gt["pose"].shape == (t, 6)
            assert clip.gt["exp"].shape == (t, len(EXP_NAMES))
            assert clip.gt["gaze"].shape == (t, 2)
            assert clip.gt["lmk2d"].shape == (t, 478, 2) and clip.gt["lmk3d"].shape == (t, 478, 3)
            assert clip.gt["visemes"].shape == (t,) and clip.gt["mouth"].shape == (t, 3)
            assert clip.meta["split"] == split
            # frames really change over the clip (the head talks)
            assert np.abs(np.diff(clip.frames.astype(np.float32), axis=0)).mean() > 0.1


def test_dataset_is_deterministic_by_seed(tiny_store):
    plan = plan_clips(TINY)[0]
    again = make_clip(plan, TINY)
    first = tiny_store.load(plan.clip_id)
    np.testing.assert_array_equal(again.frames, first.frames)
    np.testing.assert_allclose(again.gt["pose"], first.gt["pose"], atol=1e-6)
    other = make_clip(plan, WorldConfig(**{**TINY.__dict__, "seed": TINY.seed + 1}))
    assert other.meta["text"] != first.meta["text"] or not np.array_equal(other.frames, first.frames)


def test_splits_hold_out_voice_identity_and_sentences():
    plans = plan_clips(WorldConfig(n_clips=60, seed=1))
    by = {s: [p for p in plans if p.split == s] for s in ("train", "val", "test")}
    assert all(by.values())
    train_voices = {p.voice for p in by["train"] + by["val"]}
    assert not train_voices & {p.voice for p in by["test"]}
    assert {p.identity for p in by["test"]} == {WorldConfig().n_identities - 1}
    assert WorldConfig().n_identities - 1 not in {p.identity for p in by["train"] + by["val"]}


def test_resume_and_conflicting_settings(tiny_store, tmp_path):
    root = tiny_store.root
    meta_before = (root / tiny_store.ids("train")[0] / "meta.json").stat().st_mtime
    build_dataset(root, TINY, workers=1, progress=False)  # all complete: nothing is rebuilt
    assert (root / tiny_store.ids("train")[0] / "meta.json").stat().st_mtime == meta_before
    assert not list(root.glob("*.tmp"))
    with pytest.raises(ConfigError, match="other settings"):
        build_dataset(root, WorldConfig(n_clips=6, size=48), workers=1, progress=False)
    assert json.loads((root / "index.json").read_text())["splits"]["test"]


def test_blink_rate_is_human():
    rng = np.random.default_rng(0)
    n = 25 * 60 * 10  # ten minutes
    closed = blink_track(rng, n, 17.0) > 0.5
    onsets = np.count_nonzero(closed[1:] & ~closed[:-1])
    assert 12 <= onsets / 10 <= 22


def test_motion_program_follows_mouth_and_emotion():
    rng = np.random.default_rng(0)
    n = 250
    mouth = np.zeros((n, 3))
    mouth[:, 1] = 0.5
    mouth[100:120, 0] = 0.9
    energy = np.r_[np.zeros(50), np.ones(150), np.zeros(50)]
    f0 = np.full(n, np.nan)
    pose0 = np.array([0.1, 0.0, 0.0, 0.0, 0.0, 50.0])
    out = motion_program(rng, mouth, energy, f0, "happy", pose0)
    jaw = out["exp"][:, EXP_NAMES.index("jaw_open")]
    assert jaw[100:120].mean() > jaw[:90].mean() + 0.5
    assert out["exp"][:, EXP_NAMES.index("smile")].mean() > 0.3
    sad = motion_program(np.random.default_rng(0), mouth, energy, f0, "sad", pose0)
    assert sad["exp"][:, EXP_NAMES.index("smile")].mean() < 0.05
    assert np.abs(np.degrees(out["pose"][:, :3] - pose0[:3])).max() < 30


def test_workers_leave_a_numba_cache_later_processes_can_load(tmp_path):
    """Two forked workers that each compiled librosa's kernels wrote one numba cache from both, and the
    next process crashed in librosa.pyin (a segfault). Fresh processes, an empty cache directory."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    build = ("from sandbox.world.dataset import WorldConfig, build_dataset; "
             f"build_dataset({str(tmp_path / 'data')!r}, WorldConfig(n_clips=4, size=48, min_seconds=1.0, max_seconds=2.0), workers=2, progress=False)")
    load = ("import numpy as np; from sandbox.world.speech import prosody_track; "
            "print(np.isfinite(prosody_track(np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32))['energy']).all())")
    for code in (build, load):
        done = subprocess.run([sys.executable, "-c", "import sandbox; " + code], env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "True"
