"""Issue 13 on the maps: the map, the embed, the PNG, the share panel and the newsletter speak English,
French and Spanish (?lang=), through the real app on the seeded instance and the committed catalogs.
Expected words come from the catalogs, core/geo and core/regions, not from strings written here."""
import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from conftest import catalog
from registry.core import geo
from registry.core import regions as region_table
from registry.core.labels import labels as vocabulary
from registry.core.language import ENGLISH
from registry.core.query import ProjectQuery
from registry.core.summary import summarise
from registry.maps import png as staticmap
from registry.store import db as storage
from registry.web.maps import map_strings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def seed_facts(shared_app):
    """A country, a funder and a status that select projects together in the seed."""
    db = storage.connect(shared_app.config["DATABASE"], readonly=True)
    row = db.execute(
        "SELECT c.iso3, r.org_id, p.status, count(*) FROM projects p JOIN project_countries c ON c.project_id = p.id "
        "JOIN roles r ON r.project_id = p.id AND r.role = 'funder' WHERE p.status = 'ongoing' "
        "GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT 1").fetchone()
    db.conn.close()
    return {"country": row[0], "funder": row[1], "status": row[2]}


def page_config(html):
    match = re.search(r"RegistryMap\.init\([\w$]+, (?={)", html)
    return json.JSONDecoder().raw_decode(html, match.end())[0]


def english_strings(app):
    with app.test_request_context("/map"):
        return map_strings()


# --- the interactive map --------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["fr", "es"])
def test_the_map_configuration_speaks_the_language(shared_app, reader, lang):
    config = page_config(reader.get(f"/map?area=asgm&lang={lang}").get_data(as_text=True))
    words = catalog(lang)
    english = english_strings(shared_app)
    assert config["lang"] == lang and set(config["strings"]) == set(english)
    for key, text in english.items():          # every string through the catalog, none left in English
        sent = config["strings"][key]
        if isinstance(text, dict):
            assert sent == {"one": words.ngettext(text["one"], text["other"], 1),
                            "other": words.ngettext(text["one"], text["other"], 2)}, key
            assert sent["other"] != text["other"], key
        else:
            assert sent == words.gettext(text), key
            assert sent != text or text.startswith("%("), key    # only placeholders stay as they are
    assert {k: a["label"] for k, a in config["areas"].items()} == vocabulary("area", words)
    assert config["areas"]["asgm"]["label"] != vocabulary("area")["asgm"]
    assert config["precisions"] == vocabulary("precision", words)
    assert config["coordsSources"] == vocabulary("coords_source", words)
    assert config["projectSuffix"] == f"?lang={lang}"       # links the script builds keep the language
    assert config["countryNames"]["PER"] == geo.country_name("PER", lang) != geo.country_name("PER")


def test_the_documented_strings_are_the_sent_ones(shared_app):
    text = (ROOT / "docs" / "maps.md").read_text("utf-8")
    section = text[text.index("### `strings`"):text.index("## Online tiles")]
    documented = re.findall(r"^\| `(\w+)` \|", section, flags=re.M)
    assert set(documented) == set(english_strings(shared_app))


def test_english_map_is_unchanged_and_carries_no_language(reader):
    config = page_config(reader.get("/map?area=asgm").get_data(as_text=True))
    assert config["lang"] == "en" and config["projectSuffix"] == ""
    assert config["strings"]["searchArea"] == "Search this area"
    assert config["areas"]["asgm"]["label"] == "Artisanal and small-scale gold mining (ASGM)"


@pytest.mark.parametrize("lang", ["fr", "es"])
def test_map_data_names_countries_in_the_language_and_keys_its_etag_on_it(reader, lang, seed_facts):
    iso3 = seed_facts["country"]
    english = reader.get(f"/map/data.json?country={iso3}")
    translated = reader.get(f"/map/data.json?country={iso3}&lang={lang}")
    names = {row[0]: row[1] for row in translated.get_json()["countries"]}
    assert names[iso3] == geo.country_name(iso3, lang)
    assert english.headers["ETag"] != translated.headers["ETag"]
    # a revalidation in another language never gets the English payload
    assert reader.get(f"/map/data.json?country={iso3}&lang={lang}",
                      headers={"If-None-Match": english.headers["ETag"]}).status_code == 200


def test_the_page_chrome_and_chips_are_translated(reader, seed_facts):
    words = catalog("fr")
    html = reader.get(f"/map?country={seed_facts['country']}&status=ongoing&lang=fr").get_data(as_text=True)
    assert words.gettext("Map of projects") in html and words.gettext("Embed / share this map") in html
    assert words.gettext("Regional and global projects") in html
    assert geo.country_name(seed_facts["country"], "fr") in html               # its chip
    assert vocabulary("status", words)["ongoing"] in html
    assert '<input type="hidden" name="lang" value="fr">' in html              # the search form keeps it


# --- embed, share panel, newsletter ---------------------------------------------------------------

def test_the_embed_caption_is_spanish(reader, seed_facts):
    html = reader.get(f"/embed/map?country={seed_facts['country']}&lang=es").get_data(as_text=True)
    words = catalog("es")
    assert '<html lang="es">' in html
    caption = re.search(r'<span class="embed-sentence">([^<]*)</span>', html).group(1)
    assert geo.country_name(seed_facts["country"], "es") in caption
    assert re.search(r"\d+ proyectos?\b", caption) and "project" not in caption
    assert words.gettext("Projects as a list") in html and "lang=es" in re.search(
        r'class="embed-caption"[^>]*><a href="([^"]*)"', html).group(1)


def test_the_share_panel_gives_urls_and_embed_code_in_the_language(reader):
    html = reader.get("/map?area=asgm&lang=fr").get_data(as_text=True)
    panel = html[html.index('<details class="map-share"'):html.index("</details>", html.index('class="map-share"'))]
    urls = re.findall(r'(?:value|data-base|data-src|href)="(https?://[^"]+)"', panel)
    assert urls and all("lang=fr" in url for url in urls), urls
    assert 'data-title="Carte' in panel                 # the iframe's title, which share.js copies
    assert "lang=fr" in re.search(r"&lt;iframe src=&#34;([^&]*(?:&amp;[^&]*)*)", panel).group(0)


def test_the_newsletter_snippet_and_its_text_are_french_with_the_language_in_every_url(reader, seed_facts):
    params = f"country={seed_facts['country']}&lang=fr"
    words = catalog("fr")
    page = reader.get(f"/map/newsletter?{params}").get_data(as_text=True)
    snippet = re.search(r'<textarea[^>]*aria-label="HTML de la lettre[^"]*">(.*?)</textarea>', page, re.S).group(1)
    snippet = snippet.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&#34;", '"')
    assert words.gettext("Open the interactive map") in snippet and "alt=\"Ouvrir la carte interactive" in snippet
    urls = re.findall(r'(?:href|src)="([^"]+)"', snippet)
    assert len(urls) >= 4 and all("lang=fr" in url for url in urls), urls
    text = reader.get(f"/map/newsletter.txt?{params}").get_data(as_text=True)
    assert words.gettext("Mercury Partnership Registry · UNEP Global Mercury Partnership") in text
    assert text.startswith(re.search(r"\d+ projets?", text).group(0))
    text_urls = re.findall(r"https?://\S+", text)
    assert len(text_urls) >= 2 and all("lang=fr" in url for url in text_urls), text_urls


# --- the PNG --------------------------------------------------------------------------------------

def test_the_png_speaks_the_language(app, client):
    """On a private copy (`app`): rendered images go to its cache folder, which others copy."""
    english = client.get("/map.png?area=asgm&width=400")
    french = client.get("/map.png?area=asgm&width=400&lang=fr")
    assert english.status_code == french.status_code == 200
    assert english.data != french.data and english.headers["ETag"] != french.headers["ETag"]
    assert Image.open(io.BytesIO(french.data)).size == (400, 240)
    legend = staticmap.legend_words(catalog("fr"))
    assert legend["title"] != staticmap.legend_words()["title"]
    assert set(legend["markers"].values()) == {vocabulary("precision", catalog("fr"))[p] for p in staticmap.MARKERS}
    # the renderer writes these very words: its layout records every text it drew
    with app.test_request_context("/map.png?area=asgm&lang=fr"):
        from registry.web.maps import _selection
        from registry.maps import data as mapdata
        from registry.search.finder import find_projects
        from registry.web.context import index_settings, selection_summary
        db, query = _selection()
        results = find_projects(db, index_settings(), query, with_page=False, with_facets=False)
        data = mapdata.map_data(db, results.ids, lang="fr")
        summary = selection_summary(db, query, results.total)
        _, layout = staticmap.render(data, summary.sentence, "", 400, 240, words=catalog("fr"))
    drawn = [text for text, _ in layout.texts]
    assert legend["credit"] in drawn and legend["title"] in layout.legend_texts
    assert set(legend["markers"].values()) <= set(layout.legend_texts)
    assert " ".join(layout.title_lines).startswith(re.match(r"\d+ projets?", summary.sentence).group(0))


def test_the_share_panel_png_url_carries_the_language(reader):
    html = reader.get("/map?lang=es").get_data(as_text=True)
    png = re.search(r'href="(http[^"]*/map\.png[^"]*)"', html).group(1)
    assert "lang=es" in png


# --- the summary sentence -------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["fr", "es"])
def test_the_summary_of_a_country_funder_and_status_in_the_language(lang):
    words = catalog(lang)
    query = ProjectQuery(countries=("PER",), funders=("gef",), statuses=("ongoing",))
    s = summarise(query, 3, {"gef": "GEF"}, words=words, lang=lang)
    assert geo.country_name("PER", lang) in s.sentence and "GEF" in s.sentence
    assert words.gettext("ongoing") in s.sentence and words.gettext("ongoing") != "ongoing"
    noun = words.ngettext("%(num)s %(statuses)s project", "%(num)s %(statuses)s projects", 3)
    assert s.sentence.startswith(noun % {"num": "3", "statuses": words.gettext("ongoing")})
    assert words.ngettext("funded by %(funders)s", "funded by %(funders)s", 3) % {"funders": "GEF"} in s.sentence
    assert s.count == words.ngettext("%(num)s project", "%(num)s projects", 3) % {"num": "3"}
    assert not re.search(r"\b(projects?|funded|in)\b", s.sentence)       # no English left
    assert s.slug == "projects-funded-by-gef-in-peru"                     # file names stay English


@pytest.mark.parametrize("lang", ["fr", "es"])
def test_the_summary_names_regions_and_counts_countries_in_the_language(lang):
    words = catalog(lang)
    latin_america = region_table.get_region("419")
    s = summarise(ProjectQuery(regions=("419",)), 1, words=words, lang=lang)
    assert latin_america.name_in(lang) in s.sentence and latin_america.name_in(lang) != latin_america.name
    many = ("BOL", "COL", "ECU", "PER")
    s = summarise(ProjectQuery(countries=many), 1234, words=words, lang=lang)
    assert region_table.get_region("005").name_in(lang) in s.sentence       # South America, counted
    from babel.numbers import format_decimal
    assert s.count.startswith(format_decimal(1234, locale=lang))           # the locale's digits
    assert summarise(ProjectQuery(), 0, words=words, lang=lang).count == words.gettext("No projects")


def test_an_english_summary_is_unchanged():
    q = ProjectQuery(funders=("gef",), regions=("419",), statuses=("ongoing",), year_from=2020, year_to=2022)
    s = summarise(q, 11, {"gef": "GEF"}, words=ENGLISH, lang="en")
    assert s.sentence == "11 ongoing projects funded by GEF in Latin America and the Caribbean, active 2020–2022"
    assert s == summarise(q, 11, {"gef": "GEF"})


def test_a_bad_png_size_is_explained_in_the_language(reader):
    r = reader.get("/map.png?width=0&lang=fr")
    assert r.status_code == 400
    words = catalog("fr")
    template = words.gettext("'%(name)s' must be a whole number of pixels between %(low)s and %(high)s "
                             "(e.g. %(example)s)")
    expected = template % {"name": "width", "low": 200, "high": 1200, "example": "width=600"}
    assert expected != template and expected in r.get_data(as_text=True)
