"""Streaming speed on this machine: latency to the first frame, throughput, deadlines met.

    python -m experiments.stream_bench [--sizes 256 512] [--settings 50 4:1 2:0 2:0:5] [--live 3]
        [--buffer-ms 40] [--threads 1] [--out docs/results/streaming.md]

For ``rep=3dmm gen=flow renderer=mesh_warp`` on the astronaut photo cropped at each size, and ``rep=lia
gen=flow`` at the dataset's 128 x 128, a held-out test clip's speech is streamed (sandbox.pipeline.stream)
with each setting ``CHUNK[:OVERLAP[:NFE]]`` (chunk = new frames per generated window, 50 = the default
window, which the offline sample uses; overlap = frames consecutive windows cross-fade, default the
preset's; NFE = the flow sampler's steps, default the preset's 10): once fed as fast as the stream takes
it (throughput: frames per wall second, generator and renderer together), then ``--live`` times fed at
real-time speed in 20 ms pieces as a microphone would (latency from the first audio sample to the first
frame out and to the first frame shown, ``--buffer-ms`` later; the share of frames out by their place in
that playback). The models are the default preset's sizes, trained for a few steps only
(``scale.fit_steps`` / ``scale.train_steps`` below): speed does not depend on the weights. Writes the
markdown table to ``--out``.
"""
from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import numpy as np
import torch

import sandbox
from generators.windowing import encoder_context
from sandbox.audio.features import stream_reach
from sandbox.config import instantiate
from sandbox.constants import SAMPLE_RATE, SAMPLES_PER_FRAME
from sandbox.metrics.speed import device_name

FAST_FIT = ["scale.fit_steps=20", "scale.train_steps=20"]  # speed does not depend on the weights


def crossings(sizes: list[int]) -> list[tuple[str, list[str], int | None]]:
    rows = [(f"3dmm + flow + mesh_warp, {s} x {s}", ["rep=3dmm", "gen=flow", "renderer=mesh_warp"], s) for s in sizes]
    rows.append(("lia + flow + lia, 128 x 128", ["rep=lia", "gen=flow"], None))
    return rows


def parse_setting(text: str) -> tuple[int, int | None, int | None]:
    """``CHUNK[:OVERLAP[:NFE]]`` -> (chunk, overlap or None, steps or None)."""
    parts = [int(x) for x in text.split(":")]
    if not 1 <= len(parts) <= 3:
        raise argparse.ArgumentTypeError(f"a setting is CHUNK[:OVERLAP[:NFE]], got {text!r}")
    parts += [None] * (3 - len(parts))
    return parts[0], parts[1], parts[2]


def measure(run, source, audio, setting, n_cur: int, live: int, buffer_ms: float, threads: int | None) -> dict:
    chunk, overlap, steps = setting
    chunk = min(chunk, n_cur)
    kw = {"steps": steps, "threads": threads, "buffer_ms": buffer_ms}
    if chunk < n_cur:
        kw.update(chunk=chunk, overlap=1 if overlap is None else overlap)
    elif overlap is not None:
        kw["overlap"] = overlap
    run.stream(source, audio, realtime=False, **kw)  # warm-up
    fast = run.stream(source, audio, realtime=False, **kw)
    lives = [run.stream(source, audio, realtime=True, **kw) for _ in range(live)]
    # the structural wait of the first frame: its chunk's audio, the encoder's look-ahead frames and the
    # samples the features read past the last of them
    wait = (chunk + encoder_context(run.gen.audio_encoder)) * SAMPLES_PER_FRAME + stream_reach(instantiate(run.cfg.features, "features"))
    first = np.array([r.first_frame_s for r in lives]) * 1000
    shown = np.array([r.first_shown_s for r in lives]) * 1000
    met = np.array([r.deadlines_met for r in lives])
    return {"frames": len(fast.frames), "throughput_fps": len(fast.frames) / (fast.frame_times[-1] or 1e-9),
            "nfe_per_clip": fast.nfe, "first_ms": first, "shown_ms": shown, "met": met,
            "wait_ms": 1000 * wait / SAMPLE_RATE, "chunk": chunk, "overlap": kw.get("overlap")}


def spread(x: np.ndarray, fmt: str) -> str:
    """median (worst of the live runs)"""
    worst = x.max() if fmt != "pct" else x.min()
    if fmt == "pct":
        return f"{100 * np.median(x):.0f}% ({100 * worst:.0f}%)"
    return f"{np.median(x):.0f} ({worst:.0f})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--settings", type=parse_setting, nargs="+",
                    default=[parse_setting(t) for t in ("50", "4:1", "2:0", "2:0:5")])
    ap.add_argument("--live", type=int, default=3, help="real-time runs per setting")
    ap.add_argument("--buffer-ms", type=float, default=40.0, help="the player's playout delay")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads while streaming (0: leave)")
    ap.add_argument("--root", type=Path, default=Path("outputs/stream_bench"))
    ap.add_argument("--out", type=Path, default=Path("docs/results/streaming.md"))
    a = ap.parse_args(argv)
    from PIL import Image
    from skimage import data as skdata

    threads = a.threads or None
    a.root.mkdir(parents=True, exist_ok=True)
    photo = a.root / "astronaut.png"
    Image.fromarray(skdata.astronaut()).save(photo)
    lines = ["| crossing | chunk : overlap | NFE per window | throughput (frames/s) | first frame out (ms) | "
             "first frame shown (ms) | of which waiting for audio (ms) | deadlines met |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for label, overrides, size in crossings(a.sizes):
        rep = overrides[0].split("=")[1]
        run = sandbox.run_crossing(*overrides, "preset=default", *FAST_FIT, "stage=train",
                                   f"out={a.root / rep}")
        store = run.store
        clip = store.load(store.ids("test")[0])
        if size is None:
            source = np.asarray(clip.frames[0])
        else:
            from sandbox.pipeline.sample import load_source

            source = load_source(str(photo), size)
        n_cur = int(run.gen.n_cur)
        default_steps = int(run.cfg.sample.steps)
        default_overlap = int(run.cfg.gen.get("overlap", 0) or 0)
        for setting in a.settings:
            m = measure(run, source, clip.audio, setting, n_cur, a.live, a.buffer_ms, threads)
            steps = setting[2] or default_steps
            ov = default_overlap if m["overlap"] is None else m["overlap"]
            print(label, setting, {k: (np.round(v, 3).tolist() if isinstance(v, np.ndarray) else v)
                                   for k, v in m.items()}, flush=True)
            lines.append(f"| {label} | {m['chunk']} : {ov} | {steps} | {m['throughput_fps']:.1f} | "
                         f"{spread(m['first_ms'], 'ms')} | {spread(m['shown_ms'], 'ms')} | {m['wait_ms']:.0f} | "
                         f"{spread(m['met'], 'pct')} |")
    seconds = len(clip.audio) / 16000
    page = [
        "# Streaming: latency and throughput on this machine", "",
        "Regenerate: `" + " ".join(["python -m experiments.stream_bench", *(sys.argv[1:] if argv is None else argv)])
        + "`", "",
        f"Machine: {device_name()}, {platform.processor() or platform.machine()}; torch intra-op threads while "
        f"streaming: {threads or torch.get_num_threads()}; one held-out test clip ({seconds:.1f} s of speech); "
        f"playout buffer {a.buffer_ms:.0f} ms; {a.live} real-time runs per row.", "",
        *lines, "",
        "Throughput: frames per wall second with the audio fed as fast as the stream takes it (generator and "
        "renderer; 25 keeps up with speech). First frame out: from the first audio sample, with the audio fed "
        "in 20 ms pieces at real-time speed; a frame cannot come out before its chunk's audio, two frames of the "
        "audio encoder's look-ahead and the 7.5 ms the log-mel reads past them have arrived (the 'waiting for "
        "audio' column, rounded up to the next 20 ms piece in practice), the "
        f"rest is compute. First frame shown: the player starts playback {a.buffer_ms:.0f} ms after the first "
        "frame came out, holding frames against the jitter of the compute. Deadlines met: frames out by their "
        "place in that playback. Latency and deadlines: median over the real-time runs, the worst run in "
        "brackets. Chunk 50 is the offline sampler's window (the stream equals the offline sample); smaller "
        "chunks give a different, equally valid sample; overlap 0 is the papers' windowing (no cross-fade, "
        "the L' context frames only). NFE 5: docs/results/nfe.md found quality flat from NFE 5 up, within "
        "its intervals.", "",
        "Each row is measured on a shared 2-core machine: the compute per window moved by up to 3x between "
        "runs of one setting, which is why every latency has its worst run beside it.", "",
    ]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(page))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
