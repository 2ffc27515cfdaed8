"""The asv suite in benchmarks/ stays runnable: every benchmark class is set up and every benchmark
method called once at its smallest parameter combination (a few seconds in all)."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import itertools
import json
import math
import pkgutil
import re
import sys
from pathlib import Path

import pytest

from ntkbench.harness import registry

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
RESULTS = BENCH_DIR.parent / "results"
PREFIXES = ("time_", "peakmem_", "track_", "mem_", "timeraw_")

if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

benchmarks = importlib.import_module("benchmarks")
common = importlib.import_module("benchmarks.common")
MODULES = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))


def _classes():
    for name in MODULES:
        module = importlib.import_module(f"benchmarks.{name}")
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and any(a.startswith(PREFIXES) for a in dir(cls)):
                yield pytest.param(cls, id=f"{name}.{cls_name}")


def test_suite_has_the_expected_modules():
    assert {"bench_kernels", "bench_analytic", "bench_train", "bench_machine", "bench_fit"} <= set(MODULES)


def test_asv_config_points_at_the_suite():
    text = (BENCH_DIR / "asv.conf.json").read_text()
    conf = json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.M))
    assert conf["repo"] == ".." and conf["branches"] and (BENCH_DIR / conf["benchmark_dir"]).is_dir()
    assert all(conf[k].startswith(".asv/") for k in ("results_dir", "html_dir", "env_dir"))


@pytest.mark.parametrize("cls", list(_classes()))
def test_benchmark_class_runs_at_its_smallest_point(cls, monkeypatch):
    assert isinstance(cls.params, (list, tuple)) and len(cls.params) == len(cls.param_names)
    assert cls.timeout > 0
    # StructuredSpeedup is pinned to the 000/001 scale (seconds, 2.5 GB for jacobian): shrink it here.
    monkeypatch.setattr(importlib.import_module("benchmarks.bench_kernels"), "PAPER_SCALE",
                        dict(n=8, width=16, depth=2, d=5, dtype="float64"))
    methods = sorted(a for a in dir(cls) if a.startswith(PREFIXES))
    for combo in itertools.product(*cls.params):  # lists are ordered smallest first
        bench = cls()
        try:
            bench.setup(*combo)
        except NotImplementedError:
            continue
        for name in methods:
            out = getattr(bench, name)(*combo)
            if name.startswith("track_"):
                assert isinstance(out, float) and math.isfinite(out) and out > 0, (name, combo, out)
        return
    pytest.fail(f"{cls.__name__}: every parameter combination is skipped")


def test_infeasible_points_are_skipped_in_setup():
    kernels = importlib.import_module("benchmarks.bench_kernels")
    with pytest.raises(NotImplementedError, match="GiB"):  # n × P × 8 bytes = 384 GB
        kernels.EmpiricalNTK().setup("jacobian", 1000, 4000, 5, 784, "float64")
    with pytest.raises(NotImplementedError):
        kernels.EmpiricalNTK().setup("ntvp", 1000, 4000, 5, 784, "float64")
    seconds, nbytes = common.estimate("structured", 1000, 4000, 5, 784, "float64")
    assert seconds < common.TIME_LIMIT and nbytes < 2**30  # structured runs everywhere


def test_problem_parameters_have_the_layout_of_net_init():
    net, params, x = common.problem(4, 8, 3, 5, "float32")
    ref = net.init(0)
    assert list(params) == list(ref)
    assert all(params[k].shape == ref[k].shape and params[k].dtype == ref[k].dtype for k in ref)
    assert tuple(x.shape) == (4, 5) and x.dtype == ref["W1"].dtype


def test_step_cost_grid_covers_the_goal():
    train_bench = importlib.import_module("benchmarks.bench_train")
    cls = train_bench.StepCostPerSeed
    grid = dict(zip(cls.param_names, cls.params, strict=True))
    assert set(grid["optimizer"]) >= {"gd", "sgd", "adagrad", "adam"}
    assert set(grid["seeds"]) >= {10, 20} and 1024 in grid["width"]


@pytest.mark.parametrize("optimizer", ["gd", "sgd", "adam"])
def test_timed_step_is_the_step_train_ensemble_runs(optimizer):
    """The benchmarked step is train_ensemble's own arithmetic: k calls give train_ensemble's k-step parameters
    (SGD: the benchmark's permutation is the trainer's first one for seed 0, and each call takes its batch 0, so
    one step), for the S members and for the one net (member 0)."""
    import torch

    import ntkbench as nb

    train_bench = importlib.import_module("benchmarks.bench_train")
    task = train_bench.TrainingTask(optimizer, 2, 64)
    k = 1 if task.mini else 3
    for _ in range(k):
        task.step()
        task.one_net_step()
    ref = nb.train_ensemble(task.net, task.params, task.x, task.y, optimizer=optimizer, lr=task.lr, max_steps=k,
                            batch_fraction=train_bench.SGD_FRACTION if task.mini else 1.0)
    ensemble, one = task.run.result(), task.one.result()
    for key, value in ref.params.items():
        torch.testing.assert_close(ensemble[key], value, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(one[key][0], value[0], rtol=1e-12, atol=1e-12)


def _peers():
    spec = importlib.util.spec_from_file_location("peers", BENCH_DIR / "peers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_peer_comparison_runs_ntkbench_side_and_tabulates(tmp_path):
    """benchmarks/peers.py (nox -s bench_peers): the inputs both libraries read, ntkbench's child measurement of
    every implementation (the empirical kernels agree with each other; the analytic one is symmetric), and the
    table, with a peer that failed reported in it rather than dropped. The peer's side needs its own environment
    and is not run here."""
    import numpy as np

    peers = _peers()
    cfg = {"n": 6, "d": 3, "width": 8, "depth": 3}
    inputs = peers.problem(cfg, tmp_path)
    data = np.load(inputs)
    assert data["x"].shape == (6, 3) and [data[f"W{l}"].shape for l in (1, 2, 3)] == [(8, 3), (8, 8), (1, 8)]
    kernels = {}
    for method in peers.METHODS:
        spec = {"lib": "ntkbench", "kind": "empirical", "method": method, **cfg, "inputs": str(inputs), "cpu": 0,
                "repeat": 1, "kernel": str(tmp_path / f"{method}.npy")}
        r = peers.child(spec)
        assert r["seconds"] > 0 and r["peak_increment"] >= 0
        kernels[method] = np.load(spec["kernel"])
    np.testing.assert_allclose(kernels["jacobian"], kernels["structured"], rtol=1e-12)
    np.testing.assert_allclose(kernels["ntvp"], kernels["structured"], rtol=1e-12)
    spec = {"lib": "ntkbench", "kind": "analytic", "method": "analytic", "n": 6, "d": 3, "depth": 3,
            "inputs": str(peers.problem({"n": 6, "d": 3, "depth": 3}, tmp_path)), "cpu": 0, "repeat": 1,
            "kernel": str(tmp_path / "analytic.npy")}
    peers.child(spec)
    analytic = np.load(spec["kernel"])
    assert peers._asym(analytic) == 0.0
    ok = {"seconds": 0.002, "first_seconds": 0.5, "peak_increment": 2**20, "asymmetry": 0.0}
    rows = [{"kind": "empirical", "method": "structured", **cfg, "ntkbench": ok, "neural-tangents": ok,
             "agreement": 1e-16},
            {"kind": "analytic", "method": "analytic", "n": 6, "d": 3, "depth": 3, "ntkbench": ok,
             "neural-tangents": {"error": "Traceback ...\nImportError: no jax"}}]
    table = peers.markdown(rows, {"date": "today", "cpu": "cpu", "cores": 2, "python": "3", "torch": "2"})
    assert "| empirical | structured | n = 6, d = 3, m = 8, L = 3 | 2.0 ms | 2.0 ms | 1.00 |" in table
    assert "neural-tangents failed: ImportError: no jax" in table


def _rooflines():
    spec = importlib.util.spec_from_file_location("rooflines", BENCH_DIR / "rooflines.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rooflines_charge_each_claims_largest_point_to_its_steps():
    """benchmarks/rooflines.py (nox -s rooflines) against the committed ci timings, at made-up machine limits: the
    roofline is the larger of the arithmetic and the traffic, the multiple measured ÷ roofline."""
    roof = _rooflines()
    limits = {"gemm_flops": 1e10, "bandwidth": 1e10, "cpu": "test", "threads": 1, "torch": "x"}
    rows = roof.rooflines(RESULTS, limits)
    claims = {c.id for c in registry.all_claims()}
    assert {r["claim"] for r in rows} == claims
    for r in rows:
        assert r["roofline_s"] == max(r["flops"], r["bytes"]) / 1e10
        assert r["multiple"] == pytest.approx(r["measured_s"] / r["roofline_s"])
        assert r["bound"] == ("GEMM" if r["flops"] >= r["bytes"] else "memory")
    sweep = next(r for r in rows if r["claim"] == "optim/sgd-equals-gd")
    assert sweep["trains"] and sweep["steps"] > 1 and sweep["flops"] == 6 * sweep["n"] * sweep["params"] * sweep["nets"]
    text = roof.markdown(rows, limits)
    assert text.count("\n| `") == len(claims) and "GEMM 10.0 GFLOP/s" in text


def test_the_committed_rooflines_table_lists_every_claim():
    text = (RESULTS / "bench" / "rooflines.md").read_text(encoding="utf-8")
    assert {line.split("`")[1] for line in text.splitlines() if line.startswith("| `")} == {
        c.id for c in registry.all_claims()}
