"""001 Sect. 3's σ-shrinking procedure: its decisions (continue, stop on no improvement, stop when training gets
impractically slow, pick the best converged net) and its run on the embedded data."""

import json
import math

import pytest

from ntkbench import MLP
from ntkbench.data import load
from ntkbench.harness.mitigation import resolve, run_mitigation, shrink_sigma
from ntkbench.harness.registry import UsageError

DS = load("mnist01", n_train=12, n_test=40, seed=0, pca=5)
XV, YV, XT, YT = DS.x_test[:20], DS.y_test[:20], DS.x_test[20:], DS.y_test[20:]


def make_net(sigma):
    return MLP(d_in=DS.d_in, width=64, depth=2, sigma=sigma, bias="zero")


def run(**kw):
    args = dict(sigma_start=8.0, factor=0.5, threshold=1e-3, max_steps=3000, max_rounds=3, x_test=XT, y_test=YT)
    return shrink_sigma(make_net, DS.x_train, DS.y_train, XV, YV, **{**args, **kw})


def test_shrinking_from_a_large_sigma_lowers_the_validation_loss():
    calls = []
    m = run(progress=lambda number, rnd, seconds: calls.append((number, rnd, seconds)))
    assert [(n, r) for n, r, _ in calls] == list(enumerate(m.history, start=1))  # one call per round, in order
    assert all(s >= 0 for *_, s in calls)
    sigmas = [r.sigma for r in m.history]
    assert sigmas == [8.0, 4.0, 2.0][: len(sigmas)] and len(sigmas) >= 2
    assert m.history[1].val_loss < 0.95 * m.history[0].val_loss  # σ^(2L) term: 16× smaller at half σ
    assert m.history[m.chosen].converged
    assert m.history[m.chosen].val_loss == min(r.val_loss for r in m.history if r.converged)
    assert m.stop_reason
    assert all(math.isfinite(r.test_loss) for r in m.history)


def test_stops_when_training_gets_impractically_slow():
    m = run(sigma_start=2.0, max_steps=1000)  # σ = 2 needs ~550 steps here, σ = 1 ~2300 (measured)
    assert not m.history[-1].converged
    assert "impractically slow" in m.stop_reason
    assert m.chosen < len(m.history) - 1


def test_stops_without_significant_improvement():
    m = run(min_improvement=0.99, max_rounds=5)  # a 99% fall is never reached
    assert len(m.history) == 2 and "fell by less than" in m.stop_reason and m.chosen in (0, 1)


def test_no_converged_round_is_an_error():
    with pytest.raises(RuntimeError, match="no round reached"):
        run(max_steps=1)


@pytest.mark.parametrize(("kw", "name"), [({"factor": 1.5}, "factor"), ({"sigma_start": 0.0}, "sigma_start"),
                                          ({"min_improvement": 1.0}, "min_improvement"),
                                          ({"max_rounds": 0}, "max_rounds")])
def test_invalid_arguments(kw, name):
    with pytest.raises(ValueError, match=name):
        run(**kw)


def test_run_mitigation_writes_the_summary(tmp_path, capsys):
    s = run_mitigation("smoke", sets={"max_rounds": "2"}, out=tmp_path)
    assert s["status"] == "ok", s["error"]
    captured = capsys.readouterr()  # progress by default: a start line and one line per σ round, on stderr
    assert captured.out == ""
    rounds = [line for line in captured.err.splitlines() if line.startswith("mitigate: round")]
    assert len(rounds) == 2 and "σ = 4" in rounds[0] and "validation MSE" in rounds[0] and " steps " in rounds[0]
    assert captured.err.startswith("mitigate (smoke):")
    folder = tmp_path / "smoke" / "mitigation"
    saved = json.loads((folder / "mitigation.json").read_text())
    assert saved["chosen_sigma"] == s["chosen_sigma"] and len(saved["history"]) == 2
    assert (folder / "figure.png").stat().st_size > 0 and (folder / "data.csv").is_file()


def test_run_mitigation_progress_argument(tmp_path, capsys):
    with pytest.raises(UsageError, match="progress"):
        run_mitigation("smoke", progress="loud")
    lines = []
    s = run_mitigation("smoke", sets={"max_rounds": "1"}, progress=lambda *a: lines.append(a))
    assert s["status"] == "ok", s["error"]
    assert len(lines) == 1 and lines[0][0] == 1 and lines[0][1].sigma == 4.0
    assert capsys.readouterr().err == ""  # a callable replaces the printing


def test_resolve_rejects_unknown_keys_and_bad_values():
    assert resolve("ci", {"depth": "2"})["depth"] == 2
    with pytest.raises(UsageError, match="allowed keys"):
        resolve("ci", {"detph": "2"})
    with pytest.raises(UsageError, match="depth"):
        resolve("ci", {"depth": "two"})
