"""The seed: the whole report, loaded through the real loader into a real SQLite file."""
import re
from collections import Counter

import pytest
import yaml

from registry.store import db as storage
from registry.core import geo
from registry.exchange import ingest
from registry.core.validate import AREAS

from conftest import REPORT, SEED_DIR

REPORT_TEXT = REPORT.read_text("utf-8")
_SEED = ingest.read_yaml_dir(SEED_DIR)
RAW_ORGS, RAW_PROJECTS = _SEED.organisations, _SEED.projects
PROJECTS = [raw for _, raw in RAW_PROJECTS]
ORGS = [raw for _, raw in RAW_ORGS]


def test_seed_is_large_and_complete():
    assert len(PROJECTS) > 150
    assert len(ORGS) > 100


def test_every_quote_is_in_the_report():
    missing = [(p["id"], s["quote"][:60]) for p in PROJECTS for s in p["sources"] if s["quote"] not in REPORT_TEXT]
    assert missing == []


def test_every_project_has_a_source_and_a_location():
    assert [p["id"] for p in PROJECTS if not p.get("sources")] == []
    assert [p["id"] for p in PROJECTS if not p.get("locations")] == []


def test_no_duplicate_ids():
    assert [i for i, n in Counter(p["id"] for p in PROJECTS).items() if n > 1] == []
    assert [i for i, n in Counter(o["id"] for o in ORGS).items() if n > 1] == []


def test_every_country_code_is_real():
    known = {c.iso3 for c in geo.all_countries()}
    bad = [(p["id"], c) for p in PROJECTS for c in p.get("countries") or [] if c not in known]
    bad += [(o["id"], o["country"]) for o in ORGS if o.get("country") and o["country"] not in known]
    assert bad == []


def test_every_role_points_at_a_real_organisation():
    ids = {o["id"] for o in ORGS}
    assert [(p["id"], r["org"]) for p in PROJECTS for r in p.get("organisations") or [] if r["org"] not in ids] == []


def test_located_projects_have_points_or_say_why_not(seeded_instance):
    db = storage.connect(seeded_instance / "registry.db")
    rows = db.execute("SELECT project_id, name, precision, coords_source FROM locations WHERE lat IS NULL").fetchall()
    # a country always has its point; a site or area without one is one that no source or gazetteer places
    # (listed as "not placed on the map", never given an invented point: test_provenance.py)
    assert [r for r in rows if r[2] == "country" or r[3] is not None] == []
    assert any(r[2] == "site" for r in rows) and any(r[2] == "subnational" for r in rows)
    # every project can be shown: a point, a region/global precision, or a place listed beside the map
    unshown = db.execute("SELECT id FROM projects p WHERE NOT EXISTS (SELECT 1 FROM locations l WHERE l.project_id = p.id)")
    assert unshown.fetchall() == []


PLANETGOLD = {"BFA", "COL", "GUY", "IDN", "KEN", "MNG", "PER", "PHL",          # first eight
              "BOL", "GHA", "HND", "MDG", "NGA", "COG", "SUR", "UGA",          # June 2020 expansion
              "SLE", "ZMB", "MLI", "GIN", "CIV", "NIC", "ECU"}                 # June 2021 expansion


def test_each_planetgold_country_project_is_separate(seeded_instance):
    db = storage.connect(seeded_instance / "registry.db")
    rows = db.execute("""SELECT c.iso3 FROM projects p JOIN project_countries c ON c.project_id = p.id
                         WHERE p.parent_id = 'planetgold' AND p.kind = 'country-project'""").fetchall()
    assert PLANETGOLD <= {r[0] for r in rows}


@pytest.mark.parametrize("text, iso3", [
    ("Republic of the Congo", "COG"), ("Democratic Republic of the Congo", "COD"),
    ("French Department of Guyane", "GUF"), ("Guyana", "GUY"), ("Ivory Coast", "CIV"),
])
def test_country_spellings_of_the_report(text, iso3):
    assert geo.lookup_country(text).iso3 == iso3


def test_congo_and_guyane_are_told_apart(seeded_instance):
    db = storage.connect(seeded_instance / "registry.db")
    codes = {r[0] for r in db.execute("SELECT iso3 FROM project_countries")}
    assert {"COG", "COD", "GUF", "GUY"} <= codes


def test_named_places_have_the_right_precision(seeded_instance):
    db = storage.connect(seeded_instance / "registry.db")
    rows = {r[0].lower(): (r[1], r[2], r[3]) for r in db.execute("SELECT name, precision, lat, coords_source FROM locations")}
    for needle in ("kuantan singingi", "tonk", "zorgho", "tarkwa"):
        matches = [v for k, v in rows.items() if needle in k]
        assert matches, needle
        assert all(m[0] in ("site", "subnational") for m in matches), needle
        # a point only where the shipped gazetteer has the place (Zorgho, Tarkwa); districts are unplaced
        assert all((m[1] is not None) == (m[2] == "gazetteer") for m in matches), needle
    assert rows["zorgho, ganzourgou province"][2] == "gazetteer" and rows["kuantan singingi, riau, indonesia"][1] is None


def test_headline_figures_are_quoted_from_the_report():
    facts = yaml.safe_load((SEED_DIR.parent / "facts.yaml").read_text("utf-8"))
    assert facts["quote"] in REPORT_TEXT and facts["areas_quote"] in REPORT_TEXT
    assert facts["figures"]
    for f in facts["figures"]:
        assert re.search(rf"\b{f['value']}\b", facts["quote"])


def test_every_area_has_projects(seeded_instance):
    db = storage.connect(seeded_instance / "registry.db")
    present = {r[0] for r in db.execute("SELECT DISTINCT area FROM projects")}
    assert set(AREAS) - {"cross-cutting"} <= present


def test_loader_rejects_a_bad_seed_and_stores_nothing(tmp_path, seeded_instance):
    import shutil
    seed = tmp_path / "seed"
    shutil.copytree(SEED_DIR, seed)
    path = seed / "projects-zz.yaml"
    path.write_text(yaml.safe_dump([{"id": "bad-one", "title": "Bad", "area": "asgm", "countries": ["XXX"],
                                     "locations": [{"name": "Nowhere", "precision": "site", "lat": 95, "lon": 0}],
                                     "sources": [{"quote": "not in the report at all"}]}]))
    db_path = tmp_path / "r.db"
    shutil.copy(seeded_instance / "registry.db", db_path)
    db = storage.connect(db_path)
    before = storage.counts(db)
    with pytest.raises(ingest.ValidationError) as exc:
        ingest.load_seed(db, seed, REPORT)
    text = " ".join(exc.value.errors)
    assert "projects-zz.yaml #1" in text and "lat" in text
    assert storage.counts(db) == before
