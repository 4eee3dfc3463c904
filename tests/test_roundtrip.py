"""Round trips are the identity (issue 10): for CSV, JSON and GeoJSON, export -> import changes nothing, and
export -> change one field -> import changes exactly that field. Through the real importer
(exchange.ingest.import_data), a real SQLite file, the real exporters and storage's bulk read, the real
app's export routes and the real CLI. Nothing is silently dropped: limits and unreadable cells are errors
naming the record (or row), the field (or column) and the fix.
"""
import csv
import io
import itertools
import json
import re
from contextlib import contextmanager

import shutil

import pytest
from hypothesis import HealthCheck, assume, given, reject, settings
from hypothesis import strategies as st

from conftest import ROOT, make_app
from registry.core import geo
from registry.core.records import diff
from registry.core.validate import AREAS, KINDS, MAX_ITEMS, ORG_TYPES, PRECISIONS, ROLES, STATUSES, ValidationError
from registry.exchange import cells, exports, ingest, readers
from registry.core.sources import REPORT_SOURCE, REPORT_SOURCE_ID
from registry.search import index as search
from registry.store import db as storage
from registry.store import sources as source_store
from registry.web.context import index_settings

FORMATS = ("csv", "json", "geojson")
COUNTRIES = ("KEN", "PER", "BRA", "IDN", "GHA", "FRA", "CIV", "COD", "MNG", "PHL")
GAZETTEER_IDS = tuple(row["id"] for row in csv.DictReader((ROOT / "geodata" / "gazetteer.csv").open(encoding="utf-8")))
# a region location's region (issue 12): codes, and other spellings the importer stores as the code
REGION_CODES = ("002", "419", "029", "150", "amazon-basin", "arctic", "pan-amazon")
REGION_SPELLINGS = REGION_CODES + ("19", "Latin America", "Amérique latine et Caraïbes", "AMAZON-BASIN", "Arctique")
PROJECT_IDS = tuple(f"rt-{i}" for i in range(5))
ORG_IDS = tuple(f"rt-org-{i}" for i in range(4))
# source records the generated citations name (besides the founding report, which every registry has)
SOURCE_RECORDS = [{"id": "rt-src-0", "title": "A newsletter; with | separators", "publisher": "Roundtrip Institute",
                   "date": "2024-05", "url": "https://example.org/news;1|2", "reference": None, "kind": "news",
                   "consulted": "2026-12-01"},
                  {"id": "rt-src-1", "title": "Évaluation finale", "publisher": "=Evaluators", "date": None,
                   "url": None, "reference": "EVAL/2025/1", "kind": "evaluation", "consulted": "2025-03-02"}]
DOCUMENT_IDS = (REPORT_SOURCE_ID, *(s["id"] for s in SOURCE_RECORDS))
# IATI identifiers (issue 14), with what a CSV cell guards or escapes: a leading = or -, separators, accents
IATI_IDS = ("XM-DAC-41114", "XM-DAC-41114-00012345", "=GB-CHC-1234567", "-US-EIN-13-2654926", "CA-3;x", "ÜN-ïd.1_2")
EXAMPLES = settings(max_examples=35, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])


# --- generated records: every field, the characters that break naive encodings ----------------------

TRICKY = ["=SUM(A1)", "+1 site", "-2 degrees", "@mention", "'quoted' start", "''", "a;b|c", 'say "hi", then',
          "line\nbreak", "cr\r\nlf", "back\\slash \\; \\|", "Zürich – ñ 東京 🌍", "x=y|z=w", "\tlead tab", "; |",
          "Cafe\u200b\u0301 zero-width space before an accent"]
CHARS = st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(list(";|\\\"'=+-@\n\r\t,="))


def words(max_size):
    """Text a field may hold: tricky values, and arbitrary printable text (validation trims and normalises
    it; the expected record is what validation makes of it)."""
    free = st.text(CHARS, min_size=1, max_size=max_size)
    return st.one_of(st.sampled_from([t[:max_size] for t in TRICKY]), free).filter(lambda t: t.strip())


latitudes = st.floats(-90, 90, allow_nan=False)
longitudes = st.floats(-180, 180, allow_nan=False)


@st.composite
def locations(draw):
    precision = draw(st.sampled_from(PRECISIONS))
    loc = {"name": draw(words(60)), "precision": precision}
    if precision == "region":   # its region, or (left out) a name that is one
        if draw(st.booleans()):
            loc["region"] = draw(st.sampled_from(REGION_SPELLINGS))
        else:
            loc["name"] = draw(st.sampled_from(REGION_SPELLINGS))
    if draw(st.booleans()):
        loc["country"] = draw(st.sampled_from(COUNTRIES))
    how = draw(st.sampled_from(["none", "editor", "report", "gazetteer"]))
    if how == "gazetteer" and GAZETTEER_IDS:
        loc["gazetteer_id"] = draw(st.sampled_from(GAZETTEER_IDS))
    elif how != "none":
        loc.update(lat=draw(latitudes), lon=draw(longitudes), coords_source=how)
    if draw(st.booleans()):
        loc.update(basis="inferred", reason=draw(words(60)).replace("\n", " ").replace("\r", " "))
    return loc


def one_line(max_size):
    return words(max_size).map(lambda t: t.replace("\n", " ").replace("\r", " ")).filter(lambda t: t.strip())


def support(n_sources):
    """On what a value stands (issue 18): not recorded, stated by one of the record's n_sources sources, or
    inferred with a one-line reason."""
    stated = st.fixed_dictionaries({"basis": st.just("stated"), "source": st.integers(1, max(n_sources, 1))})
    inferred = st.fixed_dictionaries({"basis": st.just("inferred"), "reason": one_line(60)})
    return st.one_of(st.just({}), inferred, *([stated] if n_sources else []))


@st.composite
def with_support(draw, p):
    """`p` with the basis of some of its values: roles, locations (a source for some stated ones), and
    `evidence` for the status and years it has."""
    n = len(p["sources"])
    for role in p["organisations"]:
        role.update(draw(support(n)))
    for loc in p["locations"]:
        if loc.get("basis") != "inferred" and n and draw(st.booleans()):
            loc["source"] = draw(st.integers(1, n))
    evidence = {name: draw(support(n)) for name in ("status", "start_year", "end_year")
                if p.get(name) not in (None, "unknown") and (name != "status" or "status" in p)}
    if draw(st.booleans()):
        p["evidence"] = {name: entry for name, entry in evidence.items() if entry}
    return p


sources = st.fixed_dictionaries({"quote": words(200)},
                                optional={"section": words(40), "document": st.sampled_from(DOCUMENT_IDS)})


@st.composite
def with_names_marked(draw, org):
    """An organisation, with its name (and aliases, when it has some) sometimes marked inferred."""
    fields = ["name"] + (["aliases"] if org.get("aliases") else []) + (["acronym"] if org.get("acronym") else [])
    marked = draw(st.lists(st.sampled_from(fields), unique=True, max_size=len(fields)))
    if marked:
        org["evidence"] = {name: {"basis": "inferred", "reason": draw(one_line(60))} for name in marked}
    return org


organisations = st.fixed_dictionaries(
    {"id": st.just("?"), "name": words(80)},
    optional={"acronym": words(20), "aliases": st.lists(words(30), max_size=3), "type": st.sampled_from(list(ORG_TYPES)),
              "country": st.sampled_from(COUNTRIES), "website": st.sampled_from(["https://example.org/a;b|c", "http://x.example"]),
              "identifier": st.sampled_from(IATI_IDS),
              "leads_areas": st.lists(st.sampled_from(list(AREAS)), max_size=2, unique=True)}).flatmap(with_names_marked)


@st.composite
def projects(draw, pid, parents):
    start = draw(st.none() | st.integers(1990, 2030))
    n_places = draw(st.integers(1, 60))    # (a project needs a location: 0 is an error, tests/test_validate.py)
    p = {"id": pid, "title": draw(words(120)), "area": draw(st.sampled_from(list(AREAS))),
         "locations": draw(st.lists(locations(), min_size=n_places, max_size=n_places)),
         "organisations": draw(st.lists(st.fixed_dictionaries({"org": st.sampled_from(ORG_IDS),
                                                                "role": st.sampled_from(ROLES)}), max_size=6,
                                        unique_by=lambda r: (r["org"], r["role"]))),
         "sources": draw(st.lists(sources, max_size=4))}
    optional = {"summary": words(300), "description": words(600), "kind": st.sampled_from(KINDS),
                "title_fr": words(120), "title_es": words(120), "summary_fr": words(300), "summary_es": words(300),
                "status": st.sampled_from(STATUSES), "other_areas": st.lists(st.sampled_from(list(AREAS)), max_size=3),
                "countries": st.lists(st.sampled_from(COUNTRIES), max_size=3),
                "keywords": st.lists(words(40), max_size=4), "parent": st.sampled_from(parents) if parents else st.none(),
                "website": st.sampled_from(["https://example.org/x;y|z?a=1", "http://planetgold.org/peru"]),
                "iati_identifier": st.sampled_from(IATI_IDS),
                "start_year": st.just(start), "end_year": st.none() if start is None else st.integers(start, 2040)}
    for name, strategy in optional.items():
        if draw(st.booleans()):
            p[name] = draw(strategy)
    return draw(with_support(p))


@st.composite
def batches(draw):
    """Raw organisations and projects (1 to 3 of each, ids reused between examples), and their records as the
    importer makes them (validated, country points and default documents filled in)."""
    n_orgs, n_projects = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    orgs = [dict(draw(organisations), id=ORG_IDS[i]) for i in range(n_orgs)]
    ids = PROJECT_IDS[:n_projects]
    raw = [draw(projects(pid, [other for other in ids if other != pid])) for pid in ids]
    for p in raw:
        p["organisations"] = [r for r in p["organisations"] if r["org"] in ORG_IDS[:n_orgs]]
    try:
        return orgs, raw, ingest.prepare(pairs(orgs), pairs(raw), sources=SOURCE_RECORDS, known_sources=[REPORT_SOURCE])
    except ValidationError:
        reject()


def pairs(records):
    return [(f"record {i}: ", r) for i, r in enumerate(records, 1)]


# --- helpers ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def new_db(tmp_path_factory):
    """Opens a new, empty registry database (a real SQLite file) for each generated example, so that no
    example depends on what an earlier one left behind (Hypothesis replays examples when it shrinks)."""
    folder, numbers = tmp_path_factory.mktemp("roundtrip"), itertools.count()

    @contextmanager
    def open_new():
        path = folder / f"example-{next(numbers)}.db"
        conn = storage.connect(str(path))
        storage.migrate(conn)
        try:
            yield conn
        finally:
            conn.conn.close()
            for leftover in folder.glob(path.name + "*"):
                leftover.unlink()
    return open_new


def stored(db, ids, all_organisations=False):
    return storage.export_records(db, list(ids), all_organisations=all_organisations)


def assert_nothing_changed(report, ids):
    assert report.added == [] and report.changed == [] and report.deleted == []
    assert sorted(report.unchanged) == sorted(ids) and ids
    assert report.organisations == []


PATH = re.compile(r"^(\w+)(?:\[(\d+)\])?(?:\.(\w+))?$")   # title, locations[2].lat, evidence.status


def value_at(record, path):
    name, index, key = PATH.match(path).groups()
    item = record[name] if index is None else record[name][int(index) - 1]   # paths count from 1
    return item if key is None else item.get(key)


def with_value(record, path, value):
    name, index, key = PATH.match(path).groups()
    out = json.loads(json.dumps(record))
    if key is None:
        out[name] = value
    else:
        (out[name] if index is None else out[name][int(index) - 1])[key] = value
    return out


def new_values(path, record=None):
    """A strategy for a new value of the field at `path` (of `record`: how many sources a basis may name)."""
    key = path.rsplit(".", 1)[-1]
    n_sources = len((record or {}).get("sources") or [])
    if path.startswith("evidence."):
        return support(n_sources).filter(bool)
    if key == "source":
        return st.integers(1, max(n_sources, 1))
    return {"title": words(120), "summary": words(300), "description": words(600), "name": words(60),
            "title_fr": words(120), "title_es": words(120), "summary_fr": words(300), "summary_es": words(300),
            "quote": words(200), "section": words(40), "document": st.sampled_from(DOCUMENT_IDS),
            "kind": st.sampled_from(KINDS),
            "area": st.sampled_from(list(AREAS)), "status": st.sampled_from(STATUSES),
            "start_year": st.integers(1990, 2030), "end_year": st.integers(1990, 2040),
            "website": st.sampled_from(["https://example.org/changed;|", "http://other.example"]),
            "iati_identifier": st.sampled_from(IATI_IDS),
            "keywords": st.lists(words(40), max_size=4), "countries": st.lists(st.sampled_from(COUNTRIES), max_size=3),
            "other_areas": st.lists(st.sampled_from(list(AREAS)), max_size=3),
            "organisations": st.lists(st.fixed_dictionaries({"org": st.sampled_from(ORG_IDS[:1]),
                                                             "role": st.sampled_from(ROLES)}), max_size=4,
                                      unique_by=lambda r: r["role"]).flatmap(
                lambda roles: st.tuples(*[support(n_sources) for _ in roles]).map(
                    lambda supports: [dict(r, **s) for r, s in zip(roles, supports)])),
            "parent": st.sampled_from(PROJECT_IDS), "lat": latitudes, "lon": longitudes,
            "precision": st.sampled_from(PRECISIONS), "country": st.sampled_from(COUNTRIES),
            "region": st.sampled_from(REGION_CODES),
            "reason": words(60).map(lambda t: t.replace("\n", " ").replace("\r", " "))}[key]


def mutable_paths(p):
    paths = ["title", "summary", "title_fr", "title_es", "summary_fr", "summary_es", "description", "kind", "area",
             "status", "start_year", "end_year", "website",
             "iati_identifier", "keywords", "countries", "other_areas", "organisations", "parent"]
    for i, loc in enumerate(p["locations"], 1):
        paths += [f"locations[{i}].{k}" for k in ("name", "precision", "country")]
        paths += [f"locations[{i}].region"] if loc["precision"] == "region" else []
        paths += [f"locations[{i}].{k}" for k in ("lat", "lon") if loc["coords_source"] in ("editor", "report")]
        paths += [f"locations[{i}].reason"] if loc["basis"] == "inferred" else []
        paths += [f"locations[{i}].source"] if loc["basis"] == "stated" and p["sources"] else []
    paths += [f"evidence.{name}" for name in ("status", "start_year", "end_year") if p[name] not in (None, "unknown")]
    for i in range(1, len(p["sources"]) + 1):
        paths += [f"sources[{i}].{k}" for k in ("quote", "section", "document")]
    return paths


def load(db, orgs, raw):
    """Store a generated batch, with the source records it cites, through the real importer (JSON: the
    format that carries everything)."""
    ingest.import_data(db, json.dumps({"sources": SOURCE_RECORDS, "organisations": orgs, "projects": raw}).encode(),
                       "json")


def cited(db, ids):
    return source_store.export_sources(db, ids)


# --- the property: every format, every field -----------------------------------------------------------

@pytest.mark.slow   # a large Hypothesis run: 10-20 s per format
@pytest.mark.parametrize("fmt", FORMATS)
@EXAMPLES
@given(batch=batches(), data=st.data())
def test_export_import_is_the_identity_and_one_edit_changes_one_field(new_db, fmt, batch, data):
    with new_db() as db:
        check_identity_and_one_edit(db, fmt, batch, data)


def check_identity_and_one_edit(db, fmt, batch, data):
    raw_orgs, raw_projects, (expected_orgs, expected) = batch
    ids = [p["id"] for p in expected]
    load(db, raw_orgs, raw_projects)
    orgs, before = stored(db, ids)
    assert before == expected      # what the importer stored is every field of what it was given
    named = {r["org"] for p in expected for r in p["organisations"]}
    assert orgs == sorted((o for o in expected_orgs if o["id"] in named), key=lambda o: o["id"])

    report = ingest.import_data(db, exports.export_text(fmt, orgs, before, sources=cited(db, ids)).encode(), fmt)
    assert_nothing_changed(report, ids)
    assert stored(db, ids) == (orgs, before)

    i = data.draw(st.integers(0, len(before) - 1), label="project")
    path = data.draw(st.sampled_from(mutable_paths(before[i])), label="path")
    edited_raw = with_value(before[i], path, data.draw(new_values(path, before[i]), label="new value"))
    try:
        _, [edited] = ingest.prepare([], [("edited: ", edited_raw)], ids, ORG_IDS,
                                     known_sources=source_store.all_sources(db))
    except ValidationError:
        reject()
    assume([c.path for c in diff(before[i], edited)] == [path])   # exactly one field differs (e.g. not the area
    after = before[:i] + [edited] + before[i + 1:]                 # that other_areas also lists)

    every_org = stored(db, [], all_organisations=True)[0]
    report = ingest.import_data(db, exports.export_text(fmt, orgs, after, sources=cited(db, ids)).encode(), fmt)
    assert report.changed == [edited["id"]] and report.added == [] and report.organisations == []
    assert [c.path for c in report.projects.changed[edited["id"]]] == [path]
    assert stored(db, ids)[1] == after and stored(db, [], all_organisations=True)[0] == every_org
    assert value_at(stored(db, [edited["id"]])[1][0], path) == value_at(edited, path)


@pytest.mark.slow   # a large Hypothesis run: 5-15 s per format
@pytest.mark.parametrize("fmt", ("json", "geojson"))
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=batches(), data=st.data())
def test_an_edited_organisation_changes_that_field_only(new_db, fmt, batch, data):
    with new_db() as db:
        check_one_organisation_edit(db, fmt, batch, data)


def check_one_organisation_edit(db, fmt, batch, data):
    raw_orgs, raw_projects, _ = batch
    ids = [p["id"] for p in raw_projects]
    load(db, raw_orgs, raw_projects)
    orgs, projects_ = stored(db, ids, all_organisations=True)
    orgs = [o for o in orgs if o["id"] in {r["id"] for r in raw_orgs}]
    key = data.draw(st.sampled_from(["name", "acronym", "aliases", "type", "country", "website", "identifier",
                                     "leads_areas", "evidence.name"]))
    if key == "evidence.name":     # the name marked inferred, with another reason, or no longer
        reason = data.draw(st.none() | one_line(60))
        changed = dict(orgs[0], evidence={k: v for k, v in orgs[0]["evidence"].items() if k != "name"})
        if reason is not None:
            changed["evidence"]["name"] = {"basis": "inferred", "reason": reason}
    else:
        changed = dict(orgs[0], **{key: data.draw(organisations.map(
            lambda o: o.get(key, o["name"] if key == "name" else None)))})
    try:
        [edited], _ = ingest.prepare([("edited: ", changed)], [])
    except ValidationError:
        reject()
    assume([c.path for c in diff(orgs[0], edited)] == [key])
    every_before = stored(db, [], all_organisations=True)[0]
    report = ingest.import_data(db, exports.export_text(fmt, [edited] + orgs[1:], projects_).encode(), fmt)
    assert list(report.orgs.changed) == [edited["id"]] and report.changed == []
    assert [c.path for c in report.orgs.changed[edited["id"]]] == [key]
    assert stored(db, [], all_organisations=True)[0] == [edited if o["id"] == edited["id"] else o
                                                            for o in every_before]


# --- the whole registry: the seed and the updates from later sources ------------------------------------

@pytest.fixture
def updated(updated_instance, tmp_path):
    """(app, connection) of a private copy of a registry holding the seed and every file of geodata/updates/
    applied (issue 19): source records besides the founding report, cited by new and changed projects."""
    folder = tmp_path / "updated"
    shutil.copytree(updated_instance[0], folder)
    conn = storage.connect(str(folder / "registry.db"))
    yield make_app(folder), conn
    conn.conn.close()


def whole(db):
    """Everything an export of the whole registry carries: (source records, organisations, projects)."""
    return (source_store.all_sources(db), *storage.export_records(db, all_organisations=True))


def whole_export(db, fmt):
    sources, orgs, projects_ = whole(db)
    return exports.export_text(fmt, orgs, projects_, sources=sources if fmt != "csv" else ())


@pytest.mark.parametrize("fmt", FORMATS)
def test_registry_export_imports_into_the_same_database_unchanged(updated, fmt):
    _, db = updated
    before = whole(db)
    sources, orgs, projects_ = before
    assert len(projects_) > 200 and len(orgs) > 100 and len(sources) > 20   # the updates' sources are there
    report = ingest.import_data(db, whole_export(db, fmt).encode(), fmt)
    assert_nothing_changed(report, [p["id"] for p in projects_])
    assert report.orgs.changed == {} and report.orgs.added == []
    assert report.sources.changed == {} and report.sources.added == [] and report.sources.deleted == []
    assert whole(db) == before


@pytest.mark.parametrize("fmt", ("json", "geojson"))
def test_registry_export_into_an_empty_database_is_the_identity(updated, tmp_path, fmt):
    """Export -> import into a new, empty registry gives back every source record, organisation and project,
    field for field (a new registry holds the founding report already: it is left unchanged)."""
    _, db = updated
    before = whole(db)
    doc = json.loads(whole_export(db, fmt))
    assert [s["id"] for s in doc["sources"]] == [s["id"] for s in before[0]]
    empty = storage.connect(str(tmp_path / "empty.db"))
    storage.migrate(empty)
    report = ingest.import_data(empty, whole_export(db, fmt).encode(), fmt)
    assert sorted(report.added) == sorted(p["id"] for p in before[2])
    assert sorted(report.sources.added) == sorted(s["id"] for s in before[0] if s["id"] != REPORT_SOURCE_ID)
    assert whole(empty) == before
    empty.conn.close()


def test_a_csv_export_needs_its_sources_imported_first(updated, tmp_path):
    """CSV cannot carry source records: into an empty registry it is refused, each citation of an unknown
    source saying how to import the sources first; after them (as JSON, with the organisations) it fills
    the registry with the same records."""
    _, db = updated
    before = whole(db)
    empty = storage.connect(str(tmp_path / "empty.db"))
    storage.migrate(empty)
    ingest.import_data(empty, exports.export_text("json", before[1], []).encode(), "json")   # organisations
    with pytest.raises(ValidationError) as exc:
        ingest.import_data(empty, whole_export(db, "csv").encode(), "csv")
    unknown = [p for p in exc.value.problems if p.field.endswith(".document")]
    assert unknown and len(unknown) == len(exc.value.problems)
    assert all("a CSV file cannot hold source records: import the source first, as JSON" in p.message
               and p.where.startswith("row ") for p in unknown), unknown[0]
    assert storage.counts(empty)["projects"] == 0

    ingest.import_data(empty, exports.export_text("json", [], [], sources=before[0]).encode(), "json")
    report = ingest.import_data(empty, whole_export(db, "csv").encode(), "csv")
    assert sorted(report.added) == sorted(p["id"] for p in before[2])
    assert whole(empty) == before
    empty.conn.close()


def test_cli_export_then_import_changes_nothing(updated, tmp_path):
    app, db = updated
    runner = app.test_cli_runner()
    before = whole(db)
    for fmt in FORMATS:
        path = tmp_path / f"registry.{fmt}"
        with app.app_context():   # as `flask` runs its commands
            result = runner.invoke(args=["export", "--format", fmt, "-o", str(path)])
            assert result.exit_code == 0, result.output
            if fmt != "csv":      # it says what it wrote
                assert f"{len(before[0])} source records, {len(before[1])} organisations" in result.output
                assert len(json.loads(path.read_text("utf-8"))["sources"]) == len(before[0])
            result = runner.invoke(args=["import", str(path)])
        assert result.exit_code == 0, result.output
        assert re.search(r"changed 0, unchanged \d{3}", result.output), result.output
    assert whole(db) == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_web_export_of_a_selection_imports_unchanged(updated, fmt):
    app, db = updated
    search.rebuild(index_settings(app))    # the updated registry's index (the fixture's is the seed's)
    response = app.test_client().get(f"/projects.{fmt}?country=KEN")
    assert response.status_code == 200 and response.mimetype == exports.MIMETYPES[fmt].split(";")[0]
    kenyan = {r[0] for r in db.execute("SELECT project_id FROM project_countries WHERE iso3 = 'KEN'")}
    report = ingest.import_data(db, response.get_data(), fmt)
    assert set(report.unchanged) == kenyan and len(kenyan) > 3
    assert report.changed == [] and report.added == [] and report.organisations == []
    if fmt != "csv":   # the organisations the selection names and the source records it cites, and only those
        doc = response.get_json()
        named = {r[0] for r in db.execute("SELECT DISTINCT org_id FROM roles WHERE project_id IN "
                                          "(SELECT project_id FROM project_countries WHERE iso3 = 'KEN')")}
        assert {o["id"] for o in doc["organisations"]} == named
        cited_ids = {r[0] for r in db.execute("SELECT DISTINCT document FROM sources WHERE project_id IN "
                                              "(SELECT project_id FROM project_countries WHERE iso3 = 'KEN')")}
        assert {s["id"] for s in doc["sources"]} == cited_ids and len(cited_ids) > 1


@pytest.mark.parametrize("fmt, doc", [
    ("geojson", {"type": "FeatureCollection", "features": [], "sources": {"id": "x"}}),
    ("json", {"sources": "gmp-report-2020-2022", "projects": []}),
])
def test_a_sources_member_that_is_not_a_list_is_an_error(db, fmt, doc):
    [problem] = rejected(db, json.dumps(doc).encode(), fmt)
    assert problem.field == "sources" and "must be a list of sources" in problem.message


def test_a_geojson_file_brings_its_source_records(db):
    source = {"id": "geo-newsletter", "title": "Geo newsletter", "publisher": "Geo Institute", "date": "2025",
              "url": "https://example.org/geo", "reference": None, "kind": "news", "consulted": None,
              "language": "en"}
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [36.8, -1.3]},
               "properties": {"id": "geo-cites", "title": "Geo cites", "area": "asgm",
                              "sources": [{"document": "geo-newsletter", "quote": "It is there."}]}}
    doc = {"type": "FeatureCollection", "sources": [source], "features": [feature]}
    report = ingest.import_data(db, json.dumps(doc).encode(), "geojson")
    assert report.sources.added == ["geo-newsletter"] and report.added == ["geo-cites"]
    assert source_store.source_records(db, ["geo-newsletter"])["geo-newsletter"][0] == source


# --- a person's edits of an exported file ---------------------------------------------------------------

def test_moved_point_in_a_csv_export_is_imported(db):
    """The issue's example: export planetGOLD Peru, move its point to the mining region, import."""
    _, [peru] = storage.export_records(db, ["planetgold-peru"])
    rows = list(csv.reader(io.StringIO(exports.export_csv([peru]))))
    column = rows[0].index("locations")
    first, rest = rows[1][column].split("|", 1)[0], rows[1][column].split("|", 3)[3]
    rows[1][column] = f"{first}|-12.5|-70.1|{rest}"
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    report = ingest.import_data(db, out.getvalue().encode(), "csv")
    assert report.changed == ["planetgold-peru"]
    assert {c.path: (c.old, c.new) for c in report.projects.changed["planetgold-peru"]} == {
        "locations[1].lat": (peru["locations"][0]["lat"], -12.5), "locations[1].lon": (peru["locations"][0]["lon"], -70.1)}
    assert storage.export_records(db, ["planetgold-peru"])[1][0]["locations"][0]["lat"] == -12.5


def test_point_moved_in_a_gis_moves_the_place(db):
    _, [peru] = storage.export_records(db, ["planetgold-peru"])
    doc = exports.export_geojson([], [peru])
    geometry = doc["features"][0]["geometry"]
    first = geometry["coordinates"] if geometry["type"] == "Point" else geometry["coordinates"][0]
    first[:] = [-70.1, -12.5]          # the GIS writes the geometry; the properties keep geometry_index
    report = ingest.import_data(db, json.dumps(doc).encode(), "geojson")
    placed = [i for i, loc in enumerate(peru["locations"], 1) if loc["lat"] is not None][0]
    assert sorted(c.path for c in report.projects.changed["planetgold-peru"]) == [
        f"locations[{placed}].lat", f"locations[{placed}].lon"]


def test_geojson_feature_has_every_field_and_one_point_per_placed_location(db):
    _, [p] = storage.export_records(db, ["planetgold-peru"])
    feature = exports.geojson_feature(p)
    props = feature["properties"]
    assert set(props) == set(p) and props["sources"] == p["sources"]
    placed = [loc for loc in p["locations"] if loc["lat"] is not None]
    coords = feature["geometry"]["coordinates"]
    positions = [coords] if feature["geometry"]["type"] == "Point" else coords
    assert placed and positions == [[loc["lon"], loc["lat"]] for loc in placed]
    assert [loc[readers.GEOMETRY_INDEX] for loc in props["locations"] if readers.GEOMETRY_INDEX in loc] == list(
        range(len(placed)))


# --- the CSV cell rules (README.md "Import formats") --------------------------------------------------------

@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "'", "''", "'=1", "plain", ""])
def test_formula_guard_round_trips(text):
    guarded = cells.guard(text)
    assert cells.unguard(guarded) == text
    assert guarded[:1] not in ("=", "+", "-", "@", "\t", "\r")


def test_hand_typed_leading_quote_is_kept():
    assert cells.unguard("'Mercury-free' schools") == "'Mercury-free' schools"


def test_escaped_separators_read_back():
    loc = {"name": "Madre de Dios; Puerto|Maldonado \\ east", "lat": -12.5, "lon": 1e-05, "precision": "site",
           "country": "PER", "reason": "a=b"}
    cell = cells.join_entries([loc], cells.LOCATION_FIELDS)
    assert cell == "Madre de Dios\\; Puerto\\|Maldonado \\\\ east|-12.5|0.00001|site|country=PER|reason=a=b"
    [read] = cells.split_entries(cell, cells.LOCATION_FIELDS, readers.record_keys()["location"])
    assert read == {**loc, "lat": "-12.5", "lon": "0.00001"}


def test_older_csv_files_still_import(db):
    body = ("id,title,area,locations,keywords,source_section,source_quote\n"
            'old-style,Old style,asgm,"Nairobi|-1.28|36.82|site; Kenya|||country","a|b;c",II.1,"The quote."\n')
    ingest.import_data(db, body.encode(), "csv")
    _, [p] = storage.export_records(db, ["old-style"])
    assert [(loc["name"], loc["precision"]) for loc in p["locations"]] == [("Nairobi", "site"), ("Kenya", "country")]
    assert p["keywords"] == ["a", "b", "c"] and [(s["section"], s["quote"]) for s in p["sources"]] == [("II.1", "The quote.")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_text_that_validation_normalises_is_stored_in_its_final_form(db, fmt):
    """Validation removes invisible characters and composes accents (NFC) in the order that makes its
    result final: cleaning the stored text again changes nothing, so its export imports unchanged."""
    odd = "Cafe\u200b\u0301 de\u0301ja\u0300 vu"
    project = {"id": "normalised", "title": odd, "area": "asgm", "locations": [{"name": odd, "precision": "global"}]}
    ingest.import_data(db, json.dumps([project]).encode(), "json")
    orgs, [p] = storage.export_records(db, ["normalised"])
    assert p["title"] == p["locations"][0]["name"] == "Café déjà vu"
    report = ingest.import_data(db, exports.export_text(fmt, orgs, [p]).encode(), fmt)
    assert report.unchanged == ["normalised"] and report.changed == []


# --- nothing silently dropped ---------------------------------------------------------------------------

def rejected(db, data, fmt):
    before = storage.export_records(db, all_organisations=True)
    with pytest.raises(ValidationError) as exc:
        ingest.import_data(db, data, fmt)
    assert storage.export_records(db, all_organisations=True) == before
    return exc.value.problems


@pytest.mark.parametrize("name, item", [("locations", {"name": "Site", "precision": "global"}),
                                        ("sources", {"quote": "q"})])
def test_too_many_items_is_an_error_naming_record_field_and_limit(db, name, item):
    project = {"id": "too-many", "title": "T", "area": "asgm", "locations": [{"name": "W", "precision": "global"}],
               name: [item] * (MAX_ITEMS[name] + 1)}
    problems = rejected(db, json.dumps([project]).encode(), "json")
    [p] = [p for p in problems if p.field == name]
    assert p.where == "projects[1]" and f"the maximum is {MAX_ITEMS[name]}" in p.message


def test_many_locations_are_all_kept(db):
    places = [{"name": f"Site {i}", "precision": "site", "lat": i / 10, "lon": i / 7} for i in range(120)]
    project = {"id": "many-places", "title": "Many places", "area": "asgm", "locations": places}
    ingest.import_data(db, json.dumps([project]).encode(), "json")
    assert len(storage.export_records(db, ["many-places"])[1][0]["locations"]) == 120


@pytest.mark.parametrize("cell, column, expected", [
    ("Nairobi|-1.28|36.82|site|colour=red", "locations", "'colour' is not a field"),
    ("Nairobi|-1.28|36.82|site|KEN", "locations", "should be key=value"),
    ("Nairobi|-1.28|36.82|site|country=KEN|country=KEN", "locations", "given twice"),
])
def test_unreadable_csv_cell_names_row_and_column(db, cell, column, expected):
    body = f'id,title,area,{column}\nok-row,OK,asgm,World|||global\nbad-row,Bad,asgm,"{cell}"\n'
    [problem] = rejected(db, body.encode(), "csv")
    assert (problem.where, problem.field) == ("row 3", column) and expected in problem.message


# --- the basis of each value (issue 18) in every format ------------------------------------------------

EVIDENT_ORGS = [{"id": "ev-council", "name": "Evidence Council", "acronym": "EVC", "type": "ngo"},
                {"id": "ev-ministry", "name": "Ministry of Evidence", "aliases": ["Evidence Ministry"],
                 "evidence": {"name": {"basis": "inferred", "reason": "normalised; the report writes the alias"}}}]
EVIDENT = {"id": "evident", "title": "Evident", "area": "asgm", "status": "completed", "start_year": 2019,
           "end_year": 2021,
           "evidence": {"status": {"basis": "inferred", "reason": "the report uses the past tense; a=b|c;d"},
                        "start_year": {"basis": "stated", "source": 2}},
           "locations": [{"name": "Kenya", "precision": "country", "source": 1},
                         {"name": "Lake; Shore", "precision": "site", "basis": "inferred", "reason": "its river|x"}],
           "organisations": [{"org": "ev-council", "role": "implementer", "basis": "stated", "source": 1},
                             {"org": "ev-ministry", "role": "funder", "basis": "inferred", "reason": "=area lead"},
                             {"org": "ev-ministry", "role": "partner"}],
           "sources": [{"quote": "In Kenya, EVC works."}, {"quote": "Since 2019."}]}


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_basis_of_every_value_survives_every_format(new_db, fmt):
    with new_db() as db:
        ingest.import_data(db, json.dumps({"organisations": EVIDENT_ORGS, "projects": [EVIDENT]}).encode(), "json")
        orgs, [p] = stored(db, ["evident"])
        assert p["evidence"] == EVIDENT["evidence"] and p["locations"][0]["source"] == 1
        assert [(r["org"], r["basis"], r["source"], r["reason"]) for r in p["organisations"]] == [
            ("ev-ministry", "inferred", None, "=area lead"), ("ev-council", "stated", 1, None),
            ("ev-ministry", None, None, None)]
        text = exports.export_text(fmt, orgs, [p])
        with new_db() as empty:
            ingest.import_data(empty, exports.export_text("json", orgs, []).encode(), "json")
            ingest.import_data(empty, text.encode(), fmt)
            assert stored(empty, ["evident"]) == (orgs, [p])
            assert orgs[1]["evidence"] == EVIDENT_ORGS[1]["evidence"]


def test_role_cells_keep_plain_ids_and_older_lists():
    assert cells.split_roles("agc; gef|basis=stated|source=2;unep|basis=inferred|reason=a\\; b") == [
        {"org": "agc"}, {"org": "gef", "basis": "stated", "source": "2"},
        {"org": "unep", "basis": "inferred", "reason": "a; b"}]     # \\; is a ; inside a value
    assert cells.split_roles("agc|gef") == [{"org": "agc"}, {"org": "gef"}]     # older files: | between ids
    assert cells.join_roles([{"org": "agc", "basis": None}, {"org": "gef", "basis": "inferred", "reason": "x;y"}]) == \
        "agc;gef|basis=inferred|reason=x\\;y"


@pytest.mark.parametrize("column, cell, expected", [
    ("funders", "agc|basis=stated|colour=red", "'colour' is not a field here; the fields are: org, basis, source, reason"),
    ("partners", "agc|basis=stated|basis=inferred", "given twice"),
    ("evidence", "status|stated|source=1; status|inferred|reason=x", "'status' is given twice"),
    ("evidence", "|stated|source=1", "names no field"),
    ("evidence", "status|stated|1", "should be key=value"),
])
def test_unreadable_role_and_evidence_cells_name_row_and_column(db, column, cell, expected):
    body = f'id,title,area,locations,{column}\nbad-row,Bad,asgm,World|||global,"{cell}"\n'
    [problem] = rejected(db, body.encode(), "csv")
    assert (problem.where, problem.field) == ("row 2", column) and expected in problem.message, problem


def test_a_wrong_basis_in_a_csv_names_row_column_and_fix(db):
    body = 'id,title,area,status,locations,evidence,sources\nx,X,asgm,ongoing,World|||global,status|stated|source=4,"II|q"\n'
    [problem] = rejected(db, body.encode(), "csv")
    assert problem.describe() == ("row 2, column evidence (entry status, source): there is no source 4: this "
                                  "record has 1 source; give 1")


def test_sources_in_both_the_new_and_the_old_columns_is_an_error(db):
    body = 'id,title,area,locations,sources,source_quote\nx,X,asgm,World|||global,"II|A quote",Another quote\n'
    [problem] = rejected(db, body.encode(), "csv")
    assert (problem.where, problem.field) == ("row 2", "sources") and "not both" in problem.message


@pytest.mark.parametrize("doc, field, expected", [
    ({"projects": [{"id": "x", "title": "X", "area": "asgm", "colour": "red",
                    "locations": [{"name": "W", "precision": "global"}]}]}, "colour", "is not a field of a project"),
    ({"projects": [{"id": "x", "title": "X", "area": "asgm",
                    "locations": [{"name": "W", "precision": "global", "altitude": 3}]}]},
     "locations[1].altitude", "is not a field of a location"),
    ({"organisations": [{"id": "o", "name": "O", "budget": 3}]}, "budget", "is not a field of an organisation"),
])
def test_unknown_json_fields_are_errors_not_ignored(db, doc, field, expected):
    problems = rejected(db, json.dumps(doc).encode(), "json")
    assert [(p.field, expected in p.message) for p in problems] == [(field, True)]


def geojson(properties, geometry):
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": geometry, "properties": properties}]}).encode()


@pytest.mark.parametrize("locations_, geometry, field, expected", [
    ([{"name": "A", "precision": "site", "geometry_index": 1}], {"type": "Point", "coordinates": [1, 2]},
     "locations[1].geometry_index", "not a position"),
    ([{"name": "A", "precision": "site", "geometry_index": 0, "lat": 2, "lon": 1}],
     {"type": "Point", "coordinates": [1, 2]}, "locations[1].geometry_index", "remove lat/lon"),
    ([{"name": "A", "precision": "site"}], {"type": "Point", "coordinates": [1, 2, 30]}, "geometry", "altitude"),
])
def test_geojson_positions_are_never_dropped_or_guessed(db, locations_, geometry, field, expected):
    properties = {"id": "geo-x", "title": "X", "area": "asgm", "locations": locations_}
    [problem] = rejected(db, geojson(properties, geometry), "geojson")
    assert (problem.where, problem.field) == ("feature 1", field) and expected in problem.message


def test_export_reads_in_a_constant_number_of_queries(db):
    def statements(ids):
        seen = []
        db.conn.set_trace_callback(seen.append)
        try:
            storage.export_records(db, ids, all_organisations=True)
        finally:
            db.conn.set_trace_callback(None)
        return len(seen)
    every = [r[0] for r in db.execute("SELECT id FROM projects")]
    assert len(every) > 200 and statements(every[:3]) == statements(every)


def test_country_codes_in_the_generator_are_real():
    assert all(geo.get_country(code) for code in COUNTRIES)
