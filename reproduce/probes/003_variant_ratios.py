"""Family C (003): the mean per-draw ratios of every asi-generalization variant to the original over reseeds, the
numbers the README and the claim's notes quote from its calibration (the calibration JSON keeps only each check's
value, the upper end of an interval).

Per reseed ``seed_offset`` = 1 … K, the claim's ci run (6 draws × 5 variants); over all K × 6 draws, the mean of the
per-draw ratios variant/original of the test MSE and of the GD steps, and ASI's steps over asi-h0's (with the
range of its per-reseed means).

Run: ``OMP_NUM_THREADS=1 python reproduce/probes/003_variant_ratios.py OUT [K] [FIRST]`` — OUT is an output folder:
after ``ntkbench calibrate init-output/asi-generalization --reseeds 10 --controls --out OUT`` at the same code its
cached points are reused, otherwise each reseed is measured (about 190 s each on one core). FIRST (default 1) runs
reseeds FIRST … K only, e.g. two halves in two processes; a run over all K then reads them from the cache.
"""

import sys

import numpy as np
import pandas as pd

from ntkbench.harness.runner import run_claim

CLAIM = "init-output/asi-generalization"


def draws(out: str, k: int, first: int = 1) -> pd.DataFrame:
    """The member rows (one per draw and variant) of reseeds first … k, with their seed offset."""
    frames = []
    for offset in range(first, k + 1):
        r = run_claim(CLAIM, "ci", {"seed_offset": offset}, out=out)
        if r.data is None:
            raise RuntimeError(f"seed_offset={offset}: {r.status} {r.error}")
        frames.append(r.data[r.data["part"] == "member"].assign(seed_offset=offset))
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    out, k = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10
    first = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    d = draws(out, k, first).set_index(["seed_offset", "seed"])
    base = d[d["init"] == "standard"]
    print(f"{len(base)} draws (seed offsets {first}–{k}): mean per-draw ratio to the original")
    for init in [i for i in d["init"].unique() if i != "standard"]:
        v = d[d["init"] == init]
        print(f"  {init:9s} test MSE {np.mean(v['test_mse'] / base['test_mse']):.3g}   "
              f"steps {np.mean(v['steps'] / base['steps']):.3g}")
    asi, h0 = d[d["init"] == "asi"], d[d["init"] == "asi-h0"]
    ratio = asi["steps"] / h0["steps"]
    per = ratio.groupby(level="seed_offset").mean()
    print(f"  ASI's steps over asi-h0's: {ratio.mean():.3g} (per reseed {per.min():.2f}–{per.max():.2f})")


if __name__ == "__main__":
    main()
