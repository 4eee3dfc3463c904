"""Search is consistent for one misspelled word, and British and American spellings are one word: through
the real index built from the real seed (issue 12, "Phones and the small things that add up")."""
import shutil

import pytest

from conftest import make_app
from registry.core.searchdocs import american, compounds


@pytest.fixture(scope="module")
def reader(seeded_instance, tmp_path_factory):
    folder = tmp_path_factory.mktemp("spelling") / "instance"
    shutil.copytree(seeded_instance, folder)
    return make_app(folder).test_client()


def search(client, q):
    """(every matching id, best first; the suggestion) through the JSON API."""
    ids, first, page = [], None, 1
    while True:
        r = client.get("/api/projects", query_string={"q": q, "per_page": 100, "page": page})
        assert r.status_code == 200, r.get_data(as_text=True)
        body = r.get_json()
        first = first or body
        ids += [row["id"] for row in body["results"]]
        if len(ids) >= body["total"] or not body["results"]:
            return ids, first.get("suggestion")
        page += 1


@pytest.mark.parametrize("typo, right", [("minning", "mining"), ("mininng", "mining"),
                                         ("cloralkali", "chloralkali"), ("gold minning", "gold mining"),
                                         ("Mongolai", "Mongolia")])
def test_a_misspelled_word_finds_what_its_correction_finds(reader, typo, right):
    found, suggestion = search(reader, typo)
    corrected, _ = search(reader, right)
    assert corrected, f"the seed no longer has anything for {right!r}"
    assert suggestion == right
    assert set(found) == set(corrected)
    assert set(found[:10]) == set(corrected[:10])   # the same top results, not only the same matches
    page = reader.get("/projects", query_string={"q": typo}).get_data(as_text=True)
    assert f">{right}</a>" in page and "Did you mean" in page


def test_a_hyphenated_word_is_found_written_as_one(reader):
    hyphenated, _ = search(reader, "chlor-alkali")
    joined, suggestion = search(reader, "chloralkali")
    assert hyphenated and set(joined) == set(hyphenated) and suggestion is None


@pytest.mark.parametrize("british, american_", [("formalisation", "formalization"), ("organisation", "organization"),
                                                ("labour", "labor"), ("vapour", "vapor"),
                                                ("organisations", "organizations")])
def test_british_and_american_spellings_find_the_same_projects(reader, british, american_):
    gb, gb_suggestion = search(reader, british)
    us, us_suggestion = search(reader, american_)
    assert gb, f"the seed no longer has anything for {british!r}"
    assert set(gb) == set(us) and gb_suggestion is None and us_suggestion is None


def test_a_british_spelling_in_a_phrase_matches_the_american_one(reader):
    # the seed writes "World Health Organization"
    gb, _ = search(reader, '"World Health Organisation"')
    us, _ = search(reader, '"World Health Organization"')
    assert us and set(gb) == set(us)


@pytest.mark.parametrize("word, expected", [
    ("organisation", "organization"), ("organisational", "organizational"), ("organised", "organized"),
    ("organisers", "organizers"), ("formalise", "formalize"), ("standardise", "standardize"),
    ("analyse", "analyze"), ("analysed", "analyzed"), ("paralysing", "paralyzing"),
    ("labour", "labor"), ("labourers", "laborers"), ("behavioural", "behavioral"), ("favourite", "favorite"),
    ("programme", "program"), ("centres", "centers"), ("sulphur", "sulfur"),
    # spelled the same on both sides, or not the pattern at all: left alone
    ("advise", "advise"), ("revised", "revised"), ("promise", "promise"), ("exercise", "exercise"),
    ("enterprise", "enterprise"), ("otherwise", "otherwise"), ("raising", "raising"), ("arising", "arising"),
    ("expertise", "expertise"), ("franchise", "franchise"), ("noise", "noise"), ("analysis", "analysis"),
    ("contour", "contour"), ("detour", "detour"), ("devour", "devour"), ("your", "your"), ("four", "four"),
    ("hours", "hours"), ("mining", "mining"), ("crisis", "crisis")])
def test_the_spelling_map(word, expected):
    assert american(word) == expected


def test_hyphenated_words_joined():
    assert compounds("The Chlor-alkali sector, mercury-free, 2020-2022") == "chloralkali mercuryfree"
