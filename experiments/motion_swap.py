"""Where does a generated motion lose lip sync? Swap parts of it for the real motion's and re-draw.

    python -m experiments.motion_swap --run RUN_DIR [--seeds-of SWEEP_ARM_DIR] [--clips 10] [--no-render]

RUN_DIR is a run directory (its fit, renderer and extracted clips are reopened); its ``samples/<clip>.npz``
hold the generated and the real motion of each held-out clip, normalised (the sample stage writes them).
``--seeds-of`` reads the samples of every run under that directory instead (a study arm's seeds; the same
fit). The motion's principal components are fitted on the training clips' normalised motion, keeping
those that carry 99.9% of its variance; each is labelled by its correlation with the world's jaw-open
and head rotation on the training clips. The jaw component is the direction in their span that reads the
jaw out best (a least-squares line from the components to the jaw on the training clips; a fit can spread the
jaw over several principal components), the other components the rest of the span.
Printed first: the share of the generated and the real motion's variance outside the kept components
(a generator that leaves them draws codes the decoder never saw); ``--no-render`` stops there.

Rows, each drawn by the run's renderer from the clip's source frame and scored like the eval's lip sync
(the analyser's mouth aperture against the clip's jaw track; without the eval's still-render noise gate,
so the numbers sit above the eval's and compare only with each other):

* generated, real: the two motions as they are;
* generated + real jaw component: the generated motion with its jaw component replaced by the real one's;
* generated + real other components: every other component replaced, the jaw component kept;
* generated (real) jaw component, others still: the generated (real) motion with every other component held at
  the real motion's clip mean, so no head or other motion moves with the mouth.

If the jaw component alone brings the generated sync to the real one's, the generator's audio-to-jaw
mapping is what loses it; if the other components do, it is what they carry alongside the mouth. A swap mixes
components sampled apart (a generated head with the real jaw), which the decoder never saw together; the still
rows hold the others still instead, so each jaw component's own share of the sync reads off them.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from sandbox.metrics.motion import fit_jaw_readout
from sandbox.metrics.stats import paired_difference_ci
from sandbox.metrics.sync import lip_sync
from sandbox.pipeline.eval import jaw_target, sync_window

KEEP = 0.999  # share of the training motion's variance the kept components carry


def principal_components(motion: np.ndarray, keep: float = KEEP) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """motion [N, dim] -> (mean [dim], basis [dim, k] with orthonormal columns, variances [k]), the
    leading components carrying ``keep`` of the variance, largest first."""
    mean = motion.mean(0)
    var, vec = np.linalg.eigh(np.cov((motion - mean).T))
    var, vec = var[::-1], vec[:, ::-1]
    k = int(np.searchsorted(np.cumsum(var) / var.sum(), keep) + 1)
    return mean, vec[:, :k], var[:k]


def swap(base: np.ndarray, other: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """``base`` [T, dim] with its part in the span of ``basis`` [dim, j] (orthonormal columns) replaced
    by ``other``'s (both centred alike)."""
    return base - (base @ basis) @ basis.T + (other @ basis) @ basis.T


def outside_share(x: np.ndarray, basis: np.ndarray) -> float:
    """Share of the (centred) motion ``x`` [T, dim]'s sum of squares outside the span of ``basis``."""
    inside = x @ basis
    return float(1.0 - (inside ** 2).sum() / (x ** 2).sum())


def jaw_direction(coords: np.ndarray, jaw: np.ndarray, basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The jaw's read-out direction in the span of ``basis`` [dim, k] (orthonormal columns), from the motion's
    coordinates in it ``coords`` [N, k] and the jaw [N]: (jaw basis [dim, 1], the rest of the span [dim, k - 1]),
    both orthonormal, together spanning ``basis``."""
    w = fit_jaw_readout([coords], [jaw])[:-1]  # the line's weights, its bias dropped
    u = w / np.linalg.norm(w)  # in component coordinates
    rest = np.linalg.svd(np.eye(len(u)) - np.outer(u, u))[0][:, :len(u) - 1]
    return basis @ u[:, None], basis @ rest


def label(coords: np.ndarray, jaw: np.ndarray, rotation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per component: correlation with the jaw [k], and with the three rotation angles [3, k]."""
    k = coords.shape[1]
    cj = np.array([np.corrcoef(coords[:, i], jaw)[0, 1] for i in range(k)])
    cr = np.array([[np.corrcoef(coords[:, i], rotation[:, a])[0, 1] for i in range(k)] for a in range(3)])
    return cj, cr


def main(argv: list[str] | None = None) -> None:
    from sandbox.analysis.face import FaceAnalyser
    from sandbox.pipeline.render import render_motion
    from sandbox.pipeline.reopen import reopen

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", required=True, type=Path)
    p.add_argument("--seeds-of", type=Path, default=None, help="read the samples of every run under this directory")
    p.add_argument("--clips", type=int, default=10, help="held-out clips per run")
    p.add_argument("--train-clips", type=int, default=40, help="training clips the components are labelled on")
    p.add_argument("--no-render", action="store_true", help="stop after the components and the shares outside them")
    args = p.parse_args(argv)

    run = reopen(args.run)
    rep, renderer, store, ex = run.rep, run.renderer, run.store, run.extracted
    train = ex.split("train")
    mean, basis, var = principal_components(np.concatenate([c["motion"] for c in train]))
    coords, jaws, rots = [], [], []
    for cid in store.ids("train")[:args.train_clips]:
        m, clip = ex.load(cid)["motion"], store.load(cid)
        coords.append((m - mean) @ basis), jaws.append(jaw_target(clip, len(m))), rots.append(clip.gt["pose"][:len(m), :3])
    coords, jaws = np.concatenate(coords), np.concatenate(jaws)
    cj, cr = label(coords, jaws, np.concatenate(rots))
    jaw_basis, other_basis = jaw_direction(coords, jaws, basis)
    read = coords @ (basis.T @ jaw_basis)[:, 0]
    print(f"{basis.shape[1]} of {basis.shape[0]} components carry {KEEP:.1%} of the training motion's variance; "
          f"variances {np.round(var, 3).tolist()}")
    print(f"  correlation with the jaw: {np.round(cj, 2).tolist()}; the jaw component (its read-out direction): "
          f"{abs(np.corrcoef(read, jaws)[0, 1]):.2f}")
    for a, name in enumerate(("rotation x", "rotation y", "rotation z")):
        print(f"  correlation with {name}: {np.round(cr[a], 2).tolist()}")

    runs = sorted(d for d in args.seeds_of.iterdir() if (d / "samples").is_dir()) if args.seeds_of else [args.run]
    files = {d: sorted((d / "samples").glob("*.npz"))[:args.clips] for d in runs}
    for key, name in (("motion_norm", "generated"), ("real_motion_norm", "real")):
        x = np.concatenate([np.load(f)[key] for fs in files.values() for f in fs]) - mean
        print(f"  {name} motion: {outside_share(x, basis):.2%} of its variance outside the kept components")
    if args.no_render:
        return
    names = ("generated", "real", "generated + real jaw component", "generated + real other components",
             "generated jaw component, others still", "real jaw component, others still")
    max_lag = int(run.cfg.eval.max_lag)  # the lags the run's own eval searched
    rows: dict[str, list[list[tuple[float, float]]]] = {n: [] for n in names}  # per run, per clip (confidence, corr0)
    with FaceAnalyser(video=True) as analyser:
        for run_dir in runs:
            per_clip: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
            for f in files[run_dir]:
                z = np.load(f)
                g, r = z["motion_norm"] - mean, z["real_motion_norm"] - mean
                still = np.broadcast_to(r.mean(0, keepdims=True), r.shape)
                variants = dict(zip(names, (g, r, swap(g, r, jaw_basis), swap(g, r, other_basis),
                                            swap(g, still, other_basis), swap(r, still, other_basis))))
                jaw = jaw_target(store.load(f.stem), len(g))
                lag, window = sync_window([jaw], max_lag)
                for name, x in variants.items():
                    motion = rep.denormalize(torch.from_numpy((x + mean).astype(np.float32))).numpy()
                    a = analyser.analyse(render_motion(rep, renderer, z["source"], motion))
                    s = lip_sync(a.mouth_aperture, jaw, lag, window, None)
                    per_clip[name].append((s["confidence"], s["corr0"]))
            for name in names:
                rows[name].append(per_clip[name])
    conf = {name: [[c for c, _ in per_run] for per_run in v] for name, v in rows.items()}
    corr0 = {name: np.mean([c for per_run in v for _, c in per_run]) for name, v in rows.items()}
    print(f"\n{len(runs)} run(s) x {len(conf['generated'][0])} clips; lip sync without the still-render gate; "
          "each row's difference from the generated one, paired by run and clip (95% bootstrap CI)")
    for name, v in conf.items():
        mean_c = np.mean([c for per_run in v for c in per_run])
        d, lo, hi = paired_difference_ci(v, conf["generated"])
        diff = f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]" if lo is not None else f"{d:+.3f}"
        print(f"  {name:36s} confidence {mean_c:.3f} ({diff})  corr0 {corr0[name]:.3f}")


if __name__ == "__main__":
    main()
