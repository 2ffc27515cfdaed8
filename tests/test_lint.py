"""The lint set-up holds together: `nox -s lint` and the pre-commit hook pin the same ruff release, and .ci/run runs
the lint and the README's test command (ruff itself runs in `nox -s lint`, not here)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_nox_and_pre_commit_pin_the_same_ruff():
    nox_pin = re.search(r'^RUFF = "ruff==([\w.]+)"', (ROOT / "noxfile.py").read_text(encoding="utf-8"), re.M)
    hook = re.search(r"astral-sh/ruff-pre-commit\s+rev: v([\w.]+)",
                     (ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    assert nox_pin and hook, "the ruff pin of noxfile.py (RUFF) or .pre-commit-config.yaml (rev) is missing"
    assert nox_pin.group(1) == hook.group(1)


def test_ci_runs_the_lint_and_the_readme_test_command():
    commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert "nox -s lint" in commands and "nox -s tests" in commands
    assert commands.index("nox -s lint") < commands.index("nox -s tests")  # the test summary closes the log
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(r"^nox -s tests\b.*what CI runs", readme, re.M)
    assert "nox -s lint" in readme
