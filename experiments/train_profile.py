"""Where training time goes on this machine, and what each setting changes:

    python -m experiments.train_profile [--steps 40] [--out docs/results/train_speed.md] [--variants ...]

The main job's two training loops on the default preset's data (built or reused from the cache):

* ``fit``: the lia auto-encoder's fit (``rep=lia``: 128 px frame pairs, batch 8, the landmark and
  readout terms), run through ``LiaRepresentation.fit``, the code path the fit stage runs;
* ``train``: the flow generator's training step (``gen=flow`` on ``rep=3dmm`` motion read from the world's
  parameters, ``rep.encode_from=gt``, so the analyser is not timed; batch 16), through the train stage's
  GeneratorModule, loaders and make_trainer.

Each loop runs ``--steps`` steps per variant after 5 warm-up steps; steps/s is over the timed steps only
(checkpoints and logging included, as in a real run). Then ``torch.profiler`` over 10 steps of the
default variant lists the top operators by self CPU time and the share spent waiting for batches.
Variants are ``name:key=value,...`` of threads (torch intra-op threads), workers (DataLoader worker
processes), precision (Lightning's, e.g. bf16-mixed; unset: the config's, which for the fit is bf16-mixed on a
CPU with bf16 units), compile (1: ``torch.compile`` the models in place with ``nn.Module.compile``: the fit's
auto-encoder, the generator's vector field and audio front end). The page also gives each variant's time for
its 5 warm-up steps (where compiling happens) and, against the first variant, after how many steps the
variant's faster steps have paid for its longer warm-up, and how many seconds it saves over the preset's
step count of that loop in the main job (``rep=lia gen=flow``). ``--before REV`` first measures the same variants on
the code of git revision REV (a temporary worktree running this script) and adds a column. Writes a markdown page headed by the command.
"""
from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

from sandbox.metrics.speed import device_name

DEFAULT_VARIANTS = ["default:", "threads1:threads=1", "workers1:workers=1", "threads1+workers1:threads=1,workers=1"]


class StepClock(L.Callback):
    """The wall time at the end of every training batch after ``skip`` warm-up batches."""

    def __init__(self, skip: int):
        self.skip, self.times, self.t0, self.first = skip, [], None, None

    @property
    def warmup(self) -> float:
        """Seconds from the first batch's start to the end of the warm-up batches."""
        return self.t0 - self.first

    def on_train_batch_start(self, trainer, module, batch, i):
        if self.first is None:
            self.first = time.perf_counter()
        if trainer.global_step >= self.skip and self.t0 is None:
            self.t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, i):
        if self.t0 is not None:
            self.times.append(time.perf_counter())


class ProfilerSteps(L.Callback):
    """Advances a torch.profiler schedule once per training batch."""

    def __init__(self, prof):
        self.prof = prof

    def on_train_batch_end(self, *args):
        self.prof.step()


def parse_variant(text: str) -> tuple[str, dict]:
    name, _, spec = text.partition(":")
    kw = {}
    for item in filter(None, spec.split(",")):
        k, _, v = item.partition("=")
        if k not in ("threads", "workers", "precision", "compile"):
            raise SystemExit(f"unknown variant key {k!r} in {text!r}: threads, workers, precision, compile")
        kw[k] = v if k == "precision" else int(v)
    return name, kw


PRESET = ["preset=default"]


def _context(overrides: list[str], stage: str, tmp: Path):
    from sandbox.run import compose_config, run_pipeline

    cfg = compose_config([*PRESET, *overrides, f"stage={stage}", f"out={tmp / 'run'}"])
    return cfg, run_pipeline(cfg)


def fit_loop(steps: int, threads: int | None, workers: int, clock, profile=None, precision: str | None = None,
             compile: bool = False) -> None:
    from sandbox.config import to_dict
    from sandbox.pipeline.components import build_rep

    with tempfile.TemporaryDirectory() as tmp:
        cfg, ctx = _context(["rep=lia", "gen=flow"], "data", Path(tmp))
        rep = build_rep(cfg)
        if compile:
            rep.ae.compile()
        kw = {**to_dict(cfg.fit.rep), "steps": steps, "num_workers": workers, "run_dir": str(Path(tmp) / "fit"),
              "enable_progress_bar": False, "callbacks": [clock], "num_threads": threads,
              # the rate's schedule does not change a step's time, and wsd's steps would not fit a short loop
              "lr_schedule": "constant", "warmup_steps": 0, "decay_steps": 0}
        if precision is not None:  # else the config's (rep=lia: bf16 on a CPU with bf16 units)
            kw["precision"] = precision
        with profile or contextlib.nullcontext():
            rep.fit(ctx.results["data"], **kw)


def train_loop(steps: int, threads: int | None, workers: int, clock, profile=None, precision: str | None = None,
               compile: bool = False) -> None:
    from sandbox.config import check_call
    from sandbox.pipeline.components import build_gen
    from sandbox.pipeline.train import loaders
    from sandbox.trainers.factory import make_trainer, seed_everything
    from sandbox.trainers.generator_module import GeneratorModule

    with tempfile.TemporaryDirectory() as tmp:
        cfg, ctx = _context(["rep=3dmm", "gen=flow", "rep.encode_from=gt", f"train.loader.num_workers={workers}"],
                            "extract", Path(tmp))
        ex = ctx.results["extract"]
        seed_everything(0)
        gen = build_gen(cfg, ex.dim, ex.audio_dim, ctx.rep)
        if compile:  # the loss is not a forward: compile the modules it calls
            gen.field.compile()
            gen.audio_encoder.compile()
        module = GeneratorModule(gen, **check_call(GeneratorModule, cfg.train.module, "train.module"))
        train_dl, _ = loaders(cfg, ex, gen)
        trainer = make_trainer(Path(tmp) / "train", max_steps=steps, gradient_clip_val=cfg.train.gradient_clip_val,
                               find_unused_parameters=True, enable_progress_bar=False, callbacks=[clock],
                               num_threads=threads, log_every_n_steps=int(cfg.train.log_every_n_steps),
                               precision=precision or cfg.trainer.precision)
        with profile or contextlib.nullcontext():
            trainer.fit(module, train_dl)


LOOPS = {"fit": fit_loop, "train": train_loop}


@contextlib.contextmanager
def fresh_inductor_cache():
    """torch.compile from an empty on-disk inductor cache, as on a fresh clone (kernels this process built
    stay in memory); TORCHINDUCTOR_CACHE_DIR is as it was afterwards."""
    import os

    key = "TORCHINDUCTOR_CACHE_DIR"
    saved = os.environ.get(key)
    torch._dynamo.reset()
    with tempfile.TemporaryDirectory(prefix="inductor-") as tmp:
        os.environ[key] = tmp
        try:
            yield
        finally:
            if saved is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = saved


def measure(loop: str, steps: int, kw: dict) -> tuple[float, float]:
    """(steps per second over the timed steps, seconds of the 5 warm-up steps before them)."""
    threads = torch.get_num_threads()
    clock = StepClock(5)
    compile = bool(kw.get("compile", 0))
    try:
        with fresh_inductor_cache() if compile else contextlib.nullcontext():
            LOOPS[loop](steps + 5, kw.get("threads"), kw.get("workers", 0), clock, precision=kw.get("precision"),
                        compile=compile)
    finally:
        torch.set_num_threads(threads)
    t = clock.times
    return (len(t) - 1) / (t[-1] - t[0]), clock.warmup


def pays_after(base: tuple[float, float], other: tuple[float, float]) -> str:
    """After how many steps ``other`` (steps/s, warm-up s) has caught up with ``base``: its longer warm-up
    paid for by its faster steps ("from the start" when its warm-up is not longer, "never" when its steps
    are not faster)."""
    extra = other[1] - base[1]
    saved = 1 / base[0] - 1 / other[0]
    if extra <= 0:
        return "from the start" if saved >= 0 else "never"
    return f"{extra / saved:,.0f}" if saved > 0 else "never"


def saved_over(steps: int, base: tuple[float, float], other: tuple[float, float]) -> float:
    """Seconds ``other`` saves against ``base`` over a run of ``steps`` steps, warm-ups included."""
    return (base[1] + steps / base[0]) - (other[1] + steps / other[0])


def preset_steps() -> dict[str, int]:
    """{loop: its step count in the main job at the preset}: the fit's and the generator's."""
    from sandbox.run import compose_config

    cfg = compose_config([*PRESET, "rep=lia", "gen=flow"])
    return {"fit": int(cfg.fit.rep.steps), "train": int(cfg.train.max_steps)}


def profile(loop: str) -> tuple[str, float]:
    """(top-15 operator table by self CPU time over 10 steps, share of the time waiting for batches)."""
    from torch.profiler import ProfilerActivity, schedule
    from torch.profiler import profile as tprofile

    prof = tprofile(activities=[ProfilerActivity.CPU], schedule=schedule(wait=3, warmup=2, active=10))

    LOOPS[loop](16, None, 0, ProfilerSteps(prof), prof)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    wait = sum(e.cpu_time_total for e in events if "DataLoader" in e.key and "__next__" in e.key)
    table = events.table(sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=60)
    return table, wait / max(total, 1)


def measure_revision(rev: str, args) -> dict:
    """{loop: {variant: steps/s}} of the code at git revision ``rev``, measured by this script run there."""
    import json
    import os
    import shutil
    import subprocess

    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="train-profile-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", str(tree), rev], check=True,
                       capture_output=True)  # fmt: skip
        try:
            shutil.copy(__file__, tree / "experiments" / "train_profile.py")
            out = Path(tmp) / "before.json"
            cmd = [sys.executable, "-m", "experiments.train_profile", "--no-profile", "--steps", str(args.steps),
                   "--preset", args.preset, "--loops", *args.loops, "--variants", *args.variants, "--json", str(out),
                   "--out", str(Path(tmp) / "before.md")]  # fmt: skip
            subprocess.run(cmd, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, check=True)
            return json.loads(out.read_text())
        finally:
            subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(tree)], capture_output=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--loops", nargs="+", default=list(LOOPS), choices=list(LOOPS))
    p.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS)
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--preset", default="default")
    p.add_argument("--before", metavar="REV", help="also measure git revision REV (a column of its own)")
    p.add_argument("--json", help="write {loop: {variant: steps/s}} here")
    p.add_argument("--out", default="docs/results/train_speed.md")
    p.add_argument("--title", default="Training speed", help="the page's heading")
    p.add_argument("--note", help="a paragraph under the table (what the numbers mean)")
    args = p.parse_args(argv)
    PRESET[:] = [f"preset={args.preset}"]
    variants = [parse_variant(v) for v in args.variants]
    before = measure_revision(args.before, args) if args.before else None
    lines = [f"# {args.title}\n\n`python -m experiments.train_profile {shlex.join(argv or sys.argv[1:])}`\n",
             f"{device_name(torch.device('cpu'))}, torch {torch.__version__}, {torch.get_num_threads()} threads by "
             f"default; {args.steps} timed steps per variant after 5 warm-up steps.\n",
             f"| loop | variant | steps/s | 5 warm-up steps (s) | pays after (steps) | saved over the preset's steps (s) |"
             f"{f' steps/s at {args.before} |' if before else ''}",
             f"|---|---|---:|---:|---:|---:|{'---:|' if before else ''}"]
    at = preset_steps()
    timed: dict = {}  # (loop, variant) -> (steps/s, warm-up s)
    for loop in args.loops:
        for name, kw in variants:
            sps, warm = timed[loop, name] = measure(loop, args.steps, kw)
            base = timed[loop, variants[0][0]]
            first = name == variants[0][0]
            pays = "–" if first else pays_after(base, (sps, warm))
            saved = "–" if first else f"{saved_over(at[loop], base, (sps, warm)):+.0f} of {at[loop]}"
            print(f"{loop:6s} {name:24s} {sps:6.2f} steps/s, warm-up {warm:.1f} s, pays after {pays} steps, "
                  f"saves {saved} steps (s)", flush=True)
            lines.append(f"| {loop} | {name} | {sps:.2f} | {warm:.1f} | {pays} | {saved} |"
                         + (f" {before[loop][name]:.2f} |" if before else ""))
    if args.note:
        lines += ["", args.note]
    if args.json:
        import json

        results = {loop: {name: timed[loop, name][0] for name, _ in variants} for loop in args.loops}
        Path(args.json).write_text(json.dumps(results, indent=1))
    if not args.no_profile:
        for loop in args.loops:
            table, wait = profile(loop)
            print(f"\n{loop}: {100 * wait:.0f}% of the CPU time waits for batches\n{table}", flush=True)
            lines += [f"\n## {loop}: top operators, 10 steps (self CPU time)\n",
                      f"{100 * wait:.0f}% of the time goes to fetching batches (DataLoader __next__).\n",
                      "```", table, "```"]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
