"""Issue 13: which language a request gets, and how the choice travels with links.

`?lang=` first, then the cookie the switcher sets, then Accept-Language, then English; `<html lang>` says
which; hreflang alternates name the page in every language; links (and so share URLs and embed codes)
keep `lang=` once a language is chosen; static files never vary."""
import re

import pytest

from registry.core.language import (DEFAULT_LANGUAGE, LANGUAGES, choose_language, localized,
                                    translated_field_names, valid_language)


def html_lang(response):
    return re.search(r'<html lang="([a-z]+)"', response.get_data(as_text=True)).group(1)


def test_choose_language_follows_the_order_and_skips_nonsense():
    assert choose_language("es", "fr", "fr") == "es"
    assert choose_language(None, "fr", "es") == "fr"
    assert choose_language("xx", "zz", "es") == "es"
    assert choose_language("", None, None) == DEFAULT_LANGUAGE
    assert choose_language("FR-ca", None, None) == "fr"
    assert valid_language(["fr"]) is None and valid_language("f" * 10_000) is None


def test_a_record_falls_back_to_english_and_says_so():
    record = {"title": "planetGOLD Peru", "title_es": "planetGOLD Perú"}
    assert localized(record, "title", "es") == ("planetGOLD Perú", "es")
    assert localized(record, "title", "fr") == ("planetGOLD Peru", "en")
    assert localized(record, "title", "en") == ("planetGOLD Peru", "en")
    assert translated_field_names() == ("title_fr", "title_es", "summary_fr", "summary_es")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_query_parameter_chooses_and_the_cookie_remembers(app, lang):
    client = app.test_client()
    first = client.get(f"/about?lang={lang}", headers={"Accept-Language": "de"})
    assert first.status_code == 200 and html_lang(first) == lang
    assert f"lang={lang}" in first.headers["Set-Cookie"] and "SameSite=Lax" in first.headers["Set-Cookie"]
    again = client.get("/about", headers={"Accept-Language": "de"})
    assert html_lang(again) == lang                      # the cookie, with no ?lang=


def test_accept_language_is_the_default_and_english_the_last_resort(client):
    assert html_lang(client.get("/about", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"})) == "es"
    assert html_lang(client.get("/about", headers={"Accept-Language": "fr-CH, de;q=0.8"})) == "fr"
    assert html_lang(client.get("/about", headers={"Accept-Language": "de, ja"})) == "en"
    assert html_lang(client.get("/about")) == "en"


def test_a_bad_language_is_english_without_an_error(client):
    response = client.get("/about?lang=klingon")
    assert response.status_code == 200 and html_lang(response) == "en"
    assert "Set-Cookie" not in response.headers or "lang=" not in response.headers["Set-Cookie"]


def test_the_page_names_itself_in_every_language_and_links_keep_the_choice(client):
    body = client.get("/projects?q=gold&lang=fr").get_data(as_text=True)
    alternates = dict(re.findall(r'<link rel="alternate" hreflang="([a-z-]+)" href="([^"]+)"', body))
    assert set(alternates) == {*LANGUAGES, "x-default"}
    for code in LANGUAGES:
        assert "q=gold" in alternates[code] and f"lang={code}" in alternates[code]
    nav = re.search(r'<nav aria-label="[^"]*">(.*?)</nav>', body, re.S).group(1)
    links = re.findall(r'href="([^"]+)"', nav)
    assert links and all("lang=fr" in link for link in links)
    assert re.search(r'<input type="hidden" name="lang" value="fr">', body)   # the search form keeps it
    assert not re.search(r'/static/[^"]*lang=', body)                        # files never vary


def test_the_switcher_links_to_this_page_in_each_language(client):
    body = client.get("/projects?country=PER&lang=es").get_data(as_text=True)
    switcher = re.search(r'<nav class="languages"[^>]*>(.*?)</nav>', body, re.S).group(1)
    for code, name in (("en", "English"), ("fr", "Français"), ("es", "Español")):
        link = re.search(rf'<a href="([^"]+)"[^>]*lang="{code}"[^>]*>(?:<strong>)?{name}', switcher)
        assert link and "country=PER" in link.group(1) and f"lang={code}" in link.group(1)
    assert 'aria-current="true"' in switcher


def test_answers_that_depend_on_the_language_say_so_and_files_do_not(client):
    assert {"Accept-Language", "Cookie"} <= set(client.get("/about").headers["Vary"].replace(" ", "").split(","))
    static = client.get("/static/style.css")
    assert "Accept-Language" not in static.headers.get("Vary", "")
