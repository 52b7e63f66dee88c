"""Streaming on this machine: latency to the first frame, throughput, deadlines met, and the seams.

    python -m experiments.stream_bench [--sizes 256 512] [--settings 50 4:1 2:0 2:0:5 3:1:5 3:1:5:offset
        3:1:5:inpaint] [--live 3] [--buffer-ms 40] [--threads 1] [--quality-run outputs/main] [--out docs/results/streaming.md]

For ``rep=3dmm gen=flow renderer=mesh_warp`` on the astronaut photo cropped at each size, and ``rep=lia
gen=flow`` at the dataset's 128 x 128, a held-out test clip's speech is streamed (sandbox.pipeline.stream)
with each setting ``CHUNK[:OVERLAP[:NFE[:BLEND]]]`` (chunk = frames per generated window, 50 = the default
window, which the offline sample uses; overlap = frames consecutive windows share, default the preset's;
NFE = the flow sampler's steps, default gen/flow.yaml's (20; 10 before 2026-12-06); blend = how windows join
across the overlap, fade, offset or inpaint, generators.windowing): once fed as fast as the stream takes it (throughput: frames per
wall second, generator and renderer together), then ``--live`` times fed at real-time speed in 20 ms
pieces as a microphone would (latency from the first audio sample to the first frame out and to the first
frame shown, ``--buffer-ms`` later; the share of frames out by their place in that playback). The models
are the default preset's sizes, trained for a few steps only (``FAST_FIT`` below): speed does not depend
on the weights. Seams do: with ``--quality-run`` (a trained run directory, e.g. the main job's), every
held-out test clip is streamed with each setting and ``--seeds`` sampling seeds, and the steps into each
window's first frame are compared with the steps inside windows (sandbox.metrics.motion.window_seams).
Writes the markdown tables to ``--out``.
"""
from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import numpy as np
import torch

import sandbox
from generators.windowing import BLENDS, encoder_context
from sandbox.audio.features import FeatureStream, stream_hold, stream_reach
from sandbox.config import instantiate
from sandbox.constants import SAMPLE_RATE, SAMPLES_PER_FRAME
from sandbox.metrics.motion import window_seams
from sandbox.metrics.speed import device_name
from sandbox.metrics.stats import hierarchical_ci

# speed does not depend on the weights; the lia fit's wsd warm-up and decay must fit in its 20 steps
FAST_FIT = ["scale.fit_steps=20", "scale.fit_warmup_steps=0", "scale.fit_decay_steps=10", "scale.train_steps=20"]


def crossings(sizes: list[int]) -> list[tuple[str, list[str], int | None]]:
    rows = [(f"3dmm + flow + mesh_warp, {s} x {s}", ["rep=3dmm", "gen=flow", "renderer=mesh_warp"], s) for s in sizes]
    rows.append(("lia + flow + lia, 128 x 128", ["rep=lia", "gen=flow"], None))
    return rows


def parse_setting(text: str) -> tuple[int, int | None, int | None, str]:
    """``CHUNK[:OVERLAP[:NFE[:BLEND]]]`` -> (chunk, overlap or None, steps or None, blend)."""
    parts = text.split(":")
    try:
        if not 1 <= len(parts) <= 4:
            raise ValueError
        nums = [int(x) for x in parts[:3]]
    except ValueError:
        raise argparse.ArgumentTypeError(f"a setting is CHUNK[:OVERLAP[:NFE[:BLEND]]], got {text!r}") from None
    blend = parts[3] if len(parts) == 4 else "fade"
    if blend not in BLENDS:
        raise argparse.ArgumentTypeError(f"blend is one of {', '.join(BLENDS)}, got {blend!r}")
    nums += [None] * (3 - len(nums))
    return nums[0], nums[1], nums[2], blend


def window_settings(run, setting) -> dict:
    """Run.stream's keywords for a setting, every one explicit (the generator keeps what it was last
    given): a chunk below the window defaults to overlap 1, the window to the preset's overlap."""
    chunk, overlap, steps, blend = setting
    n_cur = int(run.gen.n_cur)
    chunk = min(chunk, n_cur)
    if overlap is None:
        overlap = 1 if chunk < n_cur else int(run.cfg.gen.get("overlap", 0) or 0)
    return {"chunk": chunk, "overlap": overlap, "steps": steps, "blend": blend}


def first_frame_wait(first_window: int, look_ahead: int, features) -> int:
    """Samples of audio a stream needs before its first frame can come out: its first window's frames (a
    looking-back stream's first window is the stride long) and the encoder's look-ahead frames, or the frames
    the features hold back before their first (the running standardisation's warm-up) if more, and the
    samples the features read past them."""
    return max(first_window + look_ahead, stream_hold(features)) * SAMPLES_PER_FRAME + stream_reach(features)


def measure(run, source, audio, setting, live: int, buffer_ms: float, threads: int | None) -> dict:
    kw = {**window_settings(run, setting), "threads": threads, "buffer_ms": buffer_ms}
    chunk, stride = kw["chunk"], kw["chunk"] - kw["overlap"]
    run.stream(source, audio, realtime=False, **kw)  # warm-up
    fast = run.stream(source, audio, realtime=False, **kw)
    lives = [run.stream(source, audio, realtime=True, **kw) for _ in range(live)]
    first_window = stride if kw["blend"] != "fade" else chunk
    wait = first_frame_wait(first_window, encoder_context(run.gen.audio_encoder),
                            instantiate(run.cfg.features, "features"))
    first = np.array([r.first_frame_s for r in lives]) * 1000
    shown = np.array([r.first_shown_s for r in lives]) * 1000
    met = np.array([r.deadlines_met for r in lives])
    return {"frames": len(fast.frames), "throughput_fps": len(fast.frames) / (fast.frame_times[-1] or 1e-9),
            "nfe_per_clip": fast.nfe, "first_ms": first, "shown_ms": shown, "met": met,
            "wait_ms": 1000 * wait / SAMPLE_RATE, **{k: kw[k] for k in ("chunk", "overlap", "steps", "blend")}}


def seams(run_dir: Path, settings: list, seeds: list[int]) -> list[str]:
    """A table row per setting: seam and within-window steps (normalised motion units) over every held-out
    test clip and ``seeds``, and their ratio with a 95% bootstrap interval over clips."""
    run = sandbox.reopen(run_dir)
    store, features = run.store, instantiate(run.cfg.features, "features")
    clips = [store.load(i) for i in store.ids("test")]
    lines = ["| chunk : overlap, blend | NFE per window | mean step | seam step | within step | "
             f"seam / within (95% CI over {len(clips)} clips) |", "|---|---:|---:|---:|---:|---|"]
    for setting in settings:
        kw = window_settings(run, setting)
        ratios, seam_steps, within_steps, mean_steps = [], [], [], []
        for clip in clips:
            fs = FeatureStream(features)
            feats = torch.from_numpy(np.concatenate([fs.push(clip.audio), fs.finish()]))[None]
            per_seed = []
            for seed in seeds:
                streamer = run.streamer(np.asarray(clip.frames[0]), clip.meta.get("emotion"), kw["chunk"],
                                        kw["overlap"], kw["steps"], None, seed, kw["blend"])
                with torch.no_grad():  # a stream run at once equals any split of the audio
                    motion = streamer.motion_stream.run(feats)[0].numpy()
                per_seed.append((*window_seams(motion, kw["chunk"] - kw["overlap"]),
                                 np.linalg.norm(np.diff(motion, axis=0), axis=-1).mean()))
            seam, within, mean_step = np.nanmean(np.array(per_seed), axis=0)
            mean_steps.append(mean_step)
            seam_steps.append(seam)
            within_steps.append(within)
            ratios.append(seam / within)
        mean, lo, hi = hierarchical_ci([ratios])
        steps = kw["steps"] or int(run.cfg.sample.steps)
        print("seams", setting, f"{np.mean(seam_steps):.3f} {np.mean(within_steps):.3f} {mean:.3f} [{lo:.3f}, {hi:.3f}]",
              flush=True)
        lines.append(f"| {kw['chunk']} : {kw['overlap']}, {kw['blend']} | {steps} | {np.mean(mean_steps):.2f} | "
                     f"{np.mean(seam_steps):.2f} | {np.mean(within_steps):.2f} | {mean:.2f} [{lo:.2f}, {hi:.2f}] |")
    return lines


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
                    default=[parse_setting(t) for t in ("50", "4:1", "2:0", "2:0:5", "3:1:5", "3:1:5:offset",
                                                        "3:1:5:inpaint")])
    ap.add_argument("--live", type=int, default=3, help="real-time runs per setting")
    ap.add_argument("--buffer-ms", type=float, default=40.0, help="the player's playout delay")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads while streaming (0: leave)")
    ap.add_argument("--quality-run", type=Path, help="a trained run directory: measure the seams on it")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="sampling seeds for the seams")
    ap.add_argument("--root", type=Path, default=Path("outputs/stream_bench"))
    ap.add_argument("--out", type=Path, default=Path("docs/results/streaming.md"))
    a = ap.parse_args(argv)
    from PIL import Image
    from skimage import data as skdata

    threads = a.threads or None
    a.root.mkdir(parents=True, exist_ok=True)
    photo = a.root / "astronaut.png"
    Image.fromarray(skdata.astronaut()).save(photo)
    if a.quality_run is not None and not (a.quality_run / "config.yaml").is_file():
        raise SystemExit(f"--quality-run {a.quality_run}: not a run directory (no config.yaml); train one with "
                         "python -m sandbox.run rep=lia gen=flow out=DIR")
    lines = ["| crossing | chunk : overlap, blend | NFE per window | throughput (frames/s) | first frame out (ms) | "
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
        for setting in a.settings:
            m = measure(run, source, clip.audio, setting, a.live, a.buffer_ms, threads)
            steps = m["steps"] or int(run.cfg.sample.steps)
            print(label, setting, {k: (np.round(v, 3).tolist() if isinstance(v, np.ndarray) else v)
                                   for k, v in m.items()}, flush=True)
            lines.append(f"| {label} | {m['chunk']} : {m['overlap']}, {m['blend']} | {steps} | {m['throughput_fps']:.1f} | "
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
        "in 20 ms pieces at real-time speed; a frame cannot come out before its window's audio (the chunk; "
        "chunk - overlap frames for offset and inpaint, whose windows look back) and two frames of the "
        "audio encoder's look-ahead, or, if more, the features' first frames, which the running standardisation "
        "reads together (`features.warmup`, 5), and the 7.5 ms the log-mel reads past them have arrived (the 'waiting for "
        "audio' column, rounded up to the next 20 ms piece in practice), the "
        f"rest is compute. First frame shown: the player starts playback {a.buffer_ms:.0f} ms after the first "
        "frame came out, holding frames against the jitter of the compute. Deadlines met: frames out by their "
        "place in that playback. Latency and deadlines: median over the real-time runs, the worst run in "
        "brackets. Chunk 50 is the offline sampler's window (the stream equals the offline sample); smaller "
        "chunks give a different, equally valid sample; overlap 0 is the papers' windowing (the L' context "
        "frames only; the blend does not matter). NFE 5: docs/results/nfe.md found quality flat from NFE 5 up, within "
        "its intervals.", "",
        "Each row is measured on a shared 2-core machine: the compute per window moved by up to 3x between "
        "runs of one setting, which is why every latency has its worst run beside it.", "",
    ]
    if a.quality_run is not None:
        page += [
            f"## Seams, on the trained run `{a.quality_run}`", "",
            *seams(a.quality_run, a.settings, a.seeds), "",
            f"Every held-out test clip streamed with each setting and sampling seeds {a.seeds} (motion only: "
            "seams do not depend on the renderer). Mean step: the mean L2 norm of the one-frame steps of the "
            "motion (normalised units); seam step: of the steps into each window's first new frame; within "
            "step: of all the others. A ratio above 1 is a visible jump at each window boundary; the "
            "interval is a bootstrap over clips of the per-clip ratio (seeds averaged). Fade cross-fades the "
            "overlap frames (a window's last frames wait for the next window); offset re-samples the last "
            "frames shown and fades the difference out of the new ones; inpaint re-samples the new frames "
            "around the last ones as known frames. With offset and inpaint nothing waits: the first frame has "
            "the latency of a chunk of chunk - overlap frames.", "",
        ]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(page))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
