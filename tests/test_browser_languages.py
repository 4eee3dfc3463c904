"""Issue 13, in a real browser: a reader switches the language of the project list with the switcher, keeps
the search, goes to the map, and reads its legend and its share panel in the new language.

The expected words come from the committed catalogs (what the English page shows, translated), not from
strings copied into the test: a legend or panel left in English fails, and so does an untranslated one."""
import re

import pytest

from conftest import catalog, make_app, serve

pytestmark = pytest.mark.slow   # a real browser
MAP_READY = ".folium-map[data-ready]"
QUERY = "mercury"


@pytest.fixture(scope="module")
def site(seeded_instance):
    server, base = serve(make_app(seeded_instance))
    yield base
    server.shutdown()


def messages_shown(text, lang, minimum_words=2):
    """{English message: its translation in `lang`} for every catalog message `text` shows whole."""
    found = {}
    for message in catalog(lang)._catalog.items():
        msgid, translated = message
        if isinstance(msgid, str) and msgid and "%" not in msgid and len(msgid.split()) >= minimum_words \
                and msgid != translated and msgid in text:
            found[msgid] = translated
    # a message inside a longer one shown ("Partnership area" in "Partnership area (shape and colour)") is
    # that longer message's words, translated with it
    return {m: t for m, t in found.items() if not any(m != other and m in other for other in found)}


def visible_text(page, selector):
    return re.sub(r"\s+", " ", page.locator(selector).first.inner_text())


@pytest.mark.parametrize("lang", ["fr", "es"])
def test_switching_language_keeps_the_search_and_translates_the_map(page, site, lang):
    page.goto(f"{site}/projects?q={QUERY}", wait_until="load")
    assert page.locator("html").get_attribute("lang") == "en"
    english_results = page.locator("main h2, main h3").count()
    page.locator(f'nav.languages a[lang="{lang}"]').click()
    page.wait_for_load_state("load")
    assert page.locator("html").get_attribute("lang") == lang
    assert f"q={QUERY}" in page.url and f"lang={lang}" in page.url
    assert page.locator('header input[name="q"]').input_value() == QUERY
    assert page.locator("main h2, main h3").count() == english_results > 0   # the same results

    # the map of the same search, in the same language, through the page's own link
    page.locator("a.map-link").first.click()
    page.wait_for_selector(MAP_READY, state="attached", timeout=20000)
    assert page.locator("html").get_attribute("lang") == lang and f"q={QUERY}" in page.url
    page.locator("details.map-share > summary").click()
    legend_fr, share_fr = visible_text(page, "#map-legend"), visible_text(page, "details.map-share")

    english = page.context.new_page()
    english.goto(page.url.replace(f"lang={lang}", "lang=en"), wait_until="load")
    english.wait_for_selector(MAP_READY, state="attached", timeout=20000)
    english.locator("details.map-share > summary").click()
    legend_en, share_en = visible_text(english, "#map-legend"), visible_text(english, "details.map-share")

    for part, shown_en, shown in (("legend", legend_en, legend_fr), ("share panel", share_en, share_fr)):
        expected = messages_shown(shown_en, lang)
        assert len(expected) >= 2, f"the English {part} shows too few catalog messages: {shown_en!r}"
        missing = {en: tr for en, tr in expected.items() if tr not in shown}
        assert not missing, f"the {lang} {part} lacks the translations of {missing}: {shown!r}"
        english_left = [en for en in expected if en in shown and en not in expected.values()]
        assert not english_left, f"the {lang} {part} still shows English: {english_left}"
    assert page.errors == []
