"""The fit precision left to the hardware: ${cpu_bf16:ACCELERATOR,PRECISION} (sandbox.precision)."""
from __future__ import annotations

import pytest
from omegaconf import OmegaConf

import sandbox.precision as precision
from sandbox.pipeline.cache import content_hash
from sandbox.run import compose_config


@pytest.mark.parametrize("native", [True, False])
def test_bf16_only_for_a_cpu_trainer_on_a_cpu_with_bf16_units(monkeypatch, native):
    monkeypatch.setattr(precision, "native_bf16", lambda: native)
    assert precision.cpu_bf16("cpu", "32-true") == ("bf16-mixed" if native else "32-true")
    assert precision.cpu_bf16("gpu", "16-mixed") == "16-mixed"  # a GPU trainer keeps its own setting


def test_lia_fit_precision_resolves_before_the_cache_key(monkeypatch):
    """The fit's key sees the resolved precision: a bf16 fit and a float32 fit never share an artifact."""
    cfg = compose_config(["rep=lia", "gen=flow", "preset=smoke"])
    keys = {}
    for native in (True, False):
        monkeypatch.setattr(precision, "native_bf16", lambda native=native: native)
        rep_fit = OmegaConf.to_container(cfg.fit.rep, resolve=True)
        keys[rep_fit["precision"]] = content_hash("fit", rep_fit)
    assert set(keys) == {"bf16-mixed", "32-true"} and len(set(keys.values())) == 2
    pinned = compose_config(["rep=lia", "gen=flow", "preset=smoke", "fit.rep.precision=32-true"])
    assert OmegaConf.to_container(pinned.fit.rep, resolve=True)["precision"] == "32-true"
