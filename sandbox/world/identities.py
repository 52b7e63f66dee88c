"""Identities of the synthetic world: the real portrait plus appearance and face-shape variants.

Identity 0 is the unmodified portrait with the mean shape. The others change skin tone, hair and
background colour and lighting (a smooth shading field), and draw identity-shape coefficients.
They are all the same photograph underneath: they test robustness to colour, lighting and face
geometry, not to a genuinely different person (texture detail, hair style, age, glasses).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sandbox.face.topology import contours


@dataclass
class Identity:
    index: int
    texture: np.ndarray  # uint8 [S, S, 3]
    id_coeff: np.ndarray  # [n_id]
    description: str


def skin_mask(texture: np.ndarray, texture_lmk2d: np.ndarray, feather: float = 0.02) -> np.ndarray:
    """Soft mask [S, S] in [0, 1] of skin: the face oval plus pixels whose chroma is close to the
    face's (neck, ears), so a skin-tone change covers all visible skin."""
    size = texture.shape[0]
    oval = np.zeros((size, size), np.float32)
    cv2.fillPoly(oval, [np.round(texture_lmk2d[contours()["face_oval"]]).astype(np.int32)], 1.0)
    lab = cv2.cvtColor(texture, cv2.COLOR_RGB2LAB).astype(np.float32)
    ab = lab[..., 1:]
    ref = np.median(ab[oval > 0], axis=0)
    spread = np.std(ab[oval > 0], axis=0).mean() + 2.0
    near = np.exp(-(((ab - ref) ** 2).sum(-1)) / (2 * (1.5 * spread) ** 2)) * (lab[..., 0] > 60)
    mask = np.maximum(oval, near.astype(np.float32))
    k = int(feather * size) * 2 + 1
    return cv2.GaussianBlur(mask, (k, k), 0)


def _shift_lab(img: np.ndarray, d_l: float, d_a: float, d_b: float) -> np.ndarray:
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 0] += d_l
    lab[..., 1] += d_a
    lab[..., 2] += d_b
    return cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB).astype(np.float32)


def make_identity(index: int, texture: np.ndarray, texture_lmk2d: np.ndarray, n_id: int, seed: int = 0) -> Identity:
    if index == 0:
        return Identity(0, texture.copy(), np.zeros(n_id, np.float32), "the real portrait, mean shape")
    rng = np.random.default_rng([seed, index])
    size = texture.shape[0]
    skin = skin_mask(texture, texture_lmk2d)[..., None]
    skin_img = _shift_lab(texture, rng.uniform(-50, 15), rng.uniform(-4, 12), rng.uniform(-4, 20))
    rest_img = _shift_lab(texture, rng.uniform(-30, 25), rng.uniform(-15, 15), rng.uniform(-15, 15))
    img = skin * skin_img + (1 - skin) * rest_img
    # lighting: a smooth directional shading field
    yy, xx = np.mgrid[0:size, 0:size] / size - 0.5
    ang = rng.uniform(0, 2 * np.pi)
    light = 1.0 + rng.uniform(0.15, 0.35) * (np.cos(ang) * xx + np.sin(ang) * yy) * 2
    img = img * light[..., None] * rng.uniform(0.9, 1.1)
    img = np.clip(img, 0, 255).astype(np.uint8)
    id_coeff = rng.normal(0, 0.9, n_id).astype(np.float32)
    return Identity(index, img, id_coeff, f"variant {index}: colour/lighting + shape")


def make_identities(n: int, texture: np.ndarray, texture_lmk2d: np.ndarray, n_id: int, seed: int = 0) -> list[Identity]:
    return [make_identity(i, texture, texture_lmk2d, n_id, seed) for i in range(n)]
