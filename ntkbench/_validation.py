"""Argument checks shared by the public entry points (scikit-learn style: fail early, name the argument)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

DTYPES = {"float64": torch.float64, "float32": torch.float32}


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise a ValueError naming ``name``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; choose one of {', '.join(map(repr, allowed))}")
    return value


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_positive_float(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not v > 0 or v != v or v == float("inf"):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def check_dtype(dtype: Any) -> torch.dtype:
    """Accept a floating torch dtype or its name ('float64', 'float32')."""
    if isinstance(dtype, str):
        check_choice("dtype", dtype, DTYPES)
        return DTYPES[dtype]
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating torch dtype or one of {list(DTYPES)}, got {dtype!r}")
    return dtype


def check_device(device: Any) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device={device!r} is not a torch device; use 'cpu' or 'cuda[:i]'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but CUDA is not available here; use device='cpu'")
    return dev


def check_inputs(x: Any, d_in: int | None = None, name: str = "x") -> torch.Tensor:
    """Inputs must be a non-empty, finite, 2-D tensor with ``d_in`` columns."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (n, d), got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d), got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty: it needs at least one row")
    if d_in is not None and x.shape[1] != d_in:
        raise ValueError(f"{name} has {x.shape[1]} columns but the network expects d_in={d_in}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating tensor, got dtype {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def check_targets(y: Any, n: int, name: str = "y") -> torch.Tensor:
    """Targets: a finite tensor with ``n`` rows (shape (n,) or (n, k))."""
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor with {n} rows, got {type(y).__name__}")
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},) or ({n}, k), got {tuple(y.shape)}")
    if y.is_floating_point() and not bool(torch.isfinite(y).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return y
