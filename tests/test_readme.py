"""The README's Python example runs as written (documentation that cannot rot silently), and what it promises about
``import ntkbench``: the harness modules are reachable as attributes without being imported up front, and nothing
in ntkbench changes matplotlib's backend."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "README.md has no ```python block"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})  # noqa: S102 - the README's own example


def _python(code: str, **env) -> dict:
    """Run ``code`` in a fresh interpreter (so that this process's imports do not count); it prints one JSON line."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **env}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, cwd=ROOT,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_is_light_and_submodules_are_lazy():
    """`import ntkbench` then `ntkbench.harness.runner.run_claim` (as the README writes it) works without importing the
    harness, matplotlib or the claim families at import time (PEP 562 module __getattr__)."""
    out = _python(
        "import json, sys, ntkbench\n"
        "before = sorted(m for m in ('matplotlib', 'seaborn', 'ntkbench.harness.registry', 'ntkbench.claims', "
        "'ntkbench.harness.runner', 'ntkbench.harness.figures', 'ntkbench.harness.report') if m in sys.modules)\n"
        "ok = callable(ntkbench.harness.runner.run_claim) and callable(ntkbench.harness.registry.all_claims)\n"
        "print(json.dumps({'before': before, 'ok': ok, 'runner': 'ntkbench.harness.runner' in sys.modules}))"
    )
    assert out == {"before": [], "ok": True, "runner": True}


def test_every_submodule_is_an_attribute_after_import():
    import ntkbench

    names = sorted(p.stem for p in (ROOT / "ntkbench").glob("*.py") if not p.stem.startswith("_"))
    names += sorted(p.parent.name for p in (ROOT / "ntkbench").glob("*/__init__.py"))
    for name in names:
        mod = getattr(ntkbench, name)
        assert name in dir(ntkbench)
        if not isinstance(mod, ModuleType):  # a function exported under its module's name (ntkbench.linearize)
            assert name in ntkbench.__all__, name
            continue
        assert mod.__name__ == f"ntkbench.{name}"
    with pytest.raises(AttributeError, match="no_such_thing"):
        ntkbench.no_such_thing  # noqa: B018


def test_matplotlib_backend_is_left_alone():
    """Importing ntkbench, its figures and its claims, and rendering a figure, keep the user's backend (a
    non-interactive one other than Agg that needs no display) and rcParams."""
    out = _python(
        "import json, matplotlib\n"
        "import ntkbench, ntkbench.harness.figures, ntkbench.claims\n"
        "after_import = matplotlib.get_backend()\n"
        "face = matplotlib.rcParams['axes.facecolor']\n"
        "from ntkbench.harness.figures import render, subplots\n"
        "def fig(*_):\n"
        "    f, (ax,) = subplots(1)\n"
        "    ax.plot([1, 2], [1, 4])\n"
        "    return f\n"
        "png = render(fig, None, None, None, None)\n"
        "print(json.dumps({'import': after_import, 'render': matplotlib.get_backend(), 'png': png[:4] == "
        "b'\\x89PNG', 'rc': matplotlib.rcParams['axes.facecolor'] == face}))",
        MPLBACKEND="svg",
    )
    assert out == {"import": "svg", "render": "svg", "png": True, "rc": True}
