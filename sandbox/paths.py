"""Where cached artifacts live. Override with the SANDBOX_CACHE environment variable."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
ASSETS_DIR = PACKAGE_DIR / "assets"


def cache_dir() -> Path:
    """Root of all cached artifacts (datasets, fitted models, head model)."""
    root = Path(os.environ.get("SANDBOX_CACHE", Path.cwd() / ".cache")).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root
