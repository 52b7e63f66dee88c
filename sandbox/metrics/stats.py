"""Confidence intervals for comparisons: a percentile bootstrap over clips, and over training seeds
and clips together (two levels: resample the seeds, then the clips within each drawn seed), so a
table's interval carries both the clip-to-clip and the seed-to-seed spread.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

LEVEL = 0.95
N_RESAMPLES = 2000
SEED = 0  # fixed: the same numbers give the same interval


def _finite(xs: Sequence[float | None]) -> np.ndarray:
    a = np.asarray([x for x in xs if x is not None], dtype=np.float64)
    return a[np.isfinite(a)]


def hierarchical_ci(groups: Sequence[Sequence[float | None]], level: float = LEVEL,
                    n_resamples: int = N_RESAMPLES, seed: int = SEED) -> tuple[float | None, float | None, float | None]:
    """(mean, low, high) of the grand mean of ``groups`` (one list of per-clip values per seed).

    The mean weighs every seed equally (the mean of per-seed means). The interval resamples seeds with
    replacement and, inside each drawn seed, its clips; with one group it is the ordinary bootstrap over
    clips. Missing values (None / NaN) are dropped; a group with none left is dropped. Fewer than two
    values in all: the mean and no interval."""
    gs = [g for g in (_finite(g) for g in groups) if g.size]
    if not gs:
        return None, None, None
    mean = float(np.mean([g.mean() for g in gs]))
    if sum(g.size for g in gs) < 2:
        return mean, None, None
    lo, hi = np.quantile(resampled_means(gs, n_resamples, np.random.default_rng(seed)), [(1 - level) / 2, (1 + level) / 2])
    return mean, float(lo), float(hi)


def resampled_means(groups: Sequence[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """[n] bootstrap replicates of the mean of per-group means: groups drawn with replacement (when
    there are several), then the values inside each drawn group."""
    return resampled_column_means([np.asarray(g)[:, None] for g in groups], n, rng)[:, 0]


def resampled_column_means(groups: Sequence[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """[n, k] replicates as :func:`resampled_means` draws them, of groups of [clips, k] values: the k columns
    of a drawn clip stay together (several metrics of the same clips), so a statistic of them is resampled
    jointly."""
    k = len(groups)
    out = np.empty((n, groups[0].shape[1]))
    for i in range(n):
        picks = rng.integers(0, k, k) if k > 1 else np.zeros(1, int)
        out[i] = np.mean([groups[j][rng.integers(0, len(groups[j]), len(groups[j]))].mean(0) for j in picks], axis=0)
    return out


def _complete_rows(groups: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Each [clips, k] group without its clips that miss a value; groups left empty dropped."""
    gs = [g[np.isfinite(g).all(1)] for g in (np.asarray(g, np.float64) for g in groups)]
    gs = [g for g in gs if len(g)]
    if not gs:
        raise ValueError("no clip has every value")
    return gs


def grand_column_means(groups: Sequence[np.ndarray]) -> np.ndarray:
    """[k] means of ``groups`` ([clips, k] per seed) weighing seeds equally, as :func:`hierarchical_statistic_ci`
    takes them (clips missing a value dropped), without its interval."""
    return _seed_weighted_means(_complete_rows(groups))


def _seed_weighted_means(complete: Sequence[np.ndarray]) -> np.ndarray:
    return np.mean([g.mean(0) for g in complete], axis=0)


def hierarchical_statistic_ci(groups: Sequence[np.ndarray], statistic: Callable[[np.ndarray], float],
                              level: float = LEVEL, n_resamples: int = N_RESAMPLES,
                              seed: int = SEED) -> tuple[float, float | None, float | None]:
    """(value, low, high) of ``statistic`` of the grand column means of ``groups`` (one [clips, k] array per
    seed; the grand mean weighs seeds equally), e.g. a ratio of two metrics' means, with the interval of
    :func:`hierarchical_ci`: seeds, then clips within each, resampled, every column of a clip together.
    Rows with a missing value are dropped."""
    gs = _complete_rows(groups)
    value = float(statistic(_seed_weighted_means(gs)))
    if sum(len(g) for g in gs) < 2:
        return value, None, None
    reps = np.array([statistic(m) for m in resampled_column_means(gs, n_resamples, np.random.default_rng(seed))])
    lo, hi = np.quantile(reps[np.isfinite(reps)], [(1 - level) / 2, (1 + level) / 2])
    return value, float(lo), float(hi)


def difference_ci(a: Sequence[Sequence[float | None]], b: Sequence[Sequence[float | None]], level: float = LEVEL,
                  n_resamples: int = N_RESAMPLES, seed: int = SEED) -> tuple[float | None, float | None, float | None]:
    """(mean(a) - mean(b), low, high): the two arms resampled independently as in :func:`hierarchical_ci`."""
    ga = [g for g in (_finite(g) for g in a) if g.size]
    gb = [g for g in (_finite(g) for g in b) if g.size]
    if not ga or not gb:
        return None, None, None
    diff = float(np.mean([g.mean() for g in ga]) - np.mean([g.mean() for g in gb]))
    if sum(g.size for g in ga) < 2 or sum(g.size for g in gb) < 2:
        return diff, None, None
    rng = np.random.default_rng(seed)
    d = resampled_means(ga, n_resamples, rng) - resampled_means(gb, n_resamples, rng)
    lo, hi = np.quantile(d, [(1 - level) / 2, (1 + level) / 2])
    return diff, float(lo), float(hi)


def paired_difference_ci(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], level: float = LEVEL,
                         n_resamples: int = N_RESAMPLES, seed: int = SEED) -> tuple[float | None, float | None, float | None]:
    """(mean(a) - mean(b), low, high) where ``a`` and ``b`` hold the same seeds and clips (two samplers of one
    training, say): the per-clip differences resampled as in :func:`hierarchical_ci`, so noise the two share
    cancels instead of widening the interval as in :func:`difference_ci`."""
    sizes = [len(g) for g in a], [len(g) for g in b]
    if sizes[0] != sizes[1]:
        raise ValueError(f"paired groups: the seeds or clips differ ({sizes[0]} against {sizes[1]} values per seed)")
    return hierarchical_ci([np.subtract(x, y) for x, y in zip(a, b)], level, n_resamples, seed)


def set_statistic_ci(items: Sequence, statistic: Callable[[Sequence], float], level: float = LEVEL,
                     n_resamples: int = 200, seed: int = SEED) -> tuple[float | None, float | None]:
    """(low, high) of a statistic of a whole set (e.g. a Frechet distance of pooled clips), resampling the
    items (clips) with replacement; resamples where the statistic fails are skipped."""
    if len(items) < 2:
        return None, None
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n_resamples):
        try:
            v = float(statistic([items[j] for j in rng.integers(0, len(items), len(items))]))
        except ValueError:
            continue
        if np.isfinite(v):
            vals.append(v)
    if len(vals) < n_resamples // 2:
        return None, None
    lo, hi = np.quantile(vals, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
