"""Rotation helpers (numpy via scipy, torch for differentiable use).

Conventions (shared with the head model and the analyser): camera / model space has x to the image
right, y down, z away from the camera (OpenCV). Euler angles are (yaw, pitch, roll) in radians with
  positive yaw   = the head turns so its nose moves toward the image right (subject's left),
  positive pitch = the nose moves up (smaller image y),
  positive roll  = the head tilts clockwise as seen in the image.
The matrix is R = Ry(-yaw) @ Rx(-pitch) @ Rz(roll) (elementary right-handed rotations about the
y-down axes), i.e. scipy's intrinsic "YXZ" with angles (-yaw, -pitch, roll).
All functions accept batches: leading dimensions are preserved.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial.transform import Rotation

if TYPE_CHECKING:  # torch is imported lazily: it costs seconds and most callers only need numpy
    import torch

_SIGNS = np.array([-1.0, -1.0, 1.0])  # (yaw, pitch, roll) -> scipy "YXZ" angles


def _flat(x: np.ndarray, tail: tuple[int, ...]) -> tuple[np.ndarray, tuple[int, ...]]:
    x = np.array(x, dtype=np.float64)  # a writable copy: scipy rejects read-only views
    lead = x.shape[: x.ndim - len(tail)]
    return x.reshape((-1,) + tail), lead


def rotvec_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """[..., 3] axis-angle (radians) -> [..., 3, 3]."""
    v, lead = _flat(rotvec, (3,))
    return Rotation.from_rotvec(v).as_matrix().reshape(lead + (3, 3))


def matrix_to_rotvec(matrix: np.ndarray) -> np.ndarray:
    """[..., 3, 3] -> [..., 3] axis-angle with angle in [0, pi]."""
    m, lead = _flat(matrix, (3, 3))
    return Rotation.from_matrix(m).as_rotvec().reshape(lead + (3,))


def euler_to_matrix(ypr: np.ndarray) -> np.ndarray:
    """[..., 3] (yaw, pitch, roll) radians -> [..., 3, 3] (see module docstring for signs)."""
    a, lead = _flat(ypr, (3,))
    return Rotation.from_euler("YXZ", a * _SIGNS).as_matrix().reshape(lead + (3, 3))


def matrix_to_euler(matrix: np.ndarray) -> np.ndarray:
    """[..., 3, 3] -> [..., 3] (yaw, pitch, roll); unique for |pitch| < pi/2."""
    m, lead = _flat(matrix, (3, 3))
    return (Rotation.from_matrix(m).as_euler("YXZ") * _SIGNS).reshape(lead + (3,))


def rotvec_to_euler(rotvec: np.ndarray) -> np.ndarray:
    return matrix_to_euler(rotvec_to_matrix(rotvec))


def euler_to_rotvec(ypr: np.ndarray) -> np.ndarray:
    return matrix_to_rotvec(euler_to_matrix(ypr))


# ---------------------------------------------------------------- torch (differentiable)


def rotvec_to_matrix_torch(rotvec: "torch.Tensor") -> "torch.Tensor":
    """[..., 3] -> [..., 3, 3] by Rodrigues' formula, smooth at zero (Taylor terms for tiny angles)."""
    import torch

    theta2 = (rotvec * rotvec).sum(-1, keepdim=True)[..., None]  # [..., 1, 1]
    small = theta2 < 1e-8
    safe2 = torch.where(small, torch.ones_like(theta2), theta2)
    theta = safe2.sqrt()
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / safe2)
    x, y, z = rotvec.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(rotvec.shape[:-1] + (3, 3))
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device).expand_as(k)
    return eye + a * k + b * (k @ k)


def _axis_rot(angle: "torch.Tensor", axis: int) -> "torch.Tensor":
    import torch

    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    if axis == 0:
        rows = [one, zero, zero, zero, c, -s, zero, s, c]
    elif axis == 1:
        rows = [c, zero, s, zero, one, zero, -s, zero, c]
    else:
        rows = [c, -s, zero, s, c, zero, zero, zero, one]
    return torch.stack(rows, -1).reshape(angle.shape + (3, 3))


def euler_to_matrix_torch(ypr: "torch.Tensor") -> "torch.Tensor":
    """[..., 3] (yaw, pitch, roll) -> [..., 3, 3]; same convention as :func:`euler_to_matrix`."""
    yaw, pitch, roll = ypr.unbind(-1)
    return _axis_rot(-yaw, 1) @ _axis_rot(-pitch, 0) @ _axis_rot(roll, 2)
