"""Side-by-side measurement of the three empirical-NTK methods and one forward+backward pass (README
"Performance"), and of the per-seed cost of an ensemble training step.

    python benchmarks/compare_methods.py                  # both scales + ensemble, markdown to stdout
    python benchmarks/compare_methods.py --json out.json  # also the raw numbers

Every measurement runs in its own child process (same interpreter, ``NTKBENCH_BENCH_THREADS`` threads,
1 by default) so that peak memory is that of the call alone: the child builds its inputs, resets the
kernel's RSS high-water mark (``/proc/self/clear_refs``), makes one call and reports
VmHWM − VmRSS(before) as the *peak increment*; it then reports the best wall time of ``--repeat`` more
calls. tracemalloc would not see torch's allocations, hence this. Scales:

* ``paper``: n = 100, d = 784, width 4000, depth 2 (one hidden layer), float64 — the 000/001 set-up.
* ``deep``: n = 1000, d = 10, width 1000, depth 5, float64. The n × P Jacobian would take 24 GB here,
  so jacobian and ntvp run on the first ``--deep-sub`` inputs only and their n = 1000 cost is given as a
  lower bound (both grow at least linearly in n: jacobian's build ∝ n and contraction ∝ n², ntvp ∝ n²).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

SCALES = {
    "paper": dict(n=100, d=784, width=4000, depth=2, dtype="float64"),
    "deep": dict(n=1000, d=10, width=1000, depth=5, dtype="float64"),
}
METHODS = ("structured", "jacobian", "ntvp", "fwd_bwd")


# ----- child side -----------------------------------------------------------------------------------
def _child(spec: dict) -> dict:
    import torch

    import ntkbench as nb
    from benchmarks import common

    common.set_threads()
    if spec["kind"] == "kernel":
        net, params, x = common.problem(spec["n"], spec["width"], spec["depth"], spec["d"], spec["dtype"])
        if spec["method"] == "fwd_bwd":
            fn = common.forward_backward(net, params, x)
        else:
            def fn():
                return nb.empirical_ntk(net, params, x, method=spec["method"])
    else:  # ensemble step
        from benchmarks.bench_train import TrainingTask

        task = TrainingTask(spec["optimizer"], spec["seeds"], spec["width"])
        fn = task.single_step if spec["single"] else task.step
    torch.manual_seed(0)
    before = common.rss_status().get("VmRSS", 0)
    common.reset_peak_rss()
    fn()
    peak = common.rss_status().get("VmHWM", 0) - before
    times = []
    for _ in range(spec["repeat"]):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {**spec, "seconds": min(times), "all_seconds": times, "peak_increment": peak, "threads": common.THREADS}


def measure(spec: dict) -> dict:
    """Run one measurement in a fresh child process."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"measurement {spec} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----- parent side ----------------------------------------------------------------------------------
def _fmt_t(s: float) -> str:
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def _fmt_b(b: float) -> str:
    return f"{b / 2**20:.0f} MiB" if b < 2**30 else f"{b / 2**30:.2f} GiB"


def kernel_rows(scale: str, repeat: int, deep_sub: int, methods=METHODS) -> list[dict]:
    from benchmarks import common

    cfg = SCALES[scale]
    rows = []
    for method in methods:
        spec = dict(kind="kernel", method=method, repeat=repeat, **cfg)
        sub = scale == "deep" and method in ("jacobian", "ntvp")
        if sub:
            spec["n"] = deep_sub
        if method == "ntvp":
            spec["repeat"] = max(1, min(repeat, 2))
        r = measure(spec)
        r["subset"] = sub
        r["nP_bytes"] = cfg["n"] * common.n_params(cfg["width"], cfg["depth"], cfg["d"]) * 8
        rows.append(r)
        print(f"  {scale:6s} {method:10s} n={spec['n']:5d} {_fmt_t(r['seconds']):>10s} "
              f"peak +{_fmt_b(r['peak_increment'])}", file=sys.stderr, flush=True)
    return rows


def ensemble_rows(repeat: int, width: int) -> list[dict]:
    rows = []
    for opt in ("gd", "sgd", "adagrad", "adam"):
        single = measure(dict(kind="train", optimizer=opt, seeds=1, width=width, single=True, repeat=repeat))
        for seeds in (1, 10, 20):
            r = measure(dict(kind="train", optimizer=opt, seeds=seeds, width=width, single=False, repeat=repeat))
            r["single_seconds"] = single["seconds"]
            r["per_seed_ratio"] = r["seconds"] / seeds / single["seconds"]
            rows.append(r)
            print(f"  {opt:8s} S={seeds:2d} step {_fmt_t(r['seconds']):>10s}  single {_fmt_t(single['seconds'])}"
                  f"  per-seed ratio {r['per_seed_ratio']:.2f}", file=sys.stderr, flush=True)
    return rows


def markdown(kernels: dict[str, list[dict]], ensemble: list[dict]) -> str:
    lines = []
    for scale, rows in kernels.items():
        cfg = SCALES[scale]
        by = {r["method"]: r for r in rows}
        if "structured" not in by:
            continue
        st, fb = by["structured"], by.get("fwd_bwd")
        lines += [
            f"**{scale}**: n = {cfg['n']}, d = {cfg['d']}, width {cfg['width']}, depth {cfg['depth']}, "
            f"{cfg['dtype']}; n × P × 8 bytes = {_fmt_b(rows[0]['nP_bytes'])}",
            "",
            "| method | time (best) | ÷ structured | peak memory (increment) |",
            "| --- | ---: | ---: | ---: |",
        ]
        for method in [m for m in METHODS if m in by]:
            r = by[method]
            if r["subset"]:
                factor = cfg["n"] / r["n"]  # cost grows at least linearly in n
                t = f"≥ {_fmt_t(r['seconds'] * factor)} (n = {r['n']}: {_fmt_t(r['seconds'])})"
                ratio = f"≥ {r['seconds'] * factor / st['seconds']:.0f}×"
                mem = f"≥ {_fmt_b(r['nP_bytes'])} (n = {r['n']}: {_fmt_b(r['peak_increment'])})"
            else:
                t, mem = _fmt_t(r["seconds"]), _fmt_b(r["peak_increment"])
                q = r["seconds"] / st["seconds"]
                ratio = "1" if method == "structured" else (f"{q:.0f}×" if q >= 10 else f"{q:.2f}×")
            name = "one forward+backward" if method == "fwd_bwd" else method
            lines.append(f"| {name} | {t} | {ratio} | {mem} |")
        lines += [""]
        if fb:
            lines += [f"structured / forward+backward = {st['seconds'] / fb['seconds']:.2f}", ""]
    if ensemble:
        w = ensemble[0]["width"]
        lines += [
            f"**ensemble step** (n = 100, d = 784, width {w}, depth 2, float64; SGD: batches of 10): one "
            "vectorized step of S seeds ÷ S, relative to one step of a single net (no vmap)",
            "",
            "| optimizer | single net | S = 1 | S = 10 | S = 20 |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for opt in ("gd", "sgd", "adagrad", "adam"):
            rs = [r for r in ensemble if r["optimizer"] == opt]
            cells = [f"{r['per_seed_ratio']:.2f} ({_fmt_t(r['seconds'])})" for r in rs]
            lines.append(f"| {opt} | {_fmt_t(rs[0]['single_seconds'])} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--scales", default="paper,deep", help="comma-separated; empty for none")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ",".join(METHODS))
    ap.add_argument("--repeat", type=int, default=5, help="timed calls after the first (best is kept)")
    ap.add_argument("--deep-sub", type=int, default=100)
    ap.add_argument("--ensemble-width", type=int, default=1024)
    ap.add_argument("--no-ensemble", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return 0
    methods = [m for m in args.methods.split(",") if m]
    kernels = {s: kernel_rows(s, args.repeat, args.deep_sub, methods) for s in args.scales.split(",") if s}
    ensemble = [] if args.no_ensemble else ensemble_rows(args.repeat, args.ensemble_width)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"kernels": kernels, "ensemble": ensemble}, f, indent=1)
    print(markdown(kernels, ensemble))
    return 0


if __name__ == "__main__":
    sys.exit(main())
