"""experiments.run_strip on a stand-in run directory: the same frames of every row, cropped at the mouth box."""
from __future__ import annotations

import numpy as np
import pytest

from experiments import run_strip
from sandbox.video import write_mp4


def _run_dir(tmp_path, rows: dict[str, int]):
    """A run whose row videos are flat grey at the level given (samples/ holds the generated one)."""
    for row, level in rows.items():
        d = tmp_path / ("samples" if row == "run" else f"eval/{row}")
        d.mkdir(parents=True, exist_ok=True)
        frames = np.full((20, 64, 64, 3), level, np.uint8)
        frames[:, :, :, 0] = np.arange(20, dtype=np.uint8)[:, None, None] * 10  # red counts the frame
        write_mp4(d / "c0.mp4", frames, fps=25)
    return tmp_path


def test_strip_rows_show_the_same_frames_of_each_row(tmp_path):
    run = _run_dir(tmp_path, {"run": 60, "ground_truth": 200})
    img = run_strip.strip(run, "c0", ["ground_truth", "run"], n_frames=5, tile_w=40)
    tile_h = img.shape[0] // 2
    assert img.shape[1] == 6 * 40 and img.shape[0] == 2 * tile_h
    tiles = img.reshape(2, tile_h, 6, 40, 3)[:, :, 1:]  # the label column dropped
    red = tiles[..., 0].mean(axis=(1, 3))  # [row, frame]
    assert np.all(np.diff(red, axis=1) > 30)  # frames 0, 5, 10, 14, 19 in order (lossy mp4: loose)
    np.testing.assert_allclose(red[0], red[1], atol=8)  # the same frames in both rows
    assert tiles[0, ..., 1].mean() > tiles[1, ..., 1].mean() + 100  # each row its own video


def test_missing_row_names_the_file(tmp_path):
    run = _run_dir(tmp_path, {"run": 60})
    with pytest.raises(SystemExit, match="reconstruction"):
        run_strip.strip(run, "c0", ["reconstruction", "run"], n_frames=3)
