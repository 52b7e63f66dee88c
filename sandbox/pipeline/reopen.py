"""Reopen a run directory: its saved config and the cached stages it used, loaded on demand.

    from sandbox.pipeline.reopen import reopen
    run = reopen("outputs/lia-flow-20261201-101500")
    run.store            # the dataset (ClipStore)
    run.rep              # the fitted representation, with the extract stage's normaliser once extracted
    run.renderer         # the fitted renderer
    run.extracted        # the extracted clips (normalised motion, audio features)
    run.gen              # the trained generator
    run.metrics          # metrics.json, where the eval stage ran

A run directory holds ``config.yaml`` (the resolved config) and ``artifacts.json`` (stage -> hash and
cache path), so the run is reopened from the artifacts it used, whatever the code's current cache keys
are. Each stage loads with the same function the pipeline uses after building it.
"""
from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from sandbox.errors import InputFileError
from sandbox.pipeline import data, extract, fit, train
from sandbox.pipeline.cache import is_done


class Run:
    """A finished (or partly finished) run directory; stages load when first asked for."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir).expanduser()
        for name in ("config.yaml", "artifacts.json"):
            if not (self.run_dir / name).is_file():
                raise InputFileError(f"{self.run_dir} is not a run directory (no {name}); give the directory "
                                     "`python -m sandbox.run` printed after `done:`.")
        self.cfg: DictConfig = OmegaConf.load(self.run_dir / "config.yaml")
        info = json.loads((self.run_dir / "artifacts.json").read_text())
        self.artifacts: dict[str, Path] = {stage: Path(v["path"]) for stage, v in info.items()}

    def artifact(self, stage: str) -> Path:
        """The cache directory of ``stage`` this run used (InputFileError when it has none)."""
        if stage not in self.artifacts:
            raise InputFileError(f"{self.run_dir} has no {stage} stage yet (the run stopped before it): rerun its "
                                 f"command with stage={stage} out={self.run_dir}.")
        path = self.artifacts[stage]
        if not is_done(path):
            raise InputFileError(f"the {stage} artifact of {self.run_dir} is gone from the cache ({path}): rerun "
                                 f"its command with out={self.run_dir} to rebuild it.")
        return path

    @cached_property
    def store(self):
        return data.load(self.artifact("data"))

    @cached_property
    def _fitted(self):
        return fit.load(self.cfg, self.artifact("fit"))

    @property
    def rep(self):
        """The fitted representation; its normaliser is the extract stage's (when the run has one)."""
        rep, _ = self._fitted
        if "extract" in self.artifacts:
            self.extracted  # noqa: B018 (loads the normaliser into rep)
        return rep

    @property
    def renderer(self):
        return self._fitted[1].renderer

    @cached_property
    def extracted(self) -> extract.Extracted:
        return extract.load(self.artifact("extract"), self._fitted[0])

    @cached_property
    def gen(self):
        return train.load(self.cfg, self.artifact("train"), self.extracted, self.rep).gen

    @property
    def metrics(self) -> dict:
        f = self.run_dir / "metrics.json"
        if not f.is_file():
            raise InputFileError(f"{self.run_dir} has no metrics.json: run its eval stage (stage=eval out={self.run_dir}).")
        return json.loads(f.read_text())


def reopen(run_dir: str | Path) -> Run:
    """A run directory written by ``python -m sandbox.run`` (or run_pipeline), ready to inspect."""
    return Run(run_dir)
