"""The ``ntkbench`` command line, called in-process (plus one subprocess for the ``python -m`` entry point)."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from ntkbench import cli, registry, report, store

HOMOGENEITY = "init-scale/homogeneity"


def _csv(value) -> str:
    return ",".join(map(str, value))


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ----- list / show ---------------------------------------------------------------------------------------------------
def test_list_text_and_json(capsys):
    code, out, _ = _run(capsys, "list")
    assert code == 0
    ids = [c.id for c in registry.all_claims()]
    lines = out.splitlines()
    assert lines[0].split() == ["id", "source", "statement"] and len(lines) == len(ids) + 1
    assert all(line.startswith(i) for line, i in zip(lines[1:], ids))

    code, out, _ = _run(capsys, "list", "--json")
    data = json.loads(out)
    assert code == 0 and [d["id"] for d in data] == ids
    homog = data[ids.index(HOMOGENEITY)]
    assert set(homog) == {"id", "family", "source", "statement", "controls", "in_tests"}
    claim = registry.get(HOMOGENEITY)
    assert homog["family"] == "init-scale" and homog["controls"] == [k.name for k in claim.controls]
    assert homog["in_tests"] is claim.in_tests and homog["statement"] == claim.statement


def test_show_text_and_json(capsys):
    code, out, _ = _run(capsys, "show", "init-scale/sigma-2L")
    assert code == 0
    assert "statement: GD-trained wide ReLU nets" in out and "measured:" in out and "notes:" in out
    claim = registry.get("init-scale/sigma-2L")  # values from the registry: the specs evolve
    width = claim.param("width")
    assert f"width (ints): {_csv(width.smoke)} | {_csv(width.ci)} | {_csv(width.paper)}" in out
    assert "one per depth" in out
    expects = {e.name: e for e in claim.expect(claim.resolve("ci"))}
    assert f"slope[L=3]: 6 ± {report.fmt(expects['slope[L=3]'].tolerance)} (within)" in out
    assert "train-loss/threshold[L=2]: ≤ 1 + 0 (below)" in out
    assert "asi: --set init=asi" in out

    code, out, _ = _run(capsys, "show", HOMOGENEITY, "--json")
    spec = json.loads(out)
    assert code == 0 and spec["id"] == HOMOGENEITY
    claim = registry.get(HOMOGENEITY)
    width = next(p for p in spec["params"] if p["name"] == "width")
    p = claim.param("width")
    assert (width["smoke"], width["ci"], width["paper"], width["kind"]) == (p.smoke, p.ci, p.paper, "int")
    assert spec["expect_ci"] == [{"name": e.name, "expected": e.expected, "tolerance": e.tolerance, "mode": e.mode,
                                  "reason": e.reason} for e in claim.expect(claim.resolve("ci"))]
    assert spec["expect_ci"][0]["mode"] == "below"
    assert spec["controls"][0] == {"name": "normal-bias", "overrides": {"bias": "normal"},
                                   "why": claim.controls[0].why}


# ----- run -----------------------------------------------------------------------------------------------------------
def test_run_smoke_json(capsys, tmp_path):
    code, out, err = _run(capsys, "run", HOMOGENEITY, "--profile", "smoke", "--out", str(tmp_path), "--json")
    assert code == 0
    [res] = json.loads(out)  # stdout is exactly one JSON document (NaN written as null)
    assert res["id"] == HOMOGENEITY and res["status"] == "pass" and res["ok"] is True and res["profile"] == "smoke"
    assert res["interval"] == [None, None] and res["checks"][0]["name"] == "max-rel-dev"
    assert "NaN" not in out
    assert (tmp_path / "smoke" / "init-scale" / "homogeneity" / "result.json").is_file()
    assert (tmp_path / "README.md").is_file()


def test_run_controls_text(capsys, tmp_path):
    code, out, err = _run(capsys, "run", HOMOGENEITY, "--profile", "smoke", "--controls", "--quiet",
                          "--out", str(tmp_path))
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith(f"{HOMOGENEITY}  pass  max-rel-dev ") and lines[0].endswith("ok")
    assert lines[1].startswith(f"{HOMOGENEITY} [normal-bias]  pass") and lines[2].startswith(f"{HOMOGENEITY} [tanh]")
    assert lines[3] == ("3 results, 3 as predicted, 0 not: 1 pass / 0 fail / 0 error; controls ran without error "
                        "2/2 (smoke: nothing asserted)")
    assert lines[4] == f"report: {tmp_path / 'README.md'}"
    assert len(store.load_results(tmp_path, "smoke")) == 3


def test_run_failing_claim_exits_1(capsys, tmp_path):
    code, out, _ = _run(capsys, "run", HOMOGENEITY, "--set", "bias=normal", "--quiet", "--out", str(tmp_path))
    assert code == 1
    assert out.splitlines()[0].startswith(f"{HOMOGENEITY}  fail  max-rel-dev ")
    assert out.splitlines()[0].endswith("NOT AS PREDICTED")
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "**0 pass / 1 fail / 0 error**" in readme and "**fail** ❌" in readme


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "init-scale/nope"], "'init-scale/nope' is neither a claim id nor a family; families: init-scale"),
    (["run", HOMOGENEITY, "--set", "depth=3"], "--set depth: no selected claim has this parameter; allowed keys: "
     + ", ".join(sorted(registry.get(HOMOGENEITY).param_names()))),
    (["run", HOMOGENEITY, "--set", "width=x"], "parameter 'width' expects int, got 'x'"),
    (["run", HOMOGENEITY, "--set", "bias=uniform"], "'uniform' is not allowed; choose from ('zero', 'normal')"),
    (["run", HOMOGENEITY, "--set", "width"], "--set expects key=value, got 'width'"),
    (["run", HOMOGENEITY, "--profile", "fast"],
     "run: argument --profile: invalid choice: 'fast' (choose from 'smoke', 'ci', 'paper')"),
    (["run", HOMOGENEITY, "--jobs", "0"], "argument --jobs: expects an integer >= 1, got '0'"),
    (["run", HOMOGENEITY, "--device", "tpu"], "--device"),
    (["run", "init-scale/sigma-2L", "--profile", "smoke", "--set", "width=5,6"],
     "parameter 'width' has 2 values for depth=[2]"),
    (["show", "init-scale/nope"], "unknown claim id 'init-scale/nope'"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    ([], "the following arguments are required: COMMAND"),
    (["list", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_usage_errors_exit_2_before_running(capsys, tmp_path, argv, message):
    if argv and argv[0] == "run":
        argv = [*argv, "--out", str(tmp_path)]
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("ntkbench: error: ") and message in err
    assert list(tmp_path.iterdir()) == []  # nothing ran


def test_cuda_unavailable_is_a_usage_error(capsys, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, out, err = _run(capsys, "run", HOMOGENEITY, "--device", "cuda", "--out", str(tmp_path))
    assert code == 2 and "CUDA is not available" in err and "cpu" in err
    assert list(tmp_path.iterdir()) == []


def test_help_exits_0(capsys):
    code, out, _ = _run(capsys, "run", "--help")
    assert code == 0 and "--controls" in out and "--set KEY=VALUE" in out


# ----- report / compare ----------------------------------------------------------------------------------------------
def _write(out: Path, status: str, measured: float, **fields) -> None:
    check = {"name": "slope", "measured": measured, "interval": [measured - 0.1, measured + 0.1], "expected": 2.0,
             "tolerance": 0.4, "mode": "within", "passed": abs(measured - 2) <= 0.4, "reason": "r", "method": "m"}
    res = {"id": "fam/a", "family": "fam", "source": "src", "statement": "s", "status": status, "profile": "ci",
           "params": {"n": 1}, "checks": [check], "seconds": 2.0, "versions": {}, "control": None, "asserted": True,
           "error": "", "figure": "", **fields}
    store.atomic_write_text(store.claim_dir(out, "ci", "fam/a") / "result.json", store.to_json(res))


def test_report_command(capsys, tmp_path):
    _write(tmp_path / "r", "pass", 2.0)
    code, out, _ = _run(capsys, "report", str(tmp_path / "r"))
    assert code == 0 and out.strip() == str(tmp_path / "r" / "README.md")
    assert "| fam/a | src | slope | 2 [1.9, 2.1] | 2 ± 0.4 | pass |" in (tmp_path / "r" / "README.md").read_text()
    code, out, err = _run(capsys, "report", str(tmp_path / "empty"))
    assert code == 2 and "no results under" in err and out == ""


def test_compare_command(capsys, tmp_path):
    base, same, moved = tmp_path / "base", tmp_path / "same", tmp_path / "moved"
    _write(base, "pass", 2.0)
    _write(same, "pass", 2.1)
    _write(moved, "fail", 2.5)
    code, out, _ = _run(capsys, "compare", str(base), str(same))
    assert (code, out) == (0, "no regressions\n")
    code, out, _ = _run(capsys, "compare", str(base), str(moved))
    assert code == 1
    assert out.splitlines() == ["fam/a: status: pass → fail",
                                "fam/a slope: moved: 2 → 2.5: |Δ| = 0.5 > tolerance 0.4"]
    code, out, err = _run(capsys, "compare", str(base), str(moved), "--profile", "smoke")
    assert code == 2 and "no results for profile 'smoke'" in err


# ----- mitigate (with a stand-in for ntkbench.mitigation) ------------------------------------------------------------
@pytest.fixture
def fake_mitigation(monkeypatch):
    calls: list[dict] = []
    outcome: dict = {}

    def run_mitigation(*, profile, sets, out, device):
        calls.append({"profile": profile, "sets": sets, "out": out, "device": device})
        if outcome.get("raise"):
            raise outcome["raise"]
        res = {"profile": profile, "params": {"sigma_start": 1.0}, "status": outcome.get("status", "ok"),
               "error": outcome.get("error", ""), "chosen_sigma": 0.25, "stop_reason": "validation loss rose",
               "val_loss_start": 0.5, "val_loss_chosen": 0.1, "test_loss_start": 0.52, "test_loss_chosen": 0.12,
               "seconds": 3.0, "versions": {}, "figure": "",
               "history": [{"sigma": 1.0, "val_loss": 0.5, "test_loss": 0.52, "train_loss": 1e-5, "steps": 10,
                            "converged": True},
                           {"sigma": 0.25, "val_loss": 0.1, "test_loss": 0.12, "train_loss": 1e-5, "steps": 20,
                            "converged": True}]}
        store.atomic_write_text(Path(out, profile, "mitigation", "mitigation.json"), store.to_json(res))
        return res

    module = types.ModuleType("ntkbench.mitigation")
    module.run_mitigation = run_mitigation
    monkeypatch.setitem(sys.modules, "ntkbench.mitigation", module)
    return calls, outcome


def test_mitigate_text(capsys, tmp_path, fake_mitigation):
    calls, _ = fake_mitigation
    code, out, _ = _run(capsys, "mitigate", "--profile", "smoke", "--set", "factor=0.5", "--out", str(tmp_path))
    assert code == 0
    assert calls == [{"profile": "smoke", "sets": {"factor": "0.5"}, "out": tmp_path, "device": "cpu"}]
    assert ("mitigation (smoke): σ 1 → 0.25; validation loss 0.5 → 0.1; test loss 0.52 → 0.12; stopped because: "
            "validation loss rose (3 s)") in out
    assert "Mitigation: shrinking σ (001 Sect. 3)" in (tmp_path / "README.md").read_text(encoding="utf-8")


def test_mitigate_json_and_error(capsys, tmp_path, fake_mitigation):
    _, outcome = fake_mitigation
    code, out, _ = _run(capsys, "mitigate", "--json", "--out", str(tmp_path))
    assert code == 0 and json.loads(out)["chosen_sigma"] == 0.25 and json.loads(out)["profile"] == "ci"
    outcome.update(status="error", error="Traceback ...\nRuntimeError: diverged")
    code, out, err = _run(capsys, "mitigate", "--out", str(tmp_path))
    assert code == 1 and "RuntimeError: diverged" in err
    outcome["raise"] = registry.UsageError("--set bogus: unknown parameter; allowed keys: factor")
    code, out, err = _run(capsys, "mitigate", "--set", "bogus=1", "--out", str(tmp_path))
    assert code == 2 and err == "ntkbench: error: --set bogus: unknown parameter; allowed keys: factor\n"
    outcome["raise"] = RuntimeError("crashed")
    code, out, err = _run(capsys, "mitigate", "--out", str(tmp_path))
    assert code == 1 and "RuntimeError: crashed" in err


def test_mitigate_bad_set_syntax_is_a_usage_error(capsys, tmp_path, fake_mitigation):
    calls, _ = fake_mitigation
    code, _, err = _run(capsys, "mitigate", "--set", "novalue", "--out", str(tmp_path))
    assert code == 2 and "--set expects key=value" in err and calls == []


# ----- the entry point -----------------------------------------------------------------------------------------------
def test_python_m_ntkbench_list():
    proc = subprocess.run([sys.executable, "-m", "ntkbench", "list", "--json"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert HOMOGENEITY in [d["id"] for d in json.loads(proc.stdout)]
    proc = subprocess.run([sys.executable, "-m", "ntkbench", "run", "nope"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("ntkbench: error: ")
