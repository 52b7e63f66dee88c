"""Does a fitted keypoint space recover the head pose, and what do its reconstruction and samples look like?

    python -m experiments.keypoint_check --run RUN_DIR [--split test] [--strip docs/keypoint_strip.png]

RUN_DIR is a rep=keypoint run directory (sandbox.pipeline.reopen). Printed:

* yaw / pitch / roll MAE (degrees): the extractor's angles on every frame of ``--split``'s clips
  against the synthetic world's true head pose in the same convention
  (representations.keypoint_fit.pose_degrees), and the spread of the true angles for scale.
* with ``--strip``: a PNG of three rows for the first clip the eval scored, ground truth /
  reconstruction (real motion through extractor + renderer) / the generated run, 8 frames each, read
  from the run directory's mp4s (what a viewer sees after the codec).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from representations.keypoint_fit import pose_degrees
from sandbox.data.frames import to_tensor
from sandbox.pipeline.reopen import reopen
from sandbox.video import read_video
from sandbox.world.dataset import frame_strip

ANGLES = ("pitch", "yaw", "roll")


@torch.no_grad()
def pose_errors(run, split: str) -> dict[str, float]:
    rep, store = run.rep, run.store
    rot = rep.parts["rot"]
    err, truth = [], []
    for cid in store.ids(split):
        clip = store.load(cid)
        found = torch.cat([rep.encode(to_tensor(np.asarray(clip.frames[i : i + 64])))
                           for i in range(0, clip.num_frames, 64)])[:, rot]  # fmt: skip
        true = pose_degrees(torch.from_numpy(clip.gt["pose"]))
        err.append((found - true).abs())
        truth.append(true)
    err, truth = torch.cat(err), torch.cat(truth)
    out = {f"{a}_mae": float(err[:, i].mean()) for i, a in enumerate(ANGLES)}
    out |= {f"{a}_true_std": float(truth[:, i].std()) for i, a in enumerate(ANGLES)}
    out["frames"] = len(err)
    return out


def strip(run_dir: Path, out: Path) -> Path:
    """Ground truth / reconstruction / run rows of the first sampled clip -> PNG."""
    import imageio.v3 as iio

    name = sorted((run_dir / "samples").glob("*.mp4"))[0].stem
    rows = [read_video(p)[0] for p in (run_dir / "eval" / "ground_truth" / f"{name}.mp4",
                                        run_dir / "eval" / "reconstruction" / f"{name}.mp4",
                                        run_dir / "samples" / f"{name}.mp4")]  # fmt: skip
    n = min(len(r) for r in rows)
    step = max(1, n // 8)
    out.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(out, np.concatenate([frame_strip(r[:n], 8, 0, step) for r in rows], axis=0))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, type=Path, help="a rep=keypoint run directory")
    p.add_argument("--split", default="test")
    p.add_argument("--strip", type=Path, help="write the ground truth / reconstruction / run strip here")
    p.add_argument("--json", type=Path, help="also write the numbers here")
    args = p.parse_args(argv)
    run = reopen(args.run)
    if run.cfg.choice.rep != "keypoint":
        raise SystemExit(f"{args.run} is a rep={run.cfg.choice.rep} run; this checks rep=keypoint runs")
    out = pose_errors(run, args.split)
    for k, v in out.items():
        print(f"  {k:16s} {v:.3f}")
    if args.strip:
        print(f"wrote {strip(args.run, args.strip)}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
