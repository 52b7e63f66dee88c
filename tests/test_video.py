"""sandbox.video: H.264/AAC mp4 round trip."""
from __future__ import annotations

import numpy as np
import pytest

from sandbox.errors import InputFileError
from sandbox.video import read_video, write_mp4


def _clip(t: int = 15, h: int = 32, w: int = 48) -> tuple[np.ndarray, np.ndarray]:
    x = np.linspace(0, 255, w)[None, None, :, None]
    frames = np.broadcast_to(x, (t, h, w, 3)).astype(np.uint8).copy()
    frames[:, :, :, 1] = np.arange(t)[:, None, None] * 10  # a per-frame change the codec must keep
    n = t * 640
    audio = (0.4 * np.sin(2 * np.pi * 330 * np.arange(n) / 16000)).astype(np.float32)
    return frames, audio


def test_round_trip_frames_and_audio(tmp_path):
    frames, audio = _clip()
    path = write_mp4(tmp_path / "a.mp4", frames, audio, min_side=0)
    assert not list(tmp_path.glob("*.tmp*")), "temporary file left behind"
    back, fps, aud = read_video(path)
    assert back.shape == frames.shape and back.dtype == np.uint8
    assert fps == pytest.approx(25.0)
    assert np.abs(back.astype(int) - frames).mean() < 4  # lossy, but close
    assert np.abs(back[:, :, :, 1].mean((1, 2)) - np.arange(15) * 10).max() < 4  # frame order kept
    assert aud is not None and abs(len(aud) - len(audio)) <= 1024
    n = min(len(aud), len(audio))
    assert np.corrcoef(aud[1000 : n - 1000], audio[1000 : n - 1000])[0, 1] > 0.95


def test_odd_sizes_are_padded_and_float_frames_accepted(tmp_path):
    frames, _ = _clip(t=5, h=31, w=33)
    back, _, aud = read_video(write_mp4(tmp_path / "b.mp4", frames.astype(np.float32) / 255, min_side=0))
    assert back.shape == (5, 32, 34, 3)  # yuv420p needs even sizes
    assert aud is None
    assert np.abs(back[:, :31, :33].astype(int) - frames).mean() < 4


def test_small_frames_are_written_upscaled(tmp_path):
    frames, _ = _clip(t=5, h=32, w=48)
    back, _, _ = read_video(write_mp4(tmp_path / "s.mp4", frames, min_side=64))
    assert back.shape == (5, 64, 96, 3)  # the smallest integer factor reaching 64
    down = back.reshape(5, 32, 2, 48, 2, 3).mean((2, 4))
    assert np.abs(down - frames).mean() < 4
    assert read_video(write_mp4(tmp_path / "t.mp4", frames, min_side=32))[0].shape == frames.shape


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        read_video(tmp_path / "nope.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(InputFileError):
        read_video(tmp_path / "junk.mp4")
