"""The stage pipeline: data -> fit -> extract -> train -> sample -> render -> eval.

Each stage module has ``run(ctx)``; asking for a stage (``ctx.require``) runs or reuses its
prerequisites. data/fit/extract/train are cached by content hash (sandbox.pipeline.cache);
sample/render/eval write into the run directory.
"""
from __future__ import annotations

from sandbox.pipeline import data, eval, extract, fit, render, sample, train
from sandbox.pipeline.context import ORDER, Context

STAGES = {
    "data": data.run,
    "fit": fit.run,
    "extract": extract.run,
    "train": train.run,
    "sample": sample.run,
    "render": render.run,
    "eval": eval.run,
}

__all__ = ["STAGES", "ORDER", "Context"]
