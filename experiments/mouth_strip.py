"""Closed-mouth photos talking through mesh_warp: ``python -m experiments.mouth_strip [--photo PATH]
[--out docs/mouth_strip.png] [--run RUN --speech WAV --talk-out docs/mouth_talk_strip.png]``.

First row: a real closed-mouth portrait, by default Grace Hopper's public-domain US Navy portrait (an older
woman in glasses; it ships with matplotlib as sample data), or ``--photo PATH``. Then scikit-image's
astronaut (sandbox.face.portrait.demo_portrait) with her lower lip warped up onto the upper one, so the
photo shows no teeth, under three lights (as taken, dimmer and warmer, cooler). Each photo is cropped
FLOAT-style to 256 px and fitted by the 3dmm representation; columns open the jaw (jaw_open 0, 0.5, 1;
lip_press released). The teeth, tongue and cavity are drawn (sandbox.face.eyes_mouth) in the light the
photo's sclera shows (``interior_light``, or the default colours where the eyes show no white); the left
column is the photo itself.

With ``--run`` (a trained rep=3dmm run directory) and ``--speech``, a second strip: the real photo driven by
that speech through the run's generator, mouth crops of frames evenly spaced in time.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

LIGHTS = {"as taken": (1.0, 1.0, 1.0), "dim, warm": (0.55, 0.5, 0.42), "cool": (0.8, 0.9, 1.15)}
JAW = (0.0, 0.5, 1.0)


def closed_mouth_photo(size: int = 512) -> np.ndarray:
    """The astronaut with her lower inner lip moved onto the upper one (uint8 [size, size, 3])."""
    from sandbox.face.eyes_mouth import OpeningShape
    from sandbox.face.portrait import PortraitRenderer, demo_expression, demo_portrait

    tex, lm = demo_portrait(size)
    xy = lm[:, :2]
    mouth = OpeningShape.of("lips_inner", xy)
    width = np.linalg.norm(xy[mouth.upper[0]] - xy[mouth.upper[-1]])
    upper = xy[mouth.upper][np.argsort(xy[mouth.upper, 0])]
    gap = (xy[mouth.lower, 1] - np.interp(xy[mouth.lower, 0], *upper.T)).mean()
    return PortraitRenderer(tex, xy, size).render(*demo_expression(lm, jaw_open=-gap / width))


def photo_path(path: str | None = None) -> str:
    """``path``, or Grace Hopper's portrait from matplotlib's sample data."""
    if path is not None:
        return path
    import matplotlib.cbook

    return str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def real_photo(path: str | None = None) -> tuple[str, np.ndarray]:
    """(name, uint8 RGB image) of :func:`photo_path`."""
    from sandbox.data.images import load_image

    path = photo_path(path)
    return Path(path).name, load_image(path)


def strip(size: int = 256, photo: str | None = None) -> tuple[np.ndarray, list[str]]:
    """The strip (uint8) and its row names."""
    from renderers.mesh_warp import MeshWarpRenderer
    from representations.morphable import EXP, MorphableRepresentation
    from sandbox.analysis.source import prepare_source
    from sandbox.data.frames import to_tensor, to_uint8
    from sandbox.face.head_model import EXP_NAMES

    rep = MorphableRepresentation(video=False)
    renderer = MeshWarpRenderer(rep)
    astronaut = closed_mouth_photo().astype(np.float32)
    name, real = real_photo(photo)
    sources = {name: real} | {f"astronaut, {light}": np.clip(astronaut * np.array(gain), 0, 255).astype(np.uint8)
                              for light, gain in LIGHTS.items()}
    jaw, press = EXP.start + EXP_NAMES.index("jaw_open"), EXP.start + EXP_NAMES.index("lip_press")
    rows = []
    for label, image in sources.items():
        img = prepare_source(image, label, size)
        ref = rep.reference(to_tensor(img))
        motion = rep.reference_motion(ref).repeat(len(JAW), 1)
        motion[:, jaw], motion[:, press] = torch.tensor(JAW), 0.0
        frames = to_uint8(renderer.render(ref, motion))
        crop = (slice(int(0.52 * size), int(0.92 * size)), slice(int(0.25 * size), int(0.75 * size)))
        rows.append(np.concatenate([img[crop], *(f[crop] for f in frames)], axis=1))
    return np.concatenate(rows, axis=0), list(sources)


def talk_strip(run_dir: str, speech: str, photo: str | None = None, n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(mouth crops of ``n`` frames of the photo animated by ``speech`` through a rep=3dmm run side by side,
    their frame indices)."""
    import sandbox

    run = sandbox.reopen(run_dir)
    if run.cfg.rep._target_ != "representations.morphable.MorphableRepresentation":
        raise SystemExit(f"--run {run_dir} is not a rep=3dmm run (mesh_warp animates photos untrained; "
                         "the other renderers know only the world's identities)")
    frames = run.animate(photo_path(photo), speech, emotion="neutral", seed=0).frames
    idx = np.linspace(0, len(frames) - 1, n + 2).round().astype(int)[1:-1]
    s = frames.shape[1]
    crops = frames[idx][:, int(0.45 * s) : int(0.9 * s), int(0.2 * s) : int(0.8 * s)]
    return np.concatenate(list(crops), axis=1), idx


def _write(path: str, img: np.ndarray, scale: float) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    flags = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    cv2.imwrite(path, cv2.cvtColor(cv2.resize(img, None, fx=scale, fy=scale, interpolation=flags), cv2.COLOR_RGB2BGR))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photo", default=None, help="a closed-mouth portrait (default: Grace Hopper, matplotlib's sample)")
    p.add_argument("--out", default="docs/mouth_strip.png")
    p.add_argument("--run", default=None, help="a trained rep=3dmm run directory: also write the talking strip")
    p.add_argument("--speech", default=None, help="speech for the talking strip (any common audio format)")
    p.add_argument("--talk-out", default="docs/mouth_talk_strip.png")
    args = p.parse_args(argv)
    if (args.run is None) != (args.speech is None):
        p.error("--run and --speech go together")
    out, names = strip(photo=args.photo)
    _write(args.out, out, 1.5)
    print(f"wrote {args.out}: rows {'; '.join(names)}; columns the photo, then jaw_open {JAW}")
    if args.run:
        talk, idx = talk_strip(args.run, args.speech, args.photo)
        _write(args.talk_out, talk, 0.5)
        print(f"wrote {args.talk_out}: frames {idx.tolist()} of {Path(args.speech).name} through {args.run}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
