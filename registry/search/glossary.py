"""The domain glossary in English, French and Spanish (geodata/glossary.yaml): the terms of the Minamata
Convention's official texts and of the Partnership's work, so that a French or Spanish query finds the
English records it means (languages.py applies it to queries).

The file is a list of entries:

    - id: asgm                     # unique slug
      topic: asgm                  # one of TOPICS
      en: [artisanal and small-scale gold mining, ASGM, artisanal gold mining]
      fr: [extraction minière artisanale et à petite échelle d'or, EMAPE, orpaillage]
      es: [minería aurífera artesanal y en pequeña escala, MAPE, minería artesanal de oro]
      source: "Minamata Convention, art. 7 and annex C (official texts)"

`load` checks it whole and raises GlossaryError listing every problem, each saying which entry and how to
fix it: nothing half-read is used.
"""
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..core.paths import GEODATA

GLOSSARY_FILE = GEODATA / "glossary.yaml"
LANGS = ("en", "fr", "es")
TOPICS = ("asgm", "mercury", "products", "coal", "chlor-alkali", "cement", "waste", "supply-trade-storage",
          "air-transport", "monitoring", "health", "policy", "general")
KEYS = ("id", "topic", *LANGS, "source")
REQUIRED = ("id", "topic", *LANGS)
SLUG = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


class GlossaryError(ValueError):
    """The glossary file cannot be used; `problems` lists what is wrong, one line each."""

    def __init__(self, path, problems):
        self.problems = problems
        super().__init__(f"{path}: {len(problems)} problem(s):\n" + "\n".join(f"- {p}" for p in problems))


@dataclass(frozen=True, eq=False)   # compared and hashed as itself: terms is a dict
class Entry:
    id: str
    topic: str
    terms: dict          # {"en": (term, ...), "fr": (...), "es": (...)}, each tuple non-empty
    source: str = ""


def load(path=GLOSSARY_FILE):
    """The entries of the glossary file, in its order. GlossaryError when it is not valid."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except yaml.YAMLError as exc:
        raise GlossaryError(path, [f"not valid YAML: {exc}"]) from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise GlossaryError(path, ["the file must be a YAML list of entries (each starting with '- id: ...')"])
    problems, entries, seen = [], [], {}
    for n, raw in enumerate(data, 1):
        entry = _entry(raw, f"entry {n}", problems)
        if entry is None:
            continue
        if entry.id in seen:
            problems.append(f"entry {n}: id {entry.id!r} is already the id of entry {seen[entry.id]}; "
                            "give each entry an id of its own")
            continue
        seen[entry.id] = n
        entries.append(entry)
    if problems:
        raise GlossaryError(path, problems)
    return entries


def _entry(raw, where, problems):
    """One entry, or None after adding its problems to `problems`."""
    if not isinstance(raw, dict):
        problems.append(f"{where}: an entry is a mapping with the keys {', '.join(KEYS)}")
        return None
    if isinstance(raw.get("id"), str):
        where = f"{where} (id {raw['id']!r})"
    found = len(problems)
    unknown = [k for k in raw if k not in KEYS]
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; the keys are {', '.join(KEYS)}")
    problems.extend(f"{where}: {k!r} is missing" for k in REQUIRED if k not in raw)
    if "id" in raw and not (isinstance(raw["id"], str) and SLUG.fullmatch(raw["id"])):
        problems.append(f"{where}: id must be a slug of lower-case letters, digits and hyphens, e.g. asgm")
    if "topic" in raw and raw["topic"] not in TOPICS:
        problems.append(f"{where}: topic {raw['topic']!r} is not one of {', '.join(TOPICS)}")
    if "source" in raw and not isinstance(raw["source"], str):
        problems.append(f"{where}: source must be text (quote it)")
    terms = {lang: _terms(raw.get(lang), f"{where}, {lang}", problems) for lang in LANGS if lang in raw}
    if len(problems) > found:
        return None
    return Entry(raw["id"], raw["topic"], terms, raw.get("source") or "")


def _terms(value, where, problems):
    """A language's terms: a non-empty list of distinct non-empty strings."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        problems.append(f"{where}: give at least one term, as a list: [term, other term]")
        return ()
    bad = [v for v in value if not isinstance(v, str) or not v.strip()]
    if bad:
        problems.append(f"{where}: every term is non-empty text (found {bad[0]!r}; quote numbers and yes/no)")
        return ()
    terms = tuple(dict.fromkeys(v.strip() for v in value))
    if len(terms) < len(value):
        problems.append(f"{where}: a term is listed twice")
    return terms
