import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from sandbox.geometry import rotation as R

angle = st.floats(-np.pi, np.pi, allow_nan=False)
vec3 = st.tuples(angle, angle, angle).map(np.array)


@given(vec3)
def test_euler_matrix_is_a_rotation(ypr):
    m = R.euler_to_matrix(ypr)
    assert np.allclose(m @ m.T, np.eye(3), atol=1e-9)
    assert np.isclose(np.linalg.det(m), 1.0)


@given(st.tuples(angle, angle, angle).map(np.array))
def test_rotvec_round_trip(v):
    n = np.linalg.norm(v)
    if n >= np.pi - 1e-3:  # the axis flips at pi: outside the documented range
        v = v / n * (np.pi - 1e-3)
    assert np.allclose(R.matrix_to_rotvec(R.rotvec_to_matrix(v)), v, atol=1e-7)


@given(st.tuples(st.floats(-1.4, 1.4), st.floats(-1.4, 1.4), st.floats(-1.4, 1.4)).map(np.array))
def test_euler_round_trip(ypr):
    assert np.allclose(R.matrix_to_euler(R.euler_to_matrix(ypr)), ypr, atol=1e-7)


@settings(max_examples=50)
@given(vec3, st.floats(0, 1e-5))
def test_torch_agrees_with_numpy(v, tiny):
    vt = torch.tensor(v, dtype=torch.float64)
    assert np.allclose(R.rotvec_to_matrix_torch(vt).numpy(), R.rotvec_to_matrix(v), atol=1e-9)
    assert np.allclose(R.euler_to_matrix_torch(vt).numpy(), R.euler_to_matrix(v), atol=1e-9)
    # the small-angle branch of Rodrigues' formula
    small = v / (np.linalg.norm(v) + 1e-12) * tiny
    assert np.allclose(R.rotvec_to_matrix_torch(torch.tensor(small)).numpy(), R.rotvec_to_matrix(small), atol=1e-12)


def test_batched_shapes_and_torch_gradient():
    v = np.random.default_rng(0).normal(size=(4, 5, 3))
    assert R.rotvec_to_matrix(v).shape == (4, 5, 3, 3)
    assert R.euler_to_rotvec(v).shape == (4, 5, 3)
    vt = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    R.rotvec_to_matrix_torch(vt)[0, 1].backward()  # finite gradient at exactly zero
    assert torch.isfinite(vt.grad).all() and vt.grad.abs().sum() > 0


def test_sign_conventions():
    nose = np.array([0.0, 0.0, -1.0])  # in front of the head (toward the camera)
    assert (R.euler_to_matrix(np.array([0.3, 0, 0])) @ nose)[0] > 0.2  # yaw: image right
    assert (R.euler_to_matrix(np.array([0, 0.3, 0])) @ nose)[1] < -0.2  # pitch: up (y down)
    top = np.array([0.0, -1.0, 0.0])
    assert (R.euler_to_matrix(np.array([0, 0, 0.3])) @ top)[0] > 0.2  # roll: clockwise in the image


# ---------------------------------------------------------------- LivePortrait keypoint convention (degrees)
deg = st.floats(-180, 180, allow_nan=False)


@given(deg, deg, deg)
def test_angles_to_matrix_matches_scipy(pitch, yaw, roll):
    m = R.angles_to_matrix(*torch.tensor([pitch, yaw, roll], dtype=torch.float64)).numpy()
    assert np.allclose(m, Rotation.from_euler("xyz", [pitch, yaw, roll], degrees=True).as_matrix().T, atol=1e-12)
    assert np.allclose(m, Rotation.from_euler("XYZ", [-pitch, -yaw, -roll], degrees=True).as_matrix(), atol=1e-12)


@given(st.floats(-179, 179), st.floats(-89, 89), st.floats(-179, 179))
def test_angles_round_trip(pitch, yaw, roll):
    a = torch.tensor([pitch, yaw, roll], dtype=torch.float64)
    back = torch.stack(R.matrix_to_angles(R.angles_to_matrix(*a)))
    assert torch.allclose(back, a, atol=1e-7)


def test_angles_batched_signs_and_gradient():
    p = torch.zeros(4, 5, dtype=torch.float64, requires_grad=True)
    m = R.angles_to_matrix(p, 10.0, torch.zeros(5, dtype=torch.float64))  # broadcasts to [4, 5]
    assert m.shape == (4, 5, 3, 3)
    m[..., 1, 2].sum().backward()
    assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    front, top = torch.tensor([0.0, 0.0, -1.0]), torch.tensor([0.0, -1.0, 0.0])  # rows: x' = x R
    assert (front @ R.angles_to_matrix(0.0, 30.0, 0.0))[0] < -0.4  # +yaw: front toward the image left
    assert (front @ R.angles_to_matrix(30.0, 0.0, 0.0))[1] > 0.4  # +pitch: front down (y down)
    assert (top @ R.angles_to_matrix(0.0, 0.0, 30.0))[0] > 0.4  # +roll: clockwise in the image
