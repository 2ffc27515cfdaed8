"""Sessions for ntkbench: ``nox -s tests`` (the test suite), ``nox -s lint`` (ruff) and more.

Every session installs the project into its own virtual environment with the
constraint file ``ci/constraints.txt`` (``torch==2.13.0``), which this project's
machines resolve to a local CPU wheel: a fresh set-up never downloads a CUDA build.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests"]

CONSTRAINTS = ("-c", "ci/constraints.txt")
#: the ruff of ``nox -s lint`` and .ci/run; .pre-commit-config.yaml pins the same release (its ``rev``)
RUFF = "ruff==0.17.6"
ROOT = Path(__file__).resolve().parent
PLANS = ROOT / "reproduce"


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
def lint(session: nox.Session) -> None:
    """ruff on the repository with the rule set of pyproject.toml ([tool.ruff]); other arguments go to
    ``ruff check`` (``-- --statistics``, ``-- ntkbench/fit.py``). Needs no install of the project."""
    session.install(RUFF)
    session.run("ruff", "check", *(session.posargs or ["."]))


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site into docs/_build/html (Sphinx, MyST, the PyData theme), warnings as errors. The family
    pages are generated at build time from the registry, results/ci and the calibration records
    (docs/_ext/ntkbench_families.py). Other arguments go to sphinx-build."""
    _install(session, "docs")
    session.run("sphinx-build", "-b", "html", "-W", "--keep-going", "-E", "docs", "docs/_build/html",
                *session.posargs, env={"OMP_NUM_THREADS": "1"})


@nox.session
def tests_slow(session: nox.Session) -> None:
    """Only the tests marked slow (minutes each on 2 CPU cores)."""
    _install(session, "test")
    session.run("pytest", "-m", "slow", *session.posargs)


def _git_state() -> str:
    """The commit of the checkout, ``git rev-parse --short HEAD``, with ``+dirty`` when a tracked file outside
    results/ differs from it (results/ is what a reproduction rewrites, not the code that computes it); "" without
    git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)results"], cwd=ROOT, capture_output=True, text=True, timeout=10,
                               check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return head + ("+dirty" if dirty else "") if head else ""


def _plan_info(path: Path) -> tuple[str, bool]:
    """The profile of a plan and whether it asks for the mitigation run (the plans are validated by ntkbench)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10 running nox: the plan's own profile is read by `ntkbench run`
        text = path.read_text(encoding="utf-8")
        found = re.search(r'^profile\s*=\s*"(\w+)"', text, re.M)
        return (found.group(1) if found else "ci"), bool(re.search(r"^\[mitigation\]", text, re.M))
    with open(path, "rb") as fh:
        plan = tomllib.load(fh)
    return str(plan.get("profile", "ci")), "mitigation" in plan


@nox.session
def reproduce(session: nox.Session) -> None:
    """Every claim and its negative controls at the ``ci`` profile on the embedded data, the σ-shrinking
    mitigation, and the summary: writes results/ (the committed baseline, with ``--update-baseline``; review its
    diff before committing; each run also prints what changed against the results it replaced).

    ``nox -s reproduce -- 004`` runs one source document's plan instead (reproduce/004.toml: its claims at its
    profile with its overrides, and the mitigation when the plan lists it); several numbers run several plans.
    Other arguments go to ``ntkbench run``: ``-- --profile paper``, ``-- init-scale/sigma-2L``,
    ``-- --set seeds=10``, ``-- --scheduler tcp://host:8786`` (a Dask cluster measures the sweep points; by default
    one local worker process per core does), ``-- --out runs`` (a working folder: the baseline stays as it is).
    Finished sweep points are cached in the output folder's .cache, so an interrupted run resumes.

    The git state is read before anything runs and passed to every command as ``NTKBENCH_GIT``: the results record
    the commit that computed them, not the ``+dirty`` that the session's own writes to results/ would add."""
    git = os.environ.get("NTKBENCH_GIT") or _git_state()  # first: the mitigation rewrites tracked files
    env = {"NTKBENCH_GIT": git} if git else {}
    docs = [a for a in session.posargs if re.fullmatch(r"\d{3}", a)]
    args = [a for a in session.posargs if a not in docs]
    for doc in docs:
        if not (PLANS / f"{doc}.toml").is_file():
            known = ", ".join(p.stem for p in sorted(PLANS.glob("*.toml")))
            session.error(f"no plan reproduce/{doc}.toml; the plans: {known}")
    _install(session)
    import argparse

    peek = argparse.ArgumentParser(add_help=False)  # only to see the profile, the output and a selection
    peek.add_argument("names", nargs="*")
    peek.add_argument("--profile", default=None)
    peek.add_argument("--out", default=None)
    peek.add_argument("--set", action="append", default=[])
    peek.add_argument("--device", default="cpu")
    peek.add_argument("--jobs", default="1")
    peek.add_argument("--scheduler", default=None)
    known, _ = peek.parse_known_args(args)
    # reproduce is the one command that writes over the committed results (docs/guarantees.md); a user's --out
    # writes elsewhere instead: the run gets it among its arguments, the mitigation here
    out = ["--update-baseline"] + (["--out", known.out] if known.out else [])
    # the sweep points of every claim on one worker process per core, one thread each, largest first (docs/running.md,
    # "Running in parallel"); with --scheduler ADDRESS the cluster's workers do it and --jobs is not needed
    jobs = [] if "--jobs" in args or (known.scheduler and known.scheduler != "local") else [
        "--jobs", str(os.cpu_count() or 1)]
    mitigate = []  # profiles at which to run the mitigation procedure of 001 Sect. 3
    if docs:
        for doc in docs:
            profile, wanted = _plan_info(PLANS / f"{doc}.toml")
            if wanted:
                mitigate.append(known.profile or profile)
    elif not known.names:  # the whole catalogue: also the mitigation
        mitigate.append(known.profile or "ci")
    for profile in dict.fromkeys(mitigate):  # an error in it is recorded in its mitigation.json and shown in the
        # report; the claims run regardless
        session.run("ntkbench", "mitigate", "--profile", profile, *out, "--device", known.device,
                    success_codes=[0, 1], env=env)
    plans = [f"--plan=reproduce/{doc}.toml" for doc in docs]
    # writes every result as it finishes and the summary OUT/README.md at the end; exits 1 (failing the session)
    # when a claim fails, is invalid or errs, or a negative control passes
    session.run("ntkbench", "run", "--controls", "--update-baseline", *plans, *jobs, *args, env=env)


@nox.session
def claims(session: nox.Session) -> None:
    """The CI regression of the science: every registered claim and negative control at ``ci`` (the slow ones
    too, one at a time: ~20 min for family A on an idle 2-core machine, more as families are added), each compared
    with the committed baseline results/ci (tests/test_claims.py)."""
    _install(session, "test")
    session.run("pytest", "-m", "claims", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """asv benchmarks of the current checkout (the working tree, as installed in this venv), recorded
    under the HEAD commit's hash in benchmarks/.asv/results. ``nox -s bench -- --quick`` runs every
    benchmark once (a smoke run, ~11 min on 2 cores); other arguments go to ``asv run`` (``-b REGEX``)."""
    _install(session, "bench")
    with session.chdir("benchmarks"):
        session.run("asv", "machine", "--yes")
        session.run("asv", "run", "--python=same", "--set-commit-hash", "HEAD", *session.posargs)


@nox.session
def rooflines(session: nox.Session) -> None:
    """Each claim's most expensive ci point against this machine's roofline (float64 GEMM rate and copy bandwidth
    on one thread, measured here; the points from the committed results/ci): writes results/bench/rooflines.
    {json,md}, the table of docs/performance.md (benchmarks/rooflines.py). Run it on an idle machine."""
    _install(session)
    args = list(session.posargs) or ["--out", "results/bench"]
    session.run("python", "benchmarks/rooflines.py", *args, env={"OMP_NUM_THREADS": "1"})


@nox.session
def bench_peers(session: nox.Session) -> None:
    """ntkbench against neural-tangents 0.6.5: the empirical NTK (three implementations each) and the analytic NTK,
    time ratio, peak memory and agreement, one pinned thread per measurement (benchmarks/peers.py). neural-tangents
    runs in its own virtual environment beside this session's (``benchmarks/peers-constraints.txt``: jax/jaxlib
    0.4.25, numpy 1.26, tensorflow), which ntkbench's does not fit. Writes results/bench/peers.{json,md} (the
    table of docs/performance.md); ``-- --quick`` runs every code path at a small scale and writes nothing unless
    given ``--out``. Not part of ``nox -s tests``."""
    _install(session)
    peer = Path(session.virtualenv.location + "-peer")
    if not (peer / "bin" / "python").exists():
        session.run("python", "-m", "venv", str(peer))
    session.run(str(peer / "bin" / "python"), "-m", "pip", "install", "-q", "-c", "benchmarks/peers-constraints.txt",
                "neural-tangents==0.6.5", external=True)
    args = list(session.posargs) or ["--out", "results/bench"]
    session.run("python", "benchmarks/peers.py", "--peer-python", str(peer / "bin" / "python"), *args,
                env={"OMP_NUM_THREADS": "1"})


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
