"""The claim families of the catalogue (docs/claims.md), one module each, and the building blocks they share:
parameter groups (:mod:`.params`), the trained-ensemble experiment (:mod:`.trained`) and check builders
(:mod:`.checks`). Importing this package registers every family's claims."""

from . import init_scale, jamming, optim, scaling  # noqa: F401
