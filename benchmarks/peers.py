"""ntkbench against its peer, neural-tangents 0.6.5 (Novak et al., "Neural Tangents: Fast and Easy Infinite Neural
Networks in Python", ICLR 2020; Novak, Sohl-Dickstein, Schoenholz, "Fast Finite Width Neural Tangent Kernel", ICML
2022): the empirical NTK by each library's three implementations, and the analytic (infinite-width) NTK, on the same
net, weights and inputs. Per configuration: the wall time of one call (best of ``--repeat`` after a warm-up call,
which for neural-tangents includes jax's compilation, reported apart), the peak memory the call adds, and the
agreement of the two kernels.

    nox -s bench_peers                                    # builds the peer's environment, runs, writes the tables
    python benchmarks/peers.py --peer-python PATH [--quick] [--out DIR]

Fairness. Every measurement runs in its own child process pinned to one CPU (``sched_setaffinity``) with one thread:
``torch.set_num_threads(1)`` for ntkbench, XLA's CPU client without intra-op parallelism for neural-tangents.
ntkbench's child runs in this interpreter, neural-tangents' in the peer's own virtual environment
(``benchmarks/peers-constraints.txt``: jax/jaxlib 0.4.25, numpy 1.26 and tensorflow, which ntkbench's environment
does not have). The parent draws the inputs and weights once (numpy, float64) and hands both children the same
file; each child writes its kernel back. Peak memory is VmHWM − VmRSS just before the call, after
``/proc/self/clear_refs`` resets the high-water mark (Linux; tracemalloc sees neither torch's nor XLA's buffers).

The net: an NTK-parametrized ReLU MLP without biases, h^l = σ/√fan_in · W^l a^(l−1), W ~ N(0, 1), one output —
``ntkbench.MLP(bias="none")`` and ``stax.Dense(W_std=σ, b_std=None, parameterization="ntk")`` with ``stax.Relu()``.
Agreement: max |Θ_ntkbench − Θ_nt| / max |Θ_nt|, and each kernel's largest |Θ(x, x) − Θ(x, x)ᵀ| relative to max |Θ|.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SIGMA = 1.0
#: the empirical kernel at 000/001's scale (100 MNIST-sized inputs) and at a larger n
EMPIRICAL = (dict(n=100, d=784, width=4000, depth=2), dict(n=100, d=784, width=1000, depth=4),
             dict(n=500, d=784, width=1000, depth=2))
#: the analytic kernel at n = 500 and 2 000, one and five hidden layers
ANALYTIC = (dict(n=500, d=784, depth=2), dict(n=500, d=784, depth=6), dict(n=2000, d=784, depth=2),
            dict(n=2000, d=784, depth=6))
#: --quick: every code path at a small scale (a smoke run, about a minute)
QUICK_EMPIRICAL = (dict(n=20, d=10, width=64, depth=2), dict(n=20, d=10, width=32, depth=3))
QUICK_ANALYTIC = (dict(n=50, d=10, depth=2), dict(n=50, d=10, depth=4))
#: ntkbench's empirical methods and neural-tangents' NtkImplementation of the same algorithm
METHODS = {"structured": "STRUCTURED_DERIVATIVES", "jacobian": "JACOBIAN_CONTRACTION", "ntvp": "NTK_VECTOR_PRODUCTS"}
LIBS = ("ntkbench", "neural-tangents")


# ----- child side ---------------------------------------------------------------------------------------------------
# The peak-memory helpers of benchmarks/benchmarks/common.py, restated: that module imports torch and ntkbench, which
# the peer's environment does not have.
def _rss() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) * 1024
    return out


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _ntkbench_call(spec: dict, data) -> callable:
    import torch

    import ntkbench as nb

    torch.set_num_threads(1)
    # the analytic kernel of an NTK-parametrized net does not depend on its hidden widths (c̃² m = σ²)
    net = nb.MLP(d_in=spec["d"], width=spec.get("width", 1024), depth=spec["depth"], sigma=SIGMA, bias="none")
    x = torch.from_numpy(data["x"])
    if spec["kind"] == "analytic":
        return lambda: nb.analytic_ntk(net, x).numpy()
    params = {f"W{l}": torch.from_numpy(data[f"W{l}"]) for l in range(1, spec["depth"] + 1)}
    return lambda: nb.empirical_ntk(net, params, x, method=spec["method"]).numpy()


def _neural_tangents_call(spec: dict, data) -> callable:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import neural_tangents as nt
    from neural_tangents import stax

    layers = []
    for _ in range(spec["depth"] - 1):
        layers += [stax.Dense(spec.get("width", 1024), W_std=SIGMA, b_std=None, parameterization="ntk"), stax.Relu()]
    layers.append(stax.Dense(1, W_std=SIGMA, b_std=None, parameterization="ntk"))
    _, apply_fn, kernel_fn = stax.serial(*layers)
    x = jnp.asarray(data["x"])
    if spec["kind"] == "analytic":
        fn = jax.jit(kernel_fn, static_argnames="get")
        return lambda: np.asarray(fn(x, None, "ntk").block_until_ready())
    params = []
    for l in range(1, spec["depth"] + 1):  # stax's Dense keeps W as (fan_in, fan_out): ntkbench's transposed
        params.append((jnp.asarray(data[f"W{l}"].T), None))
        if l < spec["depth"]:
            params.append(())
    impl = getattr(nt.NtkImplementation, METHODS[spec["method"]])
    fn = jax.jit(nt.empirical_ntk_fn(apply_fn, trace_axes=(-1,), vmap_axes=0, implementation=impl))
    return lambda: np.asarray(fn(x, None, params).block_until_ready())


def child(spec: dict) -> dict:
    """One measurement: build the call, warm it up (jax compiles here), measure one call's peak memory, then the
    best of ``repeat`` calls; write the kernel to ``spec['kernel']``."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {spec["cpu"]})
    data = np.load(spec["inputs"])
    call = (_ntkbench_call if spec["lib"] == "ntkbench" else _neural_tangents_call)(spec, data)
    t0 = time.perf_counter()
    call()
    first = time.perf_counter() - t0
    before = _rss().get("VmRSS", 0)
    _reset_peak()
    kernel = call()
    peak = _rss().get("VmHWM", 0) - before
    times = []
    for _ in range(spec["repeat"]):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    np.save(spec["kernel"], np.asarray(kernel, dtype=np.float64).reshape(spec["n"], spec["n"]))
    return {"seconds": min(times), "all_seconds": times, "first_seconds": first, "peak_increment": max(peak, 0)}


# ----- parent side --------------------------------------------------------------------------------------------------
def _env(lib: str) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "TF_CPP_MIN_LOG_LEVEL": "3", "JAX_PLATFORMS": "cpu"}
    if lib == "neural-tangents":
        env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return env


def measure(spec: dict, python: str) -> dict:
    """Run one measurement in a fresh child process of ``python``; a failure is returned as ``error``."""
    out = subprocess.run([python, str(Path(__file__).resolve()), "--child", json.dumps(spec)], capture_output=True,
                         text=True, check=False, env=_env(spec["lib"]))
    if out.returncode != 0:
        return {"error": (out.stderr or out.stdout)[-2000:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def problem(cfg: dict, folder: Path, seed: int = 0) -> Path:
    """The inputs (x ~ N(0, I_d)) and, for an empirical kernel, the weights W^l ~ N(0, 1) as (fan_out, fan_in)."""
    rng = np.random.default_rng(seed)
    arrays = {"x": rng.standard_normal((cfg["n"], cfg["d"]))}
    if "width" in cfg:
        sizes = (cfg["d"],) + (cfg["width"],) * (cfg["depth"] - 1) + (1,)
        for l in range(1, cfg["depth"] + 1):
            arrays[f"W{l}"] = rng.standard_normal((sizes[l], sizes[l - 1]))
    name = "_".join(f"{k}{v}" for k, v in sorted(cfg.items()))
    path = folder / f"{name}.npz"
    np.savez(path, **arrays)
    return path


def _asym(k: np.ndarray) -> float:
    return float(np.abs(k - k.T).max() / np.abs(k).max())


def compare(configs, kind: str, methods, python: dict[str, str], folder: Path, repeat: int, cpu: int) -> list[dict]:
    rows = []
    for cfg in configs:
        inputs = problem(cfg, folder)
        for method in methods:
            row = {"kind": kind, "method": method, **cfg}
            kernels = {}
            for lib in LIBS:
                spec = {"lib": lib, "kind": kind, "method": method, **cfg, "inputs": str(inputs), "cpu": cpu,
                        "repeat": repeat if method != "ntvp" else max(1, min(repeat, 2)),
                        "kernel": str(folder / f"{lib}.npy")}
                r = measure(spec, python[lib])
                row[lib] = r
                if "error" not in r:
                    kernels[lib] = np.load(spec["kernel"])
                    r["asymmetry"] = _asym(kernels[lib])
            if len(kernels) == 2:
                a, b = kernels["ntkbench"], kernels["neural-tangents"]
                row["agreement"] = float(np.abs(a - b).max() / np.abs(b).max())
            rows.append(row)
            print(_line(row), file=sys.stderr, flush=True)
    return rows


def _t(s: float) -> str:
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def _b(b: float) -> str:
    return f"{b / 2**20:.1f} MiB" if b < 2**30 else f"{b / 2**30:.2f} GiB"


def _config(row: dict) -> str:
    width = f", m = {row['width']}" if "width" in row else ""
    return f"n = {row['n']}, d = {row['d']}{width}, L = {row['depth']}"


def _line(row: dict) -> str:
    a, b = row["ntkbench"], row["neural-tangents"]
    if "error" in a or "error" in b:
        return f"{row['kind']} {row['method']} {_config(row)}: error"
    return (f"{row['kind']:9s} {row['method']:10s} {_config(row):32s} ntkbench {_t(a['seconds']):>9s} "
            f"nt {_t(b['seconds']):>9s} ratio {a['seconds'] / b['seconds']:.2f}  agreement {row['agreement']:.1e}")


def markdown(rows: list[dict], machine: dict) -> str:
    """The table of README "Performance" / docs/performance.md: one row per configuration and implementation."""
    out = [f"Measured {machine['date']} on {machine['cpu']} ({machine['cores']} cores; one thread, one pinned CPU "
           f"per measurement), Python {machine['python']}; ntkbench with torch {machine['torch']}, neural-tangents "
           f"0.6.5 with jax/jaxlib 0.4.25 (float64 both). `nox -s bench_peers` regenerates it.", "",
           "| kernel | implementation | configuration | ntkbench | neural-tangents | time ratio | peak memory "
           "(ntkbench / nt) | nt's first call (compile) | agreement | asymmetry (ntkbench / nt) |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        a, b = row["ntkbench"], row["neural-tangents"]
        if "error" in a or "error" in b:
            which = "ntkbench" if "error" in a else "neural-tangents"
            err = (a if "error" in a else b)["error"].strip().splitlines()[-1][:120]
            out.append(f"| {row['kind']} | {row['method']} | {_config(row)} | | | | | | {which} failed: {err} | |")
            continue
        out.append(f"| {row['kind']} | {row['method'] if row['kind'] == 'empirical' else '—'} | {_config(row)} | "
                   f"{_t(a['seconds'])} | {_t(b['seconds'])} | {a['seconds'] / b['seconds']:.2f} | "
                   f"{_b(a['peak_increment'])} / {_b(b['peak_increment'])} | {_t(b['first_seconds'])} | "
                   f"{row['agreement']:.1e} | {a['asymmetry']:.0e} / {b['asymmetry']:.0e} |")
    out += ["", "Time ratio: ntkbench's time over neural-tangents' (below 1: ntkbench is faster), best of the repeated "
                "calls after a warm-up. Agreement: max |Θ_ntkbench − Θ_nt| / max |Θ_nt|."]
    return "\n".join(out) + "\n"


def _machine() -> dict:
    import torch

    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"date": time.strftime("%Y-%m-%d"), "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--peer-python", required=True, help="the interpreter of the environment with neural-tangents")
    p.add_argument("--quick", action="store_true", help="small configurations: a smoke run of every code path")
    p.add_argument("--repeat", type=int, default=3, help="timed calls after the warm-up (ntvp: at most 2)")
    p.add_argument("--cpu", type=int, default=0, help="the CPU every child is pinned to")
    p.add_argument("--out", default=None, help="write peers.json and peers.md there (default: print the table)")
    p.add_argument("--only", choices=("empirical", "analytic"), default=None,
                   help="measure one kernel only; with --out, the other kernel's rows are kept from peers.json there")
    args = p.parse_args(argv)
    python = {"ntkbench": sys.executable, "neural-tangents": args.peer_python}
    empirical, analytic = (QUICK_EMPIRICAL, QUICK_ANALYTIC) if args.quick else (EMPIRICAL, ANALYTIC)
    rows = []
    if args.only and args.out and (Path(args.out) / "peers.json").is_file():
        kept = json.loads((Path(args.out) / "peers.json").read_text())
        rows = [r for r in kept["rows"] if r["kind"] != args.only]
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "empirical"):
            rows += compare(empirical, "empirical", tuple(METHODS), python, Path(tmp), args.repeat, args.cpu)
        if args.only in (None, "analytic"):
            rows += compare(analytic, "analytic", ("analytic",), python, Path(tmp), args.repeat, args.cpu)
    rows.sort(key=lambda r: r["kind"] != "empirical")
    machine = _machine()
    table = markdown(rows, machine)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "peers.json").write_text(json.dumps({"machine": machine, "quick": args.quick, "rows": rows}, indent=1))
        (out / "peers.md").write_text(table)
    print(table)
    failed = [r for r in rows if "error" in r["ntkbench"] or "error" in r["neural-tangents"]]
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(child(json.loads(sys.argv[2]))))
    else:
        sys.exit(main())
