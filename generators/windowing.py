"""Window-by-window generation of arbitrarily long sequences (FLOAT, JoyVASA).

Windows of ``n_cur`` frames are generated in order; each sees the last ``n_prev`` generated frames and
their audio features as clean context. The last window is zero-padded to ``n_cur`` (the function gets
``valid_len`` to mask the padding) and cropped.

``overlap`` = k > 0 (a sandbox addition; FLOAT and JoyVASA use 0): consecutive windows share k frames,
joined by ``blend``:

- ``fade``: both windows sample the k frames and they are cross-faded linearly. A briefly trained model
  follows its context only loosely, so with k = 0 each seam is a visible jump (measured on the default
  lia x flow run: seam step 2.0 vs 0.76 inside windows, normalised units); the fade spreads the
  difference over k frames. A window's last k frames wait for the next window.
- ``offset``: the next window starts k frames back and samples them afresh; the difference between the
  last frame shown and its new sample is added to the window's new frames, fading linearly to 0 across
  them (offset blending, as motion graphs join clips). The step into a window's first new frame is then
  a step inside the window, and nothing waits for the next window.
- ``inpaint``: as ``offset``, but the k frames are known (replacement sampling: the window function gets
  them as ``known`` and keeps them on their noising path), so the new frames are sampled jointly with
  frames already shown.

With ``offset`` and ``inpaint`` every frame is final when its window returns, and the first window is
the stride long: the latency of a chunk of chunk - k frames.

Each costs chunk / (chunk - k) times the windows of no overlap.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

# fn(prev_motion [B, n_prev, dim] | None, prev_audio [B, n_prev, d_a] | None,
#    cur_audio [B, n_cur, d_a], valid_len[, known=[B, k, dim]]) -> [B, n_cur, dim]
# (``known``, the window's first k frames, is passed with blend="inpaint" only, to a window whose output
# must reproduce them)
WindowFn = Callable[..., torch.Tensor]
BLENDS = ("fade", "offset", "inpaint")


def _batched(start: torch.Tensor | None, batch: int) -> torch.Tensor | None:
    if start is None or start.ndim == 3:
        return start
    return start.unsqueeze(0).expand(batch, *start.shape)


def window_starts(total: int, n_cur: int, overlap: int = 0) -> list[int]:
    """First frame of each window: a stride of n_cur - overlap until the windows cover ``total``."""
    if not 0 <= overlap < n_cur:
        raise ValueError(f"overlap must be in [0, n_cur={n_cur}), got {overlap}")
    stride = n_cur - overlap
    return [0] + list(range(stride, max(total - overlap, 1), stride))


def generate_windows(
    fn: WindowFn,
    audio: torch.Tensor,
    n_prev: int,
    n_cur: int,
    start_motion: torch.Tensor | None = None,
    start_audio: torch.Tensor | None = None,
    overlap: int = 0,
    blend: str = "fade",
) -> torch.Tensor:
    """audio [B, T, d_a] -> motion [B, T, dim], calling ``fn`` once per window: a WindowStream fed the
    whole (already encoded) audio at once."""
    return WindowStream(fn, n_prev, n_cur, start_motion, start_audio, overlap, blend=blend).run(audio)


def encoder_context(encoder: nn.Module) -> int:
    """Frames of look-ahead (and look-behind) an audio encoder needs around a frame: its ``context``
    attribute, or 0 for a stack of frame-wise layers (FLOAT's projection). Anything else is refused: a
    stream cannot know when its frames are final."""
    if hasattr(encoder, "context"):
        return int(encoder.context)
    frame_wise = (nn.Linear, nn.LayerNorm, nn.Identity, nn.Dropout, nn.SiLU, nn.GELU, nn.ReLU, nn.Tanh)
    if isinstance(encoder, nn.Sequential) and all(isinstance(m, frame_wise) for m in encoder):
        return 0
    raise ValueError(f"cannot stream through audio encoder {type(encoder).__name__}: give it a `context` "
                     "attribute (frames it looks ahead)")


class WindowStream:
    """Window-by-window generation fed incrementally: ``push`` per-frame audio as it arrives and get the
    motion frames that are final; ``finish`` at the end of the audio returns the rest.

    Fed the whole audio at once it is ``generate_windows`` (the offline sampler uses it that way), so a
    stream and an offline sample of the same audio and seed agree frame for frame. A window starting at
    frame s runs as soon as its ``chunk`` frames of audio are in; its frames before the next window's
    start are final then (the rest are cross-faded by the next window). With ``blend`` offset or inpaint
    a window runs once its new frames' audio is in, and all its frames are final then.

    ``chunk`` (default ``n_cur``): current frames per window. Smaller chunks (masked as the last window
    of a clip is) bound the latency by the chunk instead of ``n_cur`` and change the result.
    ``encode`` (with ``context`` frames of look-ahead) turns raw per-frame features into what ``fn``
    takes; frames are encoded once their look-ahead has arrived, on a slice with ``context`` frames on
    both sides, which equals encoding the whole sequence. ``post`` maps the emitted frames (e.g. a
    residual to full motion).
    """

    def __init__(self, fn: WindowFn, n_prev: int, n_cur: int, start_motion: torch.Tensor | None = None,
                 start_audio: torch.Tensor | None = None, overlap: int = 0, chunk: int | None = None,
                 encode: Callable[[torch.Tensor], torch.Tensor] | None = None, context: int = 0,
                 post: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 nfe: Callable[[], int] | None = None, branches: int = 1, blend: str = "fade"):
        self.chunk = n_cur if chunk is None else int(chunk)
        if not overlap < self.chunk <= n_cur:
            raise ValueError(f"chunk must be in (overlap={overlap}, n_cur={n_cur}], got {self.chunk}")
        if blend not in BLENDS:
            raise ValueError(f"blend must be one of {BLENDS}, got {blend!r}")
        self.fn, self.n_prev, self.n_cur, self.overlap = fn, n_prev, n_cur, overlap
        # offset / inpaint: windows look back at k frames already final (the first window is the stride)
        self.look_back = blend in ("offset", "inpaint") and overlap > 0
        self.blend = blend
        self.start_motion, self.start_audio = start_motion, start_audio
        self.encode, self.context, self.post, self._nfe = encode, int(context), post, nfe
        self.branches = branches  # guidance branches batched into every network call (for the caller)
        self.raw: torch.Tensor | None = None  # raw features not yet encoded, with ``context`` frames before
        self.raw_start = 0  # frame index of raw[:, 0]
        self.audio: torch.Tensor | None = None  # encoded audio [B, frames, d]
        self.motion: torch.Tensor | None = None  # generated motion [B, frames, dim], final and pending
        self.next_start = 0  # the next window's first frame
        self.emitted = 0
        self.windows = 0
        self.done = False

    @property
    def nfe(self) -> int:
        return self._nfe() if self._nfe is not None else self.windows

    @property
    def stride(self) -> int:
        return self.chunk - self.overlap

    def push(self, features: torch.Tensor) -> torch.Tensor:
        """features [B, n, d] (n >= 0): the next frames of audio -> the motion frames now final [B, m, ·]
        (m may be 0, and the tensor [B, 0, 0] before the first window has run)."""
        if self.done:
            raise RuntimeError("push after finish")
        self._take(features, final=False)
        while self.audio is not None and self.audio.shape[1] >= self._window_end():
            self._window()
        return self._emit(self.next_start if self.motion is not None else 0)

    def finish(self) -> torch.Tensor:
        """No more audio: the remaining windows (the last one masked) -> the remaining motion frames."""
        self._take(None, final=True)
        self.done = True
        if self.audio is None:
            raise ValueError("no audio was pushed")
        total = self.audio.shape[1]
        while self.motion is None or self.next_start < total - (0 if self.look_back else self.overlap):
            self._window()
        return self._emit(total)

    def run(self, features: torch.Tensor) -> torch.Tensor:
        """The whole audio at once: push + finish."""
        parts = [p for p in (self.push(features), self.finish()) if p.shape[1] > 0]
        return torch.cat(parts, dim=1)

    # -- internals ----------------------------------------------------------------------------------
    def _take(self, features: torch.Tensor | None, final: bool) -> None:
        """Encode the raw frames whose look-ahead is in (all of them when ``final``)."""
        if features is not None:
            self.raw = features if self.raw is None else torch.cat([self.raw, features], dim=1)
        if self.raw is None:
            return
        have = self.raw_start + self.raw.shape[1]
        ready = have if final or self.encode is None else max(have - self.context, 0)
        done = 0 if self.audio is None else self.audio.shape[1]
        if ready <= done:
            return
        enc = self.raw if self.encode is None else self.encode(self.raw)
        enc = enc[:, done - self.raw_start : ready - self.raw_start]
        self.audio = enc if self.audio is None else torch.cat([self.audio, enc], dim=1)
        keep_from = max(ready - self.context, 0)  # what the next encode needs behind its first new frame
        self.raw, self.raw_start = self.raw[:, keep_from - self.raw_start :], keep_from

    def _window_end(self) -> int:
        """The frame up to which the next window needs audio."""
        return self.next_start + (self.stride if self.look_back else self.chunk)

    def _window(self) -> None:
        b = self.audio.shape[0]
        # looking back, a window after the first starts at the last k frames made
        k_known = min(self.overlap, self.next_start) if self.look_back else 0
        s = self.next_start - k_known
        cur = self.audio[:, s : self._window_end()]
        valid = cur.shape[1]
        cur = F.pad(cur, (0, 0, 0, self.n_cur - valid))
        start_m, start_a = _batched(self.start_motion, b), _batched(self.start_audio, b)
        if self.n_prev > 0 and self.motion is not None:
            prev_motion = _tail(self.motion[:, :s], start_m, self.n_prev)
            prev_audio = _tail(self.audio[:, :s], start_a, self.n_prev)
        else:
            prev_motion, prev_audio = (start_m, start_a) if self.n_prev > 0 else (None, None)
        if k_known and self.blend == "inpaint":
            out = self.fn(prev_motion, prev_audio, cur, valid, known=self.motion[:, s:])
        else:
            out = self.fn(prev_motion, prev_audio, cur, valid)
        if out.shape[:2] != (b, self.n_cur):
            raise ValueError(f"window function returned {tuple(out.shape)}, expected [{b}, {self.n_cur}, dim]")
        out = out[:, :valid]
        self.windows += 1
        self.next_start = s + k_known + self.stride
        if self.look_back:
            new = out[:, k_known:]
            if k_known and self.blend == "offset":  # fade the shown-minus-resampled difference out
                w = 1 - torch.arange(new.shape[1], dtype=out.dtype, device=out.device) / self.stride
                new = new + w[None, :, None] * (self.motion[:, -1:] - out[:, k_known - 1 : k_known])
            self.motion = new if self.motion is None else torch.cat([self.motion, new], dim=1)
            return
        if self.motion is None:
            self.motion = out
            return
        k = self.motion.shape[1] - s  # frames shared with what exists: the overlap (0 without one)
        ramp = torch.arange(1, k + 1, dtype=out.dtype, device=out.device)[None, :, None] / (self.overlap + 1)
        blended = (1 - ramp) * self.motion[:, s:] + ramp * out[:, :k]
        self.motion = torch.cat([self.motion[:, :s], blended, out[:, k:]], dim=1)

    def _emit(self, upto: int) -> torch.Tensor:
        if self.motion is None:
            b = 1 if self.raw is None else self.raw.shape[0]
            return torch.zeros(b, 0, 0)
        upto = min(upto, self.motion.shape[1])
        out = self.motion[:, self.emitted : upto]
        self.emitted = max(self.emitted, upto)
        return self.post(out) if self.post is not None else out


def _tail(seq: torch.Tensor, start: torch.Tensor | None, n: int) -> torch.Tensor:
    """The last n frames of seq [B, T, ·], with the start features (or zeros) in front when T < n."""
    if seq.shape[1] < n:
        front = start if start is not None else seq.new_zeros(seq.shape[0], n, seq.shape[2])
        seq = torch.cat([front, seq], dim=1)
    return seq[:, -n:]
