"""Does a fitted lia auto-encoder carry the mouth, and if not, is it the code or the decoder?

    python -m experiments.lia_mouth --run RUN_DIR [--split test] [--clips 4] [--frames 150] [--oracle-clips 2]

RUN_DIR is a run directory (its config.yaml and artifacts.json name the fit and the data): rep=lia, or
any representation for everything but the optimised-code check (``--oracle-clips 0``), which needs lia's
decoder. The code is lia's lambda, or the motion itself for the other spaces.
For each clip, the real frames are encoded and re-drawn from the clip's first frame (the eval's
"reconstruction" row, without the codec). Printed, pooled over clips:

* code_jaw_r2 / code_blink_r2: R^2 of a least-squares line from the motion code (lambda, M numbers) to
  the world's jaw-open (blink) coefficient, fitted on train clips and scored on ``split``: does the code
  carry the jaw (the blink)?
* aperture_corr_real / _recon: correlation of the analyser's mouth aperture with the jaw coefficient,
  on the real frames and on the re-drawn ones: does the decoder draw what the code carries?
* aperture_ratio: std of the re-drawn aperture over std of the real one (amplitude kept).
* blink_corr_recon: correlation of the analyser's eye openness on the re-drawn frames with that on the
  real frames; blink_depth_real / _recon: mean over clips of 1 - (1st percentile / median) of the
  openness (the eval counts a blink below 0.5 x the median, so a depth under 0.5 draws no blink);
  blink_rate_real / _recon: the eval's blinks per minute.
* code_pose_r2: the same read-out for the world's head rotation (3 axes pooled): does the code carry
  the head pose? head_rot_real / _recon: the eval's head-rotation std (degrees, mean over clips) of the
  analyser's pose on the real and the re-drawn frames: does the decoder draw it at full amplitude?
  head_corr_recon: correlation of the re-drawn rotation with the real one (each clip's mean removed).
* mouth_open_minus_closed_real / _encoded / _optimised (eyes_...: the same for the lids, in eye openness):
  on the 6 most open and 6 most closed frames of
  ``--oracle-clips`` train clips, the analyser's mean aperture of the open ones minus the closed ones,
  in the real frames, re-drawn from their code, and re-drawn from a code optimised per frame (Adam on
  the image L1 through the frozen decoder). If even the optimised code draws no open mouth, no code
  can: the decoder, not the encoder, is what loses the mouth.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from experiments.analyser_accuracy import corr
from experiments.gen_jaw import blink_target
from renderers.base import Renderer
from renderers.lia import LiaRenderer
from representations.base import Representation
from representations.lia import LiaRepresentation
from sandbox.analysis.face import FaceAnalyser
from sandbox.data.clips import ClipStore
from sandbox.data.frames import to_tensor, to_uint8
from sandbox.metrics.motion import blink_rate, readout_r2, rotation_std
from sandbox.pipeline.eval import jaw_target
from sandbox.pipeline.render import render_motion
from sandbox.pipeline.reopen import reopen


def load_rep(run_dir: Path) -> tuple[Representation, Renderer, ClipStore]:
    """The fitted rep, its renderer and the dataset of a run directory (sandbox.pipeline.reopen)."""
    run = reopen(run_dir)
    return run.rep, run.renderer, run.store


def encoded(rep: Representation, store: ClipStore, ids: list[str], frames: int):
    """Per clip: (real frames uint8 [n, H, W, 3], encoded motion [n, dim] in the rep's space, world targets
    [n, 5]: jaw-open, blink (mean of the two lids' coefficients) and the head rotation (3 numbers))."""
    for cid in ids:
        clip = store.load(cid)
        n = min(frames, clip.num_frames)
        real = np.asarray(clip.frames[:n])
        rot = clip.gt["pose"][:n, :3]
        yield real, rep.encode(to_tensor(real)), np.c_[jaw_target(clip, n), blink_target(clip, n), rot]


def code(rep, motion: torch.Tensor) -> np.ndarray:
    """lia's basis coefficients lambda; any other space's motion as it is."""
    return (rep.coefficients(motion) if hasattr(rep, "coefficients") else motion).numpy()


def measure(rep: Representation, renderer: Renderer, store: ClipStore, split: str, n_clips: int, frames: int,
            n_train: int = 24) -> dict[str, float]:  # fmt: skip
    x, y = [], []
    for _, motion, t in encoded(rep, store, store.ids("train")[:n_train], frames):
        x.append(code(rep, motion)), y.append(t)
    x, y = np.concatenate(x), np.concatenate(y)
    coef = np.linalg.lstsq(np.c_[x, np.ones(len(x))], y, rcond=None)[0]

    analyser = FaceAnalyser(video=True)
    codes, real_ap, rec_ap, target = [], [], [], []
    eyes: dict[str, list[np.ndarray]] = {"real": [], "recon": []}
    head: dict[str, list[float]] = {"real": [], "recon": []}
    rot: dict[str, list[np.ndarray]] = {"real": [], "recon": []}
    for real, motion, t in encoded(rep, store, store.ids(split)[:n_clips], frames):
        rec = render_motion(rep, renderer, real[0], motion.numpy())
        codes.append(code(rep, motion)), target.append(t)
        for name, imgs, ap in (("real", real, real_ap), ("recon", rec, rec_ap)):
            a = analyser.analyse(imgs)
            ap.append(a.mouth_aperture), eyes[name].append(np.nanmean(a.blink, axis=1))
            head[name].append(rotation_std(a.pose))
            rot[name].append(a.pose[:, :3] - np.nanmean(a.pose[:, :3], axis=0))
    xt, ra, ca, t = (np.concatenate(v) for v in (codes, real_ap, rec_ap, target))
    pred = np.c_[xt, np.ones(len(xt))] @ coef
    return {
        "code_jaw_r2": readout_r2(pred[:, 0], t[:, 0]),
        "aperture_corr_real": corr(ra, t[:, 0]),
        "aperture_corr_recon": corr(ca, t[:, 0]),
        "aperture_ratio": float(np.nanstd(ca) / np.nanstd(ra)),
        "code_blink_r2": readout_r2(pred[:, 1], t[:, 1]),
        "blink_corr_recon": corr(np.concatenate(eyes["recon"]), np.concatenate(eyes["real"])),
        "code_pose_r2": readout_r2(pred[:, 2:], t[:, 2:]),
        "head_corr_recon": corr(np.concatenate(rot["recon"]).ravel(), np.concatenate(rot["real"]).ravel()),
    } | {f"head_rot_{name}": float(np.nanmean(v)) for name, v in head.items()} \
      | {f"blink_{k}_{name}": v for name, tracks in eyes.items() for k, v in eye_stats(tracks).items()}


def eye_stats(tracks: list[np.ndarray]) -> dict[str, float]:
    """Mean over clips of how deep the eye openness dips (1 - p1 / median) and the eval's blink rate."""
    depth = [1 - np.nanpercentile(t, 1) / np.nanmedian(t) for t in tracks]
    return {"depth": float(np.mean(depth)), "rate": float(np.mean([blink_rate(t) for t in tracks]))}


def optimised_code(rep: LiaRepresentation, source: np.ndarray, frames: np.ndarray, steps: int = 150,
                   lr: float = 0.05) -> np.ndarray:  # fmt: skip
    """Re-draw ``frames`` uint8 [n, H, W, 3] from ``source`` with the code (rep space, per frame) that
    minimises the image L1 through the frozen decoder, starting from the encoder's code."""
    ref, target = rep.reference(to_tensor(source)), to_tensor(frames)
    code = rep.encode(target).clone().requires_grad_(True)
    opt = torch.optim.Adam([code], lr=lr)
    for _ in range(steps):
        loss = (rep.decode(ref, code) - target).abs().mean()
        opt.zero_grad(), loss.backward(), opt.step()
    with torch.no_grad():
        return to_uint8(rep.decode(ref, code))


def open_minus_closed(rep: LiaRepresentation, renderer: LiaRenderer, store: ClipStore, n_clips: int, frames: int,
                      k: int = 6) -> dict[str, float]:  # fmt: skip
    """The oracle check, for the mouth (most open minus most closed jaw) and the eyes (most open minus most
    closed lids by the world's blink coefficient, in the analyser's eye openness)."""
    analyser = FaceAnalyser(video=False)  # the picked frames are not consecutive
    gaps: dict[str, list[float]] = {}
    for real, motion, t in encoded(rep, store, store.ids("train")[:n_clips], frames):
        for what, target, sign in (("mouth", t[:, 0], 1.0), ("eyes", t[:, 1], -1.0)):
            order = np.argsort(sign * target)
            pick = np.r_[order[-k:], order[:k]]  # open first
            drawn = {"real": real[pick], "encoded": render_motion(rep, renderer, real[0], motion[pick].numpy()),
                     "optimised": optimised_code(rep, real[0], real[pick])}  # fmt: skip
            for name, imgs in drawn.items():
                a = analyser.analyse(imgs)
                v = a.mouth_aperture if what == "mouth" else np.nanmean(a.blink, axis=1)
                gaps.setdefault(f"{what}_open_minus_closed_{name}", []).append(float(np.nanmean(v[:k]) - np.nanmean(v[k:])))
    return {name: float(np.mean(v)) for name, v in gaps.items()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, type=Path, help="a run directory (rep=lia for --oracle-clips)")
    p.add_argument("--split", default="test")
    p.add_argument("--clips", type=int, default=4)
    p.add_argument("--frames", type=int, default=150)
    p.add_argument("--oracle-clips", type=int, default=2, help="train clips for the optimised-code check (0: skip)")
    args = p.parse_args(argv)
    loaded = load_rep(args.run)
    if args.oracle_clips > 0 and not isinstance(loaded[0], LiaRepresentation):
        p.error(f"--oracle-clips needs a rep=lia run ({args.run} is {type(loaded[0]).__name__}); pass --oracle-clips 0")
    out = measure(*loaded, args.split, args.clips, args.frames)
    if args.oracle_clips > 0:
        out |= open_minus_closed(*loaded, args.oracle_clips, args.frames)
    for k, v in out.items():
        print(f"{k:22s} {v:.3f}")


if __name__ == "__main__":
    main()
