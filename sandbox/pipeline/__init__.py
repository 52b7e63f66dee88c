"""The stage pipeline: data -> fit -> extract -> train -> sample -> render -> eval.

Each stage module has ``check(cfg)``, which refuses bad input before any work (``sandbox.run``'s
preflight calls them in order), and ``run(ctx)``; asking for a stage (``ctx.require``) runs or reuses
its prerequisites. data/fit/extract/train are cached by content hash (sandbox.pipeline.cache);
sample/render/eval write into the run directory. ``emotion`` (the speech-emotion classifier, cached) is
asked for by sample only where it predicts (``emotion=auto`` with ``audio=``), or alone with ``stage=emotion``.
"""
from __future__ import annotations

from sandbox.pipeline import data, emotion, eval, extract, fit, render, sample, train
from sandbox.pipeline.context import ORDER, Context

MODULES = {"data": data, "fit": fit, "extract": extract, "train": train, "emotion": emotion, "sample": sample,
           "render": render, "eval": eval}
STAGES = {name: module.run for name, module in MODULES.items()}
CHECKS = {name: module.check for name, module in MODULES.items()}

__all__ = ["CHECKS", "STAGES", "ORDER", "Context"]
