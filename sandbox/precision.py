"""The numeric precision a fit trains in where the config leaves it to the hardware.

``${cpu_bf16:ACCELERATOR,PRECISION}`` in a config (registered by :func:`register_resolver`, which
``sandbox.run`` calls on import) resolves to ``bf16-mixed`` when ACCELERATOR is ``cpu`` and this CPU
computes bfloat16 in hardware (AVX512-BF16 or AMX tiles), and to PRECISION otherwise. Elsewhere bf16
is emulated and slower than float32. The value is resolved before any cache key is taken, so a fit
in bf16 and one in float32 never share an artifact, and the run's config.yaml records which it was.
"""
from __future__ import annotations

from omegaconf import OmegaConf

RESOLVER = "cpu_bf16"


def native_bf16() -> bool:
    """Whether this CPU has bfloat16 arithmetic units (AVX512-BF16 or AMX), as PyTorch detects them."""
    import torch

    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def cpu_bf16(accelerator: str, precision: str) -> str:
    """``bf16-mixed`` for a CPU trainer on a CPU with bf16 units, else ``precision`` unchanged."""
    return "bf16-mixed" if str(accelerator) == "cpu" and native_bf16() else str(precision)


def register_resolver() -> None:
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, cpu_bf16)
