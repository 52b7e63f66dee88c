"""Wall-clock timing helpers for the speed columns (frames/s, steps/s)."""
from __future__ import annotations

import platform
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import torch


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


def device_name(device: torch.device | str | None = None) -> str:
    """What ran the timed code, for speed notes: ``cuda: <GPU name>`` or ``cpu: <model>, N threads``.

    ``device`` defaults to the first GPU when torch sees CUDA, else the CPU. The thread count is
    part of the CPU name because CPU speed columns scale with it."""
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        dev = torch.device(device if device is not None else "cuda" if torch.cuda.is_available() else "cpu")
        if dev.type == "cuda":
            return f"cuda: {torch.cuda.get_device_name(dev)}"
    name = _cpu_model()
    return f"cpu: {name}, {torch.get_num_threads()} threads" if torch is not None else f"cpu: {name}"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"
