"""python -m sandbox.bench: every contender samples, NFE is counted per window, the table is written."""
from __future__ import annotations

import numpy as np
import pytest

from sandbox.bench import main


def test_bench_table_counts_calls_per_window(tmp_path):
    out = tmp_path / "bench.md"
    # 3 s at 25 fps with 50-frame windows = 2 windows
    text = main(["--seconds", "3", "--hidden", "16", "--depth", "1", "--heads", "2", "--flow-nfe", "2", "5",
                 "--ref-nfe", "5", "--only-transformer", "--threads", "1", "--renderer-sizes", "--out", str(out)])
    assert out.read_text() == text
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in text.splitlines() if line.startswith("| ")}
    assert int(rows["flow, Euler NFE 2"][1]) == 2 * 2 and int(rows["flow, Euler NFE 5"][1]) == 5 * 2
    assert int(rows["diffusion x0, DDIM 50"][1]) == 50 * 2
    assert int(rows["diffusion x0, DDPM ancestral 500"][1]) == 500 * 2
    # flow guides audio + emotion (3 batched branches); JoyVASA's diffusion the audio only (2)
    assert int(rows["flow, Euler NFE 5"][2]) == 3 and int(rows["diffusion x0, DDIM 50"][2]) == 2
    assert int(rows["diffusion x0, DDIM 50, flow's guidance (audio + emotion)"][2]) == 3
    assert float(rows["flow, Euler NFE 5"][-1].rstrip(" |")) == 1.0


def test_every_renderer_draws_at_the_sizes_asked():
    import torch

    from sandbox.bench import RENDERERS, renderer_rows

    lines = renderer_rows([64], frames=2, device=torch.device("cpu"))
    rows = [line.split(" | ") for line in lines[2:]]
    assert [r[0].lstrip("| ") for r in rows] == [f"{r} ({rep})" for r, rep in RENDERERS]
    assert all(r[1] == "64" and float(r[2]) > 0 for r in rows)


def test_stream_bench_settings_parse_and_refuse():
    import argparse

    from experiments.stream_bench import parse_setting

    assert parse_setting("50") == (50, None, None, "fade")
    assert parse_setting("3:1:5:inpaint") == (3, 1, 5, "inpaint")
    for bad in ("3:x", "3:1:5:blur", "1:2:3:fade:9", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_setting(bad)


@pytest.mark.parametrize("first_window,look_ahead", [(2, 2), (4, 2), (1, 0)])
def test_stream_bench_first_frame_wait_is_when_the_feature_stream_has_the_frames(first_window, look_ahead):
    """The 'waiting for audio' column: the samples after which the default features' stream has emitted
    the first window's frames and their look-ahead (its warm-up holds the first frames back)."""
    from experiments.stream_bench import first_frame_wait
    from sandbox.audio.features import FeatureStream, logmel_norm_frames

    audio = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    stream, emitted, fed = FeatureStream(logmel_norm_frames), 0, 0
    while emitted < first_window + look_ahead:
        emitted += len(stream.push(audio[fed:fed + 8]))
        fed += 8
    wait = first_frame_wait(first_window, look_ahead, logmel_norm_frames)
    assert wait <= fed < wait + 8, (wait, fed)
