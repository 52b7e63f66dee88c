import os
from pathlib import Path

import pytest

from experiments.train_profile import fresh_inductor_cache, parse_variant, pays_after, saved_over


def test_pays_after_counts_the_steps_that_repay_a_longer_warm_up():
    # 10 s more warm-up, 0.1 - 0.05 = 0.05 s saved per step: even after 200 steps
    assert pays_after((10.0, 1.0), (20.0, 11.0)) == "200"
    assert pays_after((10.0, 1.0), (5.0, 11.0)) == "never"  # slower steps never repay it
    assert pays_after((10.0, 1.0), (10.0, 11.0)) == "never"
    assert pays_after((10.0, 5.0), (20.0, 1.0)) == "from the start"
    assert pays_after((10.0, 5.0), (5.0, 1.0)) == "never"


def test_variants_take_compile_and_refuse_unknown_keys():
    assert parse_variant("compile:compile=1,threads=1") == ("compile", {"compile": 1, "threads": 1})
    assert parse_variant("default:") == ("default", {})
    with pytest.raises(SystemExit, match="unknown variant key 'compiled'"):
        parse_variant("x:compiled=1")


def test_saved_over_counts_the_warm_ups_too():
    # 100 steps: 1 + 10 s against 11 + 5 s
    assert saved_over(100, (10.0, 1.0), (20.0, 11.0)) == pytest.approx(-5.0)
    assert saved_over(1000, (10.0, 1.0), (20.0, 11.0)) == pytest.approx(40.0)


@pytest.mark.parametrize("before", [None, "/somewhere/else"])
def test_fresh_inductor_cache_points_inductor_at_an_empty_directory_and_puts_it_back(monkeypatch, before):
    if before is None:
        monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    else:
        monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", before)
    with fresh_inductor_cache():
        inside = Path(os.environ["TORCHINDUCTOR_CACHE_DIR"])
        assert inside.is_dir() and not any(inside.iterdir()) and str(inside) != before
    assert os.environ.get("TORCHINDUCTOR_CACHE_DIR") == before and not inside.exists()
