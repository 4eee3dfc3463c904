"""HTTP caching of the newsletter's URLs (web/httpcache.py, docs/deployment.md "Caching and CDNs"): the
headers /map.png and /embed/map send, 304 on revalidation, and the per-process response cache in front of
Flask, which changes no answer: a cached answer has the bytes and headers Flask gives without it, every
language has its own entry, a change to the data is seen at once, and requests with a session cookie and
answers that are not a plain 200 never go through it."""
import re

import pytest

from registry.web.httpcache import CACHE_CONTROL, PRIVATE, ResponseCache

from conftest import import_samples, logged_in, make_app, session_copied_before_logout

PNG = "/map.png?area=asgm&country=GHA&width=300"
EMBED = "/embed/map?area=asgm&country=GHA"
URLS = (PNG, EMBED)
# What differs between two drawings of the same embed: only the map element's random id (folium's)
FOLIUM_ID = re.compile(rb"map_[0-9a-f]{32}")


@pytest.fixture
def cached_app(instance):
    return make_app(instance)


@pytest.fixture
def plain_app(instance):
    """The same instance with the response cache off: what Flask answers by itself."""
    return make_app(instance, RESPONSE_CACHE_BYTES=0)


def response_cache(app):
    assert isinstance(app.wsgi_app, ResponseCache)
    return app.wsgi_app


def answer(response):
    """(status, headers but Date, body with the map element's id made neutral) of a test-client response."""
    headers = sorted((k, v) for k, v in response.headers.items() if k != "Date")
    return response.status_code, headers, FOLIUM_ID.sub(b"map_ID", response.data)


@pytest.mark.parametrize("url", URLS)
def test_png_and_embed_send_caching_headers(cached_app, url):
    response = cached_app.test_client().get(url)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == CACHE_CONTROL
    assert "public" in response.cache_control and response.cache_control.max_age > 0
    assert response.headers["Last-Modified"]
    etag, weak = response.get_etag()
    assert etag and weak == (url == EMBED)    # the embed's bytes differ by folium's random element id
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("cache", [True, False], ids=["from the cache", "from Flask"])
@pytest.mark.parametrize("url", URLS)
def test_revalidation_answers_304(instance, url, cache):
    app = make_app(instance, **({} if cache else {"RESPONSE_CACHE_BYTES": 0}))
    client = app.test_client()
    first = client.get(url)
    for headers in ({"If-None-Match": first.headers["ETag"]},
                    {"If-Modified-Since": first.headers["Last-Modified"]}):
        again = client.get(url, headers=headers)
        assert again.status_code == 304 and again.data == b""
        assert again.headers["ETag"] == first.headers["ETag"]
        assert again.headers["Cache-Control"] == CACHE_CONTROL
    other = client.get(url, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.data


@pytest.mark.parametrize("url", URLS)
def test_a_304_from_the_cache_equals_one_from_flask(cached_app, plain_app, url):
    client, plain = cached_app.test_client(), plain_app.test_client()
    etag = client.get(url).headers["ETag"]
    assert client.get(url).status_code == 200   # now kept
    assert answer(client.get(url, headers={"If-None-Match": etag})) == \
        answer(plain.get(url, headers={"If-None-Match": etag}))


REQUESTS = [  # (url, Accept-Language, language cookie): every source of the language, alone and together
    (EMBED, None, None), (EMBED + "&lang=fr", None, None), (EMBED + "&lang=en", None, None),
    (EMBED + "&lang=es", None, None), (EMBED, "fr-FR,fr;q=0.9", None), (EMBED, "es", None),
    (EMBED, None, "fr"), (EMBED, "fr", "es"), (EMBED + "&lang=en", None, "fr"), (EMBED, "de", None),
    (PNG, None, None), (PNG + "&lang=fr", None, None), (PNG, "fr", None), (PNG, None, "es"),
]


def get(app, url, accept=None, cookie=None):
    client = app.test_client()
    if cookie:
        client.set_cookie("lang", cookie)
    return client.get(url, headers={"Accept-Language": accept} if accept else {})


def test_cached_answers_equal_flasks_in_every_language(cached_app, plain_app):
    for request in REQUESTS + REQUESTS[::-1]:   # each filled once, then read back after the others
        assert answer(get(cached_app, *request)) == answer(get(plain_app, *request)), request
    assert len(response_cache(cached_app).entries) == len(REQUESTS) - 1   # Accept-Language: de is no header at all


def test_two_languages_never_share_an_entry(cached_app):
    french, english, spanish = (get(cached_app, EMBED, "fr"), get(cached_app, EMBED, "en"),
                                get(cached_app, EMBED, None, "es"))
    assert 'lang="fr"' in french.get_data(as_text=True) and 'lang="en"' in english.get_data(as_text=True)
    assert 'lang="es"' in spanish.get_data(as_text=True)
    assert len({french.headers["ETag"], english.headers["ETag"], spanish.headers["ETag"]}) == 3
    assert get(cached_app, EMBED, "fr").data == french.data   # from the cache


def test_a_change_to_the_data_changes_etag_and_body(cached_app):
    client = cached_app.test_client()
    before = {url: client.get(url) for url in URLS}
    assert all(client.get(url).data == before[url].data for url in URLS)   # kept
    import_samples(cached_app)    # the real import path: a new GHA ASGM project, the data version moves on
    for url in URLS:
        after = client.get(url)
        assert after.status_code == 200
        assert after.headers["ETag"] != before[url].headers["ETag"]
        assert FOLIUM_ID.sub(b"", after.data) != FOLIUM_ID.sub(b"", before[url].data)
        stale = client.get(url, headers={"If-None-Match": before[url].headers["ETag"]})
        assert stale.status_code == 200 and stale.data == after.data
    assert "Map test: mercury-free" not in before[EMBED].get_data(as_text=True)


def test_a_session_cookie_is_never_served_from_the_cache(cached_app):
    anonymous = cached_app.test_client()
    kept = anonymous.get(EMBED)
    cache = response_cache(cached_app)
    (key, entry), = cache.entries.items()
    cache.entries[key] = type(entry)(entry.headers, b"marked", entry.headers_304, entry.etag, entry.last_modified)
    assert anonymous.get(EMBED).data == b"marked"            # anonymous readers get the kept answer
    editor = logged_in(cached_app, "cache-editor", "editor")
    answered = editor.get(EMBED)
    assert answered.status_code == 200 and answered.data != b"marked"
    assert FOLIUM_ID.sub(b"", answered.data) == FOLIUM_ID.sub(b"", kept.data)
    assert len(cache.entries) == 1                            # and it was not kept either


def test_an_answer_that_sets_a_cookie_is_private(cached_app):
    """A session cookie copied before its logout: the answer clears it (Set-Cookie), so no shared cache may
    keep it, even with ?lang= (no Vary)."""
    copied, _ = session_copied_before_logout(cached_app, "cache-leaver")
    stale = cached_app.test_client()
    stale.set_cookie("session", copied)
    for url in (EMBED + "&lang=fr", PNG):
        answered = stale.get(url)
        assert answered.status_code == 200 and "session=" in answered.headers["Set-Cookie"]
        assert answered.headers["Cache-Control"] == PRIVATE
        stale.set_cookie("session", copied)
    assert len(response_cache(cached_app).entries) == 0


@pytest.mark.parametrize("url", ["/map.png?width=abc", "/map.png?area=asgm&width=99999",
                                 "/embed/map?year_from=nineteen", "/embed/map?country=ZZZ"])
def test_a_bad_request_is_not_cached(cached_app, plain_app, url):
    client = cached_app.test_client()
    first, second = client.get(url), client.get(url)
    assert first.status_code == 400 and answer(second) == answer(first) == answer(plain_app.test_client().get(url))
    assert len(response_cache(cached_app).entries) == 0


def test_head_and_other_paths_pass_through(cached_app):
    client = cached_app.test_client()
    assert client.head(EMBED).status_code == 200
    assert client.get("/map?area=asgm").status_code == 200
    assert len(response_cache(cached_app).entries) == 0


def test_embedded_urls_with_lang_set_no_cookie_and_vary_on_nothing(cached_app):
    client = cached_app.test_client()
    for url in (EMBED + "&lang=fr", PNG + "&lang=fr"):
        response = client.get(url)
        assert "Set-Cookie" not in response.headers
        assert "Accept-Language" not in response.headers.get("Vary", "")
        assert "Cookie" not in response.headers.get("Vary", "")
    without = client.get(EMBED)                        # the language comes from headers: say so
    assert {"Accept-Language", "Cookie"} <= set(without.headers["Vary"].replace(" ", "").split(","))
    assert "lang=fr" in client.get("/map?lang=fr").headers["Set-Cookie"]   # the site's own pages still remember it


@pytest.mark.slow
def test_every_gunicorn_worker_gives_the_same_validators(instance, tmp_path):
    """Under gunicorn with 2 workers (as `make serve`): whichever worker answers, the same ETag and
    Last-Modified, the same PNG bytes, and 304 to a revalidation made against another worker's answer."""
    from bench.burst import fetch
    from bench.servers import registry_server

    with open(tmp_path / "server.log", "w") as log, registry_server(instance, log, workers=2) as server:
        for url in URLS:
            answers = [fetch(server.base, url) for _ in range(12)]   # a new connection each: both workers answer
            assert {a["status"] for a in answers} == {200}
            for header in ("etag", "last-modified", "cache-control"):
                assert len({a["headers"][header] for a in answers}) == 1, header
            if url == PNG:
                assert len({a["body"] for a in answers}) == 1
            etag = answers[0]["headers"]["etag"]
            revalidated = [fetch(server.base, url, {"If-None-Match": etag}) for _ in range(6)]
            assert {(r["status"], r["body"]) for r in revalidated} == {(304, b"")}
        assert fetch(server.base, "/map.png?width=abc")["status"] == 400

