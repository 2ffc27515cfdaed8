"""The ``ntkbench`` command: list, show and run the registered claims, rebuild the summary, compare two runs, and
run the σ-mitigation experiment.

Exit status: 0 when everything came out as the theory predicts, 1 when something did not (a claim failed or
errored, a control passed, a regression was found), 2 for usage errors (unknown id, profile, parameter or value;
nothing has run then), 130 when interrupted (a rerun resumes from the cache of finished sweep points).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import registry, report
from .registry import PROFILES, UsageError

DEFAULT_OUT = "results"


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise :class:`UsageError` (reported by :func:`main` with exit status 2)."""

    def error(self, message: str):  # type: ignore[override]
        sub = self.prog.partition(" ")[2]
        raise UsageError(f"{sub + ': ' if sub else ''}{message} (see `{self.prog} --help`)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expects an integer >= 1, got {text!r}")
    return value


def _parser() -> _Parser:
    p = _Parser(prog="ntkbench", description="Reproducible checks of wide-network / NTK theory: each claim of "
                "CLAIMS.md is a registered experiment with a fitted measurement, an expectation and negative "
                "controls.", epilog="exit status: 0 as predicted, 1 not as predicted, 2 usage error")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    s = sub.add_parser("list", help="the registered claims", description="Every registered claim: id, source, "
                       "statement.")
    s.add_argument("--json", action="store_true", help="a JSON list of {id, family, source, statement, controls, "
                   "in_tests}")

    s = sub.add_parser("show", help="the full spec of one claim", description="A claim's statement, parameters "
                       "(per profile), expectations at the ci profile and negative controls.")
    s.add_argument("id", help="claim id (see `ntkbench list`)")
    s.add_argument("--json", action="store_true", help="print the spec as JSON")

    s = sub.add_parser("run", help="run claims and write results", description="Run claims (all, or the given ids "
                       "and families), write OUT/<profile>/<family>/<name>/{result.json,data.csv,figure.png} and "
                       "rebuild OUT/README.md. Finished sweep points are cached: an interrupted run resumes.",
                       epilog="exit status: 0 when every result is as predicted (claims pass, controls fail), "
                       "1 otherwise, 2 for usage errors (nothing runs then)")
    s.add_argument("names", nargs="*", metavar="ID|FAMILY", help="claim ids or families (default: all)")
    _profile_arg(s)
    _set_arg(s)
    _out_arg(s)
    s.add_argument("--json", action="store_true", help="print a JSON list of the results on stdout (nothing else)")
    s.add_argument("--jobs", type=_positive_int, default=1, metavar="N", help="worker processes (default 1)")
    _device_arg(s)
    s.add_argument("--controls", action="store_true", help="also run each claim's negative controls")
    s.add_argument("--fresh", action="store_true", help="recompute every sweep point (ignore the cache)")
    s.add_argument("--quiet", action="store_true", help="no progress bars")

    s = sub.add_parser("report", help="rebuild OUT/README.md from saved results",
                       description="Rebuild the summary DIR/README.md from the saved results without rerunning.")
    s.add_argument("dir", nargs="?", default=DEFAULT_OUT, metavar="DIR", help=f"results folder (default "
                   f"{DEFAULT_OUT})")

    s = sub.add_parser("compare", help="regressions from a baseline results folder to a new one",
                       description="List what got worse from BASELINE to NEW: missing results, status changes, "
                       "'within' checks moved by more than their tolerance, 'below'/'above' verdicts that changed, "
                       "different parameters. Results only in NEW are listed as not compared.",
                       epilog="exit status: 0 no regressions, 1 regressions, 2 BASELINE has no results")
    s.add_argument("baseline", metavar="BASELINE")
    s.add_argument("new", metavar="NEW")
    _profile_arg(s)

    s = sub.add_parser("mitigate", help="the shrinking-σ mitigation experiment (001 Sect. 3)",
                       description="Shrink σ until the validation loss stops improving (001 Sect. 3); writes "
                       "OUT/<profile>/mitigation/mitigation.json and rebuilds OUT/README.md.")
    _profile_arg(s)
    _set_arg(s)
    _out_arg(s)
    _device_arg(s)
    s.add_argument("--json", action="store_true", help="print the outcome as JSON")
    return p


def _profile_arg(s: argparse.ArgumentParser) -> None:
    s.add_argument("--profile", default=registry.DEFAULT_PROFILE, choices=PROFILES,
                   help=f"parameter set: smoke (quick plumbing check, asserts nothing), ci (minutes), paper (the sources' "
                   f"settings) (default {registry.DEFAULT_PROFILE})")


def _set_arg(s: argparse.ArgumentParser) -> None:
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a declared parameter (repeatable; lists comma-separated, e.g. depth=2,3)")


def _out_arg(s: argparse.ArgumentParser) -> None:
    s.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"results folder (default {DEFAULT_OUT})")


def _device_arg(s: argparse.ArgumentParser) -> None:
    s.add_argument("--device", default="cpu", metavar="DEVICE", help="cpu or cuda[:i] (default cpu)")


# ----- entry point ----------------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    try:
        try:
            args = _parser().parse_args(argv)
        except SystemExit as exc:  # --help / --version
            return int(exc.code or 0) if not isinstance(exc.code, str) else 2
        return _COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"ntkbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ntkbench: interrupted; rerun the same command to resume from the cached sweep points",
              file=sys.stderr)
        return 130


def _print_json(obj: Any) -> None:
    """Standard JSON on stdout: NaN and ±inf become null (result.json keeps them)."""
    print(json.dumps(_strict(obj), indent=2, ensure_ascii=False))


def _strict(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):
        return _strict(obj.item())
    return obj


def _device(text: str) -> str:
    import torch

    from ._validation import check_device

    try:
        dev = check_device(text)
    except ValueError as exc:
        raise UsageError(f"--device: {exc}") from None
    if dev.type not in ("cpu", "cuda"):
        raise UsageError(f"--device={text!r} is not allowed; choose cpu or cuda[:i]")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise UsageError(f"--device={text!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    return text


# ----- list / show ----------------------------------------------------------------------------------------------------
def _cmd_list(args: argparse.Namespace) -> int:
    claims = registry.all_claims()
    if args.json:
        _print_json([{"id": c.id, "family": c.family, "source": c.source, "statement": c.statement,
                      "controls": [k.name for k in c.controls], "in_tests": c.in_tests} for c in claims])
        return 0
    wid = max(len(c.id) for c in claims)
    wsrc = max(len(c.source) for c in claims)
    print(f"{'id':<{wid}}  {'source':<{wsrc}}  statement")
    for c in claims:
        print(f"{c.id:<{wid}}  {c.source:<{wsrc}}  {c.statement}")
    return 0


def _spec(claim: registry.Claim) -> dict[str, Any]:
    expects = claim.expect(claim.resolve("ci"))
    return {
        "id": claim.id, "family": claim.family, "source": claim.source, "statement": claim.statement,
        "measured": claim.measured, "notes": claim.notes, "in_tests": claim.in_tests,
        "params": [{"name": p.name, "kind": p.kind, "smoke": p.smoke, "ci": p.ci, "paper": p.paper, "help": p.help,
                    "choices": list(p.choices), "per": p.per} for p in claim.params],
        "expect_ci": [{"name": e.name, "expected": e.expected, "tolerance": e.tolerance, "mode": e.mode,
                       "reason": e.reason} for e in expects],
        "controls": [{"name": k.name, "overrides": dict(k.overrides), "why": k.why} for k in claim.controls],
    }


def _cmd_show(args: argparse.Namespace) -> int:
    spec = _spec(registry.get(args.id))
    if args.json:
        _print_json(spec)
        return 0
    print(f"{spec['id']}  ({spec['source']})")
    print(f"\nstatement: {spec['statement']}\nmeasured:  {spec['measured']}")
    if spec["notes"]:
        print(f"notes:     {spec['notes']}")
    if not spec["in_tests"]:
        print("(the ci profile is too slow for the test suite; it runs with the claims)")
    print("\nparameters (smoke | ci | paper):")
    for p in spec["params"]:
        vals = " | ".join(report._plain(p[k]) for k in PROFILES)
        extra = (f"; choices: {', '.join(map(str, p['choices']))}" if p["choices"] else "") + (
            f"; one per {p['per']}" if p["per"] else "")
        print(f"  {p['name']} ({p['kind']}): {vals}\n      {p['help']}{extra}")
    print("\nexpectations at the ci profile:")
    for e in spec["expect_ci"]:
        print(f"  {e['name']}: {report.expectation(e)} ({e['mode']})\n      {e['reason']}")
    print("\nnegative controls (predicted to fail):")
    for k in spec["controls"] or [{"name": "(none)", "overrides": {}, "why": ""}]:
        sets = " ".join(f"--set {n}={report._plain(v)}" for n, v in k["overrides"].items())
        print(f"  {k['name']}: {sets}\n      {k['why']}")
    return 0


# ----- run ------------------------------------------------------------------------------------------------------------
def _check_run(claims: list[registry.Claim], profile: str, sets: dict[str, str], controls: bool) -> None:
    """Every usage error of a run, before anything runs: the --set keys and values at this profile, with the
    controls' overrides."""
    from .runner import split_overrides

    split_overrides(claims, sets, profile, controls)


def _line(r) -> str:
    label = r.id + (f" [{r.control}]" if r.control else "")
    if r.status == "error":
        last = r.error.strip().splitlines()[-1] if r.error.strip() else ""
        what = f"error: {last[:160]}"
    else:
        what = "; ".join(f"{c['name']} {report.fmt(c['measured'])} vs {report.expectation(c)}" for c in r.checks)
    verdict = "ok" if r.ok else "NOT AS PREDICTED"
    return f"{label}  {r.status}  {what}  ({r.seconds:.1f} s)  {verdict}"


def _cmd_run(args: argparse.Namespace) -> int:
    from . import runner

    claims = registry.select(args.names)
    sets = registry.parse_sets(args.set)
    device = _device(args.device)
    _check_run(claims, args.profile, sets, args.controls)
    out = Path(args.out)
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        results = runner.run_many(claims, args.profile, sets, controls=args.controls, out=out, device=device,
                                  jobs=args.jobs, fresh=args.fresh, progress=not args.quiet)
        path = report.build(out)
    if args.json:
        _print_json([r.to_dict() for r in results])
    else:
        for r in results:
            print(_line(r))
        claims_ = [r for r in results if not r.control]
        ctrls = [r for r in results if r.control]
        counts = {s: sum(r.status == s for r in claims_) for s in ("pass", "fail", "error")}
        bad = sum(not r.ok for r in results)
        summary = (f"{len(results)} results, {len(results) - bad} as predicted, {bad} not: "
                   f"{counts['pass']} pass / {counts['fail']} fail / {counts['error']} error")
        if ctrls:
            what = "failing as predicted" if args.profile != "smoke" else "ran without error"
            summary += f"; controls {what} {sum(r.ok for r in ctrls)}/{len(ctrls)}"
        if args.profile == "smoke":
            summary += " (smoke: nothing asserted)"
        print(summary)
        print(f"report: {path}")
    return 0 if all(r.ok for r in results) else 1


# ----- report / compare -----------------------------------------------------------------------------------------------
def _cmd_report(args: argparse.Namespace) -> int:
    print(report.build(args.dir))
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    regressions = report.compare(args.baseline, args.new, args.profile)
    for reg in regressions:
        print(reg)
    if not regressions:
        print("no regressions")
    extra = report.added(args.baseline, args.new, args.profile)
    if extra:
        print(f"not compared (only in {args.new}): {', '.join(extra)}")
    return 1 if regressions else 0


# ----- mitigate -------------------------------------------------------------------------------------------------------
def _cmd_mitigate(args: argparse.Namespace) -> int:
    sets = registry.parse_sets(args.set)
    device = _device(args.device)
    try:
        from .mitigation import run_mitigation
    except ImportError as exc:
        print(f"ntkbench: error: the mitigation experiment is not available: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out)
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        try:
            res = run_mitigation(profile=args.profile, sets=sets, out=out, device=device)
        except (UsageError, KeyboardInterrupt):
            raise
        except Exception:  # noqa: BLE001 - reported like an error result, never as a crash of the CLI
            res = {"status": "error", "error": traceback.format_exc()}
        with contextlib.suppress(UsageError):  # nothing written (e.g. an error before the first σ): no summary
            report.build(out)
    ok = res.get("status", "ok") == "ok"
    if args.json:
        _print_json(res)
    elif ok:
        hist = res.get("history") or [{}]
        f = report.fmt
        print(f"mitigation ({res.get('profile', args.profile)}): σ {f(hist[0].get('sigma'))} → "
              f"{f(res.get('chosen_sigma'))}; validation loss {f(res.get('val_loss_start'))} → "
              f"{f(res.get('val_loss_chosen'))}; test loss {f(res.get('test_loss_start'))} → "
              f"{f(res.get('test_loss_chosen'))}; stopped because: {res.get('stop_reason', '—')} "
              f"({f(res.get('seconds'))} s)")
        print(f"written: {out / args.profile / report.MITIGATION}")
    if not ok:
        print(f"ntkbench: mitigation failed:\n{res.get('error', '(no traceback)')}", file=sys.stderr)
    return 0 if ok else 1


_COMMANDS = {"list": _cmd_list, "show": _cmd_show, "run": _cmd_run, "report": _cmd_report, "compare": _cmd_compare,
             "mitigate": _cmd_mitigate}
