"""Seed fidelity (issue 18): every value is what a source states, or says that it is inferred.

The seed (geodata/seed/, or the folder named by the environment variable SEED_UNDER_TEST: see conftest.py)
is read with the real reader and validated with the real clean_project / clean_organisation. Every status
(unless unknown), start year, end year, role and location records its basis; every stated one points at a
source of its record whose quote supports it; every inferred one has a one-line reason; every location
name, organisation name and alias occurs in a quote or the report, or is marked inferred.

Then the code that carries the basis: validation (each rule, with a message that says how to fix it),
storage and the change report, the project and organisation pages, the API and the editor's forms, through
a real SQLite file, the real importer and the real app. The CSV, JSON and GeoJSON round trips of evidence
are in tests/test_roundtrip.py.
"""
import json
import re
import unicodedata

import pytest

from conftest import REPORT, ROOT, SEED_DIR, country_names, field, logged_in, make_app, post_form, read_form, set_field
from registry.core.records import diff
from registry.core.validate import clean_organisation, clean_project
from registry.exchange import ingest, readers
from registry.store import editing as editing_db

# footnote markers glued to a word ("Association²⁹"): not part of it
FOOTNOTES = re.compile("[\u2070\u00b9\u00b2\u00b3\u2074-\u2079]+")
# words a name may have that say nothing about which organisation it is
STOP_WORDS = set("of the and for on in to at by with a an de del la le les des du et y e da do das dos".split())


# --- what "a quote says so" means ------------------------------------------------------------------

def fold(text):
    """Lower-case words without accents, punctuation or footnote markers, padded with spaces."""
    text = unicodedata.normalize("NFKD", FOOTNOTES.sub(" ", text))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return " " + re.sub(r"[^0-9a-z]+", " ", text).strip() + " "


def starts_a_word(part, text):
    """`part` starts a word of `text` ("Amazon" is named by "Amazonian"): the rule of tests/test_provenance.py."""
    return re.search(r"(?<![a-z0-9])" + re.escape(fold(part).strip()), fold(text)) is not None


def has_word(word, text):
    """A (folded) word occurs in `text` as a word, or in its plural ("Secretariat" in "Secretariats")."""
    return re.search(r"(?<![a-z0-9])" + re.escape(word) + r"(?:s|es)?(?![a-z0-9])", fold(text)) is not None


def significant_words(name):
    return [w for w in fold(name).split() if w not in STOP_WORDS]


def names_all_words(name, text):
    """Every significant word of `name` occurs in `text`, in any order: "Secretariats to the Stockholm and
    Minamata Conventions" names the "Secretariat of the Minamata Convention"."""
    words = significant_words(name)
    return bool(words) and all(has_word(w, text) for w in words)


def names_organisation(org, quote):
    """The quote names the organisation: by every significant word of its name or of an alias, or by its
    acronym as written (case matters: "WHO" is not "who")."""
    acronym = org.get("acronym")
    return (names_all_words(org["name"], quote) or any(names_all_words(a, quote) for a in org["aliases"])
            or bool(acronym and re.search(r"(?<![A-Za-z0-9])" + re.escape(acronym) + r"(?![A-Za-z0-9])", quote)))


def names_place(loc, quote):
    """The quote names the place: a country by any of its names; another place by every comma-separated
    part of its name, except a last part that only adds the country ("Keneiba, Mali")."""
    if loc["precision"] == "country":
        return any(starts_a_word(n, quote) for n in country_names(loc["name"]) if len(n) > 2 or n.isupper())
    parts = [part for part in loc["name"].split(",") if part.strip()]
    return bool(parts) and all(starts_a_word(part, quote) or (i and i == len(parts) - 1 and country_names(part.strip()))
                               for i, part in enumerate(parts))


def names_year(year, quote):
    return str(year) in quote


def test_the_rules_are_not_vacuous():
    secretariat = {"name": "Secretariat of the Minamata Convention", "aliases": [], "acronym": None}
    joint = "the Secretariats to the Stockholm and Minamata Conventions"
    assert names_organisation(secretariat, joint)
    assert not names_organisation(dict(secretariat, name="Secretariat of the Basel Convention"), joint)
    assert names_organisation({"name": "Global Cement and Concrete Association", "aliases": [], "acronym": None},
                              "developed by the Global Cement and Concrete Association²⁹.")
    who = {"name": "World Health Organization", "aliases": [], "acronym": "WHO"}
    assert names_organisation(who, "WHO guidance") and not names_organisation(who, "those who mine")
    assert names_organisation({"name": "Ministry of Mines", "aliases": ["Mines Ministry"], "acronym": None},
                              "the Mines Ministry trained miners")
    assert names_place({"name": "Keneiba, Mali", "precision": "site"}, "miners in Keneiba")
    assert not names_place({"name": "Keneiba, Kayes", "precision": "subnational"}, "miners in Keneiba")
    assert names_place({"name": "Côte d'Ivoire", "precision": "country"}, "in Cote d’Ivoire,")
    assert not names_place({"name": "Ghana", "precision": "country"}, "in Guyana")
    assert names_year(2021, "launched in 2021") and not names_year(2024, "a three-year project begun in 2021")


# --- the seed ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def seed():
    """(organisations by id, projects) of the seed, validated by the real validation."""
    batch = readers.read_yaml_dir(SEED_DIR)
    raw_orgs, raw_projects = batch.organisations, batch.projects
    orgs, projects, problems = {}, [], []
    for where, raw in raw_orgs:
        o, errors = clean_organisation(raw, where)
        orgs[o["id"]], problems = o, problems + errors
    for where, raw in raw_projects:
        p, errors = clean_project(raw, where)
        projects.append(p)
        problems += errors
    assert [str(p) for p in problems] == []
    return orgs, projects


def quote(p, number):
    return p["sources"][number - 1]["quote"]


def values_of(projects):
    """Every value whose basis the seed records, as (project, kind, value, its support {basis, source, reason})."""
    for p in projects:
        for name in ("status", "start_year", "end_year"):
            if p[name] not in (None, "unknown"):
                yield p, name, p[name], p["evidence"].get(name)
        for role in p["organisations"]:
            yield p, "role", role, role
        for loc in p["locations"]:
            yield p, "location", loc, loc


def test_the_seed_has_stated_and_inferred_values_of_every_kind(seed):
    """Guards the tests below against passing on a seed without evidence, or with only one basis."""
    _, projects = seed
    counts = {}
    for _, kind, _, support in values_of(projects):
        basis = (support or {}).get("basis")
        counts[kind, basis] = counts.get((kind, basis), 0) + 1
    assert len(projects) >= 250
    for kind in ("status", "start_year", "end_year", "role", "location"):
        assert counts.get((kind, "stated"), 0) >= 10 and counts.get((kind, "inferred"), 0) >= 3, (kind, counts)


def test_every_status_year_role_and_location_records_its_basis(seed):
    """A location's basis defaults to stated, so a stated place must also say which source names it."""
    _, projects = seed
    missing = [(p["id"], kind, value if kind in ("status", "start_year", "end_year") else
                value.get("org") or value.get("name"))
               for p, kind, value, support in values_of(projects)
               if not support or support.get("basis") is None
               or (support["basis"] == "stated" and support.get("source") is None)]
    assert missing == []


def test_every_stated_value_points_at_a_source_of_its_record(seed):
    _, projects = seed
    stated = [(p, support["source"]) for p, _, _, support in values_of(projects)
              if (support or {}).get("basis") == "stated"]
    assert len(stated) > 500
    assert [p["id"] for p, number in stated if not 1 <= number <= len(p["sources"])] == []


def test_every_stated_year_is_in_its_quote(seed):
    _, projects = seed
    years = [(p, kind, year, support["source"]) for p, kind, year, support in values_of(projects)
             if kind in ("start_year", "end_year") and (support or {}).get("basis") == "stated"]
    assert len(years) > 50
    assert [(p["id"], kind, year) for p, kind, year, number in years if not names_year(year, quote(p, number))] == []


def test_every_stated_role_is_named_by_its_quote(seed):
    orgs, projects = seed
    roles = [(p, role) for p, kind, role, _ in values_of(projects) if kind == "role" and role["basis"] == "stated"]
    assert len(roles) > 200
    assert [(p["id"], role["org"], role["role"]) for p, role in roles
            if not names_organisation(orgs[role["org"]], quote(p, role["source"]))] == []


def test_every_stated_location_is_named_by_its_quote(seed):
    _, projects = seed
    places = [(p, loc) for p, kind, loc, _ in values_of(projects)
              if kind == "location" and loc["basis"] == "stated" and loc["source"] is not None]
    assert len(places) > 200
    assert [(p["id"], loc["name"]) for p, loc in places if not names_place(loc, quote(p, loc["source"]))] == []


def test_every_inferred_value_has_a_one_line_reason(seed):
    orgs, projects = seed
    inferred = [(p["id"], kind, support.get("reason")) for p, kind, _, support in values_of(projects)
                if (support or {}).get("basis") == "inferred"]
    inferred += [(o["id"], name, entry.get("reason")) for o in orgs.values() for name, entry in o["evidence"].items()]
    assert len(inferred) > 100
    assert [(record, kind) for record, kind, reason in inferred
            if not (reason or "").strip() or "\n" in reason or len(reason) > 300] == []


def test_every_location_name_is_in_a_quote_of_its_record_or_the_report_or_is_inferred(seed):
    _, projects = seed
    report = REPORT.read_text("utf-8")
    bad = [(p["id"], loc["name"]) for p in projects for loc in p["locations"]
           if loc["basis"] != "inferred" and not names_place(loc, " ".join(s["quote"] for s in p["sources"]))
           and not all(starts_a_word(part, report) for part in loc["name"].split(","))]
    assert bad == []


def test_every_organisation_name_and_alias_is_in_the_report_or_is_inferred(seed):
    """Quotes are exact substrings of the report (tests/test_seed.py), so the report covers them."""
    orgs, _ = seed
    report = REPORT.read_text("utf-8")
    names = [(o["id"], "name", o["name"]) for o in orgs.values() if "name" not in o["evidence"]]
    names += [(o["id"], "alias", a) for o in orgs.values() if "aliases" not in o["evidence"] for a in o["aliases"]]
    assert len(names) > 150
    assert [(oid, what, name) for oid, what, name in names if not starts_a_word(name, report)] == []
    assert any("name" in o["evidence"] for o in orgs.values()), "no organisation name is marked inferred"


# --- validation: each rule, with a message that says how to fix it ---------------------------------

BASE = {"id": "p", "title": "T", "area": "asgm", "status": "ongoing", "start_year": 2020, "end_year": 2022,
        "locations": [{"name": "Kenya", "precision": "country"}], "organisations": [],
        "sources": [{"quote": "first"}, {"quote": "second"}]}
STATED = {"basis": "stated", "source": 1}
INFERRED = {"basis": "inferred", "reason": "programme launch year"}


def problems(**changes):
    _, errors = clean_project({**BASE, **changes})
    return [(e.field, e.message) for e in errors]


def role(**support):
    return [{"org": "agc", "role": "implementer", **support}]


def location(**support):
    return [{"name": "Kenya", "precision": "country", **support}]


@pytest.mark.parametrize("changes, path, words", [
    ({"evidence": ["status"]}, "evidence", "must be a mapping from status, start_year, end_year"),
    ({"evidence": {"title": INFERRED}}, "evidence.title", "evidence records the basis of: status, start_year, end_year"),
    ({"start_year": None, "evidence": {"start_year": INFERRED}}, "evidence.start_year",
     "has no value, so there is nothing to support: remove this entry"),
    ({"status": "unknown", "evidence": {"status": STATED}}, "evidence.status", "status is unknown"),
    ({"evidence": {"status": "stated"}}, "evidence.status", "must be {basis: stated, source: N}"),
    ({"evidence": {"status": dict(STATED, quote="x")}}, "evidence.status", "the keys of an evidence entry are"),
    ({"evidence": {"status": {"source": 1}}}, "evidence.status.basis", "is required: 'stated'"),
    ({"evidence": {"status": {"basis": "guessed", "reason": "r"}}}, "evidence.status.basis", "stated, inferred"),
    ({"evidence": {"status": {"basis": "stated"}}}, "evidence.status.source",
     "is required when basis is 'stated': give the number of the source"),
    ({"evidence": {"end_year": dict(STATED, source=3)}}, "evidence.end_year.source",
     "there is no source 3: this record has 2 sources; give the number (1 to 2)"),
    ({"evidence": {"end_year": dict(STATED, source=0)}}, "evidence.end_year.source", "there is no source 0"),
    ({"evidence": {"end_year": dict(STATED, source="first")}}, "evidence.end_year.source", "is not a source number"),
    ({"evidence": {"status": dict(STATED, reason="r")}}, "evidence.status.reason", "is only for inferred values"),
    ({"evidence": {"status": {"basis": "inferred"}}}, "evidence.status.reason",
     "is required when basis is 'inferred': say in one line why"),
    ({"evidence": {"status": dict(INFERRED, reason="one\ntwo")}}, "evidence.status.reason", "must be one line"),
    ({"evidence": {"status": dict(INFERRED, source=1)}}, "evidence.status.source", "is only for stated values"),
    ({"organisations": role(basis="stated")}, "organisations[1].source", "is required when basis is 'stated'"),
    ({"organisations": role(basis="stated", source=5)}, "organisations[1].source", "there is no source 5"),
    ({"organisations": role(basis="stated", source=1, reason="r")}, "organisations[1].reason",
     "is only for inferred roles"),
    ({"organisations": role(basis="inferred")}, "organisations[1].reason", "is required when basis is 'inferred'"),
    ({"organisations": role(basis="inferred", reason="r", source=1)}, "organisations[1].source",
     "is only for stated roles"),
    ({"organisations": role(source=1)}, "organisations[1].basis", "is required with a source or a reason"),
    ({"organisations": role(reason="area lead")}, "organisations[1].basis", "is required with a source or a reason"),
    ({"organisations": role(basis="stated", source=1) + role(basis="inferred", reason="r")}, "organisations[2]",
     "listed as implementer twice, with a different basis"),
    ({"organisations": role(basis="stated", source=1), "sources": []}, "organisations[1].source",
     "this record has no sources; add the source whose quote says so, or set basis to 'inferred'"),
    ({"locations": location(source=3)}, "locations[1].source", "there is no source 3"),
    ({"locations": location(basis="inferred", reason="r", source=1)}, "locations[1].source",
     "is only for stated locations"),
    ({"locations": location(basis="inferred")}, "locations[1].reason", "is required when basis is 'inferred'"),
])
def test_validation_names_each_wrong_basis_and_how_to_fix_it(changes, path, words):
    found = problems(**changes)
    assert len(found) == 1 and found[0][0] == path and words in found[0][1], found


@pytest.mark.parametrize("evidence, path, words", [
    ({"type": INFERRED}, "evidence.type", "evidence records the basis of: name, aliases, acronym"),
    ({"acronym": INFERRED}, "evidence.acronym", "has no value"),
    ({"name": {"basis": "stated", "source": 1}}, "evidence.name.basis",
     "must be 'inferred' (with a one-line reason): an organisation has no sources"),
    ({"name": {"basis": "inferred"}}, "evidence.name.reason", "is required when basis is 'inferred'"),
    ({"aliases": {"basis": "inferred", "reason": "a\nb"}}, "evidence.aliases.reason", "must be one line"),
])
def test_validation_of_an_organisations_evidence(evidence, path, words):
    _, errors = clean_organisation({"id": "o", "name": "Org", "aliases": ["Other"], "evidence": evidence})
    assert len(errors) == 1 and errors[0].field == path and words in errors[0].message, errors


def test_evidence_in_its_canonical_shape():
    p, errors = clean_project({**BASE, "evidence": {"end_year": INFERRED, "status": dict(STATED, source="2")},
                               "organisations": role(basis="stated", source=1) + role(basis="stated", source=1),
                               "locations": location(source="1") + [{"name": "Lake", "precision": "site",
                                                                      "basis": "inferred", "reason": "its river"}]})
    assert errors == []
    assert p["evidence"] == {"status": {"basis": "stated", "source": 2}, "end_year": INFERRED}
    assert list(p["evidence"]) == ["status", "end_year"]          # in field order, whatever the input's
    assert p["organisations"] == [{"org": "agc", "role": "implementer", "basis": "stated", "source": 1,
                                   "reason": None}]               # the same role twice: once
    assert [(loc["basis"], loc["source"], loc["reason"]) for loc in p["locations"]] == [
        ("stated", 1, None), ("inferred", None, "its river")]


def test_records_from_forms_and_imports_may_leave_the_basis_out():
    """Nothing recorded: no evidence, roles without a basis, locations stated (the older default) without a
    named source; and a project may name no organisation at all."""
    p, errors = clean_project({**BASE, "organisations": role()})
    assert errors == [] and p["evidence"] == {}
    assert p["organisations"][0] == {"org": "agc", "role": "implementer", "basis": None, "source": None,
                                     "reason": None}
    assert (p["locations"][0]["basis"], p["locations"][0]["source"]) == ("stated", None)
    assert clean_project({**BASE, "organisations": []})[1] == []
    o, errors = clean_organisation({"id": "o", "name": "Org"})
    assert errors == [] and o["evidence"] == {}


# --- storage and the change report --------------------------------------------------------------------

SAMPLE_ORGS = [
    {"id": "fid-gold-council", "name": "Fidelity Gold Council", "acronym": "FGC", "type": "ngo"},
    {"id": "fid-mines", "name": "Ministry of Mines of Fidelia", "aliases": ["Mines Ministry"], "type": "government",
     "evidence": {"name": {"basis": "inferred", "reason": "normalised form of the report's 'Mines Ministry'"},
                  "aliases": {"basis": "inferred", "reason": "the name searchers type"}}},
]
SAMPLE = {
    "id": "fid-sample", "title": "Fidelity sample", "area": "asgm", "status": "ongoing", "start_year": 2019,
    "end_year": 2024, "countries": ["BFA"],
    "evidence": {"status": {"basis": "stated", "source": 2},
                 "start_year": {"basis": "inferred", "reason": "programme launch year"},
                 "end_year": {"basis": "inferred", "reason": "a three-year project begun in 2021"}},
    "locations": [{"name": "Burkina Faso", "precision": "country", "source": 1},
                  {"name": "Zorgho", "precision": "site", "country": "BFA", "basis": "inferred",
                   "reason": "the town on the named river"}],
    "organisations": [{"org": "fid-gold-council", "role": "implementer", "basis": "stated", "source": 1},
                      {"org": "fid-mines", "role": "partner", "basis": "inferred",
                       "reason": "named as a target of capacity building"}],
    "sources": [{"section": "IV.1", "quote": "In Burkina Faso, FGC works with miners."},
                {"section": "IV.1", "quote": "The work continues."}],
}


def import_records(db, projects, organisations=()):
    return ingest.import_data(db, json.dumps({"organisations": list(organisations),
                                              "projects": list(projects)}).encode(), "json", actor="test")


@pytest.fixture
def sample(db):
    import_records(db, [SAMPLE], SAMPLE_ORGS)
    return db


def test_evidence_is_stored_and_read_back_as_validated(sample):
    record, _ = editing_db.project_record(sample, "fid-sample")
    expected, errors = clean_project(SAMPLE)
    assert errors == [] and record["evidence"] == expected["evidence"] == SAMPLE["evidence"]
    assert record["organisations"] == expected["organisations"]
    assert [(loc["basis"], loc["source"], loc["reason"]) for loc in record["locations"]] == [
        ("stated", 1, None), ("inferred", None, "the town on the named river")]
    org, _ = editing_db.organisation_record(sample, "fid-mines")
    assert org["evidence"] == SAMPLE_ORGS[1]["evidence"]
    assert import_records(sample, [SAMPLE], SAMPLE_ORGS).changed == []     # the stored record is its own input


def test_a_changed_basis_is_a_change_of_that_field(sample):
    changed = json.loads(json.dumps(SAMPLE))
    changed["evidence"]["status"] = {"basis": "inferred", "reason": "the report uses the present tense"}
    changed["locations"][0]["source"] = 2
    changed["organisations"][0]["source"] = 2
    report = import_records(sample, [changed])
    paths = [c.path for c in report.projects.changed["fid-sample"]]
    assert paths == ["evidence.status", "locations[1].source", "organisations"]
    assert "fid-sample: evidence.status {\"basis\": \"stated\", \"source\": 2} -> " in "\n".join(report.lines())
    row = editing_db.list_history(sample, entity="project", entity_id="fid-sample")[0][0]    # the newest
    fields = json.loads(row["fields"]) if isinstance(row["fields"], str) else row["fields"]
    assert fields == paths

    org = dict(SAMPLE_ORGS[1], evidence={"name": SAMPLE_ORGS[1]["evidence"]["name"]})
    report = import_records(sample, [], [org])
    assert [c.path for c in report.orgs.changed["fid-mines"]] == ["evidence.aliases"]


def test_diff_names_evidence_paths():
    before, _ = clean_project(SAMPLE)
    after = json.loads(json.dumps(before))
    del after["evidence"]["end_year"]
    assert [(c.path, c.new) for c in diff(before, after)] == [("evidence.end_year", None)]


# --- what readers see: the project page, the organisation page, the API -------------------------------

def text_of(html):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def fact(html, term):
    """The text of the <dd> after <dt>term</dt>, tags kept."""
    return re.search(rf"<dt>{term}</dt><dd>(.*?)</dd>", html, re.S).group(1)


def test_the_project_page_marks_inferred_values_and_links_stated_ones_to_their_quote(sample, client):
    html = client.get("/projects/fid-sample").get_data(as_text=True)
    status = fact(html, "Status")
    assert '<a href="#source-2">source 2</a>' in status and "inferred" not in status
    years = fact(html, "Years")
    assert re.search(r'2019 <small class="inferred" title="inferred: programme launch year">inferred: programme launch '
                     r"year</small>–2024 <small class=\"inferred\"[^>]*>inferred: a three-year project begun in 2021"
                     r"</small>", years), years
    roles = {text_of(item) for item in re.findall(r"<li><a href=\"/organisations/[^\"]+\">.*?</li>", html, re.S)}
    assert "Fidelity Gold Council (FGC) source 1" in roles
    assert "Ministry of Mines of Fidelia inferred: named as a target of capacity building" in roles
    places = re.search(r'<ul class="locations">(.*?)</ul>', html, re.S).group(1)
    assert re.search(r'Burkina Faso .*?<a href="#source-1">source 1</a>', places, re.S)
    assert "Zorgho" in places and "inferred: the town on the named river</small>" in places
    for n, s in enumerate(SAMPLE["sources"], 1):
        assert re.search(rf'<blockquote class="source" id="source-{n}">.*?{re.escape(s["quote"])}', html, re.S)


def test_the_organisation_page_marks_an_inferred_name_and_aliases(sample, client):
    html = client.get("/organisations/fid-mines").get_data(as_text=True)
    assert "inferred name: normalised form of the report&#39;s &#39;Mines Ministry&#39;</small>" in html
    assert re.search(r"<dt>Also known as</dt><dd>Mines Ministry <small class=\"inferred\"[^>]*>inferred: the name "
                     r"searchers type</small>", html)
    assert "Fidelity sample</a> <span class=\"tag status-ongoing\">ongoing</span> <small class=\"inferred\"" in html
    plain = client.get("/organisations/fid-gold-council").get_data(as_text=True)
    assert "inferred" not in text_of(plain)


def test_the_api_carries_the_basis_of_every_value(sample, client):
    p = client.get("/api/projects/fid-sample").get_json()
    assert p["evidence"] == SAMPLE["evidence"]
    assert [(o["id"], o["role"], o["basis"], o["source"], o["reason"]) for o in p["organisations"]] == [
        ("fid-gold-council", "implementer", "stated", 1, None),
        ("fid-mines", "partner", "inferred", None, "named as a target of capacity building")]
    assert [(loc["basis"], loc["source"], loc["reason"]) for loc in p["locations"]] == [
        ("stated", 1, None), ("inferred", None, "the town on the named river")]
    o = client.get("/api/organisations/fid-mines").get_json()
    assert o["evidence"] == SAMPLE_ORGS[1]["evidence"]
    assert [(r["id"], r["basis"], r["reason"]) for r in o["projects"]] == [
        ("fid-sample", "inferred", "named as a target of capacity building")]


# --- the editor's forms never lose a basis -------------------------------------------------------------

@pytest.fixture
def editor(instance):
    return logged_in(make_app(instance, UPLOAD_DIR=str(instance / "uploads")), "eve", "editor")


def edit_title(client, url, name_field, new_title):
    fields = read_form(client.get(url).get_data(as_text=True))
    set_field(fields, name_field, new_title)
    return post_form(client, url, fields)


def with_every_kind_of_evidence(projects):
    """The first project that records the basis of its status, a year, a role and a location."""
    found = [p for p in projects if p["evidence"].get("status") and (
        p["evidence"].get("start_year") or p["evidence"].get("end_year"))
        and any(r["basis"] for r in p["organisations"]) and any(loc["source"] for loc in p["locations"])
        and any(r["basis"] == "inferred" for r in p["organisations"])]
    assert found, "no seed project records the basis of its status, a year, a role and a location"
    return found[0]


def test_saving_a_seed_project_through_the_form_keeps_every_basis(seed, editor, db):
    p = with_every_kind_of_evidence(seed[1])
    before, _ = editing_db.project_record(db, p["id"])
    response = edit_title(editor, f"/editor/projects/{p['id']}/edit", "title", before["title"] + " (edited)")
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    after, _ = editing_db.project_record(db, p["id"])
    assert [c.path for c in diff(before, after)] == ["title"]
    assert after["evidence"] == before["evidence"] and after["evidence"]


def test_saving_the_forms_keeps_every_basis(sample, editor):
    before, _ = editing_db.project_record(sample, "fid-sample")
    assert edit_title(editor, "/editor/projects/fid-sample/edit", "title", "Retitled").status_code == 302
    after, _ = editing_db.project_record(sample, "fid-sample")
    assert [c.path for c in diff(before, after)] == ["title"]

    org, _ = editing_db.organisation_record(sample, "fid-mines")
    assert edit_title(editor, "/editor/organisations/fid-mines/edit", "acronym", "MMF").status_code == 302
    edited, _ = editing_db.organisation_record(sample, "fid-mines")
    assert [c.path for c in diff(org, edited)] == ["acronym"]


def test_the_organisation_form_marks_an_inferred_name_and_names_a_wrong_mark_at_its_field(sample, editor):
    url = "/editor/organisations/fid-gold-council/edit"
    fields = read_form(editor.get(url).get_data(as_text=True))
    assert field(fields, "ev-name-reason") == ""
    set_field(fields, "ev-aliases-reason", "widely used")         # it has no aliases: nothing to mark
    set_field(fields, "ev-name-reason", "expansion of FGC, the only form the report uses")
    response = post_form(editor, url, fields)
    assert response.status_code == 400
    assert re.search(r'id="err-ev-aliases-reason"><p><strong>Error:</strong> [^<]*aliases has no value', response.get_data(as_text=True))
    set_field(fields, "ev-aliases-reason", "")
    assert post_form(editor, url, fields).status_code == 302
    org, _ = editing_db.organisation_record(sample, "fid-gold-council")
    assert org["evidence"] == {"name": {"basis": "inferred", "reason": "expansion of FGC, the only form the report uses"}}


def test_the_project_form_sets_a_basis_and_names_a_wrong_one_at_its_field(sample, editor):
    url = "/editor/projects/fid-sample/edit"
    fields = read_form(editor.get(url).get_data(as_text=True))
    assert (field(fields, "ev-status-basis"), field(fields, "ev-status-source")) == ("stated", "2")
    assert field(fields, "ev-start_year-reason") == "programme launch year"
    set_field(fields, "ev-end_year-basis", "stated")        # the reason stays: an error, nothing dropped
    set_field(fields, "org-1-source", "7")
    response = post_form(editor, url, fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert re.search(r'id="err-ev-end_year-reason"><p><strong>Error:</strong> [^<]*is only for inferred values', html)
    assert re.search(r'id="err-org-1-source"><p><strong>Error:</strong> [^<]*there is no source 7: this record has 2 sources', html)
    assert '<a href="#f-ev-end_year-reason">End year reason</a>' in html

    set_field(fields, "ev-end_year-reason", "")
    set_field(fields, "ev-end_year-source", "1")
    set_field(fields, "org-1-source", "2")
    assert post_form(editor, url, fields).status_code == 302
    record, _ = editing_db.project_record(sample, "fid-sample")
    assert record["evidence"]["end_year"] == {"basis": "stated", "source": 1}
    assert record["organisations"][0]["source"] == 2
