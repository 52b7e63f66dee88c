"""The generator's training budget (sandbox.budget): a preset's windows, a generator's batch factor, the steps."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.budget import batch, steps_for
from sandbox.errors import ConfigError
from sandbox.pipeline.cache import content_hash
from sandbox.pipeline.train import keyed_train_cfg
from sandbox.registry import yaml_names
from sandbox.run import compose_config

PRESETS = ("smoke", "default", "paper")


def _cfg(*overrides: str):
    return compose_config(["rep=3dmm", *overrides])


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("gen", yaml_names("gen"))
def test_every_generator_sees_the_presets_windows(preset, gen):
    cfg = _cfg(f"gen={gen}", f"preset={preset}")
    bs, steps = int(cfg.train.loader.batch_size), int(cfg.train.max_steps)
    assert bs == int(cfg.scale.batch_size) * int(cfg.train.batch_factor)
    assert steps == int(cfg.scale.train_windows) // bs


def test_flow_trains_on_twice_the_batch_for_half_the_steps_at_the_default_preset():
    flow, diffusion = _cfg("gen=flow", "preset=default"), _cfg("gen=diffusion", "preset=default")
    assert (flow.train.loader.batch_size, flow.train.max_steps) == (32, 750)
    assert (diffusion.train.loader.batch_size, diffusion.train.max_steps) == (16, 1500)
    paper = _cfg("gen=flow", "preset=paper")  # the paper's batch for every generator
    assert (paper.train.loader.batch_size, paper.train.max_steps) == (8, 200_000)


def test_the_batch_or_the_steps_set_alone_leave_the_other():
    assert (lambda c: (c.train.loader.batch_size, c.train.max_steps))(
        _cfg("gen=flow", "preset=default", "train.loader.batch_size=8")) == (8, 750)
    assert (lambda c: (c.train.loader.batch_size, c.train.max_steps))(
        _cfg("gen=flow", "preset=default", "scale.train_steps=4500")) == (32, 4500)


@pytest.mark.parametrize("bad", ["0", "-2", "1.5", "two"])
def test_a_bad_batch_factor_is_refused_before_any_work(bad):
    with pytest.raises(ConfigError, match="train.batch_factor"):
        _cfg("gen=flow", "preset=smoke", f"train.batch_factor={bad}")


def test_the_factor_keys_the_training_through_the_batch_and_steps_it_makes():
    """The factor alone, or the batch and steps it makes set by hand: one training artifact."""
    a = _cfg("gen=flow", "preset=default", "train.batch_factor=1")
    b = _cfg("gen=flow", "preset=default", "train.loader.batch_size=16", "scale.train_steps=1500")
    c = _cfg("gen=flow", "preset=default")
    assert content_hash(keyed_train_cfg(a)) == content_hash(keyed_train_cfg(b))
    assert content_hash(keyed_train_cfg(a)) != content_hash(keyed_train_cfg(c))


@given(windows=st.integers(1, 10**7), base=st.integers(1, 512), factor=st.integers(1, 8))
def test_steps_never_show_more_windows_than_the_budget_or_fewer_than_one_batch_short(windows, base, factor):
    bs = batch(base, factor)
    steps = steps_for(windows, bs)
    assert steps >= 1
    assert steps * bs <= max(windows, bs) and (steps + 1) * bs > windows
