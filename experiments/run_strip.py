"""Mouth crops of one held-out clip, row by row of a run's eval: ``python -m experiments.run_strip RUN_DIR
[--clip test_0090] [--frames 12] [--rows ground_truth,reconstruction,run,energy] [--out docs/lia_flow_strip.png]``.

Reads the videos a run wrote (``samples/<clip>.mp4`` for the run, ``eval/<row>/<clip>.mp4`` for the baseline
rows), takes ``--frames`` frames evenly spread over the clip (the same frames in every row) and crops the mouth
and chin: a fixed box of the 128 px FLOAT-style face crop, where the synthetic world's mouth sits.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

BOX = (0.52, 0.86, 0.24, 0.70)  # top, bottom, left, right: fractions of the face crop
LABELS = {"run": "generated", "ground_truth": "ground truth", "reconstruction": "reconstruction",
          "energy": "energy heuristic", "static": "still head"}


def row_video(run_dir: Path, row: str, clip: str) -> Path:
    path = run_dir / "samples" / f"{clip}.mp4" if row == "run" else run_dir / "eval" / row / f"{clip}.mp4"
    if not path.is_file():
        raise SystemExit(f"{path} is missing: RUN_DIR must be a run whose eval stage finished (rows: "
                         f"{', '.join(LABELS)}; clips: the names in {run_dir / 'samples'})")
    return path


def strip(run_dir: Path, clip: str, rows: list[str], n_frames: int, tile_w: int = 136) -> np.ndarray:
    """uint8 [rows x tile_h, label + n_frames x tile_w, 3] (RGB)."""
    from sandbox.video import read_video

    videos = {row: read_video(row_video(run_dir, row, clip))[0] for row in rows}
    length = min(len(v) for v in videos.values())
    idx = np.linspace(0, length - 1, n_frames).round().astype(int)
    t, b, left, r = BOX
    out_rows = []
    for row, frames in videos.items():
        h, w = frames.shape[1:3]
        crops = frames[idx, int(t * h):int(b * h), int(left * w):int(r * w)]
        tile_h = round(tile_w * crops.shape[1] / crops.shape[2])
        tiles = [cv2.resize(c, (tile_w, tile_h), interpolation=cv2.INTER_CUBIC) for c in crops]
        label = np.full((tile_h, tile_w, 3), 255, np.uint8)
        cv2.putText(label, LABELS.get(row, row), (4, tile_h // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                    cv2.LINE_AA)
        out_rows.append(np.concatenate([label, *tiles], axis=1))
    return np.concatenate(out_rows, axis=0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--clip", default=None, help="a clip name in RUN_DIR/samples (default: the first)")
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--rows", default="ground_truth,reconstruction,run,energy")
    p.add_argument("--out", type=Path, default=Path("docs/lia_flow_strip.png"))
    a = p.parse_args(argv)
    clips = sorted(f.stem for f in (a.run_dir / "samples").glob("*.mp4"))
    if not clips:
        raise SystemExit(f"no generated videos in {a.run_dir / 'samples'}: run the sample stage first")
    img = strip(a.run_dir, a.clip or clips[0], a.rows.split(","), a.frames)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(a.out), img[:, :, ::-1])
    print(f"wrote {a.out} ({img.shape[1]} x {img.shape[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
