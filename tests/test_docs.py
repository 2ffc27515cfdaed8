"""The documentation site (docs/, `nox -s docs`) builds without a warning, a broken internal link fails the build,
the family pages follow the registry (a new family appears by itself, a claim without results says so), and the
Python examples of the docs run as written.

Sphinx, MyST and the PyData theme are test dependencies (pyproject's `test` extra): when they are missing these
tests fail, they do not skip."""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _require_sphinx() -> None:
    missing = []
    for name in ("sphinx", "myst_parser", "pydata_sphinx_theme"):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        pytest.fail(f"the documentation's build dependencies are missing: {', '.join(missing)} "
                    "(pip install -e '.[test]')")


def _build(src: Path, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-E", "-q",
                           str(src), str(out)], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


def test_site_builds_without_a_warning(tmp_path):
    _require_sphinx()
    proc = _build(DOCS, tmp_path / "html")
    assert proc.returncode == 0 and "WARNING" not in proc.stderr, proc.stderr[-4000:]
    html = tmp_path / "html"
    for page in ("index", "getting-started", "running", "outputs", "calibration", "adding-a-claim", "claims",
                 "guarantees", "performance", "known-problems", "notes", "api/index", "api/networks",
                 "families/index"):
        assert (html / f"{page}.html").is_file(), page
    from ntkbench.harness import registry

    family_pages = {p.stem for p in (html / "families").glob("*.html")}
    for family in registry.families():  # every family of the registry has a page (its own or its catalogue's)
        assert any(family in page.split("-and-") for page in family_pages), (family, family_pages)
    first = registry.all_claims()[0]
    page = next((html / "families").glob(f"*{first.family}*.html")).read_text(encoding="utf-8")
    assert first.id in page and "figure.png" in page and "Negative controls" in page


def test_a_broken_internal_link_fails_the_build_and_missing_results_are_said(tmp_path):
    """A copy of docs/ outside the checkout (so without results/) with one page that links to a page that does not
    exist: the build fails and names the link; the family pages say that no result is committed."""
    _require_sphinx()
    src = tmp_path / "docs"
    shutil.copytree(DOCS, src, ignore=shutil.ignore_patterns("_build", "families"))
    (src / "broken.md").write_text("---\norphan: true\n---\n\n# Broken\n\nSee [nowhere](no-such-page.md).\n",
                                   encoding="utf-8")
    proc = _build(src, tmp_path / "html")
    assert proc.returncode != 0
    warnings = [line for line in proc.stderr.splitlines() if "WARNING" in line]
    assert warnings and all("broken.md" in line for line in warnings), proc.stderr[-4000:]
    assert "no-such-page" in proc.stderr
    generated = (src / "families" / "init-scale.md").read_text(encoding="utf-8")
    assert "no committed result yet" in generated and "No calibration record" in generated


def test_family_pages_follow_the_registry():
    """A new claim of a family that the catalogue names ('wide'), and one of a family that the catalogue does not
    know, each land on a page, without results."""
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        gen = importlib.import_module("ntkbench_families")
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    from ntkbench.harness import registry

    claims = registry.all_claims()
    extra = [dataclasses.replace(claims[0], id="wide/an-example"), dataclasses.replace(claims[0], id="newfam/one")]
    groups = {g.slug: g for g in gen.groups(claims + extra)}
    wide = [c.id for c in groups["wide"].claims]
    assert wide[-1] == "wide/an-example" and all(i.startswith("wide/") for i in wide)
    assert [c.id for c in groups["newfam"].claims] == ["newfam/one"]
    for slug in ("wide", "newfam"):
        page = gen.family_page(groups[slug])
        assert "no committed result yet" in page and "No calibration record" in page
    assert set(groups) >= {g.slug for g in gen.groups()}


@pytest.mark.parametrize("page", ["adding-a-claim.md", "getting-started.md"])
def test_python_examples_of_the_docs_run(page):
    blocks = re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(encoding="utf-8"), re.S)
    assert blocks, f"docs/{page} has no ```python block"
    for block in blocks:
        exec(compile(block, str(DOCS / page), "exec"), {})  # noqa: S102 - the page's own example
