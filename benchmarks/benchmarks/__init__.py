"""asv benchmark suite of ntkbench (see ../asv.conf.json and README "Performance").

Modules: ``bench_kernels`` (empirical NTK by method, forward+backward reference, tracked ratios),
``bench_analytic`` (infinite-width kernels), ``bench_train`` (single-net and vectorized ensemble
training steps, per-seed cost). ``common`` holds the shared set-up, thread count and skip rules.
"""

from . import common

common.warm_up()
