"""What the stages share during one run: the config, where things go, and stage results (memoised,
so asking for a stage runs its prerequisites once)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from omegaconf import DictConfig

ORDER = ("data", "fit", "extract", "train", "sample", "render", "eval")


def progress_disabled() -> bool:
    return bool(os.environ.get("SANDBOX_NO_PROGRESS"))


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

    def code(self, *targets: Any) -> str | None:
        """Fingerprint of the code behind ``targets`` for cache keys (None when ``hash_code=false``)."""
        from sandbox.pipeline.cache import code_hash

        return code_hash(*(str(t) for t in targets)) if self.cfg.hash_code else None

    def require(self, stage: str) -> Any:
        if stage not in self.results:
            self.results[stage] = self.stages[stage](self)
        return self.results[stage]
