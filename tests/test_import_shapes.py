"""Malformed JSON and GeoJSON *shapes* through the real importer: a realistic document with any node
replaced by a value of another JSON type (very long numbers and deep nesting included) is refused with a
ValidationError whose Problems say where and what, never another exception, and nothing is stored; the
same through the web import upload (a 4xx page, never a 500) and `flask import` (exit 1 and a message).

Issue 11, finding 8: GeoJSON `properties` that is a list, `location_names` that is an object or a number,
`locations` that is a number, a latitude of 400 digits. Random bytes (tests/test_bad_input.py) rarely get
past the JSON parser; these documents do, and reach every level of the readers and the validation.
"""
import copy
import io
import json
import re
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import csrf_token, logged_in, make_app
from registry.core.validate import Problem, ValidationError
from registry.exchange import exports, ingest
from registry.store import db as storage

from test_bad_input import cli_import, snapshot

# --- a realistic document: two projects (one the other's part), the organisation they name and the source ---
# --- record they cite ------------------------------------------------------------------------------------

ORGANISATION = {"id": "shape-test-org", "name": "Shape Test Institute", "acronym": "STI", "aliases": ["Shape Inst."],
                "type": "academia", "country": "KEN", "website": "https://shape.example", "leads_areas": ["asgm"]}
NEWSLETTER = {"id": "shape-test-newsletter", "title": "Shape test newsletter", "publisher": "Shape Test Institute",
              "date": "2024-05", "url": "https://shape.example/newsletter", "reference": None, "kind": "news",
              "consulted": "2026-12-01"}
SOURCE = {"document": "shape-test-newsletter", "section": "2.1", "quote": "The pilot runs at two sites."}
PROGRAMME = {
    "id": "shape-test-programme", "title": "Shape test programme", "summary": "A programme.",
    "description": "Mercury-free gold processing\nat two sites.", "kind": "programme", "area": "asgm",
    "other_areas": ["waste"], "status": "ongoing", "start_year": 2020, "end_year": 2024, "parent": None,
    "countries": ["GHA", "KEN"], "keywords": ["gold", "borax"], "website": "https://programme.example",
    "locations": [
        {"name": "Migori", "precision": "site", "lat": -1.06, "lon": 34.47, "country": "KEN",
         "coords_source": "report", "gazetteer_id": None, "basis": "stated", "reason": None},
        {"name": "Tarkwa", "precision": "subnational", "lat": 5.3, "lon": -1.99, "country": "GHA",
         "coords_source": "editor", "gazetteer_id": None, "basis": "inferred", "reason": "the district named"},
        {"name": "Ghana", "precision": "country", "lat": None, "lon": None, "country": "GHA",
         "coords_source": None, "gazetteer_id": None, "basis": "stated", "reason": None},
        {"name": "Worldwide", "precision": "global", "lat": None, "lon": None, "country": None,
         "coords_source": None, "gazetteer_id": None, "basis": "stated", "reason": None}],
    "organisations": [{"org": "shape-test-org", "role": "lead"}, {"org": "shape-test-org", "role": "funder"}],
    "sources": [SOURCE],
}
PART = dict(PROGRAMME, id="shape-test-part", title="Shape test part", kind="project", parent="shape-test-programme",
            countries=["KEN"], locations=PROGRAMME["locations"][:1], organisations=PROGRAMME["organisations"][:1])


def json_document():
    return copy.deepcopy(exports.export_json([ORGANISATION], [PROGRAMME, PART], [NEWSLETTER]))


def geojson_document():
    """The export's shape, plus an older file's unclaimed position named by `location_names`."""
    doc = copy.deepcopy(exports.export_geojson([ORGANISATION], [PROGRAMME, PART], [NEWSLETTER]))
    part = doc["features"][1]
    part["geometry"] = {"type": "MultiPoint", "coordinates": [part["geometry"]["coordinates"], [34.75, -0.1]]}
    part["properties"].update(location_names=[None, "Kisumu"], precision="site")
    return doc


DOCUMENTS = {"json": json_document, "geojson": geojson_document}


# --- mutations: any node replaced by a value of another JSON type, keys removed, nesting --------------------

def json_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float, RawNumber)):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


class RawNumber(str):
    """A number written as this exact text in the document (JSON can hold numbers Python floats cannot)."""


LONG_NUMBERS = ["1" + "0" * 400, "-" + "9" * 400, "0." + "0" * 400 + "1", "1e400", "-1E-400", "4" * 400 + ".5",
                "123456789012345678901234567890.123456789"]
leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                 st.text(max_size=12))
json_values = st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                           max_leaves=8)
BY_TYPE = {
    "null": st.none(),
    "boolean": st.booleans(),
    "number": st.one_of(st.integers(), st.integers(min_value=10 ** 18, max_value=10 ** 400), st.just(-(2 ** 63)),
                        st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(LONG_NUMBERS).map(RawNumber)),
    "string": st.one_of(st.text(max_size=12), st.sampled_from(["", "1e309", "nan", "12_000", "KEN", "x" * 6000])),
    "array": st.one_of(st.just([]), st.lists(json_values, min_size=1, max_size=3)),
    "object": st.one_of(st.just({}), st.dictionaries(st.text(max_size=6), json_values, min_size=1, max_size=3)),
}


def nested(value, depth, as_object):
    for _ in range(depth):
        value = {"k": value} if as_object else [value]
    return value


def paths(node, prefix=()):
    """Every node of the document, as a path of keys and list indexes (the root is ())."""
    yield prefix
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        yield from paths(child, prefix + (key,))


def get(doc, path):
    for key in path:
        doc = doc[key]
    return doc


def must_fail(original, replacement):
    """Replacements no reading of the document can accept: a list or mapping where a value was, a record
    (mapping) turned into anything but null, a list turned into a mapping, number or true/false (a string
    may stand for a list of words: "KEN; BRA")."""
    if isinstance(replacement, (dict, list)) and not isinstance(original, (dict, list)):
        return True
    if isinstance(original, dict) and replacement is not None and not isinstance(replacement, dict):
        return True
    return isinstance(original, list) and json_type(replacement) in ("object", "number", "boolean")


@st.composite
def mutated(draw, fmt):
    """(document text, why it must be refused or None): 1-3 nodes of a valid document replaced or removed."""
    doc, refusals, changed = DOCUMENTS[fmt](), {}, []
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(paths(doc))))
        original = get(doc, path)
        refusals = {p: why for p, why in refusals.items() if p[:len(path)] != path}   # replaced again: gone
        pristine = not any(path[:len(p)] == p for p in changed)     # `original` is the valid document's
        changed.append(path)
        if path and isinstance(path[-1], str) and draw(st.booleans()) and draw(st.booleans()):
            del get(doc, path[:-1])[path[-1]]        # a key left out
            continue
        kind = draw(st.sampled_from([t for t in BY_TYPE if t != json_type(original) or t == "number"]))
        value = draw(BY_TYPE[kind])
        if draw(st.integers(0, 5)) == 0:             # deep nesting, around the readers' limit of 32 levels
            value = nested(value, draw(st.integers(1, 40)), draw(st.booleans()))
        if pristine and must_fail(original, value):
            refusals[path] = f"{'/'.join(map(str, path))}: {str(original)[:60]} -> {str(value)[:60]}"
        if path:
            get(doc, path[:-1])[path[-1]] = value
        else:
            doc = value
    return dump(doc), "; ".join(refusals.values()) or None


def dump(doc):
    """JSON text; RawNumber values written as bare numbers."""
    raw = []

    def placeholder(node):
        if isinstance(node, RawNumber):
            raw.append(str(node))
            return f"@@raw{len(raw) - 1}@@"
        if isinstance(node, dict):
            return {k: placeholder(v) for k, v in node.items()}
        if isinstance(node, list):
            return [placeholder(v) for v in node]
        return node

    text = json.dumps(placeholder(doc))
    return re.sub(r'"@@raw(\d+)@@"', lambda m: raw[int(m.group(1))], text).encode()


# --- what a refusal must look like -----------------------------------------------------------------------

RECORD_LABEL = re.compile(r"^(projects\[\d+\]|organisations\[\d+\]|sources\[\d+\]|feature \d+)$")
PYTHON_ERRORS = re.compile(r"Traceback|Error\b|object is not|unhashable|NoneType|int too large|not subscriptable")


def assert_explained(problems):
    """Problems that say where (a record's label, or nothing for the whole file) and what, in words."""
    assert problems
    for p in problems:
        assert isinstance(p, Problem) and len(p.message) > 10, p
        assert p.where == "" or RECORD_LABEL.match(p.where), p
        assert not PYTHON_ERRORS.search(p.message), p


@pytest.fixture(scope="module")
def shapes(seeded_instance, tmp_path_factory):
    """A private copy of the seeded registry for this module: (folder, connection)."""
    folder = tmp_path_factory.mktemp("shapes") / "instance"
    shutil.copytree(seeded_instance, folder)
    conn = storage.connect(str(folder / "registry.db"))
    yield folder, conn
    conn.conn.close()


@pytest.mark.parametrize("fmt", DOCUMENTS)
def test_the_unmutated_documents_import(shapes, fmt):
    """The documents the mutations start from are valid, so a refusal is the mutation's doing."""
    report = ingest.import_data(shapes[1], dump(DOCUMENTS[fmt]()), fmt, dry_run=True)
    assert set(report.added) | set(report.unchanged) == {"shape-test-programme", "shape-test-part"}


SHAPES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SHAPES
@given(data=st.data(), fmt=st.sampled_from(sorted(DOCUMENTS)))
def test_malformed_shapes_through_import_data(shapes, data, fmt):
    import_refuses_in_words(shapes, fmt, *data.draw(mutated(fmt)))


@pytest.mark.slow   # about 20 s (1,500 documents)
@settings(SHAPES, max_examples=1500)
@given(data=st.data(), fmt=st.sampled_from(sorted(DOCUMENTS)))
def test_many_malformed_shapes_through_import_data(shapes, data, fmt):
    import_refuses_in_words(shapes, fmt, *data.draw(mutated(fmt)))


def import_refuses_in_words(shapes, fmt, text, refused):
    """The real import of `text`: a ValidationError that explains itself and stores nothing, or (for a
    document still valid after its mutations) a successful import."""
    folder, conn = shapes
    before = snapshot(folder / "registry.db")
    try:
        ingest.import_data(conn, text, fmt)
    except ValidationError as exc:
        assert_explained(exc.problems)
        assert snapshot(folder / "registry.db") == before
        return
    assert not refused, f"a document of the wrong shape was accepted: {refused}"


@pytest.fixture(scope="module")
def uploader(shapes):
    """An editor's client on the module's registry, and a CSRF token for the import form."""
    app = make_app(shapes[0])
    client = logged_in(app, "shape-editor", "editor")
    return client, csrf_token(client, "/editor/import")


def upload(uploader, text, fmt):
    client, token = uploader
    return client.post("/editor/import", data={"csrf_token": token, "format": fmt,
                                               "file": (io.BytesIO(text), f"upload.{fmt}")})


@settings(SHAPES, max_examples=60)
@given(data=st.data(), fmt=st.sampled_from(sorted(DOCUMENTS)))
def test_malformed_shapes_through_the_web_upload(shapes, uploader, data, fmt):
    text, refused = data.draw(mutated(fmt))
    before = snapshot(shapes[0] / "registry.db")
    response = upload(uploader, text, fmt)
    page = response.get_data(as_text=True)
    assert response.status_code in (200, 400), page[:300]
    if response.status_code == 400:
        assert "nothing was stored" in page.lower()
    assert not (refused and response.status_code == 200), f"a document of the wrong shape was accepted: {refused}"
    assert snapshot(shapes[0] / "registry.db") == before      # the upload is a preview: it never writes


# --- the findings, one by one, on every way in ---------------------------------------------------------------

def with_property(**props):
    doc = geojson_document()
    doc["features"][1]["properties"].update(props)
    return doc


def feature_properties(value):
    doc = geojson_document()
    doc["features"][1]["properties"] = value
    return doc


def long_latitude(fmt):
    """A latitude of 400 digits (a JSON number: in the geometry for GeoJSON, the location for JSON)."""
    doc = DOCUMENTS[fmt]()
    if fmt == "geojson":
        doc["features"][1]["geometry"]["coordinates"][1][1] = RawNumber("1" * 400)
    else:
        doc["projects"][1]["locations"][0]["lat"] = RawNumber("1" * 400)
    return doc


FINDINGS = [
    ("properties-list", "geojson", feature_properties([["id", "x"], ["title", "y"]]), "feature 2",
     "properties", "must be an object"),
    ("properties-empty-list", "geojson", feature_properties([]), "feature 2", "properties", "must be an object"),
    ("location-names-object", "geojson", with_property(location_names={"1": "Kisumu"}), "feature 2",
     "location_names", "must be a list"),
    ("location-names-number", "geojson", with_property(location_names=5), "feature 2", "location_names",
     "must be a list"),
    ("location-names-entry", "geojson", with_property(location_names=[None, {"name": "Kisumu"}]), "feature 2",
     "location_names[2]", "must be text"),
    ("location-names-too-many", "geojson", with_property(location_names=[None, "Kisumu", "Lost"]), "feature 2",
     "location_names", "3 names"),
    ("locations-number", "geojson", with_property(locations=5), "feature 2", "locations", "must be a list"),
    ("locations-false", "geojson", with_property(locations=False), "feature 2", "locations", "must be a list"),
    ("json-locations-number", "json", {"projects": [dict(PART, locations=5)]}, "projects[1]", "locations",
     "must be a list"),
    ("json-sources-object", "json", {"organisations": [ORGANISATION], "projects": [dict(PART, sources={})]},
     "projects[1]", "sources", "must be a list"),
    ("json-organisations-false", "json", {"organisations": False, "projects": [PROGRAMME]}, "", "organisations",
     "must be a list"),
    ("geojson-latitude-400-digits", "geojson", long_latitude("geojson"), "feature 2", "geometry", "out of range"),
    ("json-latitude-400-digits", "json", long_latitude("json"), "projects[2]", "locations[1].lat", "out of range"),
    ("json-longitude-huge-negative", "json", {"organisations": [ORGANISATION], "projects": [
        dict(PART, locations=[dict(PART["locations"][0], lon=RawNumber("-" + "9" * 400))])]}, "projects[1]",
     "locations[1].lon", "out of range"),
    ("json-year-400-digits", "json", {"organisations": [ORGANISATION], "projects": [
        dict(PART, start_year=RawNumber("2" * 400))]}, "projects[1]", "start_year", "is not a year"),
    ("json-number-of-5000-digits", "json", {"projects": [dict(PART, start_year=RawNumber("2" * 5000))]}, "", "",
     "more than 4300 digits"),
]


@pytest.mark.parametrize("case, fmt, doc, where, field, message", FINDINGS, ids=[f[0] for f in FINDINGS])
def test_finding_through_import_data(shapes, case, fmt, doc, where, field, message):
    folder, conn = shapes
    before = snapshot(folder / "registry.db")
    with pytest.raises(ValidationError) as exc:
        ingest.import_data(conn, dump(doc), fmt)
    assert_explained(exc.value.problems)
    assert any((p.where, p.field) == (where, field) and message in p.message for p in exc.value.problems), \
        exc.value.problems
    assert snapshot(folder / "registry.db") == before


@pytest.mark.parametrize("case, fmt, doc, where, field, message", FINDINGS, ids=[f[0] for f in FINDINGS])
def test_finding_through_the_web_upload(shapes, uploader, case, fmt, doc, where, field, message):
    before = snapshot(shapes[0] / "registry.db")
    response = upload(uploader, dump(doc), fmt)
    page = response.get_data(as_text=True)
    assert response.status_code == 400, page[:500]
    assert message in page and (where or "") in page
    assert snapshot(shapes[0] / "registry.db") == before


@pytest.mark.parametrize("case, fmt, doc, where, field, message", FINDINGS, ids=[f[0] for f in FINDINGS])
def test_finding_through_the_cli(shapes, tmp_path, case, fmt, doc, where, field, message):
    path = tmp_path / f"upload.{fmt}"
    path.write_bytes(dump(doc))
    before = snapshot(shapes[0] / "registry.db")
    result = cli_import(shapes[0], path)
    assert result.exit_code == 1, result.output
    assert "nothing was stored" in result.output and message in result.output and where in result.output
    assert "Traceback" not in result.output
    assert snapshot(shapes[0] / "registry.db") == before


def test_mutations_reach_every_node():
    """The strategy's paths cover the documents' every level: properties, locations, their keys, geometry."""
    geo = {path[-1] for path in paths(geojson_document()) if path}
    assert {"properties", "geometry", "coordinates", "location_names", "geometry_index", "lat", "org",
            "organisations", "features"} <= geo
    deep = max(len(path) for path in paths(json_document()))
    assert deep >= 4 and copy.deepcopy(json_document()) == json_document()
