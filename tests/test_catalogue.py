"""The catalogue as data (ntkbench.harness.catalogue): its ids, families and sources, its agreement with the registry,
and
the generated docs/claims.md and README references that must not go stale."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from ntkbench.harness import catalogue, registry
from ntkbench.harness.catalogue import CATALOGUE, FAMILIES, ROWS, SOURCES, references_markdown, render_markdown
from ntkbench.harness.registry import Alternative, Control, Expect

ROOT = Path(__file__).resolve().parents[1]
STALE = f"is stale: regenerate it with `{catalogue.REGENERATE}` (or, without the CLI: python -c \"from " \
        "ntkbench.harness import catalogue, registry; " \
        "print(catalogue.render_markdown(registry.all_claims()), end='')\" > docs/claims.md)"


def test_ids_are_unique_and_well_formed():
    ids = [r.id for r in ROWS]
    assert len(ids) == len(set(ids)) == len(CATALOGUE) == 28
    assert all(re.fullmatch(r"[a-z0-9-]+/[a-zA-Z0-9-]+", i) for i in ids), ids


def test_rows_cover_five_families_with_their_prefixes_and_sources():
    assert [f.letter for f in FAMILIES] == ["A", "B", "C", "D", "E"]
    by_family = {f.letter: [r for r in ROWS if r.family == f.letter] for f in FAMILIES}
    assert all(by_family.values()), {k: len(v) for k, v in by_family.items()}
    assert {r.family for r in ROWS} == set(by_family)
    keys = {s.key for s in SOURCES}
    for fam in FAMILIES:
        assert set(fam.sources) <= keys
        for r in by_family[fam.letter]:
            assert r.id.split("/")[0] in fam.prefixes, (r.id, fam.prefixes)
            assert r.documents and set(r.documents) <= set(fam.sources), (r.id, r.source)
            assert r.claim and r.measured and r.expected
        assert catalogue.family_of(by_family[fam.letter][0].id) is fam


def test_sources_are_the_five_documents():
    assert [s.key for s in SOURCES] == ["000", "001", "002", "003", "004"]
    for s in SOURCES:
        assert s.title and s.file.startswith(s.key + "_") and s.file.endswith(".txt")
        assert s.authors or s.authors_note, s.key
        assert s.author_list() in s.reference() and s.title in s.reference()
    assert catalogue.source("000").author_list() == "Anonymous preprint under double-blind review"
    assert catalogue.source("001").authors == ("Manuel Nonnenmacher", "David Reeb", "Ingo Steinwart")
    with pytest.raises(KeyError, match="000"):
        catalogue.source("005")
    with pytest.raises(KeyError, match=r"known|ids"):
        catalogue.row("init-scale/nope")


def test_every_registered_claim_is_in_the_catalogue():
    missing = [c.id for c in registry.all_claims() if c.id not in CATALOGUE]
    assert not missing, f"registered ids that the catalogue (ntkbench/catalogue.py) does not list: {missing}"


# ----- the registry, the catalogue and the plans against each other ---------------------------------------------------
def _documents(source: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(re.findall(r"\b(00[0-4])\b", source)))


def test_every_registered_claim_has_its_catalogue_rows_family_and_source_documents():
    """A registered claim sits in the catalogue under its own family (the family's id prefixes hold the claim's) and
    cites the same source documents in the same order; the registry may name the theorem, equation or figure more
    finely than the catalogue's transcription (``Fig. 2A`` for ``Fig. 2``), never another document."""
    for c in registry.all_claims():
        row = CATALOGUE[c.id]
        family = catalogue.family_of(c.id)
        assert family is not None and family.letter == row.family and c.family in family.prefixes, \
            (c.id, c.family, row.family)
        assert _documents(c.source) == row.documents, (c.id, c.source, row.source)
        assert set(row.documents) <= set(family.sources), (c.id, row.documents, family.sources)


def test_docs_claims_md_marks_as_registered_exactly_the_registered_claims():
    """The committed docs/claims.md, read as a reader does: every row whose status is "registered" names a
    registered claim ("registered (slow)" one outside the test suite), every "planned" row a catalogue id that is
    not registered, and together they are the catalogue and the registry."""
    status = {}
    for line in (ROOT / catalogue.DOC_PATH).read_text(encoding="utf-8").splitlines():
        if m := re.match(r"\| `([^`]+)` \|.*\| ([^|]+) \|$", line):
            status[m.group(1)] = m.group(2).strip()
    claims = {c.id: c for c in registry.all_claims()}
    assert set(status) == set(CATALOGUE) | set(claims)
    for cid, text in status.items():
        if cid in claims:
            assert text == ("registered" if claims[cid].in_tests else "registered (slow)"), (cid, text)
        else:
            assert text == "planned", (cid, text)


def test_every_plan_entry_names_a_registered_claim_and_its_controls():
    """Each [[claims]] entry of reproduce/*.toml is a registered claim whose catalogue row cites the plan's document,
    and the controls it names are that claim's; every control of every registered claim runs in some entry; each
    [[pending]] entry is a catalogue row of that document that is not registered."""
    from ntkbench.harness import plans

    claims = {c.id: c for c in registry.all_claims()}
    ran: dict[str, set[str]] = {}
    for plan in plans.load_all():
        for e in plan.claims:
            assert e.id in claims, (plan.path.name, e.id)
            assert plan.document in CATALOGUE[e.id].documents, (plan.path.name, e.id, CATALOGUE[e.id].source)
            known = [k.name for k in claims[e.id].controls]
            assert e.controls is None or set(e.controls) <= set(known), (plan.path.name, e.id, e.controls)
            ran.setdefault(e.id, set()).update(known if e.controls is None else e.controls)
        for q in plan.pending:
            assert q.id in CATALOGUE and q.id not in claims, (plan.path.name, q.id)
            assert plan.document in CATALOGUE[q.id].documents, (plan.path.name, q.id)
    for c in claims.values():
        missing = {k.name for k in c.controls} - ran.get(c.id, set())
        assert not missing, f"{c.id}: controls {sorted(missing)} run in no entry of reproduce/*.toml"


def test_docs_claims_md_is_current():
    path = ROOT / catalogue.DOC_PATH
    assert path.is_file(), f"{catalogue.DOC_PATH} is missing: {STALE}"
    assert path.read_text(encoding="utf-8").rstrip("\n") == render_markdown(registry.all_claims()).rstrip("\n"), \
        f"{catalogue.DOC_PATH} {STALE}"


def test_readme_references_are_current_and_nothing_points_outside_the_clone():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "\n## References\n" in text
    assert references_markdown() in text, "README.md's References section is stale: paste " \
                                          "ntkbench.harness.catalogue.references_markdown() under '## References'"
    assert "../shared" not in text and "CLAIMS.md" not in text
    assert "(docs/claims.md)" in text and "(#references)" in text


def _fake_claim(claim_id: str, **kw):
    params = {"x": 1}
    return SimpleNamespace(
        id=claim_id, source="001 Thm 9", statement="a | b", measured="slope", in_tests=kw.get("in_tests", True),
        controls=(Control("flip", {"x": 2}, "the sign | flips", fails=("slope",)),),
        resolve=lambda profile: params,
        expect=lambda p: (Expect("slope", -0.5, 0.1, "noise", alternatives=(Alternative(0.0, "no effect"),)),
                          Expect("not-converged", 0.0, 0.0, "all nets train", mode="below", role="precondition")),
    )


def test_render_marks_registered_and_planned_rows():
    claims = [_fake_claim("optim/sgd-equals-gd", in_tests=False), _fake_claim("optim/brand-new"),
              _fake_claim("elsewhere/unknown")]
    text = render_markdown(claims)
    lines = {m.group(1): line for line in text.splitlines() if (m := re.match(r"\| `([^`]+)` \|", line))}
    assert set(CATALOGUE) | {"optim/brand-new", "elsewhere/unknown"} == set(lines)
    reg = lines["optim/sgd-equals-gd"]
    assert reg.endswith("| registered (slow) |") and "a \\| b" in reg  # the registry's statement, pipes escaped
    assert "`slope` -0.5 ±0.1" in reg and "preconditions: `not-converged` 0 ≤ +0" in reg
    assert "`flip` (must fail: `slope`): the sign \\| flips" in reg
    assert "catalogue: −1/2; spread ≪ the AdaGrad gap" in reg
    assert lines["optim/brand-new"].endswith("| registered |")
    assert lines["optim/adagrad-differs"].endswith("| planned |")
    assert "## Registered, not in the catalogue" in text
    assert text.index("`optim/brand-new`") < text.index("## C.")  # in its family's table
    assert all(line.count(" | ") == 6 for line in lines.values())  # seven cells, no stray pipes
    assert "**1 is registered**" in text  # the one catalogue id among the fake claims


def test_the_catalogue_gives_each_alternatives_power_and_a_significance_tests_sensitivity():
    z = Expect("rise", 3.0, 0.0, "r", mode="above", spread="standardized",
               alternatives=(Alternative(0.0, "monotone"),))
    record = {"quantities": {"rise": {"alternatives": [{"value": 0.0, "power": 0.9987}], "sensitivity": 0.086}}}
    assert catalogue._rules_out(z, record) == (" (rules out 0: power 100 %; detects the theory's effect in 8.6 % — "
                                               "not discriminating)")
    slope = Expect("slope", -0.5, 0.2, "r", alternatives=(Alternative(-0.25, "first order"),))
    weak = {"quantities": {"slope": {"alternatives": [{"value": -0.25, "power": 0.55}], "biased": True}}}
    assert catalogue._rules_out(slope, weak) == " (rules out -0.25: power 55.0 % — not discriminating — **biased**)"
    assert catalogue._rules_out(slope, {}) == " (rules out -0.25: not calibrated)"
    # an alternative recomputed from the parameters matches the record's to round-off, not to the last bit
    derived = Expect("slope", -0.25, 0.1, "r", alternatives=(Alternative(-0.5089846822574828, "shallow"),))
    stored = {"quantities": {"slope": {"alternatives": [{"value": -0.5089846822574824, "power": 1.0}]}}}
    assert catalogue._rules_out(derived, stored) == " (rules out -0.508985: power 100 %)"
    other = {"quantities": {"slope": {"alternatives": [{"value": -0.5089, "power": 1.0}]}}}
    assert catalogue._rules_out(derived, other) == " (rules out -0.508985: not calibrated)"
