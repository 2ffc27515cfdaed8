"""Sessions for ntkbench: ``nox -s tests`` (the test suite) and more.

Every session installs the project into its own virtual environment with the
constraint file ``ci/constraints.txt`` (``torch==2.13.0``), which this project's
machines resolve to a local CPU wheel: a fresh set-up never downloads a CUDA build.
"""

from __future__ import annotations

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
