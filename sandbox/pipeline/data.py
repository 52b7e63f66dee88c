"""Stage 1, data: build (or reuse) the dataset the config names; returns a ClipStore."""
from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig

from sandbox.config import check_instantiable, instantiate, to_dict
from sandbox.data.clips import ClipStore
from sandbox.errors import InputFileError
from sandbox.pipeline.cache import content_hash, targets_in
from sandbox.pipeline.context import Context

VIDEO_BUILDER = "sandbox.data.videos.build_video_dataset"  # data=video: a folder of videos, keyed by its listing


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
    check_instantiable(cfg.data, "data", offered=("out", "out_dir", "cache_dir"))
    if _is_video(cfg.data):
        from sandbox.data.videos import list_videos

        list_videos(str(cfg.data.root))
    elif "root" in cfg.data:
        existing_dataset(str(cfg.data.root))


def _is_video(node: DictConfig) -> bool:
    return str(node.get("_target_", "")) == VIDEO_BUILDER


def run(ctx: Context) -> ClipStore:
    node = ctx.cfg.data
    # a dataset that lives elsewhere is keyed by its index too, so editing it invalidates what follows
    index, keyed, code = "", node, ctx.code(*targets_in(node))
    offered: dict = {}
    if _is_video(node):
        from sandbox.data.videos import folder_listing

        # keyed by the folder's listing (names, sizes, mtimes), not by the worker count; each video's
        # clips are cached apart (per content, under this code and library versions) so edits reuse the rest
        index, keyed = folder_listing(str(node.root)), {k: v for k, v in to_dict(node).items() if k != "workers"}
        offered["cache_dir"] = ctx.cache_root / "videos" / content_hash(code)
    elif "root" in node:
        index = (existing_dataset(str(node.root)) / "index.json").read_text()
    key = content_hash("data", keyed, index, code)

    def build(work: Path) -> dict:
        out = instantiate(node, "data", offered={"out": work / "dataset", "out_dir": work / "dataset", **offered})
        root = Path(out) if out is not None else work / "dataset"
        inside = root.resolve() == (work / "dataset").resolve()
        return {"root": None if inside else str(root)}

    art = ctx.build("data", key, build, resumable=True)
    ctx.hashes["data"], ctx.artifacts["data"] = key, art
    store = load(art)
    if "videos" in store.meta and ("reuse", "data", key) in ctx.events:  # the build logged it already
        from sandbox.data.videos import log_summary

        log_summary(store.meta["videos"], store.splits)
    return store


def load(art: Path) -> ClipStore:
    """The dataset of a data artifact directory (built inside it, or a directory it names)."""
    info = json.loads((art / "info.json").read_text())
    return ClipStore(info["root"] or art / "dataset")
