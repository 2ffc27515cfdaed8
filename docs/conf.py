"""Sphinx configuration of the ntkbench documentation (``nox -s docs``; tests/test_docs.py builds it with -W).

The pages under ``families/`` are written at build time by ``_ext/ntkbench_families.py`` from the claim registry,
the committed results in ``results/ci`` and the calibration records in ``results/ci/calibration``: edit the
generator or the hand-written design notes in ``_design/``, never the generated pages.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))  # the checkout's ntkbench, also when it is not installed

project = "ntkbench"
author = "the ntkbench authors"
copyright = "the ntkbench authors"  # noqa: A001 - Sphinx's name

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "ntkbench_families",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_design", "**/.ipynb_checkpoints"]

# MyST: `#anchor` links to headings (docs/claims.md links to #references), $…$ maths, ::: fences.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "dollarmath"]

# The API reference: the engine's public modules, documented from their docstrings as written.
autosummary_generate = False
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # signatures as written; type hints in text would need every annotation resolvable
autodoc_mock_imports: list[str] = []

html_theme = "pydata_sphinx_theme"
html_title = "ntkbench"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_static_path = ["_static"]
html_css_files = ["ntkbench.css"]
