"""Family D part 2's building blocks (ntkbench.claims.jamming): the per-member rows of a width of the sweep and the
location of N*. The claims themselves are tested through the registry (tests/test_claims.py)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from ntkbench.claims import jamming

CTX = SimpleNamespace(dtype=torch.float64, device=torch.device("cpu"))


def _point(**kw):
    base = dict(dataset="mnist_parity", n_train=40, n_test=60, pca=5, data_seed=0, seed_offset=0, depth=3,
                members=4, bottleneck=0, centered=False, loss="square_hinge", optimizer="adam", lr=0.3,
                max_steps=400, width=3, times=(0, 50, 400), independent=True)
    return {**base, **kw}


def test_rows_of_a_jammed_and_of_a_fitted_width_match_their_definitions():
    narrow = jamming.jamming_point(_point(), CTX)  # h = 3: 34 parameters for 40 patterns, some stay unsatisfied
    assert len(narrow) == 4 and not narrow["converged"].any() and (narrow["steps"] == 400).all()
    assert (narrow["unsat"] > 0).all() and (narrow["train_loss"] > 0).all()
    assert np.array_equal(narrow["norm"], narrow["norm_t400"])
    wide = jamming.jamming_point(_point(width=40, max_steps=3000, times=(0, 3000)), CTX)
    assert wide["converged"].all() and (wide["unsat"] == 0).all() and (wide["train_err"] == 0).all()
    assert (wide["train_loss"] == 0).all() and np.array_equal(wide["norm"], wide["norm_t3000"])
    assert wide["n_params"].iloc[0] == 40 * 5 + 40 + 40 * 40 + 40 + 40 + 1
    # ‖f‖ at t = 0 is the initial net's; the ensemble average errs no more often than the average member here
    assert (wide["norm_t0"] != wide["norm"]).all() and wide["ens_err"].nunique() == 1
    copies = jamming.jamming_point(_point(width=40, max_steps=3000, times=(), independent=False), CTX)
    assert copies["seed"].nunique() == 1 and copies["norm"].nunique() == 1
    assert copies["ens_err"].iloc[0] == pytest.approx(copies["test_err"].iloc[0], abs=0)
    for bad in ((500,), (-1, 50)):
        with pytest.raises(ValueError, match="times must be"):
            jamming.jamming_point(_point(times=bad), CTX)


def _rows(spec):
    """Rows from {N: (fitted, members)}: the first ``fitted`` members converged."""
    rows = []
    for n, (k, m) in spec.items():
        for i in range(m):
            rows.append({"n_params": n, "converged": i < k, "unsat": 0 if i < k else 3})
    return pd.DataFrame(rows)


def test_locate_brackets_n_star_by_the_fitted_fraction():
    j = jamming.locate(_rows({50: (0, 4), 70: (1, 4), 90: (4, 4), 110: (3, 4), 130: (4, 4)}))
    assert (j.n_lo, j.n_hi) == (70.0, 90.0) and j.bracketed  # one trapped member at 110 does not move it
    assert j.counts[1] == (70, 1, 4, 2.25)
    assert "N* in (70, 90]" in j.text()
    strict = jamming.locate(_rows({50: (0, 4), 70: (1, 4), 90: (4, 4), 110: (3, 4), 130: (4, 4)}), fraction=1.0)
    assert (strict.n_lo, strict.n_hi) == (110.0, 130.0)
    above = jamming.locate(_rows({90: (4, 4), 110: (4, 4)}))
    assert not above.bracketed and math.isnan(above.n_lo) and "starts above N*" in above.text()
    below = jamming.locate(_rows({50: (0, 4), 70: (1, 4)}))
    assert not below.bracketed and below.n_lo == 70 and "ends below N*" in below.text()
    with pytest.raises(ValueError, match="fraction"):
        jamming.locate(_rows({50: (0, 4)}), fraction=0)
