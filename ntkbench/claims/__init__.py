"""The claim families of the catalogue (docs/claims.md), one module each (what each measures lives in
:mod:`ntkbench.experiments`), and the building blocks they share: parameter groups (:mod:`.params`) and check
builders (:mod:`.checks`). Importing this package registers every family's claims (in any order: the registry
lists them in the catalogue's order, which is the order of ``ntkbench list`` and of the report)."""

# importing a family module registers its claims; the registry lists them in the catalogue's order whatever the
# order of these imports (ntkbench.harness.registry.all_claims)
from . import init_output, init_scale, jamming, optim, scaling, wide  # noqa: F401
