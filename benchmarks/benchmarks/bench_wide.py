"""The GD step of family E's sweep (002 Thm 11.23, Prop. 11.26: ``ntkbench.experiments.wide.measure_gd``), which
trains S one-hidden-layer nets and reads their linearization gap on training and test inputs at every step.

* ``WideGDStep.time_step``: one step as measure_gd takes it — :func:`outputs_and_gradient`, the gradient written
  out from one projection of the training and test inputs, which also gives the outputs the gap reads;
* ``WideGDStep.track_speedup_over_autograd``: the time of the same step by autograd (a forward pass on the training
  inputs, ``torch.autograd.grad``, then a second forward pass on all inputs for the gap: measure_gd's step until
  December 2026) over ``time_step``'s, best of ``ROUNDS`` alternating calls each (:func:`common.best_times`: a
  ratio measured in one run, so a loaded machine weighs on both alike).

S = 8 members per initialization as at ``ci``, d = 16, 6 training and 32 test inputs (one set per member, as
``wide/linearization-gap`` draws them), erf.
"""

from __future__ import annotations

import torch

from ntkbench.experiments import wide

from . import common

ROUNDS = 25  # the step is 1–20 ms: best of many alternating rounds, or a shared machine's noise dominates
MEMBERS, D_IN, TRAIN, TEST = 8, 16, 6, 32


class WideGDStep:
    params = ([512, 4096], ["ntk", "lecun"])
    param_names = ["width", "init"]
    timeout = 120

    def setup(self, width, init):
        common.set_threads()
        point = {"d_in": D_IN, "n_points": TRAIN, "n_test": TEST, "seeds": MEMBERS, "seed_offset": 0,
                 "data": "per_member"}
        _, self.y, self.xt = wide._gd_data(point)
        self.w = wide.draw(init, width, D_IN, list(range(MEMBERS)))
        self.sc = wide.scales(init, width, D_IN)

    def _by_hand(self):
        return wide.outputs_and_gradient(self.w, self.xt, TRAIN, self.y, self.sc, "erf")

    def _by_autograd(self):
        leaves = {k: t.clone().requires_grad_(True) for k, t in self.w.items()}
        out = wide.forward(leaves, self.xt[:, :TRAIN], self.sc, "erf")
        grads = torch.autograd.grad(((out - self.y) ** 2).sum(), list(leaves.values()))
        with torch.no_grad():
            return wide.forward(self.w, self.xt, self.sc, "erf"), grads

    def time_step(self, width, init):
        self._by_hand()

    def track_speedup_over_autograd(self, width, init):
        autograd, by_hand = common.best_times(self._by_autograd, self._by_hand, min_rounds=ROUNDS,
                                              max_rounds=ROUNDS)
        return autograd / by_hand

    track_speedup_over_autograd.unit = "× (autograd step / measure_gd's step)"
