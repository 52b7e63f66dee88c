"""The GPU path, run: FLOAT-sized training and sampling steps in bf16, timed.

    python -m experiments.gpu_check [--steps 300] [--seconds 10] [--out gpu_check.json]   # on a CUDA machine
    python -m experiments.gpu_check --tiny --steps 3                                       # the CPU test

With the paper preset's sizes (``sandbox/conf/preset/paper.yaml``: 512 x 512, d = 512, hidden 1024, depth 8,
windows 10 + 50), on random data (throughput does not depend on what the pixels show):

1. the LIA auto-encoder: ``--steps`` Adam steps of the reconstruction L1 at the fit's batch size;
2. the flow generator: ``--steps`` steps of its flow-matching loss at the training batch size;
3. sampling ``--seconds`` of audio at NFE 10 with the default guidance, then drawing every frame at
   512 x 512 with the auto-encoder's decoder (the lia renderer), and the two together.

bf16 autocast on CUDA (``trainer=gpu``'s precision), fp32 on the CPU. Prints and writes steps/s,
frames/s and peak GPU memory. ``--tiny`` takes the smoke preset's sizes. The sandbox's own code builds
the networks (representations.lia, generators.flow), so on a machine without the project's packages
install them first (hydra-core, x-transformers, mediapipe, ...: ``pip install -e .``, or carried wheels).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import torch
import yaml

from generators.flow import FlowGenerator
from representations.lia import LiaAutoEncoder, LiaConfig
from sandbox.audio.encoder import AudioEncoder
from sandbox.constants import N_EMOTIONS
from sandbox.metrics.speed import device_name

PRESETS = Path(__file__).resolve().parents[1] / "sandbox" / "conf" / "preset"
AUDIO_DIM = 320  # the default log-mel features: 4 x 80 per frame
FPS = 25


def sizes(tiny: bool) -> dict:
    """The scale keys of config.yaml, overlaid by the paper (or smoke) preset's."""
    scale = yaml.safe_load((PRESETS.parent / "config.yaml").read_text())["scale"]
    scale |= yaml.safe_load((PRESETS / ("smoke.yaml" if tiny else "paper.yaml")).read_text())["scale"]
    return {k: scale[k] for k in ("image_size", "latent_dim", "motion_dim", "ch_min", "ch_max", "hidden", "depth",
                                  "heads", "n_prev", "n_cur", "overlap")}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_steps(step, n: int, device: torch.device) -> float:
    """Steps per second over ``n`` steps after two warm-up steps."""
    for _ in range(2):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    sync(device)
    return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--tiny", action="store_true", help="the smoke preset's sizes (the CPU test)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    a = ap.parse_args(argv)
    device = torch.device(a.device)
    s = sizes(a.tiny)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    g = torch.Generator().manual_seed(0)
    report: dict = {"device": device_name(device), "torch": torch.__version__, "sizes": s, "steps": a.steps,
                    "precision": "bf16-mixed" if device.type == "cuda" else "32"}
    t_start = time.perf_counter()

    # 1. the LIA auto-encoder (the fit's batch size, 8)
    ae = LiaAutoEncoder(LiaConfig(size=s["image_size"], latent_dim=s["latent_dim"], motion_dim=s["motion_dim"],
                                  ch_min=s["ch_min"], ch_max=s["ch_max"])).to(device)
    opt = torch.optim.Adam(ae.parameters(), lr=2e-4)
    imgs = torch.rand(16, 3, s["image_size"], s["image_size"], generator=g).to(device)

    def ae_step():
        with amp:
            loss = (ae(imgs[:8], imgs[8:]) - imgs[8:]).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    report["autoencoder_steps_per_s"] = timed_steps(ae_step, a.steps, device)

    # 2. the flow generator (the paper preset's batch size, 8; windows L' + L)
    gen = FlowGenerator(dim=s["motion_dim"], audio_dim=AUDIO_DIM, hidden=s["hidden"], depth=s["depth"],
                        heads=s["heads"], n_prev=s["n_prev"], n_cur=s["n_cur"], overlap=s["overlap"],
                        audio_encoder=partial(AudioEncoder, kernel=5)).to(device)
    gopt = torch.optim.Adam(gen.parameters(), lr=1e-5)
    n = s["n_prev"] + s["n_cur"]
    batch = {"x": torch.randn(8, n, s["motion_dim"], generator=g), "audio": torch.randn(8, n, AUDIO_DIM, generator=g),
             "x_ref": torch.randn(8, s["motion_dim"], generator=g),
             "emotion": torch.softmax(torch.randn(8, N_EMOTIONS, generator=g), -1),
             "mask": torch.ones(8, n, dtype=torch.bool)}
    batch = {k: v.to(device) for k, v in batch.items()}

    def gen_step():
        with amp:
            loss = gen.loss(batch)["total"]
        gopt.zero_grad(set_to_none=True)
        loss.backward()
        gopt.step()

    report["generator_steps_per_s"] = timed_steps(gen_step, a.steps, device)

    # 3. sampling at NFE 10 (11 time points), then drawing the frames
    frames = int(a.seconds * FPS)
    cond = {"audio": torch.randn(1, frames, AUDIO_DIM, generator=g).to(device), "x_ref": batch["x_ref"][:1],
            "emotion": batch["emotion"][:1]}
    gen.eval()
    ae.eval()
    with torch.no_grad(), amp:
        gen.sample({**cond, "audio": cond["audio"][:, : s["n_cur"]]}, steps=11, seed=0)  # warm-up
        sync(device)
        t0 = time.perf_counter()
        motion = gen.sample(cond, steps=11, seed=0).motion[0]
        sync(device)
        t_gen = time.perf_counter() - t0
        w, feats, _ = ae.analyse(imgs[:1])
        basis = ae.basis()
        t0 = time.perf_counter()
        for i in range(0, frames, 16):
            m = motion[i : i + 16].float()
            k = m.shape[0]
            ae.decode(w.expand(k, -1), m @ basis.T, [f.expand(k, -1, -1, -1) for f in feats], imgs[:1].expand(k, -1, -1, -1))
        sync(device)
        t_render = time.perf_counter() - t0
    report |= {"sample_nfe": 10, "sample_frames": frames, "generator_frames_per_s": frames / t_gen,
               "render_frames_per_s": frames / t_render, "end_to_end_frames_per_s": frames / (t_gen + t_render),
               "render_size": s["image_size"]}
    if device.type == "cuda":
        report["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    report["wall_s"] = time.perf_counter() - t_start
    text = json.dumps(report, indent=1)
    print(text)
    a.out.write_text(text + "\n")
    return report


if __name__ == "__main__":
    main()
    sys.exit(0)
