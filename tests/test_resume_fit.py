"""An interrupted representation fit resumes from its last checkpoint: train_image_module directly, and
the fit stage killed with SIGKILL partway then rerun (`fit.resume`)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from sandbox.trainers.factory import seed_everything
from sandbox.trainers.image_module import ImageReconstructionModule, train_image_module

ROOT = Path(__file__).resolve().parents[1]
KW = dict(loggers=("csv",), log_every_n_steps=1, enable_progress_bar=False, checkpoint_every_n_steps=2)


def _module(seed: int, **kw) -> ImageReconstructionModule:
    torch.manual_seed(seed)
    model = nn.Conv2d(3, 3, 3, padding=1)
    return ImageReconstructionModule(model, lambda b: model(b["source"]), 1e-2, {"mouth": 1.0}, ("mouth", "eyes"), **kw)


def _pairs(n: int = 16) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [{"source": torch.rand(3, 8, 8, generator=g), "driving": torch.rand(3, 8, 8, generator=g),
             "masks": (torch.rand(2, 8, 8, generator=g) > 0.5).float()} for _ in range(n)]


def _weights(module: ImageReconstructionModule) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.model.parameters()]


def test_train_image_module_resumes(tmp_path):
    data = _pairs()
    # no checkpoint in run_dir: the same numbers as a run in a temporary directory
    seed_everything(0)
    a = _module(0)
    ma = train_image_module(a, data, 4, 4, None, **KW)
    seed_everything(0)
    b = _module(0)
    mb = train_image_module(b, data, 4, 4, tmp_path, **KW)
    assert ma == mb and "resumed_from_step" not in mb and mb["steps"] == 4
    assert all(torch.equal(x, y) for x, y in zip(_weights(a), _weights(b)))
    # the run "was killed" after its step-4 checkpoint: 4 -> 6 more steps go on from there
    c = _module(1)  # another init: the checkpoint's weights must win
    mc = train_image_module(c, data, 4, 4, tmp_path, **KW)  # already at 4: nothing left to train
    assert mc["resumed_from_step"] == 4 and mc["steps"] == 4 and mc["train_loss_first"] == mb["train_loss_first"]
    assert all(torch.equal(x, y) for x, y in zip(_weights(b), _weights(c)))
    d = _module(1)
    md = train_image_module(d, data, 6, 4, tmp_path, **KW)
    assert md["resumed_from_step"] == 4 and md["steps"] == 6
    assert len(d.history) == 6 and md["train_loss_first"] == mb["train_loss_first"]  # the whole run's losses
    assert (tmp_path / "logs" / "metrics.part0.csv").is_file()  # the interrupted part's curve is kept
    # resume=False: afresh, whatever run_dir holds
    me = train_image_module(_module(1), data, 6, 4, tmp_path, resume=False, **KW)
    assert "resumed_from_step" not in me and me["steps"] == 6


def test_fit_lr_schedule_decays_and_resumes_mid_schedule(tmp_path):
    """fit.rep.lr_schedule=cosine: the rate warms up and ends near 0 at the last step (other weights than a
    constant rate), and a fit killed halfway resumes the schedule where it stopped instead of warming up again."""
    import lightning as L

    data, cos = _pairs(), dict(lr_schedule="cosine", warmup_steps=2)
    last_lr = lambda m: m.trainer.optimizers[0].param_groups[0]["lr"]  # noqa: E731
    seed_everything(0)
    whole = _module(0, **cos)
    train_image_module(whole, data, 8, 4, None, **KW)
    assert last_lr(whole) < 1e-4  # 1e-2 at the peak
    seed_everything(0)
    const = _module(0)
    train_image_module(const, data, 8, 4, None, **KW)
    assert last_lr(const) == 1e-2 and any(not torch.equal(x, y) for x, y in zip(_weights(whole), _weights(const)))

    class Kill(L.Callback):
        def on_train_batch_start(self, trainer, *args):
            if trainer.global_step == 5:  # after the step-4 checkpoint
                raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        train_image_module(_module(0, **cos), data, 8, 4, tmp_path, callbacks=[Kill()], **KW)
    resumed = _module(0, **cos)
    m = train_image_module(resumed, data, 8, 4, tmp_path, **KW)
    # a schedule started afresh at step 4 would sit mid-way (about 5e-3) at the end
    assert m["resumed_from_step"] == 4 and last_lr(resumed) < 1e-4
    with pytest.raises(ValueError, match="fit.rep.lr_schedule='cosine_annealing'"):
        _module(0, lr_schedule="cosine_annealing")


def _fit_args(cache: Path, out: Path, *extra: str) -> list[str]:
    return ["rep=lia", "gen=flow", "preset=smoke", "stage=fit", f"paths.cache={cache}", f"out={out}", *extra]


def test_fit_stage_resumability_follows_fit_resume(monkeypatch, tmp_path):
    """fit.resume picks whether the fit keeps its .partial (cache.build_or_reuse wipes it otherwise);
    neither it nor the checkpoint interval enters the cache key; the interval reaches make_trainer."""
    from sandbox.pipeline import fit
    from sandbox.pipeline.context import Context
    from sandbox.run import compose_config

    seen = []

    def build(self, stage, key, build, resumable=False):
        seen.append((key, resumable))
        raise StopIteration

    monkeypatch.setattr(Context, "build", build)

    def data(ctx):
        ctx.hashes["data"] = "d"

    for extra in ([], ["fit.resume=false", "fit.checkpoint_every=3"]):
        cfg = compose_config(_fit_args(tmp_path / "cache", tmp_path / "r", *extra))
        ctx = Context(cfg=cfg, run_dir=tmp_path / "r", cache_root=tmp_path / "cache", choices={}, stages={"data": data})
        with pytest.raises(StopIteration):
            fit.run(ctx)
    assert seen[0][1] is True and seen[1][1] is False and seen[0][0] == seen[1][0]
    assert fit.trainer_settings(cfg)["checkpoint_every_n_steps"] == 3


def test_checkpoint_every_is_refused_where_nothing_checkpoints(tmp_path):
    from sandbox.errors import ConfigError
    from sandbox.run import compose_config

    with pytest.raises(ConfigError, match="positive"):
        compose_config(_fit_args(tmp_path, tmp_path, "fit.checkpoint_every=0"))
    # the 3dmm representation and the mesh-warp renderer learn nothing through a trainer
    with pytest.raises(ConfigError, match="writes checkpoints"):
        compose_config(["rep=3dmm", "gen=flow", "renderer=mesh_warp", "preset=smoke", "fit.checkpoint_every=5"])


def test_killed_fit_resumes_from_its_checkpoint(tmp_path):
    """SIGKILL the fit stage (rep=lia, smoke preset) once its first checkpoint is on disk; the rerun
    continues from it and ends at the requested step count."""
    from sandbox.run import compose_config, run_pipeline

    cache, steps, every = tmp_path / "cache", 8, 2
    args = _fit_args(cache, tmp_path / "r0", f"scale.fit_steps={steps}", f"fit.checkpoint_every={every}",
                     "+fit.rep.val_pairs=0", "+trainer.log_every_n_steps=1")  # a CSV log to keep
    env = {**os.environ, "SANDBOX_NO_PROGRESS": "1"}
    with open(tmp_path / "log.txt", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "sandbox.run", *args], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 300
            while not list(cache.glob("fit/*.partial/rep_fit/checkpoints/last.ckpt")):
                assert proc.poll() is None, (tmp_path / "log.txt").read_text()[-3000:]
                assert time.monotonic() < deadline, "no fit checkpoint appeared"
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()
    assert not list(cache.glob("fit/*/done")) and len(list(cache.glob("fit/*.partial"))) == 1

    ctx = run_pipeline(compose_config(args))
    info = json.loads((ctx.artifacts["fit"] / "info.json").read_text())["rep"]
    assert info["steps"] == steps and 0 < info["resumed_from_step"] < steps
    assert info["resumed_from_step"] % every == 0
    assert (ctx.artifacts["fit"] / "rep_fit" / "logs" / "metrics.part0.csv").is_file()
