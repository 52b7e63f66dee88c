"""Registry, config composition and strict instantiation."""
from __future__ import annotations

import importlib

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from representations.base import Representation
from sandbox.config import (
    check_call,
    check_instantiable,
    forwards_kwargs,
    instantiate,
    passthrough_kwargs,
)
from sandbox.errors import ConfigError
from sandbox.pipeline.cache import (
    build_or_reuse,
    code_hash,
    content_hash,
    source_closure,
)
from sandbox.pipeline.components import GEN_OFFERED
from sandbox.registry import (
    CONF_DIR,
    GROUPS,
    REPS,
    available,
    check_crossing,
    default_renderer,
    yaml_names,
)
from sandbox.run import compose_config

# components whose configs are checked against their targets' signatures, and what the harness offers
OFFERED = {"rep": (), "gen": GEN_OFFERED, "renderer": ("rep",), "data": ("out", "out_dir"),
           "features": (), "eval": ()}


def test_registry_lists_config_names():
    assert "lia" in REPS.names()
    assert {"flow"} <= set(available("gen")) and {"lia"} <= set(available("renderer"))
    assert {"synthetic", "dir"} <= set(available("data"))
    assert available("trainer") == ["cpu", "ddp", "gpu"]
    assert {"smoke", "default", "paper"} <= set(available("preset"))
    assert set(GROUPS) == {p.name for p in CONF_DIR.iterdir() if p.is_dir()}


def _compose(*overrides: str):
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=["renderer=lia", *overrides])


def _import_or_skip(target: str) -> None:
    """Skip (naming the module) only when the target's own module has not landed yet."""
    module = target.rsplit(".", 1)[0]
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            pytest.skip(f"{module} not in the repository yet")
        raise


@pytest.mark.parametrize("group,name", [(g, n) for g in GROUPS for n in yaml_names(g)])
def test_every_config_composes_and_every_key_is_consumed(group, name):
    extra = ["data.root=/tmp"] if (group, name) in (("data", "dir"), ("data", "video")) else []
    cfg = _compose(f"{group}={name}", *extra)
    OmegaConf.resolve(cfg)  # every interpolation resolves
    # a component group checks its own node; presets/experiments everything they touch
    nodes = [group] if group in OFFERED else [] if group == "trainer" else list(OFFERED)
    for key in nodes:
        _import_or_skip(str(cfg[key]._target_))
        check_instantiable(cfg[key], key, offered=OFFERED[key])
    from sandbox.trainers.factory import make_trainer

    check_call(make_trainer, cfg.trainer, "trainer")


def test_presets_set_sizes_and_paper_uses_the_gpu_trainer():
    smoke, paper = _compose("preset=smoke"), _compose("preset=paper")
    assert smoke.rep.size == 64 and smoke.data.cfg.n_clips <= 8 and smoke.train.max_steps <= 100
    assert (paper.rep.latent_dim, paper.rep.motion_dim, paper.rep.size) == (512, 20, 512)
    assert (paper.gen.hidden, paper.gen.depth, paper.gen.heads, paper.gen.n_cur, paper.gen.n_prev) == (1024, 8, 8, 50, 10)
    assert paper.trainer.accelerator == "gpu" and paper.trainer.precision == "bf16-mixed"
    assert _compose("preset=paper", "trainer=cpu").trainer.accelerator == "cpu"  # the command line wins


def test_unknown_names_list_the_available_ones():
    with pytest.raises(ConfigError, match=r"unknown gen 'xyz'\. Available gen names: .*flow"):
        compose_config(["gen=xyz"])
    with pytest.raises(ConfigError, match=r"unknown experiment 'nope'.*float_lia"):
        compose_config(["experiment=nope"])
    with pytest.raises(ConfigError, match=r"unknown trainer 'tpu'.*cpu, ddp, gpu"):
        compose_config(["trainer=tpu"])


class ProbeRep(Representation):
    def __init__(self, k: int = 2):
        super().__init__(k, {"all": slice(0, k)})

    def encode(self, frames):
        raise NotImplementedError

    def reference(self, source_image):
        return source_image


def test_code_registration_composes_and_unregisters():
    REPS.register("probe", ProbeRep, config={"k": 3})
    try:
        assert "probe" in REPS.names() and REPS.get("probe") is ProbeRep
        cfg = _compose("rep=probe")
        assert instantiate(cfg.rep, "rep").dim == 3
        # no renderer draws it: the default renderer and an explicit crossing both fail, listing renderers
        with pytest.raises(ConfigError, match="no renderer draws rep='probe'.*lia"):
            default_renderer("probe")
        with pytest.raises(ConfigError, match="renderer=lia does not draw rep=probe"):
            check_crossing("probe", "lia")
    finally:
        REPS.unregister("probe")
    assert "probe" not in REPS.names()


def test_default_renderer_for_lia():
    _import_or_skip("renderers.lia.LiaRenderer")
    assert default_renderer("lia") == "lia"


# -- strict instantiation -------------------------------------------------------------------------
def build(a: int, b: int = 2) -> tuple:
    return a, b


def takes_kwargs(a: int, **kwargs) -> dict:
    return {"a": a, **kwargs}


@passthrough_kwargs
def passes_kwargs(a: int, **kwargs) -> dict:
    return {"a": a, **kwargs}


class Options:
    def __init__(self, width: int = 1, depth: int = 1):
        self.width, self.depth = width, depth


class Forwarding:
    @forwards_kwargs(Options)
    def __init__(self, name: str = "x", **opts):
        self.name, self.opts = name, Options(**opts)


def node(target, **kw):
    return OmegaConf.create({"_target_": f"{__name__}.{target}", **kw})


def test_unused_key_is_an_error_naming_it_and_the_accepted_ones():
    assert instantiate(node("build", a=1), "x") == (1, 2)
    with pytest.raises(ConfigError, match=r"x: key\(s\) \['c'\] not consumed by build\. Accepted keys: \['a', 'b'\]"):
        instantiate(node("build", a=1, c=3), "x")
    with pytest.raises(ConfigError, match=r"needs \['a'\]"):
        instantiate(node("build"), "x")
    # an unmarked **kwargs is not a licence to drop keys; a marked one is
    with pytest.raises(ConfigError, match=r"\['c'\]"):
        check_instantiable(node("takes_kwargs", a=1, c=3), "x")
    assert instantiate(node("passes_kwargs", a=1, c=3), "x") == {"a": 1, "c": 3}
    f = instantiate(node("Forwarding", width=4), "x")
    assert f.opts.width == 4
    with pytest.raises(ConfigError, match=r"\['height'\].*depth.*name.*width"):
        instantiate(node("Forwarding", height=4), "x")


def test_nested_targets_and_runtime_values():
    nested = OmegaConf.create({"_target_": f"{__name__}.build", "a": {"_target_": f"{__name__}.Options", "wdth": 2}})
    with pytest.raises(ConfigError, match=r"x\.a: key\(s\) \['wdth'\]"):
        check_instantiable(nested, "x")
    # offered values go only where the target names them; the config wins over an offered value
    assert instantiate(node("build", a=1), "x", offered={"b": 5, "unrelated": 0}) == (1, 5)
    assert instantiate(node("build", a=1, b=3), "x", offered={"b": 5}) == (1, 3)
    obj = object()  # runtime objects are passed as they are (never through OmegaConf)
    assert instantiate(node("build"), "x", offered={"a": obj})[0] is obj
    assert check_call(build, {"a": 1}, "k") == {"a": 1}
    with pytest.raises(ConfigError, match=r"k: key\(s\) \['z'\]"):
        check_call(build, {"z": 1}, "k")


# -- cache -----------------------------------------------------------------------------------------
def test_content_hash_ignores_key_order_but_not_values():
    a = OmegaConf.create({"x": 1, "y": {"z": [1, 2]}})
    assert content_hash(a, "p") == content_hash({"y": {"z": [1, 2]}, "x": 1}, "p")
    assert content_hash(a, "p") != content_hash({"x": 2, "y": {"z": [1, 2]}}, "p")


def test_build_is_atomic_and_reused(tmp_path):
    def broken(work):
        (work / "half.bin").write_bytes(b"x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_or_reuse(tmp_path, "s", "k1", broken)
    assert not (tmp_path / "s" / "k1").exists() and (tmp_path / "s" / "k1.partial").exists()
    events: list = []
    calls = []
    path = build_or_reuse(tmp_path, "s", "k1", lambda w: calls.append(1) or {"n": 1}, events=events)
    assert (path / "done").is_file() and not (path / "half.bin").exists()  # a non-resumable stage starts afresh
    assert build_or_reuse(tmp_path, "s", "k1", lambda w: calls.append(1), events=events) == path
    assert calls == [1] and [e[0] for e in events] == ["build", "reuse"]


def test_code_hash_follows_project_imports_and_sees_edits(tmp_path, monkeypatch):
    closure = source_closure("sandbox.pipeline.train.run")
    assert {"sandbox.data.windows", "sandbox.trainers.generator_module", "generators.base"} <= set(closure)
    assert "torch" not in closure and "numpy" not in closure
    (tmp_path / "probe_mod.py").write_text("import sandbox.constants\ndef f():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = code_hash("probe_mod.f")
    assert "sandbox.constants" in source_closure("probe_mod.f")
    (tmp_path / "probe_mod.py").write_text("import sandbox.constants\ndef f():\n    return 2\n")
    assert code_hash("probe_mod.f") != before
