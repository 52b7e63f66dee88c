"""Evaluation metrics (pure numpy functions), baseline signals and report tooling.

Modules: ``sync`` (lip sync), ``motion`` (P-FID/E-FID, diversity, sequence SSIM, jitter, blink rate,
head-rotation spread),
``image`` (PSNR/SSIM/L1), ``speed`` (timing), ``baselines`` (static / energy heuristic and the jaw line
that turns it into motion), ``run_report`` (one run's metric definitions, metrics.json, report.md, plots).
"""
from sandbox.metrics.baselines import (
    JawLine,
    energy_heuristic_mouth,
    energy_motion,
    fit_jaw_line,
    static_frames,
    static_motion,
)
from sandbox.metrics.image import l1, psnr, ssim
from sandbox.metrics.motion import (
    blink_rate,
    diversity,
    frechet_distance,
    jitter,
    rotation_std,
    sequence_ssim,
)
from sandbox.metrics.run_report import (
    METRICS_VERSION,
    metric_definitions,
    read_metrics_json,
    write_metrics_json,
    write_report,
)
from sandbox.metrics.speed import device_name, throughput, timer
from sandbox.metrics.sync import lip_sync, lip_sync_dataset

__all__ = [
    "METRICS_VERSION", "JawLine", "blink_rate", "device_name", "diversity", "energy_heuristic_mouth",
    "energy_motion", "fit_jaw_line", "frechet_distance", "jitter", "l1", "lip_sync", "lip_sync_dataset",
    "metric_definitions", "psnr", "read_metrics_json", "rotation_std", "sequence_ssim", "ssim", "static_frames",
    "static_motion", "throughput", "timer", "write_metrics_json", "write_report",
]
