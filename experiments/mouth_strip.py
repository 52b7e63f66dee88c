"""A closed-mouth photo talking through mesh_warp, in three lights: ``python -m experiments.mouth_strip
[--out docs/mouth_strip.png]``.

The photo: scikit-image's astronaut (sandbox.face.portrait.demo_portrait) with her lower lip warped up onto
the upper one, so the photo shows no teeth. Each row is that photo under one light (as taken, dimmer and
warmer, cooler), cropped FLOAT-style to 256 px and fitted by the 3dmm representation; columns open the jaw
(jaw_open 0, 0.5, 1; lip_press released). The teeth, tongue and cavity are drawn (sandbox.face.eyes_mouth)
in the light the photo's sclera shows (``interior_light``); the left column is the photo itself.
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
    from sandbox.face import topology
    from sandbox.face.eyes_mouth import OpeningShape
    from sandbox.face.portrait import PortraitRenderer, demo_expression, demo_portrait

    tex, lm = demo_portrait(size)
    xy = lm[:, :2]
    mouth = OpeningShape.from_texture(topology.contours()["lips_inner"], xy)
    width = np.linalg.norm(xy[mouth.upper[0]] - xy[mouth.upper[-1]])
    upper = xy[mouth.upper][np.argsort(xy[mouth.upper, 0])]
    gap = (xy[mouth.lower, 1] - np.interp(xy[mouth.lower, 0], *upper.T)).mean()
    return PortraitRenderer(tex, xy, size).render(*demo_expression(lm, jaw_open=-gap / width))


def strip(size: int = 256) -> np.ndarray:
    from renderers.mesh_warp import MeshWarpRenderer
    from representations.morphable import EXP, MorphableRepresentation
    from sandbox.analysis.source import prepare_source
    from sandbox.data.frames import to_tensor, to_uint8
    from sandbox.face.head_model import EXP_NAMES

    rep = MorphableRepresentation(video=False)
    renderer = MeshWarpRenderer(rep)
    photo = closed_mouth_photo().astype(np.float32)
    jaw, press = EXP.start + EXP_NAMES.index("jaw_open"), EXP.start + EXP_NAMES.index("lip_press")
    rows = []
    for gain in LIGHTS.values():
        img = prepare_source(np.clip(photo * np.array(gain), 0, 255).astype(np.uint8), "closed-mouth photo", size)
        ref = rep.reference(to_tensor(img))
        motion = rep.reference_motion(ref).repeat(len(JAW), 1)
        motion[:, jaw], motion[:, press] = torch.tensor(JAW), 0.0
        frames = to_uint8(renderer.render(ref, motion))
        crop = (slice(int(0.52 * size), int(0.92 * size)), slice(int(0.25 * size), int(0.75 * size)))
        rows.append(np.concatenate([img[crop], *(f[crop] for f in frames)], axis=1))
    return np.concatenate(rows, axis=0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/mouth_strip.png")
    args = p.parse_args(argv)
    out = strip()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(args.out, cv2.cvtColor(cv2.resize(out, None, fx=1.5, fy=1.5), cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out}: rows {', '.join(LIGHTS)}; columns the photo, then jaw_open {JAW}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
