"""Claims as data: parameter parsing and checks, expectations, per-profile resolution, registration, selection."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
import pytest

from ntkbench import registry
from ntkbench.registry import Claim, Control, Expect, Measurement, Param, UsageError


# ----- Param ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "smoke", "text", "value"), [
    ("int", 1, "42", 42),
    ("float", 1.0, "1e-3", 1e-3),
    ("str", "a", "hello", "hello"),
    ("bool", True, "false", False),
    ("bool", True, "YES", True),
    ("bool", True, "1", True),
    ("ints", (1,), "2,3", (2, 3)),
    ("ints", (1,), "7", (7,)),
    ("floats", (1.0,), "0.5,2", (0.5, 2.0)),
])
def test_param_parses_each_kind(kind, smoke, text, value):
    p = Param("x", smoke, smoke, smoke, "help", kind=kind)
    assert p.parse(text) == value
    assert type(p.parse(text)) is type(value)


@pytest.mark.parametrize(("kind", "smoke", "text", "message"), [
    ("int", 1, "x", "expects int"),
    ("int", 1, "1.5", "expects int"),
    ("float", 1.0, "abc", "expects float"),
    ("float", 1.0, "nan", "must be finite"),
    ("float", 1.0, "inf", "must be finite"),
    ("bool", True, "maybe", "expects bool"),
    ("ints", (1,), "2,x", "expects ints"),
    ("ints", (1,), "", "expects ints"),
    ("floats", (1.0,), "1,,2", "expects floats"),
])
def test_param_parse_errors_name_the_parameter(kind, smoke, text, message):
    p = Param("width", smoke, smoke, smoke, "help", kind=kind)
    with pytest.raises(UsageError, match=message) as exc:
        p.parse(text)
    assert "'width'" in str(exc.value)


def test_param_choices_are_enforced_and_listed():
    p = Param("bias", "zero", "zero", "zero", "help", kind="str", choices=("zero", "normal"))
    assert p.parse("normal") == "normal"
    with pytest.raises(UsageError, match=r"'bias'.*'uniform' is not allowed.*\('zero', 'normal'\)"):
        p.parse("uniform")


def test_param_list_kinds_need_a_nonempty_list():
    p = Param("depth", (2,), (2,), (2,), "help", kind="ints")
    assert p.check([2, 3]) == (2, 3)
    for bad in (2, (), []):
        with pytest.raises(UsageError, match="'depth' must be a non-empty list of ints"):
            p.check(bad)


def test_param_rejects_unknown_kind_and_bad_declared_values():
    with pytest.raises(ValueError, match="kind='complex' is not one of"):
        Param("x", 1, 1, 1, "help", kind="complex")
    with pytest.raises(UsageError, match="'b'"):
        Param("b", "zero", "oops", "zero", "help", kind="str", choices=("zero",))
    assert Param("x", 1, 2, 3, "help").value("ci") == 2


# ----- Expect --------------------------------------------------------------------------------------------------------
def test_expect_modes():
    within = Expect("slope", 2.0, 0.4, "noise")
    assert within.passes(2.4) and within.passes(1.6) and not within.passes(2.41) and not within.passes(1.5)
    below = Expect("dev", 0.0, 1e-10, "round-off", mode="below")
    assert below.passes(-5.0) and below.passes(1e-10) and not below.passes(2e-10)
    above = Expect("gap", 1.0, 0.1, "margin", mode="above")
    assert above.passes(100.0) and above.passes(0.9) and not above.passes(0.89)
    for e in (within, below, above):
        assert not e.passes(math.nan)
    assert not below.passes(math.inf) and not above.passes(math.inf)
    assert within.describe() == "2 ±0.4" and below.describe() == "0 ≤ +1e-10" and above.describe() == "1 ≥ −0.1"


def test_expect_rejects_bad_mode_and_tolerance():
    with pytest.raises(ValueError, match="mode='around' is not one of"):
        Expect("x", 0.0, 1.0, "r", mode="around")
    for tol in (-1.0, math.nan):
        with pytest.raises(ValueError, match="tolerance must be >= 0"):
            Expect("x", 0.0, tol, "r")


# ----- Claim.resolve -------------------------------------------------------------------------------------------------
def test_resolve_profiles_and_overrides():
    c = registry.get("init-scale/homogeneity")
    seeds = c.param("seeds")
    assert [c.resolve(p)["seeds"] for p in registry.PROFILES] == [seeds.smoke, seeds.ci, seeds.paper]
    v = c.resolve("ci", {"seeds": "3", "depths": "2,4", "sigma": 0.5, "bias": "normal"})
    assert v["seeds"] == 3 and v["depths"] == (2, 4) and v["sigma"] == 0.5 and v["bias"] == "normal"
    assert c.resolve("ci")["depths"] == tuple(c.param("depths").ci)  # overrides do not leak into the declarations


def test_resolve_errors():
    c = registry.get("init-scale/homogeneity")
    with pytest.raises(UsageError, match=r"profile='fast' is not allowed; choose from \('smoke', 'ci', 'paper'\)"):
        c.resolve("fast")
    with pytest.raises(UsageError, match=r"no parameter 'depth'; its parameters: \(.*'depths'"):
        c.resolve("ci", {"depth": "3"})
    with pytest.raises(UsageError, match="'bias'"):
        c.resolve("ci", {"bias": "uniform"})


def test_resolve_per_depth_keeps_the_declared_width():
    c = registry.get("init-scale/sigma-2L")
    declared = dict(zip(c.param("depth").ci, c.param("width").ci))  # at the time of writing {2: 1000, 3: 800}
    assert set(declared) == {2, 3} and declared[2] != declared[3]
    assert c.resolve("ci")["width"] == (declared[2], declared[3])
    v = c.resolve("ci", {"depth": "3"})
    assert v["depth"] == (3,) and v["width"] == (declared[3],)
    assert [(e.name, e.expected) for e in c.expect(v) if e.name.startswith("slope")] == [("slope[L=3]", 6.0)]
    assert c.resolve("ci", {"depth": "2"})["width"] == (declared[2],)
    assert c.resolve("ci", {"depth": "3,2"})["width"] == (declared[3], declared[2])
    assert c.resolve("ci", {"depth": "3", "width": "500"})["width"] == (500,)  # an explicit width wins
    assert c.resolve("ci", {"width": "300"})["width"] == (300,)  # one value for every depth


def test_resolve_per_depth_mismatch_is_a_usage_error():
    c = registry.get("init-scale/sigma-2L")
    with pytest.raises(UsageError, match=r"'width' has 2 values for depth=\[4\].*--set width="):
        c.resolve("ci", {"depth": "4"})  # L = 4 has no declared width
    with pytest.raises(UsageError, match=r"'width' has 3 values"):
        c.resolve("ci", {"width": "1,2,3"})


# ----- registration and selection ------------------------------------------------------------------------------------
def _toy(claim_id: str = "toy/one", **kw) -> Claim:
    base = dict(
        id=claim_id, source="test", statement="toy", measured="x",
        params=(Param("n", 1, 2, 3, "points"), Param("value", 1.0, 1.0, 1.0, "value", kind="float")),
        points=lambda p: [{"i": i} for i in range(p["n"])],
        measure=lambda point, ctx: pd.DataFrame([{"i": point["i"]}]),
        fit=lambda data, p: {"x": Measurement(1.0)},
        expect=lambda p: (Expect("x", 1.0, 0.1, "toy"),),
    )
    return Claim(**{**base, **kw})


def test_register_rejects_duplicates_bad_ids_and_bad_controls(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    claim = registry.register(_toy())
    assert registry.register(claim) is claim  # the same object again: a no-op (re-import of a family module)
    with pytest.raises(ValueError, match="'toy/one' is already registered"):
        registry.register(_toy())
    with pytest.raises(ValueError, match="must be 'family/name'"):
        registry.register(_toy("toyone"))
    with pytest.raises(ValueError, match=r"control 'bad': unknown parameters \['depth'\]"):
        registry.register(_toy("toy/two", controls=(Control("bad", {"depth": 3}, "why"),)))
    with pytest.raises(ValueError, match="declares a parameter twice"):
        registry.register(_toy("toy/three", params=(Param("n", 1, 1, 1, "a"), Param("n", 1, 1, 1, "b"))))
    assert "toy/two" not in registry._REGISTRY and "toy/three" not in registry._REGISTRY
    assert registry.get("toy/one").family == "toy"


def test_select_by_id_family_and_all():
    ids = [c.id for c in registry.all_claims()]
    assert "init-scale/homogeneity" in ids and len(ids) == len(set(ids))
    assert [c.id for c in registry.select()] == ids
    assert [c.id for c in registry.select(["init-scale/homogeneity"])] == ["init-scale/homogeneity"]
    family = [c.id for c in registry.select(["init-scale"])]
    assert family == [i for i in ids if i.startswith("init-scale/")]
    # duplicates removed, catalogue order within a family, the order of the names otherwise
    both = registry.select(["init-scale/decomposition", "init-scale", "init-scale/decomposition"])
    assert [c.id for c in both] == ["init-scale/decomposition"] + [i for i in family if i != "init-scale/decomposition"]
    assert "init-scale" in registry.families()


def test_unknown_names_raise_usage_errors():
    with pytest.raises(UsageError, match="'nope' is neither a claim id nor a family; families: init-scale"):
        registry.select(["nope"])
    with pytest.raises(UsageError, match="unknown claim id 'init-scale/nope'; known ids: .*init-scale/homogeneity"):
        registry.get("init-scale/nope")
    with pytest.raises(UsageError, match="choose from"):
        registry.check_profile("fast")


def test_claim_param_lookup():
    c = registry.get("init-scale/homogeneity")
    assert c.param("width").name == "width"
    with pytest.raises(UsageError, match="has no parameter 'depth'"):
        c.param("depth")
    assert replace(c, id="x/y").family == "x"


def test_parse_sets():
    assert registry.parse_sets(["a=1", " b = x,y ", "c=d=e", "e="]) == {"a": "1", "b": "x,y", "c": "d=e", "e": ""}
    assert registry.parse_sets([]) == {}
    for bad in ("novalue", "=3"):
        with pytest.raises(UsageError, match="--set expects key=value"):
            registry.parse_sets([bad])
