"""The three rooms of the package (ntkbench.harness.runner): the cache key hashes the engine and the experiments only,
so
every registered measurement must live there, and an experiment must not reach into the claims or the harness
(an edit there would change a measured row without changing the key: a silently wrong cache)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import ntkbench
from ntkbench.harness import registry, runner

PACKAGE = Path(ntkbench.__file__).parent


def test_every_claims_measurement_is_an_experiment():
    outside = []
    for claim in registry.all_claims():
        fn = claim.measure
        where = getattr(fn, "__module__", "")
        if not runner.hashed_module(where) or getattr(fn, "__name__", "") == "<lambda>":
            outside.append(f"{claim.id}: {getattr(fn, '__qualname__', fn)} in {where}")
    assert not outside, "measure functions must be named functions of ntkbench.experiments: " + "; ".join(outside)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(relative level, module) of every import of a source file, the package's own as dotted names."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            found += [(node.level, node.module or "")] if node.module or node.level == 0 else \
                [(node.level, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(0, a.name) for a in node.names]
    return found


def _resolve(path: Path, level: int, module: str) -> Path | None:
    """The package-relative module file an import of ``path`` names, or None for a third-party module."""
    if level == 0:
        if not module.startswith("ntkbench"):
            return None
        base, parts = PACKAGE, module.split(".")[1:]
    else:
        base, parts = path.parent, module.split(".") if module else []
        for _ in range(level - 1):
            base = base.parent
    target = base.joinpath(*parts) if parts else base
    target = target / "__init__.py" if target.is_dir() else target.with_suffix(".py")
    return target.relative_to(PACKAGE)


def test_the_hashed_rooms_import_only_hashed_modules():
    """The engine and the experiments import nothing that the cache key leaves out (a claims module or the
    harness): whatever computes a row is in the key."""
    strays = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if not runner.hashed(rel):
            continue
        for level, module in _imports(path):
            target = _resolve(path, level, module)
            if target is not None and not runner.hashed(target):
                strays.append(f"{rel} imports {target}")
    assert not strays, "; ".join(strays)


def test_a_measure_function_lives_where_the_key_sees_it():
    """The rule above, checked on a function the key would miss: a measurement written in a claims module."""
    import ntkbench.experiments.optim
    import ntkbench.train  # noqa: F401
    from ntkbench.claims import checks

    assert not runner.hashed_module(checks.__name__) and runner.hashed_module("ntkbench.experiments.optim")
    assert runner.hashed_module("ntkbench.train") and not runner.hashed_module("ntkbench.harness.registry")
    assert not runner.hashed_module("ntkbench.claims") and runner.hashed_module("ntkbench.experiments")
    assert inspect.getmodule(registry.get("optim/sgd-equals-gd").measure).__name__ == "ntkbench.experiments.optim"


def _toy_measure(point, ctx):  # a measurement outside the hashed rooms, as a user's own claim module has
    return None


def test_a_measurement_outside_the_rooms_keys_its_own_source():
    """A claim registered from elsewhere (a researcher's module) is not in the code hash, so its points are keyed
    by its source file too: editing that file recomputes them."""
    import hashlib
    from types import SimpleNamespace

    assert runner.measure_code(registry.get("optim/sgd-equals-gd")) == {}
    own = runner.measure_code(SimpleNamespace(measure=_toy_measure))
    assert own == {"measure_code": hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]}


def test_the_engine_and_experiments_import_without_the_claims_or_harness():
    """Issue 37: the engine is importable on its own. In a fresh interpreter, every module of the engine and the
    experiments is imported, and neither a claims nor a harness module (nor matplotlib) is loaded."""
    import subprocess
    import sys

    modules = sorted(f"ntkbench.{'.'.join(p.relative_to(PACKAGE).with_suffix('').parts)}"
                     for p in PACKAGE.rglob("*.py") if runner.hashed(p.relative_to(PACKAGE))
                     and p.name != "__init__.py")
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + "bad = sorted(m for m in sys.modules if m.startswith(('ntkbench.harness', 'ntkbench.claims', "
              "'matplotlib')))\nprint(len(sys.modules)); assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(modules) >= 18  # the engine's modules and the experiments


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Every module of the package and the package modules it imports, function-level (lazy) imports included; a
    ``from . import sub`` is an edge to the submodule, not to the package that holds it."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)] if node.level else []
                root = ".".join(base + [node.module]) if node.module else ".".join(base)
                subs = [f"{root}.{a.name}" for a in node.names if f"{root}.{a.name}" in modules]
                targets = subs if len(subs) == len(node.names) else [root, *subs]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            edges[name] |= {t for t in targets if t in modules and t != name}
    return edges


def test_no_import_cycle():
    """Issue 37: registry ↔ every claims module (through its loader) and runner ↔ scheduler were cycles. The spec of a
    claim (harness.spec) is what the claims import, the registry loads them; the run lifecycle (harness.lifecycle)
    is what the scheduler imports, the runner drives both."""
    edges = _import_graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert not cycles, "; ".join(" → ".join(c) for c in cycles)
    assert "ntkbench.harness.scheduler" in edges["ntkbench.harness.runner"]  # the graph sees the edges it should
