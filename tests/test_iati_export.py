"""The IATI export (issue 14): every export is valid against the IATI 2.03 schema (the project's copy in
geodata/iati/, through lxml), and says field by field what the database holds. Through the real app on a
real SQLite file (the seed with every update applied), the real finder, the real CLI."""
import re
import shutil

import pytest
from lxml import etree

from conftest import make_app
from registry.core import geo
from registry.exchange import iati
from registry.store import db as storage

NS = {"r": iati.REGISTRY_NS}
LANG = iati.XML_LANG


@pytest.fixture
def updated_app(updated_instance, tmp_path):
    folder = tmp_path / "instance"
    shutil.copytree(updated_instance[0], folder)
    app = make_app(folder)
    from registry.search import index as search
    from registry.web.context import index_settings
    search.rebuild(index_settings(app))   # the updated instance's index is the seed's
    return app


def records(app):
    """(organisations by id, projects by id) as the database holds them."""
    db = storage.connect(app.config["DATABASE"])
    try:
        orgs, projects = storage.export_records(db, all_organisations=True)
    finally:
        db.conn.close()
    return {o["id"]: o for o in orgs}, {p["id"]: p for p in projects}


def activities(data):
    assert iati.validate_activities(data) == []
    return etree.fromstring(data).findall("iati-activity")


def project_id(activity, app):
    return activity.findtext("iati-identifier").removeprefix(app.config["IATI_PUBLISHER_PREFIX"] + "-")


def test_whole_registry_export_is_valid_and_accounts_for_every_project(updated_app):
    response = updated_app.test_client().get("/projects.iati.xml")
    assert response.status_code == 200 and response.is_streamed
    assert response.content_type == "application/xml"
    data = response.get_data()
    found = activities(data)
    root = etree.fromstring(data)
    assert root.get("version") == "2.03" and root.get("generated-datetime").endswith("Z")
    _, projects = records(updated_app)
    written = {project_id(a, updated_app) for a in found}
    left_out = {pid for pid, p in projects.items() if iati.reasons_left_out(p)}
    assert written | left_out == set(projects) and not written & left_out
    assert len(written) > 50
    comment = [c for c in root.iter(etree.Comment)][-1].text
    assert f"{len(left_out)} projects of the selection are not in this file" in comment
    for pid in left_out:   # each left out project is named, with its reason
        assert f"  {pid}: " in comment


def test_every_activity_says_what_the_database_holds(updated_app):
    orgs, projects = records(updated_app)
    data = updated_app.test_client().get("/projects.iati.xml").get_data()
    checked_roles = set()
    for a in activities(data):
        p = projects[project_id(a, updated_app)]
        assert a.find("reporting-org").get("ref") == "XM-DAC-41116"
        assert a.find("reporting-org").get("type") == "40"
        assert a.find("title/narrative").text == p["title"] and a.find("title/narrative").get(LANG) == "en"
        descriptions = {d.get(f"{{{iati.REGISTRY_NS}}}field"): (d.get("type"), d.findtext("narrative"))
                        for d in a.findall("description")}
        assert descriptions["description"] == ("1", p["description"])
        assert descriptions["summary"] == ("4", p["summary"])
        roles = [(o.get(f"{{{iati.REGISTRY_NS}}}org"), o.get(f"{{{iati.REGISTRY_NS}}}role"), o.get("role"),
                  o.get("type"), o.findtext("narrative")) for o in a.findall("participating-org")]
        expected_codes = {"funder": "1", "lead": "2", "implementer": "4", "partner": "4"}
        assert roles == [(e["org"], e["role"], expected_codes[e["role"]],
                          iati.ORG_TYPE_CODES[orgs[e["org"]]["type"]], orgs[e["org"]]["name"])
                         for e in p["organisations"]]
        checked_roles |= {r[1] for r in roles}
        status = a.find("activity-status")
        assert status.get("code") == {"proposed": "1", "planned": "1", "ongoing": "2", "completed": "4",
                                      "postponed": "6"}[p["status"]]
        dates = {d.get("type"): d.get("iso-date") for d in a.findall("activity-date")}
        assert dates == expected_dates(p)
        assert [c.get("code") for c in a.findall("recipient-country")] == [geo.get_country(c).iso2
                                                                            for c in p["countries"]]
        assert all(len(c.get("code")) == 2 for c in a.findall("recipient-country"))
        check_locations(a.findall("location"), p["locations"])
        assert a.find("sector").get("code") == p["area"] and a.find("sector").get("vocabulary") == "99"
    assert checked_roles == {"funder", "lead", "implementer", "partner"}   # every role was met


def expected_dates(p):
    dates = {}
    if p["start_year"] is not None:
        dates["2" if p["status"] in ("ongoing", "completed") else "1"] = f"{p['start_year']}-01-01"
    if p["end_year"] is not None:
        dates["4" if p["status"] == "completed" else "3"] = f"{p['end_year']}-12-31"
    return dates


def check_locations(elements, locations):
    assert len(elements) == len(locations)
    for el, loc in zip(elements, locations):
        assert el.findtext("name/narrative") == loc["name"]
        assert el.get(f"{{{iati.REGISTRY_NS}}}precision") == loc["precision"]
        assert el.find("exactness").get("code") == ("1" if loc["precision"] == "site" else "2")
        if loc.get("lat") is not None:
            point = el.find("point")
            assert point.get("srsName") == "http://www.opengis.net/def/crs/EPSG/0/4326"
            lat, lon = map(float, point.findtext("pos").split())
            assert (lat, lon) == (loc["lat"], loc["lon"])
        else:
            assert el.find("point") is None
        if loc["precision"] == "country":
            assert (el.find("location-class").get("code"), el.find("feature-designation").get("code")) == ("1", "PCL")
        if loc.get("country"):
            assert el.find("administrative").get("code") == geo.get_country(loc["country"]).iso2


def test_a_filtered_export_holds_exactly_the_selection(updated_app):
    client = updated_app.test_client()
    selection = client.get("/projects.json?country=GUY").get_json()["projects"]
    data = client.get("/projects.iati.xml?country=GUY").get_data()
    written = [project_id(a, updated_app) for a in activities(data)]
    assert written == [p["id"] for p in selection if not iati.reasons_left_out(p)]
    assert written and all(a.find("recipient-country[@code='GY']") is not None for a in activities(data))


def test_an_empty_selection_is_a_422_that_says_why(updated_app):
    response = updated_app.test_client().get("/projects.iati.xml?q=zzqxv-no-such-word")
    assert response.status_code == 422
    assert "at least one activity" in response.get_data(as_text=True)


def test_a_selection_of_projects_iati_cannot_hold_is_a_422_naming_one(updated_app):
    _, projects = records(updated_app)
    assert any(p["status"] == "unknown" for p in projects.values())   # the selection is not empty
    response = updated_app.test_client().get("/projects.iati.xml?status=unknown")
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "its status is unknown" in body and "widen the selection" in body


def test_a_bad_query_is_a_400_like_the_other_exports(updated_app):
    client = updated_app.test_client()
    for query in ("country=Atlantis", "year_from=soon", "status=dormant"):
        csv_answer = client.get(f"/projects.csv?{query}")
        answer = client.get(f"/projects.iati.xml?{query}")
        assert answer.status_code == csv_answer.status_code == 400, query
        message = re.compile(r'<p class="error-message">.*?</p>', re.S)
        assert message.search(answer.get_data(as_text=True)).group() == \
            message.search(csv_answer.get_data(as_text=True)).group()


def test_the_cli_writes_a_valid_file_and_says_what_it_wrote(updated_app, tmp_path):
    out = tmp_path / "activities.xml"
    with updated_app.app_context():   # as `flask` runs its commands
        result = updated_app.test_cli_runner().invoke(args=["export", "--format", "iati", "-o", str(out)])
    assert result.exit_code == 0, result.output
    found = activities(out.read_bytes())
    _, projects = records(updated_app)
    left_out = [pid for pid, p in projects.items() if iati.reasons_left_out(p)]
    assert f"Wrote {len(found)} IATI activities (version 2.03) to {out}." in result.stderr
    assert f"Left out {len(left_out)} projects" in result.stderr
    assert all(f"  - {pid}: " in result.stderr for pid in left_out)


def test_identifiers_are_used_when_a_record_has_them():
    org = {"id": "undp", "name": "United Nations Development Programme", "type": "igo", "identifier": "XM-DAC-41114"}
    project = {"id": "p1", "title": "T", "summary": "S", "description": None, "area": "asgm", "status": "ongoing",
               "start_year": 2021, "end_year": None, "countries": ["PER"], "iati_identifier": "XM-DAC-41114-PRJ-1",
               "organisations": [{"org": "undp", "role": "lead"}],
               "locations": [{"name": "Latin America and the Caribbean", "precision": "region", "region": "419"},
                             {"name": "Amazon basin", "precision": "region", "region": "amazon-basin"}]}
    reporting = {"ref": "XM-DAC-41116", "type": "40", "name": "UNEP"}
    data = b"".join(iati.activities_xml([org], [project], reporting, "XM-DAC-41116-GMP"))
    (a,) = activities(data)
    assert a.findtext("iati-identifier") == "XM-DAC-41114-PRJ-1"
    assert a.find("participating-org").get("ref") == "XM-DAC-41114"
    assert [d.get("type") for d in a.findall("description")] == ["1"]   # the summary is General when alone
    regions = a.findall("recipient-region")   # M49 only: a custom region has no IATI vocabulary
    assert [(r.get("code"), r.get("vocabulary")) for r in regions] == [("419", "2")]
    assert a.find("location").get(f"{{{iati.REGISTRY_NS}}}region") == "419"


@pytest.mark.parametrize("damage, where", [
    (lambda d: d.replace(b"<iati-identifier>", b"<iati-identifer>", 1).replace(b"</iati-identifier>", b"</iati-identifer>", 1), "line 3"),
    (lambda d: d.replace(b'iso-date="2021-01-01"', b'iso-date="2021-13-01"'), "line 3"),
    (lambda d: d.replace(b' version="2.03"', b""), "line 2"),
])
def test_the_validator_names_the_line_of_each_problem(damage, where):
    org = {"id": "o", "name": "O", "type": "ngo"}
    project = {"id": "p", "title": "T", "summary": "S", "area": "asgm", "status": "ongoing", "start_year": 2021,
               "end_year": None, "countries": [], "organisations": [{"org": "o", "role": "lead"}], "locations": []}
    data = b"".join(iati.activities_xml([org], [project], {"ref": "X", "type": "40", "name": "X"}, "X"))
    assert iati.validate_activities(data) == []
    problems = iati.validate_activities(damage(data))
    assert problems and problems[0].where == where and problems[0].message


def test_the_validator_refuses_what_is_not_an_activity_file():
    assert iati.validate_activities(b"<iati-activities")[0].message.startswith("not well-formed XML")
    assert "not 'iati-activities'" in iati.validate_activities(b"<iati-organisations/>")[0].message
    empty = iati.validate_activities(b'<iati-activities version="2.03"/>')
    assert empty and "iati-activity" in empty[0].message
