"""The three rooms of the package (ntkbench.runner): the cache key hashes the engine and the experiments only, so
every registered measurement must live there, and an experiment must not reach into the claims or the harness
(an edit there would change a measured row without changing the key: a silently wrong cache)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import ntkbench
from ntkbench import registry, runner

PACKAGE = Path(ntkbench.__file__).parent


def _hashed_module(module: str) -> bool:
    parts = module.split(".")
    return parts[0] == "ntkbench" and runner.hashed(Path(*parts[1:-1], parts[-1] + ".py") if len(parts) > 1
                                                    else Path("__init__.py"))


def test_every_claims_measurement_is_an_experiment():
    outside = []
    for claim in registry.all_claims():
        fn = claim.measure
        where = getattr(fn, "__module__", "")
        if not _hashed_module(where) or getattr(fn, "__name__", "") == "<lambda>":
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
    from ntkbench.claims import checks

    assert not _hashed_module(checks.__name__) and _hashed_module("ntkbench.experiments.optim")
    assert _hashed_module("ntkbench.train") and not _hashed_module("ntkbench.registry")
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
