"""Family C (003): the measured costs and conditioning the README quotes for settings that do not run at ci.

1. 003's paper sizes: seconds per GD step of one member (one thread) times the steps the linearized model needs to
   the threshold (``linearize.linear_steps`` at c/λ_max, c = 1).
2. Boston housing: κ(Θ(X, X)) of 1-1024-1 NTK-parametrized nets, tanh against ReLU, by the number of training points
   (why loss/invariance's Boston variant uses ReLU).
3. Boston housing, 400 points, v_std = 10 (Glorot): the linearized steps of the original and the ASI net for the
   two asi-generalization plans (1-256-256-1 and 13-1024-1) at three MSE thresholds.

Run: ``OMP_NUM_THREADS=1 python reproduce/probes/003_costs.py`` (a few minutes; times depend on the machine).
"""

import time

import torch

from ntkbench import data
from ntkbench.claims import init_output as C
from ntkbench.experiments.trained import outputs
from ntkbench.harness.runner import Context
from ntkbench.kernels import empirical_ntk
from ntkbench.linearize import linear_steps
from ntkbench.train import init_ensemble, train_ensemble, unstack_params

CTX = Context()


def net(d_in, *, depth, width, v_std, scheme="glorot", activation="relu"):
    return C.make_net({"scheme": scheme, "width": width, "depth": depth, "v_std": v_std, "activation": activation},
                      CTX, d_in)


def steps_to(model, p0, ds, threshold):
    """κ(Θ) and the linearized model's GD steps to a training MSE below ``threshold`` at rate 1/λ_max."""
    gram = empirical_ntk(model, unstack_params(p0, 0), ds.x_train)
    ev = torch.linalg.eigvalsh(gram)
    r = ds.y_train - outputs(model, p0, ds.x_train)[0]
    n = ds.x_train.shape[0]
    return float(ev[-1] / ev[0]), linear_steps(gram, r, lr=1.0 / float(ev[-1]), threshold=threshold * n / 2)


print("1. paper sizes")
for name, n, depth, width, v_std, threshold in (("sin1d", 4, 3, 500, 5.0, 1e-8), ("sin1d", 10, 3, 5000, 10.0, 1e-8),
                                               ("boston", 400, 2, 100000, 10.0, 1e-3)):
    ds = data.load(name, n_train=n, n_test=100, seed=0, **({"design": "uniform"} if name == "sin1d" else {}))
    model = net(ds.d_in, depth=depth, width=width, v_std=v_std)
    p0 = init_ensemble(model, [0])
    train_ensemble(model, p0, ds.x_train, ds.y_train, lr=1e-12, max_steps=2, record_every=2)  # warm-up
    k = 40 if width <= 5000 else 10
    t = time.perf_counter()
    train_ensemble(model, p0, ds.x_train, ds.y_train, lr=1e-12, max_steps=k, record_every=k)
    per_step = (time.perf_counter() - t) / k
    kappa, steps = steps_to(model, p0, ds, threshold)
    print(f"  {name} n={n} L={depth} m={width}: {per_step:.3g} s/step, κ {kappa:.3g}, {steps:.3g} steps to MSE "
          f"{threshold:g}: {steps * per_step / 3600:.3g} h per member", flush=True)

print("2. Boston: κ(Θ) of 1-1024-1 NTK nets")
for n in (10, 20, 50, 100, 400):
    ds = data.load("boston", n_train=n, n_test=106, seed=0)
    for activation in ("tanh", "relu"):
        model = net(ds.d_in, depth=2, width=1024, v_std=1.0, scheme="ntk", activation=activation)
        kappa, _ = steps_to(model, init_ensemble(model, [0]), ds, 1e-8)
        print(f"  n={n} {activation}: κ {kappa:.3g}", flush=True)

print("3. Boston, 400 points, v_std = 10: linearized steps of asi-generalization's plans")
ds = data.load("boston", n_train=400, n_test=106, seed=0)
for depth, width in ((3, 256), (2, 1024)):
    for init in ("standard", "asi"):
        model, p0 = C.variant(net(ds.d_in, depth=depth, width=width, v_std=10.0), [0], init)
        mse0 = float((ds.y_train - outputs(model, p0, ds.x_train)[0]).pow(2).mean())
        for threshold in (1e-5, 1e-4, 1e-3):
            kappa, steps = steps_to(model, p0, ds, threshold)
            print(f"  L={depth} m={width} {init}: initial MSE {mse0:.3g}, κ {kappa:.3g}, {steps:.3g} steps to MSE "
                  f"{threshold:g}", flush=True)
