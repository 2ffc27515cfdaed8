"""ntkbench.harness.estimate: the cost model's parts exactly, and the command against the committed timings."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from ntkbench.harness import cli, estimate, lifecycle, registry
from ntkbench.networks import MLP

RESULTS = Path(__file__).resolve().parents[1] / "results"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("point", "net"), [
    ({"dataset": "mnist01", "pca": 20, "depth": 3, "width": 800, "bias": "none", "seeds": 5},
     MLP(20, 800, 3, bias="none")),
    ({"dataset": "mnist01", "pca": 0, "depth": 2, "width": 4000, "width_factor": 0.25, "seeds": 5},
     MLP(784, 1000, 2)),
    ({"dataset": "mnist_parity", "pca": 10, "depth": 4, "width": 64, "bottleneck": 8, "members": 16},
     MLP(10, (64, 64, 8), 4)),
    ({"d_in": 3, "depth": 2, "width": 1024, "seed": 4}, MLP(3, 1024, 2)),
    ({"dataset": "sin1d", "depth": 2, "width": 250, "max_width": 100, "seeds": 4}, MLP(1, 100, 2)),
])
def test_size_counts_the_parameters_of_the_net_the_point_trains(point, net):
    s = estimate.size(point)
    assert s.params == net.n_params and s.units == sum(net.hidden) and s.layers == net.depth
    assert s.nets == point.get("members", point.get("seeds") if "seeds" in point else 1)


def test_size_reads_the_cap_and_the_smallest_threshold():
    s = estimate.size({"n_train": 50, "max_steps": 1000, "thresholds": [0.01, 0.001], "seeds": 3})
    assert (s.n, s.cap, s.threshold, s.nets) == (50, 1000, 0.001, 3)
    assert s.flops_per_step == estimate.FLOPS_PER_INPUT_PARAM * 50 * s.params
    assert estimate.size({"steps": 800}).cap is None


def _sample(longest, total, params, seconds, n=10, rows=None, threshold=None, nets=4, cap=10_000):
    s = estimate.Size(nets, n, params, 1, cap, threshold)
    return estimate.Sample("fam/a", None, "m", {"width": params}, s, estimate.Steps(longest, total),
                           None if rows is None else np.asarray(rows, float), seconds)


def test_fit_rate_recovers_the_coefficients_that_made_the_times():
    per_step, per_flop = 2e-3, 1e-10
    pts = []
    for longest, total, params in [(100, 300, 1_000), (400, 1500, 50_000), (50, 200, 400_000), (900, 2000, 10)]:
        t = per_step * longest + per_flop * total * 6 * 10 * params
        pts.append(_sample(longest, total, params, t))
    rate = estimate.fit_rate("m", pts)
    assert rate.per_step == pytest.approx(per_step, rel=1e-9) and rate.per_flop == pytest.approx(per_flop, rel=1e-9)
    assert rate.error < 1e-9 and rate.flop_rate == pytest.approx(1e10, rel=1e-9)


def test_fit_rate_of_one_point_puts_the_time_in_the_arithmetic():
    rate = estimate.fit_rate("m", [_sample(10, 40, 1000, 2.0)])
    size = _sample(10, 40, 1000, 0).size
    assert rate.per_step == 0 and rate.seconds(size, estimate.Steps(10, 40)) == pytest.approx(2.0)
    assert rate.seconds(size, estimate.Steps(10, 80)) == pytest.approx(4.0)
    same = estimate.fit_rate("m", [_sample(10, 40, 1000, 2.0), _sample(20, 40, 1000, 3.0)])  # one size: no split
    assert same.per_step == 0 and same.per_flop > 0
    with pytest.raises(ValueError, match="no reference points"):
        estimate.fit_rate("m", [])


def test_predicted_steps_scale_with_the_log_threshold_and_stop_at_the_cap():
    ref = _sample(200, 300, 100, 1.0, rows=[100, 200], threshold=1e-4, nets=2)
    target = estimate.Size(nets=4, n=10, params=100, units=1, cap=300, threshold=1e-8)
    likely, capped = estimate.predicted_steps({}, target, ref)
    assert likely.longest == 300 and likely.total == pytest.approx((200 + 300) * 2)  # steps × 2 capped; 2× the nets
    assert (capped.longest, capped.total) == (300, 2 * 2 * 300)
    jammed = _sample(200, 300, 100, 1.0, rows=[100, 200], threshold=1e-4, nets=2, cap=200)  # the 200 hit its cap
    likely, _ = estimate.predicted_steps({}, estimate.Size(2, 10, 100, 1, 10_000, 1e-4), jammed)
    assert (likely.longest, likely.total) == (10_000, 100 + 10_000)
    fixed = estimate.predicted_steps({"steps": 800}, estimate.Size(4, 10, 100, 1, None, None), ref)
    assert fixed[0] == fixed[1] == estimate.Steps(800, 3200)


def test_the_fixed_cost_of_a_step_is_paid_once_per_layer():
    """A step's dispatch and small kernels repeat per layer (measured: 3.2, 4.2, 5.3, 6.9 ms at depth 2, 3, 4, 6 for
    16 nets of width 2 on 200 inputs; docs/performance.md), so a deeper net at the target pays more per step."""
    rate = estimate.Rate("m", per_step=1e-3, per_flop=0.0, points=2, error=0.0)
    shallow, deep = (estimate.size({"depth": d, "width": 8, "n_train": 10, "d_in": 3}) for d in (2, 6))
    assert (shallow.layers, deep.layers) == (2, 6)
    steps = estimate.Steps(100, 400)
    assert rate.seconds(deep, steps) == pytest.approx(3 * rate.seconds(shallow, steps)) == pytest.approx(0.6)
    per_layer = 2e-3
    pts = [estimate.Sample("fam/a", None, "m", {"depth": d}, estimate.Size(1, 10, 100 * d * d, 1, None, None, d),
                           estimate.Steps(50 * d, 50 * d), None, per_layer * d * 50 * d) for d in (2, 3)]
    assert estimate.fit_rate("m", pts).seconds(deep, steps) == pytest.approx(per_layer * 6 * 100, rel=1e-6)


def test_wall_deals_the_largest_first():
    assert estimate.wall([3, 3, 2, 2, 2], 2) == 7
    assert estimate.wall([5, 1, 1], 3) == 5 and estimate.wall([1.5, 2.5], 1) == 4
    with pytest.raises(ValueError, match="workers must be >= 1"):
        estimate.wall([1], 0)


def test_the_reference_points_come_from_the_committed_timings_once_per_claim():
    ref = estimate.samples(RESULTS)
    keys = [json.dumps([s.claim, s.control, {k: v for k, v in s.point.items() if k != "seed_offset"}],
                       sort_keys=True) for s in ref]
    assert len(keys) == len(set(keys)) and {s.measure for s in ref} >= {
        f"{c.measure.__module__}.{c.measure.__qualname__}" for c in registry.all_claims()}
    norm = [s for s in ref if s.claim == "scaling/jamming-norm" and s.control is None]
    cusp = [s for s in ref if s.claim == "scaling/jamming-cusp"]  # the same sweep: the same reference points
    assert norm and all(s.row_steps is not None and s.steps.longest <= s.size.cap for s in norm)
    assert [(s.point, s.steps, s.seconds) for s in norm] == [(s.point, s.steps, s.seconds) for s in cusp]
    rates = estimate.fit_rates(ref)  # which fit each shared point once
    assert rates[norm[0].measure].points == len({json.dumps(s.point, sort_keys=True) for s in ref
                                                 if s.measure == norm[0].measure})


def test_at_the_reference_profile_each_point_is_its_own_reference():
    tasks = [lifecycle.Task("optim/adagrad-closed-form", "ci")]
    est = estimate.estimate(tasks, RESULTS)
    (cost,) = est.claims
    assert not cost.error and len(cost.points) == len(lifecycle.start_run("optim/adagrad-closed-form").points)
    assert all(p.reference == {**p.point} for p in cost.points)


def test_claims_that_share_a_sweep_count_its_points_once():
    one = estimate.estimate([lifecycle.Task("optim/sgd-equals-gd", "paper")], RESULTS)
    three = estimate.estimate([lifecycle.Task(i, "paper") for i in
                               ("optim/sgd-equals-gd", "optim/adagrad-differs", "optim/adaptive-batch-dependence")],
                              RESULTS)
    assert three.seconds == pytest.approx(one.seconds) and three.wall(2) == pytest.approx(one.wall(2))
    assert one.seconds_cap >= one.seconds > 0


def test_a_claim_without_reference_timings_is_not_estimated(tmp_path):
    est = estimate.estimate([lifecycle.Task("wide/lsq-projection", "paper")], tmp_path)
    assert est.claims[0].error.startswith("no timed points") and est.seconds == 0


def test_estimate_command(capsys):
    code, out, _ = _run(capsys, "estimate", "scaling/jamming-norm", "scaling/jamming-cusp", "--jobs", "3")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("estimate at paper")
    assert lines[2].startswith("scaling/jamming-norm ") and lines[3].startswith("scaling/jamming-cusp ")
    assert "wall on 3 worker(s)" in lines[4]
    code, out, _ = _run(capsys, "estimate", "scaling/jamming-norm", "--profile", "ci", "--controls", "--json")
    data = json.loads(out)
    assert code == 0 and [c["control"] for c in data["claims"]] == [None, "fixed-norm"]
    assert data["claims"][0]["profile"] == "ci" and data["wall"] <= data["seconds"] <= data["seconds_cap"]


def test_estimate_validate_lists_the_paper_runs(capsys):
    code, out, _ = _run(capsys, "estimate", "--validate")
    assert code == 0 and out.splitlines()[0] == "the estimate against the runs recorded at paper"
    assert any(line.startswith("optim/adagrad-closed-form ") for line in out.splitlines())
    checks = estimate.validate(RESULTS)
    measured = [c for c in checks if math.isfinite(c.measured)]
    assert measured and all(c.predicted > 0 and c.predicted_cap >= c.predicted for c in measured)


@pytest.mark.parametrize(("argv", "message"), [
    (["estimate", "--validate", "wide/ntk-limit"], "--validate checks every recorded run"),
    (["estimate", "--baseline", "no/such/folder"], "is not a folder"),
    (["estimate", "nope/claim"], "nope/claim"),
    (["estimate", "--jobs", "0"], "expects an integer >= 1"),
])
def test_estimate_usage_errors(capsys, argv, message):
    code, _, err = _run(capsys, *argv)
    assert code == 2 and message in err


def test_the_validation_table_in_the_docs_is_current():
    """docs/performance.md shows `ntkbench estimate --validate`'s table; after the baseline changes, put that
    command's output between the block's markers."""
    text = (RESULTS.parent / "docs" / "performance.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- estimate-validate:[^\n]*-->\n```text\n(.*?)```\n<!-- /estimate-validate -->", text, re.S)
    assert found, "docs/performance.md lost its estimate-validate block"
    checks = estimate.validate(RESULTS)
    if any("cannot be read from git here" in c.note for c in checks):  # a clone without the measuring commits
        pytest.skip("the measuring commits of the paper runs are not in this clone's history")
    expected = "\n".join(estimate.render_validation(checks, "paper")) + "\n"
    assert found[1] == expected, "docs/performance.md's validation table is stale: paste `ntkbench estimate --validate`"
