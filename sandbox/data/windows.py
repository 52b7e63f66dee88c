"""Training windows for generators: the batch layout of ``generators/base.py``.

Each item is one window of L' preceding + L current frames cut at a random start of a random clip
(clips weighted by length). Frames before the clip start (or past its end) are zeros with
``mask=False``; with ``truncate_prob`` the current part is cut short at a random length (JoyVASA's
random truncation) so generators learn to stop anywhere.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset


class WindowDataset(Dataset):
    def __init__(
        self,
        clips: Sequence[dict[str, np.ndarray]],
        n_prev: int,
        n_cur: int,
        truncate_prob: float = 0.1,
        first_window_prob: float = 0.1,
        samples_per_epoch: int = 1000,
        deterministic: bool = False,
        seed: int = 0,
    ):
        """clips: dicts with ``motion`` [T, dim] (normalised), ``audio`` [T, d_a], ``x_ref`` [dim],
        ``emotion`` [7]. ``first_window_prob``: how often a window starts at frame 0 (no real
        preceding frames: the start window generators meet first at sampling time).
        ``deterministic``: item i is always the same window (validation)."""
        if not clips:
            raise ValueError("WindowDataset needs at least one clip")
        self.clips = [{k: torch.as_tensor(np.asarray(v)) for k, v in c.items()} for c in clips]
        self.n_prev, self.n_cur = int(n_prev), int(n_cur)
        self.truncate_prob = float(truncate_prob)
        self.first_window_prob = float(first_window_prob)
        self.samples_per_epoch = int(samples_per_epoch)
        self.deterministic = deterministic
        self.seed = seed
        lengths = torch.tensor([c["motion"].shape[0] for c in self.clips], dtype=torch.float64)
        self.weights = lengths / lengths.sum()

    def __len__(self) -> int:
        return self.samples_per_epoch

    def _generator(self, i: int) -> torch.Generator | None:
        # training draws from the global RNG (seeded per worker by Lightning); validation is fixed
        return torch.Generator().manual_seed(self.seed * 1_000_003 + i) if self.deterministic else None

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        g = self._generator(i)
        c = self.clips[int(torch.multinomial(self.weights, 1, generator=g))]
        motion, audio = c["motion"].float(), c["audio"].float()
        t, lp, lc = motion.shape[0], self.n_prev, self.n_cur
        if torch.rand((), generator=g) < self.first_window_prob:
            start = 0
        else:
            start = int(torch.randint(0, max(t - lc, 0) + 1, (), generator=g))
        idx = torch.arange(start - lp, start + lc)
        mask = (idx >= 0) & (idx < t)
        if lc > 1 and torch.rand((), generator=g) < self.truncate_prob:
            cut = int(torch.randint(1, lc, (), generator=g))
            mask[lp + cut :] = False
        x = torch.zeros(lp + lc, motion.shape[1])
        a = torch.zeros(lp + lc, audio.shape[1])
        x[mask] = motion[idx[mask]]
        a[mask] = audio[idx[mask]]
        return {"x": x, "audio": a, "x_ref": c["x_ref"].float(), "emotion": c["emotion"].float(), "mask": mask}
