"""The claim families of the catalogue (docs/claims.md), one module each (what each measures lives in
:mod:`ntkbench.experiments`), and the building blocks they share: parameter groups (:mod:`.params`) and check
builders (:mod:`.checks`). Importing this package registers every family's claims, in the catalogue's order (the
registry's order is the order of ``ntkbench list`` and of the report)."""

# the order of these imports is the order in which the families register: not sorted
# isort: off
from . import init_scale, optim  # noqa: F401  (families A, B)
from . import init_output  # noqa: F401  (family C)
from . import scaling  # noqa: F401  (family D part 1)
from . import jamming  # noqa: F401  (family D part 2: after part 1)
from . import wide  # noqa: F401  (family E)
# isort: on
