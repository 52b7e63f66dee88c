"""The notebooks under experiments/notebooks run top to bottom on the smoke preset (a broken cell fails
CI). They share one cache, so the smoke dataset and fits are built once for all of them."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "experiments" / "notebooks").glob("*.py"))


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("notebook_cache")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, shared_cache, tmp_path, monkeypatch):
    jupytext = pytest.importorskip("jupytext")
    from nbclient import NotebookClient

    monkeypatch.setenv("SANDBOX_CACHE", str(shared_cache))
    monkeypatch.setenv("SANDBOX_NO_PROGRESS", "1")
    monkeypatch.setenv("NOTEBOOK_PRESET", "smoke")
    monkeypatch.setenv("MPLBACKEND", "agg")
    nb = jupytext.read(path)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}},
                   env=dict(os.environ)).execute()
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code")


def test_a_broken_cell_fails(tmp_path):
    """The harness itself: a notebook whose cell raises is an error, not a pass."""
    jupytext = pytest.importorskip("jupytext")
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = jupytext.reads("# %%\nx = 1\n# %%\nassert x == 2, 'broken'\n", fmt="py:percent")
    with pytest.raises(CellExecutionError, match="broken"):
        NotebookClient(nb, timeout=60, kernel_name="python3").execute()
