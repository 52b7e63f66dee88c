"""Shared PyTorch Lightning trainers: CPU by default, one GPU with bf16 autocast, or DDP."""
from sandbox.trainers.factory import make_trainer, seed_everything

__all__ = ["make_trainer", "seed_everything"]
