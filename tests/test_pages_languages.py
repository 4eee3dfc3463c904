"""Issue 13: the public pages (home, about, the project list, countries, regions, areas, errors) and the API's
errors in English, French and Spanish.

Each page is rendered by the real app on the seeded registry with ?lang=fr and ?lang=es: `<html lang>`, a
heading or label of the page in that language, vocabulary (partnership areas, statuses) and place names
(countries, M49 regions) in that language, numbers written the locale's way, and links that keep the
language. The expected translations are read from the compiled catalogs (what the app itself loads) and
must differ from the English, so a page left in English fails."""
import html as html_lib
import re

import pytest
from babel.numbers import format_decimal
from werkzeug.datastructures import MultiDict

from conftest import catalog

from registry.core import geo
from registry.core.labels import STATUS_LABELS
from registry.core.language import ENGLISH
from registry.core.query import QueryError, parse_query
from registry.core.validate import AREAS

OTHER = ("fr", "es")
# Headings and labels each page shows, in French and Spanish, as a reader would expect them
PAGES = {
    "/": {"fr": "Projets et partenaires du Partenariat mondial du PNUE sur le mercure",
          "es": "Proyectos y asociados de la Alianza Mundial sobre el Mercurio del PNUMA"},
    "/about": {"fr": "À propos du registre", "es": "Acerca del registro"},
    "/projects": {"fr": "Aucun projet ne correspond à ces filtres",
                  "es": "Ningún proyecto coincide con estos filtros"},
    "/countries": {"fr": "Pérou", "es": "Perú"},
    "/countries/PER": {"fr": "<h1>Pérou</h1>", "es": "<h1>Perú</h1>"},
    "/regions": {"fr": "Groupements de pays", "es": "Agrupaciones de países"},
    "/regions/419": {"fr": "<h1>Amérique latine et Caraïbes</h1>", "es": "<h1>América Latina y el Caribe</h1>"},
    "/areas/asgm": {"fr": "Rechercher et filtrer ces projets", "es": "Buscar y filtrar estos proyectos"},
}


def translated(lang, english):
    """The catalog's translation of `english`; it must exist (differ from the English)."""
    text = catalog(lang).gettext(english)
    assert text != english, f"{english!r} has no {lang} translation"
    return text


def page(client, url, **headers):
    response = client.get(url, headers=headers)
    return response, response.get_data(as_text=True)


def html_lang(text):
    return re.search(r'<html lang="([a-z]+)"', text).group(1)


def visible(text):
    """The page's text as a reader sees it: tags removed, entities decoded."""
    return html_lib.unescape(re.sub(r"<[^>]+>", "", text))


@pytest.mark.parametrize("lang", OTHER)
@pytest.mark.parametrize("url", list(PAGES))
def test_each_page_speaks_the_chosen_language(client, url, lang):
    # the project list: a selection with nothing in it, to see the empty list's advice
    asked = "/projects?status=postponed&country=ISL" if url == "/projects" else url
    response, text = page(client, f"{asked}{'&' if '?' in asked else '?'}lang={lang}")
    assert response.status_code == 200 and html_lang(text) == lang
    assert PAGES[url][lang] in text
    assert PAGES[url]["fr" if lang == "es" else "es"] not in text


@pytest.mark.parametrize("lang", OTHER)
def test_vocabulary_and_places_on_the_project_list_are_translated(client, lang):
    _, text = page(client, f"/projects?country=PER&lang={lang}")
    peru = geo.country_name("PER", lang)
    assert peru != "Peru" and f"{translated(lang, 'Remove filter:')} </span>{peru}</a>" in text   # the facet
    assert translated(lang, AREAS["asgm"]) in visible(text)   # an area, in the facets and on the results
    assert translated(lang, STATUS_LABELS["ongoing"]) in visible(text)
    assert ">Peru<" not in text and translated(lang, "Filters") in text
    for english in ("Partnership area", "Clear all filters", "Show on the map", "Apply"):
        assert translated(lang, english) in visible(text)


@pytest.mark.parametrize("lang", OTHER)
def test_countries_and_regions_are_named_in_the_page_language(client, lang):
    _, countries = page(client, f"/countries?lang={lang}")
    names = {"fr": ("Pérou", "Côte d’Ivoire", "Amériques"), "es": ("Perú", "Côte d’Ivoire", "Américas")}[lang]
    shown = visible(countries)
    assert all(name.replace("’", "'") in shown.replace("’", "'") for name in names), names
    assert ">Peru<" not in countries
    _, regions = page(client, f"/regions?lang={lang}")
    assert {"fr": "Afrique subsaharienne", "es": "África Subsahariana"}[lang] in regions


@pytest.mark.parametrize("lang", OTHER)
def test_numbers_are_written_the_locale_way(client, db, lang):
    project = db.execute("SELECT id FROM projects ORDER BY id LIMIT 1").fetchone()[0]
    db.conn.executemany("INSERT INTO locations (project_id, name, precision) VALUES (?, ?, 'country')",
                        [(project, f"Place {i}") for i in range(1200)])
    db.conn.commit()
    locations = db.execute("SELECT count(*) FROM locations").fetchone()[0]
    assert locations >= 1000                             # a number with a thousands separator
    _, about = page(client, f"/about?lang={lang}")
    written = format_decimal(locations, locale=lang)
    assert written != str(locations) and written in about   # fr: a narrow no-break space; es: a dot
    _, english = page(client, "/about?lang=en")
    assert format_decimal(locations, locale="en") in english


def test_accept_language_chooses_spanish_without_a_parameter(app):
    response, text = page(app.test_client(), "/projects", **{"Accept-Language": "es-PE,es;q=0.9,en;q=0.5"})
    assert html_lang(text) == "es" and translated("es", "Partnership area") in text


def test_the_cookie_of_a_french_visit_keeps_the_next_page_french(app):
    client = app.test_client()
    client.get("/countries?lang=fr")
    response, text = page(client, "/regions", **{"Accept-Language": "es"})
    assert html_lang(text) == "fr" and "Groupements de pays" in text


@pytest.mark.parametrize("url", ["/projects?lang=fr", "/countries?lang=fr", "/?lang=fr", "/regions/419?lang=fr"])
def test_links_on_a_french_page_keep_the_language(client, url):
    _, text = page(client, url)
    links = [html_lib.unescape(h) for h in re.findall(r'<a [^>]*href="([^"#]+)"', text)]
    internal = [h for h in links if h.startswith("/") and not h.startswith("/static/")]
    assert len(internal) > 10
    lost = [h for h in internal if not re.search(r"[?&]lang=(fr|en|es)(&|$)", h)]
    assert not lost, lost[:10]
    # the filter form and the search forms keep it too (a GET form's action loses its query string)
    assert text.count('<input type="hidden" name="lang" value="fr">') >= (2 if url.startswith("/projects") else 1)


@pytest.mark.parametrize("lang, title, back", [
    ("fr", "Projet « no-such-project » introuvable", "Retour à la page d'accueil du registre"),
    ("es", "Proyecto «no-such-project» no encontrado", "Volver a la página de inicio del registro")])
def test_a_missing_page_says_so_in_the_chosen_language(client, lang, title, back):
    response, text = page(client, f"/projects/no-such-project?lang={lang}")
    assert response.status_code == 404 and html_lang(text) == lang
    assert title in visible(text).replace("\u00a0", " ") and back in visible(text)
    _, other = page(client, f"/nothing/here?lang={lang}")
    assert translated(lang, "Page not found") in other


@pytest.mark.parametrize("url, code", [("/api/projects?country=Narnia", "unknown_country"),
                                       ("/api/projects?bbox=1,2,3", "invalid_bbox"),
                                       ("/api/projects?year_from=2020&year_to=2010", "invalid_parameter"),
                                       ("/api/projects/no-such-project", "not_found")])
def test_api_errors_keep_their_code_and_speak_the_language(client, url, code):
    english = client.get(url).get_json()["error"]
    assert english["code"] == code
    for lang, words in (("fr", ("pays inconnu", "« bbox »", "« year_to »", "aucun projet")),
                        ("es", ("país desconocido", "«bbox»", "«year_to»", "ningún proyecto"))):
        error = client.get(f"{url}&lang={lang}" if "?" in url else f"{url}?lang={lang}").get_json()["error"]
        assert error["code"] == code and error["message"] != english["message"]
        assert any(w in error["message"].replace("\u00a0", " ") for w in words), error["message"]
    assert "Narnia" in client.get("/api/projects?country=Narnia&lang=es").get_json()["error"]["message"]


def test_a_page_error_is_in_the_language_too(client):
    response, text = page(client, "/projects?country=Narnia&lang=fr")
    assert response.status_code == 400 and html_lang(text) == "fr"
    assert "pays inconnu" in visible(text) and "Erreur 400" in visible(text)


@pytest.mark.parametrize("lang, param, name, code", [
    ("fr", "country", "Pérou", "PER"), ("es", "country", "Perú", "PER"),
    ("fr", "region", "Amérique latine et Caraïbes", "419"), ("es", "region", "América Latina y el Caribe", "419")])
def test_filters_accept_place_names_in_french_and_spanish(client, lang, param, name, code):
    english = client.get(f"/api/projects?{param}={code}").get_json()
    found = client.get(f"/api/projects?{param}={name}&lang={lang}").get_json()
    assert found["total"] == english["total"] > 0


def test_an_unknown_language_falls_back_to_english(client):
    response, text = page(client, "/projects?lang=xx")
    assert response.status_code == 200 and html_lang(text) == "en"
    assert "Partnership area" in text and "lang=xx" not in text


def test_the_api_facets_follow_the_language(client):
    facets = client.get("/api/projects?country=PER&lang=es").get_json()["facets"]
    assert {v["label"] for v in facets["country"]["values"] if v["value"] == "PER"} == {"Perú"}
    assert translated("es", AREAS["asgm"]) in {v["label"] for v in facets["area"]["values"]}


def test_a_query_error_is_english_in_core_and_translated_from_its_template():
    """core/query.py raises in English without Flask; the web says it again from its msgid and values."""
    with pytest.raises(QueryError) as caught:
        parse_query(MultiDict({"year_from": "2020", "year_to": "2010"}))
    err = caught.value
    assert str(err) == err.message == err.translated(ENGLISH) == "'year_to' is before 'year_from'; swap them"
    with pytest.raises(QueryError) as caught:
        parse_query(MultiDict({"per_page": "5000"}))
    err = caught.value
    assert err.params == {"name": "per_page", "low": 1, "high": 100} and "per_page" in str(err)
    french, spanish = err.translated(catalog("fr")), err.translated(catalog("es"))
    assert "« per_page »" in french.replace("\u00a0", " ") and "entre 1 et 100" in french
    assert "«per_page»" in spanish and "entre 1 y 100" in spanish


@pytest.mark.parametrize("lang, words", [("fr", "cette méthode n'est pas autorisée ici"),
                                         ("es", "este método no está permitido aquí")])
def test_http_errors_speak_the_language(client, lang, words):
    refused = client.post(f"/api/projects?lang={lang}")
    assert refused.status_code == 405 and refused.get_json()["error"] == {
        "code": "method_not_allowed", "message": words}
    missing = client.get("/api/no/such/thing", headers={"Accept-Language": lang}).get_json()["error"]
    assert missing["code"] == "not_found" and missing["message"] == translated(
        lang, "no such API endpoint; see /api/openapi.json")
