"""What the stages share during one run: the config, where things go, and stage results (memoised,
so asking for a stage runs its prerequisites once)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from omegaconf import DictConfig

ORDER = ("data", "fit", "extract", "train", "emotion", "sample", "render", "eval")  # emotion: only what sample needs


def progress_disabled() -> bool:
    return bool(os.environ.get("SANDBOX_NO_PROGRESS"))


def is_ddp_worker() -> bool:
    """True in a process of a multi-process (DDP) launch other than global rank 0. Lightning's launcher
    re-runs the whole command for local ranks > 0 with LOCAL_RANK set (NODE_RANK on other nodes);
    torchrun and SLURM-style launches set RANK."""
    if "RANK" in os.environ:
        return int(os.environ["RANK"]) != 0
    return int(os.environ.get("LOCAL_RANK", 0)) != 0 or int(os.environ.get("NODE_RANK", 0)) != 0


@dataclass
class Context:
    cfg: DictConfig
    run_dir: Path
    cache_root: Path
    choices: dict[str, str]
    stages: dict[str, Callable[["Context"], Any]]
    results: dict[str, Any] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, Path] = field(default_factory=dict)
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (build|reuse, stage, hash)
    rep: Any = None  # the one Representation object every stage after fit uses
    # a DDP worker builds what the shared cache lacks here (it trains in step with rank 0, which
    # writes the shared cache) and reads the shared cache; None in the main process
    private_root: Path | None = None

    def code(self, *targets: Any) -> dict:
        """What a cache key holds besides the config: the versions of the libraries that change results
        (sandbox.pipeline.cache.KEYED_LIBRARIES), and a fingerprint of the code behind ``targets``
        (None when ``hash_code=false``)."""
        from sandbox.pipeline.cache import code_hash, library_versions

        return {"libraries": library_versions(),
                "code": code_hash(*(str(t) for t in targets)) if self.cfg.hash_code else None}

    def build(self, stage: str, key: str, build: Callable[[Path], dict | None], resumable: bool = False) -> Path:
        """The stage's cached artifact (built if missing): cache.build_or_reuse, DDP-worker aware."""
        from sandbox.pipeline.cache import build_or_reuse

        if self.private_root is not None:
            return build_or_reuse(self.private_root, stage, key, build, events=self.events, reuse_from=self.cache_root)
        return build_or_reuse(self.cache_root, stage, key, build, resumable=resumable, events=self.events)

    def require(self, stage: str) -> Any:
        if stage not in self.results:
            self.results[stage] = self.stages[stage](self)
        return self.results[stage]
