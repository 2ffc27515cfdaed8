import pytest
import torch


@pytest.fixture
def rng():
    return torch.Generator().manual_seed(1234)


def randn(*shape, gen=None):
    return torch.randn(*shape, generator=gen, dtype=torch.float64)
