"""/stats: every number of every chart equals an SQL count written here independently (with and without
filters), the SVGs are XML labelled for screen readers, the PNGs are PNGs, each CSV equals its table, and a
bad query is a 400 as on the list."""
import csv
import io
import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from PIL import Image

from conftest import XSS_ORG, import_samples
from registry.core import geo
from registry.core.validate import AREAS, ORG_TYPES, STATUSES
from registry.exchange import ingest
from registry.store import db as storage

SVG_NS = "{http://www.w3.org/2000/svg}"
CHARTS = ("area-status", "start-year", "countries", "funders", "organisation-types")

# query string -> the SQL of its selection, written here by hand (not through the registry's _where)
SELECTIONS = {
    "": "SELECT id FROM projects",
    "funder=GEF&status=ongoing": "SELECT id FROM projects WHERE status = 'ongoing' AND id IN "
                                 "(SELECT project_id FROM roles WHERE role = 'funder' AND org_id = 'gef')",
    "area=asgm&country=IDN": "SELECT id FROM projects WHERE id IN (SELECT project_id FROM project_areas WHERE "
                             "area = 'asgm') AND id IN (SELECT project_id FROM project_countries WHERE iso3 = 'IDN')",
    "country=Kenya&country=UGA": "SELECT project_id FROM project_countries WHERE iso3 IN ('KEN', 'UGA')",
}


class Tables(HTMLParser):
    """Each chart section's table as rows of cell texts (header row first), and its inline SVG's text."""

    def __init__(self):
        super().__init__()
        self.tables, self.svgs, self.section, self.row, self.cell = {}, {}, None, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section" and "stats-chart" in attrs.get("class", ""):
            self.section = attrs["id"]
            self.tables[self.section] = []
        elif tag == "tr" and self.section:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.tables[self.section].append(self.row)
            self.row = None
        elif tag == "section":
            self.section = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def page_tables(client, query):
    response = client.get(f"/stats?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    parser = Tables()
    html = response.get_data(as_text=True)
    parser.feed(html)
    assert list(parser.tables) == list(CHARTS)
    return html, parser.tables


def body_rows(table):
    """The rows under the header; none for an empty selection's one 'No projects' row."""
    rows = table[1:]
    return [] if rows and rows[0][0].startswith("No projects") else rows


@pytest.fixture
def conn(app):
    c = sqlite3.connect(app.config["DATABASE"])
    yield c
    c.close()


def count(conn, sql, *params):
    return conn.execute(sql, params).fetchone()[0]


@pytest.mark.parametrize("query", list(SELECTIONS))
def test_every_number_equals_an_sql_count(client, conn, query):
    _, tables = page_tables(client, query)
    sel = SELECTIONS[query]
    assert count(conn, f"SELECT count(*) FROM ({sel})") > 0, "the selection must not be empty (no vacuous test)"

    # area and status: each project once, under its main area; every area with projects has a row
    table = tables["area-status"]
    statuses = [s.lower() for s in table[0][1:-1]]
    assert set(statuses) <= set(STATUSES)
    label_to_area = {label: key for key, label in AREAS.items()}
    areas = [label_to_area[row[0]] for row in body_rows(table)]
    assert sorted(areas) == sorted(r[0] for r in conn.execute(f"SELECT DISTINCT area FROM projects WHERE id IN ({sel})"))
    for area, row in zip(areas, body_rows(table)):
        for status, cell in zip(statuses, row[1:-1]):
            assert int(cell) == count(conn, f"SELECT count(*) FROM projects WHERE area = ? AND status = ? AND id IN ({sel})",
                                      area, status), (area, status)
        assert int(row[-1]) == count(conn, f"SELECT count(*) FROM projects WHERE area = ? AND id IN ({sel})", area)
    for status in set(STATUSES) - set(statuses):   # a status left out has no project
        assert count(conn, f"SELECT count(*) FROM projects WHERE status = ? AND id IN ({sel})", status) == 0

    # start year: every year with projects, then the projects without one
    rows = body_rows(tables["start-year"])
    years = [(int(y), int(n)) for y, n in rows if y != "no start year"]
    assert years == conn.execute(f"SELECT start_year, count(*) FROM projects WHERE start_year IS NOT NULL AND id IN ({sel}) "
                                 "GROUP BY start_year ORDER BY start_year").fetchall()
    without = count(conn, f"SELECT count(*) FROM projects WHERE start_year IS NULL AND id IN ({sel})")
    assert [int(n) for y, n in rows if y == "no start year"] == ([without] if without else [])

    # countries: all of them, most projects first
    rows = body_rows(tables["countries"])
    expected = conn.execute(f"SELECT iso3, count(DISTINCT project_id) FROM project_countries WHERE project_id IN ({sel}) "
                            "GROUP BY iso3").fetchall()
    assert sorted((iso3, int(n)) for _, iso3, n in rows) == sorted(expected)
    assert all(name == geo.country_name(iso3) for name, iso3, _ in rows)
    assert [int(n) for *_, n in rows] == sorted((int(n) for *_, n in rows), reverse=True)

    # funders: projects funded, and the countries of those projects (within the selection)
    rows = body_rows(tables["funders"])
    funders = [r[0] for r in conn.execute(f"SELECT DISTINCT org_id FROM roles WHERE role = 'funder' AND project_id IN ({sel})")]
    assert sorted(r[1] for r in rows) == sorted(funders)
    for label, org_id, projects, countries in rows:
        assert int(projects) == count(conn, f"SELECT count(*) FROM roles WHERE role = 'funder' AND org_id = ? "
                                            f"AND project_id IN ({sel})", org_id)
        assert int(countries) == count(conn, "SELECT count(DISTINCT iso3) FROM project_countries WHERE project_id IN "
                                             f"(SELECT project_id FROM roles WHERE role = 'funder' AND org_id = ?) "
                                             f"AND project_id IN ({sel})", org_id)
        assert label == conn.execute("SELECT coalesce(acronym, name) FROM organisations WHERE id = ?", [org_id]).fetchone()[0]

    # organisation types: the organisations taking part in any role, each once
    rows = body_rows(tables["organisation-types"])
    label_to_type = {label: key for key, label in ORG_TYPES.items()}
    expected = dict(conn.execute(f"SELECT type, count(*) FROM organisations WHERE id IN "
                                 f"(SELECT org_id FROM roles WHERE project_id IN ({sel})) GROUP BY type").fetchall())
    assert {label_to_type[t]: int(n) for t, n in rows} == expected


def test_what_the_pictures_leave_out_is_said(client, conn):
    html, _ = page_tables(client, "")
    no_year = count(conn, "SELECT count(*) FROM projects WHERE start_year IS NULL")
    no_country = count(conn, "SELECT count(*) FROM projects WHERE id NOT IN (SELECT project_id FROM project_countries)")
    no_funder = count(conn, "SELECT count(*) FROM projects WHERE id NOT IN (SELECT project_id FROM roles WHERE role = 'funder')")
    countries = count(conn, "SELECT count(DISTINCT iso3) FROM project_countries")
    assert no_year and no_country and no_funder and countries > 15   # the seed has all four
    assert f"{no_year} projects have no start year recorded" in html
    assert f"{no_country} projects name no country" in html
    assert f"{no_funder} projects have no funder recorded" in html
    assert f"the 15 countries with the most projects; the table lists all {countries}" in html


def inline_svgs(html):
    return re.findall(r"<svg\b.*?</svg>", html, flags=re.S)


@pytest.mark.parametrize("query", ["", "funder=GEF&status=ongoing", "q=nothing-matches-this-zzz"])
def test_svgs_are_xml_labelled_for_screen_readers(client, query):
    html = client.get(f"/stats?{query}").get_data(as_text=True)
    svgs = inline_svgs(html)
    assert len(svgs) == len(CHARTS)
    for name, text in zip(CHARTS, svgs):
        root = ET.fromstring(text)
        assert root.tag == SVG_NS + "svg" and root.get("role") == "img"
        title_id, desc_id = root.get("aria-labelledby").split()
        title, desc = root[0], root[1]
        assert (title.tag, title.get("id"), desc.tag, desc.get("id")) == \
               (SVG_NS + "title", title_id, SVG_NS + "desc", desc_id)
        assert title.text and desc.text.endswith("The numbers are in the table beside the chart.")
        assert title_id == f"chart-{name}-title"
    ids = re.findall(r'\sid="([^"]+)"', "".join(svgs))
    assert len(ids) == len(set(ids)), "element ids repeat between the charts of one page"
    if query.startswith("q=nothing"):
        assert html.count("No projects in this selection") >= len(CHARTS)


def test_labels_from_data_are_escaped(app, client):
    import_samples(app)       # an organisation whose name and acronym are script injections, funding a project
    html = client.get("/stats?country=KEN").get_data(as_text=True)
    svgs = inline_svgs(html)
    funders = svgs[CHARTS.index("funders")]
    ET.fromstring(funders)     # still well-formed
    assert "<script>" not in html and "<img" not in html
    assert "&lt;/script&gt;&lt;img src=x" in funders     # drawn as text, escaped
    csv_rows = list(csv.reader(io.StringIO(client.get("/stats/funders.csv?country=KEN").get_data(as_text=True))))
    assert [XSS_ORG[:40], "map-xss-org", "1", "1"] in csv_rows


@pytest.mark.parametrize("name", CHARTS)
def test_png_downloads_are_pngs(client, name):
    response = client.get(f"/stats/{name}.png?funder=GEF")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.data[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(response.data))
    image.verify()
    assert 500 <= image.size[0] <= 900 and image.size[1] >= 150
    assert "gef" in response.headers["Content-Disposition"].lower()


@pytest.mark.parametrize("query", ["", "funder=GEF&status=ongoing", "country=Kenya&country=UGA"])
def test_each_csv_equals_its_table(client, query):
    _, tables = page_tables(client, query)
    for name in CHARTS:
        response = client.get(f"/stats/{name}.csv?{query}")
        assert response.status_code == 200 and response.mimetype == "text/csv"
        assert "attachment" in response.headers["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
        assert rows[0] == tables[name][0]
        assert rows[1:] == body_rows(tables[name]), name


def test_csv_cells_are_guarded_against_formulas(app, client):
    records = {"organisations": [{"id": "formula-funder", "name": "=HYPERLINK(\"http://x\",\"y\")", "type": "other"}],
               "projects": [{"id": "formula-project", "title": "A funded project", "kind": "project", "area": "waste",
                             "status": "planned", "countries": ["CHL"],
                             "locations": [{"name": "Chile", "precision": "country", "country": "CHL"}],
                             "organisations": [{"org": "formula-funder", "role": "funder"}],
                             "sources": [{"section": "test", "quote": "Recorded for the stats tests."}]}]}
    db = storage.connect(app.config["DATABASE"])
    try:
        ingest.import_data(db, json.dumps(records).encode("utf-8"), "json")
    finally:
        db.conn.close()
    text = client.get("/stats/funders.csv?country=CHL").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text)))
    assert ["'=HYPERLINK(\"http://x\",\"y\")", "formula-funder", "1", "1"] in rows
    assert not any(cell.startswith("=") for row in rows for cell in row)


@pytest.mark.parametrize("query", ["country=Atlantis", "status=bogus", "year_from=abc", "funder=nobody-at-all",
                                   "q=" + "x" * 300])
@pytest.mark.parametrize("path", ["/stats", "/stats/countries.png", "/stats/funders.csv"])
def test_a_bad_query_is_a_400_like_the_list(client, path, query):
    listed = client.get(f"/projects?{query}")
    response = client.get(f"{path}?{query}")
    assert listed.status_code == 400
    assert response.status_code == 400
    message = re.search(r"<p[^>]*>(.*?)</p>", listed.get_data(as_text=True), re.S)
    assert message and message.group(1).strip() in response.get_data(as_text=True)
    api = client.get(f"{path}?{query}", headers={"Accept": "application/json"})
    assert api.status_code == 400


def test_unknown_chart_is_a_404(client):
    assert client.get("/stats/pie.png").status_code == 404
    assert client.get("/stats/pie.csv").status_code == 404


def test_linked_from_the_nav_and_the_list(client):
    assert 'href="/stats"' in client.get("/").get_data(as_text=True)
    listed = client.get("/projects?funder=GEF").get_data(as_text=True)
    assert 'href="/stats?funder=gef"' in listed


def test_charts_are_kept_until_the_data_changes(app, client):
    first = client.get("/stats?country=KEN").get_data(as_text=True)
    assert client.get("/stats?country=KEN").get_data(as_text=True) == first
    import_samples(app)       # adds a project in Kenya: a new data version, new counts
    again = client.get("/stats?country=KEN").get_data(as_text=True)
    assert again != first
