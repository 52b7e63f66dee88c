"""Stage 1, data: build (or reuse) the dataset the config names; returns a ClipStore."""
from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig

from sandbox.config import check_instantiable, instantiate
from sandbox.data.clips import ClipStore
from sandbox.errors import InputFileError
from sandbox.pipeline.cache import content_hash, targets_in
from sandbox.pipeline.context import Context


def existing_dataset(root: str) -> Path:
    """``data=dir data.root=PATH``: use a dataset directory already in the clip format."""
    path = Path(root).expanduser().resolve()
    if not (path / "index.json").is_file():
        raise InputFileError(
            f"{path} is not a dataset directory (no index.json). Point data.root at a directory written "
            "with sandbox.data.clips (write_clip + write_index), or use data=synthetic."
        )
    return path


def check(cfg: DictConfig) -> None:
    """Preflight: the data node's keys, and a dataset that must exist already."""
    check_instantiable(cfg.data, "data", offered=("out", "out_dir"))
    if "root" in cfg.data:
        existing_dataset(str(cfg.data.root))


def run(ctx: Context) -> ClipStore:
    node = ctx.cfg.data
    # a dataset that lives elsewhere is keyed by its index too, so editing it invalidates what follows
    index = ""
    if "root" in node:
        index = (existing_dataset(str(node.root)) / "index.json").read_text()
    key = content_hash("data", node, index, ctx.code(*targets_in(node)))

    def build(work: Path) -> dict:
        out = instantiate(node, "data", offered={"out": work / "dataset", "out_dir": work / "dataset"})
        root = Path(out) if out is not None else work / "dataset"
        inside = root.resolve() == (work / "dataset").resolve()
        return {"root": None if inside else str(root)}

    art = ctx.build("data", key, build, resumable=True)
    ctx.hashes["data"], ctx.artifacts["data"] = key, art
    return load(art)


def load(art: Path) -> ClipStore:
    """The dataset of a data artifact directory (built inside it, or a directory it names)."""
    info = json.loads((art / "info.json").read_text())
    return ClipStore(info["root"] or art / "dataset")
