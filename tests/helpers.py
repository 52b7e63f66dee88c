"""Helpers shared by test modules (importable because pytest puts tests/ on sys.path)."""
import torch


def randomised(model: torch.nn.Module) -> torch.nn.Module:
    """Zero-initialised AdaLN / output layers make a fresh model output 0 everywhere: perturb them so
    invariance and shape tests cannot pass trivially."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model.eval()
