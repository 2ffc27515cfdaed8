"""A result's outcome: the one function that compares what a run found with what the theory predicts.

:func:`outcome` is the single source of the outcome of a result — a :class:`~ntkbench.harness.runner.Result` as it is
written (:meth:`~ntkbench.harness.runner.Result.to_dict`), a result.json read back, a rejudged result
(:func:`~ntkbench.harness.runner.rejudge`) or a calibration's reseeded run (:mod:`ntkbench.harness.calibrate`). The
runner stores
its value in the ``outcome`` and ``ok`` fields of result.json; the report (:mod:`ntkbench.harness.report`) and the
command
line derive it again from the same fields by the same function, so a saved outcome and a derived one cannot differ.

Outcomes (:data:`OUTCOMES`): ``as predicted``, ``not as predicted``, ``not discriminating`` (a claim that passed, but
one of its science checks rejects its named alternative with power < 99 %: never a pass), ``invalid`` (a
precondition failed: neither pass nor fail), ``error`` (it raised), ``not asserted`` (the smoke profile, which only
runs the plumbing).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import power

OUTCOMES = ("as predicted", "not as predicted", "not discriminating", "invalid", "error", "not asserted")
OK_OUTCOMES = ("as predicted", "not asserted")


def asserted(result: Mapping[str, Any]) -> bool:
    """False at the smoke profile, which asserts nothing (the result's ``asserted`` field; True when absent)."""
    return bool(result.get("asserted", True))


def outcome(result: Mapping[str, Any]) -> str:
    """One of :data:`OUTCOMES` for a result (a dict: :meth:`Result.to_dict <ntkbench.harness.runner.Result.to_dict>` or
    a
    saved result.json), derived from its ``status``, ``asserted``, ``control`` and ``checks`` — never read from a
    stored ``outcome`` field. ``error`` and ``invalid`` as the status says; ``not asserted`` at smoke; a claim is
    ``as predicted`` when it passes and every science check rejects its alternatives with power ≥ 99 % (``not
    discriminating`` when one does not — never a pass — or when it failed only significance tests that cannot detect
    the effect at this cost, :func:`ntkbench.harness.power.claim_outcome`); a control when every check it names
    (``must_fail``) failed and each that it must land somewhere (``lands_at``) landed there (a result saved before
    controls named their checks: when it failed)."""
    status = result.get("status")
    if status == "error":
        return "error"
    if not asserted(result):
        return "not asserted"
    if status == "invalid":
        return "invalid"
    checks = result.get("checks") or []
    if not result.get("control"):
        return power.claim_outcome(str(status), checks)
    named = [c for c in checks if c.get("must_fail")]
    if not named:  # a result saved before controls named their checks: any failing check
        return "as predicted" if status == "fail" else "not as predicted"
    failed = all(not c["passed"] for c in named)
    landed = all(c["landed"] for c in named if "landed" in c)
    return "as predicted" if failed and landed else "not as predicted"


def ok(result: Mapping[str, Any]) -> bool:
    """As the theory predicts (at smoke, where nothing is asserted: it ran without error): the outcome is one of
    :data:`OK_OUTCOMES`."""
    return outcome(result) in OK_OUTCOMES
