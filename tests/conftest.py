"""Fixtures shared by the test files."""
from __future__ import annotations

import pytest


@pytest.fixture
def one_torch_thread():
    """Training tests run torch on one thread: bit-exact resumes, and no fight with the other core."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
