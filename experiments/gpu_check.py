"""The GPU path, run: FLOAT-sized training and sampling steps in bf16, timed.

    python -m experiments.gpu_check [--steps 300] [--seconds 10] [--out gpu_check.json] [--page docs/results/gpu_check.md]
    python -m experiments.gpu_check --tiny --steps 3                                       # the CPU test

With the paper preset's sizes (``sandbox/conf/preset/paper.yaml``: 512 x 512, d = 512, hidden 1024, depth 8,
windows 10 + 50), on random data (throughput does not depend on what the pixels show):

1. the LIA auto-encoder: ``--steps`` Adam steps of the reconstruction L1 at the fit's batch size;
2. the flow generator: ``--steps`` steps of its flow-matching loss at the training batch size;
3. sampling ``--seconds`` of audio at NFE 10 with the default guidance, then drawing every frame at
   512 x 512 with the auto-encoder's decoder (the lia renderer), and the two together;
4. the harness's own GPU path (``trainer=gpu``): each generator of ``--gens``, built from its composed
   config (``rep=keypoint``, ``rep=3dmm`` for gohd; paper preset), trained ``--trainer-steps`` steps through make_trainer and
   GeneratorModule on a fixed set of random windows (so the loss must fall), then sampled on the device.

bf16 autocast on CUDA (``trainer=gpu``'s precision), fp32 on the CPU. Prints and writes steps/s,
frames/s and peak GPU memory. ``--tiny`` takes the smoke preset's sizes. The sandbox's own code builds
the networks (representations.lia, generators.flow), so on a machine without the project's packages
install them first (hydra-core, x-transformers, mediapipe, ...: ``pip install -e .``, or carried wheels).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import torch
import yaml
from lightning.pytorch import Callback

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


class _StepClock(Callback):
    """Per-step losses, and the wall time from the end of step 5 to the last (steps/s without warm-up).
    Losses stay on the device until the end and the clock synchronises twice only, so the steps can
    overlap with the host as they do in a run."""

    def __init__(self):
        self.losses: list[float] = []
        self._pending: list[torch.Tensor] = []
        self.t5 = self.t_end = None
        self.device = "?"

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self._pending.append(loss.detach())
        if len(self._pending) == 5:
            sync(module.device)
            self.t5 = time.perf_counter()
        if trainer.global_step >= trainer.max_steps:  # before the checkpoint callback's save (it runs last)
            sync(module.device)
            self.t_end = time.perf_counter()

    def on_train_end(self, trainer, module):
        if self.t_end is None:
            sync(module.device)
            self.t_end = time.perf_counter()
        self.device = str(next(module.parameters()).device)
        self.losses = [float(x) for x in self._pending]


def trainer_check(gen_name: str, tiny: bool, device: torch.device, steps: int, g_seed: int = 0) -> dict:
    """Train generator ``gen_name`` through the sandbox's trainer (make_trainer + GeneratorModule, the
    config's trainer keys but for the accelerator) on 4 fixed random batches, then sample 2 s on the
    device. Errors are reported, not raised, so one generator cannot hide the others' numbers."""
    import tempfile

    from torch.utils.data import DataLoader

    from sandbox.config import check_call, to_dict
    from sandbox.pipeline.components import build_gen, build_rep
    from sandbox.run import compose_config
    from sandbox.trainers.factory import make_trainer, seed_everything
    from sandbox.trainers.generator_module import GeneratorModule

    gpu = device.type == "cuda"
    try:
        seed_everything(g_seed)
        rep_name = "3dmm" if gen_name == "gohd" else "keypoint"  # gohd generates the pose part alone
        cfg = compose_config([f"rep={rep_name}", f"gen={gen_name}", f"preset={'smoke' if tiny else 'paper'}",
                              f"trainer={'gpu' if gpu else 'cpu'}", f"train.max_steps={steps}"])
        rep = build_rep(cfg)
        gen = build_gen(cfg, rep.dim, AUDIO_DIM, rep)
        module = GeneratorModule(gen, **check_call(GeneratorModule, cfg.train.module, "train.module"))
        bs, n = int(cfg.train.loader.batch_size), gen.n_prev + gen.n_cur
        g = torch.Generator().manual_seed(g_seed)
        x_ref = torch.randn(4 * bs, rep.dim, generator=g)
        windows = [{"x": x_ref[i] + 0.3 * torch.randn(n, rep.dim, generator=g).cumsum(0) / n ** 0.5,
                    "audio": torch.randn(n, AUDIO_DIM, generator=g), "x_ref": x_ref[i],
                    "emotion": torch.softmax(torch.randn(N_EMOTIONS, generator=g), -1),
                    "mask": torch.ones(n, dtype=torch.bool)} for i in range(4 * bs)]
        clock = _StepClock()
        with tempfile.TemporaryDirectory() as tmp:
            # one checkpoint, after the clock (a run's quarterly saves of a paper-sized model took a
            # quarter of a 150-step check)
            trainer = make_trainer(tmp, max_steps=steps, gradient_clip_val=cfg.train.gradient_clip_val,
                                   checkpoint_every_n_steps=steps,
                                   find_unused_parameters=True, enable_progress_bar=False, loggers=(),
                                   callbacks=[clock], **to_dict(cfg.trainer))
            t0 = time.perf_counter()
            trainer.fit(module, DataLoader(windows, batch_size=bs, shuffle=True, drop_last=True))
            fit_s = time.perf_counter() - t0
        out = {"rep": rep_name, "precision": str(trainer.precision), "steps": int(trainer.global_step), "fit_s": fit_s,
               "param_device": clock.device,
               "loss_first5": sum(clock.losses[:5]) / 5, "loss_last5": sum(clock.losses[-5:]) / 5,
               "finite": all(map(math.isfinite, clock.losses))}
        if clock.t5 is not None and len(clock.losses) > 5:
            out["steps_per_s"] = (len(clock.losses) - 5) / (clock.t_end - clock.t5)
        gen = module.final_generator().to(device).eval()
        amp = torch.autocast("cuda", dtype=torch.bfloat16) if gpu else nullcontext()
        cond = {"audio": torch.randn(1, 2 * FPS, AUDIO_DIM, generator=g).to(device),
                "x_ref": x_ref[:1].to(device), "emotion": windows[0]["emotion"][None].to(device)}
        with torch.no_grad(), amp:
            motion = gen.sample(cond, seed=0).motion
        out["sample_shape"] = list(motion.shape)
        out["sample_finite"] = bool(torch.isfinite(motion.float()).all())
        return out
    except Exception as exc:  # noqa: BLE001 - reported in the JSON
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}


def page(report: dict, argv: list[str] | None) -> str:
    """The report as a markdown page headed by the command that wrote it."""
    r = report
    args = r.get("command") or " ".join(sys.argv[1:] if argv is None else argv)
    lines = [f"# The GPU path, timed on {r['device']}", "", "Regenerate with (on a CUDA machine; `--render JSON` rewrites this page from a saved report):", "", "```bash",
             f"python -m experiments.gpu_check {args}".rstrip(), "```", "",
             f"torch {r['torch']}, {r['precision']}, the paper preset's sizes: "
             + ", ".join(f"{k} {v}" for k, v in r["sizes"].items()) + ". One run: a shared machine's timings "
             "vary between runs, so repeat one before comparing it.", "",
             "| part | number |", "| --- | --- |",
             f"| LIA auto-encoder, Adam steps/s (batch 8, {r['sizes']['image_size']}^2) | {r['autoencoder_steps_per_s']:.1f} |",
             f"| flow generator, Adam steps/s (batch 8, raw loop) | {r['generator_steps_per_s']:.1f} |",
             f"| flow sampling, frames/s (NFE {r['sample_nfe']}, {r['sample_frames']} frames) | {r['generator_frames_per_s']:.0f} |",
             f"| lia rendering, frames/s ({r['render_size']}^2) | {r['render_frames_per_s']:.0f} |",
             f"| sampling + rendering, frames/s | {r['end_to_end_frames_per_s']:.0f} |",
             f"| peak GPU memory, GiB | {r.get('peak_gpu_memory_gib', float('nan')):.1f} |", "",
             "The harness's trainer path (make_trainer + GeneratorModule with the composed config's trainer, "
             "4 fixed random batches; loss = mean of the first / last 5 steps; steps/s from step 5 to the last"
             + ("" if r.get("trainer_clock") else ", with a clock that synchronised after every step (it stalls the "
                "host, so these steps/s are lower bounds; the clock now synchronises twice)") + "):", "",
             "| generator | rep | precision | steps | steps/s | loss first -> last | sample |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, t in r.get("trainers", {}).items():
        if "error" in t:
            lines.append(f"| {name} | | | | | failed: {t['error'].split(':')[0]} | |")
            continue
        lines.append(f"| {name} | {t['rep']} | {t['precision']} | {t['steps']} | {t.get('steps_per_s', float('nan')):.1f} | "
                     f"{t['loss_first5']:.3f} -> {t['loss_last5']:.3f} | {'x'.join(map(str, t['sample_shape']))}"
                     f"{'' if t['sample_finite'] else ' (not finite)'} |")
    if r.get("notes"):  # added to a saved report by hand, e.g. what changed since the run
        lines += ["", "Notes:", ""] + [f"- {n}" for n in r["notes"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--tiny", action="store_true", help="the smoke preset's sizes (the CPU test)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    ap.add_argument("--gens", default="flow,diffusion,conformer,two_stage,gohd",
                    help="generators for part 4 (comma-separated; empty: skip)")
    ap.add_argument("--trainer-steps", type=int, default=60)
    ap.add_argument("--page", type=Path, default=None, help="also write the numbers as a markdown page")
    ap.add_argument("--render", type=Path, default=None,
                    help="write --page (default: beside it, .md) from this saved report instead of measuring")
    a = ap.parse_args(argv)
    if a.render is not None:
        report = json.loads(a.render.read_text())
        (a.page or a.render.with_suffix(".md")).write_text(page(report, argv))
        return report
    device = torch.device(a.device)
    s = sizes(a.tiny)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    g = torch.Generator().manual_seed(0)
    report: dict = {"command": " ".join(sys.argv[1:] if argv is None else argv), "device": device_name(device), "torch": torch.__version__, "sizes": s, "steps": a.steps,
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
    report["trainer_clock"] = "synchronised at step 5 and at the last step, before the one checkpoint"
    report["trainers"] = {g: trainer_check(g, a.tiny, device, a.trainer_steps, g_seed=i)
                          for i, g in enumerate(x for x in a.gens.split(",") if x)}
    report["wall_s"] = time.perf_counter() - t_start
    text = json.dumps(report, indent=1)
    print(text)
    a.out.write_text(text + "\n")
    if a.page is not None:
        a.page.write_text(page(report, argv))
    return report


if __name__ == "__main__":
    main()
    sys.exit(0)
