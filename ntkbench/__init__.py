"""ntkbench: reproducible checks of wide-network / neural-tangent-kernel theory.

The engine: networks as pure functions of (params, x) (:mod:`ntkbench.networks`), empirical and analytic
tangent kernels (:mod:`ntkbench.kernels`, :mod:`ntkbench.analytic`), linearization and kernel closed forms
(:mod:`ntkbench.linearize`), training (:mod:`ntkbench.train`, :mod:`ntkbench.losses`,
:mod:`ntkbench.optimizers`), embedded data (:mod:`ntkbench.data`) and exponent fits (:mod:`ntkbench.fit`).
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
from .networks import ASI, MLP, Centered, doubling_trick
from .train import TrainResult, init_ensemble, lr_from_ntk, stack_params, train, train_ensemble, unstack_params

__version__ = "0.1.0"

__all__ = [
    "ASI", "MLP", "Centered", "IllConditionedKernel", "Loss", "TrainResult",
    "analytic_nngp", "analytic_ntk", "data", "decomposition", "doubling_trick", "empirical_ntk", "fit",
    "gd_finite_time", "gd_infinite_time", "init_ensemble", "kernel_interpolant", "linearize",
    "lr_from_ntk", "stack_params", "train", "train_ensemble", "unstack_params",
]
