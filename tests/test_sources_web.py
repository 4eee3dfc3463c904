"""What users see of the registry's sources (issue 19): /sources, /sources/<id>, /api/sources, the source=
filter and facet on every view of a selection, "as of" on records, the home and About pages, and the change
log naming the source of each update. Through the real app on a real database holding the seed AND every
update file of geodata/updates/ (so there are many sources); expected values come from SQL, never from ids
or counts written here."""
import csv
import html
import io
import json
import re
import shutil
from pathlib import Path

import pytest
from markupsafe import escape

from conftest import make_app
from registry.exchange.apply import Origin, apply_changes
from registry.exchange.readers import read_json
from registry.exchange.updates import apply_updates
from registry.maps import data as mapdata
from registry.search import index as search
from registry.store import db as storage
from registry.web.context import index_settings

UPDATES = Path(__file__).resolve().parent.parent / "geodata" / "updates"


@pytest.fixture(scope="module")
def updated(seeded_instance, tmp_path_factory):
    """A folder holding the seed with every update applied, and its rebuilt index."""
    folder = tmp_path_factory.mktemp("updated") / "instance"
    shutil.copytree(seeded_instance, folder)
    app = make_app(folder)
    db = storage.connect(app.config["DATABASE"])
    applied = apply_updates(db, UPDATES)
    db.conn.close()
    assert len(applied) > 1
    search.rebuild(index_settings(app))
    return folder


@pytest.fixture(scope="module")
def app(updated):
    return make_app(updated)


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def db(app):
    conn = storage.connect(app.config["DATABASE"], readonly=True)
    yield conn
    conn.conn.close()


def esc(value):
    """As Jinja escapes a value into a page."""
    return str(escape(value))


def text(response):
    assert response.status_code == 200, response.get_data(as_text=True)[-1500:]
    return response.get_data(as_text=True)


def get_json(client, url, **params):
    response = client.get(url, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


# --- independent computations from SQL -----------------------------------------------------------

def sources_sql(db):
    """Every source row with its date as of (its publication date; none for an undated page), newest first
    (ties: id descending), the undated ones last."""
    rows = [dict(r) for r in db.query("SELECT * FROM documents")]
    for r in rows:
        r["as_of"] = r["date"]
    return sorted(rows, key=lambda r: (r["date"] is not None, r["date"] or "", r["id"]), reverse=True)


def citing(db, *source_ids):
    return {r[0] for r in db.execute("SELECT project_id FROM sources WHERE document IN (SELECT value FROM "
                                      "json_each(?))", [json.dumps(source_ids)])}


def contributions(db, source_id):
    """(added, changed): the distinct projects and organisations the source's history rows added or changed
    (the founding report's: the seed's rows)."""
    kind = "seed" if source_id == "gmp-report-2020-2022" else "source"
    out = {}
    for before, entity, eid in db.execute("SELECT before, entity, entity_id FROM history WHERE source_kind = ? "
                                          "AND after IS NOT NULL AND entity IN ('project', 'organisation') "
                                          + ("" if kind == "seed" else "AND source = ?"),
                                          [kind] + ([] if kind == "seed" else [source_id])):
        out.setdefault("added" if before is None else "changed", set()).add((entity, eid))
    return len(out.get("added", ())), len(out.get("changed", ()))


def project_as_of(db, project_id):
    dates = [r[0] for r in db.execute("SELECT d.date FROM sources s JOIN documents d "
                                      "ON d.id = s.document WHERE s.project_id = ?", [project_id])]
    return max((d for d in dates if d), default=None)


def most_cited(db, n=1, at_least=1):
    """Ids of the sources cited by the most projects (ties by id), each cited by at least `at_least`."""
    return [r[0] for r in db.execute("SELECT document, count(DISTINCT project_id) AS n FROM sources GROUP BY "
                                     "document HAVING n >= ? ORDER BY n DESC, document LIMIT ?", [at_least, n])]


def a_later_source_with_changes(db):
    """The later source whose update changed the most records (not the founding report)."""
    return db.execute("SELECT source FROM history WHERE source_kind = 'source' AND entity IN ('project', "
                      "'organisation') GROUP BY source ORDER BY count(*) DESC, source LIMIT 1").fetchone()[0]


def api_ids(client, url, **params):
    """Every project id of an API list, following `next`."""
    ids, body = [], get_json(client, url, per_page=100, **params)
    while True:
        ids += [r["id"] for r in body["results"]]
        if not body["next"]:
            return ids
        body = client.get(body["next"]).get_json()


# --- /sources and /api/sources --------------------------------------------------------------------

def test_the_sources_page_lists_every_source_newest_first_with_what_it_contributed(client, db):
    page = text(client.get("/sources"))
    expected = sources_sql(db)
    assert len(expected) > 1
    positions = [page.index(f'id="source-{s["id"]}"') for s in expected]
    assert positions == sorted(positions), "newest first"
    for s, start, end in zip(expected, positions, positions[1:] + [len(page)]):
        item = page[start:end]
        assert esc(s["title"]) in item
        assert html.unescape(s["publisher"]) in html.unescape(item)
        assert (f'<time datetime="{s["date"]}">' if s["date"] else f"consulted <time datetime=\"{s['consulted']}\">") in item
        if s["url"]:
            assert re.search(r'<a class="outside" href="' + re.escape(esc(s["url"])) + r'" rel="noopener',
                             item), s["id"]
        if s["reference"]:
            assert esc(s["reference"]) in item
        projects = len(citing(db, s["id"]))
        added, changed = contributions(db, s["id"])
        assert f'href="/projects?source={s["id"]}">{projects} project{"" if projects == 1 else "s"} citing it' in item
        assert f"{added} record{'' if added == 1 else 's'} added" in item
        assert f"{changed} record{'' if changed == 1 else 's'} changed" in item


def test_the_api_lists_every_source_in_the_list_envelope_with_next_links(client, db):
    expected = sources_sql(db)
    body = get_json(client, "/api/sources", per_page=7)
    assert body["total"] == len(expected) and body["page"] == 1 and body["prev"] is None
    rows = []
    while True:
        assert {"total", "page", "per_page", "results", "next", "prev"} <= set(body)
        rows += body["results"]
        if not body["next"]:
            break
        assert "per_page=7" in body["next"]
        body = client.get(body["next"]).get_json()
    assert [r["id"] for r in rows] == [s["id"] for s in expected]
    for row, s in zip(rows, expected):
        for key in ("title", "publisher", "date", "consulted", "url", "reference", "kind", "as_of"):
            assert row[key] == s[key], (s["id"], key)
        assert row["projects"] == len(citing(db, s["id"]))
        assert (row["added"], row["changed"]) == contributions(db, s["id"])
        assert row["page_url"].endswith(f"/sources/{s['id']}")
        assert row["projects_url"].endswith(f"/api/projects?source={s['id']}")


def test_one_source_page_groups_its_citations_by_project_and_lists_the_changes_from_it(client, db):
    source_id = a_later_source_with_changes(db)
    page = html.unescape(text(client.get(f"/sources/{source_id}")))
    title = db.execute("SELECT title FROM documents WHERE id = ?", [source_id]).fetchone()[0]
    assert f"<h1>{title}</h1>" in page
    cited = list(db.execute("SELECT s.project_id, p.title, s.quote FROM sources s JOIN projects p ON "
                            "p.id = s.project_id WHERE s.document = ?", [source_id]))
    assert cited
    for pid, ptitle, quote in cited:
        assert f'<h3><a href="/projects/{pid}">{ptitle}</a></h3>' in page
        assert quote in page
    changes = list(db.execute("SELECT entity, entity_id FROM history WHERE source_kind = 'source' AND source = ? "
                              "AND entity IN ('project', 'organisation')", [source_id]))
    assert changes
    assert f"Changes applied from it ({len(changes)})" in page
    for entity, eid in set(changes):
        assert f'href="/changes?entity={entity}&id={eid}">history of this record</a>' in page
    body = get_json(client, f"/api/sources/{source_id}")
    assert {(c["project_id"], c["quote"]) for c in body["cited_by"]} == {(p, q) for p, _, q in cited}
    assert sorted((c["entity"], c["entity_id"]) for c in body["changes"]) == sorted(changes)


def test_an_unknown_source_is_a_404_page_and_a_404_json_error(client):
    page = client.get("/sources/no-such-source")
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "Source “no-such-source” not found" in page.get_data(as_text=True)
    assert 'href="/sources"' in page.get_data(as_text=True)
    assert '<html lang="en">' in page.get_data(as_text=True)
    api = client.get("/api/sources/no-such-source")
    assert api.status_code == 404
    assert api.get_json()["error"]["code"] == "not_found" and "/api/sources" in api.get_json()["error"]["message"]


# --- the source= filter ---------------------------------------------------------------------------

def test_the_source_filter_selects_the_projects_citing_it_and_combines_with_others(client, db):
    one, two = most_cited(db, 2, at_least=2)
    assert set(api_ids(client, "/api/projects", source=one)) == citing(db, one)
    assert set(api_ids(client, "/api/projects", source=[one, two])) == citing(db, one, two)   # OR
    area = db.execute("SELECT area FROM projects WHERE id IN (SELECT project_id FROM sources WHERE document = ?) "
                      "GROUP BY area ORDER BY count(*) DESC LIMIT 1", [one]).fetchone()[0]
    in_area = {r[0] for r in db.execute("SELECT project_id FROM project_areas WHERE area = ?", [area])}
    both = set(api_ids(client, "/api/projects", source=one, area=area))
    assert both and both == citing(db, one) & in_area
    hits = set(api_ids(client, "/api/projects", q="gold", source=one))
    assert hits and hits <= citing(db, one)


def test_the_source_facet_counts_the_projects_citing_each_source(client, db):
    facet = get_json(client, "/api/projects", facet_size="max")["facets"]["source"]
    expected = dict(db.execute("SELECT document, count(DISTINCT project_id) FROM sources GROUP BY document"))
    assert {v["value"]: v["count"] for v in facet["values"]} == expected
    titles = dict(db.execute("SELECT id, title FROM documents"))
    assert all(v["label"] == titles[v["value"]] for v in facet["values"])
    usual = get_json(client, "/api/projects")["facets"]["source"]
    assert usual["truncated"] == (len(expected) > 10) and len(usual["values"]) == min(10, len(expected))
    one = most_cited(db)[0]
    selected = get_json(client, "/api/projects", source=one)["facets"]["source"]
    assert selected["values"][0] == dict(selected["values"][0], value=one, selected=True)
    assert f"source={one}" not in selected["values"][0]["toggle_url"]   # a link that removes it


def test_an_unknown_source_in_a_filter_is_a_400_saying_where_the_ids_are(client):
    for url in ("/api/projects", "/projects", "/map/data.json", "/projects.csv", "/map.png", "/embed/map"):
        response = client.get(url, query_string={"source": "no-such-source"})
        assert response.status_code == 400, url
        body = response.get_data(as_text=True)
        assert "unknown source" in body and "/api/sources" in body, url
    assert client.get("/api/projects?source=no-such-source").get_json()["error"]["code"] == "unknown_source"


def test_the_project_list_shows_the_source_as_a_removable_chip_a_facet_and_a_sort_by_last_change(client, db):
    one = most_cited(db)[0]
    title = db.execute("SELECT title FROM documents WHERE id = ?", [one]).fetchone()[0]
    page = text(client.get(f"/projects?source={one}&country=&sort=updated"))
    chip = re.search(r'<ul class="filter-chips" aria-label="Source filter">(.*?)</ul>', page, re.S).group(1)
    remove = re.search(r'<a class="chip" href="([^"]+)" rel="nofollow"><span class="visually-hidden">Remove filter: </span>Source: (.*?) <span',
                       chip)
    assert remove.group(2) == esc(title) and "source=" not in html.unescape(remove.group(1))
    assert f'href="/sources/{one}">about this source</a>' in chip
    assert f'<input type="hidden" name="source" value="{one}">' in page   # the filter form keeps it
    assert "<summary>Source</summary>" in page
    assert '<option value="updated" selected>Last changed</option>' in page
    listed = re.findall(r'<a class="title" href="/projects/([^"]+)"', page)
    newest_first = [r[0] for r in db.execute(
        "SELECT id FROM projects WHERE id IN (SELECT project_id FROM sources WHERE document = ?) "
        "ORDER BY updated_at DESC, id LIMIT 20", [one])]
    assert listed == newest_first
    cleared = re.search(r'<a href="([^"]+)">Clear all filters</a>', page).group(1)
    assert "source=" not in html.unescape(cleared)


def test_the_map_embed_png_newsletter_and_exports_honour_the_source_filter(client, db):
    one = most_cited(db, at_least=2)[0]
    expected = citing(db, one)
    drawn = get_json(client, "/map/data.json", source=one)
    assert {p["id"] for p in mapdata.records(drawn, "projects")} == expected
    rows = list(csv.DictReader(io.StringIO(text(client.get(f"/projects.csv?source={one}")))))
    assert {r["id"] for r in rows} == expected
    exported = json.loads(text(client.get(f"/projects.json?source={one}")))
    assert {p["id"] for p in exported["projects"]} == expected
    geo = json.loads(text(client.get(f"/projects.geojson?source={one}")))
    assert {f["properties"]["id"] for f in geo["features"]} == expected
    title = db.execute("SELECT title FROM documents WHERE id = ?", [one]).fetchone()[0]
    assert esc(title) in text(client.get(f"/map?source={one}"))     # the map's chip
    assert text(client.get(f"/embed/map?source={one}"))
    newsletter = text(client.get(f"/map/newsletter.txt?source={one}"))
    assert f"{len(expected)} project{'' if len(expected) == 1 else 's'}" in newsletter
    assert f"source={one}" in newsletter
    png, everything = client.get(f"/map.png?source={one}&width=300"), client.get("/map.png?width=300")
    assert png.status_code == 200 and png.mimetype == "image/png" and png.data[:4] == b"\x89PNG"
    assert png.headers["ETag"] != everything.headers["ETag"]      # its own cache entry, not the whole map's


def test_exports_do_not_carry_as_of_and_import_back_unchanged(client, db, app):
    one = most_cited(db, at_least=2)[0]
    body = text(client.get(f"/projects.json?source={one}"))
    assert '"as_of"' not in body
    conn = storage.connect(app.config["DATABASE"])
    try:
        batch = read_json(body.encode())
        report = apply_changes(conn, Origin("test", "import", "export"), organisations=batch.organisations,
                               projects=batch.projects, sources=batch.sources, dry_run=True)
    finally:
        conn.conn.close()
    assert not report.projects.added and not report.projects.changed
    assert sorted(report.projects.unchanged) == sorted(citing(db, one))


# --- as of ------------------------------------------------------------------------------------------

def test_each_project_is_as_of_its_newest_source_on_its_page_and_in_the_api(client, db):
    pids = [r[0] for r in db.execute("SELECT DISTINCT project_id FROM sources WHERE document != "
                                     "'gmp-report-2020-2022' ORDER BY project_id LIMIT 5")]
    pids += [r[0] for r in db.execute("SELECT id FROM projects WHERE id NOT IN (SELECT project_id FROM sources "
                                      "WHERE document != 'gmp-report-2020-2022') ORDER BY id LIMIT 2")]
    assert len(pids) == 7
    for pid in pids:
        as_of = project_as_of(db, pid)
        assert as_of
        body = get_json(client, f"/api/projects/{pid}")
        assert body["as_of"] == as_of
        assert [s["id"] for s in body["cited_sources"]] == list(dict.fromkeys(s["document"] for s in body["sources"]))
        page = text(client.get(f"/projects/{pid}"))
        assert f'As of <time datetime="{as_of}">' in page     # the date itself in words (web/language.py date_text)
        h1, as_of_at = page.index("<h1>"), page.index("As of <time")
        assert 0 < as_of_at - h1 < 400 + len(body["title"]) * 6     # beside the title
        for document, in db.execute("SELECT document FROM sources WHERE project_id = ?", [pid]):
            title = db.execute("SELECT title FROM documents WHERE id = ?", [document]).fetchone()[0]
            assert f'<a href="/sources/{document}">{esc(title)}</a>' in page


def test_an_organisation_is_as_of_the_newest_source_of_its_projects(client, db):
    org = db.execute("SELECT r.org_id FROM roles r JOIN sources s ON s.project_id = r.project_id "
                     "WHERE s.document != 'gmp-report-2020-2022' ORDER BY r.org_id LIMIT 1").fetchone()[0]
    projects = [r[0] for r in db.execute("SELECT DISTINCT project_id FROM roles WHERE org_id = ?", [org])]
    as_of = max(d for d in (project_as_of(db, p) for p in projects) if d)
    assert f'As of <time datetime="{as_of}">' in text(client.get(f"/organisations/{org}"))


def test_home_and_about_name_every_source_with_its_date_and_counts_and_the_registry_date(client, db):
    expected = sources_sql(db)
    newest = max(s["as_of"] for s in expected if s["as_of"])
    home, about = text(client.get("/")), text(client.get("/about"))
    for page, shown in ((home, expected[:10]), (about, expected)):
        assert f'as of <time datetime="{newest}">' in page     # the date itself in words (date_text)
        for s in shown:
            start = page.index(f'<a href="/sources/{s["id"]}">')
            item = page[start:page.index("</li>", start)]
            assert esc(s["title"]) in item
            assert (f'<time datetime="{s["date"]}">' if s["date"] else f"consulted <time datetime=\"{s['consulted']}\">") in item
            projects = len(citing(db, s["id"]))
            added, changed = contributions(db, s["id"])
            assert f'{projects} project{"" if projects == 1 else "s"} citing it</a> · {added} record' in item
            assert f"· {changed} changed" in item
    assert f'All {len(expected)} sources' in home


# --- the history names the source of each update --------------------------------------------------

def test_the_change_log_and_the_record_page_name_the_source_of_an_update(client, db):
    source_id = a_later_source_with_changes(db)
    title, as_of = db.execute("SELECT title, date FROM documents WHERE id = ?", [source_id]).fetchone()
    change_id, entity, eid = db.execute(
        "SELECT id, entity, entity_id FROM history WHERE source_kind = 'source' AND source = ? AND entity IN "
        "('project', 'organisation') ORDER BY id DESC LIMIT 1", [source_id]).fetchone()
    shown = f'update from <a href="/sources/{source_id}">{esc(title)}</a>'
    shown += f' (<time datetime="{as_of}">{as_of}</time>)' if as_of else ""
    page = text(client.get(f"/changes?entity={entity}&id={eid}&per_page=100"))
    item = page[page.index(f'id="change-{change_id}"'):]
    assert shown in item[:item.index("</li>")]
    body = get_json(client, "/api/changes", entity=entity, id=eid, per_page=100)
    row = next(c for c in body["results"] if c["id"] == change_id)
    assert row["source"]["id"] == source_id and row["source"]["title"] == title and row["source"]["as_of"] == as_of
    assert all(c["source"] is None for c in body["results"] if c["source_kind"] != "source")
    newest = db.execute("SELECT max(id) FROM history WHERE entity = ? AND entity_id = ?", [entity, eid]).fetchone()[0]
    if newest == change_id:   # the record page's "Last changed" is this update
        record = text(client.get(f"/{entity}s/{eid}"))
        assert shown in record


# --- accessible and usable on a phone ----------------------------------------------------------------

def test_the_source_pages_have_one_title_heading_and_labelled_links(client, db):
    source_id = a_later_source_with_changes(db)
    for url in ("/sources", f"/sources/{source_id}"):
        page = text(client.get(url))
        assert '<html lang="en">' in page and page.count("<h1") == 1 and "<title>" in page
    detail = text(client.get(f"/sources/{source_id}"))
    assert detail.index("<h1") < detail.index("<h2>Cited by") < detail.index("<h2>Changes applied from it")


@pytest.mark.slow
def test_no_page_about_sources_scrolls_sideways_on_a_phone(app, db, browser):
    from conftest import serve
    server, base = serve(app)
    one = most_cited(db)[0]
    try:
        page = browser.new_page(viewport={"width": 390, "height": 844})
        for url in ("/", "/about", "/sources", f"/sources/{a_later_source_with_changes(db)}",
                    f"/projects?source={one}", f"/projects/{sorted(citing(db, one))[0]}"):
            page.goto(base + url)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (url, width)
    finally:
        server.shutdown()
