"""Where does a generated motion lose lip sync? Swap parts of it for the real motion's and re-draw.

    python -m experiments.motion_swap --run RUN_DIR [--seeds-of [NAME=]SWEEP_ARM_DIR ...] [--clips 10] [--no-render]
                                      [--out PAGE.md --note TEXT]

RUN_DIR is a run directory (its fit, renderer and extracted clips are reopened); its ``samples/<clip>.npz``
hold the generated and the real motion of each held-out clip, normalised (the sample stage writes them).
``--seeds-of`` reads the samples of every run under that directory instead (a study arm's seeds; the same
fit); repeated, each is an arm, and every row of an arm is compared with the first arm's (unpaired: other
trainings). The motion's principal components are fitted on the training clips' normalised motion, keeping
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
  the real motion's clip mean, so no head or other motion moves with the mouth;
* generated jaw component at the real amplitude, others still: that row with the generated jaw component scaled
  about its clip mean to the real one's standard deviation on the clip, so only its timing differs from the real.

``--out`` writes these lines as a results page (its command first), ``--note`` its reading.

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

from experiments.audio_front import page_head
from sandbox.metrics.motion import fit_jaw_readout
from sandbox.metrics.stats import difference_ci, paired_difference_ci
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


def at_amplitude(x: np.ndarray, ref: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """``x`` [T, dim] with its coordinate along ``direction`` [dim, 1] (unit norm) scaled about its mean to the
    standard deviation of ``ref``'s coordinate along it; the rest of ``x`` unchanged."""
    cx, cr = x @ direction, ref @ direction
    m = cx.mean(0, keepdims=True)
    scaled = m + (cx - m) * (cr.std() / max(float(cx.std()), 1e-12))
    return x + (scaled - cx) @ direction.T


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


def arms_of(specs: list[str] | None, run: Path) -> dict[str, list[Path]]:
    """``--seeds-of`` values ([NAME=]DIR) -> {arm name: its run directories}; none: the ``--run`` alone."""
    if not specs:
        return {run.name: [run]}
    out = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        d = Path(path if sep else spec)
        runs = sorted(r for r in d.iterdir() if (r / "samples").is_dir()) if d.is_dir() else []
        if not runs:
            raise SystemExit(f"--seeds-of {spec}: no run directory with samples/ under {d}")
        out[name if sep else d.name] = runs
    return out


ROWS = ("generated", "real", "generated + real jaw component", "generated + real other components",
        "generated jaw component, others still", "real jaw component, others still",
        "generated jaw component at the real amplitude, others still")


def main(argv: list[str] | None = None) -> None:
    from sandbox.analysis.face import FaceAnalyser
    from sandbox.pipeline.render import render_motion
    from sandbox.pipeline.reopen import reopen

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", required=True, type=Path)
    p.add_argument("--seeds-of", action="append", default=None, metavar="[NAME=]DIR",
                   help="read the samples of every run under this directory (repeat: one arm each, on the run's fit)")
    p.add_argument("--clips", type=int, default=10, help="held-out clips per run")
    p.add_argument("--train-clips", type=int, default=40, help="training clips the components are labelled on")
    p.add_argument("--no-render", action="store_true", help="stop after the components and the shares outside them")
    p.add_argument("--out", type=Path, default=None, help="also write the printed lines as a results page here")
    p.add_argument("--note", default="", help="the page's reading (with --out)")
    args = p.parse_args(argv)
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text)
        lines.append(text)

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
    say(f"{basis.shape[1]} of {basis.shape[0]} components carry {KEEP:.1%} of the training motion's variance; "
        f"variances {np.round(var, 3).tolist()}")
    say(f"  correlation with the jaw: {np.round(cj, 2).tolist()}; the jaw component (its read-out direction): "
        f"{abs(np.corrcoef(read, jaws)[0, 1]):.2f}")
    for a, name in enumerate(("rotation x", "rotation y", "rotation z")):
        say(f"  correlation with {name}: {np.round(cr[a], 2).tolist()}")

    arms = arms_of(args.seeds_of, args.run)
    files = {d: sorted((d / "samples").glob("*.npz"))[:args.clips] for runs in arms.values() for d in runs}
    for arm, runs in arms.items():
        for key, name in (("motion_norm", "generated"), ("real_motion_norm", "real")):
            x = np.concatenate([np.load(f)[key] for d in runs for f in files[d]]) - mean
            say(f"  {arm}, {name} motion: {outside_share(x, basis):.2%} of its variance outside the kept components")
    if args.no_render:
        return
    max_lag = int(run.cfg.eval.max_lag)  # the lags the run's own eval searched
    # per arm, row, run and clip: (confidence, corr0)
    scores: dict[str, dict[str, list[list[tuple[float, float]]]]] = {a: {n: [] for n in ROWS} for a in arms}
    with FaceAnalyser(video=True) as analyser:
        for arm, runs in arms.items():
            for run_dir in runs:
                per_clip: dict[str, list[tuple[float, float]]] = {n: [] for n in ROWS}
                for f in files[run_dir]:
                    z = np.load(f)
                    g, r = z["motion_norm"] - mean, z["real_motion_norm"] - mean
                    still = np.broadcast_to(r.mean(0, keepdims=True), r.shape)
                    g_still = swap(g, still, other_basis)
                    variants = dict(zip(ROWS, (g, r, swap(g, r, jaw_basis), swap(g, r, other_basis), g_still,
                                               swap(r, still, other_basis), at_amplitude(g_still, r, jaw_basis))))
                    jaw = jaw_target(store.load(f.stem), len(g))
                    lag, window = sync_window([jaw], max_lag)
                    for name, x in variants.items():
                        motion = rep.denormalize(torch.from_numpy((x + mean).astype(np.float32))).numpy()
                        a = analyser.analyse(render_motion(rep, renderer, z["source"], motion))
                        s = lip_sync(a.mouth_aperture, jaw, lag, window, None)
                        per_clip[name].append((s["confidence"], s["corr0"]))
                for name in ROWS:
                    scores[arm][name].append(per_clip[name])
    first = next(iter(arms))
    for arm in arms:
        conf = {name: [[c for c, _ in per_run] for per_run in v] for name, v in scores[arm].items()}
        corr0 = {name: np.mean([c for per_run in v for _, c in per_run]) for name, v in scores[arm].items()}
        say()
        say(f"{arm}: {len(conf['generated'])} run(s) x {len(conf['generated'][0])} clips; lip sync without the "
            "still-render gate; each row's difference from the generated one, paired by run and clip (95% bootstrap "
            "CI)" + ("" if arm == first else f"; then from {first}'s same row, unpaired"))
        for name, v in conf.items():
            mean_c = np.mean([c for per_run in v for c in per_run])
            d, lo, hi = paired_difference_ci(v, conf["generated"])
            diff = f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]" if lo is not None else f"{d:+.3f}"
            if arm != first:
                base = [[c for c, _ in per_run] for per_run in scores[first][name]]
                d, lo, hi = difference_ci(v, base)
                diff += f"; from {first}: {d:+.3f}" + (f" [{lo:+.3f}, {hi:+.3f}]" if lo is not None else "")
            say(f"  {name:60s} confidence {mean_c:.3f} ({diff})  corr0 {corr0[name]:.3f}")
    if args.out is not None:
        head = page_head(__doc__, "experiments.motion_swap", argv)
        body = ["    " + line if line else "" for line in lines]
        text = "\n".join([*head, __doc__.split("\n\n", 2)[2].strip(), "", "## Output", "", *body, "",
                          *(["## Reading", "", args.note, ""] if args.note else [])])
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(args.out)


if __name__ == "__main__":
    main()
