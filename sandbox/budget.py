"""A preset's generator-training budget, counted in windows, and a generator's share of it per step.

A preset sets ``scale.train_windows`` (training windows the generator sees) and ``scale.batch_size``;
a generator config may set ``train.batch_factor``, the batch it trains on as a multiple of the preset's.
The config turns them into the loader's batch and the trainer's steps with these resolvers
(registered by :func:`register_resolvers`, which ``sandbox.run`` calls on import):

- ``${batch:BASE,FACTOR}``: BASE x FACTOR;
- ``${steps_for:WINDOWS,BATCH}``: WINDOWS // BATCH, at least 1.

So one preset trains every generator on the same number of windows, whatever batch each takes. Both
resolve before any cache key is taken.
"""
from __future__ import annotations

from omegaconf import OmegaConf

from sandbox.errors import ConfigError


def _positive_int(value, name: str) -> int:
    try:
        out = int(value)
    except (TypeError, ValueError):
        out = None
    if out is None or out != float(value) or out < 1:
        raise ConfigError(f"{name}={value!r} must be a whole number of at least 1.")
    return out


def batch(base, factor) -> int:
    """The generator's batch: the preset's ``scale.batch_size`` times its ``train.batch_factor``."""
    return _positive_int(base, "scale.batch_size") * _positive_int(factor, "train.batch_factor")


def steps_for(windows, batch_size) -> int:
    """Optimiser steps that show the generator ``windows`` training windows in batches of ``batch_size``."""
    return max(1, _positive_int(windows, "scale.train_windows") // _positive_int(batch_size, "batch size"))


def register_resolvers() -> None:
    for name, fn in (("batch", batch), ("steps_for", steps_for)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
