"""The shared classifier-free guidance component."""
import pytest
import torch

from generators.guidance import Guidance


def make(mode="incremental", null="zero", p=None):
    return Guidance(
        ["audio", "emotion"],
        mode=mode,
        null=null,
        dims={"audio": 4, "emotion": 7, "ref": 3},
        drop_prob=p if p is not None else {"audio": 0.1, "ref": 0.1, "emotion": 0.1},
    )


def branch_outputs(branches, b=2):
    """Distinct, recognisable per-branch outputs: branch k is filled with values_k."""
    return {br: torch.randn(b, 5, 3) for br in branches}


def stacked(g, outs, scales):
    return torch.cat([outs[br] for br in g.branches(scales)], dim=0)


def test_incremental_matches_float_eq14():
    g = make("incremental")
    scales = {"audio": 2.0, "emotion": 1.5}
    br = g.branches(scales)
    assert br == [frozenset(), frozenset({"audio"}), frozenset({"audio", "emotion"})]
    o = branch_outputs(br)
    vu, va, vae = o[br[0]], o[br[1]], o[br[2]]
    expected = vu + 2.0 * (va - vu) + 1.5 * (vae - va)
    assert torch.allclose(g.combine(stacked(g, o, scales), scales), expected)


def test_independent_combination():
    g = make("independent")
    scales = {"audio": 3.0, "emotion": 0.5}
    br = g.branches(scales)
    assert br == [frozenset(), frozenset({"audio"}), frozenset({"emotion"})]
    o = branch_outputs(br)
    vu, va, ve = o[br[0]], o[br[1]], o[br[2]]
    expected = vu + 3.0 * (va - vu) + 0.5 * (ve - vu)
    assert torch.allclose(g.combine(stacked(g, o, scales), scales), expected)


def test_unit_incremental_scales_collapse_to_one_branch():
    g = make("incremental")
    scales = {"audio": 1.0, "emotion": 1.0}
    assert g.n_branches(scales) == 1
    v = torch.randn(2, 5, 3)
    assert torch.equal(g.combine(v, scales), v)
    assert make("independent").n_branches(scales) == 3


def test_batch_nulls_guided_conditions_per_branch():
    g = make("incremental")
    scales = {"audio": 2.0, "emotion": 1.0}
    cond = {"audio": torch.randn(2, 5, 4) + 3, "emotion": torch.rand(2, 7) + 1, "ref": torch.randn(2, 3)}
    out = g.batch(cond, scales)
    a, e, r = out["audio"].chunk(3), out["emotion"].chunk(3), out["ref"].chunk(3)
    assert torch.equal(a[0], torch.zeros_like(cond["audio"])) and torch.equal(e[0], torch.zeros(2, 7))
    assert torch.equal(a[1], cond["audio"]) and torch.equal(e[1], torch.zeros(2, 7))
    assert torch.equal(a[2], cond["audio"]) and torch.equal(e[2], cond["emotion"])
    assert all(torch.equal(x, cond["ref"]) for x in r)  # not guided: kept everywhere


def test_drop_p1_gives_nulls_p0_leaves_unchanged():
    cond = {"audio": torch.randn(6, 5, 4), "emotion": torch.rand(6, 7), "ref": torch.randn(6, 3)}
    all_drop = make(p={"audio": 1.0, "emotion": 1.0, "ref": 1.0}).drop(cond)
    assert all(torch.equal(v, torch.zeros_like(v)) for v in all_drop.values())
    none_drop = make(p={"audio": 0.0, "emotion": 0.0, "ref": 0.0}).drop(cond)
    assert all(torch.equal(none_drop[k], cond[k]) for k in cond)


def test_drop_is_per_sample_with_learned_null():
    g = make(null="learned", p={"audio": 0.5})
    with torch.no_grad():
        g.nulls["audio"].fill_(7.0)
    cond = {"audio": torch.randn(400, 2, 4)}
    out = g.drop(cond, generator=torch.Generator().manual_seed(0))["audio"]
    dropped = (out == 7.0).all(dim=(1, 2))
    kept = (out == cond["audio"]).all(dim=(1, 2))
    assert torch.all(dropped ^ kept)  # each sample wholly dropped or wholly kept
    assert 0.4 < dropped.float().mean().item() < 0.6


def test_scales_must_name_guided_conditions():
    g = make()
    with pytest.raises(ValueError, match="ref"):
        g.branches({"audio": 1.0, "emotion": 1.0, "ref": 2.0})
    with pytest.raises(ValueError, match="emotion"):
        g.branches({"audio": 1.0})
