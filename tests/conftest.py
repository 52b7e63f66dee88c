import os

import pytest

os.environ.setdefault("SANDBOX_NO_PROGRESS", "1")
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import sandbox  # noqa: E402,F401  (sets NUMBA_CPU_NAME before any test imports librosa)


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    torch.set_num_threads(1)
    yield
