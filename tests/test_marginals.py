"""Gaussian marginals (``extract.marginals=gaussian``): each motion dimension through its training CDF to a
standard normal and back; a rare event lands where its share of frames puts it; the statistics travel in the
normaliser's state; the pipeline trains on them and measures in z-scores."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from representations.base import Normalizer
from sandbox.errors import ConfigError


def mixed_motion(seed: int, n: int = 4000) -> torch.Tensor:
    """[n, 3]: a Gaussian, an atom at 0 with a skewed tail (a blendshape), rare spikes (a blink)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    atom = torch.rand(n, generator=g) < 0.6
    x[:, 1] = torch.where(atom, torch.zeros(n), torch.rand(n, generator=g) ** 3)
    spike = torch.rand(n, generator=g) < 0.04
    x[:, 2] = spike.float() * (4 + torch.rand(n, generator=g)) + 0.01 * torch.randn(n, generator=g)
    return x


def gaussian(x: torch.Tensor) -> Normalizer:
    return Normalizer(x.shape[1]).fit(x).fit_gaussian(x)


@settings(deadline=None, max_examples=15)
@given(st.integers(0, 10_000))
def test_marginals_are_standard_normal_and_the_round_trip_holds(seed):
    x = mixed_motion(seed)
    norm = gaussian(x)
    y = norm.normalize(x)
    cont = y[:, [0, 2]]  # the continuous columns (the atom's share is one point)
    torch.testing.assert_close(cont.mean(0), torch.zeros(2), atol=0.02, rtol=0)
    torch.testing.assert_close(cont.std(0), torch.ones(2), atol=0.03, rtol=0)
    for d in range(3):  # monotone: the order of the frames is kept in every dimension
        order = torch.argsort(x[:, d])
        assert (y[order, d].diff() >= -1e-6).all()
    back = norm.denormalize(y)
    assert torch.equal(back[x[:, 1] == 0, 1], torch.zeros(int((x[:, 1] == 0).sum())))  # the atom comes back exact
    assert (back - x).abs().mean() < 1e-4  # the quantile grid costs only the tails' extreme frames
    inside = (x > x.quantile(0.01, 0)) & (x < x.quantile(0.99, 0))
    assert (back - x).abs()[inside].max() < 0.02


def test_a_rare_event_lies_where_its_share_puts_it_and_noise_draws_it_as_often():
    x = mixed_motion(0, 20_000)
    norm = gaussian(x)
    spikes = x[:, 2] > 2
    assert norm.zscore(x)[spikes, 2].min() > 3.5  # 4% of frames, 4-5 z-scores out
    y = norm.normalize(x)[spikes, 2]
    assert 1.6 < y.min() and y.max() <= 4.06  # the last frame: half a frame's share from 1
    draws = norm.denormalize(torch.randn(200_000, 3, generator=torch.Generator().manual_seed(1)))
    share = (draws[:, 2] > 2).float().mean()
    assert abs(share - spikes.float().mean()) < 0.005  # noise from N(0, 1) makes the event at its real rate
    assert draws[:, 1].min() >= 0 and abs((draws[:, 1] == 0).float().mean() - 0.6) < 0.02  # and the atom
    assert draws.max(0).values.le(x.max(0).values + 1e-5).all()  # nothing beyond the training range


def test_to_zscore_is_the_identity_without_gaussian_marginals():
    x = mixed_motion(3)
    plain, gauss = Normalizer(3).fit(x), gaussian(x)
    z = plain.normalize(x)
    assert plain.to_zscore(z) is z  # the default's measures are untouched, bit for bit
    inner = (x > x.min(0).values) & (x < x.max(0).values)  # each extreme frame moves to half a frame's share
    assert (gauss.to_zscore(gauss.normalize(x)) - plain.zscore(x)).abs()[inner].max() < 0.05
    torch.testing.assert_close(gauss.zscore(x), z)


def test_the_quantiles_travel_in_the_state_dict_and_are_read_only():
    x = mixed_motion(4)
    norm = gaussian(x)
    assert set(Normalizer(3).fit(x).state_dict()) == {"mean", "std", "fitted"}  # earlier statistics still load
    fresh = Normalizer(3)
    fresh.load_state_dict(norm.state_dict())
    assert torch.equal(fresh.normalize(x), norm.normalize(x))
    with pytest.raises(RuntimeError, match="read-only"):
        norm.fit_gaussian(x)
    with pytest.raises(RuntimeError, match="affine statistics first"):
        Normalizer(3).fit_gaussian(x)
    plain = Normalizer(3).fit(x)
    plain.load_state_dict(norm.state_dict())  # a plain normaliser takes them on
    assert torch.equal(plain.normalize(x), norm.normalize(x))
    with pytest.raises(RuntimeError):
        gaussian(x).load_state_dict(Normalizer(3).fit(x).state_dict())  # but never drops them silently


def test_an_unknown_scheme_is_refused_before_any_work():
    from sandbox.run import compose_config

    with pytest.raises(ConfigError, match="extract.marginals"):
        compose_config(["rep=3dmm", "gen=flow", "preset=smoke", "extract.marginals=quantile"])


def test_the_pipeline_trains_on_gaussian_marginals_and_measures_in_z_scores(tmp_path):
    from sandbox.run import main as run_main

    cache, out = tmp_path / "cache", tmp_path / "run"
    assert run_main(["rep=3dmm", "gen=flow", "preset=smoke", f"paths.cache={cache}", f"out={out}",
                     "extract.marginals=gaussian", "train.max_steps=6"]) == 0
    art = json.loads((out / "artifacts.json").read_text())["extract"]["path"]
    state = torch.load(f"{art}/normalizer.pt", weights_only=True)
    assert state["quantiles"].shape == (1001, 20)
    with np.load(next((out / "samples").glob("*.npz"))) as z:
        real, real_norm = z["real_motion"], z["real_motion_norm"]
    np.testing.assert_allclose(real_norm, (real - state["mean"].numpy()) / state["std"].numpy(), atol=1e-4)
    metrics = json.loads((out / "metrics.json").read_text())["rows"]
    assert metrics["reconstruction"]["motion_fd"] < 1e-3  # real motion, stored and drawn back, is itself
