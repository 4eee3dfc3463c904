"""The request's language (issue 13): Flask-Babel with the catalogs of registry/translations/.

Chosen in this order (core/language.py choose_language): `?lang=`, the cookie the switcher sets, the
browser's Accept-Language, English. A request that names `?lang=` also sets the cookie, so the choice
sticks (not the PNG and the embed, which other sites and e-mails show: see _SHOWN_ELSEWHERE). While a
language is chosen (or is not English), every link url_for builds carries `lang=`, so share URLs, embed
codes, PNG URLs and newsletter snippets open in the language they were made in.
Layers below the web get the words they write through `words()` (gettext's interface).
"""
import re
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

from babel.dates import format_skeleton, format_time, get_datetime_format

from flask import g, has_request_context, request, session
from markupsafe import Markup
from flask_babel import Babel, format_date, format_decimal, get_locale, get_translations

from ..core.query import with_query
from ..core.language import (DEFAULT_LANGUAGE, LANG_COOKIE, LANG_PARAM, LANGUAGE_NAMES, LANGUAGES,
                             choose_language, localized, valid_language)

TRANSLATIONS_DIR = Path(__file__).resolve().parents[1] / "translations"
COOKIE_MAX_AGE = 365 * 24 * 3600
# Endpoints whose URLs never carry the language: files that are the same in every language
_LANGUAGE_FREE = {"static"}
# What other sites' pages and e-mails show (the embed, the PNG): their ?lang= sets no cookie (it would be a
# third-party cookie, and shared caches keep no answer that sets one), and with ?lang= the answer depends on
# no header or cookie, so it says no Vary: a CDN keeps one copy per URL (web/httpcache.py).
_SHOWN_ELSEWHERE = {"maps.png", "maps.embed_map"}


def current_language():
    """The request's language code ("en", "fr", "es"); English outside a request."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    if "lang" not in g:
        accepted = request.accept_languages.best_match(LANGUAGES)
        g.lang = choose_language(request.args.get(LANG_PARAM), request.cookies.get(LANG_COOKIE), accepted)
    return g.lang


def language_is_chosen():
    """Whether links should carry the language: it was asked for (?lang=, cookie) or is not English."""
    chosen = valid_language(request.args.get(LANG_PARAM)) or valid_language(request.cookies.get(LANG_COOKIE))
    return bool(chosen) or current_language() != DEFAULT_LANGUAGE


def words():
    """The request's translations (gettext, ngettext, pgettext), for layers that write words people read."""
    return get_translations()


def language_url(lang):
    """This page's URL in `lang`: the same path and query string, with lang= set."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k != LANG_PARAM]
    return with_query(request.path, urlencode(args + [(LANG_PARAM, lang)]))


def lang_field():
    """The hidden field that keeps the language in a GET form (a form's action loses its query string)."""
    if not language_is_chosen():
        return ""
    return Markup('<input type="hidden" name="{}" value="{}">').format(LANG_PARAM, current_language())


def _add_language(endpoint, values):
    if endpoint in _LANGUAGE_FREE or LANG_PARAM in values or not has_request_context():
        return
    if language_is_chosen():
        values[LANG_PARAM] = current_language()


def _remember_language(response):
    asked = valid_language(request.args.get(LANG_PARAM))
    elsewhere = request.endpoint in _SHOWN_ELSEWHERE
    if asked and asked != request.cookies.get(LANG_COOKIE) and not elsewhere:
        response.set_cookie(LANG_COOKIE, asked, max_age=COOKIE_MAX_AGE, samesite="Lax",
                            secure=request.is_secure, httponly=True)
    if elsewhere and asked:
        # the same answer for everyone: the session was only read to know who asks (editing's load_user), so
        # Flask must not add "Vary: Cookie" for it either
        session.accessed = False
    elif request.endpoint not in _LANGUAGE_FREE:
        response.vary.update(("Accept-Language", "Cookie"))
    return response


def _template_context():
    lang = current_language()
    return {"lang": lang, "LANGUAGES": LANGUAGES, "LANGUAGE_NAMES": LANGUAGE_NAMES,
            "language_url": language_url, "lang_field": lang_field,
            "localized": lambda record, field: localized(record, field, lang),
            "record_text": lambda record, field: record_text(record, field, lang)}


def record_text(record, field, lang):
    """A record's `field` in `lang` as HTML: its translation, or its English text marked lang="en"."""
    text, text_lang = localized(record, field, lang)
    if text_lang == lang or not text:
        return text or ""
    return Markup('<span lang="{}">{}</span>').format(text_lang, text)


def source_text(text, text_lang, lang):
    """Text from a source (its title, publisher, a quote) as HTML, marked with the source's language where that
    is not the page's (WCAG 3.1.2); a source of unknown language is left unmarked."""
    if not text or not text_lang or text_lang == lang:
        return text or ""
    return Markup('<span lang="{}">{}</span>').format(text_lang, text)


def number(value):
    """A number written the locale's way: 1,234 / 1 234 / 1.234."""
    return format_decimal(value)


_YEAR, _MONTH, _DAY = re.compile(r"\d{4}"), re.compile(r"\d{4}-\d{2}"), re.compile(r"\d{4}-\d{2}-\d{2}")


def date_text(value, time=False):
    """One of the registry's dates written in the request's language: "2026" as it is, "2026-12" as
    "December 2026" / "décembre 2026" / "diciembre de 2026", "2026-12-07" (or an ISO timestamp) as
    "December 7, 2026" / "7 décembre 2026" / "7 de diciembre de 2026"; with `time`, a timestamp's UTC time
    too. Anything else (a date the data got wrong) is shown as it is rather than failing the page."""
    text = str(value or "").strip()
    try:
        if _YEAR.fullmatch(text):
            return text
        if _MONTH.fullmatch(text):
            return format_skeleton("yMMMM", date(int(text[:4]), int(text[5:7]), 1), locale=get_locale())
        if _DAY.fullmatch(text):
            return format_date(date.fromisoformat(text), "long")
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    stamp = stamp.astimezone(timezone.utc) if stamp.tzinfo else stamp
    if not time:
        return format_date(stamp.date(), "long")
    # the locale's way of joining a date and a time ("{1} à {0}", "{1}, {0}"); the clock is UTC's
    joined = get_datetime_format("long", locale=get_locale()).replace("'", "")
    clock = format_time(stamp.time(), "short", locale=get_locale())
    return joined.replace("{1}", format_date(stamp.date(), "long")).replace("{0}", clock) + " UTC"


def init_app(app):
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    Babel(app, locale_selector=current_language)
    app.url_defaults(_add_language)
    app.after_request(_remember_language)
    app.context_processor(_template_context)
    app.add_template_filter(with_query)
    app.add_template_filter(number)
    app.add_template_filter(date_text)
    # a global, not in the context: macros imported without context (_change.html) show source text too
    app.add_template_global(lambda text, text_lang: source_text(text, text_lang, current_language()),
                            "source_text")
