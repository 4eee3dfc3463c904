"""Issue 13: every string a person reads has a French and a Spanish translation.

- every message pybabel extracts (templates and code, the same configuration as `make translations`)
  has a non-empty, non-fuzzy translation in fr and es, with the same placeholders;
- the compiled .mo files say what the .po files say (nobody forgot `make translations`);
- no template shows English outside the gettext calls: the text between tags and the attributes people
  read (title, alt, aria-label, placeholder, ...) are scanned once the Jinja expressions are removed.
"""
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "registry" / "translations"
LANGS = ("fr", "es")
TEMPLATES = sorted(p for p in (ROOT / "templates").rglob("*") if p.suffix in (".html", ".txt"))
# Words that are the same in every language: names of formats, standards and programmes, units
LANGUAGE_NEUTRAL = {"CSV", "JSON", "GeoJSON", "IATI", "XML", "API", "PNG", "SVG", "Atom", "OpenAPI", "HTML",
                    "planetGOLD", "GEF", "UNEP", "px", "km", "iframe", "English", "Français", "Español", "ISO",
                    "M49", "URL", "ID", "id", "OK"}
READ_ATTRIBUTES = ("title", "alt", "aria-label", "placeholder", "aria-description", "aria-roledescription",
                   "summary", "label")


def extracted_messages():
    with open(TRANSLATIONS / "babel.cfg") as f:
        method_map, options_map = parse_mapping_cfg(f)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2),
                "npgettext": ((1, "c"), 2, 3), "N_": None, "lazy_gettext": None}
    found = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=keywords):
        key = (context, message if isinstance(message, str) else message[0])
        found.setdefault(key, f"{filename}:{lineno}")
    return found


def catalog(lang):
    with open(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=lang)


def test_the_code_and_templates_have_messages_to_translate():
    messages = extracted_messages()
    assert len(messages) > 50          # the scan reads the templates and the code, not nothing
    assert any(where.startswith("templates/") for where in messages.values())
    assert any(where.startswith("registry/") for where in messages.values())


@pytest.mark.parametrize("lang", LANGS)
def test_every_message_is_translated(lang):
    translations = {(m.context, m.id if isinstance(m.id, str) else m.id[0]): m for m in catalog(lang) if m.id}
    missing = []
    for key, where in sorted(extracted_messages().items(), key=lambda kv: kv[1]):
        m = translations.get(key)
        strings = (m.string if isinstance(m.string, tuple) else (m.string,)) if m else ()
        if m is None or m.fuzzy or not strings or not all(strings):
            missing.append(f"{where}: {key[1]!r}")
    assert not missing, (f"{len(missing)} messages lack a {lang} translation; run `make translations` and fill "
                         f"in registry/translations/{lang}/LC_MESSAGES/messages.po:\n" + "\n".join(missing[:80]))


@pytest.mark.parametrize("lang", LANGS)
def test_translations_keep_the_placeholders(lang):
    problems = []
    for message in catalog(lang):
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(re.findall(r"%\((\w+)\)[sd]", ids[-1]))
        for s in strings:
            if set(re.findall(r"%\((\w+)\)[sd]", s)) - set(re.findall(r"%\((\w+)\)[sd]", " ".join(ids))) \
                    or (wanted and not set(re.findall(r"%\((\w+)\)[sd]", s)) and len(ids) == 1):
                problems.append(f"{message.id!r} -> {s!r}")
    assert not problems, f"{lang} translations whose placeholders differ from the English:\n" + "\n".join(problems)


@pytest.mark.parametrize("lang", LANGS)
def test_the_compiled_catalog_matches_the_po_file(lang):
    as_key = lambda value: tuple(value) if isinstance(value, (list, tuple)) else value  # noqa: E731
    with open(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.mo", "rb") as f:
        compiled = {(m.context, as_key(m.id)): as_key(m.string) for m in read_mo(f) if m.id}
    written = {(m.context, as_key(m.id)): as_key(m.string) for m in catalog(lang)
               if m.id and m.string and not m.fuzzy}
    assert compiled == written, "messages.mo is older than messages.po: run `make translations`"


def visible_english(text):
    """The words of a template a person reads that are not inside a gettext call."""
    text = re.sub(r"\{#.*?#\}", " ", text, flags=re.S)
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S | re.I)
    text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", " ", text, flags=re.S)
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
    read = []
    for tag in re.findall(r"<[a-zA-Z][^>]*>", text):
        for name, value in re.findall(r'\s([a-z-]+)="([^"]*)"', tag):
            if name in READ_ATTRIBUTES:
                read.append(value)
    read += re.split(r"<[^>]*>", re.sub(r"<!doctype[^>]*>", " ", text, flags=re.I))
    words = []
    for chunk in read:
        chunk = re.sub(r"&[a-z]+;|&#\d+;", " ", chunk)
        words += [w for w in re.findall(r"[A-Za-z][A-Za-z'’-]+", chunk) if w not in LANGUAGE_NEUTRAL]
    return words


def test_the_scanner_sees_english_outside_gettext():
    assert visible_english('<p title="Open it">Hello {{ _("world") }}</p>') == ["Open", "it", "Hello"]
    assert visible_english('<p>{{ _("Hello") }} · {{ n }} <abbr title="{{ _(\'x\') }}">CSV</abbr></p>') == []


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT / "templates")))
def test_no_template_shows_untranslated_text(template):
    words = visible_english(template.read_text())
    assert not words, (f"{template.relative_to(ROOT)} shows text outside gettext: {' '.join(words[:30])!r}; "
                       "wrap it in {{ _('...') }} (or {% trans %}) and run `make translations`")
