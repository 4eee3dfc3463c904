"""Pure validation shared by the seed loader, the importer and the forms."""
import pytest

from registry.core.validate import check_references, clean_organisation, clean_project

GOOD = {"id": "demo-project", "title": "Demo", "area": "asgm", "status": "ongoing", "countries": ["KEN"],
        "locations": [{"name": "Migori", "precision": "subnational", "lat": "-1.06", "lon": 34.47}],
        "organisations": [{"org": "gef", "role": "funder"}], "sources": [{"quote": "x"}]}


def with_(**changes):
    return {**GOOD, **changes}


def loc(**changes):
    return with_(locations=[{**GOOD["locations"][0], **changes}])


def test_good_project_is_normalised():
    p, errors = clean_project(GOOD)
    assert errors == []
    assert p["locations"][0]["lat"] == -1.06 and p["kind"] == "project"


@pytest.mark.parametrize("raw, field", [
    (with_(id="Bad Id"), "id"),
    (with_(title=""), "title"),
    (with_(title="x" * 201), "title"),
    (with_(title="a\x00b"), "title"),
    (with_(area="mining"), "area"),
    (with_(status="dead"), "status"),
    (with_(kind="party"), "kind"),
    (with_(start_year="yesterday"), "start_year"),
    (with_(start_year="0000"), "start_year"),
    (with_(start_year=2020, end_year=2019), "end_year"),
    (with_(countries=["Kenya"]), "countries"),
    (with_(website="javascript:alert(1)"), "website"),
    (with_(website="data:text/html,x"), "website"),
    (with_(website="\tjavascript:alert(1)"), "website"),
    (with_(locations=[]), "locations"),
    (loc(lat="nan"), "lat"), (loc(lat="inf"), "lat"), (loc(lat="1e309"), "lat"), (loc(lat="91"), "lat"),
    (loc(lon="-180.0001"), "lon"), (loc(lat="１２.５"), "lat"), (loc(lat="١٢"), "lat"), (loc(lat="12_000"), "lat"),
    (loc(lat="0x10"), "lat"), (loc(lat=float("nan")), "lat"), (loc(precision="street"), "precision"),
    (with_(organisations=[{"org": "gef", "role": "owner"}]), "role"),
])
def test_bad_fields_are_named(raw, field):
    _, errors = clean_project(raw, where="row 7")
    assert errors and all(e.where == "row 7" for e in errors)
    assert any(field in e.field for e in errors), errors


def test_html_is_stored_verbatim_and_invisible_characters_are_stripped():
    p, errors = clean_project(with_(title="<img src=x onerror=alert(1)> ${x}\u202e\u200b"))
    assert errors == [] and p["title"] == "<img src=x onerror=alert(1)> ${x}"


def test_country_location_needs_no_point():
    p, errors = clean_project(with_(locations=[{"name": "Kenya", "precision": "country"}]))
    assert errors == [] and p["locations"][0]["lat"] is None


def test_organisation_rules():
    o, errors = clean_organisation({"id": "acme", "name": "ACME", "type": "Industry", "country": "usa"})
    assert errors == [] and o["type"] == "industry" and o["country"] == "USA"
    _, errors = clean_organisation({"id": "acme", "name": "ACME", "type": "cult"})
    assert errors[0].field == "type"


def test_references_are_checked():
    p, _ = clean_project(with_(parent="nowhere", organisations=[{"org": "ghost", "role": "funder"}]))
    errors = check_references([p, p], [], known_orgs={"gef"}, countries={"KEN"})
    joined = " ".join(map(str, errors))
    assert "duplicate id" in joined and "'ghost' does not exist" in joined and "parent 'nowhere'" in joined
