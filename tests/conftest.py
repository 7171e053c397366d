"""Suite-wide settings: no network, no real providers."""

import os

import pytest

# litellm otherwise fetches its price table over the network when imported.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny matrices: extra torch threads only add contention (10x slower on a busy 2-core box)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
