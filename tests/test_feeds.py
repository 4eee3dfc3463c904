"""The Atom feed of a selection, /projects.atom?<query string> (registry/web/feeds.py): parsed with
xml.etree and checked for Atom's required elements; its entries compared with the list API (which projects)
and with SQL on the history (which change of each, in which order); the links to it from the list pages and
the share panel. The registry is the real seed with every later source's update applied (issue 19), so the
history holds additions from the seed and updates from sources; some tests add an editor's form edit."""
import json
import re
import shutil
import xml.etree.ElementTree as ET
from datetime import date, datetime
from html import unescape
from urllib.parse import urlsplit

import pytest
from babel.dates import format_date

from conftest import logged_in, make_app, post_form, read_form, set_field
from registry.search import index as search
from registry.web.context import index_settings
from registry.web.feeds import MAX_ENTRIES

A = "{http://www.w3.org/2005/Atom}"
SELECTIONS = ["funder=gef&region=Africa", "area=coal&status=completed", "source=gmp-events-listing-2023",
              "q=chlor-alkali", "country=PER", "kind=monitoring-network", "q=planetgold&region=419"]


@pytest.fixture(scope="module")
def updated_folder(updated_instance, tmp_path_factory):
    """The updated registry with an index rebuilt for it (the shared one is the seed's)."""
    folder = tmp_path_factory.mktemp("feeds")
    shutil.copytree(updated_instance[0], folder, dirs_exist_ok=True)
    search.rebuild(index_settings(make_app(folder)))
    return folder


@pytest.fixture
def app(updated_folder, tmp_path):
    folder = tmp_path / "instance"
    shutil.copytree(updated_folder, folder)
    return make_app(folder)


def feed_of(client, query=""):
    response = client.get(f"/projects.atom?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    assert response.content_type == "application/atom+xml; charset=utf-8"
    return ET.fromstring(response.data)


def entry_project(entry):
    return urlsplit(entry.find(f"{A}link").get("href")).path.rsplit("/", 1)[1]


def selection(client, query):
    """Every project id the list API gives for this query (all pages)."""
    ids, page = [], 1
    while True:
        body = client.get(f"/api/projects?{query}&per_page=100&page={page}").get_json()
        ids += [r["id"] for r in body["results"]]
        if not body["next"]:
            return ids
        page += 1


def newest_first_by_history(db, ids, limit=MAX_ENTRIES):
    """[(project id, history id)] of the newest change of each project, newest first: straight from SQL."""
    return [tuple(r) for r in db.execute(
        "SELECT entity_id, max(id) FROM history WHERE entity = 'project' AND entity_id IN "
        "(SELECT value FROM json_each(?)) GROUP BY entity_id ORDER BY max(id) DESC LIMIT ?",
        [json.dumps(ids), limit])]


def change_id(entry):
    return int(entry.find(f"{A}id").text.rsplit("/", 1)[1])


def list_sentence(client, query):
    """The summary sentence the list page shows for this query."""
    html = client.get(f"/projects?{query}").get_data(as_text=True)
    return unescape(re.search(r'<p class="summary">([^\n<]+)', html).group(1)).strip()


def edit_title(app, pid, title):
    editor = logged_in(app, "eddie", "editor")
    fields = read_form(editor.get(f"/editor/projects/{pid}/edit").get_data(as_text=True))
    set_field(fields, "title", title)
    assert post_form(editor, f"/editor/projects/{pid}/edit", fields).status_code == 302


# --- the feed's required elements ------------------------------------------------------------------

def test_the_feed_and_each_entry_have_the_required_atom_elements(app, db):
    client = app.test_client()
    feed = feed_of(client, "funder=gef&region=Africa")
    assert feed.tag == f"{A}feed"
    assert feed.find(f"{A}id").text == "tag:localhost,2026:projects.atom?region=002&funder=gef"
    assert feed.find(f"{A}title").text == list_sentence(client, "funder=gef&region=Africa") \
        == "16 projects funded by GEF in Africa"
    links = {link.get("rel"): link for link in feed.findall(f"{A}link")}
    assert links["self"].get("href") == "http://localhost/projects.atom?region=002&funder=gef"
    assert links["self"].get("type") == "application/atom+xml"
    assert links["alternate"].get("href") == "http://localhost/projects?region=002&funder=gef"
    assert feed.find(f"{A}author/{A}name").text == "Mercury Partnership Registry"   # covers every entry
    entries = feed.findall(f"{A}entry")
    assert len(entries) == 16
    assert datetime.fromisoformat(feed.find(f"{A}updated").text) == max(
        datetime.fromisoformat(e.find(f"{A}updated").text) for e in entries)
    ids = [e.find(f"{A}id").text for e in entries]
    assert len(set(ids)) == len(ids)
    for entry in entries:
        pid, number = entry_project(entry), change_id(entry)
        assert entry.find(f"{A}id").text == f"tag:localhost,2026:projects/{pid}/changes/{number}"
        assert entry.find(f"{A}link").get("href") == f"http://localhost/projects/{pid}"
        assert entry.find(f"{A}link").get("rel") in (None, "alternate")   # Atom's default rel is alternate
        at, title = db.execute("SELECT h.at, p.title FROM history h JOIN projects p ON p.id = h.entity_id "
                               "WHERE h.id = ?", [number]).fetchone()
        assert entry.find(f"{A}title").text == title
        assert datetime.fromisoformat(entry.find(f"{A}updated").text) == datetime.fromisoformat(
            at.replace("Z", "+00:00"))
        assert entry.find(f"{A}summary").text and entry.find(f"{A}content").get("type") == "html"


# --- which entries, in which order -----------------------------------------------------------------

@pytest.mark.parametrize("query", SELECTIONS)
def test_entries_are_the_selections_projects_by_their_last_change(app, db, query):
    client = app.test_client()
    ids = selection(client, query)
    assert 0 < len(ids) <= MAX_ENTRIES, "pick a selection that fits in one feed"
    entries = feed_of(client, query).findall(f"{A}entry")
    assert sorted(entry_project(e) for e in entries) == sorted(ids)     # the selection, each project once
    assert [(entry_project(e), change_id(e)) for e in entries] == newest_first_by_history(db, ids)


def test_a_large_selection_gives_its_newest_changes_only_and_says_so(app, db):
    client = app.test_client()
    ids = selection(client, "")
    assert len(ids) > MAX_ENTRIES
    feed = feed_of(client)
    entries = feed.findall(f"{A}entry")
    assert len(entries) == MAX_ENTRIES
    assert [(entry_project(e), change_id(e)) for e in entries] == newest_first_by_history(db, ids)
    assert f"at most {MAX_ENTRIES}" in feed.find(f"{A}subtitle").text


def test_paging_and_sort_do_not_change_the_feed(app):
    client = app.test_client()
    plain = ET.tostring(feed_of(client, "area=asgm"))
    assert ET.tostring(feed_of(client, "area=asgm&page=3&per_page=5&sort=title")) == plain


# --- what each entry says --------------------------------------------------------------------------

def test_each_entry_says_what_changed_and_from_which_source(app, db):
    client = app.test_client()
    entries = {entry_project(e): e for e in feed_of(client, "country=SLE").findall(f"{A}entry")}
    pid, fields, title = db.execute(
        "SELECT h.entity_id, h.fields, d.title FROM history h JOIN documents d ON d.id = h.source "
        "WHERE h.source_kind = 'source' AND h.entity_id = 'planetgold-sierra-leone' ORDER BY h.id DESC").fetchone()
    summary = entries[pid].find(f"{A}summary").text
    assert summary.startswith(f"Update from {title}") and summary.endswith(": " + ", ".join(json.loads(fields)))
    content = entries[pid].find(f"{A}content").text   # HTML: the source linked, the project's summary
    source_id = db.execute("SELECT source FROM history WHERE entity_id = ? ORDER BY id DESC", [pid]).fetchone()[0]
    assert f'href="http://localhost/sources/{source_id}"' in content
    assert f'href="http://localhost/projects/{pid}"' in content
    only_seeded = [p for p, e in entries.items() if p != pid]
    assert only_seeded, "Sierra Leone should have a project that no later source changed"
    for p in only_seeded:
        kinds = {r[0] for r in db.execute("SELECT source_kind FROM history WHERE entity_id = ?", [p])}
        if kinds == {"seed"}:
            assert entries[p].find(f"{A}summary").text.startswith("Added from the registry's first edition")
            assert entries[p].find(f"{A}category").get("term") == "added"


def test_an_editors_change_comes_first_and_names_its_fields_not_the_editor(app, db):
    pid = "planetgold-peru"
    edit_title(app, pid, "planetGOLD Peru, renamed")
    client = app.test_client()
    text = client.get("/projects.atom?country=PER").get_data(as_text=True)
    first = ET.fromstring(text).find(f"{A}entry")
    assert entry_project(first) == pid and first.find(f"{A}title").text == "planetGOLD Peru, renamed"
    assert first.find(f"{A}summary").text == "Changed by an editor's form: title"
    assert first.find(f"{A}category").get("term") == "changed"
    assert "eddie" not in text          # the public feed, like the public change log, names no account


def test_a_project_without_history_is_listed_last_not_dropped(app, db):
    """A database older than the history has projects with no history row: they still appear."""
    client = app.test_client()
    ids = selection(client, "country=PER")
    pid = sorted(ids)[0]
    db.execute("DELETE FROM history WHERE entity = 'project' AND entity_id = ?", [pid])
    entries = feed_of(client, "country=PER").findall(f"{A}entry")
    assert sorted(entry_project(e) for e in entries) == sorted(ids)
    last = entries[-1]
    assert entry_project(last) == pid and last.find(f"{A}id").text.endswith(f"projects/{pid}/unrecorded")
    updated_at = db.execute("SELECT updated_at FROM projects WHERE id = ?", [pid]).fetchone()[0]
    in_words = format_date(date.fromisoformat(updated_at[:10]), "long", locale="en")   # web/language.py date_text
    assert last.find(f"{A}summary").text.endswith(f"last updated {in_words}")


def test_an_empty_selection_is_a_valid_feed_without_entries(app, db):
    feed = feed_of(app.test_client(), "q=zzqxvb")
    assert feed.findall(f"{A}entry") == []
    assert feed.find(f"{A}title").text == "No projects matching “zzqxvb”"
    newest = db.execute("SELECT at FROM history ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert datetime.fromisoformat(feed.find(f"{A}updated").text) == datetime.fromisoformat(
        newest.replace("Z", "+00:00"))


def test_ids_are_stable_and_use_the_configured_authority(updated_folder, tmp_path):
    folder = tmp_path / "instance"
    shutil.copytree(updated_folder, folder)
    app = make_app(folder, FEED_TAG_AUTHORITY="mercury.example.org")
    ids = lambda base: [e.text for e in ET.fromstring(app.test_client().get(   # noqa: E731
        "/projects.atom?area=coal", base_url=base).data).iter(f"{A}id")]
    first = ids("http://localhost")
    assert first == ids("https://registry.example.net:8443")   # the same whatever host served it
    assert first[0] == "tag:mercury.example.org,2026:projects.atom?area=coal"
    assert all(i.startswith("tag:mercury.example.org,2026:projects/") for i in first[1:])


# --- bad queries and budgets -----------------------------------------------------------------------

@pytest.mark.parametrize("query, words", [("year_from=abc", "'year_from' must be a whole number"),
                                           ("sort=sideways", "unknown sort"),
                                           ("q=" + "a " * 30, "too many words")])
def test_a_bad_query_is_a_400_like_the_exports(app, query, words):
    client = app.test_client()
    feed = client.get(f"/projects.atom?{query}")
    export = client.get(f"/projects.csv?{query}")
    assert feed.status_code == export.status_code == 400
    assert feed.content_type == export.content_type == "text/html; charset=utf-8"
    assert words in unescape(feed.get_data(as_text=True))


def test_a_feed_with_search_text_is_metered_like_the_list(updated_folder, tmp_path):
    folder = tmp_path / "instance"
    shutil.copytree(updated_folder, folder)
    client = make_app(folder, RATE_LIMITS_ENABLED=True, RATE_LIMITS={"search": [1e-6, 1e-4]}).test_client()
    assert client.get("/projects.atom?q=mercury").status_code == 200
    refused = client.get("/projects.atom?q=gold")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "too many searches" in refused.get_data(as_text=True)
    assert client.get("/projects.atom?area=asgm").status_code == 200   # no search text: never counted


# --- links to the feed -----------------------------------------------------------------------------

ALTERNATE = re.compile(r'<link rel="alternate" type="application/atom\+xml" href="([^"]+)" title="([^"]+)">')


@pytest.mark.parametrize("page, feed_query", [
    ("/projects?funder=gef&region=Africa&page=2&per_page=5&sort=title", "region=002&funder=gef"),
    ("/projects", ""),
    ("/map?country=PER&q=gold", "q=gold&country=PER"),
    ("/countries/PER", "country=PER"),
    ("/areas/coal", "area=coal"),
])
def test_list_pages_announce_the_feed_of_their_selection(app, page, feed_query):
    client = app.test_client()
    html = client.get(page).get_data(as_text=True)
    [(href, title)] = ALTERNATE.findall(html)
    href = unescape(href)
    assert href == "/projects.atom" + (f"?{feed_query}" if feed_query else "")   # relative: loads nothing
    assert client.get(href).status_code == 200
    assert unescape(title).startswith("Atom feed: newest changes to ")


def test_pages_without_a_selection_announce_no_feed(app):
    client = app.test_client()
    for page in ("/", "/organisations", "/projects/planetgold-peru", "/changes"):
        assert "application/atom+xml" not in client.get(page).get_data(as_text=True), page


def test_the_share_panel_links_the_feed(app):
    client = app.test_client()
    for page in ("/map?funder=gef&region=Africa", "/projects?funder=gef&region=Africa"):
        html = client.get(page).get_data(as_text=True)
        link = re.search(r'<a href="([^"]+)" type="application/atom\+xml" class="feed-link">Subscribe \(Atom\)</a>',
                         html)
        assert link, page
        assert unescape(link.group(1)) == "http://localhost/projects.atom?region=002&funder=gef"
        feed = ET.fromstring(client.get(unescape(link.group(1))).data)
        assert feed.find(f"{A}title").text == "16 projects funded by GEF in Africa"
