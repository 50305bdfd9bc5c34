"""Shared fixtures: deterministic seeds, 2 CPU threads, tiny configs."""

import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
