"""ruff (configured in pyproject.toml) passes on the whole tree: run with the test suite, so CI runs it."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def test_ruff_passes():
    root = Path(__file__).parents[1]
    cmd = [sys.executable, "-m", "ruff"] if shutil.which("ruff") is None else ["ruff"]
    try:
        res = subprocess.run([*cmd, "check", str(root)], capture_output=True, text=True, timeout=120, cwd=root)
    except FileNotFoundError:
        pytest.fail("ruff is not installed: pip install -e '.[dev]'")
    assert res.returncode == 0, res.stdout[-3000:]
