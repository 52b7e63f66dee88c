"""How much of the landmarks' motion do a fitted lia auto-encoder's warp fields draw, and which part?

    python -m experiments.lia_flows --run RUN_DIR [--split train] [--pairs 128]

RUN_DIR is a rep=lia run directory (its config.yaml and artifacts.json name the fit and the data). On
``--pairs`` fixed (source, driving) pairs of ``split``, each warp field the landmark term supervises (32 px
and up) and the image warp are sampled at the driving frame's landmarks, where a backward warp must point
at the source's landmarks (sandbox.losses.image.landmark_flow_loss). The true and the drawn landmark motion
are each split, per pair, into a least-squares 2D affine map of the driving landmarks and the rest; printed
per field, pooled over pairs:

* translation: slope of the drawn affine map's translation on the true one's (1: drawn in full, 0: none);
* linear: the same for its linear part minus the identity (rotation, scale, shear; correlation after /);
* lids, lips: the same for the rest, what no affine map explains, at the eyes' and the outer lips' landmarks
  (a blink, the jaw);
* mask: the field's mean blending mask at the landmarks (1: the warped source is copied there).

A slope below 1 with a high correlation is a damped motion: drawn in the right direction, not far enough.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from representations.lia import LiaRepresentation
from sandbox.data.pairs import FramePairs
from sandbox.face.topology import contours
from sandbox.losses.image import affine_fit, sample_at
from sandbox.pipeline.reopen import reopen


def slope(pred: torch.Tensor, true: torch.Tensor) -> float:
    """Least-squares slope through the origin of pred on true (all entries pooled)."""
    p, t = pred.reshape(-1).double(), true.reshape(-1).double()
    return float(p @ t / (t @ t).clamp_min(1e-30))


def motion_slopes(drawn: torch.Tensor, true: torch.Tensor, driving: torch.Tensor,
                  groups: dict[str, np.ndarray]) -> dict[str, float]:  # fmt: skip
    """drawn, true: landmark displacements [B, N, 2] (where the warp samples minus the driving landmarks
    ``driving`` [B, N, 2]). Slopes of the drawn motion's parts on the true one's (module docstring)."""
    drawn, true, driving = drawn.double(), true.double(), driving.double()
    eye = torch.cat([torch.eye(2), torch.zeros(1, 2)]).to(true)
    (cd, rd), (ct, rt) = (affine_fit(driving, driving + d) for d in (drawn, true))
    lin_d, lin_t = (cd - eye)[:, :2], (ct - eye)[:, :2]
    out = {"translation": slope(cd[:, 2], ct[:, 2]), "linear": slope(lin_d, lin_t),
           "linear_corr": float(np.corrcoef(lin_d.reshape(-1), lin_t.reshape(-1))[0, 1])}
    out |= {name: slope(rd[:, idx], rt[:, idx]) for name, idx in groups.items()}
    return out


@torch.no_grad()
def measure(rep: LiaRepresentation, store, split: str = "train", n_pairs: int = 128) -> dict[str, dict[str, float]]:
    """Per warp field (its side in pixels; "image" for the image warp): motion_slopes and the mean mask."""
    pairs = FramePairs(store, split, rep.config.size, fixed=True)
    idx = np.linspace(0, len(pairs) - 1, min(n_pairs, len(pairs))).astype(int)
    items = [pairs[int(i)] for i in idx]
    b = {k: torch.stack([it[k] for it in items]) for k in ("source", "driving", "lmk_source", "lmk_driving")}
    c = contours()
    groups = {"lids": np.unique(np.r_[c["left_eye"], c["right_eye"]]), "lips": np.unique(c["lips_outer"])}
    rep.ae.eval()
    flows = rep.ae(b["source"], b["driving"], return_aux=True)["flows"]
    true = b["lmk_source"] - b["lmk_driving"]
    out = {}
    for k, (flow, mask) in enumerate(flows):
        if flow.shape[-1] < 32:
            continue
        name = "image" if rep.config.image_warp and k == len(flows) - 1 else str(flow.shape[-1])
        out[name] = motion_slopes(sample_at(flow, b["lmk_driving"]), true, b["lmk_driving"], groups) | {
            "mask": float(sample_at(mask, b["lmk_driving"]).mean())}
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, type=Path, help="a rep=lia run directory")
    p.add_argument("--split", default="train")
    p.add_argument("--pairs", type=int, default=128)
    args = p.parse_args(argv)
    run = reopen(args.run)
    if not isinstance(run.rep, LiaRepresentation):
        p.error(f"{args.run} is a {type(run.rep).__name__} run; this read-out needs rep=lia")
    rows = measure(run.rep, run.store, args.split, args.pairs)
    cols = list(next(iter(rows.values())))
    print(f"{'field':8s} " + " ".join(f"{c:>12s}" for c in cols))
    for name, row in rows.items():
        print(f"{name:8s} " + " ".join(f"{row[c]:12.2f}" for c in cols))


if __name__ == "__main__":
    main()
