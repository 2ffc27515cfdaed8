"""What the claims of :mod:`ntkbench.claims.jamming` measure at one sweep point: the experiments (pure functions
of the point and the run context that return rows) and their helpers. With the engine they are the code that the
cache key hashes (:func:`ntkbench.harness.lifecycle.code_hash`); the checks, statistics and figures stay in the claims
module."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import torch

from .scaling import _errors, train_members
from .trained import member_rows, member_seeds, outputs

#: a pattern counts as unsatisfied when y f < margin − UNSAT_GAP: a member whose training loss was exactly 0 shows
#: gaps of a few 1e-16 when its outputs are recomputed in another order of summation (measured: 4.4e-16 on 3
#: patterns of one net at N = 465), which are satisfied patterns; 1e-6 is far above round-off, far below a margin.
UNSAT_GAP = 1e-6


# ----- the experiment ---------------------------------------------------------------------------------------------
def norm_column(t: int) -> str:
    """The column of ‖f‖_μ after ``t`` training steps."""
    return f"norm_t{int(t)}"


def jamming_point(point: Mapping[str, Any], ctx) -> pd.DataFrame:
    """One sweep point (a width h): ``members`` nets of part 1's set-up trained for at most ``max_steps``; one row
    per member with N (``n_params``), its training outcome (``converged``: the loss reached exactly 0), and

    * ``unsat``: the training patterns left unsatisfied, y f < margin − ``UNSAT_GAP`` (004 Fig. 2B; a member whose
      loss is exactly 0 has none; a member that diverged, whose outputs are not finite, has all), ``train_err``
      (sign errors on the training set) and ``test_err`` (a non-finite output counts as an error);
    * ``norm`` = ‖f‖_μ at the end and ``norm_t<t>`` after t steps for every t of ``times`` (μ uniform over the
      training and the test points: 004 Fig. 7A; a member stopped before t counts with its final f);
    * ``ens_err``: the test error of the average output of the ``members`` nets (004 Fig. 2A's ensemble average).

    ``correlation`` c > 0: the members' initializations are correlated (each a plain draw; every latent normal
    √c z_shared + √(1 − c) z_own); ``fixed_norm`` = λ > 0 trains :class:`~ntkbench.networks.FixedNorm` nets (‖f‖
    on the training inputs held at λ)."""
    count = point["members"]
    times = sorted({int(t) for t in point["times"]})
    if times and not 0 <= times[0] <= times[-1] <= point["max_steps"]:
        raise ValueError(f"times must be in [0, max_steps={point['max_steps']}], got {tuple(point['times'])}")
    ds, base, model, _, res, lr = train_members(point, ctx, point["width"], count, snapshot_steps=times,
                                                fixed_norm=point["fixed_norm"], correlation=point["correlation"])
    mu, n = torch.cat([ds.x_train, ds.x_test]), ds.x_train.shape[0]

    def norm(f: torch.Tensor) -> torch.Tensor:
        return f.pow(2).mean(dim=-1).sqrt()

    f_mu = outputs(model, res.params, mu)
    f_train, f_test = f_mu[:, :n], f_mu[:, n:]
    rows = member_rows(res, member_seeds(point, count), threshold=0.0, lr=lr.tolist())
    return rows.assign(
        width=point["width"], n_params=base.n_params, depth=point["depth"],
        unsat=(~(ds.y_train * f_train >= point["margin"] - UNSAT_GAP)).sum(dim=-1).tolist(),  # NaN: unsatisfied
        train_err=_errors(f_train, ds.y_train).tolist(), test_err=_errors(f_test, ds.y_test).tolist(),
        ens_err=float(_errors(f_test.mean(dim=0), ds.y_test)), norm=norm(f_mu).tolist(),
        **{norm_column(t): norm(outputs(model, p, mu)).tolist() for t, p in res.snapshots.items()})
