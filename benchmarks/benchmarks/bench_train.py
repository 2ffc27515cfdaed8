"""Training steps: one network, and S seeds vectorized with ``vmap`` as ``ntkbench.train_ensemble`` does.

Task: n = 100 inputs in d = 784 (MNIST-sized), depth 2, width 64 or 1024, float64, loss ½‖f − y‖².
GD and SGD use lr = ½/λ_max(Θ) (``lr_from_ntk``, c = 0.5, stable); AdaGrad 1e-2, Adam 1e-3. SGD draws
batches of 10 (``batch_fraction=0.1``), one permutation per member, as the trainer does.

* ``EnsembleStep.time_step``: one step of the trainer's arithmetic without its bookkeeping: the step that
  ``train_ensemble`` runs (``ntkbench.train._Run``: ``vmap(grad_and_value)`` of the loss over chunks of the
  stacked parameters, each followed by the in-place update ``opt.step_``). ``SingleNetStep.time_step``: the
  plain reference for one unstacked net, ``grad_and_value`` without ``vmap`` and the pure ``opt.step``.
* ``time_train``: ``train_ensemble`` for ``TRAIN_STEPS`` steps (threshold off), bookkeeping included.
* ``StepCostPerSeed.track_step_cost_per_seed``: (S-seed trainer step ÷ S) ÷ the trainer's step of one net
  (S = 1), the two timed alternately in one process; the goal is ≤ 1.1.
* ``track_train_cost_per_seed``: (``train_ensemble`` with S seeds ÷ S) ÷ ``train`` of one net.
* ``CompiledStep``: the compiled step (:mod:`ntkbench.compiled`) against the plain eager step and the trainer's
  eager step, on 004's small jamming nets (Adam, square hinge, d = 10, depth 3, 500 points).
"""

from __future__ import annotations

import torch
from torch.func import grad_and_value

import ntkbench as nb
from ntkbench import compiled as compiled_step
from ntkbench.losses import get_loss
from ntkbench.optimizers import get_optimizer
from ntkbench.train import _Run

from . import common

OPTIMIZERS = ("gd", "sgd", "adagrad", "adam")
SEEDS = (1, 10, 20)
COST_SEEDS = (10, 20)
WIDTHS = (64, 1024)
N, D, DEPTH = 100, 784, 2
SGD_FRACTION = 0.1
TRAIN_STEPS = 5
_LR = {"adagrad": 1e-2, "adam": 1e-3}


class TrainingTask:
    """Everything one benchmark point needs; ``step()`` / ``one_net_step()`` / ``single_step()`` / ``train()``
    are timed."""

    def __init__(self, optimizer: str, seeds: int, width: int):
        self.name, self.seeds = optimizer, seeds
        self.net = nb.MLP(d_in=D, width=width, depth=DEPTH)
        self.x = common.inputs(N, D)
        self.y = torch.sin(3.0 * self.x[:, 0] * D**0.5) / 2  # a smooth target of size ~0.5
        p0 = self.net.init(0)
        self.lr = _LR.get(optimizer) or nb.lr_from_ntk(self.net, p0, self.x, c=0.5)
        self.opt = get_optimizer(optimizer, self.lr)
        self.params = nb.init_ensemble(self.net, range(seeds))
        self.single = p0
        self.single_state = self.opt.init(p0)
        loss = get_loss("half_sse")

        def objective(p, xb, yb):
            return loss(self.net(p, xb), yb)

        self.grad_single = grad_and_value(objective)
        self.mini = optimizer == "sgd"
        batch = round(SGD_FRACTION * N) if self.mini else N
        gen = torch.Generator().manual_seed(0)
        self.order = torch.argsort(torch.rand(seeds, N, generator=gen), dim=1)
        self.idx = self.order[:, :batch]
        # the trainer's working sets: S members, and one net (S = 1) for the per-seed cost
        self.run = _Run(self.net, loss, self.opt, self.params, self.lr, self.x, self.y, None, None,
                        threshold=None, batch=batch)
        self.one = _Run(self.net, loss, self.opt, nb.stack_params([p0]), self.lr, self.x, self.y, None, None,
                        threshold=None, batch=batch)

    @staticmethod
    def _trainer_step(run, order, mini):
        if mini:
            run.batch_step(order, 0)
        else:
            run.full_batch_step(update=True, test=False)

    def step(self):
        """One step of ``train_ensemble``'s arithmetic for the S members (in place on the run's buffers)."""
        self._trainer_step(self.run, self.order, self.mini)

    def one_net_step(self):
        """The same step for one net (S = 1)."""
        self._trainer_step(self.one, self.order[:1], self.mini)

    def single_step(self):
        """The plain reference: one unstacked net, no vmap, the pure ``opt.step``."""
        if self.mini:
            i = self.idx[0]
            grads, _value = self.grad_single(self.single, self.x[i], self.y[i])
        else:
            grads, _value = self.grad_single(self.single, self.x, self.y)
        return self.opt.step(self.single, grads, self.single_state)

    def _train_kwargs(self):
        return dict(optimizer=self.name, lr=self.lr, max_steps=TRAIN_STEPS, threshold=None,
                    record_every=TRAIN_STEPS, batch_fraction=SGD_FRACTION if self.mini else 1.0, seed=0)

    def train(self):
        return nb.train_ensemble(self.net, self.params, self.x, self.y, **self._train_kwargs())

    def train_single(self):
        return nb.train(self.net, self.single, self.x, self.y, **self._train_kwargs())


class SingleNetStep:
    """One training step of one network (no vmap), per optimizer."""

    params = (list(OPTIMIZERS), list(WIDTHS))
    param_names = ["optimizer", "width"]
    timeout = 120

    def setup(self, optimizer, width):
        common.set_threads()
        self.task = TrainingTask(optimizer, 1, width)
        common.warm_call(self.task.single_step)
        common.reset_peak_rss()

    def time_step(self, optimizer, width):
        self.task.single_step()

    def peakmem_step(self, optimizer, width):
        self.task.single_step()


class EnsembleStep:
    """S seeds stacked and vectorized: one step, ``TRAIN_STEPS`` steps of ``train_ensemble``, and the
    per-seed cost of ``train_ensemble`` relative to ``train`` of one net."""

    params = (list(OPTIMIZERS), list(SEEDS), list(WIDTHS))
    param_names = ["optimizer", "seeds", "width"]
    timeout = 300

    def setup(self, optimizer, seeds, width):
        common.set_threads()
        self.task = TrainingTask(optimizer, seeds, width)
        common.warm_call(self.task.step)
        common.reset_peak_rss()

    def time_step(self, optimizer, seeds, width):
        self.task.step()

    def peakmem_step(self, optimizer, seeds, width):
        self.task.step()

    def time_train(self, optimizer, seeds, width):
        self.task.train()

    def track_train_cost_per_seed(self, optimizer, seeds, width):
        ensemble = common.best_time(self.task.train, min_repeat=1, max_repeat=3)
        single = common.best_time(self.task.train_single, min_repeat=1, max_repeat=3)
        return ensemble / seeds / single

    track_train_cost_per_seed.unit = "ratio"


class StepCostPerSeed:
    """track: (S-seed step ÷ S) ÷ one-net step, both the step ``train_ensemble`` runs, timed alternately in one
    process (best of several calls each: load from other work weighs on both alike). The goal is ≤ 1.1 at
    width 1024."""

    params = (list(OPTIMIZERS), list(COST_SEEDS), list(WIDTHS))
    param_names = ["optimizer", "seeds", "width"]
    timeout = 300
    unit = "ratio"

    def setup(self, optimizer, seeds, width):
        common.set_threads()
        self.task = TrainingTask(optimizer, seeds, width)

    def track_step_cost_per_seed(self, optimizer, seeds, width):
        ensemble, one = common.best_times(self.task.step, self.task.one_net_step)
        return ensemble / seeds / one


# ----- the compiled step (ntkbench.compiled) ------------------------------------------------------------------------
#: 004's jamming nets at ci: d = 10 whitened components, depth 3, n = 500 points, Adam on the square hinge
JAM_N, JAM_D, JAM_DEPTH = 500, 10, 3
#: steps per timed call (one step of a small net is ~0.1–3 ms: a block keeps the timer's resolution out)
BLOCK = 20


class CompiledTask:
    """A jamming-sized ensemble (``seeds`` members of width ``width``) and three ways to step it: the plain eager
    step of one net (``grad_and_value`` without vmap, the pure ``opt.step``: the issue's reference), the trainer's
    eager step and its compiled step (``_Run(..., compiled=True)``), all with Adam at 1e-3 and no threshold."""

    def __init__(self, seeds: int, width: int):
        self.net = nb.MLP(d_in=JAM_D, width=width, depth=JAM_DEPTH)
        self.x = common.inputs(JAM_N, JAM_D)
        self.y = torch.sign(self.x[:, 0] + 0.3 * self.x[:, 1])
        loss = get_loss("square_hinge")
        self.opt = get_optimizer("adam", 1e-3)
        params = nb.init_ensemble(self.net, range(seeds))
        self.eager = _Run(self.net, loss, self.opt, params, 1e-3, self.x, self.y, None, None, threshold=None,
                          batch=JAM_N)
        self.compiled = _Run(self.net, loss, self.opt, params, 1e-3, self.x, self.y, None, None, threshold=None,
                             batch=JAM_N, compiled=True)
        self.single = self.net.init(0)
        self.state = self.opt.init(self.single)

        def objective(p, xb, yb):
            return loss(self.net(p, xb), yb)

        self.grad_single = grad_and_value(objective)

    def plain_steps(self):
        for _ in range(BLOCK):
            grads, _value = self.grad_single(self.single, self.x, self.y)
            self.single, self.state = self.opt.step(self.single, grads, self.state)

    def eager_steps(self):
        for _ in range(BLOCK):
            self.eager.full_batch_step(update=True, test=False)

    def compiled_steps(self):
        for _ in range(BLOCK):
            self.compiled.full_batch_step(update=True, test=False)


class CompiledStep:
    """The compiled step against the eager ones on 004's small jamming nets, where a step's fixed cost (dispatch,
    allocation) is most of it. ``time_``: ``BLOCK`` steps. ``track_plain_over_compiled``: the plain eager step of
    one net ÷ the trainer's compiled step of one net (S = 1), timed alternately in one process; the goal is ≥ 3.
    ``track_eager_over_compiled``: the trainer's eager step ÷ its compiled step at S members. Compiling (seconds)
    is paid in ``setup``."""

    params = ([1, 16], [4, 24])
    param_names = ["seeds", "width"]
    timeout = 600

    def setup(self, seeds, width):
        if not compiled_step.available("cpu")[0]:
            common.skip("torch.compile cannot build CPU kernels here: " + compiled_step.available("cpu")[1])
        common.set_threads()
        self.task = CompiledTask(seeds, width)
        self.task.compiled_steps()  # compiles
        self.task.eager_steps()

    def time_compiled(self, seeds, width):
        self.task.compiled_steps()

    def time_eager(self, seeds, width):
        self.task.eager_steps()

    def track_plain_over_compiled(self, seeds, width):
        if seeds != 1:
            common.skip("the plain reference is one net")
        plain, comp = common.best_times(self.task.plain_steps, self.task.compiled_steps)
        return plain / comp

    track_plain_over_compiled.unit = "ratio"

    def track_eager_over_compiled(self, seeds, width):
        eager, comp = common.best_times(self.task.eager_steps, self.task.compiled_steps)
        return eager / comp

    track_eager_over_compiled.unit = "ratio"
