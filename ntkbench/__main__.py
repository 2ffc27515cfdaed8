"""``python -m ntkbench``: the command line (see :mod:`ntkbench.cli`)."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
