"""Content-addressed stage artifacts: ``<cache>/<stage>/<hash>/`` with a ``done`` marker.

A stage builds into ``<hash>.partial/`` and renames it when complete, so a killed run never leaves a
directory that looks finished. Resumable stages (dataset build, training) keep ``.partial`` across
runs and continue from what is there; the others start it afresh. Building takes a lock per stage key
(``<hash>.lock``, the filelock package): jobs that run at the same time on one cache (a parallel sweep,
a cluster array on a shared file system) wait for the one building and then reuse its artifact.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any, Callable

from filelock import FileLock, Timeout
from omegaconf import DictConfig, ListConfig, OmegaConf

log = logging.getLogger("sandbox.pipeline")

DONE = "done"


def _plain(x: Any) -> Any:
    if isinstance(x, (DictConfig, ListConfig)):
        return OmegaConf.to_container(x, resolve=True)
    if isinstance(x, Path):
        return str(x)
    return x


def content_hash(*parts: Any, n: int = 12) -> str:
    """Stable short hash of JSON-able parts (configs are resolved first; dict order does not matter)."""
    blob = json.dumps([_plain(p) for p in parts], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:n]


def is_done(path: Path) -> bool:
    return (path / DONE).is_file()


def build_or_reuse(
    root: Path,
    stage: str,
    key: str,
    build: Callable[[Path], dict | None],
    resumable: bool = False,
    events: list | None = None,
    reuse_from: Path | None = None,
) -> Path:
    """Return ``root/stage/key`` once complete, running ``build(work_dir)`` if it is not there yet.
    ``build`` may return a JSON-able dict, saved as ``info.json``. ``reuse_from``: another cache root
    whose complete artifact is returned instead when it has one (read only)."""
    if reuse_from is not None and is_done(Path(reuse_from) / stage / key):
        if events is not None:
            events.append(("reuse", stage, key))
        return Path(reuse_from) / stage / key
    final = Path(root) / stage / key
    if is_done(final):
        return _reuse(final, stage, key, events)
    final.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(final.with_name(key + ".lock")))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("waiting for another process building %s %s", stage, key)
        lock.acquire()
    try:
        if is_done(final):  # the other process finished it
            return _reuse(final, stage, key, events)
        return _build(final, stage, key, build, resumable, events)
    finally:
        lock.release()


def _reuse(final: Path, stage: str, key: str, events: list | None) -> Path:
    log.info("reusing %s %s", stage, key)
    if events is not None:
        events.append(("reuse", stage, key))
    return final


def _build(final: Path, stage: str, key: str, build: Callable[[Path], dict | None], resumable: bool,
           events: list | None) -> Path:  # fmt: skip
    work = final.with_name(key + ".partial")
    if work.exists() and not resumable:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    log.info("building %s %s", stage, key)
    info = build(work)
    if info is not None:
        (work / "info.json").write_text(json.dumps(info, indent=1, default=str))
    (work / DONE).write_text(key + "\n")
    if final.exists():  # an older incomplete directory with no marker
        shutil.rmtree(final)
    work.rename(final)
    if events is not None:
        events.append(("build", stage, key))
    return final


def read_info(path: Path) -> dict:
    f = Path(path) / "info.json"
    return json.loads(f.read_text()) if f.is_file() else {}


PROJECT_PACKAGES = ("sandbox", "representations", "generators", "renderers")


def _module_file(name: str) -> Path | None:
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin) if spec and spec.origin and spec.origin.endswith(".py") else None


def _imports(path: Path, module: str) -> set[str]:
    """Project modules that ``path`` (module ``module``) imports, from its syntax tree."""
    import ast

    pkg = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}  # `from pkg import submodule`
    return {m for m in out if m.split(".")[0] in PROJECT_PACKAGES}


# libraries whose upgrades change results (numerics, the face landmarks, schedulers, audio features):
# their versions are part of every stage key, so an upgrade rebuilds instead of reusing stale artifacts
KEYED_LIBRARIES = ("torch", "mediapipe", "diffusers", "librosa", "numpy")


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in KEYED_LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def code_hash(*targets: str) -> str:
    """Hash of the source of the modules defining ``targets`` (dotted paths) and every project module
    they import, transitively: editing a model's code invalidates the artifacts it produced."""
    files = source_closure(*targets)
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name].read_bytes())
    return h.hexdigest()[:12]


def source_closure(*targets: str) -> dict[str, Path]:
    """module name -> file for the targets' modules and the project modules they import (static)."""
    seen: dict[str, Path] = {}
    todo = []
    for t in targets:
        parts = str(t).split(".")
        for i in range(len(parts), 0, -1):  # the longest prefix that is a module
            if _module_file(".".join(parts[:i])):
                todo.append(".".join(parts[:i]))
                break
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        f = _module_file(name)
        if f is None:
            continue
        seen[name] = f
        todo.extend(_imports(f, name) - set(seen))
    return seen


def targets_in(node) -> list[str]:
    """Every ``_target_`` in a config subtree (nested components too), for code fingerprints."""
    from omegaconf import DictConfig, ListConfig

    found: list[str] = []
    if isinstance(node, DictConfig):
        if node.get("_target_"):
            found.append(str(node._target_))
        for v in node.values():
            found += targets_in(v)
    elif isinstance(node, ListConfig):
        for v in node:
            found += targets_in(v)
    return found
