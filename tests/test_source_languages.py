"""Issue 13, WCAG 3.1.2 (language of parts): a source record names the language it is written in, and the pages
mark its title and quotes with it (not its publisher: a name, often in another language) where it is not the page's language.

Through the real parts: core/sources.py clean_source, the audited write path, JSON and GeoJSON export and import,
the real app's pages and editor over copies of the seeded (and updated) registry, and the update files as stored.
"""
import json
import re
import shutil

import pytest

from conftest import UPDATES_DIR, logged_in, make_app, post_form, read_form, set_field
from registry.core.sources import REPORT_SOURCE_ID, clean_source
from registry.exchange import exports, ingest
from registry.exchange.apply import Origin, apply_changes
from registry.store import db as storage
from registry.store import editing as editing_db
from registry.store import sources as source_store

GOOD_SOURCE = {"id": "source-fr", "title": "Un rapport ultérieur", "publisher": "Un éditeur", "date": "2024-05",
               "url": "https://example.org/rapport", "kind": "report", "language": "fr"}
# the French quote of the update file geodata/updates/2026-01-26-pg-fronteco-planetgold-guinee-copil-2026.json
GUINEA_SOURCE = "pg-fronteco-planetgold-guinee-copil-2026"
GUINEA_QUOTE = "La quatrième réunion du comité de pilotage du projet Planet Gold Guinée"


# --- validation ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("given, kept", [("fr", "fr"), ("es", "es"), ("pt", "pt"), ("EN", "en"), (None, None)])
def test_a_language_code_is_kept_in_lower_case_and_may_be_left_out(given, kept):
    source, problems = clean_source(dict(GOOD_SOURCE, language=given), "sources[1]")
    assert problems == [] and source["language"] == kept


@pytest.mark.parametrize("given", ["french", "xx1", "xx", "f"])
def test_a_language_that_is_no_iso_639_1_code_is_refused_saying_how_to_fix_it(given):
    _, problems = clean_source(dict(GOOD_SOURCE, language=given), "sources[1]")
    [p] = problems
    assert p.field == "language" and p.where == "sources[1]"
    assert f"'{given}' is not an ISO 639-1 language code" in p.message
    assert "two-letter code" in p.message and "en, fr, es or pt" in p.message


# --- the write path, history, export and import -------------------------------------------------------------------

def test_the_write_path_stores_the_language_and_history_records_it(db):
    origin = Origin("updates", "source", "source-fr")
    report = apply_changes(db, origin, sources=[GOOD_SOURCE])
    assert report.sources.added == ["source-fr"]
    assert source_store.source_records(db, ["source-fr"])["source-fr"][0]["language"] == "fr"
    apply_changes(db, origin, sources=[dict(GOOD_SOURCE, language="es")])
    assert source_store.source_records(db, ["source-fr"])["source-fr"][0]["language"] == "es"
    edit, create = [h for h in editing_db.list_history(db, entity="source", entity_id="source-fr", limit=10)[0]]
    assert create["after"]["language"] == "fr" and edit["after"]["language"] == "es"
    assert json.loads(edit["fields"]) == ["language"]


@pytest.fixture
def updated(updated_instance, tmp_path):
    """(app, connection) of a private copy of the registry with every file of geodata/updates/ applied."""
    folder = tmp_path / "updated"
    shutil.copytree(updated_instance[0], folder)
    conn = storage.connect(str(folder / "registry.db"))
    yield make_app(folder), conn
    conn.conn.close()


@pytest.mark.parametrize("fmt", ("json", "geojson"))
def test_export_then_import_into_an_empty_registry_keeps_each_sources_language(updated, tmp_path, fmt):
    _, db = updated
    before = source_store.all_sources(db)
    assert {s["id"]: s["language"] for s in before}[GUINEA_SOURCE] == "fr"
    text = exports.export_text(fmt, [], [], sources=before)
    assert {s["id"]: s.get("language") for s in json.loads(text)["sources"]}[GUINEA_SOURCE] == "fr"
    empty = storage.connect(str(tmp_path / "empty.db"))
    storage.migrate(empty)
    ingest.import_data(empty, text.encode(), fmt)
    assert source_store.all_sources(empty) == before
    empty.conn.close()


def test_the_api_gives_each_sources_language(updated):
    app, _ = updated
    client = app.test_client()
    rows = client.get("/api/sources?per_page=100").get_json()["results"]
    by_id = {r["id"]: r["language"] for r in rows}
    assert by_id[GUINEA_SOURCE] == "fr" and by_id[REPORT_SOURCE_ID] == "en"
    assert client.get(f"/api/sources/{GUINEA_SOURCE}").get_json()["language"] == "fr"


# --- the pages --------------------------------------------------------------------------------------------------

def html_of(client, path):
    response = client.get(path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def marked(html, lang, text):
    """Whether `text` (HTML-escaped as pages write it) stands inside a <span lang="lang">."""
    escaped = text.replace("'", "&#39;")
    return re.search(rf'<span lang="{lang}">[^<]*{re.escape(escaped)}', html) is not None


@pytest.mark.parametrize("page_lang", ("en", "es"))
def test_a_french_sources_quote_and_title_are_marked_french_on_other_pages(updated, page_lang):
    app, _ = updated
    client = app.test_client()
    html = html_of(client, f"/projects/planetgold-guinea?lang={page_lang}")
    assert f'<html lang="{page_lang}">' in html and GUINEA_QUOTE in html
    assert marked(html, "fr", GUINEA_QUOTE)
    assert marked(html, "fr", "Une exploitation artisanale de l'or responsable")
    source = html_of(client, f"/sources/{GUINEA_SOURCE}?lang={page_lang}")
    assert marked(source, "fr", GUINEA_QUOTE) and marked(source, "fr", "Une exploitation artisanale")
    assert marked(html_of(client, f"/sources?lang={page_lang}"), "fr", "Une exploitation artisanale")


def test_on_a_french_page_a_french_source_is_not_wrapped_and_an_english_one_is(updated):
    app, _ = updated
    client = app.test_client()
    html = html_of(client, "/projects/planetgold-guinea?lang=fr")
    assert '<html lang="fr">' in html and GUINEA_QUOTE in html
    assert not marked(html, "fr", GUINEA_QUOTE)
    # the seed's quotes come from the English report: marked English on the French page, not on the English one
    report_title = "Report on activities undertaken within the United Nations Environment Programme"
    assert marked(html_of(client, f"/sources/{REPORT_SOURCE_ID}?lang=fr"), "en", report_title)
    assert not marked(html_of(client, f"/sources/{REPORT_SOURCE_ID}?lang=en"), "en", report_title)


# --- the update files -------------------------------------------------------------------------------------------

# a few of each language's commonest words: enough to tell which language a sentence of a news item is in
STOPWORDS = {
    "en": "the and of to in is was with for by on from this that are will has have".split(),
    "fr": "le la les des du et est une un pour dans sur par au aux qui ce été".split(),
    "es": "el la los las del y es una un para en por con que se fue".split(),
    "nl": "het de een en van is met voor werkt samen".split(),
    "pt": "o os da do das dos e um uma para com que não".split(),
}


def written_in(text):
    """The language whose common words `text` uses clearly most (three or more, twice the runner-up), or None."""
    words = re.findall(r"[a-zà-ÿ]+", text.lower())
    scores = sorted(((sum(w in common for w in words), lang) for lang, common in STOPWORDS.items()), reverse=True)
    (best, lang), (second, _) = scores[0], scores[1]
    return lang if best >= 3 and best >= 2 * second else None


def quotes_of(node, document):
    if isinstance(node, dict):
        found = [node["quote"]] if node.get("document") == document and node.get("quote") else []
        return found + [q for value in node.values() for q in quotes_of(value, document)]
    if isinstance(node, list):
        return [q for value in node for q in quotes_of(value, document)]
    return []


def test_each_update_files_source_language_is_the_language_of_its_quotes():
    checked, named = 0, set()
    for path in sorted(UPDATES_DIR.glob("*.json")):
        doc = json.loads(path.read_text("utf-8"))
        for raw in doc.get("sources", []):
            source, problems = clean_source(raw, path.name)
            assert problems == [], (path.name, problems)
            if source["language"] is None:
                continue
            named.add(source["language"])
            for quote in quotes_of(doc, source["id"]):
                if (lang := written_in(quote)) is not None:
                    checked += 1
                    assert lang == source["language"], (path.name, quote)
    assert checked > 50 and {"en", "fr", "es"} <= named


# --- the editor -------------------------------------------------------------------------------------------------

def test_the_editors_source_form_saves_the_language_and_refuses_a_name(app, db):
    editor = logged_in(app, "sofia", "editor")
    url = "/editor/sources/new"
    fields = read_form(editor.get(url).get_data(as_text=True))
    values = dict(GOOD_SOURCE, id="rapport-fr", language="French")
    for name, value in values.items():
        set_field(fields, name, value)
    refused = post_form(editor, url, fields)
    assert refused.status_code == 400 and "rapport-fr" not in source_store.source_ids(db)
    assert "is not an ISO 639-1 language code" in refused.get_data(as_text=True)
    set_field(fields, "language", "fr")
    assert post_form(editor, url, fields).status_code == 302
    assert editing_db.source_record(db, "rapport-fr")[0]["language"] == "fr"
    edit = "/editor/sources/rapport-fr/edit"
    assert 'value="fr"' in re.search(r'<input[^>]*name="language"[^>]*>', editor.get(edit).get_data(as_text=True))[0]
