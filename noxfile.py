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
