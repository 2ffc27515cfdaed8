"""Sessions for ntkbench: ``nox -s tests`` (the test suite) and more.

Every session installs the project into its own virtual environment with the
constraint file ``ci/constraints.txt`` (``torch==2.13.0``), which this project's
machines resolve to a local CPU wheel: a fresh set-up never downloads a CUDA build.
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests"]

CONSTRAINTS = ("-c", "ci/constraints.txt")


def _install(session: nox.Session, extras: str = "") -> None:
    target = f".[{extras}]" if extras else "."
    session.install(*CONSTRAINTS, "torch==2.13.0")
    session.install(*CONSTRAINTS, "-e", target)


@nox.session
def tests(session: nox.Session) -> None:
    """Unit tests and exact identities; slow science runs are deselected."""
    _install(session, "test")
    session.run("pytest", "-m", "not slow", *session.posargs)


@nox.session
def tests_slow(session: nox.Session) -> None:
    """Only the tests marked slow (minutes each on 2 CPU cores)."""
    _install(session, "test")
    session.run("pytest", "-m", "slow", *session.posargs)


@nox.session
def reproduce(session: nox.Session) -> None:
    """Every claim and its negative controls at the ``ci`` profile on the embedded data, the σ-shrinking
    mitigation, and the summary: writes results/ (the committed baseline; review its diff before committing).

    Arguments go to ``ntkbench run``: ``nox -s reproduce -- --profile paper``, ``-- init-scale/sigma-2L``,
    ``-- --set seeds=10``. Finished sweep points are cached in results/.cache, so an interrupted run resumes."""
    _install(session)
    import argparse

    peek = argparse.ArgumentParser(add_help=False)  # only to see the profile, the output and a selection
    peek.add_argument("names", nargs="*")
    peek.add_argument("--profile", default="ci")
    peek.add_argument("--out", default="results")
    peek.add_argument("--set", action="append", default=[])
    peek.add_argument("--device", default="cpu")
    peek.add_argument("--jobs", default="1")
    known, _ = peek.parse_known_args(session.posargs)
    out = [] if "--out" in session.posargs else ["--out", known.out]
    # one claim per core, one thread each: no oversubscription of the cores (README, "Claims")
    jobs = [] if "--jobs" in session.posargs else ["--jobs", str(os.cpu_count() or 1)]
    if not known.names:  # the whole catalogue: also the mitigation procedure of 001 Sect. 3 (an error in it
        # is recorded in its mitigation.json and shown in the report; the claims run regardless)
        session.run("ntkbench", "mitigate", "--profile", known.profile, "--out", known.out, "--device", known.device,
                    success_codes=[0, 1])
    # writes every result as it finishes and the summary OUT/README.md at the end; exits 1 (failing the session)
    # when a claim fails, errs, or a negative control passes
    session.run("ntkbench", "run", "--controls", *out, *jobs, *session.posargs)


@nox.session
def claims(session: nox.Session) -> None:
    """The CI regression of the science: every registered claim and negative control at ``ci`` (the slow ones
    too, ~1 h on 2 cores), each compared with the committed baseline results/ci (tests/test_claims.py)."""
    _install(session, "test")
    session.run("pytest", "-m", "claims", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """asv benchmarks of the current checkout (the working tree, as installed in this venv), recorded
    under the HEAD commit's hash in benchmarks/.asv/results. ``nox -s bench -- --quick`` runs every
    benchmark once (a smoke run, ~15 min on 2 cores); other arguments go to ``asv run`` (``-b REGEX``)."""
    _install(session, "bench")
    with session.chdir("benchmarks"):
        session.run("asv", "machine", "--yes")
        session.run("asv", "run", "--python=same", "--set-commit-hash", "HEAD", *session.posargs)


@nox.session
def bench_compare(session: nox.Session) -> None:
    """The current checkout against a revision: ``nox -s bench_compare -- REV [--quick] [-b REGEX]``.
    Both sides run in this venv (REV's ntkbench from ``git archive``); asv's comparison table with
    factor 1.1, regressions listed last, exit status 1 when there is one (benchmarks/asv_compare.py)."""
    if not session.posargs:
        session.error("give the revision to compare against: nox -s bench_compare -- REV [asv run options]")
    _install(session, "bench")
    with session.chdir("benchmarks"):
        session.run("asv", "machine", "--yes")
    session.run("python", "benchmarks/asv_compare.py", *session.posargs)
