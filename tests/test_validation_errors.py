"""Structured validation errors: every Problem carries where (the record), field (a path) and a message
that reads on its own; forms place them on their fields from the path alone; the JSON API lists them
with their paths; the CLI and the web import say "row N, column C". The real app on an empty instance
(a real SQLite file), the real validation, the real form pages parsed as HTML."""
import io
import json
import re
from html.parser import HTMLParser

import pytest
from werkzeug.datastructures import MultiDict

from conftest import csrf_token, logged_in, make_app, post_form, read_form, set_field
from registry.core.validate import Problem, ValidationError, check_references, clean_organisation, clean_project
from registry.editing import forms
from registry.exchange import ingest
from registry.store import db as storage
from registry.web.context import get_db

GOOD = {"id": "good-one", "title": "A good project", "area": "asgm", "countries": ["KEN"],
        "locations": [{"name": "Kenya", "precision": "country"}]}


def problems_of(**changes):
    _, problems = clean_project(dict(GOOD, **changes), where="row 7")
    return problems


def only(problems):
    assert len(problems) == 1, problems
    return problems[0]


# --- each kind of problem carries its record and its field path ---------------------------------------

@pytest.mark.parametrize("changes, field, text", [
    ({"title": "  "}, "title", "is required"),
    ({"area": "mining"}, "area", "'mining' is not allowed; use one of: asgm,"),
    ({"area": None}, "area", "is required: choose one of: asgm,"),
    ({"start_year": "20x5"}, "start_year", "'20x5' is not a year between 1900 and 2100"),
    ({"website": "javascript:alert(1)"}, "website", "only http:// and https:// web addresses are allowed"),
    ({"countries": ["KEN", "ke"]}, "countries[2]", "'KE' is not an ISO 3166-1 alpha-3 code"),
    ({"other_areas": ["coal", "mining"]}, "other_areas[2]", "'mining' is not allowed"),
    ({"keywords": ["fine", "x" * 101]}, "keywords[2]", "is 101 characters long; the maximum is 100"),
    ({"locations": [{"name": "Kenya", "precision": "country"},
                    {"name": "Mine", "precision": "site", "lat": "12,5", "lon": "30"}]},
     "locations[2].lat", "'12,5' is not a decimal number"),
    ({"locations": [{"name": "Mine", "precision": "site", "lat": "1", "lon": "181"}]},
     "locations[1].lon", "181 is out of range; it must be between -180 and 180"),
    ({"locations": [{"name": "Mine", "precision": "everywhere"}]}, "locations[1].precision", "'everywhere' is not allowed"),
    ({"locations": []}, "locations", "at least one location is needed"),
    ({"organisations": [{"org": "unep", "role": "boss"}]}, "organisations[1].role", "'boss' is not allowed"),
    ({"sources": [{"section": "2.1"}]}, "sources[1].quote", "is required"),
    ({"start_year": 2020, "end_year": 2019}, "end_year", "2019 is before the start year 2020"),
])
def test_a_record_problem_names_the_record_and_the_field_path(changes, field, text):
    problem = only(problems_of(**changes))
    assert (problem.where, problem.field) == ("row 7", field)
    assert problem.message.startswith(text), problem.message
    assert "row 7" not in problem.message and not problem.message.startswith(field)   # reads on its own


def test_an_organisation_problem_has_its_path_too():
    _, problems = clean_organisation({"id": "acme", "name": "ACME", "leads_areas": ["coal", "gold"],
                                      "website": "ftp://acme"}, where="organisations[3]")
    assert [(p.where, p.field) for p in problems] == [("organisations[3]", "website"),
                                                      ("organisations[3]", "leads_areas[2]")]


def test_references_are_problems_with_paths():
    project, _ = clean_project(dict(GOOD, parent="nowhere", countries=["KEN", "XKX"], organisations=[
        {"org": "unep", "role": "lead"}, {"org": "ghost", "role": "funder"}],
        locations=[{"name": "Kenya", "precision": "country"},
                   {"name": "Here", "precision": "site", "lat": 1, "lon": 2, "country": "QQQ"}]))
    org, _ = clean_organisation({"id": "acme", "name": "ACME", "country": "ZZZ"})
    problems = check_references([project, project], [org, org], known_orgs={"unep"},
                                countries={"KEN"}, project_where=["row 2: ", "row 3: "])
    found = {(p.where, p.field) for p in problems}
    assert {("row 2", "parent"), ("row 2", "countries[2]"), ("row 2", "locations[2].country"),
            ("row 3", "id"), ("organisation acme", "id"), ("organisation acme", "country")} <= found
    # canonical order puts funders before leads: the record's first organisation is the unknown one
    assert ("row 2", "organisations[1].org") in found and ("row 2", "organisations[2].org") not in found
    messages = {(p.where, p.field): p.message for p in problems}
    assert messages[("row 2", "countries[2]")].startswith("'XKX' is not a known ISO 3166-1 alpha-3 country code")
    assert messages[("row 2", "organisations[1].org")].startswith("organisation 'ghost' does not exist")
    assert "add it to the organisations first" in messages[("row 2", "organisations[1].org")]
    assert messages[("row 3", "id")].startswith("duplicate id: 'good-one'")
    assert all(not p.message.startswith(("project ", "row ")) for p in problems)


def test_records_left_incomplete_by_errors_are_checked_without_crashing():
    broken, problems = clean_project({"id": "Bad Id", "title": "", "organisations": [{"org": "", "role": "x"}],
                                      "countries": ["kenya"]})
    assert problems
    more = check_references([broken, None], [None], countries={"KEN"})
    assert more == []


def test_describe_says_row_and_column_for_csv_rows_and_field_otherwise():
    assert Problem("row 12", "countries[1]", "'XKX' is not known").describe() == \
        "row 12, column countries: 'XKX' is not known"
    assert Problem("row 12", "locations[3].lat", "is required").describe() == \
        "row 12, column locations (entry 3, lat): is required"
    assert Problem("row 4", "sources[1].quote", "is required").describe() == "row 4, column sources (entry 1, quote): is required"
    assert Problem("row 4", "organisations[2].org", "m").describe() == \
        "row 4, column funders/leads/implementers/partners: m"
    assert Problem("projects[2]", "locations[1].lat", "m").describe() == "projects[2], field locations[1].lat: m"
    assert Problem("", "title", "is required").describe() == "title: is required"
    assert Problem("", "", "the file is empty").describe() == "the file is empty"
    assert str(Problem("row 3", "title", "is required")) == "row 3: title: is required"      # the old text


# --- forms: problems placed from their paths -------------------------------------------------------------

def test_paths_are_placed_on_the_form_rows_they_came_from():
    rows = {"locations": [2, 5], "organisations": [1], "sources": []}
    problems = [Problem("", "locations[2].lat", "bad lat"), Problem("", "locations", "at least one"),
                Problem("", "countries[3]", "bad country"), Problem("", "locations[7].name", "no such row"),
                Problem("", "parent", "no parent"), Problem("", "", "about everything")]
    placed = forms.place_errors(problems, rows, fields=("countries", "loc", "org", "src"))
    assert placed == {"loc-5-lat": ["bad lat"], "loc-2-name": ["at least one"], "countries": ["bad country"],
                      "_form": ["Locations (entry 7, name): no such row", "Part of: no parent", "about everything"]}


def test_a_reference_problem_finds_its_organisation_row_in_canonical_order():
    form = MultiDict({"title": "T", "area": "asgm", "org-1-org": "zeta", "org-1-role": "lead",
                      "org-2-org": "ghost", "org-2-role": "funder", "org-3-org": "zeta", "org-3-role": "lead"})
    raw, rows, errors = forms.project_from_form(form, lambda texts: {t: t for t in texts})
    raw["id"] = "t"
    project, _ = clean_project(raw)
    problems = check_references([project], [], known_orgs={"zeta"})
    assert [p.field for p in problems] == ["organisations[1].org"]
    assert forms.place_errors(problems, rows) == {"org-2-org": [problems[0].message]}


class Page(HTMLParser):
    """Every element id; the elements marked invalid (name, id, aria-describedby); the error summary's
    links (href, text); the text of each element with an id."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.ids, self.invalid, self.links, self.texts = set(), [], [], {}
        self._open, self._link = [], None      # open divs: (id, is the summary)
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
            self.texts[a["id"]] = ""
        if a.get("aria-invalid") == "true":
            self.invalid.append((a.get("name"), a.get("id"), a.get("aria-describedby")))
        if tag == "div":
            self._open.append((a.get("id"), "form-errors" in (a.get("class") or "").split()))
        if tag == "a" and any(summary for _, summary in self._open):
            self._link = [a.get("href"), ""]
            self.links.append(self._link)

    def handle_endtag(self, tag):
        if tag == "div" and self._open:
            self._open.pop()
        if tag == "a":
            self._link = None

    def handle_data(self, data):
        if self._link is not None:
            self._link[1] += data
        for open_id, _ in self._open:
            if open_id:
                self.texts[open_id] += data


def check_marked_and_linked(html, expected):
    """Exactly the `expected` fields ({name: text of their message}) are marked invalid, each described
    by an element holding its message; every summary link points at an element of the page, with a label
    in words."""
    page = Page(html)
    assert {name for name, _, _ in page.invalid} == set(expected), page.invalid
    for name, element_id, described_by in page.invalid:
        described = (described_by or "").split()      # the hint's id too, where the field has one
        assert any(d in page.ids and expected[name] in page.texts[d] for d in described), (name, described_by)
    assert page.links, "no error summary"
    for href, text in page.links:
        assert href.startswith("#") and href[1:] in page.ids, href
        assert text.strip() and not re.fullmatch(r"[a-z0-9_.\[\]-]+", text.strip()), text   # words, no internal name
    linked = {href[3:] for href, _ in page.links}
    assert linked == set(expected)
    return page


@pytest.fixture
def app(tmp_path):
    """The real app on an empty instance (no seed: these tests need none), its tables created."""
    app = make_app(tmp_path, UPLOAD_DIR=str(tmp_path / "uploads"), CHECK_INDEX_ON_START=False)
    storage.migrate(storage.connect(app.config["DATABASE"]))
    return app


@pytest.fixture
def editor(app):
    return logged_in(app, "vera", "editor")


def count_projects(app):
    db = storage.connect(app.config["DATABASE"])
    try:
        return db.execute("SELECT count(*) FROM projects").fetchone()[0]
    finally:
        db.conn.close()


def test_a_project_form_marks_exactly_the_invalid_fields_and_the_summary_links_to_them(app, editor):
    fields = read_form(editor.get("/editor/projects/new").get_data(as_text=True))
    for name, value in {"id": "mine-x", "title": "", "area": "asgm", "start_year": "20x5",
                        "loc-2-name": "Mine", "loc-2-precision": "site", "loc-2-lat": "95", "loc-2-lon": "30",
                        "src-1-quote": "x\x00y"}.items():
        set_field(fields, name, value)
    fields.append(["other_areas", "mining"])          # a value no checkbox offers (a tampered form)
    response = post_form(editor, "/editor/projects/new", fields)
    assert response.status_code == 400
    page = check_marked_and_linked(response.get_data(as_text=True), {
        "title": "is required", "start_year": "is not a year",
        "loc-2-lat": "between -90 and 90", "src-1-quote": "control characters", "other_areas": "'mining'"})
    labels = {href[3:]: text for href, text in page.links}
    assert labels["loc-2-lat"] == "Location 2 latitude" and labels["src-1-quote"] == "Source 1 quote"
    assert labels["title"] == "Title"
    assert count_projects(app) == 0


def test_a_reference_problem_marks_its_field(app, editor):
    fields = read_form(editor.get("/editor/projects/new").get_data(as_text=True))
    for name, value in {"title": "Orphan", "area": "coal", "parent": "no-such-project", "loc-1-name": "Global",
                        "loc-1-precision": "global"}.items():
        set_field(fields, name, value)
    response = post_form(editor, "/editor/projects/new", fields)
    assert response.status_code == 400
    check_marked_and_linked(response.get_data(as_text=True), {"parent": "parent 'no-such-project' does not exist"})
    assert count_projects(app) == 0


def test_a_missing_location_is_shown_at_the_first_location_row(app, editor):
    fields = read_form(editor.get("/editor/projects/new").get_data(as_text=True))
    set_field(fields, "title", "No place")
    set_field(fields, "area", "coal")
    response = post_form(editor, "/editor/projects/new", fields)
    assert response.status_code == 400
    check_marked_and_linked(response.get_data(as_text=True), {"loc-1-name": "at least one location is needed"})


def test_the_organisation_form_marks_its_fields(app, editor):
    fields = read_form(editor.get("/editor/organisations/new").get_data(as_text=True))
    set_field(fields, "name", "Acme")
    set_field(fields, "website", "ftp://acme.example")
    set_field(fields, "country", "Atlantis")
    fields.append(["leads_areas", "gold"])
    response = post_form(editor, "/editor/organisations/new", fields)
    assert response.status_code == 400
    check_marked_and_linked(response.get_data(as_text=True), {
        "website": "only http:// and https://", "country": "'Atlantis' is not a country",
        "leads_areas": "'gold' is not allowed"})


def test_the_public_proposal_form_marks_its_fields_with_its_own_labels(app):
    client = app.test_client()
    data = {"csrf_token": csrf_token(client, "/propose"), "title": "", "area": "asgm", "kind": "project",
            "status": "ongoing", "loc-1-name": "A mine", "loc-1-precision": "site", "loc-1-lat": "999",
            "loc-1-lon": "10", "website": "javascript:alert(1)", "evidence": "seen \x00 there"}
    response = client.post("/propose", data=data)
    assert response.status_code == 400
    page = check_marked_and_linked(response.get_data(as_text=True), {
        "title": "is required", "loc-1-lat": "between -90 and 90", "website": "only http:// and https://",
        "evidence": "control characters"})
    labels = {href[3:]: text for href, text in page.links}
    assert labels["loc-1-lat"] == "Latitude" and labels["evidence"] == "Where does this information come from?"


# --- the JSON error shape, the web import and the CLI ---------------------------------------------------

def validate_upload():
    """A test route through the real importer's validation (the API has no write endpoint yet)."""
    from flask import request
    ingest.import_data(get_db(), request.get_data(), request.args["format"], dry_run=True)
    return {"ok": True}


@pytest.fixture
def api_app(tmp_path):
    """The app with a test route that posts without a form (so without a CSRF token)."""
    app = make_app(tmp_path, CHECK_INDEX_ON_START=False, WTF_CSRF_ENABLED=False)
    app.add_url_rule("/api/test-validate", "test_validate", validate_upload, methods=["POST"])
    app.add_url_rule("/test-validate", "test_validate_page", validate_upload, methods=["POST"])
    return app


def test_the_api_answers_invalid_data_with_every_problem_and_its_path(api_app):
    doc = {"projects": [dict(GOOD, id="p1", title=""),
                        dict(GOOD, id="p2", locations=[{"name": "X", "precision": "site", "lat": "95", "lon": "1"}])]}
    response = api_app.test_client().post("/api/test-validate?format=json", data=json.dumps(doc))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_data" and "nothing was stored" in error["message"]
    assert [(d["where"], d["field"]) for d in error["details"]] == [("projects[1]", "title"),
                                                                    ("projects[2]", "locations[1].lat")]
    assert error["details"][1]["message"].startswith("95 is out of range")


def test_the_api_says_how_many_problems_it_does_not_list(api_app):
    from registry.web.errors import MAX_DETAILS
    doc = [dict(GOOD, id=f"p{i}", title="") for i in range(MAX_DETAILS + 3)]
    error = api_app.test_client().post("/api/test-validate?format=json", data=json.dumps(doc)).get_json()["error"]
    assert len(error["details"]) == MAX_DETAILS and error["details"][-1]["where"] == f"projects[{MAX_DETAILS}]"
    assert f"{MAX_DETAILS + 3} problems" in error["message"] and "(3 more)" in error["message"]


def test_the_html_error_page_lists_problems_with_where_they_are(api_app):
    doc = [dict(GOOD, id="p1", area="mining")]
    response = api_app.test_client().post("/test-validate?format=json", data=json.dumps(doc))
    assert response.status_code == 400
    assert "projects[1], field area: &#39;mining&#39; is not allowed" in response.get_data(as_text=True)


CSV_HEADER = "id,title,area,countries,locations\n"


def run_import(app, tmp_path, text, name="bad.csv"):
    path = tmp_path / name
    path.write_text(text, "utf-8")
    with app.app_context():
        return app.test_cli_runner().invoke(args=["import", str(path)])


def test_the_cli_prints_row_and_column(app, tmp_path):
    result = run_import(app, tmp_path, CSV_HEADER + "ok-1,Fine,asgm,KEN,Kenya|||country\n"
                                                    "bad-2,,asgm,KEN,Here|95|1|site\n")
    assert result.exit_code == 1
    assert "row 3, column title: is required" in result.output
    assert "row 3, column locations (entry 1, lat): 95 is out of range" in result.output
    assert count_projects(app) == 0


def test_the_cli_names_the_row_of_a_reference_problem(app, tmp_path):
    """Needs the importer to pass each record's label to check_references (project_where, org_where)."""
    result = run_import(app, tmp_path, CSV_HEADER + "ok-1,Fine,asgm,KEN,Kenya|||country\n"
                                                    "ok-2,Fine too,asgm,KEN;XKX,Kenya|||country\n")
    assert result.exit_code == 1
    assert ("row 3, column countries: 'XKX' is not a known ISO 3166-1 alpha-3 country code"
            in result.output), result.output
    assert count_projects(app) == 0


def test_the_cli_lists_every_problem(app, tmp_path):
    rows = "".join(f"bad-{i},,asgm,KEN,Kenya|||country\n" for i in range(250))
    result = run_import(app, tmp_path, CSV_HEADER + rows)
    assert result.exit_code == 1
    assert result.output.count("column title: is required") == 250
    assert "250 problems in all." in result.output and "more" not in result.output


def upload(editor, data, name="bad.csv"):
    return editor.post("/editor/import", data={"csrf_token": csrf_token(editor, "/editor/import"),
                                               "file": (io.BytesIO(data), name)})


def test_the_web_import_preview_lists_row_and_column(app, editor):
    data = (CSV_HEADER + "bad-2,,asgm,KEN,Here|95|1|site\n").encode()
    response = upload(editor, data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "nothing was stored" in page
    assert "row 2, column title: is required" in page
    assert "row 2, column locations (entry 1, lat): 95 is out of range" in page


def test_the_web_import_preview_says_how_many_problems_it_does_not_list(app, editor):
    rows = "".join(f"bad-{i},,asgm,KEN,Kenya|||country\n" for i in range(503))
    page = upload(editor, (CSV_HEADER + rows).encode()).get_data(as_text=True)
    assert page.count("column title: is required") == 500
    assert "Fix these 503 problems" in page and "3 more are not" in page


def test_a_validation_error_keeps_its_problems_and_their_text():
    exc = ValidationError([Problem("row 2", "title", "is required"), "the file is empty"])
    assert exc.errors == ["row 2: title: is required", "the file is empty"]
    assert exc.problems[1] == Problem("", "", "the file is empty")
