"""Map a function over jobs in forked worker processes, the first job in this process.

The first job runs here before any worker is forked, so what the jobs compile (librosa's numba
kernels: pyin, onset detection) is compiled once and the workers inherit it. Forked workers that each
compiled them wrote numba's on-disk cache at the same time, and every later process that loaded the
mixed cache crashed in librosa.pyin (a segfault; numba 0.61, librosa 0.11, 2026-12-05).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

J = TypeVar("J")
R = TypeVar("R")


def fork_map(fn: Callable[[J], R], jobs: Iterable[J], workers: int, chunksize: int = 1) -> Iterator[R]:
    """``fn(job)`` for each job, in order: the first here, the rest in ``workers`` forked processes
    (all here when ``workers`` <= 1). ``fn`` must be picklable by reference (a module-level function)."""
    jobs = list(jobs)
    if not jobs:
        return
    yield fn(jobs[0])
    rest = jobs[1:]
    if workers <= 1 or len(rest) <= 1:
        yield from map(fn, rest)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(min(workers, len(rest)), mp_context=mp.get_context("fork")) as ex:
        yield from ex.map(fn, rest, chunksize=chunksize)
