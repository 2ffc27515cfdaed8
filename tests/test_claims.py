"""The registered claims as test items: one per claim id (and one per negative control), marked ``claims`` and by
family, so ``pytest -m claims``, ``pytest -m init_scale`` and ``-k sigma-2L`` select them.

* ``test_smoke``: every claim runs end to end at the ``smoke`` profile (the plumbing; nothing asserted).
* ``test_ci``: the claim passes at ``ci`` and agrees with the committed baseline ``results/ci`` (the CI regression:
  its status and every ``within`` check's value within the check's tolerance, see
  :func:`ntkbench.harness.report.compare`).
* ``test_control``: each negative control *fails* at ``ci``, as the theory predicts, and agrees with the baseline.

Claims declared ``in_tests=False`` (minutes at ``ci``) are marked ``slow``: ``nox -s tests`` skips them and
``nox -s claims`` runs them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ntkbench.harness import lifecycle, outcome, plans, registry, report, store
from ntkbench.harness.runner import run_claim, tasks_for

BASELINE = Path(__file__).resolve().parents[1] / "results"


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread, as `ntkbench run --jobs N` gives each worker: at these sizes a second thread gains
    little on an idle machine and, sharing the cores with other processes, slows every step many times over
    (README, "Claims")."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
CLAIMS = registry.all_claims()


def _marks(claim, slow: bool):
    family = getattr(pytest.mark, claim.family.replace("-", "_"))  # registered in conftest.pytest_configure
    marks = [pytest.mark.claims, family]
    return marks + [pytest.mark.slow] if slow else marks


def _params(slow_unless_in_tests: bool, controls: bool = False):
    out = []
    for c in CLAIMS:
        slow = slow_unless_in_tests and not c.in_tests
        if controls:
            out += [pytest.param(c.id, k.name, marks=_marks(c, slow), id=f"{c.id}[{k.name}]") for k in c.controls]
        else:
            out.append(pytest.param(c.id, marks=_marks(c, slow), id=c.id))
    return out


def _against_baseline(result, tmp_path: Path) -> None:
    if not Path(BASELINE, "ci").is_dir():
        pytest.fail(f"no committed ci baseline under {BASELINE}: regenerate it with `nox -s reproduce` and commit")
    regressions = [r for r in report.compare(BASELINE, tmp_path, profile="ci")
                   if r.id == result.id and r.control == result.control]
    assert not regressions, "\n".join(map(str, regressions))


@pytest.mark.parametrize("claim_id", _params(False))
def test_smoke(claim_id, tmp_path):
    result = run_claim(claim_id, "smoke", out=tmp_path)
    assert result.outcome == "not asserted", result.error
    assert (tmp_path / "smoke" / Path(*claim_id.split("/")) / "result.json").is_file()
    assert not result.asserted and result.checks, "the smoke run must still evaluate every check"


@pytest.mark.parametrize("claim_id", _params(True))
def test_ci(claim_id, tmp_path):
    result = run_claim(claim_id, "ci", out=tmp_path)
    failed = [c for c in result.checks if not c["passed"]]
    assert result.outcome == "as predicted", result.error or f"{result.status}: " + "\n".join(
        f"{c['name']}: measured {c['measured']:.4g}, expected {c['expected']:g} ({c['mode']} {c['tolerance']:g})"
        for c in failed)
    _against_baseline(result, tmp_path)


@pytest.mark.parametrize(("claim_id", "control"), _params(True, controls=True))
def test_control(claim_id, control, tmp_path):
    result = run_claim(claim_id, "ci", control=control, out=tmp_path)
    assert result.outcome == "as predicted", (
        result.error or f"negative control {control!r} of {claim_id} is {result.outcome} ({result.status}): it must "
                        f"fail on {result.control_fails} with its preconditions holding ({result.checks})")
    _against_baseline(result, tmp_path)


def test_the_ci_baseline_holds_every_claim_at_its_current_parameters():
    """Every claim and control has a committed ci result run with the parameters that the registry gives now. One
    whose parameters were changed or added without regenerating the baseline makes its ``test_ci`` refuse to
    compare; for the claims marked slow nothing else would notice (scaling/ensemble's baseline lacked its ``margin``
    parameter from commit d61c07d until 2026-12-02). Nothing is run here."""
    saved = {(r["id"], r.get("control")): r.get("params") for r in store.load_results(BASELINE, "ci") if "id" in r}
    stale = []
    for c in CLAIMS:
        for ctrl in (None, *c.controls):
            key = (c.id, ctrl.name if ctrl else None)
            now = json.loads(json.dumps(c.resolve("ci", ctrl.overrides if ctrl else None)))  # as stored
            if saved.get(key) != now:
                theirs = saved.get(key) or {}
                diff = sorted(k for k in set(now) | set(theirs) if now.get(k) != theirs.get(k))
                stale.append(f"{c.id}{f' [{key[1]}]' if key[1] else ''}: " + (", ".join(diff) if key in saved
                                                                                 else "no baseline"))
    assert not stale, "regenerate these ci baselines (ntkbench run ID --controls --profile ci --update-baseline): " + (
        "; ".join(stale))


#: plan entries (document, claim id, control, variant folder: "" for the profile's own parameters) whose committed
#: result is not as predicted, with that outcome; each reason is in the claim's notes and docs/known-problems.md. An
#: entry whose outcome has changed fails the test (one that became as predicted leaves this list)
NOT_AS_PREDICTED_YET = {
    ("001", "optim/adaptive-batch-dependence", None, ""): "not discriminating",
    ("003", "init-output/asi-generalization", None, ""): "not discriminating",
    ("004", "scaling/test-error", None, ""): "not discriminating",
    ("004", "scaling/jamming-cusp", None, ""): "not discriminating",
}


def _plan_runs():
    """Every entry × control that ``nox -s reproduce`` runs, chosen as ``ntkbench run --plan --controls`` chooses
    them (``runner.tasks_for``): (plan, entry, control, resolved run)."""
    for path in sorted(plans.PLANS_DIR.glob("*.toml")):
        plan = plans.load(path)
        for entry in plan.claims:
            for task in tasks_for([registry.get(entry.id)], plan.profile, entry.overrides, True, entry.controls):
                yield plan, entry, task.control, lifecycle.start_run(task.claim, task.profile, task.overrides,
                                                                     control=task.control)


def test_every_plan_entry_has_a_committed_result_at_its_parameters():
    """Issue 39 item 11: each entry × control of reproduce/*.toml has a committed result, made at the parameters the
    entry resolves to now, and as predicted (but for NOT_AS_PREDICTED_YET): a plan run from a fresh clone then
    reproduces the baseline. Nothing is run here."""
    missing, stale, seen = [], [], {}
    for plan, entry, ctrl, run in _plan_runs():
        where = f"{plan.document} {entry.id}{f' [{ctrl}]' if ctrl else ''} {dict(entry.overrides) or ''}"
        variant = store.variant_slug(run.user)
        path = store.claim_dir(BASELINE, plan.profile, entry.id, ctrl, variant) / "result.json"
        if not path.is_file():
            missing.append(where)
            continue
        saved = json.loads(path.read_text())
        if saved.get("params") != json.loads(json.dumps(run.params)):
            stale.append(where)
            continue
        key = (plan.document, entry.id, ctrl, variant)
        if not outcome.ok(saved):
            seen[key] = outcome.outcome(saved)
    assert not missing, "no committed result (run the plan with --controls --update-baseline): " + "; ".join(missing)
    assert not stale, "committed at other parameters than the plan gives now: " + "; ".join(stale)
    changed = {k: (NOT_AS_PREDICTED_YET.get(k, "as predicted"), v) for k, v in seen.items()
               if NOT_AS_PREDICTED_YET.get(k) != v}
    changed |= {k: (v, "as predicted") for k, v in NOT_AS_PREDICTED_YET.items() if k not in seen}
    assert not changed, f"outcomes changed (was, now): {changed}"


#: claims without a negative control, each with the measured reason in its notes (issue 34): the arithmetic `copies`
#: controls were removed, and the physical candidates measured so far do not fail (correlated initializations
#: decorrelate in training near jamming; exchangeable members obey the n-laws whatever their correlation)
NO_CONTROL_YET = {"scaling/ensemble", "scaling/jamming-cusp"}


def test_every_claim_has_a_negative_control():
    missing = {c.id for c in CLAIMS if not c.controls}
    assert missing == NO_CONTROL_YET
    for claim_id in missing:  # the claim says why, with what was measured
        assert "control" in registry.get(claim_id).notes


def test_catalogue_ids_are_registered():
    """Every catalogue id of a family whose module exists is registered or declared pending in its source's plan
    (a family built in parts: reproduce/004.toml lists the jamming claims as pending), and every registered id is
    in the catalogue (ids are fixed; the catalogue lives in ntkbench.harness.catalogue)."""
    catalogue = pytest.importorskip("ntkbench.harness.catalogue")
    from ntkbench.harness import plans

    ids = {row.id for row in catalogue.ROWS}
    families = set(registry.families())
    pending = {q.id for p in plans.load_all() for q in p.pending}
    expected = {i for i in ids if i.split("/")[0] in families} - pending
    assert expected <= {c.id for c in CLAIMS}, sorted(expected - {c.id for c in CLAIMS})
    assert {c.id for c in CLAIMS} <= ids, "a registered id is not in the catalogue"
