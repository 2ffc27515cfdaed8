"""Each claim's most expensive ``ci`` point against the machine's roofline (issue 38): per training step, the larger
of its arithmetic at the machine's float64 matrix-product rate and its memory traffic at the machine's bandwidth,
and the measured step time as a multiple of it.

    nox -s rooflines                       # measures the machine, writes results/bench/rooflines.{json,md}
    python benchmarks/rooflines.py [--baseline results] [--out DIR]

The machine: the float64 product of two 1 024 × 1 024 matrices and a copy of 256 MiB (read + write), one thread,
best of 7 calls after a warm-up (the asv benchmarks of ``benchmarks/benchmarks/bench_machine.py``, called once).
The points: the committed ``results/ci`` timings and rows, read by :mod:`ntkbench.harness.estimate` (nets, inputs n,
parameters P, hidden units, the longest member's steps and the member-steps). Per step of the batch:

* arithmetic = 6 n P × the mean number of nets still training (member-steps ÷ longest steps), at the GEMM rate;
* traffic = 8 bytes × that many nets × (10 P + 4 n Σ widths): Adam reads θ in the forward and the backward pass,
  writes the gradient, reads θ, g and both moments and writes θ and both moments (10 P); the forward pass writes
  each hidden activation, the backward pass reads it and writes and reads its gradient (4 n Σ widths);
* measured = the point's seconds ÷ its longest steps: everything the point does (kernels, test evaluation, the
  stopping rule) is charged to its steps, so a point whose time is not in training reads far above its roofline.

A point that trains for a declared number of ``steps`` (family E) has those; one that does not train has one
"step", the whole computation. The parameters are the whole net's: ``init-scale/last-layer-exact`` trains only its
last layer, so its roofline is overstated.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

from benchmarks import bench_machine, common  # this folder's asv suite (the script's folder is on sys.path)
from ntkbench.harness import estimate, store

#: numbers of P read or written per Adam step (see the module docstring)
STATE_PASSES = 10
#: numbers of n × Σ widths read or written per step
ACT_PASSES = 4


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """The float64 GEMM rate (FLOP/s, the 1 024³ product) and the copy bandwidth (B/s) of this machine on one
    thread: the asv benchmarks ``GemmRate`` and ``Bandwidth`` (benchmarks/benchmarks/bench_machine.py), called
    once."""
    gemm, copy = bench_machine.GemmRate(), bench_machine.Bandwidth()
    gemm.setup("square", "float64")
    copy.setup("copy")
    return {"gemm_flops": gemm.track_gflops("square", "float64") * 1e9, "bandwidth": copy.track_gbs("copy") * 1e9,
            "cpu": _cpu(), "threads": common.THREADS, "torch": torch.__version__}


def rooflines(baseline: str | Path, limits: dict) -> list[dict]:
    """Per claim (not the controls), its most expensive point at ``ci`` against the roofline of ``limits``."""
    best: dict[str, estimate.Sample] = {}
    for s in estimate.samples(baseline, "ci"):
        if s.control is None and (s.claim not in best or s.seconds > best[s.claim].seconds):
            best[s.claim] = s
    rows = []
    for claim, s in best.items():
        nets = s.steps.total / s.steps.longest if s.steps.longest else float(s.size.nets)
        flops = 6.0 * s.size.n * s.size.params * nets
        traffic = 8.0 * nets * (STATE_PASSES * s.size.params + ACT_PASSES * s.size.n * s.size.units)
        t_flops, t_bytes = flops / limits["gemm_flops"], traffic / limits["bandwidth"]
        roof = max(t_flops, t_bytes)
        measured = s.seconds / s.steps.longest
        shown = {k: s.point.get(k) for k in ("width", "depth", "sigma", "data_split") if k in s.point}
        rows.append({"claim": claim, "point": shown,
                     "n": s.size.n, "params": s.size.params, "nets": nets, "steps": s.steps.longest,
                     "trains": s.row_steps is not None or "steps" in s.point, "seconds": s.seconds,
                     "flops": flops, "bytes": traffic,
                     "bound": "GEMM" if t_flops >= t_bytes else "memory", "roofline_s": roof,
                     "measured_s": measured, "multiple": measured / roof})
    return sorted(rows, key=lambda r: -r["seconds"])


def _si(x: float, unit: str) -> str:
    for p, s in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= p:
            return f"{x / p:.3g} {s}{unit}"
    return f"{x:.3g} {unit}"


def _t(s: float) -> str:
    return f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.3g} s"


def markdown(rows: list[dict], limits: dict) -> str:
    head = (f"Machine: {limits['cpu']}, one thread, torch {limits['torch']}: float64 GEMM "
            f"{limits['gemm_flops'] / 1e9:.1f} GFLOP/s (1024³), copy bandwidth "
            f"{limits['bandwidth'] / 1e9:.1f} GB/s (256 MiB). Points: the committed `results/ci` timings (taken "
            f"with `--jobs 2` on 2 cores, often beside "
            f"other work). Generated by `nox -s rooflines`.\n\n")
    lines = ["| claim | most expensive point | n · P · nets | steps | roofline per step (bound) | measured per step "
             "| × roofline |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        point = ", ".join(f"{k} {v}" for k, v in r["point"].items())
        steps = f"{r['steps']:.0f}" if r["trains"] else "— (no training)"
        lines.append(f"| `{r['claim']}` | {point} | {r['n']} · {r['params']:,} · {r['nets']:.3g} | {steps} | "
                     f"{_t(r['roofline_s'])} ({r['bound']}) | {_t(r['measured_s'])} | {r['multiple']:.3g} |")
    return head + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--baseline", default="results", help="the committed results (default results)")
    p.add_argument("--out", default=None, help="write rooflines.json and rooflines.md here (default: print only)")
    args = p.parse_args(argv)
    limits = machine()
    rows = rooflines(args.baseline, limits)
    text = markdown(rows, limits)
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        store.atomic_write_text(out / "rooflines.json", json.dumps({"machine": limits, "points": rows}, indent=2))
        store.atomic_write_text(out / "rooflines.md", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
