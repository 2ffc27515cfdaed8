"""Family D of the catalogue, part 2 — the jamming transition (source 004 Sect. 1.1, 2, 6, Fig. 2, Fig. 7, Methods).

The set-up is part 1's (:mod:`.scaling`): MNIST parity on whitened principal components, orthogonal ReLU nets with
zero biases, the square-hinge loss with margin 1 and no regularization, full-batch Adam at the sign-step rate until
the loss is exactly 0 or ``max_steps`` (004 §1.1: "stopped as soon as the training loss hits its lowest possible
value"). The width sweep crosses the jamming point N*, "the smallest value of N for which we reach the lowest
possible loss at the end of training" (004 §1.1): below it some training patterns stay unsatisfied (y f < 1; 004
Fig. 2B) — that is the physics, not a failed experiment — and near it training slows down, so the outcome at
``max_steps`` is recorded per member, with the number of unsatisfied patterns.

:func:`jamming_point` measures one width; :func:`locate` reads N* and its bracket off the sweep.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from .scaling import MARGIN, _errors, train_members
from .trained import member_rows, member_seeds, outputs


#: a pattern counts as unsatisfied when y f < margin − UNSAT_GAP. Zero loss in double precision leaves gaps up to
#: ~1e-160 (their squares underflow: measured, 1 pattern in 16 nets at N = 265), which are satisfied patterns; a
#: member whose loss is exactly 0 has every gap below 1e-6, so it counts none.
UNSAT_GAP = 1e-6


# ----- the experiment ---------------------------------------------------------------------------------------------
def norm_column(t: int) -> str:
    """The column of ‖f‖_μ after ``t`` training steps."""
    return f"norm_t{int(t)}"


def jamming_point(point: Mapping[str, Any], ctx) -> pd.DataFrame:
    """One sweep point (a width h): ``members`` nets of part 1's set-up trained for at most ``max_steps``; one row
    per member with N (``n_params``), its training outcome (``converged``: the loss reached exactly 0), and

    * ``unsat``: the training patterns left unsatisfied, y f < margin − ``UNSAT_GAP`` (004 Fig. 2B; a member whose
      loss is exactly 0 has none), ``train_err`` (sign errors on the training set) and ``test_err``;
    * ``norm`` = ‖f‖_μ at the end and ``norm_t<t>`` after t steps for every t of ``times`` (μ uniform over the
      training and the test points: 004 Fig. 7A; a member stopped before t counts with its final f);
    * ``ens_err``: the test error of the average output of the ``members`` nets (004 Fig. 2A's ensemble average).

    ``independent=false``: every member is a copy of the first (one initialization)."""
    count = point["members"] if point["independent"] else 1
    times = sorted({int(t) for t in point["times"]})
    if times and not 0 <= times[0] <= times[-1] <= point["max_steps"]:
        raise ValueError(f"times must be in [0, max_steps={point['max_steps']}], got {tuple(point['times'])}")
    ds, base, model, _, res, lr = train_members(point, ctx, point["width"], count, snapshot_steps=times)
    reps = point["members"] // count
    mu, n = torch.cat([ds.x_train, ds.x_test]), ds.x_train.shape[0]

    def norm(f: torch.Tensor) -> torch.Tensor:
        return f.pow(2).mean(dim=-1).sqrt().repeat(reps)

    f_mu = outputs(model, res.params, mu)
    f_train, f_test = f_mu[:, :n].repeat(reps, 1), f_mu[:, n:].repeat(reps, 1)
    rows = pd.concat([member_rows(res, member_seeds(point, count), threshold=0.0, lr=lr.tolist())] * reps,
                     ignore_index=True)
    return rows.assign(
        width=point["width"], n_params=base.n_params, depth=point["depth"],
        unsat=(ds.y_train * f_train < MARGIN - UNSAT_GAP).sum(dim=-1).tolist(),
        train_err=_errors(f_train, ds.y_train).tolist(), test_err=_errors(f_test, ds.y_test).tolist(),
        ens_err=float(_errors(f_test.mean(dim=0), ds.y_test)), norm=norm(f_mu).tolist(),
        **{norm_column(t): norm(outputs(model, p, mu)).tolist() for t, p in res.snapshots.items()})


# ----- locating N* ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Jamming:
    """Where the sweep places N*: ``n_lo`` the largest swept N at which fewer than ``fraction`` of the members fitted
    the training set (NaN when none: the sweep starts above N*), ``n_hi`` the next swept N (NaN when ``n_lo`` is the
    largest: the sweep ends below N*); N* lies in (n_lo, n_hi]. ``counts``: per swept N, (N, fitted members,
    members, mean unsatisfied patterns)."""

    n_lo: float
    n_hi: float
    fraction: float
    counts: tuple[tuple[int, int, int, float], ...]

    @property
    def bracketed(self) -> bool:
        return bool(np.isfinite(self.n_lo) and np.isfinite(self.n_hi))

    def text(self) -> str:
        per_n = ", ".join(f"N = {n}: {k}/{m} fitted, {u:.3g} unsatisfied" for n, k, m, u in self.counts)
        if not self.bracketed:
            where = "the sweep starts above N*" if not np.isfinite(self.n_lo) else "the sweep ends below N*"
            return f"N* not bracketed ({where}); {per_n}"
        return f"N* in ({self.n_lo:g}, {self.n_hi:g}] (first N with ≥ {self.fraction:g} of the members fitted " \
               f"above the last with fewer); {per_n}"


def locate(data: pd.DataFrame, fraction: float = 0.5) -> Jamming:
    """N* from the sweep's rows (one per member, columns ``n_params``, ``converged``, ``unsat``): above the last
    swept N where fewer than ``fraction`` of the members reached zero loss (004 §1.1's "smallest N for which we reach
    the lowest possible loss", read per ensemble: a rare member trapped above N* — measured: 1 in 8 at P = 200 —
    does not move it, as it would with "every member")."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    g = data.groupby("n_params").agg(fitted=("converged", "sum"), members=("converged", "size"),
                                     unsat=("unsat", "mean")).sort_index()
    counts = tuple((int(n), int(r.fitted), int(r.members), float(r.unsat)) for n, r in g.iterrows())
    jammed = g.index[g["fitted"] < fraction * g["members"]]
    if jammed.empty:
        return Jamming(np.nan, np.nan, fraction, counts)
    n_lo = float(jammed.max())
    above = g.index[g.index > n_lo]
    return Jamming(n_lo, float(above.min()) if len(above) else np.nan, fraction, counts)
