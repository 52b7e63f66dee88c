"""Stage 7, eval: metrics.json, report.md and plots/*.png in the run directory.

The evaluation function is pluggable (``eval._target_``): it receives :class:`EvalInputs` and returns
a metrics dict. :func:`full_eval` is the suite every comparison rests on. Each row is a set of videos
for the same test clips, written as mp4 under ``eval/<row>/`` (the run's are ``samples/*.mp4``), read
back, and measured by the SAME code on the face analyser's output, whatever the representation:

  run             the generated test videos
  ground_truth    the real test clips
  reconstruction  the real clips' encoded motion rendered from their first frame (rep + renderer ceiling)
  static          the source's own motion repeated, same renderer
  energy          mouth follows audio energy, head still, same renderer (sandbox.metrics.baselines)

Lip sync compares the measured mouth aperture with the driving audio's jaw-open track (the synthetic
world's ``gt["mouth"][:, 0]``, else pocketsphinx alignment). P-FID / E-FID compare with analysed
frames of a few *val* clips, so the ground-truth row shows the floor rather than 0. SSIM_p / SSIM_e
compare with the ground-truth row on the same clip. Frames without a face stay NaN (never zero-filled)
and are counted in ``missing_fraction``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import pickle
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from omegaconf import DictConfig

from sandbox.config import check_instantiable, instantiate, to_dict
from sandbox.constants import EMOTIONS, FPS, SAMPLES_PER_FRAME
from sandbox.data.frames import to_tensor
from sandbox.errors import ConfigError
from sandbox.face.head_model import EXP_NAMES
from sandbox.metrics import baselines, image, motion
from sandbox.metrics.baselines import static_motion
from sandbox.metrics.run_report import (
    comparison_flags,
    metric_definitions,
    missing_flags,
    plot_losses,
    plot_pose,
    plot_sync,
    read_lightning_csv,
    write_metrics_json,
    write_report,
)
from sandbox.metrics.speed import device_name
from sandbox.metrics.stats import hierarchical_ci, set_statistic_ci
from sandbox.metrics.sync import aperture_noise, correlation_curve, lip_sync
from sandbox.pipeline.components import reference_motion
from sandbox.pipeline.context import Context
from sandbox.pipeline.render import render_motion
from sandbox.pipeline.sample import generate_motion
from sandbox.video import read_video, write_mp4

log = logging.getLogger("sandbox.eval")

BROWS = [EXP_NAMES.index(n) for n in ("brow_raise", "brow_lower")]
DEFINITIONS = metric_definitions() | {
    "p_fid": ("Frechet distance of analysed head pose [6] to analysed real frames of held-out val clips "
              "(P-FID; the ground-truth row is the floor)", False),
    "e_fid": ("Frechet distance of analysed expression [12] to analysed real frames of held-out val clips "
              "(E-FID; the ground-truth row is the floor)", False),
    "pose_diversity": ("mean per-dimension variance of analysed pose across generator seeds of the first "
                       "test clip (GoHD Var_p); deterministic baselines 0", None),
    "exp_diversity": ("mean per-dimension variance of analysed expression across generator seeds of the "
                      "first test clip (GoHD Var_e); deterministic baselines 0", None),
    "ssim_exp": ("1-D SSIM of eye features (blink openness + brow coefficients) vs the ground-truth row "
                 "over 25-frame windows (GoHD SSIM_e)", True),
    "psnr": ("PSNR of the row's frames vs the real test frames, dB (reconstruction: FLOAT table 4 analogue)", True),
    "emotion_corr": ("eval.emotion_labels: per test clip, the correlation of the expression offsets each emotion "
                     "label gives (read out of the motion sampled under it, minus the mean over labels) with the "
                     "training clips' true offsets", True),
    "emotion_gain": ("eval.emotion_labels: per test clip, the least-squares gain of those offsets on the true ones "
                     "(1 = the data's amplitude, 0 = the label does nothing)", None),
}


@dataclass
class EvalInputs:
    run_dir: Path
    cfg: DictConfig
    samples: list  # sandbox.pipeline.sample.Sample (npz: motion, real_motion?, audio, source)
    videos: list  # sandbox.pipeline.render.Rendered (mp4 paths)
    train_dir: Path  # holds logs/metrics.csv and train info.json
    rep: object = None
    speed: dict = field(default_factory=dict)
    fit_dir: Path | None = None  # holds the fit's info.json (the rep's own fit metrics)
    renderer: object = None
    gen: object = None
    store: object = None  # sandbox.data.clips.ClipStore
    extracted: object = None  # sandbox.pipeline.extract.Extracted
    # (key parts, build(work_dir)) -> a cached directory: the rows that do not depend on the generator
    # (ground truth, reconstruction, static, energy, the P-FID reference) are rendered and analysed once
    # per data + fit + extract and reused by every run on them. None: built inside the run directory.
    cache: Callable[[tuple, Callable[[Path], dict | None]], Path] | None = None


@dataclass
class EvalClip:
    """One driving clip as eval sees it (frames cut to ``max_frames``)."""

    name: str
    source: np.ndarray  # uint8 [H, W, 3]
    audio: np.ndarray  # 16 kHz, cut to the frames kept
    emotion: str | np.ndarray  # a name, or emotion=auto's probabilities [7]
    jaw: np.ndarray  # [T] jaw-open target of the audio
    real: np.ndarray | None  # uint8 [T, H, W, 3] real frames, None for user audio
    real_motion: np.ndarray | None  # [T, dim] the rep's encoding of the real frames

    @property
    def n(self) -> int:
        return len(self.jaw)


# ------------------------------------------------------------------------------------------ inputs


def jaw_target(clip, n_frames: int) -> np.ndarray:
    """The jaw-open track of a dataset clip's audio: the world's ground truth where recorded, else
    pocketsphinx phone alignment."""
    if "mouth" in clip.gt:
        return np.asarray(clip.gt["mouth"][:n_frames, 0], np.float64)
    from sandbox.audio.align import jaw_open_track

    return jaw_open_track(clip.audio, n_frames).astype(np.float64)


def load_clips(inputs: EvalInputs, max_frames: int | None) -> list[EvalClip]:
    from sandbox.audio.align import jaw_open_track

    out = []
    for s in inputs.samples:
        with np.load(s.npz) as z:
            audio, source, emotion = z["audio"], z["source"], str(z["emotion"])
            if "emotion_probs" in z.files:  # emotion=auto: the probabilities the sample was drawn with
                emotion = z["emotion_probs"]
            has_real = "real_motion" in z.files
            real_motion = z["real_motion"] if has_real else None
        n = int(np.ceil(len(audio) / SAMPLES_PER_FRAME))
        n = min(n, max_frames) if max_frames else n
        audio = audio[: n * SAMPLES_PER_FRAME]
        if has_real and inputs.store is not None:  # a held-out test clip: real frames + its own jaw track
            clip = inputs.store.load(s.name)
            real = np.asarray(clip.frames[:n])
            out.append(EvalClip(s.name, source, audio, emotion, jaw_target(clip, n), real, real_motion[:n]))
        else:  # the user's audio: no real frames; jaw track from phone alignment
            jaw = jaw_open_track(audio, n).astype(np.float64)
            out.append(EvalClip(s.name, source, audio, emotion, jaw, None, None))
    return out


def training_jaws(inputs: EvalInputs, n_clips: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(normalised extracted motion, jaw-open track) of up to ``n_clips`` training clips: what the energy
    baseline's line and the motion-space jaw read-out are fitted on."""
    ids = inputs.store.ids("train")[:n_clips] if inputs.store is not None else []
    motions = [inputs.extracted.load(cid)["motion"] for cid in ids]
    return motions, [jaw_target(inputs.store.load(cid, frames=False), len(m)) for cid, m in zip(ids, motions)]


def fit_energy_line(inputs: EvalInputs, train: tuple[list, list]) -> baselines.JawLine | None:
    """The jaw -> motion line (see sandbox.metrics.baselines) on un-normalised training motion."""
    import torch

    motions, jaws = train
    if not motions or np.std(np.concatenate(jaws)) < 1e-6:
        return None
    return baselines.fit_jaw_line([inputs.rep.denormalize(torch.from_numpy(m)).numpy() for m in motions], jaws)


# ------------------------------------------------------------------------------------------ measuring


def seen(frames: np.ndarray, audio: np.ndarray, path: Path) -> np.ndarray:
    """Write the mp4 a user would watch and read it back: every row is measured after the same codec."""
    write_mp4(path, frames, audio)
    return read_video(path)[0]


def eye_features(a) -> np.ndarray:
    """[T, 2 + 2]: blink openness (left, right) and the brow coefficients of the analysed expression."""
    return np.concatenate([a.blink, a.exp[:, BROWS]], 1)


def _or_none(fn, *args) -> float | None:
    """Metrics that cannot be computed (too few faces found) are reported as missing, not as errors."""
    try:
        v = float(fn(*args))
    except ValueError:
        return None
    return v if np.isfinite(v) else None


def clip_scores(a, jaw: np.ndarray, truth=None, max_lag: int = 15, detrend: int = FPS,
                noise: float | None = None) -> dict:
    """The analyser-based metrics of one clip of a row: lip sync vs its jaw track (gated by the
    analyser's aperture ``noise``), sequence SSIM vs the ground-truth analysis, jitter, blink rate and
    missing faces."""
    sync = lip_sync(a.mouth_aperture, jaw, max_lag, detrend, noise)
    out = {"sync_offset": sync["offset"], "sync_abs_offset": abs(sync["offset"]),
           "sync_confidence": sync["confidence"], "sync_corr0": sync["corr0"],
           "sync_motion_fraction": sync["motion_fraction"],
           "missing_fraction": float(1.0 - np.mean(a.found)) if len(a.found) else 1.0,
           "jitter": _or_none(motion.jitter, a.lmk2d), "blink_rate": _or_none(motion.blink_rate, a.blink),
           "head_rot_std": _or_none(motion.rotation_std, a.pose)}
    if truth is not None:
        n = min(len(a.pose), len(truth.pose))
        out["ssim_pose"] = _or_none(motion.sequence_ssim, a.pose[:n], truth.pose[:n])
        out["ssim_exp"] = _or_none(motion.sequence_ssim, eye_features(a)[:n], eye_features(truth)[:n])
    return out


def sync_window(jaws: list[np.ndarray], max_lag: int) -> tuple[int, int]:
    """(lags searched, detrending window) for a set of clips: lags up to a third of the shortest clip,
    so every correlation rests on >= 2/3 of its frames, and a window no longer than the clip."""
    shortest = min(len(j) for j in jaws)
    return max(1, min(max_lag, shortest // 3)), min(FPS, shortest)


def score_row(analyses: list, jaws: list[np.ndarray], reference: tuple[np.ndarray, np.ndarray] | None,
              truth: list | None = None, max_lag: int = 15, noise: float | None = None) -> dict[str, list]:
    """Per-clip metrics of one row ({metric: [value per clip]}), plus the set-level Frechet distances
    (pose, exp) of the pooled clips to the reference set as one-element lists."""
    lag, window = sync_window(jaws, max_lag)
    per = [clip_scores(a, j, truth[i] if truth is not None else None, lag, window, noise)
           for i, (a, j) in enumerate(zip(analyses, jaws))]
    out = {k: [p.get(k) for p in per] for k in per[0]}
    if reference is not None:
        out["p_fid"] = [_or_none(motion.frechet_distance, np.concatenate([a.pose for a in analyses]), reference[0])]
        out["e_fid"] = [_or_none(motion.frechet_distance, np.concatenate([a.exp for a in analyses]), reference[1])]
    return out


def fid_ci(analyses: list, reference: tuple[np.ndarray, np.ndarray]) -> dict[str, tuple]:
    """Bootstrap intervals of P-FID / E-FID over the row's clips."""
    return {name: set_statistic_ci([getattr(a, field) for a in analyses],
                                   lambda xs, i=i: motion.frechet_distance(np.concatenate(xs), reference[i]))
            for i, (name, field) in enumerate((("p_fid", "pose"), ("e_fid", "exp")))}


SET_LEVEL = ("p_fid", "e_fid", "motion_fd")  # one value per row (pooled clips), CI by resampling clips


def summarise(per_clip: dict[str, dict[str, list]], set_ci: dict[str, dict[str, tuple]]
              ) -> tuple[dict[str, dict], dict[str, dict]]:
    """(rows: mean per metric, ci: [low, high] per metric) from per-clip values."""
    rows, ci = {}, {}
    for row, metrics in per_clip.items():
        rows[row], ci[row] = {}, {}
        for k, vals in metrics.items():
            if k in SET_LEVEL:
                rows[row][k] = vals[0]
                ci[row][k] = set_ci.get(row, {}).get(k, (None, None))
            else:
                mean, lo, hi = hierarchical_ci([vals])
                rows[row][k], ci[row][k] = mean, (lo, hi)
    return rows, ci


def resized(frames: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Frames at the real clip's size (a renderer may draw the source at another resolution)."""
    import cv2

    if frames.shape[1:3] == tuple(hw):
        return frames
    return np.stack([cv2.resize(f, (hw[1], hw[0]), interpolation=cv2.INTER_AREA) for f in frames])


def image_scores(frames: list[np.ndarray], clips: list[EvalClip]) -> dict[str, list]:
    """Per-clip PSNR / SSIM / L1 of a row's frames vs the real frames."""
    out: dict[str, list] = {"psnr": [], "ssim": [], "l1": []}
    for f, c in zip(frames, clips):
        if c.real is None:
            continue
        f = resized(f[: c.n], c.real.shape[1:3])
        m = min(len(f), len(c.real))
        for k, fn in (("psnr", image.psnr), ("ssim", image.ssim), ("l1", image.l1)):
            out[k].append(float(fn(f[:m], c.real[:m])))
    return {k: v for k, v in out.items() if v}


def motion_space_scores(motions: dict[str, list[np.ndarray]], clips: list[EvalClip], rep, readout
                        ) -> tuple[dict[str, dict[str, list]], dict[str, dict[str, tuple]]]:
    """Motion-space measures per row (no renderer, no analyser; over every test clip): the jaw read out
    of the motion (``readout``, a least-squares line fitted on training motion) against the audio's
    jaw track at lag 0 and at the best lag within +-10 frames, its spread relative to the real motion's
    read-out, and the Frechet distance of normalised motion frames to the clips' real motion."""
    import torch

    reals = [c.real_motion for c in clips if c.real_motion is not None]
    if len(reals) < len(clips) or readout is None:
        return {}, {}
    norm = [rep.norm.zscore(torch.from_numpy(r.astype(np.float32))).numpy() for r in reals]
    real_jaw_std = [np.std(motion.read_jaw(readout, n)) for n in norm]
    per, cis = {}, {}
    for row, ms in motions.items():
        gen = [rep.norm.zscore(torch.from_numpy(np.asarray(m[: c.n], np.float32))).numpy() for m, c in zip(ms, clips)]
        jaws = [motion.read_jaw(readout, g) for g in gen]
        curves = [correlation_curve(j, c.jaw[: len(j)], 10) for j, c in zip(jaws, clips)]
        per[row] = {
            "jaw_corr0": [float(cc[1][cc[0] == 0][0]) for cc in curves],
            "jaw_best_corr": [float(cc[1].max()) for cc in curves],
            "jaw_std_ratio": [float(np.std(j) / max(s, 1e-9)) for j, s in zip(jaws, real_jaw_std)],
            "motion_fd": [_or_none(motion.frechet_distance, np.concatenate(gen), np.concatenate(norm))],
        }
        cis[row] = {"motion_fd": set_statistic_ci(list(range(len(gen))), lambda idx, g=gen: motion.frechet_distance(
            np.concatenate([g[i] for i in idx]), np.concatenate([norm[i] for i in idx])))}
    return per, cis


# ------------------------------------------------------------------------------------------ the suite


def full_eval(
    inputs: EvalInputs,
    max_frames: int | None = 150,
    n_val_reference: int = 2,
    diversity_seeds: int = 3,
    energy_fit_clips: int = 32,
    max_lag: int = 15,
    emotion_labels: bool = False,
    workers: int = 2,
) -> dict:
    """The full suite (module docstring). ``max_frames`` cuts every clip (analysis ~25 ms/frame on CPU),
    ``n_val_reference`` val clips form the P-FID/E-FID reference, ``diversity_seeds`` generator seeds
    (the run's own included) of the first clip give the diversity, ``energy_fit_clips`` training clips
    fit the energy baseline's jaw line, ``emotion_labels`` adds :func:`emotion_response` (7 more
    samplings of every test clip), ``workers`` processes analyse the videos (1: this process)."""
    from sandbox.analysis.face import FaceAnalyser

    with FaceAnalyser(video=True, workers=workers) as analyser:  # analyse() restarts tracking for every clip
        return _full_eval(inputs, analyser, max_frames, n_val_reference, diversity_seeds, energy_fit_clips, max_lag,
                          emotion_labels)


def _full_eval(inputs: EvalInputs, analyser, max_frames: int | None, n_val_reference: int, diversity_seeds: int,
               energy_fit_clips: int, max_lag: int, emotion_labels: bool) -> dict:
    t_start = time.perf_counter()
    cfg, rep, run_dir = inputs.cfg, inputs.rep, inputs.run_dir
    eval_dir, plots = run_dir / "eval", run_dir / "plots"
    clips = load_clips(inputs, max_frames)
    flags: list[str] = []
    bs = int(cfg.render.batch_size)

    def render(motion: np.ndarray, clip: EvalClip, path: Path) -> np.ndarray:
        return seen(render_motion(rep, inputs.renderer, clip.source, motion[: clip.n], bs), clip.audio, path)

    train = training_jaws(inputs, energy_fit_clips)  # loaded once for both fits
    motions, line = row_motions(inputs, clips, train)
    if "energy" not in motions:
        flags.append("energy baseline skipped: no training clips with a varying jaw-open track")
    t_analyse = time.perf_counter()
    frames = {"run": [read_video(v.mp4)[0][: c.n] for v, c in zip(inputs.videos, clips)]}
    analyses = {"run": analyser.analyse_many(frames["run"])}
    base = baseline_rows(inputs, clips, motions, render, analyser, n_val_reference, max_frames, eval_dir)
    frames |= base["frames"]
    analyses |= base["analyses"]
    reference, ref_ids = base["reference"], base["reference_clips"]
    truth = analyses.get("ground_truth")
    jaws = [c.jaw for c in clips]
    noise = aperture_noise([a.mouth_aperture for a in analyses["static"]], sync_window(jaws, max_lag)[1])
    per_clip = {row: score_row(a, jaws, reference, truth, max_lag, noise)
                | (image_scores(frames[row], clips) if row != "ground_truth" else {})
                for row, a in analyses.items()}  # in the order frames were made: run, ground_truth, ...
    set_ci = {row: fid_ci(a, reference) for row, a in analyses.items()} if reference is not None else {}
    log.info("analysed %d rows in %.1f s", len(per_clip), time.perf_counter() - t_analyse)
    readout = jaw_readout(train, rep)
    m_per, m_ci = motion_space_scores(motions, clips, rep, readout)
    for row, vals in m_per.items():
        per_clip[row] |= vals
        set_ci.setdefault(row, {}).update(m_ci.get(row, {}))
    emotion_extra = {}
    if emotion_labels:
        response = emotion_response(inputs, clips)
        if response is None:
            flags.append("eval.emotion_labels skipped: no generator, or training clips without ground-truth "
                         "expression and emotion labels")
        else:
            per_clip["run"] |= response.pop("per_clip")
            emotion_extra = {"emotion_labels": response}
    rows, ci = summarise(per_clip, set_ci)

    rows["run"] |= diversity(inputs, clips[0], analyses["run"][0], analyser, diversity_seeds,
                             lambda m, c, name: render(m, c, eval_dir / "seeds" / f"{name}.mp4"))
    for r in ("static", "energy"):
        if r in rows:
            rows[r] |= {"pose_diversity": 0.0, "exp_diversity": 0.0}
    train_info = _read_json(inputs.train_dir / "info.json")
    rows["run"] |= speed(inputs, train_info)

    plot_sync(plots / "sync.png", analyses["run"][0].mouth_aperture, clips[0].jaw)
    if truth is not None:
        plot_pose(analyses["run"][0].pose, truth[0].pose, plots / "pose.png")
    plot_losses(inputs.train_dir / "logs", plots / "loss.png")

    flags = list(dict.fromkeys(flags + missing_flags(rows) + comparison_flags(rows)))
    series = read_lightning_csv(inputs.train_dir / "logs")
    fit_info = _read_json(inputs.fit_dir / "info.json") if inputs.fit_dir else {}
    extra = {
        "losses": {k: float(y[-1]) for k, (_, y) in series.items() if k.startswith(("train/", "val/"))},
        "fit": fit_info, "train": train_info, "device": device_name(),
        "config": {"choice": to_dict(cfg.choice), "sample": to_dict(cfg.sample), "eval": to_dict(cfg.eval),
                   "scale": to_dict(cfg.scale)},
        "clips": [c.name for c in clips], "frames_per_clip": [c.n for c in clips],
        "reference_clips": ref_ids,
        "energy_line_norm": float(np.linalg.norm(line.b)) if line is not None else None,
        "sync_noise": noise,
        **emotion_extra,
        "eval_seconds": time.perf_counter() - t_start,
    }
    write_metrics_json(run_dir, rows, DEFINITIONS, flags, extra, per_clip=per_clip, ci=ci)
    write_report(run_dir, rows, DEFINITIONS, flags, title=_title(cfg), notes=_notes(inputs, frames, clips, extra),
                 ci=ci)
    log.info("eval took %.1f s", extra["eval_seconds"])
    return {"rows": rows, "ci": ci, "per_clip": per_clip, "flags": flags, "extra": extra}


def emotion_response(inputs: EvalInputs, clips: list[EvalClip]) -> dict | None:
    """Does the emotion label move the generated expression as the data's emotions do (FLOAT's emotion
    control), for any representation and without a renderer. A least-squares map from normalised
    extracted motion to the ground-truth expression coefficients is fitted on the training clips; the
    true offset of an emotion is its training clips' time-mean true expression minus the mean of that over
    the labels present (not minus neutral: a small training set may hold no neutral clip). Every test clip
    is sampled under each of those labels (seed ``seeds.sample``), read out and time-averaged, and its
    offsets (each label minus their mean) scored against the true ones (metrics.motion.label_offset_scores).
    None when there is no generator, the training clips lack ``gt["exp"]``, or fewer than 2 labels."""
    import torch

    store, rep, cfg = inputs.store, inputs.rep, inputs.cfg
    ids = store.ids("train") if store is not None and inputs.gen is not None else []
    data = [store.load(cid, frames=False) for cid in ids]
    if not data or any("exp" not in c.gt for c in data):
        return None
    motions = [zscores(rep, inputs.extracted.load(cid)["motion"]) for cid in ids]
    exps = [np.asarray(c.gt["exp"][: len(m)], np.float64) for c, m in zip(data, motions)]
    labels = [c.meta.get("emotion") or "neutral" for c in data]
    present = [e for e in EMOTIONS if e in labels]  # a small set may lack some, neutral included
    if len(present) < 2:
        return None
    means = np.stack([np.mean([x.mean(0) for x, lab in zip(exps, labels) if lab == e], 0) for e in present])
    truth = means - means.mean(0)
    readout = motion.fit_jaw_readout(motions, exps)  # [d + 1, n_exp]: the jaw line's least squares, 12 targets
    r2 = motion.readout_r2(np.concatenate([motion.read_jaw(readout, m) for m in motions]), np.concatenate(exps))
    feat = instantiate(cfg.features, "features")
    guidance, seed = to_dict(cfg.sample.guidance) or None, int(cfg.seeds.sample)
    per: dict[str, list] = {"emotion_corr": [], "emotion_gain": []}
    for clip in clips:
        read = []
        for e in present:
            m, _, _ = generate_motion(rep, inputs.gen, feat, clip.source, clip.audio, e, cfg.sample.steps,
                                      guidance, seed)
            norm = rep.norm.zscore(torch.from_numpy(np.asarray(m[: clip.n], np.float32))).numpy()
            read.append(motion.read_jaw(readout, norm).mean(0))
        read = np.stack(read)
        c, g = motion.label_offset_scores(read - read.mean(0), truth)
        per["emotion_corr"].append(c)
        per["emotion_gain"].append(g)
    return {"per_clip": per, "labels": present, "train_clips": len(ids), "readout_r2": r2,
            "true_offsets": truth.round(4).tolist()}


def row_motions(inputs: EvalInputs, clips: list[EvalClip], train: tuple[list, list]
                ) -> tuple[dict[str, list[np.ndarray]], baselines.JawLine | None]:
    """{row: un-normalised motion per clip} for the rows the renderer draws (the ground truth is filmed,
    not drawn), and the energy baseline's jaw line."""
    motions = {"run": [np.load(s.npz)["motion"][: c.n] for s, c in zip(inputs.samples, clips)]}
    if all(c.real is not None for c in clips):
        motions["reconstruction"] = [c.real_motion for c in clips]
    x_refs = [reference_motion(inputs.rep, to_tensor(c.source)).numpy() for c in clips]
    motions["static"] = [static_motion(x, c.n) for x, c in zip(x_refs, clips)]
    line = fit_energy_line(inputs, train)
    if line is not None:
        motions["energy"] = [baselines.energy_motion(x, c.audio, c.n, line) for x, c in zip(x_refs, clips)]
    return motions, line


def baseline_rows(inputs: EvalInputs, clips: list[EvalClip], motions: dict[str, list[np.ndarray]], render,
                  analyser, n_val_reference: int, max_frames: int | None, eval_dir: Path) -> dict:
    """The rows that do not depend on the generator, as the user would watch them (mp4s under
    ``eval/<row>/``), analysed, with the P-FID reference set: {"frames", "analyses", "reference",
    "reference_clips"}. Built once per data + fit + extract when ``inputs.cache`` is given."""
    rows = [r for r in motions if r != "run"]
    split = inputs.cfg.sample.get("split", "test")
    has_real = all(c.real is not None for c in clips)
    layout = (["ground_truth"] if has_real else []) + rows

    def build(work: Path) -> dict:
        videos = []  # every row's clips, then the reference clips: analysed together
        for row in layout:
            if row == "ground_truth":
                videos += [seen(c.real, c.audio, work / row / f"{c.name}.mp4") for c in clips]
            else:
                videos += [render(m, c, work / row / f"{c.name}.mp4") for m, c in zip(motions[row], clips)]
        ref_videos, ref_ids = reference_clips(inputs.store, n_val_reference, max_frames, work, split)
        done = analyser.analyse_many(videos + ref_videos)
        analysed = {row: done[i * len(clips):(i + 1) * len(clips)] for i, row in enumerate(layout)}
        ref = done[len(videos):]
        reference = (np.concatenate([a.pose for a in ref]), np.concatenate([a.exp for a in ref])) if ref else None
        with (work / "analyses.pkl").open("wb") as f:
            pickle.dump({"analyses": analysed, "reference": reference, "reference_clips": ref_ids}, f)
        return {"rows": layout, "clips": [c.name for c in clips]}

    digest = hashlib.sha256(b"".join(np.ascontiguousarray(m, np.float32).tobytes() for r in rows for m in motions[r]))
    key = (layout, [(c.name, c.n) for c in clips], n_val_reference, max_frames, digest.hexdigest(),
           *([split] if split != "test" else []))  # test's key as before the option: its cached rows stay valid
    if inputs.cache is not None:
        art = inputs.cache(key, build)
        for sub in [*layout, "reference"]:
            if (art / sub).is_dir():
                shutil.copytree(art / sub, eval_dir / sub, dirs_exist_ok=True)  # the run's own copy to watch
    else:
        art = eval_dir
        eval_dir.mkdir(parents=True, exist_ok=True)
        build(eval_dir)
    with (art / "analyses.pkl").open("rb") as f:
        out = pickle.load(f)
    (eval_dir / "analyses.pkl").unlink(missing_ok=True)
    out["frames"] = {row: [read_video(eval_dir / row / f"{c.name}.mp4")[0][: c.n] for c in clips] for row in layout}
    return out


def jaw_readout(train: tuple[list, list], rep) -> np.ndarray | None:
    """The motion -> jaw-open line (sandbox.metrics.motion.fit_jaw_readout) on training motion in z-scores."""
    motions, jaws = train
    if not motions or np.std(np.concatenate(jaws)) < 1e-6:
        return None
    return motion.fit_jaw_readout([zscores(rep, m) for m in motions], jaws)


def zscores(rep, normalised: np.ndarray) -> np.ndarray:
    """Stored (normalised) motion in the normaliser's z-scores: the motion-space measures' units, the same
    whichever marginals the generators saw (``extract.marginals``)."""
    import torch

    return rep.norm.to_zscore(torch.from_numpy(normalised)).numpy()


def reference_clips(store, n: int, max_frames: int | None, out_dir: Path,
                    driven: str = "test") -> tuple[list[np.ndarray], list[str]]:
    """(frames as watched, ids) of the first ``n`` val clips (train clips if there is no val split, or when the
    val clips are the ones driven, ``driven="val"``): the P-FID / E-FID reference set is their pooled analysed
    (pose, exp)."""
    if store is None or n <= 0:
        return [], []
    ids = ((store.splits.get("val") if driven != "val" else None) or store.splits.get("train") or [])[:n]
    videos = []
    for cid in ids:
        clip = store.load(cid)
        k = min(clip.num_frames, max_frames) if max_frames else clip.num_frames
        videos.append(seen(np.asarray(clip.frames[:k]), clip.audio[: k * SAMPLES_PER_FRAME],
                           out_dir / "reference" / f"{cid}.mp4"))
    return videos, ids


def diversity(inputs: EvalInputs, clip: EvalClip, run_analysis, analyser, n_seeds: int, render) -> dict:
    """Var across seeds of the analysed pose / expression for the first clip (the run's own video is
    seed ``seeds.sample``; the others are drawn and rendered the same way)."""
    if n_seeds < 2 or inputs.gen is None:
        return {}
    cfg = inputs.cfg
    feat = instantiate(cfg.features, "features")
    videos = []
    for k in range(1, n_seeds):
        seed = int(cfg.seeds.sample) + k
        m, _, _ = generate_motion(inputs.rep, inputs.gen, feat, clip.source, clip.audio, clip.emotion,
                                  cfg.sample.steps, to_dict(cfg.sample.guidance) or None, seed)
        videos.append(render(m, clip, f"{clip.name}_seed{seed}"))
    others = analyser.analyse_many(videos)
    poses, exps = [run_analysis.pose, *(a.pose for a in others)], [run_analysis.exp, *(a.exp for a in others)]
    n = min(len(p) for p in poses)
    return {"pose_diversity": _or_none(motion.diversity, np.stack([p[:n] for p in poses])),
            "exp_diversity": _or_none(motion.diversity, np.stack([e[:n] for e in exps]))}


def speed(inputs: EvalInputs, train_info: dict) -> dict:
    """Generator / renderer / end-to-end frames per second from the sample and render stages."""
    frames = [np.load(s.npz)["motion"].shape[0] for s in inputs.samples]
    gen_s = sum(n / s.frames_per_s for n, s in zip(frames, inputs.samples))
    ren_s = sum(n / v.frames_per_s for n, v in zip(frames, inputs.videos))
    total = sum(frames)
    return {
        "nfe": float(np.mean([s.nfe for s in inputs.samples])),
        "gen_fps": total / gen_s if gen_s > 0 else None,
        "render_fps": total / ren_s if ren_s > 0 else None,
        "e2e_fps": total / (gen_s + ren_s) if gen_s + ren_s > 0 else None,
        "train_steps_per_s": train_info.get("steps_per_s"),
    }


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _title(cfg: DictConfig) -> str:
    c = cfg.choice
    return f"{c.rep} x {c.gen} (renderer {c.renderer}, data {c.data}, preset {c.preset})"


def _notes(inputs: EvalInputs, frames: dict, clips: list[EvalClip], extra: dict) -> list[str]:
    run_dir = inputs.run_dir
    split = inputs.cfg.sample.get("split", "test")
    lines = [f"Driven and scored on the **{split}** clips (`sample.split={split}`), not the test clips; the "
             "P-FID / E-FID reference is training clips.", ""] if split != "test" else []
    lines += ["## Videos", ""]
    for i, c in enumerate(clips):
        links = [f"[run](samples/{inputs.videos[i].mp4.name})"]
        links += [f"[{r}](eval/{r}/{c.name}.mp4)" for r in frames if r != "run"]
        lines.append(f"- {c.name} ({c.n} frames measured): " + ", ".join(links))
    fit = extra["fit"].get("rep", {}) if isinstance(extra["fit"].get("rep"), dict) else {}
    lines += ["", "## Training", "",
              f"- device: {extra['device']}; final losses: "
              + (", ".join(f"{k} {v:.4g}" for k, v in sorted(extra["losses"].items())) or "none logged"),
              "- representation fit: " + (", ".join(f"{k} {v:.4g}" if isinstance(v, (int, float)) else f"{k} {v}"
                                                      for k, v in fit.items()) or "no metrics recorded"),
              "", "## Plots", ""]
    lines += [f"![{p.stem}](plots/{p.name})" for p in sorted((run_dir / "plots").glob("*.png"))]
    return lines


def check(cfg: DictConfig) -> None:
    """Preflight: the eval function's keys."""
    check_instantiable(cfg.eval, "eval")
    workers = cfg.eval.get("workers", 1)
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"eval.workers={workers!r} must be an integer >= 1 (processes for the face analyser)")


def run(ctx: Context) -> dict:
    samples = ctx.require("sample")
    videos = ctx.require("render")
    fn = instantiate(ctx.cfg.eval, "eval")
    base = (ctx.hashes["data"], ctx.hashes["fit"], ctx.hashes["extract"], ctx.cfg.render.batch_size,
            ctx.code("sandbox.pipeline.eval.baseline_rows", "sandbox.analysis.face.FaceAnalyser"))

    def cache(key: tuple, build) -> Path:
        from sandbox.pipeline.cache import content_hash

        return ctx.build("eval_baselines", content_hash("eval_baselines", base, key), build)

    inputs = EvalInputs(ctx.run_dir, ctx.cfg, samples, videos, ctx.artifacts["train"], ctx.rep,
                        fit_dir=ctx.artifacts.get("fit"), renderer=ctx.require("fit").renderer,
                        gen=ctx.require("train").gen, store=ctx.require("data"), extracted=ctx.require("extract"),
                        cache=cache)
    return fn(inputs)
