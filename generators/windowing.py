"""Window-by-window generation of arbitrarily long sequences (FLOAT, JoyVASA).

Windows of ``n_cur`` frames are generated in order; each sees the last ``n_prev`` generated frames and
their audio features as clean context. The last window is zero-padded to ``n_cur`` (the function gets
``valid_len`` to mask the padding) and cropped.
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


def n_windows(total: int, n_cur: int) -> int:
    return -(-total // n_cur)


def generate_windows(
    fn: WindowFn,
    audio: torch.Tensor,
    n_prev: int,
    n_cur: int,
    start_motion: torch.Tensor | None = None,
    start_audio: torch.Tensor | None = None,
) -> torch.Tensor:
    """audio [B, T, d_a] -> motion [B, T, dim], calling ``fn`` once per window.

    The first window gets ``start_motion`` / ``start_audio`` ([n_prev, ·] or [B, n_prev, ·], e.g. learned
    start features) or None (the function then uses its own zeros). Later windows get the last ``n_prev``
    frames of everything generated so far; when fewer than ``n_prev`` exist (n_cur < n_prev), the start
    features (or zeros) fill the front.
    """
    b, total, _ = audio.shape
    start_motion, start_audio = _batched(start_motion, b), _batched(start_audio, b)
    motion_hist: list[torch.Tensor] = []
    audio_hist: list[torch.Tensor] = []
    for w in range(n_windows(total, n_cur)):
        cur = audio[:, w * n_cur : (w + 1) * n_cur]
        valid = cur.shape[1]
        cur = F.pad(cur, (0, 0, 0, n_cur - valid))
        prev_motion = prev_audio = None
        if n_prev > 0 and w > 0:
            prev_motion = _tail(motion_hist, start_motion, n_prev)
            prev_audio = _tail(audio_hist, start_audio, n_prev)
        elif n_prev > 0:
            prev_motion, prev_audio = start_motion, start_audio
        out = fn(prev_motion, prev_audio, cur, valid)
        if out.shape[:2] != (b, n_cur):
            raise ValueError(f"window function returned {tuple(out.shape)}, expected [{b}, {n_cur}, dim]")
        motion_hist.append(out[:, :valid])
        audio_hist.append(cur[:, :valid])
    return torch.cat(motion_hist, dim=1)


def _tail(hist: list[torch.Tensor], start: torch.Tensor | None, n: int) -> torch.Tensor:
    seq = torch.cat(hist, dim=1)
    if seq.shape[1] < n:
        front = start if start is not None else seq.new_zeros(seq.shape[0], n, seq.shape[2])
        seq = torch.cat([front, seq], dim=1)
    return seq[:, -n:]
