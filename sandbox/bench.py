"""Generator and renderer throughput: ``python -m sandbox.bench [--dim 20 --hidden 256 --depth 4 --seconds 10]
[--renderer-sizes 128 256 512]``.

Flow matching at NFE 2 / 5 / 10 / 20 against diffusion (DDIM 50, DDPM ancestral 500) on the same
transformer backbone, plus GoHD's conformer diffusion (DDPM 150) and the two-stage predictor, untrained
(speed does not depend on the weights). Each generator samples ``--seconds`` of audio at 25 fps window by
window with its default guidance; reported: network calls (NFE, all windows), guidance branches batched per
call, wall time, generated frames per second and wall seconds per second of audio. Then every renderer
draws the astronaut photo at each ``--renderer-sizes`` side (the default preset's networks, untrained):
frames per second. Prints markdown tables and writes them to ``--out``. End to end (generator + renderer,
streamed, with latency): ``python -m experiments.stream_bench``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import torch

from generators.base import Generator
from generators.conformer import ConformerDiffusion
from generators.diffusion import DiffusionGenerator
from generators.flow import FlowGenerator
from generators.two_stage import TwoStageGenerator
from sandbox.constants import N_EMOTIONS
from sandbox.metrics.speed import device_name

FPS = 25


def contenders(args) -> list[tuple[str, Callable[[], Generator], dict]]:
    common = dict(dim=args.dim, audio_dim=args.audio_dim, hidden=args.hidden, depth=args.depth, heads=args.heads,
                  n_prev=args.n_prev, n_cur=args.n_cur)
    rows: list[tuple[str, Callable[[], Generator], dict]] = []
    for nfe in args.flow_nfe:  # Euler over nfe + 1 time points = nfe calls per window
        rows.append((f"flow, Euler NFE {nfe}", lambda: FlowGenerator(**common), {"steps": nfe + 1}))
    rows.append(("diffusion x0, DDIM 50", lambda: DiffusionGenerator(**common, sampler="ddim"), {"steps": 50}))
    # FLOAT's ablation swaps only the generative framework: same network, same guided conditions
    rows.append(("diffusion x0, DDIM 50, flow's guidance (audio + emotion)", lambda: DiffusionGenerator(
        **common, sampler="ddim", guided=("audio", "emotion"), scales={"audio": 2.0, "emotion": 1.0}), {"steps": 50}))
    rows.append(("diffusion x0, DDPM ancestral 500", lambda: DiffusionGenerator(**common, sampler="ddpm"),
                 {"steps": 500}))
    if not args.only_transformer:
        rows.append(("conformer (GoHD), DDPM 150", lambda: ConformerDiffusion(
            args.dim, args.audio_dim, channels=args.hidden, n_layers=args.depth, heads=args.heads,
            n_prev=args.n_prev, n_cur=args.n_cur), {"steps": 150}))
        rows.append(("two_stage (GoHD), 1 pass", lambda: TwoStageGenerator(
            args.dim, args.audio_dim, aux_dim=21, hidden=args.hidden, lstm_hidden=args.hidden, n_cur=args.n_cur,
            stage=2), {}))
    return rows


def bench_one(make: Callable[[], Generator], kwargs: dict, cond: dict, device: torch.device, reps: int) -> dict:
    torch.manual_seed(0)
    gen = make().to(device).eval()
    if isinstance(gen, TwoStageGenerator):
        cond = {**cond, "aux_ref": torch.zeros(cond["audio"].shape[0], gen.aux_dim, device=device)}
    short = {k: (v[:, : gen.n_cur] if k == "audio" else v) for k, v in cond.items()}
    gen.sample(short, seed=0, **kwargs)  # warm-up (allocator, kernels)
    times = []
    for r in range(reps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        out = gen.sample(cond, seed=r, **kwargs)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    wall = min(times)
    frames = out.motion.shape[1]
    return dict(nfe=out.nfe, branches=getattr(out, "branches", 1), wall=wall, fps=frames / wall,
                params=sum(p.numel() for p in gen.parameters()))


RENDERERS = [("mesh_warp", "3dmm"), ("navigator", "3dmm"), ("lia", "lia"), ("keypoint_warp", "keypoint")]


@torch.no_grad()
def renderer_rows(sizes: list[int], frames: int, device: torch.device) -> list[str]:
    """A markdown row per renderer and size: frames per second drawing ``frames`` frames of motion around
    the astronaut's reference motion (built as the pipeline builds it, default preset, untrained)."""
    from skimage import data as skdata

    from sandbox.analysis.source import prepare_source
    from sandbox.data.frames import to_tensor
    from sandbox.pipeline.components import build_renderer, build_rep, reference_motion
    from sandbox.run import compose_config

    lines = ["| renderer (rep) | size | frames/s | ms / frame |", "|---|---:|---:|---:|"]
    photo = skdata.astronaut()
    g = torch.Generator().manual_seed(0)
    for renderer, rep_name in RENDERERS:
        for size in sizes:
            cfg = compose_config([f"rep={rep_name}", f"renderer={renderer}", "preset=default", f"scale.image_size={size}"])
            rep = build_rep(cfg)
            draw = build_renderer(cfg, rep)
            for m in (rep, draw):
                if isinstance(m, torch.nn.Module):
                    m.to(device).eval()
            src = to_tensor(prepare_source(photo, "astronaut", size=size))
            ref = rep.reference(src)
            x = reference_motion(rep, src)
            motion = x[None] + 0.01 * torch.randn(frames, x.shape[0], generator=g)
            draw.render(ref, motion[:2])  # warm-up
            t0 = time.perf_counter()
            draw.render(ref, motion)
            wall = time.perf_counter() - t0
            lines.append(f"| {renderer} ({rep_name}) | {size} | {frames / wall:.1f} | {1000 * wall / frames:.1f} |")
            print(lines[-1], flush=True)
    return lines


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dim", type=int, default=20)
    p.add_argument("--audio-dim", type=int, default=80)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--n-prev", type=int, default=10)
    p.add_argument("--n-cur", type=int, default=50)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--reps", type=int, default=1, help="timed repetitions (best is reported)")
    p.add_argument("--flow-nfe", type=int, nargs="+", default=[2, 5, 10, 20])
    p.add_argument("--ref-nfe", type=int, default=10, help="the flow row the last column divides by")
    p.add_argument("--only-transformer", action="store_true", help="skip the GoHD generators")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--renderer-sizes", type=int, nargs="*", default=[128, 256, 512],
                   help="sides the renderers draw at (none: skip the renderers)")
    p.add_argument("--renderer-frames", type=int, default=25)
    p.add_argument("--out", default="bench.md")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    total = int(round(args.seconds * FPS))
    g = torch.Generator().manual_seed(0)
    cond = dict(audio=torch.randn(args.batch, total, args.audio_dim, generator=g),
                x_ref=torch.randn(args.batch, args.dim, generator=g),
                emotion=torch.softmax(torch.randn(args.batch, N_EMOTIONS, generator=g), -1))
    cond = {k: v.to(device) for k, v in cond.items()}
    header = (f"Generator throughput on {device_name(device)}; torch {torch.__version__}; dim {args.dim}, "
              f"hidden {args.hidden}, depth {args.depth}, windows {args.n_prev}+{args.n_cur}, "
              f"{args.seconds:g} s of audio ({total} frames), batch {args.batch}, untrained weights.")
    print(header, flush=True)
    results = [(name, bench_one(make, kwargs, cond, device, args.reps)) for name, make, kwargs in contenders(args)]
    ref = next((r["wall"] for name, r in results if name == f"flow, Euler NFE {args.ref_nfe}"), None)
    lines = [f"| generator | NFE (calls) | branches/call | wall s | frames/s | s per s of audio | params | "
             f"wall / flow NFE {args.ref_nfe} |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results:
        rel = f"{r['wall'] / ref:.2f}" if ref else "–"
        lines.append(f"| {name} | {r['nfe']} | {r['branches']} | {r['wall']:.3f} | {r['fps'] * args.batch:.1f} | "
                     f"{r['wall'] / args.seconds:.4f} | {r['params'] / 1e6:.2f}M | {rel} |")
    print("\n".join(lines), flush=True)
    command = " ".join(["python -m sandbox.bench", *(sys.argv[1:] if argv is None else argv)])
    text = f"# Generator and renderer speed\n\nRegenerate: `{command}`\n\n" + header + "\n\n" + "\n".join(lines) + "\n"
    if args.renderer_sizes:
        text += ("\nRenderers (default preset's networks, untrained; the astronaut photo; " +
                 f"{args.renderer_frames} frames):\n\n" +
                 "\n".join(renderer_rows(args.renderer_sizes, args.renderer_frames, device)) + "\n")
    Path(args.out).write_text(text)
    print(f"written to {args.out}")
    return text


if __name__ == "__main__":
    main()
