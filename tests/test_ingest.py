"""The importer and the CLI: all or nothing, row-by-row reports, round-trips with the exports."""
import json
import subprocess
import sys

import pytest

from registry.store import db as storage
from registry.exchange import exports
from registry.exchange import ingest
from registry.core.validate import ValidationError

from conftest import ROOT

HEADER = "id,title,area,status,countries,locations,funders,implementers,source_quote\n"
GOOD_ROWS = ('new-kenya-project,Retorts for Migori miners,asgm,ongoing,KEN,"Migori|-1.06|34.47|subnational",gef,agc,"We did it."\n'
             'new-global-study,Global mercury study,air-transport,planned,,"World|||global",,bri,\n')


def snapshot(db):
    return storage.counts(db), db.execute("SELECT max(rowid) FROM locations").fetchone()[0], storage.data_version(db)


def cli(instance, *args):
    env = {"REGISTRY_DATABASE": str(instance / "registry.db"), "REGISTRY_INDEX_DIR": str(instance / "index"),
           "REGISTRY_CACHE_DIR": str(instance / "cache"), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "registry", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_import_good_csv_adds_projects(db):
    report = ingest.import_data(db, (HEADER + GOOD_ROWS).encode(), "csv")
    assert report.added == ["new-kenya-project", "new-global-study"]
    p = storage.get_project(db, "new-kenya-project")
    assert p["countries"] == ["KEN"] and p["locations"][0]["precision"] == "subnational"
    assert {(o["id"], o["role"]) for o in p["organisations"]} == {("gef", "funder"), ("agc", "implementer")}
    again = ingest.import_data(db, (HEADER + GOOD_ROWS).encode(), "csv")
    assert again.unchanged == ["new-kenya-project", "new-global-study"] and again.added == []


def test_dry_run_stores_nothing(db):
    before = snapshot(db)
    report = ingest.import_data(db, (HEADER + GOOD_ROWS).encode(), "csv", dry_run=True)
    assert len(report.added) == 2 and snapshot(db) == before


@pytest.mark.parametrize("case, body, expected", [
    ("bad-last-row", HEADER + GOOD_ROWS + "bad,Bad,asgm,ongoing,KEN,\"X|95|0|site\",,,\n", "row 4: locations[1].lat"),
    ("unknown-org", HEADER + "p1,T,asgm,ongoing,KEN,\"Kenya|||country\",ghost-org,,\n", "'ghost-org' does not exist"),
    ("unterminated-quote", HEADER + 'p1,"T,asgm\n', "unterminated quote"),
    ("extra-cells", HEADER + "p1,T,asgm,ongoing,KEN,x,,,,extra\n", "has 10 cells, expected 9"),
    ("duplicate-header", "id,title,title,area\n", "duplicate column"),
    ("unknown-column", "id,title,area,is_admin\n", "unknown column"),
    ("missing-title-column", "id,area\np1,asgm\n", "'title' is missing"),
    ("nul", HEADER + "p1,T\x00,asgm,ongoing,KEN,\"Kenya|||country\",,,\n", "control characters"),
    ("nan", HEADER + "p1,T,asgm,ongoing,KEN,\"X|nan|0|site\",,,\n", "lat"),
    ("bad-country", HEADER + "p1,T,asgm,ongoing,XXX,\"World|||global\",,,\n", "'XXX' is not a known"),
])
def test_bad_csv_is_rejected_whole(db, case, body, expected):
    before = snapshot(db)
    with pytest.raises(ValidationError) as exc:
        ingest.import_data(db, body.encode(), "csv")
    assert expected in " ".join(exc.value.errors)
    assert snapshot(db) == before


@pytest.mark.parametrize("data, expected", [
    (b"\xff\xfeid,title\n", "UTF-8"),
    (b"PK\x03\x04zipzip", "not text"),
    (b"\x89PNG\r\n\x1a\n", "not text"),
])
def test_binary_or_wrong_encoding(db, data, expected):
    with pytest.raises(ValidationError, match=expected):
        ingest.import_data(db, data, "csv")


def test_bom_is_accepted(db):
    report = ingest.import_data(db, ("\ufeff" + HEADER + GOOD_ROWS).encode(), "csv")
    assert len(report.added) == 2


@pytest.mark.parametrize("doc, expected", [
    ('{"type": "FeatureCollection", "features": [', "invalid JSON at line 1"),
    ("[" * 5000 + "]" * 5000, "nested too deeply"),
    ('{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[NaN,0]},"properties":{}}]}', "NaN"),
    ('{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"coordinates":[1,2]},"properties":{}}]}', "geometry type missing"),
    ('{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Circle","coordinates":[1,2]},"properties":{}}]}', "unsupported geometry type"),
    ('{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[500,100]},"properties":{}}]}', "out of range"),
    ('{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":["1","2"]},"properties":{}}]}', "numbers"),
    ('{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"EPSG:3857"}},"features":[]}', "WGS84"),
    ('<kml xmlns="http://www.opengis.net/kml/2.2"></kml>', "invalid JSON"),
])
def test_bad_geojson_is_rejected(db, doc, expected):
    before = snapshot(db)
    with pytest.raises(ValidationError) as exc:
        ingest.import_data(db, doc.encode(), "geojson")
    assert expected in " ".join(exc.value.errors)
    assert snapshot(db) == before


def test_good_geojson_and_json(db):
    gj = {"type": "FeatureCollection", "features": [{"type": "Feature",
          "geometry": {"type": "MultiPoint", "coordinates": [[34.47, -1.06], [35.0, -0.5]]},
          "properties": {"id": "gj-project", "title": "Two sites", "area": "asgm", "countries": ["KEN"],
                         "location_names": ["Migori", "Kisumu"], "organisations": [{"org": "unep", "role": "lead"}]}}]}
    assert ingest.import_data(db, json.dumps(gj).encode(), "geojson").added == ["gj-project"]
    assert [loc["name"] for loc in storage.get_project(db, "gj-project")["locations"]] == ["Migori", "Kisumu"]
    doc = {"organisations": [{"id": "new-ngo", "name": "New NGO", "type": "ngo"}],
           "projects": [{"id": "json-project", "title": "J", "area": "waste", "locations": [{"name": "World", "precision": "global"}],
                         "organisations": [{"org": "new-ngo", "role": "implementer"}]}]}
    report = ingest.import_data(db, json.dumps(doc).encode(), "json")
    assert report.added == ["json-project"] and report.organisations == ["new-ngo"]


def test_export_csv_round_trips_and_neutralises_formulas(db):
    ingest.import_data(db, (HEADER + 'formula,"=HYPERLINK(""http://x"")",asgm,ongoing,KEN,"Kenya|||country",,,\n').encode(), "csv")
    _, [p] = storage.export_records(db, ["formula"])
    assert p["title"].startswith("=HYPERLINK")
    text = exports.export_csv([p])
    assert "'=HYPERLINK" in text
    assert ingest.import_data(db, text.encode(), "csv", dry_run=True).unchanged == ["formula"]
    ingest.import_data(db, (HEADER + GOOD_ROWS).encode(), "csv")
    _, projects = storage.export_records(db, ["new-kenya-project", "new-global-study"])
    report = ingest.import_data(db, exports.export_csv(projects).encode(), "csv", dry_run=True)
    assert report.unchanged == ["new-kenya-project", "new-global-study"]


@pytest.mark.slow   # `flask` in subprocesses
def test_cli_import_reports_rows_and_stores_nothing_on_error(instance, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + GOOD_ROWS + "bad,Bad,asgm,ongoing,KEN,\"X|95|0|site\",,,\n")
    result = cli(instance, "import", str(bad))
    assert result.returncode == 1
    assert "nothing was stored" in result.stderr and "row 4, column locations (entry 1, lat)" in result.stderr
    db = storage.connect(instance / "registry.db")
    assert storage.get_project(db, "new-kenya-project") is None
    good = tmp_path / "good.csv"
    good.write_text(HEADER + GOOD_ROWS)
    assert "Would add 2" in cli(instance, "import", "--dry-run", str(good)).stdout
    result = cli(instance, "import", str(good))
    assert result.returncode == 0, result.stderr
    assert "Added 2" in result.stdout
    assert storage.get_project(db, "new-kenya-project") is not None


@pytest.mark.slow   # `flask` in subprocesses
def test_cli_stats_and_export(instance):
    stats = cli(instance, "stats").stdout
    assert "projects:" in stats
    exported = json.loads(cli(instance, "export", "--format", "geojson").stdout)
    assert exported["type"] == "FeatureCollection" and exported["features"]
