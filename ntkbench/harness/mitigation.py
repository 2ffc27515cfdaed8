"""The σ-shrinking mitigation of 001 Sect. 3: detect and reduce the initialization's share of the test error.

The test loss of a GD-trained wide net is that of the kernel interpolant plus a term growing like σ^(2L)
(000 Thm 4, 001 Thm 2), so a net trained from a too-large initialization can be improved without any change of
architecture: (a) train from θ0 at a standard scale σ'; (b) retrain from the *same* θ0 at a smaller σ'' < σ';
(c) if the validation loss falls by a significant margin, (d) repeat with successively smaller σ until training
becomes impractically slow; (e) return the trained net with the smallest validation loss.

:func:`shrink_sigma` is the procedure on any data; :func:`run_mitigation` runs it on the embedded MNIST 0 vs 1 at
a profile and writes ``OUT/<profile>/mitigation/{mitigation.json, data.csv, figure.png}`` for the report.

Each round trains a wide net to its threshold (minutes at ``ci`` on a shared CPU), so both report progress:
``shrink_sigma(..., progress=callback)`` calls ``callback(round_number, Round, seconds)`` after every round, and
:func:`run_mitigation` prints one line per round to stderr by default (``progress=True``; ``False`` is silent).
"""

from __future__ import annotations

import math
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from .._validation import check_device
from ..experiments.trained import load_data, outputs, train_to_threshold
from ..networks import MLP
from . import spec, store
from .spec import Param, UsageError


@dataclass(frozen=True)
class Round:
    """One trained net of the procedure: its σ, losses (MSE) and training outcome."""

    sigma: float
    val_loss: float
    test_loss: float
    train_loss: float
    steps: int
    converged: bool


@dataclass(frozen=True)
class Mitigation:
    """The rounds in the order trained, the index of the returned net and why the procedure stopped."""

    history: tuple[Round, ...]
    chosen: int
    stop_reason: str
    params: Any = None  # the chosen net's trained parameters

    @property
    def chosen_sigma(self) -> float:
        return self.history[self.chosen].sigma


def shrink_sigma(make_net: Callable[[float], Any], x_train: torch.Tensor, y_train: torch.Tensor,
                 x_val: torch.Tensor, y_val: torch.Tensor, *, sigma_start: float, factor: float = 0.7,
                 min_improvement: float = 0.05, seed: int = 0, c: float = 1.0, threshold: float = 1e-4,
                 max_steps: int = 20000, max_rounds: int = 8, x_test: torch.Tensor | None = None,
                 y_test: torch.Tensor | None = None,
                 progress: Callable[[int, Round, float], None] | None = None) -> Mitigation:
    """001 Sect. 3, steps (a)–(e). ``make_net(σ)`` builds the net at scale σ; every round starts from the same
    θ0 = ``make_net(σ).init(seed)`` (in the NTK parametrization the N(0, 1) weights do not depend on σ).

    A round trains by full-batch GD (learning rate c/λ_max(Θ)) until ½‖f(X) − Y‖² < ``threshold``. The procedure
    continues while the validation MSE falls by more than ``min_improvement`` (relative) per round, and stops when a
    round does not, when a round hits ``max_steps`` without reaching the threshold ("training impractically slow";
    such a net is not eligible), or after ``max_rounds``. Returns the converged net with the smallest validation
    loss. ``x_test``/``y_test`` are only evaluated (reported), never used for a decision. ``progress``, if given, is
    called after every round with the round's number (1, 2, …), its :class:`Round` and its wall-clock seconds."""
    if not sigma_start > 0:
        raise ValueError(f"sigma_start must be > 0, got {sigma_start!r}")
    if not 0 < factor < 1:
        raise ValueError(f"factor must be in (0, 1) (each round shrinks σ), got {factor!r}")
    if not 0 <= min_improvement < 1:
        raise ValueError(f"min_improvement must be in [0, 1), got {min_improvement!r}")
    if max_rounds < 1:
        raise ValueError(f"max_rounds must be >= 1, got {max_rounds!r}")
    history: list[Round] = []
    trained: list[Any] = []
    sigma, reason = float(sigma_start), ""
    while True:
        t0 = time.perf_counter()
        net = make_net(sigma)
        _, res, _ = train_to_threshold(net, [seed], x_train, y_train, c=c, threshold=threshold, max_steps=max_steps)
        f_val = outputs(net, res.params, x_val)[0]
        f_test = outputs(net, res.params, x_test)[0] if x_test is not None else None
        history.append(Round(
            sigma=sigma, val_loss=float(((f_val - y_val) ** 2).mean()),
            test_loss=float(((f_test - y_test) ** 2).mean()) if f_test is not None else math.nan,
            train_loss=float(res.final_loss[0]), steps=int(res.steps[0]), converged=bool(res.converged[0])))
        trained.append({k: v[0] for k, v in res.params.items()})
        last = history[-1]
        if progress is not None:
            progress(len(history), last, time.perf_counter() - t0)
        if not last.converged:
            reason = (f"σ = {sigma:.3g} did not reach the training threshold {threshold:g} in {max_steps} steps: "
                      "training became impractically slow (step d)")
            break
        if len(history) >= 2:
            prev = history[-2]  # converged, or the loop would have stopped there
            if last.val_loss > (1 - min_improvement) * prev.val_loss:
                reason = (f"the validation loss fell by less than {min_improvement:.0%} from σ = {prev.sigma:.3g} "
                          f"to σ = {sigma:.3g} (step c)")
                break
        if len(history) >= max_rounds:
            reason = f"max_rounds = {max_rounds} reached"
            break
        sigma *= factor
    eligible = [i for i, r in enumerate(history) if r.converged]
    if not eligible:
        raise RuntimeError(f"no round reached the training threshold {threshold:g} (σ_start = {sigma_start:g}); "
                           "raise max_steps or the threshold")
    chosen = min(eligible, key=lambda i: history[i].val_loss)
    return Mitigation(history=tuple(history), chosen=chosen, stop_reason=reason, params=trained[chosen])


# ----- the procedure as a reproducible run on the embedded data ------------------------------------------------------
PARAMS = (
    Param("dataset", "mnist01", "mnist01", "mnist01", "embedded data set", kind="str", choices=("mnist01",)),
    Param("pca", 5, 20, 0, help="0 = raw pixels, k = whiten on k principal components", kind="int", low=0, high=784),
    Param("n_train", 12, 50, 100, help="training points", kind="int", low=1),
    Param("n_val", 20, 100, 100, help="validation points (the procedure's decisions)", kind="int", low=1),
    Param("n_test", 20, 100, 100, help="held-out test points (reported only)", kind="int", low=1),
    Param("data_seed", 0, 0, 0, help="seed of the split", kind="int", low=0),
    Param("depth", 2, 3, 3, help="number of weight layers L", kind="int", low=2),
    Param("width", 64, 800, 1500, help="hidden width m", kind="int", low=1),
    Param("sigma_start", 4.0, 2.0, math.sqrt(2.0),
          help="σ' of step (a) (paper: He et al.'s √2 for ReLU; ci starts at 2)", kind="float", low=0, low_open=True),
    Param("factor", 0.5, 0.7, 0.8, help="σ'' = factor · σ' per round (step b)", kind="float", low=0, low_open=True,
          high=0.999),
    Param("min_improvement", 0.05, 0.05, 0.05, help="relative fall of the validation loss that counts as "
                                                    "significant (step c)", kind="float", low=0),
    Param("seed", 0, 0, 0, help="seed of θ0 (the same in every round)", kind="int", low=0),
    Param("threshold", 1e-3, 1e-4, 1e-4, help="training loss ½‖f(X) − Y‖² to reach", kind="float", low=0,
          low_open=True),
    Param("max_steps", 2000, 20000, 200000, help="steps after which training counts as impractically slow",
          kind="int", low=1),
    Param("max_rounds", 3, 8, 12, help="at most this many nets", kind="int", low=1),
    Param("lr_c", 1.0, 1.0, 1.0, help="learning rate c/λ_max(Θ(X, X))", kind="float", low=0, low_open=True, high=2),
)


def resolve(profile: str = spec.DEFAULT_PROFILE, sets: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The parameters at ``profile`` with ``--set`` overrides (text or values); unknown keys are usage errors."""
    spec.check_profile(profile)
    by_name = {p.name: p for p in PARAMS}
    values = {p.name: p.value(profile) for p in PARAMS}
    for key, value in (sets or {}).items():
        if key not in by_name:
            raise UsageError(f"--set {key}: mitigate has no such parameter; allowed keys: {', '.join(by_name)}")
        p = by_name[key]
        values[key] = p.parse(value) if isinstance(value, str) else p.check(value)
    return values


def stderr_progress(max_rounds: int | None = None, stream=None) -> Callable[[int, Round, float], None]:
    """A ``progress`` callback for :func:`shrink_sigma` that prints one line per round, e.g.
    ``mitigate: round 2/8  σ = 1.4  validation MSE 0.0312  test MSE 0.0298  1834 steps  41.2 s``, to ``stream``
    (default: the current ``sys.stderr``), flushed at once."""

    def report(number: int, rnd: Round, seconds: float) -> None:
        of = f"/{max_rounds}" if max_rounds else ""
        slow = "" if rnd.converged else "  (did not reach the threshold)"
        print(f"mitigate: round {number}{of}  σ = {rnd.sigma:.4g}  validation MSE {rnd.val_loss:.4g}  "
              f"test MSE {rnd.test_loss:.4g}  {rnd.steps} steps  {seconds:.1f} s{slow}",
              file=stream or sys.stderr, flush=True)

    return report


def run_mitigation(profile: str = spec.DEFAULT_PROFILE, sets: Mapping[str, Any] | None = None,
                   out: str | Path | None = None, device: str = "cpu",
                   progress: bool | Callable[[int, Round, float], None] = True) -> dict[str, Any]:
    """Run :func:`shrink_sigma` on the embedded MNIST 0 vs 1 at ``profile``; return the summary dict (and, with
    ``out``, write it with the rounds and a figure under ``OUT/<profile>/mitigation/``). Bad arguments raise
    :class:`UsageError`; a failure inside is returned as ``status="error"`` with its traceback.

    ``progress=True`` (the default, so ``ntkbench mitigate`` shows it) prints a start line and one line per round
    to stderr (:func:`stderr_progress`); ``False`` prints nothing; a callable is passed on to :func:`shrink_sigma`."""
    from .runner import Context, versions

    params = resolve(profile, sets)
    check_device(device)
    if progress is True:
        callback: Callable[[int, Round, float], None] | None = stderr_progress(params["max_rounds"])
        print(f"mitigate ({profile}): L = {params['depth']}, m = {params['width']}, N = {params['n_train']}; "
              f"σ from {params['sigma_start']:.4g}, ×{params['factor']:g} per round while the validation loss falls "
              f"by > {params['min_improvement']:.0%}; each round trains to {params['threshold']:g} "
              f"(≤ {params['max_steps']} steps)", file=sys.stderr, flush=True)
    elif progress is False or progress is None:
        callback = None
    elif callable(progress):
        callback = progress
    else:
        raise UsageError(f"progress must be True, False or a callable, got {progress!r}")
    ctx = Context(device=str(device))
    t0 = time.perf_counter()
    summary: dict[str, Any] = {"profile": profile, "params": params, "status": "error", "error": "", "history": [],
                               "figure": "", "versions": versions(device)}
    try:
        n_val = params["n_val"]
        ds = load_data({**params, "n_test": n_val + params["n_test"], "seed_offset": 0}, ctx)
        x_val, y_val, x_test, y_test = ds.x_test[:n_val], ds.y_test[:n_val], ds.x_test[n_val:], ds.y_test[n_val:]

        def make_net(sigma: float) -> MLP:
            return MLP(d_in=ds.d_in, width=params["width"], depth=params["depth"], sigma=sigma, bias="zero",
                       dtype=ctx.dtype, device=ctx.device)

        m = shrink_sigma(make_net, ds.x_train, ds.y_train, x_val, y_val, sigma_start=params["sigma_start"],
                         factor=params["factor"], min_improvement=params["min_improvement"], seed=params["seed"],
                         c=params["lr_c"], threshold=params["threshold"], max_steps=params["max_steps"],
                         max_rounds=params["max_rounds"], x_test=x_test, y_test=y_test, progress=callback)
        first, best = m.history[0], m.history[m.chosen]
        summary.update(status="ok", history=[asdict(r) for r in m.history], chosen_sigma=best.sigma,
                       stop_reason=m.stop_reason, val_loss_start=first.val_loss, val_loss_chosen=best.val_loss,
                       test_loss_start=first.test_loss, test_loss_chosen=best.test_loss)
    except Exception:  # noqa: BLE001 - recorded, like a claim's error
        summary["error"] = traceback.format_exc()
    summary["seconds"] = time.perf_counter() - t0
    if out is not None:
        folder = Path(out, profile, "mitigation")
        if summary["history"]:
            data = pd.DataFrame(summary["history"])
            store.write_csv(folder / "data.csv", data)
            from .figures import render

            store.atomic_write_bytes(folder / "figure.png", render(_figure, data, summary, params, ()))
            summary["figure"] = "figure.png"
        store.atomic_write_text(folder / "mitigation.json", store.to_json(summary))
    return summary


def _figure(data: pd.DataFrame, summary, params, expects):
    from .figures import subplots

    fig, (ax,) = subplots(1)
    for col, label, marker in (("val_loss", "validation", "o"), ("test_loss", "test (held out)", "s")):
        ax.plot(data["sigma"], data[col], marker=marker, label=label)
    slow = data[~data["converged"]]
    if len(slow):
        ax.scatter(slow["sigma"], slow["val_loss"], s=120, facecolors="none", edgecolors="red",
                   label="did not reach the threshold")
    ax.axvline(summary["chosen_sigma"], color="grey", ls=":", label=f"chosen σ = {summary['chosen_sigma']:.3g}")
    ax.set(xscale="log", yscale="log", xlabel="σ", ylabel="MSE",
           title=f"001 Sect. 3: shrink σ from {params['sigma_start']:.3g} (L = {params['depth']}, "
                 f"m = {params['width']})")
    ax.invert_xaxis()
    ax.legend(fontsize=7)
    return fig
