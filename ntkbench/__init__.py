"""ntkbench: reproducible checks of wide-network / neural-tangent-kernel theory.

The engine: networks as pure functions of (params, x) (:mod:`ntkbench.networks`), empirical and analytic
tangent kernels (:mod:`ntkbench.kernels`, :mod:`ntkbench.analytic`), linearization and kernel closed forms
(:mod:`ntkbench.linearize`), training (:mod:`ntkbench.train`, :mod:`ntkbench.losses`,
:mod:`ntkbench.optimizers`), embedded data (:mod:`ntkbench.data`) and exponent fits (:mod:`ntkbench.fit`).

The harness — :mod:`ntkbench.registry`, :mod:`ntkbench.claims`, :mod:`ntkbench.runner`, :mod:`ntkbench.store`,
:mod:`ntkbench.report`, :mod:`ntkbench.mitigation`, :mod:`ntkbench.figures`, :mod:`ntkbench.catalogue`,
:mod:`ntkbench.cli` and any other submodule — is imported on first use: after ``import ntkbench``,
``ntkbench.runner.run_claim(...)`` works, while importing the engine loads neither matplotlib nor the claim families.
"""

from . import data, fit
from .analytic import analytic_nngp, analytic_ntk
from .kernels import empirical_ntk
from .linearize import (
    IllConditionedKernel,
    decomposition,
    gd_finite_time,
    gd_infinite_time,
    kernel_interpolant,
    linearize,
)
from .losses import Loss
from .networks import ASI, MLP, REFERENCE_SUFFIX, RND, Centered, FixedNorm, doubling_trick, split_buffers
from .train import (
    LR_GRID,
    TrainResult,
    init_ensemble,
    lr_from_ntk,
    monotone_lr,
    stack_params,
    train,
    train_ensemble,
    unstack_params,
)

__version__ = "0.1.0"


# Every other submodule (registry, claims, runner, store, report, cli, mitigation, figures, catalogue, ...) is imported
# on first attribute access (PEP 562), not by `import ntkbench`: they pull in matplotlib/seaborn and the claim
# families, which the engine does not need.
def __getattr__(name: str):
    if not name.startswith("_"):
        import importlib
        import importlib.util

        if importlib.util.find_spec(f"{__name__}.{name}") is not None:
            return importlib.import_module(f"{__name__}.{name}")  # also binds it as an attribute of the package
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    import pkgutil

    return sorted(set(globals()) | {m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")})


__all__ = [
    "ASI", "LR_GRID", "MLP", "REFERENCE_SUFFIX", "RND", "Centered", "FixedNorm", "IllConditionedKernel", "Loss",
    "TrainResult",
    "analytic_nngp", "analytic_ntk", "data", "decomposition", "doubling_trick", "empirical_ntk", "fit",
    "gd_finite_time", "gd_infinite_time", "init_ensemble", "kernel_interpolant", "linearize",
    "lr_from_ntk", "monotone_lr", "split_buffers", "stack_params", "train", "train_ensemble", "unstack_params",
]
