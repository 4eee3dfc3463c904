"""Pure functions: URL parameters -> ProjectQuery, with clear errors. Parametrized tables."""
import pytest
from werkzeug.datastructures import MultiDict

from registry.core.query import OrganisationQuery, ProjectQuery, QueryError, parse_query, resolve


def args(**kw):
    return MultiDict([(k, v) for k, vs in kw.items() for v in (vs if isinstance(vs, list) else [vs])])


@pytest.mark.parametrize("given, attr, expected", [
    (args(q="  borax   gold "), "q", "borax gold"),
    (args(country=["KEN", "UGA"]), "countries", ("KEN", "UGA")),
    (args(country="KEN,UGA"), "countries", ("KEN", "UGA")),
    (args(area="ASGM"), "areas", ("asgm",)),
    (args(status=["ongoing", "planned"]), "statuses", ("ongoing", "planned")),
    (args(year_from="2019", year_to="2021"), "year_from", 2019),
    (args(page="3", per_page="50"), "per_page", 50),
    (args(), "page", 1),
    (args(facet_size="max"), "facet_size", None),
    (args(facet_size="25"), "facet_size", 25),
    (args(sort="-start_year"), "sort", "-start_year"),
])
def test_parse(given, attr, expected):
    assert getattr(parse_query(given), attr) == expected


@pytest.mark.parametrize("given, words", [
    (args(page="-1"), "page"),
    (args(page="1e9"), "page"),
    (args(page="abc"), "page"),
    (args(per_page="100000"), "per_page"),
    (args(per_page="0"), "per_page"),
    (args(sort="name;drop table projects"), "unknown sort"),
    (args(sort="__class__"), "unknown sort"),
    (args(area="mining"), "unknown area"),
    (args(status="dead"), "unknown status"),
    (args(role="owner"), "unknown role"),
    (args(year_from="2020", year_to="2010"), "year_to"),
    (args(year_from="１２"), "year_from"),
    (args(q="x" * 201), "too long"),
    (args(q="a " * 30), "too many words"),
    (args(q="a\x00b"), "not allowed"),
    (args(country=[f"C{i}" for i in range(60)]), "too many values"),
    (args(q=["first", "second"]), "'q' is given 2 times"),
    (args(per_page=["10", "20"]), "'per_page' is given 2 times"),
    (args(facet_size="0"), "facet_size"),
])
def test_parse_rejects_with_a_message(given, words):
    with pytest.raises(QueryError) as exc:
        parse_query(given)
    assert words in exc.value.message


def test_params_round_trip():
    q = parse_query(args(q="gold", country=["KEN", "UGA"], area="asgm", year_from="2019", page="2"))
    again = parse_query(MultiDict(q.params()))
    assert again == q


def test_toggle_adds_and_removes_a_facet_value():
    q = ProjectQuery(countries=("KEN",), page=3)
    assert "country=KEN&country=UGA" in q.toggled("country", "UGA")
    assert "country" not in q.toggled("country", "KEN")
    assert "page" not in q.toggled("country", "UGA")


class Country:
    def __init__(self, iso3):
        self.iso3 = iso3


def test_resolve_maps_names_and_reports_unknowns():
    lookup = {"kenya": Country("KEN"), "KEN": Country("KEN")}.get
    orgs = {"GEF": "gef", "Global Environment Facility": "gef"}
    q = resolve(ProjectQuery(countries=("kenya", "KEN"), funders=("GEF", "Global Environment Facility")),
                lookup, lambda texts: {t: orgs.get(t) for t in texts})
    assert q.countries == ("KEN",) and q.funders == ("gef",)
    with pytest.raises(QueryError, match="unknown country"):
        resolve(ProjectQuery(countries=("Narnia",)), lookup, lambda t: {})
    with pytest.raises(QueryError, match="unknown organisation"):
        resolve(ProjectQuery(funders=("ACME",)), lookup, lambda texts: {t: None for t in texts})


QUERIES_FOR_TOGGLES = [
    ProjectQuery(),
    ProjectQuery(q="gold & mercury=1", page=3, per_page=50, facet_size=None, sort="title"),
    ProjectQuery(countries=("KEN", "UGA"), areas=("asgm",), statuses=("ongoing",), year_from=2015, year_to=2021),
    ProjectQuery(q="café", regions=("002",), funders=("gef",), orgs=("unep",), roles=("funder",), kinds=("study",),
                 sources=("report-2022",), page=2),
    OrganisationQuery(q="unitar", types=("ngo",), countries=("FRA",), page=4, facet_size=None),
]
VALUES = ["KEN", "UGA", "asgm", "ongoing", "gef", "unep", "002", "ngo", "FRA", "a b&c=d,é", ""]


@pytest.mark.parametrize("query", QUERIES_FOR_TOGGLES)
def test_toggler_gives_the_same_query_string_as_toggled(query):
    """The facet links encode the rest of the query once (envelope.linked_facets): the same strings."""
    checked = 0
    for facet, _ in query.LISTS:
        toggle = query.toggler(facet)
        for value in VALUES:
            assert toggle(value) == query.toggled(facet, value), (facet, value)
            checked += 1
    assert checked == len(query.LISTS) * len(VALUES) > 0
