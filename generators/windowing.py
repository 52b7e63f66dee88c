"""Window-by-window generation of arbitrarily long sequences (FLOAT, JoyVASA).

Windows of ``n_cur`` frames are generated in order; each sees the last ``n_prev`` generated frames and
their audio features as clean context. The last window is zero-padded to ``n_cur`` (the function gets
``valid_len`` to mask the padding) and cropped.

``overlap`` = k > 0 (a sandbox addition; FLOAT and JoyVASA use 0): consecutive windows share k frames
and are cross-faded linearly across them. A briefly trained model follows its context only loosely, so
with k = 0 each seam is a visible jump (measured on the default lia x flow run: seam step 2.0 vs 0.76
inside windows, normalised units); the fade spreads the difference over k frames. It costs
n_cur / (n_cur - k) times the windows.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F

# fn(prev_motion [B, n_prev, dim] | None, prev_audio [B, n_prev, d_a] | None,
#    cur_audio [B, n_cur, d_a], valid_len) -> [B, n_cur, dim]
WindowFn = Callable[
    [Optional[torch.Tensor], Optional[torch.Tensor], torch.Tensor, int], torch.Tensor
]


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
) -> torch.Tensor:
    """audio [B, T, d_a] -> motion [B, T, dim], calling ``fn`` once per window.

    The first window gets ``start_motion`` / ``start_audio`` ([n_prev, ·] or [B, n_prev, ·], e.g. learned
    start features) or None (the function then uses its own zeros). Later windows get the ``n_prev``
    frames before their first one (final, cross-faded frames); when fewer exist, the start features (or
    zeros) fill the front. With ``overlap`` k, a window's first k frames are blended with the previous
    window's last k by weights rising linearly from 1/(k+1) to k/(k+1).
    """
    b, total, _ = audio.shape
    start_motion, start_audio = _batched(start_motion, b), _batched(start_audio, b)
    out_motion: torch.Tensor | None = None  # [B, frames so far, dim]
    for w, s in enumerate(window_starts(total, n_cur, overlap)):
        cur = audio[:, s : s + n_cur]
        valid = cur.shape[1]
        cur = F.pad(cur, (0, 0, 0, n_cur - valid))
        prev_motion = prev_audio = None
        if n_prev > 0 and w > 0:
            prev_motion = _tail(out_motion[:, :s], start_motion, n_prev)
            prev_audio = _tail(audio[:, :s], start_audio, n_prev)
        elif n_prev > 0:
            prev_motion, prev_audio = start_motion, start_audio
        out = fn(prev_motion, prev_audio, cur, valid)
        if out.shape[:2] != (b, n_cur):
            raise ValueError(f"window function returned {tuple(out.shape)}, expected [{b}, {n_cur}, dim]")
        out = out[:, :valid]
        if out_motion is None:
            out_motion = out
            continue
        k = out_motion.shape[1] - s  # frames shared with what exists: the overlap (0 without one)
        ramp = torch.arange(1, k + 1, dtype=out.dtype, device=out.device)[None, :, None] / (overlap + 1)
        blended = (1 - ramp) * out_motion[:, s:] + ramp * out[:, :k]
        out_motion = torch.cat([out_motion[:, :s], blended, out[:, k:]], dim=1)
    return out_motion


def _tail(seq: torch.Tensor, start: torch.Tensor | None, n: int) -> torch.Tensor:
    """The last n frames of seq [B, T, ·], with the start features (or zeros) in front when T < n."""
    if seq.shape[1] < n:
        front = start if start is not None else seq.new_zeros(seq.shape[0], n, seq.shape[2])
        seq = torch.cat([front, seq], dim=1)
    return seq[:, -n:]
