import pytest
import torch


@pytest.fixture
def rng():
    return torch.Generator().manual_seed(1234)


def randn(*shape, gen=None):
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def pytest_configure(config):
    """Register the markers of the claim families found in the registry, so that --strict-markers accepts them
    and a new family needs no edit here."""
    from ntkbench.harness import registry

    for family in registry.families():
        marker = family.replace("-", "_")  # init-scale → init_scale (pytest -m init_scale)
        config.addinivalue_line("markers", f"{marker}: the registered claims of family {family}")
