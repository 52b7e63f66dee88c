"""Sweeps on Hydra's multirun machinery (sandbox.sweep) and per-stage seeds."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from sandbox.errors import ConfigError
from sandbox.report import aggregate
from sandbox.run import compose_config
from sandbox.sweep import expand, preflight_jobs, split_overrides


def test_hydra_grammar_expands_to_the_cartesian_product():
    jobs = expand(["rep=lia", "gen=flow,diffusion", "gen.conditioning=adaln,cross_attn", "seed=range(0,3)"])
    assert len(jobs) == 2 * 2 * 3
    assert ["rep=lia", "gen=diffusion", "gen.conditioning=cross_attn", "seed=2"] in jobs
    names = {j[0] for j in expand(["gen=glob(*,exclude=[gohd,two_stage,conformer])"])}
    assert names == {"gen=flow", "gen=diffusion"}  # glob() reads the config group
    with pytest.raises(ConfigError, match="cannot parse"):
        expand(["gen=flow,"])


def test_sweep_refuses_keys_it_would_ignore():
    job, hyd = split_overrides(["gen=flow,diffusion", "hydra.sweep.dir=S", "hydra/launcher=basic"])
    assert job == ["gen=flow,diffusion"] and hyd == ["hydra.sweep.dir=S", "hydra/launcher=basic"]
    with pytest.raises(ConfigError, match="hydra.sweep.dir"):
        split_overrides(["gen=flow", "out=X"])
    with pytest.raises(ConfigError, match="single runs"):
        split_overrides(["gen=flow", "hydra.run.dir=X"])


def test_every_job_is_checked_before_any_starts():
    jobs = expand(["rep=lia", "preset=smoke", "gen=flow,diffusion", "stage=fit,nope"])
    with pytest.raises(ConfigError, match=r"job 1 \(.*stage=nope.*unknown stage"):
        preflight_jobs(jobs)


def test_stage_seeds_follow_the_run_seed_unless_set_alone():
    cfg = compose_config(["rep=lia", "gen=flow", "preset=smoke", "seed=3"])
    assert (cfg.seeds.fit, cfg.seeds.train, cfg.seeds.sample) == (3, 3, 3)
    cfg = compose_config(["rep=lia", "gen=flow", "preset=smoke", "seeds.train=7"])
    assert (cfg.seeds.fit, cfg.seeds.train, cfg.seeds.sample) == (0, 7, 0)


def test_local_sweep_shares_stages_and_reports(tmp_path):
    """Two generator seeds on the smoke preset: Hydra launches both jobs, the second reuses the data,
    the representation fit and the extraction (only training differs), and sandbox.report pools them."""
    env = dict(os.environ, SANDBOX_NO_PROGRESS="1")
    cmd = [sys.executable, "-m", "sandbox.run", "-m", "rep=lia", "gen=flow", "preset=smoke", "seeds.train=0,1",
           f"paths.cache={tmp_path / 'cache'}", f"hydra.sweep.dir={tmp_path / 'sweep'}", "eval.diversity_seeds=1"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = sorted(p for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["0", "1"]
    art = [json.loads((j / "artifacts.json").read_text()) for j in jobs]
    assert all(art[0][s]["hash"] == art[1][s]["hash"] for s in ("data", "fit", "extract"))
    assert art[0]["train"]["hash"] != art[1]["train"]["hash"]
    assert "reusing fit" in (jobs[1] / "run.log").read_text()
    assert yaml.safe_load((jobs[1] / "overrides.yaml").read_text())[-1] == "eval.diversity_seeds=1"
    (line,), _, _ = aggregate([tmp_path / "sweep"], ("run",), ("sync_confidence",))
    assert len(line.runs) == 2 and line.values["sync_confidence"][0] is not None
