"""French and Spanish titles from later sources (issue 13, "The records"): the update files of geodata/updates/
set title_fr / title_es on the planetGOLD projects only where a public page writes the programme's name in that
language, and each such change cites the sentence that writes it.

Rules checked here, on top of tests/test_updates.py (which checks every file's source and quotes):
- a translated title is named by one of its change's own quotes (accents, case, spaces and apostrophes aside:
  a Madagascar daily writes "Planet Gold Madagascar", the title keeps the programme's spelling "planetGOLD");
- the quote is in the title's language (a French title is not sourced from a Spanish or English sentence);
- with every file applied, the registry's translated titles are exactly the ones the files set: none invented.
"""
import json
import re

import pytest

from conftest import UPDATES_DIR
from test_seed_fidelity import fold
from registry.core.language import translated_field_names
from registry.exchange import updates
from registry.store import db as storage

FILES = updates.update_files(UPDATES_DIR)
TITLE_FIELDS = tuple(name for name in translated_field_names() if name.startswith("title_"))
# Words that mark a sentence as French or Spanish (none of them is a word of the other language)
MARKERS = {"fr": {"le", "les", "du", "des", "et", "est", "dans", "au", "aux", "une", "sur", "pour"},
           "es": {"el", "los", "del", "y", "las", "por", "con", "una", "como", "para", "que", "según"}}


def squeezed(text):
    """`text` folded (no accents, lower case) and without spaces or punctuation: "Planet Gold" = "planetGOLD"."""
    return fold(text).replace(" ", "")


def names_title(title, quote):
    return squeezed(title) in squeezed(quote)


def language_of(quote):
    """'fr' or 'es', whichever has more marker words in the quote (None on a tie: neither)."""
    words = set(re.findall(r"[a-zà-ÿ]+", quote.lower()))
    counts = {lang: len(words & markers) for lang, markers in MARKERS.items()}
    best = max(counts, key=counts.get)
    return best if counts[best] > min(counts.values()) else None


def translated_titles():
    """(file, project id, field, title, [the change's own quotes]) for every translated title a file sets."""
    for path in FILES:
        doc = json.loads(path.read_text("utf-8"))
        for change in doc.get("changes") or []:
            quotes = [c.get("quote") or "" for c in (change.get("add") or {}).get("sources") or []]
            for field in TITLE_FIELDS:
                if (change.get("set") or {}).get(field):
                    yield path.name, change.get("project"), field, change["set"][field], quotes


TITLES = list(translated_titles())


def test_the_files_set_french_and_spanish_titles_of_planetgold_projects():
    """Guards the tests below against passing on no titles at all."""
    fields = {field for _, _, field, _, _ in TITLES}
    assert len(TITLES) >= 10 and fields == {"title_fr", "title_es"}
    assert all(project and project.startswith("planetgold") for _, project, _, _, _ in TITLES)


def test_the_naming_rule_is_not_vacuous():
    assert names_title("planetGOLD Madagascar", "Le projet Planet Gold Madagascar cible les orpailleurs.")
    assert names_title("planetGOLD Côte d'Ivoire", "Le projet planetGOLD Côte d’Ivoire est financé par le FEM.")
    assert not names_title("planetGOLD Mali", "Le projet planetGOLD Burkina Faso est arrivé à terme.")
    assert not names_title("planetGOLD Nicaragua", "El proyecto planetGOLD Honduras es financiado por el GEF.")
    # accents are folded, so an English page naming "planetGOLD Peru" names "planetGOLD Perú": the language rule
    # (next test) is what turns it down
    assert names_title("planetGOLD Perú", "The planetGOLD Peru project closed its activities in Puno.")
    assert language_of("Le projet est financé par le Fonds pour l'environnement mondial.") == "fr"
    assert language_of("El proyecto es financiado por el Fondo para el Medio Ambiente Mundial.") == "es"
    assert language_of("The project is funded by the Global Environment Facility.") is None


def test_every_translated_title_is_named_by_its_changes_own_quote():
    bad = [(name, project, title) for name, project, _, title, quotes in TITLES
           if not any(names_title(title, q) for q in quotes)]
    assert bad == []


def test_every_translated_title_is_sourced_from_a_sentence_in_its_language():
    bad = [(name, project, field) for name, project, field, title, quotes in TITLES
           if not any(names_title(title, q) and language_of(q) == field[-2:] for q in quotes)]
    assert bad == []


def test_translated_titles_keep_the_programmes_spelling():
    """Pages write "Planet Gold", "PlanetGOLD", "planet gold": the registry writes the name as planetGOLD does."""
    assert [(project, title) for _, project, _, title, _ in TITLES if "planetGOLD" not in title] == []


@pytest.fixture(scope="module")
def stored_titles(updated_instance):
    """{(project id, field): title} of every translated title in the registry once every file is applied."""
    folder, _ = updated_instance
    db = storage.connect(str(folder / "registry.db"))
    try:
        columns = ", ".join(TITLE_FIELDS)
        rows = db.execute(f"SELECT id, {columns} FROM projects").fetchall()
    finally:
        db.conn.close()
    return {(row[0], field): row[i] for row in rows for i, field in enumerate(TITLE_FIELDS, 1) if row[i]}


def test_the_registry_holds_exactly_the_sourced_titles(stored_titles):
    """Files apply in name order and the newer source wins: the last file setting a title gives its value."""
    expected = {}
    for _, project, field, title, _ in TITLES:
        expected[(project, field)] = title
    assert stored_titles == expected


def test_a_project_no_page_names_in_french_or_spanish_stays_english(stored_titles):
    assert ("planetgold-peru", "title_es") in stored_titles
    assert not any(project == "planetgold-mali" for project, _ in stored_titles)
