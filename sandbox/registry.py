"""Name -> component registries (one per kind) on top of Hydra's config groups.

A name is available in a group when ``sandbox/conf/<group>/<name>.yaml`` exists (the normal way:
the YAML's ``_target_`` names the class) or when code registered it (tests, notebooks)::

    @REPS.register("tiny", config={"size": 16})
    class TinyRep(Representation): ...

Registering also stores a config node in Hydra's ConfigStore, so ``rep=tiny`` composes with no YAML.
Group YAMLs use ``# @package _global_`` and put the constructor arguments under the group key
(``rep: {_target_: ...}``) so that one file can also set related keys (``fit.rep``, ``sample``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from sandbox.config import locate
from sandbox.errors import ConfigError

log = logging.getLogger(__name__)

CONF_DIR = Path(__file__).resolve().parent / "conf"
GROUPS = ("rep", "gen", "renderer", "data", "trainer", "preset", "experiment")


def yaml_names(group: str) -> list[str]:
    """Config names found on disk for ``group`` (scanned, not composed)."""
    d = CONF_DIR / group
    return sorted(p.stem for p in d.glob("*.yaml")) if d.is_dir() else []


def _qualname(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


@dataclass
class Entry:
    name: str
    target: Any  # the object itself (registered in code) or its dotted path (from YAML)
    meta: dict[str, Any] = field(default_factory=dict)


class Registry:
    """Components of one kind (``group`` is the Hydra config group and the CLI key)."""

    def __init__(self, kind: str, group: str):
        self.kind = kind
        self.group = group
        self._entries: dict[str, Entry] = {}

    def register(
        self,
        name: str,
        obj: Any = None,
        *,
        config: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        **meta: Any,
    ) -> Any:
        """Register ``obj`` under ``name`` (usable as a decorator when ``obj`` is None).

        ``config``: constructor arguments stored as ``<group>: {_target_: obj, **config}``;
        ``extra``: other global keys the same config sets (e.g. ``{"fit": {"rep": {"steps": 5}}}``);
        ``meta``: facts the harness asks about, e.g. ``default_renderer="lia"`` for a representation."""

        def add(o: Any) -> Any:
            from hydra.core.config_store import ConfigStore

            self._entries[name] = Entry(name, o, dict(meta))
            node = {self.group: {"_target_": _qualname(o), **(config or {})}, **(extra or {})}
            ConfigStore.instance().store(group=self.group, name=name, node=node, package="_global_")
            return o

        return add if obj is None else add(obj)

    def unregister(self, name: str) -> None:
        """Forget a code-registered entry (tests clean up after themselves)."""
        from hydra.core.config_store import ConfigStore

        self._entries.pop(name, None)
        repo = ConfigStore.instance().repo.get(self.group, {})
        repo.pop(f"{name}.yaml", None)

    def names(self) -> list[str]:
        return sorted(set(yaml_names(self.group)) | set(self._entries))

    def __contains__(self, name: str) -> bool:
        return name in self.names()

    def check(self, name: str) -> None:
        if name not in self:
            raise ConfigError(unknown_message(self.group, name, self.names()))

    def entry(self, name: str) -> Entry:
        """The entry for ``name``: code-registered, else read from its YAML's ``_target_``."""
        self.check(name)
        if name in self._entries:
            return self._entries[name]
        node = OmegaConf.load(CONF_DIR / self.group / f"{name}.yaml")
        sub = node[self.group] if self.group in node else node
        target = sub.get("_target_") if sub is not None else None
        if target is None:
            raise ConfigError(f"{CONF_DIR / self.group / name}.yaml sets no `{self.group}._target_`.")
        return Entry(name, str(target))

    def get(self, name: str) -> Any:
        """The registered class / function (imports it for YAML entries)."""
        e = self.entry(name)
        return locate(e.target) if isinstance(e.target, str) else e.target


def unknown_message(group: str, name: str, names: list[str]) -> str:
    return f"unknown {group} {name!r}. Available {group} names: {', '.join(names) or '(none)'}. Use e.g. `{group}={names[0] if names else 'NAME'}`."


REPS = Registry("representation", "rep")
GENS = Registry("generator", "gen")
RENDERERS = Registry("renderer", "renderer")
DATA = Registry("dataset", "data")
REGISTRIES: dict[str, Registry] = {r.group: r for r in (REPS, GENS, RENDERERS, DATA)}


def available(group: str) -> list[str]:
    """Names selectable for ``group`` (registries plus plain config groups such as trainer/preset)."""
    if group in REGISTRIES:
        return REGISTRIES[group].names()
    from hydra.core.config_store import ConfigStore

    stored = [n.removesuffix(".yaml") for n in ConfigStore.instance().repo.get(group, {})]
    return sorted(set(yaml_names(group)) | set(stored))


def check_name(group: str, name: str) -> None:
    names = available(group)
    if name not in names:
        raise ConfigError(unknown_message(group, name, names))


def renderers_for(rep_name: str) -> list[str]:
    """Renderers whose class lists ``rep_name`` in ``representations`` (unimportable ones skipped)."""
    out = []
    for name in RENDERERS.names():
        try:
            cls = RENDERERS.get(name)
        except ConfigError as exc:  # a renderer whose module has not landed: not a candidate
            log.debug("skipping renderer %s: %s", name, exc)
            continue
        if rep_name in tuple(getattr(cls, "representations", ())):
            out.append(name)
    return out


def default_renderer(rep_name: str) -> str:
    """The renderer used when none is named: the rep's ``default_renderer`` (registry meta or class
    attribute), else the only renderer that draws it."""
    e = REPS.entry(rep_name)
    choice = e.meta.get("default_renderer")
    if choice is None:
        try:
            choice = getattr(REPS.get(rep_name), "default_renderer", None)
        except ConfigError:
            choice = None
    if choice is not None:
        return str(choice)
    cands = renderers_for(rep_name)
    if len(cands) == 1:
        return cands[0]
    if not cands:
        raise ConfigError(f"no renderer draws rep={rep_name!r}. Renderers: {', '.join(RENDERERS.names())}.")
    raise ConfigError(f"several renderers draw rep={rep_name!r}: {', '.join(cands)}; pick one with renderer=NAME.")


def check_crossing(rep_name: str, renderer_name: str) -> None:
    """Fail before any work when the renderer does not draw the representation."""
    cls = RENDERERS.get(renderer_name)
    reps = tuple(getattr(cls, "representations", ()))
    if rep_name not in reps:
        ok = renderers_for(rep_name)
        raise ConfigError(
            f"renderer={renderer_name} does not draw rep={rep_name} (it draws: {', '.join(reps) or 'nothing'}). "
            f"Renderers for {rep_name}: {', '.join(ok) or '(none)'}."
        )
