"""The ``ntkbench`` command line, called in-process (plus one subprocess for the ``python -m`` entry point)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

from ntkbench.harness import cli, plans, registry, report, store

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
    assert all(line.startswith(i) for line, i in zip(lines[1:], ids, strict=True))

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
    for e in expects.values():
        role = ", precondition" if getattr(e, "role", "science") == "precondition" else ""
        assert f"{e.name}: {report.expectation(vars(e))} ({e.mode}{role})" in out
    asi = next(k for k in claim.controls if k.name == "asi")
    fails = f"  (must fail: {', '.join(asi.fails)})" if getattr(asi, "fails", ()) else ""
    assert f"asi: --set init=asi{fails}\n" in out

    code, out, _ = _run(capsys, "show", HOMOGENEITY, "--json")
    spec = json.loads(out)
    assert code == 0 and spec["id"] == HOMOGENEITY
    claim = registry.get(HOMOGENEITY)
    width = next(p for p in spec["params"] if p["name"] == "width")
    p = claim.param("width")
    assert (width["smoke"], width["ci"], width["paper"], width["kind"]) == (p.smoke, p.ci, p.paper, "int")
    assert spec["expect_ci"] == [{"name": e.name, "expected": e.expected, "tolerance": e.tolerance, "mode": e.mode,
                                  "reason": e.reason, "role": e.role, "spread": e.spread,
                                  "alternatives": [{"value": a.value, "why": a.why} for a in e.alternatives]}
                                 for e in claim.expect(claim.resolve("ci"))]
    assert spec["expect_ci"][0]["role"] == "identity"  # homogeneity holds for any ReLU net without biases
    assert spec["expect_ci"][0]["mode"] == "below"
    assert spec["controls"][0] == {"name": "normal-bias", "overrides": {"bias": "normal"},
                                   "why": claim.controls[0].why, "fails": list(claim.controls[0].fails), "lands": {}}


def test_the_cli_uses_only_public_names_of_the_package():
    """The command line is a client of the package: it imports no private name (leading underscore) from another
    ntkbench module and reads none as a module attribute (``report._plain``); what it needs is public and
    documented there. (``_validation`` is the package's shared module of argument checks; its functions are
    public.)"""
    import ast
    import pkgutil

    package = Path(cli.__file__).parent
    modules = {m.name for m in pkgutil.iter_modules([str(package)])}
    tree = ast.parse((package / "cli.py").read_text(encoding="utf-8"))
    aliases, private = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("ntkbench")):
            private += [f"line {node.lineno}: from {node.module} import {a.name}" for a in node.names
                        if a.name.startswith("_")]
            aliases |= {a.asname or a.name for a in node.names if a.name in modules}
    private += [f"line {node.lineno}: {node.value.id}.{node.attr}" for node in ast.walk(tree)
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and node.attr.startswith("_")]
    assert {"report", "registry", "store"} <= aliases and not private, private


# ----- run -----------------------------------------------------------------------------------------------------------
def test_run_smoke_json(capsys, tmp_path):
    code, out, _err = _run(capsys, "run", HOMOGENEITY, "--profile", "smoke", "--out", str(tmp_path), "--json")
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
    smoke = "ran, nothing asserted (smoke)"
    assert lines[0].startswith(f"{HOMOGENEITY}  {smoke}  max-rel-dev ") and lines[0].endswith(" s)")
    assert lines[1].startswith(f"{HOMOGENEITY} [normal-bias]  {smoke}  max-rel-dev ")
    assert lines[2].startswith(f"{HOMOGENEITY} [tanh]  {smoke}")
    assert "pass" not in out and "✗" not in "".join(lines[:3])  # a control's check misses, but nothing is asserted
    assert lines[3] == "3 results ran, nothing asserted (smoke): 0 error; controls ran without error 2/2"
    assert lines[4] == "against the baseline results: no regressions"  # the committed baseline has no smoke results
    assert lines[5] == (f"  not in the baseline results: {HOMOGENEITY}, {HOMOGENEITY} [normal-bias], "
                        f"{HOMOGENEITY} [tanh]")
    assert lines[6] == f"report: {tmp_path / 'README.md'}"
    assert len(store.load_results(tmp_path, "smoke")) == 3


def test_run_failing_claim_exits_1(capsys, tmp_path):
    code, out, _ = _run(capsys, "run", HOMOGENEITY, "--set", "bias=normal", "--quiet", "--out", str(tmp_path))
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith(f"{HOMOGENEITY} {{bias=normal}}  NOT AS PREDICTED (fail)  max-rel-dev ")
    assert " ✗  (" in lines[0]
    assert lines[1] == "1 result: 0 as predicted, 1 not as predicted, 0 invalid, 0 error"
    assert lines[2] == (f"runs with overrides or errors are under {tmp_path / 'ci' / 'variants'}/ (bias=normal): the "
                        "baseline results are untouched")
    assert store.load_results(tmp_path) == []  # not a baseline result
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Runs with overrides / errors")[1]
    assert f"| `bias=normal` | {HOMOGENEITY} |  | NOT AS PREDICTED (fail) | max-rel-dev " in section
    assert "vs ≤ 0 + 1.0e-10 ✗ |" in section


def test_a_damaged_cached_point_is_recomputed_and_reported(capsys, tmp_path):
    code, first, err = _run(capsys, "run", HOMOGENEITY, "--profile", "smoke", "--quiet", "--out", str(tmp_path))
    assert code == 0 and err == ""
    points = sorted((tmp_path / store.CACHE).glob("*.csv"))
    assert points
    for path in points:  # cut by hand: the last rows and half a value gone
        text = path.read_text()
        path.write_text(text[: len(text) * 2 // 3])
    code, again, err = _run(capsys, "run", HOMOGENEITY, "--profile", "smoke", "--quiet", "--out", str(tmp_path))
    assert code == 0
    warned = err.splitlines()
    assert len(warned) == len(points) and all(line.startswith("ntkbench: warning: cached sweep point ") and
                                              "checksum mismatch" in line and "recomputing it" in line
                                              for line in warned)
    assert again.split("  (")[0] == first.split("  (")[0]  # the same values, recomputed
    code, _, err = _run(capsys, "run", HOMOGENEITY, "--profile", "smoke", "--quiet", "--out", str(tmp_path))
    assert code == 0 and err == ""  # the recomputed points verify


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "init-scale/nope"], "'init-scale/nope' is neither a claim id nor a family; families: "
     + ", ".join(registry.families())),
    (["run", HOMOGENEITY, "--set", "depth=3"], "--set depth: no selected claim has this parameter; allowed keys: "
     + ", ".join(sorted(registry.get(HOMOGENEITY).param_names()))),
    (["run", HOMOGENEITY, "--set", "width=x"], "parameter 'width' expects int, got 'x'"),
    (["run", HOMOGENEITY, "--set", "bias=uniform"], "'uniform' is not allowed; choose from ('none', 'zero', 'normal')"),
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
    (["list", "--json", "--markdown"], "argument --markdown: not allowed with argument --json"),
    (["run", HOMOGENEITY, "--plan", "000"], "give claim ids/families or --plan, not both"),
    (["run", "--plan", "999"], "--plan '999': no such plan file; the plans of this checkout: 000, 001, 002, 003, 004"),
    (["run", "--plan", "000", "--set", "nope=1"], "--set nope: no selected claim has this parameter"),
    (["calibrate", "init-scale/nope"], "'init-scale/nope' is neither a claim id nor a family"),
    (["calibrate", HOMOGENEITY, "--reseeds", "1"], "argument --reseeds: expects an integer >= 2 (a spread needs two "
     "runs), got '1'"),
    (["calibrate"], "the following arguments are required: ID|FAMILY"),
    (["calibrate", HOMOGENEITY, "--controls-only"], "--controls-only needs --controls or --control NAME"),
    (["run", HOMOGENEITY, "--set", "seed_offset=99999999999999999999"],
     "parameter 'seed_offset' must be ≤ 10**15 in absolute value"),
    (["calibrate", HOMOGENEITY, "--first-seed", "99999999999999999999", "--out", "OUT"],
     "parameter 'seed_offset' must be ≤ 10**15 in absolute value"),
    (["run", HOMOGENEITY, "--set", "width=8", "--set", "width=16"], "--set width: given twice (width=8 and width=16)"),
    (["run", HOMOGENEITY, "--scheduler", "notanaddress"], "--scheduler 'notanaddress' is not an address"),
    (["run", HOMOGENEITY, "--scheduler", "foo://127.0.0.1:9"], "unknown protocol 'foo'"),
    (["run", HOMOGENEITY, "--scheduler", "tcp://127.0.0.1:70000"], "the port must be an integer 1 … 65535"),
    (["calibrate", HOMOGENEITY, "--scheduler", "notanaddress", "--out", "OUT"], "is not an address"),
])
def test_usage_errors_exit_2_before_running(capsys, tmp_path, argv, message):
    if argv and argv[0] == "run":
        argv = [*argv, "--out", str(tmp_path)]
    argv = [str(tmp_path) if a == "OUT" else a for a in argv]
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("ntkbench: error: ") and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # nothing ran


def test_cuda_unavailable_is_a_usage_error(capsys, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, _out, err = _run(capsys, "run", HOMOGENEITY, "--device", "cuda", "--out", str(tmp_path))
    assert code == 2 and "CUDA is not available" in err and "cpu" in err
    assert list(tmp_path.iterdir()) == []


def test_help_exits_0(capsys):
    code, out, _ = _run(capsys, "run", "--help")
    assert code == 0 and "--controls" in out and "--set KEY=VALUE" in out


# ----- the output folder is checked before any work -----------------------------------------------------------------
@pytest.mark.parametrize("command", [["run", HOMOGENEITY], ["mitigate"], ["calibrate", HOMOGENEITY]])
def test_out_under_a_file_is_a_usage_error(capsys, tmp_path, command, monkeypatch):
    called: list = []
    monkeypatch.setattr("ntkbench.harness.runner.run_many", lambda *a, **k: called.append(a))
    (tmp_path / "file").write_text("x")
    code, out, err = _run(capsys, *command, "--out", str(tmp_path / "file" / "results"))
    assert code == 2 and out == "" and called == []
    assert err.count("\n") == 1 and err.startswith("ntkbench: error: --out ")
    assert "is not a folder, so nothing can be written there" in err


def test_unwritable_out_is_a_usage_error(capsys, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cli.tempfile, "mkstemp", refuse)  # as a read-only folder would (root ignores chmod)
    code, out, err = _run(capsys, "run", HOMOGENEITY, "--out", str(tmp_path / "new" / "deeper"))
    assert code == 2 and out == ""
    assert err == (f"ntkbench: error: --out {str(tmp_path / 'new' / 'deeper')!r}: cannot write there (in "
                   f"{str(tmp_path)!r}, where it would be created): Permission denied\n")
    assert list(tmp_path.iterdir()) == []
    code, _, err = _run(capsys, "report", str(tmp_path))
    assert code == 2 and "DIR " in err and "cannot write there" in err


def test_writable_out_leaves_nothing_behind(tmp_path):
    assert cli.writable_folder(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert list(tmp_path.iterdir()) == []


# ----- list --markdown: the catalogue --------------------------------------------------------------------------------
def test_list_markdown_prints_the_catalogue(capsys, monkeypatch):
    module = types.ModuleType("ntkbench.harness.catalogue")
    module.render_markdown = lambda claims: "# The claim catalogue\n\n| id |\n"
    monkeypatch.setitem(sys.modules, "ntkbench.harness.catalogue", module)
    code, out, _ = _run(capsys, "list", "--markdown")
    assert (code, out) == (0, "# The claim catalogue\n\n| id |\n")  # exactly the text: `> docs/claims.md`
    monkeypatch.setitem(sys.modules, "ntkbench.harness.catalogue", None)  # not installed
    code, out, err = _run(capsys, "list", "--markdown")
    assert code == 1 and out == "" and "the catalogue is not available" in err


def test_docs_claims_md_is_current():
    try:
        from ntkbench.harness.catalogue import render_markdown
    except ImportError as exc:
        pytest.skip(f"ntkbench.harness.catalogue is not there yet ({exc}): nothing to compare docs/claims.md with")
    doc = Path(__file__).resolve().parents[1] / "docs" / "claims.md"
    assert doc.is_file(), "docs/claims.md is missing: `ntkbench list --markdown > docs/claims.md`"
    assert doc.read_text(encoding="utf-8") == render_markdown(registry.all_claims()), (
        "docs/claims.md is out of date with the registry and the catalogue: regenerate it with "
        "`ntkbench list --markdown > docs/claims.md`")


# ----- calibrate (with a stand-in for ntkbench.harness.calibrate) ---
@pytest.fixture
def fake_calibrate(monkeypatch):
    calls: list[dict] = []
    rates: dict = {"claim": 1.0, "control": 1.0}  # the fraction of reseeded runs that came out as predicted

    def calibrate(claim_ids, *, reseeds, profile, jobs, scheduler, out, controls, claims_too, device, progress,
                  first_seed, replace):
        calls.append({"ids": list(claim_ids), "reseeds": reseeds, "profile": profile, "jobs": jobs,
                      "scheduler": scheduler, "out": out, "controls": controls, "claims_too": claims_too,
                      "device": device, "progress": progress, "first_seed": first_seed, "replace": replace})
        rows = []
        for cid in claim_ids:
            for ctrl in [None] * claims_too + (["normal-bias"] if controls else []):
                rate = rates["control" if ctrl else "claim"]
                row = {"id": cid, "control": ctrl, "profile": profile, "reseeds": reseeds, "pass_rate": rate,
                       "invalid": 1 if rate < 1 else 0, "errors": 0,
                       "quantities": {"max-rel-dev": {"values": [1e-16] * reseeds, "mean": 1.2e-16, "sd": 3e-17,
                                                      "pass_rate": rate, "tolerance": 1e-10,
                                                      "suggested_tolerance": 1e-12, "rule": "round-off × 1e4"}}}
                store.atomic_write_text(store.calibration_path(out, profile, cid, ctrl), store.to_json(row))
                rows.append(row)
        return rows

    module = types.ModuleType("ntkbench.harness.calibrate")
    module.calibrate = calibrate
    monkeypatch.setitem(sys.modules, "ntkbench.harness.calibrate", module)
    return calls, rates


def test_calibrate_passes_a_later_first_seed_through(capsys, tmp_path, fake_calibrate):
    calls, _ = fake_calibrate
    code, _, _ = _run(capsys, "calibrate", HOMOGENEITY, "--reseeds", "3", "--first-seed", "11", "--quiet",
                      "--out", str(tmp_path))
    assert code == 0 and calls[0]["first_seed"] == 11


def test_calibrate_prints_one_line_per_claim_and_quantity(capsys, tmp_path, fake_calibrate):
    calls, rates = fake_calibrate
    code, out, _ = _run(capsys, "calibrate", HOMOGENEITY, "--reseeds", "3", "--controls", "--quiet",
                        "--out", str(tmp_path), "--jobs", "2")
    assert code == 0
    assert calls == [{"ids": [HOMOGENEITY], "reseeds": 3, "profile": "ci", "jobs": 2, "scheduler": None,
                      "out": tmp_path,
                      "controls": True, "claims_too": True, "device": "cpu", "progress": False, "first_seed": 1,
                      "replace": False}]
    lines = out.splitlines()
    path = tmp_path / "ci" / "calibration" / "init-scale__homogeneity.json"
    assert lines[0] == f"{HOMOGENEITY}: as predicted in 100% of 3 reseeds  → {path}"
    assert lines[1] == "    max-rel-dev: 1.2e-16 ± 3.0e-17, passed 100%, tolerance 1.0e-10, noise band 1.0e-12"
    assert lines[2].startswith(f"{HOMOGENEITY} [normal-bias]: as predicted in 100% of 3 reseeds  → ")
    assert lines.count("round-off × 1e4") == 1  # the rule of the suggested tolerance, printed once
    assert not any(line.startswith("report:") for line in lines)  # calibrations alone: no result.json to summarize
    rates["control"] = 0.6  # a control that sometimes passes: its check cannot reliably tell
    code, out, _ = _run(capsys, "calibrate", "init-scale", "--controls", "--profile", "smoke", "--out", str(tmp_path))
    assert code == 1 and calls[-1]["ids"] == [c.id for c in registry.select(["init-scale"])]
    assert calls[-1]["progress"] is True
    _run(capsys, "calibrate", HOMOGENEITY, "--control", "normal-bias", "--quiet", "--out", str(tmp_path))
    assert calls[-1]["controls"] == ["normal-bias"]  # one named control instead of all
    assert f"{HOMOGENEITY} [normal-bias]: as predicted in 60% of 10 reseeds (1 invalid)  NOT AS PREDICTED" in out
    code, out, _ = _run(capsys, "calibrate", HOMOGENEITY, "--control", "normal-bias", "--controls-only", "--quiet",
                        "--out", str(tmp_path))
    assert calls[-1]["claims_too"] is False and calls[-1]["controls"] == ["normal-bias"]
    assert [line.split(":")[0] for line in out.splitlines() if not line.startswith(" ")] == [
        f"{HOMOGENEITY} [normal-bias]", "round-off × 1e4"]  # the control alone: the claim is not rerun


def test_calibrate_shows_in_the_report(capsys, tmp_path, fake_calibrate):
    _write(tmp_path, "pass", 2.0)
    code, out, _ = _run(capsys, "calibrate", HOMOGENEITY, "--out", str(tmp_path), "--quiet")
    assert code == 0 and out.splitlines()[-1] == f"report: {tmp_path / 'README.md'}"
    assert "| init-scale/homogeneity |  | [100% of 10](ci/calibration/init-scale__homogeneity.json) |" in (
        tmp_path / "README.md").read_text(encoding="utf-8")


def test_calibrate_without_the_module_or_crashing(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ntkbench.harness.calibrate", None)
    code, out, err = _run(capsys, "calibrate", HOMOGENEITY, "--out", str(tmp_path))
    assert code == 1 and out == "" and "calibration is not available in this installation" in err
    module = types.ModuleType("ntkbench.harness.calibrate")

    def crash(*args, **kwargs):
        raise RuntimeError("diverged")

    module.calibrate = crash
    monkeypatch.setitem(sys.modules, "ntkbench.harness.calibrate", module)
    code, out, err = _run(capsys, "calibrate", HOMOGENEITY, "--out", str(tmp_path))
    assert code == 1 and "ntkbench: calibration failed" in err and "RuntimeError: diverged" in err


# ----- run --plan and the plans of reproduce/ ------------------------------------------------------------------------
CATALOGUE_IDS = (  # the fixed ids of the catalogue (docs/claims.md); the project never reads ../shared at run time
    "init-scale/sigma-2L", "init-scale/kernel-limit", "init-scale/lin-closeness", "init-scale/last-layer-exact",
    "init-scale/homogeneity", "init-scale/decomposition", "optim/sgd-equals-gd", "optim/adagrad-differs",
    "optim/adagrad-closed-form", "optim/adaptive-batch-dependence", "optim/underparam-unique", "loss/invariance",
    "init-output/eq6", "init-output/asi-exact", "init-output/doubling-kernel", "init-output/asi-generalization",
    "init-output/error-decomposition", "scaling/ntk-fluctuations", "scaling/output-fluctuations", "scaling/test-error",
    "scaling/ensemble", "scaling/jamming-norm", "scaling/jamming-cusp", "wide/ntk-limit", "wide/lazy-movement",
    "wide/linearization-gap", "wide/gp-init", "wide/lsq-projection",
)


def test_every_plan_loads_and_covers_the_catalogue():
    all_plans = plans.load_all()
    assert [p.document for p in all_plans] == ["000", "001", "002", "003", "004"]
    assert all(p.path.name == f"{p.document}.toml" and p.profile == "ci" for p in all_plans)
    registered = {c.id for c in registry.all_claims()}
    planned = {e.id for p in all_plans for e in p.claims}
    pending = {q.id for p in all_plans for q in p.pending}
    assert registered - planned == set(), "a registered claim is in no plan of reproduce/"
    assert pending <= set(CATALOGUE_IDS) and planned <= set(CATALOGUE_IDS)
    assert planned | pending == set(CATALOGUE_IDS), "every catalogue claim belongs in the plan of its source"
    assert not pending & registered
    ids = plans.catalogue_ids()
    if ids is not None:  # the catalogue module, when there: the same ids, and the same titles
        assert pending <= ids and planned <= ids
        from ntkbench.harness import catalogue

        for p in all_plans:
            assert p.title == catalogue.source(p.document).title
    by_doc = {p.document: {e.id for e in p.claims} for p in all_plans}
    for p in all_plans:  # a claim sits in the plan of each document its source names, and only there
        for e in p.claims:
            assert p.document in registry.get(e.id).source, (p.document, e.id)
    for c in registry.all_claims():
        for doc in set(re.findall(r"\b(00[0-4])\b", c.source)):
            assert c.id in by_doc[doc], f"{c.id} cites {doc} but reproduce/{doc}.toml does not list it"


def _plan(tmp_path: Path, body: str, name: str = "900.toml") -> Path:
    path = tmp_path / name
    path.write_text('document = "900"\ntitle = "T"\nprofile = "smoke"\n' + body, encoding="utf-8")
    return path


@pytest.mark.parametrize(("body", "message"), [
    ('[[claims]]\nid = "init-scale/nope"\nmirrors = "Fig. 1"\n',
     "claim 'init-scale/nope' is not registered; list it under [[pending]]"),
    (f'[[pending]]\nid = "{HOMOGENEITY}"\nmirrors = "Fig. 1"\n',
     f"pending claim '{HOMOGENEITY}' is registered now: move it from [[pending]] to [[claims]]"),
    (f'[[claims]]\nid = "{HOMOGENEITY}"\nmirrors = "Eq. 15"\noverrides = {{ depth = 3 }}\n',
     f"claim '{HOMOGENEITY}': claim '{HOMOGENEITY}' has no parameter 'depth'"),
    (f'[[claims]]\nid = "{HOMOGENEITY}"\nmirrors = "Eq. 15"\noverrides = {{ bias = "uniform" }}\n',
     "'uniform' is not allowed"),
    (f'[[claims]]\nid = "{HOMOGENEITY}"\n', "[[claims]] #1: 'mirrors' must be a non-empty string"),
    (f'[[claims]]\nid = "{HOMOGENEITY}"\nmirrors = "x"\nfigure = "y"\n', "[[claims]] #1: unknown key 'figure'"),
    (f'[[claims]]\nid = "{HOMOGENEITY}"\nmirrors = "x"\n[[claims]]\nid = "{HOMOGENEITY}"\nmirrors = "y"\n',
     "listed twice with the same overrides"),
    (f'[[claims]]\nid = "{HOMOGENEITY}"\nmirrors = "x"\ncontrols = ["nope"]\n',
     f"[[claims]] #1: claim '{HOMOGENEITY}' has no control 'nope'; its controls: normal-bias, tanh"),
    (f'[[claims]]\nid = "{HOMOGENEITY}"\nmirrors = "x"\ncontrols = "tanh"\n',
     "[[claims]] #1: 'controls' must be a list of control names"),
    ('claims = "all"\n', "'claims' must be a list of tables"),
    ("colour = 1\n", "unknown key 'colour'"),
    ("title = 2\n", "not valid TOML"),  # a key defined twice
])
def test_invalid_plans_name_the_file_and_the_problem(tmp_path, body, message):
    path = _plan(tmp_path, body)
    with pytest.raises(plans.PlanError) as info:
        plans.load(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


def test_plan_header_is_checked(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('document = "4"\ntitle = "T"\nprofile = "ci"\n', encoding="utf-8")
    with pytest.raises(plans.PlanError, match="three-digit document number"):
        plans.load(path)
    path.write_text('document = "004"\ntitle = "T"\nprofile = "fast"\n', encoding="utf-8")
    with pytest.raises(plans.PlanError, match="profile 'fast' is not one of smoke, ci, paper"):
        plans.load(path)
    with pytest.raises(plans.PlanError, match="no such plan file"):
        plans.find(tmp_path / "missing.toml")
    assert plans.find("004") == plans.PLANS_DIR / "004.toml" and plans.find(path) == path


def test_run_plan_uses_its_profile_and_overrides(capsys, tmp_path):
    path = _plan(tmp_path, f'[[claims]]\nid = "{HOMOGENEITY}"\nmirrors = "App. C Eq. 15"\n'
                           f'[[claims]]\nid = "{HOMOGENEITY}"\nmirrors = "wider"\noverrides = {{ width = 12 }}\n')
    out = tmp_path / "out"
    code, stdout, _ = _run(capsys, "run", "--plan", str(path), "--quiet", "--out", str(out), "--json")
    assert code == 0
    results = json.loads(stdout)
    assert [(r["id"], r["profile"], r["params"]["width"]) for r in results] == [
        (HOMOGENEITY, "smoke", registry.get(HOMOGENEITY).param("width").smoke), (HOMOGENEITY, "smoke", 12)]
    code, stdout, _ = _run(capsys, "run", "--plan", str(path), "--profile", "ci", "--quiet", "--out", str(out))
    assert code == 0  # --profile overrides the plan's
    assert [line.split("  ")[:2] for line in stdout.splitlines()[:2]] == [[HOMOGENEITY, "as predicted"],
                                                                       [f"{HOMOGENEITY} {{width=12}}", "as predicted"]]
    if "variant" not in results[1]:
        pytest.skip("runner.py does not write variants yet (the lead's change): the run with overrides replaced "
                    "the baseline result instead of going to variants/")
    saved = store.load_results(out, "smoke", variants=True)
    assert [(r["_variant"], r["params"]["width"]) for r in saved] == [
        ("", registry.get(HOMOGENEITY).param("width").smoke), ("width=12", 12)]
    assert results[1]["variant"] == "width=12" and results[1]["params_differ"] is True


def test_plan_entry_chooses_its_controls(capsys, tmp_path):
    """An entry's ``controls`` list: those of the claim's controls run under --controls (absent: all; []: none)."""
    path = _plan(tmp_path, f'[[claims]]\nid = "{HOMOGENEITY}"\nmirrors = "all controls"\n'
                           f'[[claims]]\nid = "{HOMOGENEITY}"\nmirrors = "one"\noverrides = {{ width = 12 }}\n'
                           f'controls = ["tanh"]\n'
                           f'[[claims]]\nid = "{HOMOGENEITY}"\nmirrors = "none"\noverrides = {{ width = 14 }}\n'
                           f'controls = []\n')
    assert [e.controls for e in plans.load(path).claims] == [None, ("tanh",), ()]
    code, stdout, _ = _run(capsys, "run", "--plan", str(path), "--controls", "--quiet", "--out",
                           str(tmp_path / "out"), "--json")
    assert code == 0
    ran = sorted((r["params"]["width"], r.get("control") or "") for r in json.loads(stdout))
    smoke = registry.get(HOMOGENEITY).param("width").smoke
    assert ran == sorted([(smoke, ""), (smoke, "normal-bias"), (smoke, "tanh"), (12, ""), (12, "tanh"), (14, "")])


def test_run_plan_with_nothing_registered_is_a_usage_error(capsys, tmp_path):
    path = _plan(tmp_path, "claims = []\n")
    code, out, err = _run(capsys, "run", "--plan", str(path), "--out", str(tmp_path / "out"))
    assert code == 2 and out == "" and f"nothing to run: {path} lists no registered claim yet" in err
    assert not (tmp_path / "out").exists()


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


def test_report_names_a_damaged_result_and_counts_it_as_an_error(capsys, tmp_path):
    """Issue 39 items 4 and 9: a damaged result showed as "not run" (exit 0); wrong types gave a traceback."""
    _write(tmp_path / "r", "pass", 2.0)
    path = store.claim_dir(tmp_path / "r", "ci", "fam/b") / "result.json"
    path.parent.mkdir(parents=True)
    path.write_text((store.claim_dir(tmp_path / "r", "ci", "fam/a") / "result.json").read_text()[:200])
    code, out, err = _run(capsys, "report", str(tmp_path / "r"))
    assert code == 2 and out.strip() == str(tmp_path / "r" / "README.md")
    assert err.startswith(f"ntkbench: warning: {path}: not valid JSON (") and err.count("\n") == 1
    assert err.rstrip().endswith("counted as an error in the summary")
    text = (tmp_path / "r" / "README.md").read_text()
    assert "**1 pass / 0 not discriminating / 0 fail / 0 invalid / 1 error**" in text
    assert f"damaged result file {path}: not valid JSON" in text
    path.write_text(json.dumps({"id": "fam/b", "status": "pass", "checks": [{"name": "slope", "measured": [1]}],
                                "error": 3}))
    code, out, err = _run(capsys, "report", str(tmp_path / "r"))
    assert code == 2 and err == (f"ntkbench: warning: {path}: 'error' must be text, got int 3; counted as an error "
                                 "in the summary\n")


def test_compare_a_damaged_result_or_a_missing_folder_is_an_input_error(capsys, tmp_path):
    """Issue 39 items 1, 9 and 10: a damaged baseline was left out ("no regressions", exit 0), wrong types gave a
    traceback, a missing NEW folder was reported as missing results."""
    base, new = tmp_path / "base", tmp_path / "new"
    _write(base, "pass", 2.0)
    _write(new, "fail", 3.0)
    path = store.claim_dir(base, "ci", "fam/a") / "result.json"
    path.write_text(path.read_text()[:200])
    code, out, err = _run(capsys, "compare", str(base), str(new))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"ntkbench: error: {path}: damaged result file: not valid JSON")
    _write(base, "pass", 2.0)
    path = store.claim_dir(new, "ci", "fam/a") / "result.json"
    res = json.loads(path.read_text())
    res["checks"][0]["measured"] = {"value": 2.0}
    path.write_text(json.dumps(res))
    code, out, err = _run(capsys, "compare", str(base), str(new))
    assert code == 2 and out == "" and err == (f"ntkbench: error: {path}: damaged result file: check 'slope': "
                                               "'measured' must be a number, got dict {'value': 2.0}\n")
    code, out, err = _run(capsys, "compare", str(base), str(tmp_path / "nowhere"))
    assert (code, out) == (2, "") and err == f"ntkbench: error: NEW {str(tmp_path / 'nowhere')!r}: no such folder\n"


def test_a_plan_that_is_not_utf8_is_a_usage_error(capsys, tmp_path):
    path = tmp_path / "900.toml"
    path.write_bytes(b'document = "900"\ntitle = "caf\xe9"\n')
    code, out, err = _run(capsys, "run", "--plan", str(path), "--out", str(tmp_path / "out"))
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert err.startswith(f"ntkbench: error: {path}: a plan is TOML, UTF-8 text; this file is not (")
    assert not (tmp_path / "out").exists()


def test_a_write_error_is_one_line_and_keeps_the_finished_points(capsys, tmp_path, monkeypatch):
    """Issue 39 item 7: a full disk mid-run ended in a traceback and left data.csv without result.json."""
    real_open = open

    def full(file, mode="r", *args, **kwargs):
        if "w" in mode and Path(file).name == "result.json":
            raise OSError(28, "No space left on device")
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(store, "open", full, raising=False)
    code, out, err = _run(capsys, "run", HOMOGENEITY, "--profile", "smoke", "--quiet", "--out", str(tmp_path))
    folder = store.claim_dir(tmp_path, "smoke", HOMOGENEITY)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith(f"ntkbench: error: cannot write {str(folder / 'result.json')!r}: No space left on device")
    assert not folder.exists() and not any(p.name.endswith(".tmp") for p in folder.parent.iterdir())
    cached = sorted((tmp_path / store.CACHE).glob("*.csv"))
    assert cached
    monkeypatch.undo()
    code, out, err = _run(capsys, "run", HOMOGENEITY, "--profile", "smoke", "--quiet", "--out", str(tmp_path),
                          "--json")
    assert code == 0 and err == ""
    [res] = json.loads(out)
    assert res["points_cached"] == res["points"] == len(cached)
    assert sorted(p.name for p in folder.iterdir()) == sorted(["data.csv", "result.json"] + [res["figure"]] * bool(
        res["figure"]))


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


# ----- mitigate (with a stand-in for ntkbench.harness.mitigation) ---
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

    module = types.ModuleType("ntkbench.harness.mitigation")
    module.run_mitigation = run_mitigation
    monkeypatch.setitem(sys.modules, "ntkbench.harness.mitigation", module)
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


# ----- the baseline changes only when asked (issue 39 item 2) -------------------------------------------------------
def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_runs_write_the_working_folder_and_the_baseline_only_when_asked(capsys, tmp_path, monkeypatch):
    """A plain run, an explicit --out results and a --set equal to the profile's value rewrote the committed
    results; now the first writes runs/, the others are refused (exit 2, nothing written) without --update-baseline."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    smoke = ("run", HOMOGENEITY, "--profile", "smoke", "--quiet")
    code, out, _ = _run(capsys, *smoke)
    assert code == 0 and (tmp_path / "runs" / "smoke" / "init-scale" / "homogeneity" / "result.json").is_file()
    assert _tree(tmp_path / "results") == {} and out.splitlines()[-1] == "report: runs/README.md"
    width = registry.get(HOMOGENEITY).param("width").smoke
    for extra in (("--out", "results"), ("--out", "results/smoke"), ("--set", f"width={width}", "--out", "results")):
        code, out, err = _run(capsys, *smoke, *extra)
        assert code == 2 and out == "" and "--update-baseline" in err and err.count("\n") == 1
        assert _tree(tmp_path / "results") == {}
    code, out, _ = _run(capsys, *smoke, "--update-baseline")
    assert code == 0 and out.splitlines()[-1] == "report: results/README.md"
    assert f"  not in the baseline results: {HOMOGENEITY}" in out.splitlines()
    committed = _tree(tmp_path / "results")
    assert "smoke/init-scale/homogeneity/result.json" in committed and "README.md" in committed
    code, out, _ = _run(capsys, *smoke)  # a rerun compares itself with the baseline, which stays as it was
    assert code == 0 and "against the baseline results: no regressions" in out.splitlines()
    assert _tree(tmp_path / "results") == committed


def test_a_run_prints_its_regressions_against_the_baseline(capsys, tmp_path, monkeypatch):
    """As pytest-regressions does: a result that differs from the committed one is listed, and the baseline is
    left as it was; with --update-baseline the run says what it replaced."""
    monkeypatch.chdir(tmp_path)
    smoke = ("run", HOMOGENEITY, "--profile", "smoke", "--quiet")
    assert _run(capsys, *smoke, "--update-baseline")[0] == 0
    path = tmp_path / "results" / "smoke" / "init-scale" / "homogeneity" / "result.json"
    res = json.loads(path.read_text())
    res["status"], res["checks"][0]["measured"] = "fail", 1.0  # a baseline the code no longer reproduces
    path.write_text(json.dumps(res))
    before = path.read_bytes()
    code, out, _ = _run(capsys, *smoke)
    lines = out.splitlines()
    assert code == 0 and "against the baseline results: 2 regression(s)" in lines
    assert f"  {HOMOGENEITY}: status: fail → pass" in lines
    assert any(line.startswith(f"  {HOMOGENEITY} max-rel-dev: verdict: failed → passed (1 → ") for line in lines)
    assert "  (the baseline is unchanged; rerun with --update-baseline to replace it, after review)" in lines
    assert path.read_bytes() == before
    code, out, _ = _run(capsys, *smoke, "--update-baseline")
    assert code == 0 and "replaced in the baseline results: 2 regression(s)" in out.splitlines()
    assert json.loads(path.read_text())["status"] == "pass"


def test_a_calibration_never_replaces_a_record_with_fewer_reseeds_unless_asked(capsys, tmp_path, monkeypatch):
    """`ntkbench calibrate ID --reseeds 2` replaced a 10-reseed record silently."""
    monkeypatch.chdir(tmp_path)
    cal = ("calibrate", HOMOGENEITY, "--profile", "smoke", "--quiet")
    assert _run(capsys, *cal, "--reseeds", "3", "--update-baseline")[0] == 0
    record = tmp_path / "results" / "smoke" / "calibration" / "init-scale__homogeneity.json"
    assert json.loads(record.read_text())["reseeds"] == 3 and not (tmp_path / "runs").exists()
    code, _, err = _run(capsys, *cal, "--reseeds", "2")  # into the working folder: the baseline stays
    assert code == 0 and json.loads(record.read_text())["reseeds"] == 3
    assert (tmp_path / "runs" / "smoke" / "calibration" / "init-scale__homogeneity.json").is_file()
    code, out, err = _run(capsys, *cal, "--reseeds", "2", "--out", "results")
    assert code == 2 and "--update-baseline" in err and json.loads(record.read_text())["reseeds"] == 3
    store.atomic_write_text(store.calibration_path(tmp_path / "other", "smoke", HOMOGENEITY),
                            record.read_text())
    code, out, err = _run(capsys, *cal, "--reseeds", "2", "--out", "other")
    assert code == 2 and out == "" and "a 2-reseed calibration would replace records with more reseeds" in err
    assert "(3 reseeds)" in err and "init-scale__homogeneity.json" in err
    assert _run(capsys, *cal, "--reseeds", "2", "--update-baseline")[0] == 0
    assert json.loads(record.read_text())["reseeds"] == 2


def test_rejudging_the_baseline_needs_the_flag(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "results", "pass", 2.0)
    before = _tree(tmp_path / "results")
    code, out, err = _run(capsys, "report", "results", "--rejudge", "ci")
    assert code == 2 and out == "" and "--update-baseline" in err and _tree(tmp_path / "results") == before
    code, out, err = _run(capsys, "report", "results", "--reanalyse", "ci")
    assert code == 2 and out == "" and "--reanalyse rewrites" in err and _tree(tmp_path / "results") == before


def test_reanalyse_names_the_results_it_leaves_as_they_are(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "runs", "pass", 2.0)  # a result without data.csv
    before = _tree(tmp_path / "runs")
    code, out, _ = _run(capsys, "report", "runs", "--reanalyse", "ci")
    assert code == 0 and "fam/a: left as it is: no data.csv saved: rerun it" in out
    assert _tree(tmp_path / "runs")["ci/fam/a/result.json"] == before["ci/fam/a/result.json"]


def test_mitigate_writes_the_working_folder_by_default(capsys, tmp_path, monkeypatch, fake_mitigation):
    calls, _ = fake_mitigation
    monkeypatch.chdir(tmp_path)
    assert _run(capsys, "mitigate", "--profile", "smoke")[0] == 0
    assert _run(capsys, "mitigate", "--profile", "smoke", "--update-baseline")[0] == 0
    assert [c["out"] for c in calls] == [Path("runs"), Path("results")]
