"""The one readable summary of a query (registry/core/summary.py): its wording, and the views that use it."""
import re

import pytest

from registry.core.query import ProjectQuery
from registry.core.summary import enclosing_region, shortened, slugify, summarise

LABELS = {"gef": "GEF", "unep": "UNEP", "undp": "UNDP"}
LAC_TWELVE = ("BHS", "BOL", "COL", "CUB", "DMA", "ECU", "GUY", "HND", "JAM", "MEX", "NIC", "PER")


def test_a_funder_in_a_region():
    s = summarise(ProjectQuery(funders=("gef",), regions=("419",)), 11, LABELS)
    assert s.sentence == "11 projects funded by GEF in Latin America and the Caribbean"
    assert s.short == "Latin America and the Caribbean · funded by GEF"
    assert s.count == "11 projects"
    assert s.slug == "projects-funded-by-gef-in-latin-america-and-the-caribbean"


@pytest.mark.parametrize("total, words", [(0, "No projects"), (1, "1 project"), (2, "2 projects"),
                                          (12345, "12,345 projects")])
def test_the_count_agrees_with_its_noun(total, words):
    assert summarise(ProjectQuery(), total).sentence == words


def test_many_countries_are_counted_and_placed_in_their_smallest_region():
    s = summarise(ProjectQuery(funders=("gef",), countries=LAC_TWELVE), 12, LABELS)
    assert s.short == "12 countries of Latin America and the Caribbean · funded by GEF"
    assert s.sentence == "12 projects funded by GEF in 12 countries of Latin America and the Caribbean"
    assert s.full.endswith("in Bahamas, Bolivia, Colombia, Cuba, Dominica, Ecuador, Guyana, Honduras, Jamaica, "
                           "Mexico, Nicaragua or Peru")
    assert enclosing_region(("BRA", "PER", "COL", "ECU")).name == "South America"
    assert enclosing_region(("BRA", "KEN")) is None          # "of the World" would say nothing


def test_a_few_countries_are_named():
    s = summarise(ProjectQuery(countries=("BRA", "PER")), 3)
    assert s.sentence == s.full == "3 projects in Brazil or Peru"
    assert s.short == "Brazil or Peru"


def test_every_filter_has_its_words():
    q = ProjectQuery(q="gold", areas=("asgm", "products"), statuses=("ongoing", "planned"), countries=("BRA",),
                     year_from=2020, year_to=2022, orgs=("unep",), roles=("lead",), kinds=("monitoring-network",),
                     sources=("planetgold-news-2024-05",))
    s = summarise(q, 3, LABELS, {"planetgold-news-2024-05": "planetGOLD news, May 2024"})
    assert s.sentence == ("3 ongoing or planned projects (kind: monitoring network) matching “gold” on ASGM or "
                          "mercury in products with UNEP as lead in Brazil, active 2020–2022 citing planetGOLD "
                          "news, May 2024")
    assert s.short.split(" · ") == ["Brazil", "with UNEP as lead", "ASGM, Mercury in products", "Ongoing or planned",
                                    "Monitoring network", "matching “gold”", "Active 2020–2022",
                                    "citing planetGOLD news, May 2024"]


def test_statuses_that_are_no_adjective_and_single_years():
    assert summarise(ProjectQuery(statuses=("unknown",)), 2).sentence == "2 projects with status unknown"
    assert summarise(ProjectQuery(year_from=2021), 2).sentence == "2 projects active from 2021"
    assert summarise(ProjectQuery(year_to=2021), 2).sentence == "2 projects active until 2021"
    assert summarise(ProjectQuery(year_from=2021, year_to=2021), 2).sentence == "2 projects active in 2021"
    assert summarise(ProjectQuery(funders=("gef", "undp", "unep")), 4, LABELS).sentence == \
        "4 projects funded by GEF, UNDP or UNEP"


def test_unknown_names_are_shown_as_they_are():
    assert summarise(ProjectQuery(funders=("some-org",)), 1).sentence == "1 project funded by some-org"


def test_slug_is_ascii_words_cut_between_words():
    assert slugify("Côte d'Ivoire · “gold”") == "cote-d-ivoire-gold"
    long = slugify("word " * 40)
    assert len(long) <= 80 and long.endswith("word") and "--" not in long
    assert summarise(ProjectQuery(), 1).slug == "projects"          # export names keep the plural


def test_shortened_cuts_between_words_at_the_end_only():
    text = "12 countries of Latin America and the Caribbean · funded by GEF"
    assert shortened(text, 200) == text
    cut = shortened(text, 30)
    assert cut.endswith("…") and len(cut) <= 30 and text.startswith(cut[:-1])
    assert text[len(cut) - 1] == " "                                 # a whole word before the cut


# --- the views that use it -------------------------------------------------------------------------

def test_list_heading_map_embed_newsletter_and_export_names_say_the_same(client):
    params = "funder=gef&country=BRA&country=PER"
    heading = client.get(f"/projects?{params}").get_data(as_text=True)
    sentence = re.search(r'class="summary">([^<]*?funded by GEF in Brazil or Peru)', heading).group(1).strip()
    assert re.fullmatch(r"\d+ projects? funded by GEF in Brazil or Peru", sentence)
    for path in ("/map", "/embed/map", "/map/newsletter"):
        assert sentence in client.get(f"{path}?{params}").get_data(as_text=True), path
    assert sentence in client.get(f"/map/newsletter.txt?{params}").get_data(as_text=True)
    r = client.get(f"/projects.csv?{params}")
    assert r.headers["Content-Disposition"] == \
        "attachment; filename=mercury-registry-projects-funded-by-gef-in-brazil-or-peru.csv"
    r = client.get("/projects.json")
    assert r.headers["Content-Disposition"] == "attachment; filename=mercury-registry-projects.json"
