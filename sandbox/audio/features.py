"""Per-video-frame audio features: stacked log-mel, the same standardised by the utterance so far (the
default), its cepstra (MFCC) and RMS energy.

At 16 kHz and 25 fps a video frame spans 640 samples; with a 160-sample (10 ms) hop that is
exactly 4 mel frames, which are stacked into one feature vector per video frame. The mel frames
are centred at 80, 240, 400 and 560 samples into their video frame, so each vector describes
its own frame and not half of the previous one.
"""
from __future__ import annotations

import math
from functools import partial

import numpy as np

from sandbox.constants import SAMPLE_RATE, SAMPLES_PER_FRAME

HOP = 160  # 10 ms
WIN = 400  # 25 ms
MELS_PER_FRAME = SAMPLES_PER_FRAME // HOP  # 4
LOG_FLOOR = 1e-6  # silence maps to log(1e-6) ~ -13.8, not -inf
NORM_EPS = 1e-3  # a band constant over the utterance (all silence) maps to 0, not NaN
NORM_WARMUP = 5  # frames (0.2 s) whose statistics standardise each of them (docs/results/audio_front.md)


def num_frames(n_samples: int) -> int:
    """Video frames covering ``n_samples`` of 16 kHz audio (a partial last frame counts)."""
    return max(1, math.ceil(n_samples / SAMPLES_PER_FRAME))


def _fit(audio: np.ndarray, n_frames: int | None) -> tuple[np.ndarray, int]:
    """Zero-pad or crop to exactly ``n_frames`` video frames of samples."""
    audio = np.asarray(audio, np.float32).reshape(-1)
    T = num_frames(len(audio)) if n_frames is None else int(n_frames)
    out = np.zeros(T * SAMPLES_PER_FRAME, np.float32)
    n = min(len(audio), len(out))
    out[:n] = audio[:n]
    return out, T


def logmel_frames(audio: np.ndarray, n_frames: int | None = None, n_mels: int = 80) -> np.ndarray:
    """Log-mel power (natural log, floor 1e-6) stacked per video frame: float32 [T, 4 * n_mels],
    column ``k * n_mels + m`` = mel band m of the k-th 10 ms step. T = ``n_frames`` (audio padded
    with silence or cropped) or ceil(len / 640)."""
    import librosa

    audio = np.asarray(audio, np.float32).reshape(-1)
    T = num_frames(len(audio)) if n_frames is None else int(n_frames)
    # crop features, not samples, so the frames kept see the same audio context either way
    x, _ = _fit(audio, max(T, num_frames(len(audio))))
    # drop half a hop so that centred STFT frame j sits at sample 160 j + 80 of the original
    x = np.pad(x[HOP // 2:], (0, HOP // 2))
    mel = librosa.feature.melspectrogram(y=x, sr=SAMPLE_RATE, n_fft=WIN, win_length=WIN, hop_length=HOP,
                                         n_mels=n_mels, fmin=0.0, fmax=SAMPLE_RATE / 2, center=True, power=2.0)
    mel = mel[:, : T * MELS_PER_FRAME]
    logmel = np.log(mel + LOG_FLOOR).T  # [4T, n_mels]
    return np.ascontiguousarray(logmel.reshape(T, MELS_PER_FRAME * n_mels), dtype=np.float32)


def standardise_running(x: np.ndarray, warmup: int = NORM_WARMUP) -> np.ndarray:
    """Frame t of ``x`` [T, d] standardised per column by the mean and std of frames 0..max(t, warmup - 1):
    the statistics of the utterance so far, after a first ``warmup`` frames read together. float32 [T, d]."""
    x = np.asarray(x, np.float64)
    if len(x) == 0:
        return x.astype(np.float32)
    norm = RunningStandardiser(warmup)
    return np.concatenate([f for f in (norm.push(x), norm.finish()) if len(f)])


class RunningStandardiser:
    """``standardise_running`` of frames that arrive in pieces: ``push(frames)`` -> the frames now
    standardised (none before the first ``warmup``), ``finish()`` -> the rest (a clip shorter than the
    warm-up: all of it, with its own statistics)."""

    def __init__(self, warmup: int = NORM_WARMUP):
        self.warmup = int(warmup)
        self.held: list[np.ndarray] = []  # frames of the warm-up, waiting
        self.n, self.s1, self.s2 = 0, 0.0, 0.0

    def push(self, frames: np.ndarray) -> np.ndarray:
        frames = np.asarray(frames, np.float64)
        if frames.size == 0:
            return np.zeros((0, 0), np.float32)
        if self.n < self.warmup:
            self.held.append(frames)
            if sum(map(len, self.held)) < self.warmup:
                return np.zeros((0, 0), np.float32)
            frames, self.held = np.concatenate(self.held), []
        return self._flush(frames)

    def finish(self) -> np.ndarray:
        if not self.held:
            return np.zeros((0, 0), np.float32)
        frames, self.held = np.concatenate(self.held), []
        return self._flush(frames, first=len(frames))

    def _flush(self, frames: np.ndarray, first: int | None = None) -> np.ndarray:
        """Standardise ``frames`` continuing the running sums; the first ``first`` (default: up to the
        warm-up) share the statistics of the warm-up's frames."""
        n0 = self.n
        c1 = self.s1 + np.cumsum(frames, 0)
        c2 = self.s2 + np.cumsum(frames * frames, 0)
        n = n0 + np.arange(1, len(frames) + 1)
        at = np.maximum(n, self.warmup if first is None else n0 + first) - n0 - 1  # row of the sums to use
        mean = c1[at] / (n0 + at + 1)[:, None]
        var = np.maximum(c2[at] / (n0 + at + 1)[:, None] - mean**2, 0.0)
        self.n, self.s1, self.s2 = n[-1], c1[-1], c2[-1]
        return np.ascontiguousarray((frames - mean) / (np.sqrt(var) + NORM_EPS), dtype=np.float32)


def logmel_norm_frames(audio: np.ndarray, n_frames: int | None = None, n_mels: int = 80,
                       warmup: int = NORM_WARMUP) -> np.ndarray:
    """``logmel_frames`` standardised per column by the utterance so far (``standardise_running``): the
    speaker's and the channel's spectral envelope, near constant over a clip, drops out (cepstral mean and
    variance normalisation, done on log-mel, online so that streams compute the same features)."""
    return standardise_running(logmel_frames(audio, n_frames, n_mels), warmup)


def mfcc_frames(audio: np.ndarray, n_frames: int | None = None, n_mels: int = 80, n_mfcc: int = 20) -> np.ndarray:
    """Cepstra 1..n_mfcc (orthonormal DCT-II of ``logmel_frames`` over the mel bands) stacked per video frame:
    float32 [T, 4 * n_mfcc]. The low cepstra keep the spectral envelope (formants: what is said) and drop the
    harmonics' fine structure (pitch: who says it); c0, the frame's log level, is dropped as the encoder's
    per-frame LayerNorm drops it from log-mel."""
    from scipy.fft import dct

    if not 1 <= n_mfcc < n_mels:
        raise ValueError(f"n_mfcc must be in [1, n_mels); got {n_mfcc} with n_mels={n_mels}")
    logmel = logmel_frames(audio, n_frames, n_mels)
    T = logmel.shape[0]
    cep = dct(logmel.reshape(T, MELS_PER_FRAME, n_mels), type=2, norm="ortho", axis=-1)[..., 1 : n_mfcc + 1]
    return np.ascontiguousarray(cep.reshape(T, MELS_PER_FRAME * n_mfcc), dtype=np.float32)


def energy_frames(audio: np.ndarray, n_frames: int | None = None) -> np.ndarray:
    """RMS amplitude per video frame, float32 [T]."""
    x, T = _fit(audio, n_frames)
    return np.sqrt(np.mean(x.reshape(T, SAMPLES_PER_FRAME) ** 2, axis=1)).astype(np.float32)


# for streams: frames of audio a feature frame reads on each side (its STFT windows reach 120 samples
# into the neighbouring frames), and samples past its own end it reads (a stream emits a frame once they
# have arrived); wav2vec2 attends over the whole utterance and has neither
logmel_frames.stream_context = 1
logmel_frames.stream_reach = WIN // 2 - HOP // 2  # the last STFT window, centred 80 samples before the end
mfcc_frames.stream_context, mfcc_frames.stream_reach = logmel_frames.stream_context, logmel_frames.stream_reach
logmel_norm_frames.stream_context, logmel_norm_frames.stream_reach = logmel_frames.stream_context, logmel_frames.stream_reach
# a stream computes log-mel piece by piece and standardises it with running sums
logmel_norm_frames.stream_split = lambda kw: (
    partial(logmel_frames, **{k: v for k, v in kw.items() if k != "warmup"}),
    RunningStandardiser(kw.get("warmup", NORM_WARMUP)))
energy_frames.stream_context = 0
energy_frames.stream_reach = 0
# what the audio encoder's frequency masks and warp act on (a function of your own may say so too)
logmel_frames.stacked_log_mel = logmel_norm_frames.stacked_log_mel = True


def _unwrapped(fn):
    """The features function behind partials (Hydra's included)."""
    while hasattr(fn, "func"):
        fn = fn.func
    return fn


def _keywords(fn) -> dict:
    """The keyword arguments bound by partials around a features function (outermost wins)."""
    out: dict = {}
    while hasattr(fn, "func"):
        out = {**getattr(fn, "keywords", {}), **out}
        fn = fn.func
    return out


def stream_context(fn) -> int:
    """Frames of audio around a frame that ``fn`` (a features function or its partial) reads; ValueError
    for features that depend on the whole utterance."""
    fn = _unwrapped(fn)
    ctx = getattr(fn, "stream_context", None)
    if ctx is None:
        raise ValueError(f"features {getattr(fn, '__name__', fn)!r} cannot stream (they read "
                         "the whole utterance); streams take features=logmel (the default) or energy")
    return int(ctx)


def stream_reach(fn) -> int:
    """Samples past a frame's end that ``fn`` reads (at most ``stream_context`` frames' worth)."""
    return int(getattr(_unwrapped(fn), "stream_reach", stream_context(fn) * SAMPLES_PER_FRAME))


def stream_hold(fn) -> int:
    """Frames a stream of ``fn`` holds back before its first (the running standardisation reads its first
    ``warmup`` frames together); 0 for features computed frame by frame."""
    split = getattr(_unwrapped(fn), "stream_split", None)
    return int(getattr(split(_keywords(fn))[1], "warmup", 0)) if split else 0


def stacks_log_mel(fn) -> bool:
    """Whether feature function ``fn`` (or a partial of it) returns stacked log-mel bands, which the audio
    encoder's frequency masks and warp act on. A user's own function says so with ``fn.stacked_log_mel = True``."""
    return bool(getattr(_unwrapped(fn), "stacked_log_mel", False))


class FeatureStream:
    """Per-frame features of audio that arrives in pieces: ``push(samples)`` -> the feature frames now
    final [n, d]; ``finish()`` -> the rest. Each piece is computed on the recent audio with a margin of
    ``stream_context + 1`` frames before, so the frames equal those of the whole recording."""

    def __init__(self, fn):
        self.fn, self.context, self.reach = fn, stream_context(fn), stream_reach(fn)
        split = getattr(_unwrapped(fn), "stream_split", None)  # per-piece features + a stateful last step
        self.piece_fn, self.post = split(_keywords(fn)) if split else (fn, None)
        self.audio = np.zeros(0, np.float32)  # samples from frame ``self.offset`` on
        self.offset = 0  # first frame held in self.audio
        self.done = 0  # feature frames emitted
        self.received = 0  # samples received

    def push(self, samples: np.ndarray) -> np.ndarray:
        samples = np.asarray(samples, np.float32).reshape(-1)
        self.audio = np.concatenate([self.audio, samples])
        self.received += len(samples)
        ready = max(self.received - self.reach, 0) // SAMPLES_PER_FRAME  # frames whose look-ahead is in
        feats = self._frames(ready, total=None)
        return self.post.push(feats) if self.post else feats

    def finish(self) -> np.ndarray:
        feats = self._frames(num_frames(self.received), total=num_frames(self.received))
        if not self.post:
            return feats
        parts = [f for f in (self.post.push(feats), self.post.finish()) if len(f)]
        return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)

    def _frames(self, ready: int, total: int | None) -> np.ndarray:
        if ready <= self.done:
            return np.zeros((0, 0), np.float32)
        # the piece starts ``context + 1`` frames before the first new one: its own edge effects fall there
        start = max(self.done - self.context - 1, 0)
        piece = self.audio[(start - self.offset) * SAMPLES_PER_FRAME:]
        n = total - start if total is not None else num_frames(len(piece))
        feats = np.asarray(self.piece_fn(piece, n), np.float32)[self.done - start : ready - start]
        self.done = ready
        keep = max(ready - self.context - 1, 0)  # drop audio the next piece no longer needs
        self.audio = self.audio[(keep - self.offset) * SAMPLES_PER_FRAME:]
        self.offset = keep
        return feats
