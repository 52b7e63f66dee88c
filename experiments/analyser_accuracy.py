"""How well does the face analyser recover what the synthetic world rendered?

    python -m experiments.analyser_accuracy --data DIR [--split test] [--clips 10] [--out report.md]
        [--backend mediapipe|face_alignment --model-dir DIR]

For each clip: landmarks (MediaPipe's 478 by default; ``--backend face_alignment`` takes face-alignment's 68
with its weights from ``--model-dir``, nothing downloaded) + morphable-model fit on the rendered frames,
compared with the recorded ground truth. Head yaw/pitch/roll are compared relative to the portrait's neutral orientation;
mouth aperture is the same landmark measure (inner-lip gap / nose-bridge length) on the detected
landmarks and on the ground-truth landmarks; blink uses eye openness likewise.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from sandbox.analysis.backends import BACKENDS, check_backend
from sandbox.analysis.face import FaceAnalyser, eye_openness, mouth_aperture
from sandbox.data.clips import ClipStore
from sandbox.errors import SandboxError
from sandbox.geometry.rotation import rotvec_to_euler


def corr(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.corrcoef(a[ok], b[ok])[0, 1]) if ok.sum() > 2 and a[ok].std() > 0 else float("nan")


def measure(store: ClipStore, split: str, n_clips: int, backend: str = "mediapipe",
            model_dir: str | None = None) -> dict[str, float]:
    analyser = FaceAnalyser(video=True, backend=backend, model_dir=model_dir)
    err, mouth_m, mouth_t, eye_m, eye_t, missing, maxdeg = [], [], [], [], [], [], []
    for cid in store.ids(split)[:n_clips]:
        clip = store.load(cid)
        a = analyser.analyse(np.asarray(clip.frames))
        gt = rotvec_to_euler(clip.gt["pose"][:, :3])
        est = rotvec_to_euler(a.pose[:, :3])
        err.append(np.degrees(np.abs(est - gt)))
        maxdeg.append(np.degrees(np.abs(gt - gt.mean(0))).max())
        mouth_m.append(a.mouth_aperture)
        mouth_t.append(mouth_aperture(clip.gt["lmk2d"]))
        eye_m.append(np.nanmean(a.blink, 1))
        eye_t.append(eye_openness(clip.gt["lmk2d"]).mean(1))
        missing.append(a.missing_fraction)
    e = np.concatenate(err)
    return {
        "clips": len(err),
        "frames": int(len(e)),
        "yaw_mae_deg": float(np.nanmean(e[:, 0])),
        "pitch_mae_deg": float(np.nanmean(e[:, 1])),
        "roll_mae_deg": float(np.nanmean(e[:, 2])),
        "max_pose_excursion_deg": float(np.max(maxdeg)),
        "mouth_aperture_corr": corr(np.concatenate(mouth_m), np.concatenate(mouth_t)),
        "eye_openness_corr": corr(np.concatenate(eye_m), np.concatenate(eye_t)),
        "missing_fraction": float(np.mean(missing)),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="a dataset directory (python -m sandbox.world.dataset --out DIR)")
    p.add_argument("--split", default="test")
    p.add_argument("--clips", type=int, default=10)
    p.add_argument("--out", default=None, help="also write a markdown table here")
    p.add_argument("--backend", default="mediapipe", choices=BACKENDS, help="the analyser's landmark model")
    p.add_argument("--model-dir", default=None, help="face_alignment: local directory with its 2D FAN weights")
    a = p.parse_args(argv)
    try:
        check_backend(a.backend, a.model_dir)  # refuses before any work: no face-alignment, no local weights
        res = measure(ClipStore(a.data), a.split, a.clips, a.backend, a.model_dir)
    except SandboxError as exc:
        p.error(str(exc))
    table = "| metric | value |\n|---|---|\n" + "\n".join(
        f"| {k} | {v:.3f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in res.items()
    )
    print(table)
    if a.out:
        Path(a.out).write_text(f"# Face analyser ({a.backend}) vs ground truth ({a.data}, split {a.split})\n\n"
                               f"{table}\n")  # fmt: skip


if __name__ == "__main__":
    main()
