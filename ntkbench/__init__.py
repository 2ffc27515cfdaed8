"""ntkbench: reproducible checks of wide-network / neural-tangent-kernel theory.

The engine: networks as pure functions of (params, x) (:mod:`ntkbench.networks`), empirical and analytic
tangent kernels (:mod:`ntkbench.kernels`, :mod:`ntkbench.analytic`), linearization and kernel closed forms
(:mod:`ntkbench.linearize`), training (:mod:`ntkbench.train`, :mod:`ntkbench.losses`,
:mod:`ntkbench.optimizers`), embedded data (:mod:`ntkbench.data`) and exponent fits (:mod:`ntkbench.fit`).

The experiments (:mod:`ntkbench.experiments`: what each claim measures at one sweep point) belong with the engine:
together they are the code that keys the cache of sweep points. The claims (:mod:`ntkbench.claims`: declarations,
checks, figures) and the harness (:mod:`ntkbench.harness`: registry, runner, scheduler, store, report, calibration,
plans, catalogue, CLI) are imported on first use: after ``import ntkbench``, ``ntkbench.runner.run_claim(...)`` works
(``ntkbench.runner`` is ``ntkbench.harness.runner``), while importing the engine loads neither matplotlib nor the
claim families.
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

        for where in (f"{__name__}.harness", __name__):  # a harness module by its short name too: ntkbench.runner
            if importlib.util.find_spec(f"{where}.{name}") is not None:
                module = importlib.import_module(f"{where}.{name}")
                globals()[name] = module
                return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    import pkgutil
    from pathlib import Path

    harness = [str(Path(__file__).parent / "harness")]  # listed, not imported: `import ntkbench` stays light
    return sorted(set(globals()) | {m.name for path in (__path__, harness)
                                    for m in pkgutil.iter_modules(path) if not m.name.startswith("_")})


__all__ = [
    "ASI", "LR_GRID", "MLP", "REFERENCE_SUFFIX", "RND", "Centered", "FixedNorm", "IllConditionedKernel", "Loss",
    "TrainResult",
    "analytic_nngp", "analytic_ntk", "data", "decomposition", "doubling_trick", "empirical_ntk", "fit",
    "gd_finite_time", "gd_infinite_time", "init_ensemble", "kernel_interpolant", "linearize",
    "lr_from_ntk", "monotone_lr", "split_buffers", "stack_params", "train", "train_ensemble", "unstack_params",
]
