"""CSV import (README.md, "Import formats"): a row with countries and no locations gets one country-level
location per country, stated; through the real importer into a real SQLite file."""
import pytest

from registry.core.validate import ValidationError
from registry.exchange import ingest

HEADER = "id,title,area,countries,locations,sources\n"


def test_a_row_with_countries_and_no_locations_gets_country_locations(db):
    ingest.import_data(db, (HEADER + "csv-countries-only,Countries only,asgm,GHA;bfa,,II.1|A quote.|\n").encode(), "csv")
    rows = [dict(r) for r in db.query("SELECT name, precision, country, basis, coords_source, lat, lon FROM locations "
                                      "WHERE project_id = 'csv-countries-only' ORDER BY id")]
    assert [(r["name"], r["precision"], r["country"], r["basis"]) for r in rows] == [
        ("Ghana", "country", "GHA", "stated"), ("Burkina Faso", "country", "BFA", "stated")]
    assert all(r["lat"] is not None and r["coords_source"] == "country-point" for r in rows)


def test_written_locations_are_kept_as_they_are(db):
    ingest.import_data(db, (HEADER + "csv-with-place,With a place,asgm,GHA,Tarkwa|5.3|-1.99|site,II.1|A quote.|\n")
                       .encode(), "csv")
    assert [r[0] for r in db.execute("SELECT name FROM locations WHERE project_id = 'csv-with-place'")] == ["Tarkwa"]


def test_an_unknown_country_is_one_error_on_countries(db):
    with pytest.raises(ValidationError) as caught:
        ingest.import_data(db, (HEADER + "csv-bad,Bad,asgm,XKX,,II.1|A quote.|\n").encode(), "csv")
    assert "countries" in str(caught.value) and "locations[1].country" not in str(caught.value)
    assert db.execute("SELECT count(*) FROM projects WHERE id = 'csv-bad'").fetchone()[0] == 0
