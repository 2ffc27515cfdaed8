"""Parameter groups shared by the claims: the data, the nets and their training, and the sweep axes.

Each function returns a tuple of :class:`~ntkbench.harness.registry.Param` with one value per profile (smoke, ci, paper)
given as a 3-tuple; a claim concatenates the groups it needs. Every parameter declared here reaches every sweep
point (:meth:`~ntkbench.harness.registry.Claim.points`) and is read there by :mod:`ntkbench.experiments.trained`.
"""

from __future__ import annotations

from ..harness.spec import Param

# The embedded data sets a claim may train on (no download; see ntkbench.data).
EMBEDDED = ("mnist01", "bump2d", "sin1d", "boston", "mnist_parity")


def data(*, dataset=("mnist01",) * 3, n_train=(12, 50, 100), n_test=(20, 100, 100), pca=(5, 20, 0),
         choices=EMBEDDED) -> tuple[Param, ...]:
    """The training data: which embedded set, the split sizes, MNIST whitening, the split's seed."""
    return (
        Param("dataset", *dataset, help="training data (embedded; no download)", kind="str", choices=choices),
        Param("n_train", *n_train, help="training points N", kind="int", low=1),
        Param("n_test", *n_test, help="test points", kind="int", low=1),
        Param("pca", *pca, help="MNIST: 0 = raw pixels, k = whiten on k principal components", kind="int", low=0,
              high=784),
        Param("data_seed", 0, 0, 0, help="seed of the train/test split (plus seed_offset)", kind="int", low=0),
    )


def training(*, seeds=(2, 5, 10), threshold=(1e-3, 1e-4, 1e-4), max_steps=(2000, 20000, 200000),
             lr_c=(1.0, 1.0, 1.0), cap_factor=(4.0, 4.0, 4.0)) -> tuple[Param, ...]:
    """Full-batch GD of a vectorized ensemble to a training threshold, learning rate c/λ_max(Θ(X, X)) per member
    (000 App. E, 001 App. D), step cap scaled with the conditioning (:func:`ntkbench.experiments.trained.step_cap`;
    ``cap_factor=None``: a fixed cap ``max_steps``, for experiments without a linearized step count; ``lr_c=None``:
    for an experiment whose rates come from elsewhere, e.g. :func:`ntkbench.train.monotone_lr`)."""
    out = (
        Param("seeds", *seeds, help="independent initializations (trained together, vectorized)", kind="int",
              low=1, high=999),
        Param("threshold", *threshold, help="stop when ½‖f(X) − Y‖² first drops below this", kind="float", low=0,
              low_open=True),
        Param("max_steps", *max_steps, help="step cap, raised to cap_factor × the steps of the slowest member's "
              "linearized model (∝ κ(Θ)) when that is more, up to 20×; a member that hits the cap did not reach "
              "the threshold and makes the run invalid", kind="int", low=1),
    )
    if lr_c is not None:
        out += (Param("lr_c", *lr_c, help="learning rate c/λ_max(Θ(X, X)) per member: c < 2 keeps GD on the "
                      "linearized model stable (000 Lemma 1's regime); 2 ≤ c < 4 is the unstable (catapult) regime",
                      kind="float", low=0, low_open=True, high=4),)
    if cap_factor is not None:
        out += (Param("cap_factor", *cap_factor, help="the cap is at least this multiple of the steps the "
                      "linearized model needs (000 Eq. 8)", kind="float", low=1),)
    return out


def network(*, sigma=None, width=None, depth=None, init=("standard",) * 3, bias=None, activation=None,
            parametrization=None) -> tuple[Param, ...]:
    """A fully-connected net: any of its settings as a single value per profile (a sweep over one of them is
    declared with :func:`depth_axis`, :func:`sigma_axis` or :func:`width_axis` instead)."""
    out = []
    if depth is not None:
        out.append(Param("depth", *depth, help="number of weight layers L", kind="int", low=2))
    if width is not None:
        out.append(Param("width", *width, help="hidden width m", kind="int", low=1))
    if sigma is not None:
        out.append(Param("sigma", *sigma, help="initialization scale σ", kind="float", low=0, low_open=True))
    if init is not None:
        out.append(Param("init", *init, help="standard N(0,1) weights, or asi (003 §6: zero initial output, same "
                         "NTK)", kind="str", choices=("standard", "asi")))
    if bias is not None:
        out.append(Param("bias", *bias, help="none (no bias parameters: the setting of 000 App. C's and 001 Thm 2's "
                         "proofs), zero (trainable, initialized at 0: 000 App. E) or normal", kind="str",
                         choices=("none", "zero", "normal")))
    if activation is not None:
        out.append(Param("activation", *activation, help="activation function", kind="str",
                         choices=("relu", "tanh", "erf")))
    if parametrization is not None:
        out.append(Param("parametrization", *parametrization, help="ntk (000 Eq. 1) or mean_field (output layer "
                         "σ/m, its bias σ/√m: not lazy)", kind="str", choices=("ntk", "mean_field")))
    return tuple(out)


def depth_axis(depth, width) -> tuple[Param, ...]:
    """One sweep point per depth L, each with its own width (declared per depth)."""
    return (
        Param("depth", *depth, help="numbers of weight layers L (one fit per depth)", kind="ints", low=2,
              axis="depth"),
        Param("width", *width, help="hidden width m: one per depth, or one for all (an unlisted depth takes the "
              "width of the nearest listed one)", kind="ints", per="depth", low=1),
    )


def sigma_axis(sigmas) -> tuple[Param, ...]:
    return (Param("sigmas", *sigmas, help="initialization scales σ of the sweep", kind="floats", low=0,
                  low_open=True, axis="sigma"),)


def width_axis(widths) -> tuple[Param, ...]:
    return (Param("widths", *widths, help="hidden widths m of the sweep", kind="ints", low=1, axis="width"),)


def seed_axis(seeds) -> tuple[Param, ...]:
    """One sweep point per seed (for checks on single random nets, not trained ensembles)."""
    return (Param("seeds", *seeds, help="random nets (one sweep point each)", kind="int", low=1, high=999,
                  axis="seed"),)
