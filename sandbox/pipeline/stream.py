"""Real-time generation: audio arrives in pieces, frames leave as soon as they are generated.

    streamer = Streamer(rep, gen, renderer, features, source, emotion, steps, guidance, seed, chunk)
    frames = streamer.push(samples)      # uint8 [n, H, W, 3], n >= 0: the frames now final
    frames = streamer.finish()           # the rest, at the end of the audio
    result = play(streamer, audio)       # a recording fed at real-time speed, with latency statistics

The features (sandbox.audio.features.FeatureStream), the generator's windows (its ``stream``: the L'
context carries from window to window) and the renderer (frame by frame) all run incrementally, so a
stream of a recording equals the offline sample of it with the same seed, frame for frame, when
``chunk`` is the generator's window (the default). A smaller ``chunk`` bounds the latency by the chunk
instead of the window (a frame waits for its chunk's audio, plus the 120 samples its log-mel reads past it and the
audio encoder's), at the price of more, shorter windows.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from sandbox.audio.features import FeatureStream
from sandbox.constants import SAMPLE_RATE
from sandbox.data.frames import to_tensor, to_uint8
from sandbox.errors import ConfigError
from sandbox.pipeline.components import reference_motion
from sandbox.pipeline.extract import emotion_condition

FPS = 25


def set_window_joins(gen, overlap: int | None, blend: str | None) -> None:
    """Sampling settings every window-by-window (sub-)generator reads when its stream starts; a blend a
    generator lacks is refused."""
    windowed = [m for m in gen.modules() if hasattr(m, "overlap") and hasattr(m, "stream")]
    joined = [m for m in windowed if getattr(m, "blends", ("fade",))]  # two_stage's windows never overlap
    if (overlap or blend is not None) and not joined:
        raise ConfigError(f"{type(gen).__name__} carries its state from window to window instead of overlapping "
                          "them: stream.overlap and stream.blend do not apply to it; drop them.")
    if blend is not None:
        lacking = sorted({type(m).__name__ for m in joined if blend not in m.blends})
        if lacking:
            raise ConfigError(f"blend={blend} is not implemented for {', '.join(lacking)} (inpaint: the flow generator "
                              "only): use fade or offset.")
    for m in joined:
        if overlap is not None:
            m.overlap = int(overlap)
        if blend is not None:
            m.blend = blend


class Streamer:
    """Features -> generator stream -> renderer, one piece of audio at a time."""

    def __init__(self, rep, gen, renderer, features, source: np.ndarray, emotion=None,
                 steps=None, guidance: dict | None = None, seed: int = 0, chunk: int | None = None,
                 overlap: int | None = None, render_batch: int = 16, warm_up: bool = True,
                 blend: str | None = None):
        """``chunk`` / ``overlap`` / ``blend``: current frames per window, frames consecutive windows share
        and how they join them, ``fade``, ``offset`` or ``inpaint`` (generators.windowing; None: the generator's; the
        overlap must stay below the chunk). ``warm_up``: run the one-time costs now, before the audio
        starts, instead of in the first frame's latency."""
        self.rep, self.renderer, self.render_batch = rep, renderer, render_batch
        set_window_joins(gen, overlap, blend)
        src = to_tensor(source)
        self.reference = rep.reference(src)
        cond = {"x_ref": rep.normalize(reference_motion(rep, src))[None],
                "emotion": torch.from_numpy(emotion_condition(emotion))[None]}
        self.features = FeatureStream(features)
        self.motion_stream = gen.stream(cond, steps=steps, guidance=guidance, seed=seed, chunk=chunk)
        self.motion: list[np.ndarray] = []  # un-normalised motion of the frames emitted so far
        if warm_up:
            self._warm_up(gen.stream(cond, steps=steps, guidance=guidance, seed=seed, chunk=chunk))

    @torch.no_grad()
    def _warm_up(self, throwaway) -> None:
        """Half a second of silence through fresh feature and motion streams and the renderer, so that the
        first real frame does not pay one-time costs (librosa's import alone took ~1.3 s on a 2-core CPU;
        then the first call of each kernel). The real streams are untouched."""
        feats = FeatureStream(self.features.fn)
        x = torch.from_numpy(feats.push(np.zeros(SAMPLE_RATE // 2, np.float32)))[None]  # 12 frames
        motion = throwaway.push(x)
        if motion.shape[1] == 0:  # a chunk longer than half a second
            motion = throwaway.finish()
        if motion.shape[1]:
            self.renderer.render(self.reference, self.rep.denormalize(motion[0, :1].float()), batch_size=1)

    @property
    def nfe(self) -> int:
        return int(self.motion_stream.nfe)

    @torch.no_grad()
    def push(self, samples: np.ndarray) -> np.ndarray:
        feats = self.features.push(samples)
        return self._frames(self.motion_stream.push(torch.from_numpy(feats)[None]) if len(feats) else None)

    @torch.no_grad()
    def finish(self) -> np.ndarray:
        feats = self.features.finish()
        if len(feats):
            head = self.motion_stream.push(torch.from_numpy(feats)[None])
            tail = self.motion_stream.finish()
            parts = [m for m in (head, tail) if m.shape[1] > 0]
            return self._frames(torch.cat(parts, dim=1) if parts else None)
        return self._frames(self.motion_stream.finish())

    def _frames(self, motion: torch.Tensor | None) -> np.ndarray:
        if motion is None or motion.shape[1] == 0:
            return np.zeros((0, 0, 0, 3), np.uint8)
        m = self.rep.denormalize(motion[0].float())
        self.motion.append(m.numpy())
        return to_uint8(self.renderer.render(self.reference, m, batch_size=self.render_batch))


@dataclass
class StreamResult:
    frames: np.ndarray  # uint8 [T, H, W, 3]
    audio: np.ndarray  # the samples fed, 16 kHz
    motion: np.ndarray  # [T, dim] un-normalised
    nfe: int
    first_frame_s: float  # latency: stream start -> first frame out (the audio started arriving at 0)
    frame_times: np.ndarray = field(repr=False)  # [T] seconds after the start at which each frame came out
    realtime: bool = True
    mp4: Path | None = None
    buffer_s: float = 0.0  # the player's playout delay: playback starts this long after the first frame

    @property
    def first_shown_s(self) -> float:
        """Latency to the first frame on screen: the first frame out plus the playout delay."""
        return self.first_frame_s + self.buffer_s

    @property
    def deadlines_met(self) -> float:
        """Share of frames out by their presentation time, playback starting ``buffer_s`` after the first
        frame came out (what a viewer sees without a stall; a player holds a frame or two against the
        jitter of the compute, as every real-time video player does)."""
        due = self.first_shown_s + np.arange(len(self.frame_times)) / FPS
        return float(np.mean(self.frame_times <= due + 1e-3)) if len(due) else 0.0

    @property
    def sustained_fps(self) -> float:
        """Frames per second from the first frame out to the last."""
        span = self.frame_times[-1] - self.frame_times[0] if len(self.frame_times) > 1 else 0.0
        return float((len(self.frame_times) - 1) / span) if span > 0 else float("inf")

    def summary(self) -> dict:
        return {"frames": int(len(self.frames)), "seconds_of_audio": len(self.audio) / SAMPLE_RATE,
                "realtime_feed": self.realtime, "first_frame_s": round(self.first_frame_s, 4),
                "buffer_s": self.buffer_s, "first_shown_s": round(self.first_shown_s, 4),
                "sustained_fps": round(self.sustained_fps, 2), "deadlines_met": round(self.deadlines_met, 4),
                "nfe": self.nfe}


def play(streamer: Streamer, audio: np.ndarray, realtime: bool = True, piece_ms: float = 20.0,
         on_frames=None, buffer_ms: float = 0.0, threads: int | None = None) -> StreamResult:
    """Feed a recording to ``streamer`` as a microphone would: ``piece_ms`` of audio at a time, at real-time
    speed (``realtime``; else as fast as the stream takes it). Audio that arrived while the stream was busy
    is pushed at once. ``on_frames(frames)`` sees every non-empty batch of frames as it comes out.
    ``buffer_ms``: the player's playout delay the deadlines are counted against. ``threads``: torch's
    intra-op threads meanwhile (restored after; None leaves them): a window's small operations run faster
    and steadier on one thread than split over two."""
    before = torch.get_num_threads()
    torch.set_num_threads(before if threads is None else int(threads))
    try:
        return _play(streamer, audio, realtime, piece_ms, on_frames, buffer_ms)
    finally:
        torch.set_num_threads(before)


def _play(streamer, audio, realtime, piece_ms, on_frames, buffer_ms) -> StreamResult:
    audio = np.asarray(audio, np.float32).reshape(-1)
    piece = max(int(SAMPLE_RATE * piece_ms / 1000), 1)
    frames, times = [], []
    t0 = time.perf_counter()
    sent = 0

    def collect(out: np.ndarray):
        if len(out):
            now = time.perf_counter() - t0
            frames.append(out)
            times.extend([now] * len(out))
            if on_frames is not None:
                on_frames(out)

    while sent < len(audio):
        if realtime:  # what has "arrived" by now, at least one piece
            arrived = int((time.perf_counter() - t0) * SAMPLE_RATE)
            if arrived < sent + piece:
                time.sleep((sent + piece - arrived) / SAMPLE_RATE)
                arrived = int((time.perf_counter() - t0) * SAMPLE_RATE)
            upto = min(max(arrived, sent + piece), len(audio))
        else:
            upto = min(sent + piece, len(audio))
        collect(streamer.push(audio[sent:upto]))
        sent = upto
    collect(streamer.finish())
    all_frames = np.concatenate(frames) if frames else np.zeros((0, 0, 0, 3), np.uint8)
    motion = np.concatenate(streamer.motion) if streamer.motion else np.zeros((0, 0), np.float32)
    times_arr = np.asarray(times, np.float64)
    return StreamResult(all_frames, audio, motion, streamer.nfe, float(times_arr[0]) if len(times_arr) else float("nan"),
                        times_arr, realtime, buffer_s=float(buffer_ms) / 1000)
