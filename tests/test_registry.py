"""Claims as data: parameter parsing and checks, expectations, per-profile resolution, registration, selection."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
import pytest

from ntkbench.harness import registry, spec
from ntkbench.harness.registry import Alternative, Check, Claim, Control, Expect, Measurement, Param, UsageError


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
    ("strs", ("a",), "sgd, adagrad", ("sgd", "adagrad")),
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
    q = Param("optimizers", ("sgd",), ("sgd",), ("sgd",), "help", kind="strs", choices=("sgd", "adam"))
    with pytest.raises(UsageError, match=r"'optimizers'.*'lbfgs' is not allowed"):  # each element is checked
        q.parse("sgd,lbfgs")


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
    # at the time of writing {2: 1000, 3: 800}
    declared = dict(zip(c.param("depth").ci, c.param("width").ci, strict=True))
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
    with pytest.raises(UsageError, match=r"'width' has 3 values"):
        c.resolve("ci", {"width": "1,2,3"})


def test_resolve_unlisted_depth_takes_the_nearest_declared_width():
    c = registry.get("init-scale/sigma-2L")
    declared = dict(zip(c.param("depth").ci, c.param("width").ci, strict=True))
    deepest = max(declared)
    assert c.resolve("ci", {"depth": str(deepest + 1)})["width"] == (declared[deepest],)
    assert c.resolve("ci", {"depth": f"{deepest + 2},2"})["width"] == (declared[deepest], declared[2])


@pytest.mark.parametrize(("name", "text", "message"), [
    ("seeds", "0", r"'seeds' must be ≥ 1"),
    ("seeds", "-3", r"'seeds' must be ≥ 1"),
    ("depth", "0", r"'depth' must be ≥ 2"),
    ("sigmas", "-1,2", r"'sigmas' must be > 0"),
    ("threshold", "0", r"'threshold' must be > 0"),
    ("lr_c", "4.5", r"'lr_c' must be > 0 and ≤ 4"),
    ("seed_offset", "-1", r"'seed_offset' must be ≥ 0"),
    ("seed_offset", "99999999999999999999", r"'seed_offset' must be ≤ 10\*\*15 in absolute value \(seeds are built "
     r"from integer parameters, seed_offset·1000 \+ member, and must stay below 2\*\*63\), got 99999999999999999999"),
    ("data_seed", str(10 ** 15 + 1), r"'data_seed' must be ≤ 10\*\*15 in absolute value"),
    ("depth", f"2,{10 ** 16}", r"'depth' must be ≤ 10\*\*15 in absolute value"),
])
def test_values_out_of_range_are_usage_errors(name, text, message):
    with pytest.raises(UsageError, match=message):
        registry.get("init-scale/sigma-2L").resolve("ci", {name: text})


def test_param_range_checks_every_list_element_and_rejects_bad_declarations():
    p = Param("widths", (1,), (1,), (1,), "help", kind="ints", low=1)
    assert p.check([3, 4]) == (3, 4)
    with pytest.raises(UsageError, match="'widths' must be ≥ 1, got 0"):
        p.check([3, 0])
    with pytest.raises(UsageError, match="'x'"):
        Param("x", 0, 1, 1, "help", low=1)  # a declared value out of range fails at declaration
    with pytest.raises(ValueError, match="an axis must be a list"):
        Param("x", "a", "a", "a", "help", kind="str", axis="y")


def test_every_claim_accepts_seed_offset():
    for c in registry.all_claims():
        assert c.resolve("ci")["seed_offset"] == 0
        assert c.resolve("ci", {"seed_offset": "3"})["seed_offset"] == 3
        assert all(p["seed_offset"] == 3 for p in c.points(c.resolve("ci", {"seed_offset": "3"})))


# ----- the sweep grid ------------------------------------------------------------------------------------------------
def test_points_are_the_grid_and_carry_every_declared_parameter():
    for c in registry.all_claims():
        for profile in registry.PROFILES:
            params = c.resolve(profile)
            points = c.points(params)
            axes = [p for p in c.params if p.axis]
            expected_n = 1
            for p in axes:
                expected_n *= params[p.name] if p.kind == "int" else len(params[p.name])
            assert len(points) == expected_n if c.where is None else 0 < len(points) <= expected_n, c.id
            point_keys = {p.axis or p.name for p in c.params if not p.analysis}
            assert all(set(pt) == point_keys for pt in points), (c.id, point_keys, set(points[0]))


def test_points_pick_the_width_of_each_depth():
    c = registry.get("init-scale/sigma-2L")
    params = c.resolve("ci")
    table = dict(zip(params["depth"], params["width"], strict=False))
    points = c.points(params)
    assert {(p["depth"], p["width"]) for p in points} == set(table.items())
    assert {p["sigma"] for p in points} == set(params["sigmas"])


def test_analysis_parameters_do_not_change_the_points():
    c = registry.get("init-scale/sigma-2L")
    assert c.points(c.resolve("ci", {"dominance": "3"})) == c.points(c.resolve("ci"))


def test_where_keeps_a_partial_grid():
    claim = Claim(id="toy/where", source="t", statement="s", measured="m",
                  params=(Param("sigmas", (1.0, 2.0), (1.0, 2.0), (1.0, 2.0), "σ", kind="floats", axis="sigma"),
                          Param("widths", (10, 20), (10, 20), (10, 20), "m", kind="ints", axis="width")),
                  measure=lambda point, ctx: pd.DataFrame(), checks=(),
                  where=lambda point, params: point["width"] == 20 or point["sigma"] == max(params["sigmas"]))
    got = {(p["sigma"], p["width"]) for p in claim.points(claim.resolve("ci"))}
    assert got == {(1.0, 20), (2.0, 10), (2.0, 20)}


def test_every_control_changes_the_sweep_and_names_science_checks():
    """Over the whole registry: a control whose overrides change neither a sweep point nor an analysis parameter,
    or that names a check that does not exist or is a precondition, is a registration error (registry.validate)."""
    for c in registry.all_claims():
        registry.validate(c)
        analysis = [p.name for p in c.params if p.analysis]
        for k in c.controls:
            assert k.fails, (c.id, k.name)
            for profile in registry.PROFILES:
                ctrl, own = c.resolve(profile, k.overrides), c.resolve(profile)
                assert c.points(ctrl) != c.points(own) or any(ctrl[n] != own[n] for n in analysis), (c.id, k.name)


# ----- registration and selection ------------------------------------------------------------------------------------
def _toy(claim_id: str = "toy/one", **kw) -> Claim:
    base = dict(
        id=claim_id, source="test", statement="toy", measured="x",
        params=(Param("n", 1, 2, 3, "points", axis="i"), Param("value", 1.0, 1.0, 1.0, "value", kind="float")),
        measure=lambda point, ctx: pd.DataFrame([{"i": point["i"]}]),
        checks=(Check(lambda data, p: {"x": Measurement(1.0)},
                      lambda p: (Expect("x", 1.0, 0.1, "toy", alternatives=(Alternative(0.0, "no effect"),)),)),),
    )
    return Claim(**{**base, **kw})


def test_register_rejects_duplicates_bad_ids_and_bad_controls(monkeypatch):
    monkeypatch.setattr(spec, "_REGISTRY", dict(spec._REGISTRY))  # where register() writes
    claim = registry.register(_toy())
    assert registry.register(claim) is claim  # the same object again: a no-op (re-import of a family module)
    with pytest.raises(ValueError, match="'toy/one' is already registered"):
        registry.register(_toy())
    with pytest.raises(ValueError, match="must be 'family/name'"):
        registry.register(_toy("toyone"))
    with pytest.raises(ValueError, match=r"control 'bad': unknown parameters \['depth'\]"):
        registry.register(_toy("toy/two", controls=(Control("bad", {"depth": 3}, "why", fails=("x",)),)))
    with pytest.raises(ValueError, match="declares a parameter twice"):
        registry.register(_toy("toy/three", params=(Param("n", 1, 1, 1, "a"), Param("n", 1, 1, 1, "b"))))
    with pytest.raises(ValueError, match=r"control 'same': its overrides change no sweep point"):
        registry.register(_toy("toy/four", controls=(Control("same", {"value": 1.0}, "why", fails=("x",)),)))
    with pytest.raises(ValueError, match=r"fails=\['y'\] names no science or identity check"):
        registry.register(_toy("toy/five", controls=(Control("other", {"value": 2.0}, "why", fails=("y",)),)))
    with pytest.raises(ValueError, match="name the checks that must fail"):
        registry.register(_toy("toy/six", controls=(Control("none", {"value": 2.0}, "why", fails=()),)))
    assert not {"toy/two", "toy/three", "toy/four", "toy/five", "toy/six"} & set(spec._REGISTRY)
    assert registry.get("toy/one").family == "toy"
    ok = registry.register(_toy("toy/seven", controls=(Control("moved", {"value": 2.0}, "why", fails=("x",)),)))
    assert [p["value"] for p in ok.points(ok.resolve("ci", {"value": 2.0}))] == [2.0, 2.0]
    assert ok.param_names()[-1] == "seed_offset"
    reread = registry.register(_toy("toy/eight", params=(*_toy().params, Param("role", "a", "a", "a", "which rows the "
                                                                                 "check reads", kind="str",
                                                                                 analysis=True)),
                                    controls=(Control("swapped", {"role": "b"}, "why", fails=("x",)),)))
    assert reread.controls[0].name == "swapped"  # an analysis-only control rereads the claim's own points


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
    with pytest.raises(UsageError,
                       match="'nope' is neither a claim id nor a family; families: init-output, init-scale"):
        registry.select(["nope"])
    with pytest.raises(UsageError, match=r"unknown claim id 'init-scale/nope'; known ids: .*init-scale/homogeneity"):
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
    for bad in ("novalue", "=3", " =3"):
        with pytest.raises(UsageError, match="--set expects key=value"):
            registry.parse_sets([bad])


def test_parse_sets_refuses_a_key_given_twice():
    """Issue 39 item 10: the last of two --set width=... won silently."""
    with pytest.raises(UsageError, match=r"^--set width: given twice \(width=32 and width=64\); give each key once$"):
        registry.parse_sets(["width=32", "depth=2", " width = 64"])


def test_every_integer_seed_fits_torch_at_the_largest_allowed_values():
    """Issue 39 item 8: the largest seed_offset (and data_seed) that resolves builds seeds that torch accepts."""
    import torch

    top = registry.INT_HIGH
    assert top * registry.SEED_STRIDE + registry.SEED_STRIDE + top < 2 ** 63
    torch.Generator().manual_seed(top * registry.SEED_STRIDE + 999 + top)
    assert registry.get("init-scale/sigma-2L").resolve("ci", {"seed_offset": str(top)})["seed_offset"] == top
