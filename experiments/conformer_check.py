"""Why does a trained conformer (GoHD's residual diffusion) sample what it samples? Per noise level, and
along one sampling run.

    python -m experiments.conformer_check --run RUN_DIR [--clips 4] [--json OUT]

RUN_DIR is a run of ``gen=conformer`` (its extracted motion and trained generator). Windows of
L' + L frames every 25 frames of the first ``--clips`` test clips are noised at fixed steps n, and
printed per n:

* err: the mean square error of the network's output against its target (eps, or the residual for
  ``gen.prediction=x0``): the training loss at that step;
* copy: the same error of the best trivial answer at that step (eps: x_n / sqrt(1 - ᾱ_n), exact where the
  clean residual is 0; x0: 0), so err above copy means the network has not learned even that;
* x0_err: the mean square error of the clean residual the output implies, against the residual's variance
  (var): what the DDPM posterior is built from.

Then the first test clip is sampled as the sample stage does, and the std of x_n, of the output and of
the implied clean residual are printed along the steps of its first window, with the sample's residual std and lag-1
autocorrelation over frames against the real clip's.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from experiments.gen_jaw import RunMotion
from generators.conformer import ConformerDiffusion
from sandbox.config import to_dict

STEPS_SHOWN = (0, 5, 20, 50, 100, 149)


def windows(clips: list[dict[str, np.ndarray]], length: int, stride: int = 25) -> dict[str, torch.Tensor]:
    """Training-style windows [B, length, ...] of extracted clips (every ``stride`` frames)."""
    out: dict[str, list] = {"x": [], "audio": [], "x_ref": [], "emotion": []}
    for c in clips:
        for s in range(0, len(c["motion"]) - length, stride):
            out["x"].append(c["motion"][s:s + length])
            out["audio"].append(c["audio"][s:s + length])
            out["x_ref"].append(c["x_ref"])
            out["emotion"].append(c["emotion"])
    return {k: torch.tensor(np.stack(v)).float() for k, v in out.items()}


@torch.no_grad()
def per_step(gen: ConformerDiffusion, batch: dict[str, torch.Tensor], steps=STEPS_SHOWN, seed: int = 0) -> list[dict]:
    """Per diffusion step n: the output's error, the trivial answer's, and the implied clean residual's."""
    gen.eval()
    g = torch.Generator().manual_seed(seed)
    x, x_ref = batch["x"][..., gen.index], batch["x_ref"][..., gen.index]
    lp, proc = gen.n_prev, gen.process
    res = x - x_ref[:, None]
    audio = gen.audio_encoder(batch["audio"])
    kpm = torch.ones(x.shape[:2], dtype=torch.bool)
    rows = []
    for n in steps:
        if n >= proc.train_steps:
            continue
        t = torch.full((x.shape[0],), n)
        noise = torch.randn(res[:, lp:].shape, generator=g)
        x_t = proc.add_noise(res[:, lp:], noise, t)
        out = gen.denoise(x_t, t, res[:, :lp], audio, x_ref, batch["emotion"], kpm)
        target = proc.target(res[:, lp:], noise)
        ab = float(proc.alphas_cumprod[n])
        trivial = x_t / (1 - ab) ** 0.5 if proc.prediction == "eps" else torch.zeros_like(x_t)
        rows.append({"n": n, "alpha_bar": ab, "err": float((out - target).square().mean()),
                     "copy": float((trivial - target).square().mean()),
                     "x0_err": float((proc.to_x0(out, x_t, t) - res[:, lp:]).square().mean()),
                     "var": float(res[:, lp:].var())})
    return rows


@torch.no_grad()
def trace(gen: ConformerDiffusion, clip: dict[str, np.ndarray], steps: int, guidance: dict | None,
          seed: int = 0) -> tuple[list[dict], np.ndarray]:
    """One sample of ``clip`` with the std of x_n, of the output and of the implied clean estimate per step."""
    sched_cls = type(gen.process.sampler(gen.sampler_kind, 1))
    original = sched_cls.step
    rows: list[dict] = []

    def step(self, model_output, timestep, sample, **kw):
        out = original(self, model_output, timestep, sample, **kw)
        rows.append({"n": int(timestep), "x_std": float(sample.std()), "out_std": float(model_output.std()),
                     "x0_std": float(out.pred_original_sample.std())})
        return out

    cond = {k: torch.from_numpy(clip[k])[None].float() for k in ("audio", "x_ref", "emotion")}
    sched_cls.step = step
    try:
        motion = gen.sample(cond, steps=steps, guidance=guidance, seed=seed).motion[0].numpy()
    finally:
        sched_cls.step = original
    return rows, motion


def lag1(x: np.ndarray) -> float:
    """Mean over dimensions of the lag-1 autocorrelation over frames of x [T, d]."""
    x = x - x.mean(0)
    den = (x * x).sum(0)
    ok = den > 1e-12
    return float(((x[1:] * x[:-1]).sum(0)[ok] / den[ok]).mean())


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, type=Path)
    ap.add_argument("--clips", type=int, default=4, help="test clips whose windows are noised")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    run = RunMotion(a.run)
    if not isinstance(run.gen, ConformerDiffusion):
        ap.error(f"{a.run} trained {type(run.gen).__name__}, not gen=conformer")
    clips = [run.clip(c) for c in run.splits["test"][: a.clips]]
    batch = windows(clips, run.gen.n_prev + run.gen.n_cur)
    rows = per_step(run.gen, batch)
    print(f"{a.run}: {run.gen.process.prediction}-prediction, {len(batch['x'])} windows of {len(clips)} test clips")
    print(f"{'n':>4} {'alpha_bar':>9} {'err':>7} {'copy':>7} {'x0_err':>8} {'var':>6}")
    for r in rows:
        print(f"{r['n']:>4} {r['alpha_bar']:>9.4f} {r['err']:>7.3f} {r['copy']:>7.3f} {r['x0_err']:>8.3f} {r['var']:>6.3f}")
    s = run.cfg.sample
    guidance = to_dict(s.guidance) if s.get("guidance") else None
    steps_trace, motion = trace(run.gen, clips[0], int(s.steps), guidance)
    real = clips[0]["motion"]
    idx = run.gen.index.numpy()
    gen_res, real_res = (motion - clips[0]["x_ref"])[:, idx], (real - clips[0]["x_ref"])[:, idx]
    first = steps_trace[: next(i for i, r in enumerate(steps_trace) if r["n"] == steps_trace[-1]["n"]) + 1]
    shown = first[:2] + first[len(first) // 2: len(first) // 2 + 1] + first[-2:]  # the first window
    print(f"\nsampling {run.splits['test'][0]}: {'n':>4} x_std out_std x0_std")
    for r in shown:
        print(f"{r['n']:>4} {r['x_std']:.3f} {r['out_std']:.3f} {r['x0_std']:.3f}")
    summary = {"residual_std_gen": float(gen_res.std()), "residual_std_real": float(real_res.std()),
               "lag1_gen": lag1(gen_res), "lag1_real": lag1(real_res)}
    print(" ".join(f"{k} {v:.3f}" for k, v in summary.items()))
    doc = {"run": str(a.run), "prediction": run.gen.process.prediction, "per_step": rows, "trace": steps_trace,
           **summary}
    if a.json:
        a.json.write_text(json.dumps(doc, indent=1) + "\n")
    return doc


if __name__ == "__main__":
    main()
