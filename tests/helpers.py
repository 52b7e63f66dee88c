"""Helpers shared by test modules (importable because pytest puts tests/ on sys.path)."""
import math

import torch


def eval_loss(gen, batch: dict) -> float:
    """The generator's total loss in eval mode with fixed randomness (same t and noise every call), so a
    value before training compares with one after."""
    gen.eval()
    torch.manual_seed(123)
    with torch.no_grad():
        out = gen.loss(batch)["total"].item()
    gen.train()
    return out


def overfit(gen, batch: dict, steps: int, lr: float = 3e-3) -> tuple[float, float]:
    """(eval loss before, eval loss after) ``steps`` Adam steps on one batch."""
    before = eval_loss(gen, batch)
    opt = torch.optim.Adam(gen.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        gen.loss(batch)["total"].backward()
        opt.step()
    return before, eval_loss(gen, batch)


def randomised(model: torch.nn.Module) -> torch.nn.Module:
    """Zero-initialised AdaLN / output layers make a fresh model output 0 everywhere: perturb them so
    invariance and shape tests cannot pass trivially."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model.eval()


def smooth_waves(n: int, t: int, dim: int, g: torch.Generator) -> torch.Tensor:
    """[n, t, dim] slow sinusoids with random frequency and phase: smooth motion to train seams on."""
    w = 0.15 + 0.1 * torch.rand(n, 1, dim, generator=g)
    phase = 2 * math.pi * torch.rand(n, 1, dim, generator=g)
    return torch.sin(w * torch.arange(t)[None, :, None] + phase)


def seam_and_within_steps(out: torch.Tensor, n_cur: int, overlap: int = 0) -> tuple[float, float]:
    """Largest frame-to-frame step at window seams and inside windows of sampled motion [B, T, dim]. With
    ``overlap`` k the seam is the k + 1 steps of each cross-fade (into, through and out of it)."""
    from generators.windowing import window_starts

    steps = (out[:, 1:] - out[:, :-1]).norm(dim=-1)  # step i: frame i -> i + 1
    seams = sorted({i for s in window_starts(out.shape[1], n_cur, overlap)[1:] for i in range(s - 1, s + overlap)
                    if i < steps.shape[1]})
    within = [i for i in range(out.shape[1] - 1) if i not in seams]
    seam_max, within_max = steps[:, seams].max().item(), steps[:, within].max().item()
    print(f"seam jump max {seam_max:.3f} (mean {steps[:, seams].mean():.3f}) vs within-window step max "
          f"{within_max:.3f} (mean {steps[:, within].mean():.3f})")
    return seam_max, within_max
