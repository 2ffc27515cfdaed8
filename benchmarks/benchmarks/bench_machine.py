"""The machine's limits, against which the sweeps' training steps are judged (issue 38: a step's roofline is the
larger of its FLOPs at the GEMM rate and its bytes moved at the memory bandwidth).

* ``GemmRate.track_gflops``: the float64 (or float32) matrix-product rate of torch on ``THREADS`` threads at the
  shapes the sweeps multiply — a batch of inputs through a wide layer, a wide layer's square Gram, the one-input
  nets of loss/invariance — and one large square product, the machine's peak. GFLOP/s, 2·m·k·n per product.
* ``Bandwidth.track_gbs``: the memory bandwidth of a copy (read + write) and of an axpy ``y += a·x`` (two reads and
  one write) over 256 MiB arrays, far past the caches. GB/s counted as bytes moved over the best of the repeats.

Both report the best of ``REPEATS`` timed calls after a warm-up (the least disturbed by other work on a shared
machine); asv's own timing of ``time_`` benchmarks would add its overhead to the small shapes.
"""

from __future__ import annotations

import time

import torch

from . import common

REPEATS = 7
#: (m, k, n) of A(m×k)·B(k×n): the input batch of 000/001 through a 4 000-wide layer, one hidden layer's
#: 1 000 × 1 000 weights against 100 inputs, the 4 points of loss/invariance through a 16 384-wide layer, and
#: the 1 024³ square product (the peak)
SHAPES = {"mnist-batch": (100, 784, 4000), "hidden-layer": (100, 1000, 1000), "one-input-net": (4, 16384, 1),
          "square": (1024, 1024, 1024)}
#: elements of each bandwidth array (float64: 256 MiB)
STREAM = 2**25


def _best(fn, repeats: int = REPEATS) -> float:
    fn()  # warm-up: allocation, first-call dispatch
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


class GemmRate:
    params = (list(SHAPES), ["float64", "float32"])
    param_names = ["shape", "dtype"]
    timeout = 120

    def setup(self, shape, dtype):
        common.set_threads()
        m, k, n = SHAPES[shape]
        g = torch.Generator().manual_seed(0)
        self.a = torch.randn(m, k, generator=g, dtype=common.DTYPES[dtype])
        self.b = torch.randn(k, n, generator=g, dtype=common.DTYPES[dtype])
        self.flops = 2.0 * m * k * n

    def track_gflops(self, shape, dtype):
        return self.flops / _best(lambda: torch.mm(self.a, self.b)) / 1e9

    track_gflops.unit = "GFLOP/s"


class Bandwidth:
    params = (["copy", "axpy"],)
    param_names = ["kernel"]
    timeout = 120

    def setup(self, kernel):
        common.set_threads()
        self.x = torch.rand(STREAM, dtype=torch.float64)
        self.y = torch.rand(STREAM, dtype=torch.float64)
        size = self.x.element_size() * STREAM
        if kernel == "copy":
            self.fn, self.bytes = (lambda: self.y.copy_(self.x)), 2 * size
        else:
            self.fn, self.bytes = (lambda: self.y.add_(self.x, alpha=1e-9)), 3 * size

    def track_gbs(self, kernel):
        return self.bytes / _best(self.fn) / 1e9

    track_gbs.unit = "GB/s"
