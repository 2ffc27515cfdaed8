"""ntkbench: reproducible checks of wide-network / neural-tangent-kernel theory."""
from .networks import ASI, MLP, Centered, doubling_trick
from .kernels import empirical_ntk
