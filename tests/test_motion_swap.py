"""experiments.motion_swap: the principal components kept, the swap of a subspace, the components' labels."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.motion_swap import (
    arms_of,
    at_amplitude,
    jaw_direction,
    label,
    outside_share,
    principal_components,
    swap,
)


def _low_rank(seed: int, rank: int = 3, dim: int = 8, n: int = 500) -> np.ndarray:
    """[n, dim] motion spanning ``rank`` directions plus a trace of noise, like a fit's collapsed code."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, rank)) * [3.0, 2.0, 1.0][:rank] @ rng.normal(size=(rank, dim)) \
        + 1e-3 * rng.normal(size=(n, dim)) + 5.0


def test_principal_components_keep_the_motion_s_rank_orthonormal_and_largest_first():
    mean, basis, var = principal_components(_low_rank(0))
    assert basis.shape == (8, 3)  # the three directions, not the noise
    np.testing.assert_allclose(basis.T @ basis, np.eye(3), atol=1e-8)
    assert (np.diff(var) < 0).all() and np.allclose(mean, _low_rank(0).mean(0))
    assert principal_components(_low_rank(0), keep=0.5)[1].shape[1] < 3


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 3))
def test_swap_takes_the_subspace_from_other_and_the_rest_from_base(seed, j):
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(8, 3)))[0][:, :j]
    base, other = rng.normal(size=(20, 8)), rng.normal(size=(20, 8))
    out = swap(base, other, basis)
    np.testing.assert_allclose(out @ basis, other @ basis, atol=1e-10)
    rest = np.eye(8) - basis @ basis.T
    np.testing.assert_allclose(out @ rest, base @ rest, atol=1e-10)
    np.testing.assert_allclose(swap(base, base, basis), base, atol=1e-10)  # swapping with itself changes nothing


def test_label_finds_the_component_that_follows_the_jaw():
    rng = np.random.default_rng(1)
    jaw, rot = rng.normal(size=300), rng.normal(size=(300, 3))
    coords = np.c_[rot[:, 1] + 0.1 * rng.normal(size=300), -jaw + 0.1 * rng.normal(size=300), rng.normal(size=300)]
    cj, cr = label(coords, jaw, rot)
    assert np.argmax(np.abs(cj)) == 1 and cj[1] < -0.9
    assert cr.shape == (3, 3) and np.argmax(np.abs(cr[1])) == 0


def test_outside_share_is_zero_inside_the_span_and_one_orthogonal_to_it():
    rng = np.random.default_rng(2)
    basis = np.linalg.qr(rng.normal(size=(6, 2)))[0]
    inside, noise = rng.normal(size=(50, 2)) @ basis.T, rng.normal(size=(50, 6))
    assert abs(outside_share(inside, basis)) < 1e-12
    assert abs(outside_share(noise - (noise @ basis) @ basis.T, basis) - 1.0) < 1e-12
    assert 0.5 < outside_share(noise, basis) < 0.9  # 4 of 6 directions: about two thirds


def test_jaw_direction_reads_the_jaw_spread_over_two_components_and_splits_the_span():
    rng = np.random.default_rng(3)
    basis = np.linalg.qr(rng.normal(size=(8, 4)))[0]
    coords = rng.normal(size=(400, 4)) * [3.0, 2.0, 1.5, 1.0]
    jaw = 0.6 * coords[:, 1] - 0.8 * coords[:, 2] + 0.05 * rng.normal(size=400)  # on no single component
    jaw_basis, other = jaw_direction(coords, jaw, basis)
    assert jaw_basis.shape == (8, 1) and other.shape == (8, 3)
    both = np.c_[jaw_basis, other]
    np.testing.assert_allclose(both.T @ both, np.eye(4), atol=1e-10)  # orthonormal
    np.testing.assert_allclose(both @ both.T, basis @ basis.T, atol=1e-10)  # the same span
    read = (coords @ basis.T) @ jaw_basis[:, 0]
    best_single = max(abs(np.corrcoef(coords[:, i], jaw)[0, 1]) for i in range(4))
    assert abs(np.corrcoef(read, jaw)[0, 1]) > 0.99 > best_single + 0.2


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.1, 5.0))
def test_at_amplitude_matches_the_reference_spread_along_the_direction_and_keeps_the_rest(seed, gain):
    rng = np.random.default_rng(seed)
    direction = np.linalg.qr(rng.normal(size=(6, 1)))[0]
    x, ref = rng.normal(size=(40, 6)) + 2.0, gain * rng.normal(size=(40, 6))
    out = at_amplitude(x, ref, direction)
    np.testing.assert_allclose((out @ direction).std(), (ref @ direction).std(), rtol=1e-9)
    np.testing.assert_allclose((out @ direction).mean(), (x @ direction).mean(), atol=1e-9)  # about its own mean
    rest = np.eye(6) - direction @ direction.T
    np.testing.assert_allclose(out @ rest, x @ rest, atol=1e-10)
    assert np.corrcoef((out @ direction)[:, 0], (x @ direction)[:, 0])[0, 1] > 0.999  # the timing is kept


def test_arms_of_names_each_seeds_dir_and_refuses_one_without_runs(tmp_path):
    for arm in ("a", "b"):
        for seed in ("0", "1"):
            (tmp_path / arm / seed / "samples").mkdir(parents=True)
    (tmp_path / "empty").mkdir()
    arms = arms_of([f"short={tmp_path / 'a'}", str(tmp_path / "b")], tmp_path / "run")
    assert list(arms) == ["short", "b"] and [r.name for r in arms["b"]] == ["0", "1"]
    assert arms_of(None, tmp_path / "run") == {"run": [tmp_path / "run"]}
    with pytest.raises(SystemExit, match="no run directory"):
        arms_of([str(tmp_path / "empty")], tmp_path / "run")
