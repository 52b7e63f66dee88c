"""experiments.lia_flows: the split of landmark motion into an affine map and the rest, and its slopes."""
import numpy as np
import torch

from experiments.lia_flows import motion_slopes
from sandbox.losses.image import affine_fit, sample_at


def _motion(seed: int = 0):
    """Driving landmarks, and a true displacement: a rotation + scale + shift of them plus local motion."""
    g = torch.Generator().manual_seed(seed)
    driving = torch.rand(6, 40, 2, generator=g) * 1.6 - 0.8
    a = torch.eye(2) + 0.05 * torch.randn(6, 2, 2, generator=g)
    t = 0.1 * torch.randn(6, 1, 2, generator=g)
    local = torch.zeros(6, 40, 2)
    local[:, :10] = 0.02 * torch.randn(6, 10, 2, generator=g)
    return driving, driving @ a.transpose(1, 2) + t + local - driving


def test_affine_fit_recovers_an_affine_map_and_leaves_no_residual():
    driving, _ = _motion()
    coef = torch.randn(6, 3, 2, dtype=torch.float64).float()
    target = torch.cat([driving, torch.ones_like(driving[..., :1])], -1) @ coef
    got, resid = affine_fit(driving, target)
    torch.testing.assert_close(got, coef, atol=1e-4, rtol=1e-4)
    assert resid.abs().max() < 1e-4


def test_motion_slopes_are_one_for_the_truth_and_scale_with_each_part():
    driving, true = _motion()
    groups = {"local": np.arange(10)}
    full = motion_slopes(true, true, driving, groups)
    assert all(abs(v - 1) < 1e-6 for v in full.values()), full
    half = motion_slopes(0.5 * true, true, driving, groups)
    assert all(abs(half[k] - 0.5) < 1e-6 for k in ("translation", "linear", "local")), half
    # only the shift drawn: translation kept, linear part and local motion lost
    shift_only = affine_fit(driving, driving + true)[0][:, 2:3]
    drawn = motion_slopes(shift_only.expand_as(true).clone(), true, driving, groups)
    assert abs(drawn["translation"] - 1) < 1e-6 and abs(drawn["linear"]) < 1e-6 and abs(drawn["local"]) < 1e-6


def test_sample_at_reads_a_field_at_normalised_points():
    field = torch.zeros(1, 2, 8, 8)
    field[0, 0, 2, 5] = 1.0  # row 2, column 5
    pts = torch.tensor([[[(2 * 5 + 1) / 8 - 1, (2 * 2 + 1) / 8 - 1], [0.9, -0.9]]])
    got = sample_at(field, pts)
    assert got.shape == (1, 2, 2)
    assert got[0, 0, 0] == 1.0 and got[0, 1, 0] == 0.0
