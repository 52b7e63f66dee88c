"""sandbox.losses.keypoint: the implicit-keypoint auto-encoder's losses."""
from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.losses.keypoint import (
    equivariance_loss,
    keypoint_prior,
    pyramid_l1,
    random_affine,
    warp_affine,
    wing_loss,
)


def test_pyramid_l1_is_zero_only_for_equal_images():
    a = torch.rand(2, 3, 16, 16)
    assert pyramid_l1(a, a) == 0
    assert pyramid_l1(a, a + 0.1) > 0.09


def test_keypoint_prior_pushes_close_points_apart_and_holds_the_depth():
    spread = torch.tensor([[[-0.5, -0.5, 0.33], [0.5, -0.5, 0.33], [0.0, 0.5, 0.33]]])
    assert keypoint_prior(spread) < 1e-6
    collapsed = torch.zeros(1, 3, 3) + torch.tensor([0.0, 0.0, 0.33])
    assert keypoint_prior(collapsed) > 0.5  # 6 ordered pairs x margin 0.1
    deep = spread + torch.tensor([0.0, 0.0, 0.2])
    assert abs(float(keypoint_prior(deep)) - 0.2) < 1e-5


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_equivariance_is_zero_for_keypoints_that_move_with_the_image(seed):
    g = torch.Generator().manual_seed(seed)
    theta = random_affine(2, generator=g)
    kp_warped = torch.rand(2, 5, 3, generator=g) * 1.6 - 0.8
    kp = kp_warped.clone()
    kp[..., :2] = kp_warped[..., :2] @ theta[:, :, :2].transpose(1, 2) + theta[:, None, :, 2]
    assert equivariance_loss(kp, kp_warped, theta) < 1e-6
    assert equivariance_loss(kp + 0.05, kp_warped, theta) > 0.03


def test_warp_affine_moves_a_dot_where_the_equivariance_loss_expects_it():
    """A bright dot at input position x shows up in the warped image at x' with theta [x', 1] = x."""
    size = 64
    img = torch.zeros(1, 1, size, size)
    img[0, 0, 40, 20] = 1.0  # row 40 (y), column 20 (x)
    theta = torch.tensor([[[1.0, 0.0, 0.25], [0.0, 1.0, -0.125]]])  # shift the sampling by (8, -4) px
    out = warp_affine(img, theta)
    y, x = divmod(int(out.flatten().argmax()), size)
    to_norm = lambda p: (p + 0.5) * 2 / size - 1  # noqa: E731
    xy_out = torch.tensor([[[to_norm(x), to_norm(y)]]])
    xy_in = torch.tensor([[[to_norm(20), to_norm(40)]]])
    assert equivariance_loss(xy_in, xy_out, theta) < 1e-5


def test_wing_loss_is_continuous_steep_near_zero_and_masked():
    w, c = 0.1, 0.02
    below = wing_loss(torch.full((1, 1, 1), w - 1e-6), torch.zeros(1, 1, 1), w, c)
    above = wing_loss(torch.full((1, 1, 1), w + 1e-6), torch.zeros(1, 1, 1), w, c)
    assert abs(float(below) - float(above)) < 1e-4
    small = float(wing_loss(torch.full((1, 1, 1), 0.01), torch.zeros(1, 1, 1), w, c))
    assert small > 0.01 * 2  # steeper than L1 near zero
    assert abs(small - w * math.log1p(0.01 / c)) < 1e-6
    pred = torch.stack([torch.zeros(4, 2), torch.ones(4, 2)])
    assert wing_loss(pred, torch.zeros(2, 4, 2), valid=torch.tensor([1.0, 0.0])) == 0
