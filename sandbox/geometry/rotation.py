"""Rotation helpers (numpy via scipy, torch for differentiable use).

Conventions (shared with the head model and the analyser): camera / model space has x to the image
right, y down, z away from the camera (OpenCV). Euler angles are (yaw, pitch, roll) in radians with
  positive yaw   = the head turns so its nose moves toward the image right (subject's left),
  positive pitch = the nose moves up (smaller image y),
  positive roll  = the head tilts clockwise as seen in the image.
The matrix is R = Ry(-yaw) @ Rx(-pitch) @ Rz(roll) (elementary right-handed rotations about the
y-down axes), i.e. scipy's intrinsic "YXZ" with angles (-yaw, -pitch, roll).
All functions accept batches: leading dimensions are preserved.

The implicit-keypoint space (LivePortrait) has its own convention, in degrees and for row vectors:
see :func:`angles_to_matrix`. It is not the (yaw, pitch, roll) convention above; do not mix them.
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


# ---------------------------------------------------------------- LivePortrait keypoint convention (degrees)


def angles_to_matrix(pitch, yaw, roll) -> "torch.Tensor":
    """(pitch, yaw, roll) in DEGREES, tensors of any broadcastable shapes -> R [..., 3, 3] for ROW vectors.

    LivePortrait's convention: pitch -> Rx, yaw -> Ry, roll -> Rz (elementary right-handed rotations),
    R = (Rz Ry Rx)^T, applied as x' = x R to keypoints stored as rows [K, 3]. Frame: x to the image
    right, y down, z into the screen, coordinates in [-1, 1]. For column vectors the same map is
    x'^T = Rz Ry Rx x^T: an extrinsic x-then-y-then-z rotation.
    scipy:  R == Rotation.from_euler("xyz", [pitch, yaw, roll], degrees=True).as_matrix().T
              == Rotation.from_euler("XYZ", [-pitch, -yaw, -roll], degrees=True).as_matrix()
    Signs, for a point in front of the face (0, 0, -1) (toward the viewer) and the top (0, -1, 0):
    positive yaw moves the front toward the image LEFT (x' = -sin yaw), positive pitch moves it DOWN
    (y' = +sin pitch), positive roll moves the top toward the image right (clockwise in the image).
    Angles are unique for |yaw| < 90 (the middle rotation): see :func:`matrix_to_angles`."""
    import torch

    dev = next((a.device for a in (pitch, yaw, roll) if isinstance(a, torch.Tensor)), None)
    t = [torch.as_tensor(a, device=dev) for a in (pitch, yaw, roll)]
    dtype = torch.promote_types(torch.promote_types(t[0].dtype, t[1].dtype), t[2].dtype)
    dtype = dtype if dtype.is_floating_point else torch.get_default_dtype()
    p, y, r = torch.broadcast_tensors(*(a.to(dtype) for a in t))
    rz_ry_rx = _axis_rot(torch.deg2rad(r), 2) @ _axis_rot(torch.deg2rad(y), 1) @ _axis_rot(torch.deg2rad(p), 0)
    return rz_ry_rx.transpose(-1, -2)


def matrix_to_angles(R: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor", "torch.Tensor"]:
    """Inverse of :func:`angles_to_matrix`: R [..., 3, 3] (row-vector convention) -> (pitch, yaw, roll)
    in degrees, each [...]. Exact round trip for |yaw| < 90, pitch and roll in (-180, 180]; at
    |yaw| = 90 (gimbal lock) only pitch - roll (or pitch + roll) is determined. Differentiable away
    from the lock (yaw by atan2, not asin, so its gradient stays finite up to it)."""
    import torch

    m = R.transpose(-1, -2)  # Rz Ry Rx
    pitch = torch.atan2(m[..., 2, 1], m[..., 2, 2])
    yaw = torch.atan2(-m[..., 2, 0], torch.sqrt(m[..., 2, 1] ** 2 + m[..., 2, 2] ** 2))
    roll = torch.atan2(m[..., 1, 0], m[..., 0, 0])
    return torch.rad2deg(pitch), torch.rad2deg(yaw), torch.rad2deg(roll)
