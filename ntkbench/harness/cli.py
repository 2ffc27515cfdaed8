"""The ``ntkbench`` command: list, show and run the registered claims (or a paper's reproduction plan), calibrate
their tolerances over reseeds, rebuild the summary, compare two runs, run the σ-mitigation experiment, and estimate
what a run will cost before it runs.

Exit status: 0 when everything came out as the theory predicts, 1 when something did not (a claim failed, was
invalid or errored, a control passed, a calibration missed, a regression was found) or a result could not be
written (one line names the path; the finished sweep points stay cached), 2 for usage and input errors (unknown id,
profile, plan, parameter or value, a malformed scheduler address, an output folder that cannot be written, a damaged
result.json given to ``report`` or ``compare``; nothing has run then), 130 when interrupted and 143 when terminated
by SIGTERM (a rerun resumes from the cache of finished sweep points; pool workers exit with their parent).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
import traceback
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import power, registry, report, stop, store
from .spec import PROFILES, UsageError

DEFAULT_OUT = "runs"  # the working folder: runs and calibrations write here unless asked otherwise
BASELINE = "results"  # the committed baseline: written only with --update-baseline (docs/guarantees.md)
DEFAULT_RESEEDS = 10


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


def _at_least_2(text: str) -> int:
    value = _positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"expects an integer >= 2 (a spread needs two runs), got {text!r}")
    return value


def _parser() -> _Parser:
    p = _Parser(prog="ntkbench", description="Reproducible checks of wide-network / NTK theory: each claim of the "
                "catalogue (docs/claims.md) is a registered experiment with a fitted measurement, an expectation "
                "and negative controls.", epilog="exit status: 0 as predicted, 1 not as predicted, 2 usage error")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    s = sub.add_parser("list", help="the registered claims", description="Every registered claim: id, source, "
                       "statement.")
    how = s.add_mutually_exclusive_group()
    how.add_argument("--json", action="store_true", help="a JSON list of {id, family, source, statement, controls, "
                     "in_tests}")
    how.add_argument("--markdown", action="store_true", help="the whole catalogue as Markdown, registered claims and "
                     "planned ones (the text of docs/claims.md: `ntkbench list --markdown > docs/claims.md`)")

    s = sub.add_parser("show", help="the full spec of one claim", description="A claim's statement, parameters "
                       "(per profile), expectations at the ci profile and negative controls.")
    s.add_argument("id", help="claim id (see `ntkbench list`)")
    s.add_argument("--json", action="store_true", help="print the spec as JSON")

    s = sub.add_parser("run", help="run claims and write results", description="Run claims (all, the given ids and "
                       "families, or the entries of reproduction plans), write OUT/<profile>/<family>/<name>/"
                       "{result.json,data.csv,figure.png} and rebuild OUT/README.md. A run with parameter overrides "
                       "or one that errs goes to OUT/<profile>/variants/<overrides>/ and never replaces a baseline "
                       "result. Finished sweep points are cached: an interrupted run resumes.",
                       epilog="exit status: 0 when every result is as predicted (claims pass, controls fail; at "
                       "smoke: everything ran), 1 otherwise (a failure, an invalid run, an error), 2 for usage errors "
                       "(nothing runs then)")
    s.add_argument("names", nargs="*", metavar="ID|FAMILY", help="claim ids or families (default: all)")
    s.add_argument("--plan", action="append", default=[], metavar="PLAN",
                   help="run a reproduction plan instead: a TOML file (reproduce/004.toml) or a document number "
                   "(004); its profile and per-claim overrides apply (repeatable)")
    _profile_arg(s, plan=True)
    _set_arg(s)
    _out_arg(s)
    s.add_argument("--json", action="store_true", help="print a JSON list of the results on stdout (nothing else)")
    _workers_args(s)
    _device_arg(s)
    s.add_argument("--controls", action="store_true", help="also run each claim's negative controls")
    s.add_argument("--fresh", action="store_true", help="recompute every sweep point (ignore the cache)")
    s.add_argument("--quiet", action="store_true", help="no progress bars")

    s = sub.add_parser("calibrate", help="measure the seed-to-seed spread of claims and suggest tolerances",
                       description="Rerun each claim (and with --controls each negative control) with K reseeds "
                       "(seed_offset 1..K, or S..S+K−1 with --first-seed S), and report how often it came out as "
                       "predicted and, per measured quantity, its mean ± sd, how often it passed its current "
                       "tolerance and the tolerance its rule suggests; writes OUT/<profile>/calibration/"
                       "<family>__<name>.json and a figure, and rebuilds OUT/README.md.",
                       epilog="exit status: 0 when every reseed came out as predicted, 1 otherwise, 2 for usage "
                       "errors (nothing runs then)")
    s.add_argument("names", nargs="+", metavar="ID|FAMILY", help="claim ids or families")
    s.add_argument("--reseeds", type=_at_least_2, default=DEFAULT_RESEEDS, metavar="K",
                   help=f"independent reseeds per claim, at least 2 (default {DEFAULT_RESEEDS})")
    s.add_argument("--first-seed", type=int, default=1, metavar="S",
                   help="seed_offset of the first reseed (default 1: reseeds 1..K); a later one gives reseeds no "
                   "earlier calibration saw — with another --out, to check a choice made after looking at those")
    _profile_arg(s)
    _workers_args(s)
    _out_arg(s)
    _device_arg(s)
    s.add_argument("--controls", action="store_true", help="also calibrate each claim's negative controls")
    s.add_argument("--control", action="append", default=[], metavar="NAME",
                   help="also calibrate this negative control (repeatable; instead of all of --controls)")
    s.add_argument("--controls-only", action="store_true",
                   help="calibrate the selected controls (--controls or --control) without rerunning the claims; "
                   "the claims' calibration records stay as they are")
    s.add_argument("--recompute", action="store_true",
                   help="rerun nothing: rejudge the records already in OUT/<profile>/calibration/ of the selected "
                   "claims from their stored values under the current code (bands, alternatives, noise, bias, "
                   "power); valid while the experiments did not change since the reseeds ran")
    s.add_argument("--quiet", action="store_true", help="no progress bars")

    s = sub.add_parser("report", help="rebuild OUT/README.md from saved results",
                       description="Rebuild the summary DIR/README.md from the saved results without rerunning. A "
                       "damaged result.json (unreadable, not JSON, fields of the wrong type) is named in a warning "
                       "and counted as an error in the summary.",
                       epilog="exit status: 0 the summary was rebuilt, 2 usage errors, no results, or a damaged "
                       "result.json (the summary is still rebuilt, counting it as an error)")
    s.add_argument("dir", nargs="?", default=DEFAULT_OUT, metavar="DIR", help=f"results folder (default "
                   f"{DEFAULT_OUT})")
    s.add_argument("--rejudge", metavar="PROFILE", choices=registry.PROFILES,
                   help="first judge the saved baseline results of PROFILE again by the current declarations "
                   "(bands, roles, alternatives, power), their measured values kept and nothing rerun; rewrites "
                   "their result.json (each says so under 'rejudged'); in the baseline only with --update-baseline")
    s.add_argument("--reanalyse", metavar="PROFILE", choices=registry.PROFILES,
                   help="first fit the saved baseline results of PROFILE again from their data.csv by the current "
                   "analysis (fits, checks, figures), nothing measured again; only results whose measuring code "
                   "(the engine and experiments at their versions.git) is this checkout's — the others are named "
                   "and left as they are; each rewritten result says so under 'reanalysed'; in the baseline only "
                   "with --update-baseline")
    _baseline_args(s, "let --rejudge or --reanalyse rewrite results in it")

    s = sub.add_parser("compare", help="regressions from a baseline results folder to a new one",
                       description="List what got worse from BASELINE to NEW: missing results, status changes, "
                       "'within' checks moved by more than their tolerance, 'below'/'above' verdicts that changed, "
                       "different parameters. Results only in NEW are listed as not compared; runs with overrides "
                       "or errors (variants/) are ignored.",
                       epilog="exit status: 0 no regressions, 1 regressions, 2 input errors: a folder that does not "
                       "exist, BASELINE without results, a damaged result.json on either side (named; never left "
                       "out)")
    s.add_argument("baseline", metavar="BASELINE")
    s.add_argument("new", metavar="NEW")
    _profile_arg(s)

    s = sub.add_parser("estimate", help="what a run will cost, before it runs",
                       description="Per claim (and with --controls per negative control): the predicted CPU time, "
                       "the largest working set of its points and, for the selection, the wall time on --jobs "
                       "workers, from a cost model fitted to the committed ci timings (docs/performance.md, 'Cost "
                       "before running'). Runs nothing. 'likely' takes the steps each reference point's members "
                       "took to converge; 'at cap' lets every member run to its max_steps (the bound).",
                       epilog="exit status: 0, or 1 when some claim cannot be estimated, 2 for usage errors")
    s.add_argument("names", nargs="*", metavar="ID|FAMILY", help="claim ids or families (default: all)")
    s.add_argument("--plan", action="append", default=[], metavar="PLAN",
                   help="estimate a reproduction plan instead (as `ntkbench run --plan`)")
    s.add_argument("--profile", default=None, choices=PROFILES,
                   help="parameter set (default: the plan's, else paper)")
    _set_arg(s)
    s.add_argument("--controls", action="store_true", help="also each claim's negative controls")
    s.add_argument("--jobs", type=_positive_int, default=2, metavar="N",
                   help="the workers the wall time is predicted for (default 2)")
    _baseline_args(s, what=None)
    s.add_argument("--validate", action="store_true",
                   help="instead: the estimate of every run recorded in BASELINE/<profile> at its recorded "
                   "parameters against the time it took")
    s.add_argument("--json", action="store_true", help="print the estimate as JSON")

    s = sub.add_parser("mitigate", help="the shrinking-σ mitigation experiment (001 Sect. 3)",
                       description="Shrink σ until the validation loss stops improving (001 Sect. 3); writes "
                       "OUT/<profile>/mitigation/mitigation.json and rebuilds OUT/README.md.")
    _profile_arg(s)
    _set_arg(s)
    _out_arg(s)
    _device_arg(s)
    s.add_argument("--json", action="store_true", help="print the outcome as JSON")
    return p


def _profile_arg(s: argparse.ArgumentParser, plan: bool = False) -> None:
    default = f"the plan's, else {registry.DEFAULT_PROFILE}" if plan else registry.DEFAULT_PROFILE
    s.add_argument("--profile", default=None if plan else registry.DEFAULT_PROFILE, choices=PROFILES,
                   help=f"parameter set: smoke (quick plumbing check, asserts nothing), ci (minutes), paper (the "
                   f"sources' settings) (default {default})")


def _set_arg(s: argparse.ArgumentParser) -> None:
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a declared parameter (repeatable; lists comma-separated, e.g. depth=2,3)")


def _out_arg(s: argparse.ArgumentParser) -> None:
    s.add_argument("--out", default=None, metavar="DIR",
                   help=f"where results (and the cache of finished sweep points) go: default the working folder "
                   f"{DEFAULT_OUT}, or the baseline with --update-baseline; a folder in the baseline needs "
                   f"--update-baseline")
    _baseline_args(s)


def _baseline_args(s: argparse.ArgumentParser, what: str | None = "write into it") -> None:
    """--baseline, and --update-baseline unless ``what`` is None (a command that writes nothing)."""
    if what is None:
        s.add_argument("--baseline", default=BASELINE, metavar="DIR",
                       help=f"the committed results whose ci timings the model is fitted to (default {BASELINE})")
        return
    s.add_argument("--baseline", default=BASELINE, metavar="DIR",
                   help=f"the committed baseline results (default {BASELINE}): what a run compares itself with "
                   f"and never writes over unless asked")
    s.add_argument("--update-baseline", action="store_true",
                   help=f"{what}: the one way to change the committed results (nox -s reproduce passes it)")


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (both resolved; neither need exist)."""
    p, f = path.resolve(), folder.resolve()
    return p == f or f in p.parents


def _output(args: argparse.Namespace) -> Path:
    """The folder a command writes to: ``--out`` when given, else the baseline with ``--update-baseline``, else the
    working folder; a :class:`UsageError` for a folder in the baseline without ``--update-baseline`` (the committed
    results change only when asked) or one that cannot be written."""
    out = Path(args.out) if args.out else Path(args.baseline if args.update_baseline else DEFAULT_OUT)
    if not args.update_baseline and _inside(out, Path(args.baseline)):
        raise UsageError(f"--out {str(out)!r} is in the committed baseline {str(args.baseline)!r}: pass "
                         f"--update-baseline to write over it, or write to another folder (default {DEFAULT_OUT})")
    return writable_folder(out)


def _device_arg(s: argparse.ArgumentParser) -> None:
    s.add_argument("--device", default="cpu", metavar="DEVICE", help="cpu or cuda[:i] (default cpu)")


# ----- entry point ----------------------------------------------------------------------------------------------------
class Terminated(KeyboardInterrupt):
    """SIGTERM (what ``timeout``, CI cancellation and cluster schedulers send), handled like Ctrl-C: the run stops,
    its finished sweep points stay cached, the exit status is 143."""


def _raising(exc: type[KeyboardInterrupt]):
    """A signal handler that records the stop, then raises ``exc``: the record is seen by the scheduling loop even
    where Python swallows the exception (ntkbench.harness.stop)."""

    def handler(signum, frame) -> None:
        stop.request(exc)
        raise exc()

    return handler


@contextlib.contextmanager
def _signals_as_interrupts():
    """Inside: SIGINT raises KeyboardInterrupt and SIGTERM :class:`Terminated`, each recorded first in
    :mod:`ntkbench.harness.stop` (main thread only; the previous handlers come back after)."""
    import signal
    import threading

    stop.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raising(e)) for s, e in ((signal.SIGTERM, Terminated),
                                                              (signal.SIGINT, KeyboardInterrupt))}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    try:
        try:
            args = _parser().parse_args(argv)
        except SystemExit as exc:  # --help / --version
            return int(exc.code or 0) if not isinstance(exc.code, str) else 2
        with _cache_warnings(), _signals_as_interrupts():
            return _COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"ntkbench: error: {exc}", file=sys.stderr)
        return 2
    except store.WriteError as exc:  # disk full, no permission: the finished sweep points are cached already
        print(f"ntkbench: error: {exc}; the finished sweep points are cached: rerun to resume", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        print(f"ntkbench: {what}; rerun the same command to resume from the cached sweep points", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130


@contextlib.contextmanager
def _cache_warnings():
    """Show every rejected cache entry (:class:`~ntkbench.harness.store.CacheWarning`) as one ``ntkbench: warning:``
    line
    on stderr, each time; other warnings as Python shows them."""
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, store.CacheWarning):
            print(f"ntkbench: warning: {message}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.simplefilter("always", store.CacheWarning)
        warnings.showwarning = show
        try:
            yield
        finally:
            warnings.showwarning = shown


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

    from .._validation import check_device

    try:
        dev = check_device(text)
    except ValueError as exc:
        raise UsageError(f"--device: {exc}") from None
    if dev.type not in ("cpu", "cuda"):
        raise UsageError(f"--device={text!r} is not allowed; choose cpu or cuda[:i]")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise UsageError(f"--device={text!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    return text


def _scheduler(text: str | None) -> str | None:
    """``--scheduler``: ``local`` or a well-formed address, checked before anything runs or connects."""
    if text is None:
        return None
    from .scheduler import check_address

    return check_address(text)


def _build_report(out: Path) -> tuple[Path, int]:
    """Rebuild ``out/README.md``; each damaged result.json it found is named in a one-line warning on stderr (it is
    counted as an error in the summary). Returns the path and the number of damaged files."""
    damaged: list[str] = []
    path = report.build(out, damaged=damaged)
    for line in damaged:
        print(f"ntkbench: warning: {line}; counted as an error in the summary", file=sys.stderr)
    return path, len(damaged)


def writable_folder(text: str | os.PathLike, option: str = "--out") -> Path:
    """``text`` as a Path once it is known that results can be written there (the folder, or the nearest folder
    above it that exists, accepts a new file); a :class:`UsageError` otherwise, before any work is done. Creates
    nothing that stays."""
    path = Path(text)
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise UsageError(f"{option} {str(text)!r}: {str(probe)!r} is not a folder, so nothing can be written there")
    try:
        fd, tmp = tempfile.mkstemp(dir=probe, prefix=".ntkbench-probe-", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        where = "" if probe == path else f" (in {str(probe)!r}, where it would be created)"
        raise UsageError(f"{option} {str(text)!r}: cannot write there{where}: {exc.strerror or exc}") from None
    return path


# ----- list / show ----------------------------------------------------------------------------------------------------
def _cmd_list(args: argparse.Namespace) -> int:
    if args.markdown:
        try:
            from .catalogue import render_markdown
        except ImportError as exc:
            print(f"ntkbench: error: the catalogue is not available (ntkbench.harness.catalogue: {exc})",
                  file=sys.stderr)
            return 1
        sys.stdout.write(render_markdown(registry.all_claims()))
        return 0
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
                    "choices": list(p.choices), "per": p.per,
                    "allowed": p.allowed() if hasattr(p, "allowed") else ""} for p in claim.params],
        "expect_ci": [{"name": e.name, "expected": e.expected, "tolerance": e.tolerance, "mode": e.mode,
                       "reason": e.reason, "role": getattr(e, "role", "science"), "spread": e.spread,
                       "alternatives": [{"value": a.value, "why": a.why} for a in e.alternatives]}
                      for e in expects],
        "controls": [{"name": k.name, "overrides": dict(k.overrides), "why": k.why,
                      "fails": list(getattr(k, "fails", ())),
                      "lands": {n: {"value": landing.at(claim.resolve("ci", k.overrides)),
                                    "tolerance": landing.tolerance, "reason": landing.reason}
                                for n, landing in k.lands.items()}} for k in claim.controls],
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
        vals = " | ".join(report.plain(p[k]) for k in PROFILES)
        extra = (f"; choices: {', '.join(map(str, p['choices']))}" if p["choices"] else "") + (
            f"; one per {p['per']}" if p["per"] else "") + (f"; allowed: {p['allowed']}" if p["allowed"] else "")
        print(f"  {p['name']} ({p['kind']}): {vals}\n      {p['help']}{extra}")
    print("\nexpectations at the ci profile:")
    for e in spec["expect_ci"]:
        role = f", {e['role']}" if e["role"] != "science" else ""
        rules = "".join(f"\n      rules out {report.fmt(a['value'])}: {a['why']}" for a in e["alternatives"])
        print(f"  {e['name']}: {report.expectation(e)} ({e['mode']}{role})\n      {e['reason']}{rules}")
    print("\nnegative controls (the named checks are predicted to fail):")
    for k in spec["controls"] or [{"name": "(none)", "overrides": {}, "why": "", "fails": []}]:
        sets = " ".join(f"--set {n}={report.plain(v)}" for n, v in k["overrides"].items())
        fails = f"  (must fail: {', '.join(k['fails'])})" if k["fails"] else ""
        lands = "".join(f"\n      {n} must land at {report.fmt(v['value'])} ± {report.fmt(v['tolerance'])}: "
                        f"{v['reason']}" for n, v in (k.get("lands") or {}).items())
        print(f"  {k['name']}: {sets}{fails}\n      {k['why']}{lands}")
    return 0


# ----- run ------------------------------------------------------------------------------------------------------------
def _workers_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("--jobs", type=_positive_int, default=1, metavar="N",
                   help="local worker processes, one thread each, that measure the sweep points of all selected "
                   "claims, largest first (default 1: this process); with --scheduler local, the Dask workers")
    s.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="measure the sweep points on a Dask cluster: the address of a running scheduler "
                   "(tcp://host:8786; its workers need this ntkbench installed) or 'local' (a LocalCluster of --jobs "
                   "processes on this machine); results and the cache stay here (README, 'Running on a cluster')")


def _check_run(claims: list[registry.Claim], profile: str, sets: Mapping[str, Any], controls: bool) -> None:
    """Every usage error of a run, before anything runs: the --set keys and values at this profile, with the
    controls' overrides."""
    from .runner import split_overrides

    split_overrides(claims, sets, profile, controls)


def _as_dict(result: Any) -> dict[str, Any]:
    return result.to_dict() if hasattr(result, "to_dict") else dict(result)


def _line(r: Mapping[str, Any]) -> str:
    """One result: label, outcome, every check (measured vs expected; ✗ when it missed and the profile asserts),
    seconds."""
    label = report.label(r)
    seconds = f"({float(r.get('seconds') or 0.0):.1f} s)"
    if report.outcome(r) == "error":
        last = r.get("error", "").strip().splitlines()[-1] if str(r.get("error", "")).strip() else ""
        return f"{label}  error: {last[:160]}  {seconds}"
    what = "; ".join(
        f"{c['name']} {report.fmt(c.get('measured'))} vs {report.expectation(c)}"
        + (" (must fail)" if c.get("must_fail") else "")
        + (" ✗" if report.asserted(r) and c.get("passed") is False else "")
        for c in r.get("checks") or [])
    return f"{label}  {report.outcome_text(r)}  {what}  {seconds}"


def _summary(results: list[dict], profile: str) -> str:
    n = len(results)
    counts = {o: sum(report.outcome(r) == o for r in results) for o in report.OUTCOMES}
    ctrls = [r for r in results if r.get("control")]
    if counts["not asserted"] + counts["error"] == n and counts["not asserted"]:
        text = f"{n} result{'s' * (n != 1)} ran, nothing asserted ({profile}): {counts['error']} error"
        if ctrls:
            text += f"; controls ran without error {sum(report.ok(r) for r in ctrls)}/{len(ctrls)}"
        return text
    text = (f"{n} result{'s' * (n != 1)}: {counts['as predicted']} as predicted, "
            f"{counts['not as predicted']} not as predicted, {counts['invalid']} invalid, {counts['error']} error")
    claims = [r for r in results if not r.get("control")]
    if ctrls:
        text += (f" (claims: {sum(report.ok(r) for r in claims)}/{len(claims)} pass; controls failing as predicted "
                 f"{sum(report.ok(r) for r in ctrls)}/{len(ctrls)})")
    return text


def _plan_groups(refs: Sequence[str], profile: str | None
                 ) -> tuple[str, list[tuple[list[registry.Claim], dict[str, Any], tuple[str, ...] | None]]]:
    """The profile and the runs of the plans ``refs``: claims grouped by identical overrides, in plan order,
    without duplicates, each group with the names of the controls it runs (None: all; an entry that names its
    controls is a group of its own)."""
    from . import plans

    loaded = []
    for ref in refs:
        path = plans.find(ref)
        try:
            loaded.append(plans.load(path))
        except UnicodeDecodeError as exc:  # tomllib decodes the bytes itself
            raise UsageError(f"{path}: a plan is TOML, UTF-8 text; this file is not ({exc.reason} at byte "
                             f"{exc.start})") from None
    if profile is None:
        asked = sorted({p.profile for p in loaded})
        if len(asked) > 1:
            raise UsageError(f"the plans ask for different profiles ({', '.join(asked)}); choose one with --profile")
        profile = asked[0]
    groups: dict[str, tuple[list[registry.Claim], dict[str, Any], tuple[str, ...] | None]] = {}
    for plan in loaded:
        for e in plan.claims:
            key = json.dumps([sorted(e.overrides.items()), None if e.controls is None else [e.id, e.controls]],
                             default=str)
            claims, _, _ = groups.setdefault(key, ([], dict(e.overrides), e.controls))
            claim = registry.get(e.id)
            if claim not in claims:
                claims.append(claim)
    if not groups:
        pending = [p.id for plan in loaded for p in plan.pending]
        raise UsageError(f"nothing to run: {', '.join(str(p.path) for p in loaded)} lists no registered claim yet"
                         + (f" (pending: {', '.join(pending)})" if pending else ""))
    return profile, list(groups.values())


def _selected(args: argparse.Namespace, default_profile: str) -> tuple[str, list]:
    """The profile and the tasks that ``run`` and ``estimate`` select: the ids/families (or the --plan entries, at
    the plan's profile and overrides), with --set and --controls; a :class:`UsageError` for a bad selection."""
    from . import runner

    if args.plan:
        if args.names:
            raise UsageError("give claim ids/families or --plan, not both")
        profile, groups = _plan_groups(args.plan, args.profile)
    else:
        profile = args.profile or default_profile
        groups = [(registry.select(args.names), {}, None)]
    sets = registry.parse_sets(args.set)
    every = [c for claims, _, _ in groups for c in claims]
    _check_run(every, profile, sets, args.controls)  # --set keys: declared by some selected claim
    for claims, overrides, _ in groups:
        _check_run(claims, profile, {**overrides, **sets}, args.controls)
    return profile, [t for claims, overrides, only in groups
                     for t in runner.tasks_for(claims, profile, {**overrides, **sets}, args.controls, only)]


def _cmd_run(args: argparse.Namespace) -> int:
    from . import scheduler

    device = _device(args.device)
    _scheduler(args.scheduler)
    profile, tasks = _selected(args, registry.DEFAULT_PROFILE)
    out = _output(args)
    before = _baseline_before(args.baseline, [profile])  # read first: --update-baseline writes over it
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        done = scheduler.run(tasks, jobs=args.jobs, scheduler=args.scheduler, out=out, device=device,
                             fresh=args.fresh, progress=not args.quiet)
        results = [_as_dict(r) for r in done]
        path, _ = _build_report(out)
    if args.json:
        _print_json(results)
    else:
        for r in results:
            print(_line(r))
        print(_summary(results, profile))
        moved = sorted({report.variant(r) for r in results} - {""})
        if moved:
            print(f"runs with overrides or errors are under {out / profile / 'variants'}/ "
                  f"({', '.join(moved)}): the baseline results are untouched")
        print("\n".join(_baseline_lines(before, results, args)))
        print(f"report: {path}")
    return 0 if all(report.ok(r) for r in results) else 1


def _baseline_before(baseline: str, profiles: Sequence[str]) -> dict | None:
    """The baseline's results at ``profiles``, read before a run (:func:`ntkbench.harness.report.baseline_index`); None,
    with a warning naming the file, when one is damaged (the run goes on: it may be what repairs it)."""
    try:
        return report.baseline_index(baseline, profiles)
    except store.DamagedResult as exc:
        print(f"ntkbench: warning: cannot compare with the baseline: {exc}", file=sys.stderr)
        return None


def _baseline_lines(before: Mapping | None, results: Sequence[Mapping[str, Any]], args: argparse.Namespace
                    ) -> list[str]:
    """What the run changed from the baseline (``before``), as pytest-regressions says it: each regression, and
    the results the baseline lacks; with --update-baseline, what the baseline now holds instead."""
    if before is None:
        return []
    regressions, new = report.against_baseline(before, results)
    where = f"the baseline {args.baseline}"
    lines = [f"{'replaced in' if args.update_baseline else 'against'} {where}: {len(regressions)} regression(s)"
             if regressions else f"{'replaced in' if args.update_baseline else 'against'} {where}: no regressions"]
    lines += [f"  {reg}" for reg in regressions]
    if new:
        lines.append(f"  not in {where}: {', '.join(new)}")
    if regressions and not args.update_baseline:
        lines.append("  (the baseline is unchanged; rerun with --update-baseline to replace it, after review)")
    return lines


# ----- calibrate ------------------------------------------------------------------------------------------------------
def _calibration_ok(cal: Mapping[str, Any]) -> bool:
    """Every reseed as predicted: the calibration's ``ok`` when given, else its ``pass_rate`` (the fraction of
    reseeded runs whose outcome is "as predicted", for a claim and a control alike) is 1."""
    if cal.get("status") == "error" or cal.get("error"):
        return False
    if isinstance(cal.get("ok"), bool):
        return cal["ok"]
    rate = cal.get("pass_rate")
    return report.is_finite(rate) and rate == 1


def _calibration_lines(cal: Mapping[str, Any], out: Path, profile: str) -> list[str]:
    f = report.fmt
    label = cal.get("id", "?") + (f" [{cal['control']}]" if cal.get("control") else "")
    path = cal.get("path") or store.calibration_path(out, cal.get("profile") or profile, cal.get("id", "?"),
                                                     cal.get("control"))
    if cal.get("status") == "error" or cal.get("error"):
        last = str(cal.get("error", "")).strip().splitlines()[-1:] or [""]
        return [f"{label}: error: {last[0][:160]}"]
    bad = ", ".join(f"{cal[k]} {k}" for k in ("invalid", "errors") if cal.get(k))
    head = (f"{label}: as predicted in {report.percent(cal.get('pass_rate'))} of {cal.get('reseeds', '?')} reseeds"
            f"{f' ({bad})' if bad else ''}{'' if _calibration_ok(cal) else '  NOT AS PREDICTED'}  → {path}")
    lines = [head]
    quantities = cal.get("quantities") or {}
    for name, q in quantities.items() if isinstance(quantities, Mapping) else ():
        q = q if isinstance(q, Mapping) else {}
        extra = ""
        if report.is_finite(q.get("bias_se")):
            extra += f", bias {f(q['bias_se'], 2)} SE" + (" (BIASED)" if q.get("biased") else "")
        if "lands_at" in q:
            extra += (f", lands at {f(q['lands_at'])} ± {f(q.get('lands_tolerance'))} in "
                      f"{report.percent(q.get('landed_rate'))}, bias {f(q.get('landing_bias_se'), 2)} SE")
        for a in q.get("alternatives") or ():
            if "power" in a:
                extra += f", power vs {f(a['value'])} {report.percent(a['power'])}" + (
                    f" (NOT DISCRIMINATING: ×{f(a.get('cost_factor'), 2)} the data)"
                    if report.is_finite(a["power"]) and a["power"] < power.POWER_GOAL else "")
        if report.is_finite(q.get("sensitivity")):
            cost = q.get("sensitivity_cost")
            extra += f", detects the theory's effect in {report.percent(q['sensitivity'])}" + (
                "" if q["sensitivity"] >= power.POWER_GOAL else
                f" (NOT DISCRIMINATING: {f'×{f(cost, 2)} the data' if report.is_finite(cost) else 'no cost estimate'})")
        lines.append(f"    {name}: {f(q.get('mean'))} ± {f(q.get('sd'))}, passed {report.percent(q.get('pass_rate'))}"
                     f", tolerance {f(q.get('tolerance'))}, noise band {f(q.get('suggested_tolerance'))}{extra}")
    return lines


def _cmd_calibrate(args: argparse.Namespace) -> int:
    if args.controls_only and not (args.controls or args.control):
        raise UsageError("--controls-only needs --controls or --control NAME (the controls to calibrate)")
    claims = registry.select(args.names)
    device = _device(args.device)
    _scheduler(args.scheduler)
    out = _output(args)
    try:
        from .calibrate import calibrate
    except ImportError as exc:
        print(f"ntkbench: error: calibration is not available in this installation (ntkbench.harness.calibrate: {exc})",
              file=sys.stderr)
        return 1
    try:
        if args.recompute:
            from .calibrate import recompute_all

            rows = recompute_all(out, args.profile, [c.id for c in claims])
        else:
            rows = calibrate([c.id for c in claims], reseeds=args.reseeds, profile=args.profile, jobs=args.jobs,
                             scheduler=args.scheduler, out=out, controls=args.controls or args.control,
                             claims_too=not args.controls_only, device=device, progress=not args.quiet,
                             first_seed=args.first_seed, replace=args.update_baseline)
    except (UsageError, KeyboardInterrupt, store.WriteError):  # a write error: one line (main)
        raise
    except Exception:  # noqa: BLE001 - reported, never a crash of the CLI
        print(f"ntkbench: calibration failed:\n{traceback.format_exc()}", file=sys.stderr)
        return 1
    rows = [dict(r) for r in rows or []]
    for cal in rows:
        print("\n".join(_calibration_lines(cal, out, args.profile)))
    rules = {q.get("rule") for cal in rows for q in (cal.get("quantities") or {}).values() if isinstance(q, Mapping)}
    for rule in sorted(r for r in rules if r):
        print(rule)
    with contextlib.suppress(UsageError):  # calibrations alone (no result.json yet): no summary to rebuild
        print(f"report: {_build_report(out)[0]}")
    if not rows:
        print("ntkbench: calibration returned nothing", file=sys.stderr)
        return 1
    return 0 if all(_calibration_ok(c) for c in rows) else 1


# ----- report / compare -----------------------------------------------------------------------------------------------
def _cmd_report(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    if folder.is_dir():
        writable_folder(folder, "DIR")
    for flag, given in (("--rejudge", args.rejudge), ("--reanalyse", args.reanalyse)):
        if given and not args.update_baseline and _inside(folder, Path(args.baseline)):
            raise UsageError(f"{flag} rewrites the result.json files of {str(folder)!r}, which is in the committed "
                             f"baseline {str(args.baseline)!r}: pass --update-baseline to rewrite them")
    if args.reanalyse:
        from .runner import reanalyse_folder

        for r, why in reanalyse_folder(folder, args.reanalyse):
            control = f" [{r['control']}]" if r.get("control") else ""
            print(f"{r['id']}{control}: " + (f"left as it is: {why}" if why else report.outcome_text(r)))
    if args.rejudge:
        from .runner import rejudge_folder

        for r in rejudge_folder(folder, args.rejudge):
            control = f" [{r['control']}]" if r.get("control") else ""
            print(f"{r['id']}{control}: {report.outcome_text(r)}")
    path, damaged = _build_report(folder)
    print(path)
    return 2 if damaged else 0  # a damaged result is an input error, never a clean summary


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
    out = _output(args)
    try:
        from .mitigation import run_mitigation
    except ImportError as exc:
        print(f"ntkbench: error: the mitigation experiment is not available: {exc}", file=sys.stderr)
        return 1
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        try:
            res = run_mitigation(profile=args.profile, sets=sets, out=out, device=device)
        except (UsageError, KeyboardInterrupt, store.WriteError):  # a write error: one line (main)
            raise
        except Exception:  # noqa: BLE001 - reported like an error result, never as a crash of the CLI
            res = {"status": "error", "error": traceback.format_exc()}
        with contextlib.suppress(UsageError):  # nothing written (e.g. an error before the first σ): no summary
            _build_report(out)
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


# ----- estimate -------------------------------------------------------------------------------------------------------
def _cmd_estimate(args: argparse.Namespace) -> int:
    from . import estimate

    if not Path(args.baseline).is_dir():
        raise UsageError(f"--baseline {args.baseline!r} is not a folder (the committed results the model is "
                         "fitted to)")
    if args.validate:
        if args.names or args.plan:
            raise UsageError("--validate checks every recorded run: give no ids or --plan with it")
        checks = estimate.validate(args.baseline, args.profile or "paper")
        if args.json:
            _print_json([c.__dict__ | {"ratio": c.ratio} for c in checks])
        else:
            print("\n".join(estimate.render_validation(checks, args.profile or "paper")))
        return 0
    _, tasks = _selected(args, "paper")
    est = estimate.estimate(tasks, args.baseline)
    if args.json:
        _print_json(estimate.as_dict(est, args.jobs))
    else:
        print("\n".join(estimate.render(est, args.jobs)))
    return 1 if any(c.error for c in est.claims) else 0


_COMMANDS = {"list": _cmd_list, "show": _cmd_show, "run": _cmd_run, "calibrate": _cmd_calibrate,
             "report": _cmd_report, "compare": _cmd_compare, "mitigate": _cmd_mitigate, "estimate": _cmd_estimate}
