"""data=video: a folder of talking-head videos -> the clip format (sandbox.data.videos).

The folder is made here from two clips of the synthetic world (its renderer and eSpeak voice), written
with PyAV at frame rates and sample rates other than 25 fps / 16 kHz, placed off-centre in larger frames,
in mp4 / mkv / mov: four usable speakers (three in subfolders, one by file-name prefix), plus a video
without audio, one without a face, a truncated file and one too short. Checked: the speaker split, the
skip reasons, the clips' frames / audio / analyser motion against the world's truth, the per-video
cache on a rerun, and (slow) a whole `rep=3dmm gen=flow data=video` run.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from sandbox.data.videos import VideoSettings, assign_splits, clip_ranges, speaker_of
from sandbox.errors import ConfigError, InputFileError
from sandbox.face.head_model import EXP_NAMES
from sandbox.run import compose_config, run_pipeline

JAW = EXP_NAMES.index("jaw_open")


def _resample_frames(frames: np.ndarray, fps: float) -> np.ndarray:
    """25 fps frames shown at ``fps``: frame j is the 25 fps frame nearest to j / fps."""
    n = int(len(frames) / 25 * fps)
    return frames[np.minimum(np.floor(np.arange(n) * 25 / fps + 0.5).astype(int), len(frames) - 1)]


def _place(frames: np.ndarray, hw: tuple[int, int], xy: tuple[int, int]) -> np.ndarray:
    out = np.full((len(frames), *hw, 3), 90, np.uint8)
    out[:, xy[1] : xy[1] + frames.shape[1], xy[0] : xy[0] + frames.shape[2]] = frames
    return out


def _write(path: Path, frames: np.ndarray, audio16k: np.ndarray | None, fps: int, sr: int, xy=(0, 0), hw=None,
           scale: int = 1):
    """An mp4 / mkv / mov of world frames (``scale`` x larger: H.264's half-resolution colour blurs 128 px
    lips, which halves the analyser's jaw correlation whatever reads the file) at ``fps`` and ``sr``."""
    import cv2
    import librosa

    from sandbox.video import write_mp4

    frames = _resample_frames(frames, fps)
    if scale > 1:
        frames = np.stack([cv2.resize(f, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) for f in frames])
    if hw is not None:
        frames = _place(frames, hw, xy)
    audio = None if audio16k is None else librosa.resample(audio16k, orig_sr=16000, target_sr=sr)
    write_mp4(path, frames, audio, fps=fps, sr=sr)


@pytest.fixture(scope="module")
def world_clips():
    from sandbox.world.dataset import WorldConfig, make_clip, plan_clips

    cfg = WorldConfig(n_clips=10, size=128, min_seconds=2.2, max_seconds=2.6)
    plans = plan_clips(cfg)
    a = make_clip(plans[0], cfg)
    b = make_clip(next(p for p in plans if p.identity != plans[0].identity), cfg)
    return a, b


@pytest.fixture(scope="module")
def folder(tmp_path_factory, world_clips):
    a, b = world_clips
    root = tmp_path_factory.mktemp("videos")
    _write(root / "alice" / "a1.mp4", a.frames, a.audio, 30, 22050, xy=(140, 60), hw=(352, 448), scale=2)
    _write(root / "bob" / "b1.mkv", b.frames, b.audio, 24, 44100, xy=(32, 32), hw=(320, 320), scale=2)
    _write(root / "carol_01.mp4", a.frames[:, :, ::-1], a.audio, 30, 22050)  # speaker by file-name prefix
    _write(root / "dave" / "d1.mov", b.frames, b.audio, 30, 48000, xy=(80, 16), hw=(288, 384), scale=2)
    _write(root / "erin" / "silent_film.mp4", a.frames, None, 30, 22050)
    rng = np.random.default_rng(0)
    _write(root / "erin" / "noise.mp4", rng.integers(0, 255, a.frames.shape, dtype=np.uint8), a.audio, 25, 16000)
    (root / "frank").mkdir()
    (root / "frank" / "broken.mp4").write_bytes((root / "alice" / "a1.mp4").read_bytes()[:4000])
    _write(root / "gina" / "short.mp4", a.frames[:30], a.audio[: 30 * 640], 30, 22050)
    (root / "notes.txt").write_text("not a video")
    return root


SKIPS = {"erin/silent_film.mp4": "no audio track", "erin/noise.mp4": "a face in only",
         "frank/broken.mp4": "cannot be opened", "gina/short.mp4": "too short"}


def _data(root: Path, cache: Path, out: Path, *extra: str):
    return run_pipeline(compose_config(["rep=3dmm", "gen=flow", "preset=smoke", "stage=data", "data=video",
                                        f"data.root={root}", f"paths.cache={cache}", f"out={out}", *extra]))


def test_speaker_names_and_split_rules():
    assert speaker_of("alice/a1.mp4") == "alice" and speaker_of("alice/x/y.mov") == "alice"
    assert speaker_of("bob_03.mp4") == "bob" and speaker_of("carol.mkv") == "carol"
    names = [f"s{i}" for i in range(10)]
    split = assign_splits(names)
    assert split == assign_splits(names[::-1])  # independent of the order the files come in
    assert sorted(split.values()).count("test") == 1 and sorted(split.values()).count("val") == 1
    named = assign_splits(names, val_speakers=["s3"], test_speakers=["s1", "s2"])
    assert [s for s in names if named[s] == "test"] == ["s1", "s2"] and [s for s in names if named[s] == "val"] == ["s3"]
    with pytest.raises(InputFileError, match="at least 3 speakers"):
        assign_splits(["a", "b"])
    with pytest.raises(ConfigError, match="no usable video"):
        assign_splits(names, test_speakers=["zed"])


def test_clip_ranges_bridge_short_gaps_and_cut_long_stretches():
    s = VideoSettings(min_seconds=2.0, max_seconds=3.0, max_gap_seconds=0.4)
    found = np.ones(200, bool)
    found[80:85] = False  # 0.2 s: bridged
    found[120:140] = False  # 0.8 s: ends a stretch
    # 0..120 -> 75 + 45 (1.8 s: dropped); 140..200 -> 60 (2.4 s: kept)
    assert clip_ranges(found, s) == [(0, 75), (140, 200)]
    assert clip_ranges(np.zeros(100, bool), s) == []


def test_video_folder_to_clips(folder, world_clips, tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="sandbox")
    a, b = world_clips
    cache = tmp_path / "cache"
    ctx = _data(folder, cache, tmp_path / "run1", "data.workers=2")
    store = ctx.results["data"]
    info = store.meta["videos"]
    # skipped, each with its reason, logged one line each and summarised
    assert set(info["skipped"]) == set(SKIPS)
    for rel, why in SKIPS.items():
        assert info["skipped"][rel].startswith(why), (rel, info["skipped"][rel])
        assert f"{rel}: {info['skipped'][rel]}" in caplog.text
    assert info["skip_kinds"] == {"no audio": 1, "no face": 1, "corrupt": 1, "too short": 1}
    assert "4 video(s) skipped" in caplog.text and "8 found, 4 used" in caplog.text
    assert str(folder) not in info["skipped"]["frank/broken.mp4"]  # one line, the file named once
    # split by speaker: each speaker (and so each video) in exactly one split, every split non-empty
    speakers = {s: {store.load(c, frames=False).meta["speaker"] for c in store.ids(s)} for s in ("train", "val", "test")}
    assert all(speakers.values()) and set().union(*speakers.values()) == {"alice", "bob", "carol", "dave"}
    assert sum(len(v) for v in speakers.values()) == 4  # disjoint
    assert {s: sorted(v) for s, v in speakers.items()} == info["speakers"]
    # contents: 25 fps frames for the whole duration, 16 kHz audio in sync, the analyser's motion
    clips = {store.load(c).meta["video"]: store.load(c) for s in ("train", "val", "test") for c in store.ids(s)}
    assert set(clips) == {"alice/a1.mp4", "bob/b1.mkv", "carol_01.mp4", "dave/d1.mov"}  # one clip each (<= 3 s)
    for rel, world in (("alice/a1.mp4", a), ("bob/b1.mkv", b), ("dave/d1.mov", b)):
        c = clips[rel]
        n = c.num_frames
        assert abs(n - world.num_frames) <= 1, (rel, n, world.num_frames)
        assert c.frames.shape == (n, 64, 64, 3) and c.frames.dtype == np.uint8
        assert len(c.audio) == n * 640
        ref = world.audio[: len(c.audio)]
        assert np.corrcoef(c.audio, ref)[0, 1] > 0.95, rel  # resampled to 16 kHz, no offset
        shapes = {k: v.shape for k, v in c.gt.items()}
        assert shapes == {"pose": (n, 6), "exp": (n, 12), "gaze": (n, 2), "id_coeff": (10,),
                          "lmk3d": (n, 478, 3), "lmk2d": (n, 478, 2)}  # fmt: skip
        assert all(np.isfinite(v).all() for v in c.gt.values())
        # the analyser's jaw follows the world's truth, best without a lag (frames picked by timestamp)
        jaw = {lag: np.corrcoef(c.gt["exp"][max(0, lag) : n + min(0, lag), JAW],
                                world.gt["exp"][max(0, -lag) : n - max(0, lag), JAW])[0, 1] for lag in (-2, 0, 2)}
        assert jaw[0] > 0.5 and jaw[0] > max(jaw[-2], jaw[2]), (rel, jaw)
        assert c.meta["fps"] == 25 and c.meta["face_found"] > 0.9 and c.meta["split"] in ("train", "val", "test")
    # the crop: 1.6 x the face box (the world's frames are 1.6 x its box), around where the face was placed
    x0, y0, side = clips["alice/a1.mp4"].meta["crop"]
    assert 200 < side < 320 and abs(x0 + side / 2 - (140 + 128)) < 24 and abs(y0 + side / 2 - (60 + 128)) < 24
    assert not [p for p in cache.rglob("*.tmp*")]  # nothing half-written

    # a video added: only it is analysed, the others come from the per-video cache
    _write(folder / "alice" / "a2.mp4", b.frames[:, :, ::-1], b.audio, 30, 22050, xy=(8, 8), hw=(144, 144))
    import sandbox.data.videos as videos

    calls = []
    real = videos.analyse_video
    monkeypatch.setattr(videos, "analyse_video", lambda path, *args: calls.append(path.name) or real(path, *args))
    try:
        ctx2 = _data(folder, cache, tmp_path / "run2", "data.workers=1")
        assert ctx2.events[0][:2] == ("build", "data") and calls == ["a2.mp4"]
        store2 = ctx2.results["data"]
        alice = [c for s in ("train", "val", "test") for c in store2.ids(s)
                 if store2.load(c, frames=False).meta["speaker"] == "alice"]  # fmt: skip
        assert len(alice) == 2 and store2.meta["videos"]["speakers"] == info["speakers"]
        # unchanged folder: the dataset itself is reused
        ctx3 = _data(folder, cache, tmp_path / "run3", "data.workers=1")
        assert ctx3.events[0][:2] == ("reuse", "data") and calls == ["a2.mp4"]
    finally:
        (folder / "alice" / "a2.mp4").unlink()


@pytest.mark.slow
def test_rep_3dmm_gen_flow_trains_on_a_video_folder(folder, tmp_path):
    out = tmp_path / "run"
    from sandbox.run import main

    assert main(["rep=3dmm", "gen=flow", "data=video", f"data.root={folder}", "preset=smoke",
                 f"paths.cache={tmp_path / 'cache'}", f"out={out}"]) == 0  # fmt: skip
    assert list((out / "samples").glob("*.mp4")) and (out / "report.md").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["rows"]["run"]["nfe"] > 0 and "ground_truth" in metrics["rows"]
