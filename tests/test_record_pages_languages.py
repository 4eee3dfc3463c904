"""Issue 13: the record pages and their lists (project, organisation, organisations, sources, source, changes,
statistics) and the Atom feed speak English, French and Spanish.

Each page is read from the real app over a copy of the seeded registry. What it should say is taken from the
app's own catalogs (`tr`: the request's gettext) and Babel's CLDR dates (`in_words`), never typed here, and
each expected text is first checked to differ from the English, so no assertion passes on an untranslated page.
"""
import json
import re
import xml.etree.ElementTree as ET
from datetime import date, datetime

import pytest
from babel.dates import format_date, format_skeleton
from markupsafe import escape

from conftest import MAP_SAMPLE_SOURCE
from registry.core.labels import labels
from registry.exchange import ingest
from registry.search import index as search
from registry.store import db as storage
from registry.store import sources as source_store
from registry.web import language
from registry.web.context import index_settings

LANGS = ("fr", "es")
ATOM = "{http://www.w3.org/2005/Atom}"
SVG = "{http://www.w3.org/2000/svg}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def tr(app, lang, message, **values):
    """`message` as the app says it in `lang` (its compiled catalog), checked to be translated."""
    with app.test_request_context(f"/?lang={lang}"):
        text = language.words().gettext(message)
    assert text != message or message in ("Total", "Type", "Sources", "Pages"), f"{message!r} has no {lang} translation"
    return text % values if values else text


def label(app, lang, vocabulary, key):
    with app.test_request_context(f"/?lang={lang}"):
        text = labels(vocabulary, language.words())[key]
    assert text != labels(vocabulary)[key], f"the {vocabulary} label {key!r} has no {lang} translation"
    return text


def in_words(value, lang):
    """A registry date as CLDR writes it in `lang`: "7 décembre 2026", "diciembre de 2026", "2026"."""
    if re.fullmatch(r"\d{4}", value):
        return value
    if re.fullmatch(r"\d{4}-\d{2}", value):
        return format_skeleton("yMMMM", date(int(value[:4]), int(value[5:]), 1), locale=lang)
    return format_date(date.fromisoformat(value[:10]), "long", locale=lang)


def page(client, path, lang):
    response = client.get(path + ("&" if "?" in path else "?") + f"lang={lang}")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    html = response.get_data(as_text=True)
    assert f'<html lang="{lang}">' in html
    return html


def text_of(html):
    """The page's text: tags removed, entities decoded, white space joined (for sentences with links)."""
    from html import unescape
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", html)))


# --- the project page -----------------------------------------------------------------------------------

def dated_project(db):
    """A seeded project whose newest source is dated (an "As of" line) and whose status is ongoing."""
    for (pid,) in db.execute("SELECT id FROM projects WHERE status = 'ongoing' ORDER BY id"):
        as_of = source_store.as_of(db, [pid]).get(pid)
        if as_of and len(as_of) == 10:
            return pid, as_of
    pytest.fail("the seed has no ongoing project with a dated source")


@pytest.mark.parametrize("lang", LANGS)
def test_the_project_page_speaks_the_language(app, client, db, lang):
    pid, as_of = dated_project(db)
    html = page(client, f"/projects/{pid}", lang)
    assert f"<h2>{tr(app, lang, 'Where')}</h2>" in html and f"<dt>{tr(app, lang, 'Partnership area')}</dt>" in html
    assert f">{label(app, lang, 'status', 'ongoing').lower()}</span>" in html
    written = in_words(as_of, lang)
    assert written != in_words(as_of, "en")
    assert f'<time datetime="{as_of}">{written}</time>' in html
    assert tr(app, lang, "As of %(date)s", date=written) in text_of(html)
    assert "As of" not in html and "Funded by" not in html and "Last updated" not in html


@pytest.mark.parametrize("lang", LANGS)
def test_the_project_pages_links_and_search_form_keep_the_language(client, db, lang):
    pid, _ = dated_project(db)
    html = page(client, f"/projects/{pid}", lang)
    assert f'href="/changes?entity=project&amp;id={pid}&amp;lang={lang}"' in html
    assert f'<input type="hidden" name="lang" value="{lang}">' in html


# --- titles and summaries in French and Spanish (fields from issue 13's records work) ---------------------

TRANSLATED = {"id": "lang-test-translated", "title": "Mercury-free gold processing in Kédougou",
              "title_fr": "Traitement de l'or sans mercure à Kédougou",
              "summary": "A pilot of gravity concentration.",
              "summary_fr": "Un projet pilote de concentration gravimétrique.",
              "kind": "project", "area": "asgm", "status": "ongoing", "countries": ["SEN"],
              "locations": [{"name": "Kédougou", "precision": "subnational", "lat": 12.56, "lon": -12.18}],
              "sources": MAP_SAMPLE_SOURCE}
ENGLISH_ONLY = {"id": "lang-test-english", "title": "Dental amalgam phase-down in Lima",
                "summary": "A campaign with dentists.", "kind": "campaign", "area": "products", "status": "planned",
                "countries": ["PER"], "locations": [{"name": "Lima", "precision": "site", "lat": -12.05, "lon": -77.04}],
                "sources": MAP_SAMPLE_SOURCE}


@pytest.fixture
def translated_records(app):
    """The two projects imported through the registry's one write path (exchange/ingest, as `flask import`)."""
    db = storage.connect(app.config["DATABASE"])
    try:
        report = ingest.import_data(db, json.dumps({"projects": [TRANSLATED, ENGLISH_ONLY]}).encode(), "json")
        stored = storage.get_project(db, TRANSLATED["id"])
    finally:
        db.conn.close()
    assert stored["title_fr"] == TRANSLATED["title_fr"]   # the write path kept it: the pages below read it
    with app.app_context():
        search.update_projects(index_settings(app), report.added + report.changed)
    return report


def test_a_project_with_a_french_title_shows_it_in_french(client, translated_records):
    html = page(client, f"/projects/{TRANSLATED['id']}", "fr")
    assert f"<h1>{escape(TRANSLATED['title_fr'])}</h1>" in html
    assert f'<p class="lead">{escape(TRANSLATED["summary_fr"])}</p>' in html
    assert f"<title>{escape(TRANSLATED['title_fr'])} ·" in html
    assert TRANSLATED["title"] not in html


def test_a_project_without_a_spanish_title_shows_its_english_marked_as_english(client, translated_records):
    for record in (TRANSLATED, ENGLISH_ONLY):
        html = page(client, f"/projects/{record['id']}", "es")
        assert f'<h1><span lang="en">{escape(record["title"])}</span></h1>' in html
        assert f'<p class="lead"><span lang="en">{escape(record["summary"])}</span></p>' in html
    english = page(client, f"/projects/{TRANSLATED['id']}", "en")   # English: the English, unmarked
    assert f"<h1>{escape(TRANSLATED['title'])}</h1>" in english and "title_fr" not in english


def test_lists_of_an_organisations_projects_use_the_translated_title(app, client, translated_records):
    db = storage.connect(app.config["DATABASE"])
    try:
        storage_data = json.dumps({"organisations": [{"id": "lang-test-org", "name": "Lang Test NGO", "type": "ngo"}],
                                   "projects": [dict(TRANSLATED, organisations=[{"org": "lang-test-org",
                                                                                 "role": "implementer"}])]})
        ingest.import_data(db, storage_data.encode(), "json")
    finally:
        db.conn.close()
    html = page(client, "/organisations/lang-test-org", "fr")
    assert f">{escape(TRANSLATED['title_fr'])}</a>" in html
    spanish = page(client, "/organisations/lang-test-org", "es")
    assert f'<span lang="en">{escape(TRANSLATED["title"])}</span></a>' in spanish


# --- organisations ----------------------------------------------------------------------------------------

def dated_organisation(db):
    """An organisation with projects, its "as of" date a full date."""
    for (org,) in db.execute("SELECT DISTINCT org_id FROM roles ORDER BY org_id"):
        as_of = source_store.organisation_as_of(db, org)
        if as_of and len(as_of) == 10:
            return org, as_of
    pytest.fail("no organisation of the seed has a dated source")


@pytest.mark.parametrize("lang", LANGS)
def test_the_organisation_page_speaks_the_language(app, client, db, lang):
    org, as_of = dated_organisation(db)
    o = storage.get_organisation(db, org)
    html = page(client, f"/organisations/{org}", lang)
    assert f'<h2 id="works-with">{tr(app, lang, "Works with")}</h2>' in html
    assert f"<dd>{label(app, lang, 'org_type', o['type'])}</dd>" in html
    assert f'<time datetime="{as_of}">{in_words(as_of, lang)}</time>' in html
    assert "Works with" not in html and "shared project" not in html and "As of" not in html


@pytest.mark.parametrize("lang", LANGS)
def test_the_network_picture_speaks_the_language(app, client, db, lang):
    org = db.execute("SELECT org_id FROM roles GROUP BY org_id ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    html = page(client, f"/organisations/{org}", lang)
    svg = ET.fromstring(re.search(r'<svg xmlns="http://www.w3.org/2000/svg" class="network".*?</svg>', html, re.S)
                        .group(0))
    o = storage.get_organisation(db, org)
    name = f"{o['name']} ({o['acronym']})" if o.get("acronym") else o["name"]
    assert svg.find(f"{SVG}title").text == tr(app, lang, "Organisations that %(org)s works with", org=name)
    assert "shared project" not in ET.tostring(svg, encoding="unicode")


@pytest.mark.parametrize("lang", LANGS)
def test_the_organisations_list_speaks_the_language(app, client, lang):
    html = page(client, "/organisations?type=ngo", lang)
    assert f">{tr(app, lang, 'Results')}" in html and tr(app, lang, "Clear all filters") in html
    assert label(app, lang, "org_type", "ngo") in html
    assert f'placeholder="{escape(tr(app, lang, "Name, acronym, type or country"))}"' in html
    assert f'<input type="hidden" name="lang" value="{lang}">' in html
    assert re.search(r'href="/organisations\?[^"]*lang=' + lang, html)   # the filters' links keep it


# --- sources ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_the_sources_pages_speak_the_language(app, client, db, lang):
    html = page(client, "/sources", lang)
    assert tr(app, lang, "Every fact in the registry cites one of these public sources. Each record is “as of” the "
                         "newest source it cites. For each source: the projects that cite it, and the projects and "
                         "organisations its update added or changed.") in text_of(html)
    assert f'<span class="tag">{tr(app, lang, "report")}</span>' in html
    source = source_store.get_source(db, "gmp-report-2020-2022")
    html = page(client, "/sources/gmp-report-2020-2022", lang)
    assert f"<dt>{tr(app, lang, 'Published')}</dt>" in html
    assert f'<time datetime="{source["date"]}">{in_words(source["date"], lang)}</time>' in html
    assert f"<dd>{tr(app, lang, 'report')}</dd>" in html
    assert "Publisher" not in html and "Cited by" not in html


# --- the change log -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_the_change_log_speaks_the_language(app, client, db, lang):
    html = page(client, "/changes?entity=project", lang)
    assert f"<h1>{tr(app, lang, 'Recent changes')}</h1>" in html
    assert tr(app, lang, "added") in html and f">{tr(app, lang, 'projects')}</option>" in html
    stamp = re.search(r'<li id="change-\d+">.*?<time datetime="([^"]+)">([^<]+)</time>', html, re.S)
    assert in_words(stamp.group(1), lang) in stamp.group(2) and "UTC" in stamp.group(2)
    assert f'<input type="hidden" name="lang" value="{lang}">' in html
    assert "source: seed" not in html and "Recent changes" not in html


@pytest.mark.parametrize("lang", LANGS)
def test_a_bad_change_log_query_is_explained_in_the_language(app, client, lang):
    response = client.get("/changes", query_string={"since": "yesterday", "lang": lang})
    assert response.status_code == 400
    wanted = tr(app, lang, "'since' must be a date written YYYY-MM-DD, e.g. 2026-12-06")
    assert str(escape(wanted)) in response.get_data(as_text=True)
    api = client.get("/api/changes", query_string={"entity": "person", "lang": lang})
    assert api.status_code == 400 and api.get_json()["error"]["message"].startswith(
        tr(app, lang, "unknown %(name)s '%(value)s': use one of %(allowed)s", name="entity", value="person",
           allowed="project, organisation")[:12])


def test_the_last_change_of_a_record_is_said_in_the_language(app, client, db):
    pid, _ = dated_project(db)
    html = page(client, f"/projects/{pid}", "fr")
    block = re.search(r'<dd class="last-change">(.*?)</dd>', html, re.S).group(1)
    stamp = re.search(r'<time datetime="([^"]+)">([^<]+)</time>', block)
    assert stamp.group(2) == in_words(stamp.group(1), "fr")
    assert tr(app, "fr", "all changes") in block


# --- statistics -------------------------------------------------------------------------------------------------

def test_the_statistics_page_and_its_svg_charts_speak_french(app, client):
    english = page(client, "/stats", "en")    # drawn first in English: the French must not come from its cache
    html = page(client, "/stats", "fr")
    assert f"<h1>{tr(app, 'fr', 'Statistics')}</h1>" in html
    svgs = [ET.fromstring(s) for s in re.findall(r"<svg\b.*?</svg>", html, flags=re.S)]
    area = svgs[0]
    title = tr(app, "fr", "Projects by partnership area and status")
    assert area.find(f"{SVG}title").text == title and title not in english
    assert area.find(f"{SVG}desc").text.endswith(tr(app, "fr", "The numbers are in the table beside the chart."))
    drawn = [t.text for t in area.iter(f"{SVG}text") if t.text]
    assert tr(app, "fr", "Projects") in drawn                   # the axis label
    assert tr(app, "fr", "Ongoing") in drawn                    # the legend
    assert label(app, "fr", "area", "asgm").split(" (")[0] in drawn
    assert f'<th scope="col">{tr(app, "fr", "Partnership area")}</th>' in html
    countries = svgs[2]
    assert "Pérou" in [t.text for t in countries.iter(f"{SVG}text")]   # CLDR's French name (geodata names)
    for words in ("Projects by", "Horizontal bars", "No projects", "Partnership area"):
        assert words not in html


def test_the_chart_downloads_keep_the_language(app, client):
    html = page(client, "/stats?country=PER", "es")
    assert 'href="/stats/area-status.png?lang=es&amp;country=PER"' in html \
        or 'href="/stats/area-status.png?country=PER&amp;lang=es"' in html
    csv_text = client.get("/stats/area-status.csv?country=PER&lang=es").get_data(as_text=True)
    assert csv_text.startswith(tr(app, "es", "Partnership area") + ",")


# --- the Atom feed ---------------------------------------------------------------------------------------------

def test_the_atom_feed_speaks_spanish(app, client):
    response = client.get("/projects.atom", query_string={"country": "PER", "lang": "es"})
    assert response.status_code == 200
    feed = ET.fromstring(response.get_data())
    assert feed.get(XML_LANG) == "es"
    registry = tr(app, "es", "Mercury Partnership Registry")
    assert feed.find(f"{ATOM}subtitle").text.startswith(
        tr(app, "es", "The newest changes to these projects in the %(registry)s, newest first (at most %(max)s): "
                      "projects added, and which fields changed, from which source.", registry=registry, max=50)[:40])
    assert feed.find(f"{ATOM}author/{ATOM}name").text == registry
    self_link = next(link.get("href") for link in feed.findall(f"{ATOM}link") if link.get("rel") == "self")
    assert "lang=es" in self_link and "country=PER" in self_link
    seeded = tr(app, "es", "Added") + " " + tr(app, "es", "from the registry's first edition (the Partnership's "
                                                          "report on activities)")
    summaries = [e.find(f"{ATOM}summary").text for e in feed.findall(f"{ATOM}entry")]
    assert summaries and all(not s.startswith(("Added", "Update", "Changed")) for s in summaries)
    assert any(s.startswith(seeded) or s.startswith(tr(app, "es", "Update from %(source)s", source="")[:12])
               for s in summaries)
    updated = feed.find(f"{ATOM}updated").text
    assert datetime.fromisoformat(updated)   # still RFC 3339, whatever the language


def test_a_feed_entry_uses_the_projects_title_and_summary_in_the_feeds_language(client, translated_records):
    def entry(lang):
        feed = ET.fromstring(client.get(f"/projects.atom?q=Kédougou&lang={lang}").get_data())
        [found] = [e for e in feed.findall(f"{ATOM}entry") if TRANSLATED["id"] in e.find(f"{ATOM}id").text]
        return found.find(f"{ATOM}title").text, found.find(f"{ATOM}content").text
    title, content = entry("fr")
    assert title == TRANSLATED["title_fr"] and f"<p>{escape(TRANSLATED['summary_fr'])}</p>" in content
    title, content = entry("es")   # no Spanish: the English, its summary marked English in the HTML
    assert title == TRANSLATED["title"] and f'<p lang="en">{escape(TRANSLATED["summary"])}</p>' in content
