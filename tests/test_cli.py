"""`python -m sandbox.run`: the stage pipeline end to end with tiny test doubles, caching and reuse,
single stages, resumable training, and the user-facing errors."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from generators.base import Generator, SampleOutput
from renderers.base import Renderer
from representations.base import Representation
from sandbox.data.clips import Clip, write_clip, write_index
from sandbox.data.windows import WindowDataset
from sandbox.errors import ConfigError, InputFileError
from sandbox.registry import GENS, RENDERERS, REPS
from sandbox.run import compose_config, main, run_pipeline

ROOT = Path(__file__).resolve().parents[1]
SIZE, T = 16, 24  # tiny clips: 16x16 pixels, ~1 s


# -- test doubles: a 4-d colour "motion" space, a per-frame linear generator, a flat-colour renderer --
class TinyRep(Representation):
    name = "tiny"
    fit_ignores = ("offset",)  # read by encode only: a change reuses the fit (as keypoint's norm)

    def __init__(self, size: int = SIZE, fail_fit: bool = False, offset: float = 0.0):
        super().__init__(4, {"color": slice(0, 3), "bright": slice(3, 4)})
        self.size, self.fail_fit, self.offset = size, fail_fit, offset
        self.gain = nn.Parameter(torch.zeros(4))

    def fit(self, data, steps: int = 1) -> dict:
        if self.fail_fit:
            raise RuntimeError("killed during fit")
        self.gain.data.fill_(1.0)  # "learned": encode is all zeros until fit ran
        return {"steps": steps, "train_clips": len(data.ids("train"))}

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        c = frames.mean((2, 3))
        return torch.cat([c, c.mean(1, keepdim=True)], 1) * self.gain + self.offset

    def reference(self, source_image: torch.Tensor) -> torch.Tensor:
        return source_image


class TinyGen(Generator):
    name = "tiny"

    def __init__(self, dim: int, audio_dim: int, n_prev: int = 2, n_cur: int = 6, hidden: int = 8):
        super().__init__(dim, audio_dim, n_prev, n_cur)
        self.net = nn.Sequential(nn.Linear(audio_dim + dim, hidden), nn.Tanh(), nn.Linear(hidden, dim))

    def _pred(self, audio, x_ref):
        return self.net(torch.cat([audio, x_ref[:, None].expand(-1, audio.shape[1], -1)], -1))

    def loss(self, batch):
        m = batch["mask"][..., None].float()
        mse = ((self._pred(batch["audio"], batch["x_ref"]) - batch["x"]) ** 2 * m).sum() / m.sum().clamp_min(1)
        return {"total": mse, "mse": mse.detach()}

    @torch.no_grad()
    def sample(self, cond, steps=None, guidance=None, seed=None):
        return SampleOutput(self._pred(cond["audio"], cond["x_ref"]), nfe=1)


class TinyRenderer(Renderer):
    name = "tiny"
    representations = ("tiny",)

    def render(self, reference, motion, batch_size: int = 16):
        h, w = reference.shape[1:]
        return motion[:, :3, None, None].clamp(0, 1).expand(-1, 3, h, w).contiguous()


class OtherRenderer(Renderer):
    representations = ("not-tiny",)

    def render(self, reference, motion, batch_size: int = 16):
        raise AssertionError("never drawn")


def tiny_features(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """Per-frame RMS and mean |x|: [T, 2]."""
    a = np.pad(audio, (0, max(0, n_frames * 640 - len(audio))))[: n_frames * 640].reshape(n_frames, 640)
    return np.stack([np.sqrt((a**2).mean(1)), np.abs(a).mean(1)], 1).astype(np.float32)


@pytest.fixture(scope="module", autouse=True)
def doubles():
    REPS.register("tiny", TinyRep, config={"size": SIZE}, extra={"fit": {"rep": {"steps": 1}}})
    GENS.register("tiny", TinyGen, config={"n_prev": 2, "n_cur": 6, "hidden": 8})
    RENDERERS.register("tiny", TinyRenderer)
    RENDERERS.register("other", OtherRenderer)
    yield
    for reg, name in ((REPS, "tiny"), (GENS, "tiny"), (RENDERERS, "tiny"), (RENDERERS, "other")):
        reg.unregister(name)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """4 clips written with sandbox.data.clips: colour and loudness move together (learnable)."""
    root = tmp_path_factory.mktemp("clips")
    splits = {"train": ["c0", "c1"], "val": ["c2"], "test": ["c3"]}
    for i, cid in enumerate(["c0", "c1", "c2", "c3"]):
        t = np.arange(T) / 25
        level = 0.5 + 0.4 * np.sin(2 * np.pi * (0.7 + 0.2 * i) * t)
        frames = np.zeros((T, SIZE, SIZE, 3), np.uint8)
        frames[..., 0] = (255 * level)[:, None, None]
        frames[..., 1] = 60 * i
        s = np.arange(T * 640) / 16000
        audio = (np.repeat(level, 640) * 0.5 * np.sin(2 * np.pi * 200 * s)).astype(np.float32)
        write_clip(root, Clip(cid, frames, audio, meta={"emotion": "happy" if i % 2 else "sad"}))
    write_index(root, splits, {"size": SIZE})
    return root


def overrides(dataset: Path, cache: Path, out: Path, *extra: str) -> list[str]:
    return [
        "rep=tiny", "gen=tiny", "data=dir", f"data.root={dataset}", "preset=smoke",
        f"features._target_={__name__}.tiny_features", "audio_encoder.freq_mask=0", f"paths.cache={cache}", f"out={out}",
        "train.max_steps=4", "train.log_every_n_steps=1", "train.val_check_interval=2",
        "train.windows.samples_per_epoch=8", "train.loader.batch_size=2", "sample.n_clips=1", *extra,
    ]


def run(*args) -> object:
    return run_pipeline(compose_config(list(args)))


def test_end_to_end_then_reuse(dataset, tmp_path):
    cache = tmp_path / "cache"
    ctx = run(*overrides(dataset, cache, tmp_path / "run1"))
    assert [e[:2] for e in ctx.events] == [("build", s) for s in ("data", "fit", "extract", "train", "eval_baselines")]
    assert ctx.choices["renderer"] == "tiny"  # the rep's only renderer, picked without renderer=
    out = ctx.run_dir
    for f in ("config.yaml", "metrics.json", "report.md", "plots/loss.png", "plots/sync.png", "artifacts.json"):
        assert (out / f).is_file(), f
    from sandbox.video import read_video

    frames, fps, audio = read_video(out / "samples" / "c3.mp4")
    assert frames.shape[0] == T and fps == pytest.approx(25) and abs(len(audio) - T * 640) <= 1024
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["rows"]["run"]["nfe"] == 1 and metrics["extra"]["train"]["steps"] == 4
    assert any(k.startswith("train/mse") for k in metrics["extra"]["losses"])
    art = json.loads((out / "artifacts.json").read_text())
    assert all((Path(a["path"]) / "done").is_file() for a in art.values())
    # the extracted motion is normalised with train statistics and the fitted weights were kept
    clip = np.load(Path(art["extract"]["path"]) / "clips" / "c0.npz")
    assert clip["motion"].shape == (T, 4) and clip["audio"].shape == (T, 2)
    assert np.abs(clip["motion"][:, 0]).max() > 0.5  # not all zeros: fit's gain survived the cache
    # second run: every cached stage is reused, the run directory is new
    ctx2 = run(*overrides(dataset, cache, tmp_path / "run2"))
    assert [e[:2] for e in ctx2.events] == [("reuse", s) for s in ("data", "fit", "extract", "train", "eval_baselines")]
    assert ctx2.hashes == ctx.hashes
    # a generator change re-trains but reuses everything before it
    ctx3 = run(*overrides(dataset, cache, tmp_path / "run3", "gen.hidden=6"))
    assert [e[0] for e in ctx3.events] == ["reuse", "reuse", "reuse", "build", "reuse"]  # baselines: no generator


def test_a_key_the_fit_ignores_reuses_the_fit_and_rebuilds_the_extraction(dataset, tmp_path):
    cache = tmp_path / "cache"
    ctx = run(*overrides(dataset, cache, tmp_path / "run1"))
    ctx2 = run(*overrides(dataset, cache, tmp_path / "run2", "+rep.offset=0.5"))
    assert [e[:2] for e in ctx2.events][:4] == [("reuse", "data"), ("reuse", "fit"), ("build", "extract"),
                                                ("build", "train")]
    assert ctx2.hashes["fit"] == ctx.hashes["fit"] and ctx2.hashes["extract"] != ctx.hashes["extract"]
    a = np.load(Path(ctx.artifacts["extract"]) / "clips" / "c0.npz")["motion"]
    b = np.load(Path(ctx2.artifacts["extract"]) / "clips" / "c0.npz")["motion"]
    assert np.allclose(a, b, atol=1e-4)  # a constant offset: the z-scored motion is the same, from its own stats


def test_fitted_state_loads_across_normalisation_schemes(tmp_path):
    """keypoint's fit is shared by norm=zscore and norm=joyvasa, whose normalisers differ in layout: the fit's
    weights load into either; another representation's weights are refused."""
    from sandbox.pipeline.components import build_rep, save_state
    from sandbox.pipeline.fit import fit_config, load_fitted_state

    base = compose_config(["rep=keypoint", "preset=smoke"])
    joy = compose_config(["rep=keypoint", "preset=smoke", "rep.norm=joyvasa"])
    assert fit_config(base) == fit_config(joy) and "norm" not in fit_config(base)
    lia = compose_config(["rep=lia", "preset=smoke"])
    assert fit_config(lia) == OmegaConf.to_container(lia.rep, resolve=True)  # lia's fit key is unchanged
    torch.manual_seed(0)
    save_state(build_rep(base), tmp_path / "rep.pt")
    target = build_rep(joy)
    load_fitted_state(target, tmp_path / "rep.pt")
    saved = torch.load(tmp_path / "rep.pt", weights_only=True)
    assert all(torch.equal(v, saved[k]) for k, v in target.state_dict().items() if not k.startswith("norm."))
    assert target.norm.minmax is not None  # its own normaliser layout, filled later by the extract stage
    save_state(build_rep(lia), tmp_path / "lia.pt")
    with pytest.raises(RuntimeError, match="does not hold"):
        load_fitted_state(target, tmp_path / "lia.pt")


def test_library_upgrade_rebuilds_instead_of_reusing(dataset, tmp_path, monkeypatch):
    import sandbox.pipeline.cache as cache

    first = run(*overrides(dataset, tmp_path / "cache", tmp_path / "a", "stage=fit"))
    real = cache.library_versions()
    monkeypatch.setattr(cache, "library_versions", lambda: {**real, "torch": real["torch"] + ".upgraded"})
    second = run(*overrides(dataset, tmp_path / "cache", tmp_path / "b", "stage=fit"))
    assert [e[0] for e in second.events] == ["build", "build"] and second.hashes["fit"] != first.hashes["fit"]


def test_reopen_gives_the_runs_own_components(dataset, tmp_path):
    from sandbox.pipeline.reopen import reopen

    cache = tmp_path / "cache"
    ctx = run(*overrides(dataset, cache, tmp_path / "r"))
    r = reopen(ctx.run_dir)
    assert r.store.ids("test") == ["c3"] and r.extracted.splits == ctx.results["extract"].splits
    # one normaliser: the extract stage's file; the fit artifact's rep carries none
    assert bool(r.rep.norm.fitted)
    torch.testing.assert_close(r.rep.norm.mean, ctx.rep.norm.mean)
    torch.testing.assert_close(r.rep.norm.std, ctx.rep.norm.std)
    fitted_only = torch.load(ctx.artifacts["fit"] / "rep.pt", weights_only=True)
    assert not bool(fitted_only["norm.fitted"])
    with pytest.raises(RuntimeError, match="read-only"):
        r.rep.norm.fit(torch.randn(5, 4))
    trained = ctx.results["train"].gen.state_dict()
    for k, v in r.gen.state_dict().items():
        torch.testing.assert_close(v, trained[k])
    assert r.metrics["rows"]["run"]["nfe"] == 1
    # a stage the run never reached, and a directory that is no run, say what to do
    early = run(*overrides(dataset, cache, tmp_path / "early", "stage=fit"))
    with pytest.raises(InputFileError, match="stage=extract"):
        reopen(early.run_dir).extracted
    assert not bool(reopen(early.run_dir).rep.norm.fitted)
    with pytest.raises(InputFileError, match="not a run directory"):
        reopen(tmp_path / "nowhere")


def test_python_api_runs_reopens_and_animates(dataset, tmp_path):
    """sandbox.run_crossing is the CLI's run (same cache, run directory, overrides record); Run.animate
    reproduces the sample stage's motion for the same source, audio and seed, and writes the mp4."""
    import sandbox
    from sandbox.video import read_video

    r = sandbox.run_crossing(*overrides(dataset, tmp_path / "cache", tmp_path / "r", "stage=sample"))
    assert (r.run_dir / "overrides.yaml").is_file() and (r.run_dir / "run.log").is_file()
    with np.load(r.run_dir / "samples" / "c3.npz") as z:
        source, audio, motion, emotion = z["source"], z["audio"], z["motion"], str(z["emotion"])
    out = sandbox.reopen(r.run_dir).animate(source, audio, emotion=emotion, mp4=tmp_path / "a.mp4")
    np.testing.assert_allclose(out.motion, motion, atol=1e-5)
    assert out.frames.shape[0] == len(motion) and out.frames.dtype == np.uint8 and out.nfe == 1
    assert read_video(out.mp4)[0].shape[0] == len(motion)
    with pytest.raises(ConfigError, match="emotion=bored"):
        r.animate(source, audio, emotion="bored")


def test_stage_runs_alone(dataset, tmp_path):
    cache = tmp_path / "cache"
    ctx = run(*overrides(dataset, cache, tmp_path / "r", "stage=extract"))
    assert [e[1] for e in ctx.events] == ["data", "fit", "extract"]
    assert not (cache / "train").exists() and not (tmp_path / "r" / "samples").exists()
    ctx = run(*overrides(dataset, cache, tmp_path / "r", "stage=sample"))
    assert [e[:2] for e in ctx.events] == [("reuse", "data"), ("reuse", "fit"), ("reuse", "extract"), ("build", "train")]
    assert (tmp_path / "r" / "samples" / "c3.npz").is_file() and not list((tmp_path / "r" / "samples").glob("*.mp4"))


def test_killed_stage_leaves_nothing_that_looks_complete(dataset, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match="killed"):
        run(*overrides(dataset, cache, tmp_path / "r", "stage=fit", "+rep.fail_fit=true"))
    assert not [p for p in (cache / "fit").iterdir() if (p / "done").exists()]
    assert [p.name.endswith(".partial") for p in (cache / "fit").iterdir() if p.suffix != ".lock"] == [True]


def test_training_resumes_from_last_checkpoint(dataset, tmp_path):
    cache = tmp_path / "cache"
    ctx = run(*overrides(dataset, cache, tmp_path / "r", "stage=train"))
    done = ctx.artifacts["train"]
    assert (done / "checkpoints" / "last.ckpt").is_file()
    # pretend the run was killed after its last checkpoint, before it was marked complete
    (done / "done").unlink()
    done.rename(done.with_name(done.name + ".partial"))
    ctx = run(*overrides(dataset, cache, tmp_path / "r", "stage=train"))
    info = json.loads((ctx.artifacts["train"] / "info.json").read_text())
    assert info["resumed_from"] and info["resumed_from"].endswith("last.ckpt") and info["steps"] == 4
    assert (ctx.artifacts["train"] / "logs" / "metrics.part0.csv").is_file()  # the first part's curves survive


def test_ddp_worker_reads_the_shared_cache_and_writes_nothing_there(dataset, tmp_path, monkeypatch):
    """A process Lightning's DDP launcher started for rank > 0 re-runs the command: it must walk the stages
    up to training (so its trainer.fit meets rank 0's), reuse what the shared cache has, build the rest in
    a private directory it removes, and neither sample nor write a run directory."""
    cache = tmp_path / "cache"
    run(*overrides(dataset, cache, tmp_path / "main", "stage=fit"))
    before = sorted(p.relative_to(cache) for p in cache.rglob("*"))
    monkeypatch.setenv("LOCAL_RANK", "1")
    ctx = run(*overrides(dataset, cache, tmp_path / "worker"))
    assert [e[:2] for e in ctx.events] == [("reuse", "data"), ("reuse", "fit"), ("build", "extract"), ("build", "train")]
    assert ctx.artifacts["fit"].parent.parent == cache  # read from the shared cache
    assert sorted(p.relative_to(cache) for p in cache.rglob("*")) == before  # nothing written there
    assert not (tmp_path / "worker").exists() and "sample" not in ctx.results
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("RANK", "0")
    assert run(*overrides(dataset, cache, tmp_path / "main2", "stage=extract")).private_root is None


@pytest.mark.slow
def test_ddp_two_processes_on_cpu(tmp_path):
    """trainer=ddp end to end with 2 CPU processes (gloo): both ranks train the auto-encoder and the
    two-stage generator (parameters unused in a step are allowed), rank 0 evaluates."""
    env = {**os.environ, "SANDBOX_CACHE": str(tmp_path / "cache"), "SANDBOX_NO_PROGRESS": "1"}
    cmd = [sys.executable, "-m", "sandbox.run", "rep=lia", "gen=two_stage", "preset=smoke", "trainer=ddp",
           "trainer.accelerator=cpu", "trainer.precision=32-true", "trainer.devices=2", f"out={tmp_path / 'run'}"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "run" / "report.md").is_file()
    assert not list((tmp_path / "cache").glob("worker-*"))  # the worker cleaned up


def test_user_source_and_audio(dataset, tmp_path):
    from PIL import Image

    from sandbox.analysis.source import prepare_source
    from sandbox.audio.io import save_wav
    from sandbox.face.head_model import HeadModel

    img, wav = tmp_path / "face.png", tmp_path / "speech.wav"
    face = HeadModel.load().texture[:, 40:420]
    photo = np.full((512, 700, 3), 90, np.uint8)  # a real face in a non-square photo, and a smaller one
    photo[:, :380] = face
    photo[150:406, 420:610] = cv2.resize(face, (190, 256), interpolation=cv2.INTER_AREA)
    Image.fromarray(photo).save(img)
    save_wav(wav, np.zeros(16000 // 2, np.float32))
    ctx = run(*overrides(dataset, tmp_path / "cache", tmp_path / "r", "stage=render", f"source={img}", f"audio={wav}",
                         "emotion=happy", "source_face=1"))  # fmt: skip
    with np.load(tmp_path / "r" / "samples" / "speech.npz") as z:
        assert z["source"].shape == (SIZE, SIZE, 3) and z["motion"].shape == (math.ceil(8000 / 640), 4)
        assert (z["source"] == prepare_source(photo, "face.png", size=SIZE, face=1)).all()  # the smaller face
        assert not (z["source"] == prepare_source(photo, "face.png", size=SIZE)).all()
    assert (tmp_path / "r" / "samples" / "speech.mp4").is_file() and ctx.results["render"][0].name == "speech"


def test_the_val_split_is_driven_and_scored_against_a_training_reference(dataset, tmp_path):
    """sample.split=val drives the val clips, and the P-FID reference leaves them out (training clips)."""
    cache = tmp_path / "cache"
    run(*overrides(dataset, cache, tmp_path / "test"))
    ctx = run(*overrides(dataset, cache, tmp_path / "val", "sample.split=val"))
    assert [p.stem for p in (tmp_path / "val" / "samples").glob("*.npz")] == ["c2"]
    extra = json.loads((tmp_path / "val" / "metrics.json").read_text())["extra"]
    assert extra["reference_clips"] == ["c0", "c1"] and extra["config"]["sample"]["split"] == "val"
    assert "scored on the **val** clips" in (tmp_path / "val" / "report.md").read_text()
    assert "sample.split" not in (tmp_path / "test" / "report.md").read_text()
    assert json.loads((tmp_path / "test" / "metrics.json").read_text())["extra"]["reference_clips"] == ["c2"]
    assert [e[:2] for e in ctx.events if e[0] == "build"] == [("build", "eval_baselines")]  # the val clips' rows
    from sandbox.pipeline.sample import driven_ids

    class NoVal:
        splits = {"train": ["c0"], "test": ["c3"]}

        def ids(self, split):
            return self.splits.get(split, [])

    assert driven_ids(NoVal()) == ["c3"]
    with pytest.raises(ConfigError, match=r"sample.split=val: the dataset has no val clips \(its splits: train 1, test 1\)"):
        driven_ids(NoVal(), "val")


# -- errors: before any work, saying what to do ---------------------------------------------------
def test_errors_before_any_work(dataset, tmp_path):
    base = overrides(dataset, tmp_path / "cache", tmp_path / "r")
    with pytest.raises(ConfigError, match=r"unknown gen 'nope'.*flow.*tiny"):
        compose_config(base + ["gen=nope"])
    with pytest.raises(ConfigError, match=r"renderer=other does not draw rep=tiny.*Renderers for tiny: tiny"):
        compose_config(base + ["renderer=other"])
    with pytest.raises(ConfigError, match=r"gen: key\(s\) \['bogus'\] not consumed by TinyGen.*Accepted keys: .*hidden"):
        compose_config(base + ["+gen.bogus=1"])
    with pytest.raises(ConfigError, match=r"train.module: key\(s\) \['lr_typo'\]"):
        compose_config(base + ["+train.module.lr_typo=1"])
    with pytest.raises(ConfigError, match=r"eval.workers=0 must be an integer >= 1"):
        compose_config(base + ["eval.workers=0"])
    with pytest.raises(ConfigError, match=r"train.module: the schedule's warm-up \(0\) and decay \(10000\) steps exceed"):
        compose_config(base + ["train.module.lr_schedule=wsd", "train.module.decay_steps=10000"])
    with pytest.raises(ConfigError, match=r"train.module.decay_steps=5 only applies to train.module.lr_schedule=wsd"):
        compose_config(base + ["train.module.decay_steps=5"])
    with pytest.raises(ConfigError, match=r"sample.split=train is not one of test \| val"):
        compose_config(base + ["sample.split=train"])
    with pytest.raises(ConfigError, match="add audio="):
        compose_config(base + [f"source={dataset}/index.json"])
    with pytest.raises(InputFileError, match="audio file not found"):
        compose_config(base + ["audio=/no/such.wav"])
    with pytest.raises(ConfigError, match="emotion=glad"):
        compose_config(base + [f"audio={dataset}/c0/audio.wav", "emotion=glad"])
    with pytest.raises(ConfigError, match=r"no value for data.root.*data.root=\.\.\."):
        compose_config([a for a in base if not a.startswith("data.root")])
    with pytest.raises(InputFileError, match="not a dataset directory"):
        compose_config([a if not a.startswith("data.root") else f"data.root={tmp_path}" for a in base])
    for hydra_key in ("hydra.run.dir=elsewhere", "hydra.sweep.dir=elsewhere", "hydra/launcher=basic"):
        with pytest.raises(ConfigError, match="out=DIR"):  # accepted and ignored before: refused now
            compose_config(base + [hydra_key])
    assert not (tmp_path / "cache").exists()


def test_main_reports_errors_with_exit_code(capsys):
    assert main(["rep=tiny", "gen=tiny", "stage=nope"]) == 2
    assert "stages: all, data" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert "rep: " in capsys.readouterr().out


def test_module_entry_point_lists_names():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "sandbox.run", "rep=lia", "gen=xyz"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "unknown gen 'xyz'" in r.stderr and "flow" in r.stderr and "Traceback" not in r.stderr


# -- pipeline parts -------------------------------------------------------------------------------
def _clips(n: int = 2, t: int = 10) -> list[dict]:
    return [{"motion": np.arange(t * 3, dtype=np.float32).reshape(t, 3) + 1000 * i, "audio": np.ones((t, 2), np.float32),
             "x_ref": np.zeros(3, np.float32), "emotion": np.eye(7, dtype=np.float32)[i]} for i in range(n)]


def test_windows_layout_padding_and_truncation():
    ds = WindowDataset(_clips(), n_prev=3, n_cur=4, truncate_prob=0.0, first_window_prob=1.0, samples_per_epoch=5)
    item = ds[0]
    assert item["x"].shape == (7, 3) and item["audio"].shape == (7, 2) and item["mask"].dtype == torch.bool
    assert item["mask"].tolist() == [False] * 3 + [True] * 4  # before the clip start: zeros, masked
    assert item["x"][:3].abs().sum() == 0 and item["x"][3, 0] % 1000 == 0  # window starts at frame 0
    torch.manual_seed(0)
    ds = WindowDataset(_clips(t=30), n_prev=3, n_cur=6, truncate_prob=1.0, first_window_prob=0.0, samples_per_epoch=50)
    for i in range(20):
        it = ds[i]
        m = it["mask"]
        assert not m[-1] and m[3]  # truncated somewhere inside the current part, never before it
        assert (it["x"][~m] == 0).all()
        x = it["x"][m][:, 0]
        assert (x.diff() == 3).all()  # consecutive frames of one clip
    val = WindowDataset(_clips(t=30), 3, 6, deterministic=True, samples_per_epoch=4)
    assert torch.equal(val[2]["x"], val[2]["x"]) and not torch.equal(val[1]["x"], val[2]["x"])


def test_ema_warms_up_instead_of_lagging():
    """With warm-up, an EMA of decay 0.999 follows a weight that moved 100 steps; without it it would
    still sit ~90% of the way back at the start."""
    from sandbox.trainers.generator_module import ema_with_warmup

    ema, w = [torch.zeros(3)], [torch.zeros(3)]
    update = ema_with_warmup(0.999)
    for n in range(1, 101):
        w[0].fill_(float(n))
        update(ema, w, torch.tensor(n))
    plain = sum(0.001 * 0.999 ** (100 - n) * n for n in range(1, 101))  # no warm-up: ~4.9
    assert ema[0][0] > 80 and plain < 10


def test_generator_module_logs_terms_and_keeps_ema():
    from sandbox.trainers.generator_module import GeneratorModule

    gen = TinyGen(3, 2)
    mod = GeneratorModule(gen, lr=1e-2, ema_decay=0.5)
    logged = {}
    mod.log = lambda k, v, **kw: logged.__setitem__(k, v)  # no Trainer needed to see what is logged
    batch = torch.utils.data.default_collate([WindowDataset(_clips(), 2, 6)[i] for i in range(4)])
    opt = mod.configure_optimizers()
    before = [p.detach().clone() for p in mod.ema.module.parameters()]
    loss = mod.training_step(batch, 0)
    loss.backward(), opt.step()
    mod.on_train_batch_end(None, batch, 0)
    assert {"train/total", "train/mse"} <= set(logged)
    mod.on_train_batch_end(None, batch, 0)
    assert any(not torch.equal(a, b) for a, b in zip(before, mod.ema.module.parameters()))
    assert mod.final_generator() is mod.ema.module


def _lr_trace(mod, steps: int) -> list[float]:
    """The learning rate of ``mod``'s configured optimiser at each of ``steps`` steps under a stand-in Trainer."""
    from types import SimpleNamespace

    mod.trainer = SimpleNamespace(max_steps=steps, precision="32-true")  # all configure_optimizers reads of the Trainer
    conf = mod.configure_optimizers()
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step(), sched.step()
    return lrs


def test_generator_module_cosine_schedule_warms_up_then_decays():
    from sandbox.trainers.generator_module import GeneratorModule

    mod = GeneratorModule(TinyGen(3, 2), lr=1e-2, lr_schedule="cosine", warmup_steps=10)
    lrs = _lr_trace(mod, 100)
    assert lrs[0] == 0 and lrs[5] == pytest.approx(5e-3) and max(lrs) == pytest.approx(1e-2)
    assert lrs[-1] < 1e-4 and all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert not isinstance(GeneratorModule(TinyGen(3, 2)).configure_optimizers(), dict)  # constant: no scheduler
    with pytest.raises(ValueError, match="lr_schedule"):
        GeneratorModule(TinyGen(3, 2), lr_schedule="cosine_annealing")


def test_lia_fit_schedule_refused_before_any_work(tmp_path):
    base = ["rep=lia", "gen=flow", f"paths.cache={tmp_path / 'cache'}", f"out={tmp_path / 'r'}"]
    with pytest.raises(ConfigError, match=r"fit.rep: the schedule's warm-up \(50\) and decay \(100000\) steps exceed the run's 2000"):
        compose_config(base + ["scale.fit_decay_steps=100000"])
    with pytest.raises(ConfigError, match=r"fit.rep.decay_steps=500 only applies to fit.rep.lr_schedule=wsd"):
        compose_config(base + ["fit.rep.lr_schedule=cosine"])
    compose_config(base + ["fit.rep.lr_schedule=cosine", "fit.rep.decay_steps=0"])  # what the message says to do
    assert not (tmp_path / "cache").exists() and not (tmp_path / "r").exists()


def test_generator_module_wsd_schedule_holds_then_decays_and_refuses_stray_decay_steps():
    from types import SimpleNamespace

    from sandbox.trainers.generator_module import GeneratorModule

    mod = GeneratorModule(TinyGen(3, 2), lr=1e-2, lr_schedule="wsd", warmup_steps=5, decay_steps=20)
    lrs = _lr_trace(mod, 100)
    assert lrs[0] == 0 and all(lr == pytest.approx(1e-2) for lr in lrs[5:80])  # warm-up, then the full rate
    assert lrs[-1] < 1e-3 and all(a >= b for a, b in zip(lrs[80:], lrs[81:])) and lrs[90] < lrs[81]
    with pytest.raises(ValueError, match="decay_steps"):
        GeneratorModule(TinyGen(3, 2), lr_schedule="wsd")  # wsd without a decay
    with pytest.raises(ValueError, match="only applies to train.module.lr_schedule=wsd"):
        GeneratorModule(TinyGen(3, 2), lr_schedule="cosine", decay_steps=10)
    too_long = GeneratorModule(TinyGen(3, 2), lr_schedule="wsd", warmup_steps=50, decay_steps=60)
    too_long.trainer = SimpleNamespace(max_steps=100, precision="32-true")
    with pytest.raises(ValueError, match="exceed"):
        too_long.configure_optimizers()


def test_user_source_without_a_face_names_the_file(dataset, tmp_path):
    from PIL import Image

    from sandbox.audio.io import save_wav
    from sandbox.errors import NoFaceError

    img, wav = tmp_path / "wall.png", tmp_path / "speech.wav"
    Image.fromarray(np.full((40, 30, 3), 200, np.uint8)).save(img)
    save_wav(wav, np.zeros(16000 // 2, np.float32))
    with pytest.raises(NoFaceError, match="wall.png"):
        run(*overrides(dataset, tmp_path / "cache", tmp_path / "r", "stage=render", f"source={img}", f"audio={wav}"))


@pytest.mark.parametrize("gen", ["flow", "diffusion"])
def test_ablation_switch_is_a_visible_key(gen):
    """The README's FLOAT table 3 ablation, `gen.conditioning=cross_attn`, overrides a key the config shows."""
    cfg = compose_config(["rep=lia", f"gen={gen}", "preset=smoke", "gen.conditioning=cross_attn"])
    assert cfg.gen.conditioning == "cross_attn"
    assert compose_config(["rep=lia", f"gen={gen}", "preset=smoke"]).gen.conditioning == "adaln"
