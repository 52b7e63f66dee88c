"""Wall-clock timing helpers for the speed columns (frames/s, steps/s)."""
from __future__ import annotations

import platform
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator


@dataclass
class Timing:
    seconds: float = 0.0


def _cuda_sync() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
    except ImportError:
        pass


@contextmanager
def timer(sync_cuda: bool = True) -> Iterator[Timing]:
    """``with timer() as t: ...`` then ``t.seconds``. Synchronises CUDA on entry and exit (when
    present) so asynchronous kernels are counted in the block that launched them."""
    t = Timing()
    if sync_cuda:
        _cuda_sync()
    start = time.perf_counter()
    try:
        yield t
    finally:
        if sync_cuda:
            _cuda_sync()
        t.seconds = time.perf_counter() - start


def throughput(n_frames: int | float, seconds: float) -> float:
    """Items per second; NaN when no time was measured (avoids a fake inf in reports)."""
    return float(n_frames) / seconds if seconds > 0 else float("nan")


def device_name() -> str:
    """The GPU name when torch sees CUDA, otherwise the CPU model (for the report's speed notes)."""
    try:
        import torch

        if torch.cuda.is_available():
            return f"cuda: {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return f"cpu: {line.split(':', 1)[1].strip()}"
    except OSError:
        pass
    return f"cpu: {platform.processor() or platform.machine() or 'unknown'}"
