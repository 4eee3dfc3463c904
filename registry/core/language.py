"""The registry's three languages, and how a request's language is chosen (pure: no Flask, no files).

The interface speaks English, French and Spanish (issue 13). The gettext catalogs live in
registry/translations/ (README there: how to add or change a string); the web layer loads them.

Layers below the web take a `words` argument where they write words people read (core/summary.py,
maps/png.py, ...): any object with gettext's `gettext(message)` and `ngettext(singular, plural, n)`,
e.g. the request's Flask-Babel translations, or ENGLISH (which returns the English as it is).
"""
import gettext

LANGUAGES = ("en", "fr", "es")
DEFAULT_LANGUAGE = "en"
# Each language named in itself: what the switcher shows, whatever the page's language
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "es": "Español"}
LANG_PARAM = "lang"            # the query-string parameter, kept in every link, share URL and embed code
LANG_COOKIE = "lang"           # set by the switcher (and by any ?lang=): the language next time
ENGLISH = gettext.NullTranslations()

# A record's fields that may have French and Spanish versions (title_fr, summary_es, ...), English first
TRANSLATED_FIELDS = ("title", "summary")
OTHER_LANGUAGES = tuple(lang for lang in LANGUAGES if lang != DEFAULT_LANGUAGE)


def N_(message):
    """Marks a message for the catalogs (pybabel extracts it) without translating it here: vocabulary
    labels are defined once in English and translated where they are shown."""
    return message


def valid_language(value):
    """`value` if it names one of LANGUAGES ("fr", "FR", "fr-CA" → "fr"), else None."""
    if not isinstance(value, str):
        return None
    code = value.strip().lower().replace("_", "-").split("-", 1)[0]
    return code if code in LANGUAGES else None


def choose_language(param=None, cookie=None, accepted=None):
    """The language of a request: `?lang=`, then the switcher's cookie, then the browser's best accepted
    language (`accepted`, already matched against LANGUAGES), then English. Invalid values are skipped."""
    for value in (param, cookie, accepted):
        lang = valid_language(value)
        if lang:
            return lang
    return DEFAULT_LANGUAGE


def translated_field(field, lang):
    """The column of `field` in `lang`: title → title_fr; English is the field itself."""
    return field if lang == DEFAULT_LANGUAGE else f"{field}_{lang}"


def translated_field_names():
    """Every optional translated column: title_fr, title_es, summary_fr, summary_es."""
    return tuple(translated_field(f, lang) for f in TRANSLATED_FIELDS for lang in OTHER_LANGUAGES)


def localized(record, field, lang):
    """(text, language of the text): the record's `field` in `lang` when it has it, else its English text
    (the page marks it lang="en")."""
    text = (record or {}).get(translated_field(field, lang)) if lang != DEFAULT_LANGUAGE else None
    if text:
        return text, lang
    return (record or {}).get(field), DEFAULT_LANGUAGE
