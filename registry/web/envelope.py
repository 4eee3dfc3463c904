"""The one envelope of every JSON list, and the links of pages and facets (for the API and the HTML lists).

    {"total", "page", "per_page", "results", "facets" (lists with facets), "next", "prev"}

`next` and `prev` are absolute URLs of the neighbouring pages: this request's URL with the same query
string and another `page`; null at the ends. Facet values get a `toggle_url` (this list with the value
added, or removed when selected, page reset) and each facet a `show_all_url` when it was truncated.
"""
from urllib.parse import urlencode

from flask import request, url_for

from ..core import geo
from ..core import regions as region_table
from ..core.labels import labels
from ..core.language import DEFAULT_LANGUAGE, ENGLISH
from ..core.query import MAX_PAGE, with_query

# The facets whose values are vocabulary keys (core/labels.py): labelled in the request's language
VOCABULARY_FACETS = {"area": "area", "status": "status", "kind": "kind", "role": "role", "type": "org_type"}


def list_envelope(results, total, page, per_page, facets=None, **extra):
    """The body of a list response (jsonify it). `extra`: fields after the envelope (e.g. suggestion)."""
    prev, next_ = page_urls(total, page, per_page)
    body = {"total": total, "page": page, "per_page": per_page, "results": results}
    if facets is not None:
        body["facets"] = facets
    body.update(next=next_, prev=prev, **extra)
    return body


def page_urls(total, page, per_page, external=True):
    """(prev, next) URLs of this request with another page; None at the ends. Past the end, prev is the
    last page."""
    last = min(MAX_PAGE, max(1, -(-total // per_page)))
    prev = _this_url_with_page(min(page - 1, last), external) if page > 1 else None
    next_ = _this_url_with_page(page + 1, external) if page < last else None
    return prev, next_


def _this_url_with_page(page, external):
    args = request.args.copy()          # keeps the order and the repeated filters
    if page == 1:
        args.pop("page", None)
    else:
        args["page"] = str(page)        # in place: the rest of the query string is untouched
    return _url(url_for(request.endpoint, _external=external, **(request.view_args or {})),
                urlencode(list(args.items(multi=True))))


def linked_facets(facets, query, endpoint, external=True, words=ENGLISH, lang=DEFAULT_LANGUAGE):
    """The finder's facets with links to `endpoint`: toggle_url on each value, show_all_url on each facet
    (None unless truncated). `query` (ProjectQuery or OrganisationQuery) builds the query strings. Values
    of vocabularies, countries and regions are labelled in `lang` (`words`: its gettext translations)."""
    base = url_for(endpoint, _external=external)
    return {name: {"values": _linked_values(name, f["values"], query.toggler(name), base, words, lang),
                   "value_count": f["value_count"], "truncated": f["truncated"],
                   "show_all_url": _url(base, query.url_query(facet_size=None)) if f["truncated"] else None}
            for name, f in facets.items()}


def _linked_values(facet, values, toggle, base, words, lang):
    vocabulary = labels(VOCABULARY_FACETS[facet], words) if facet in VOCABULARY_FACETS else None
    return [dict(v, label=_label(facet, v, vocabulary, lang), toggle_url=_url(base, toggle(v["value"])))
            for v in values]


def _label(facet, value, vocabulary, lang):
    """A facet value's label in `lang` (`vocabulary`: the facet's labels in it, if it has one): the finder
    labels them in English."""
    key = value["value"]
    if vocabulary is not None:
        return vocabulary.get(key, value["label"])
    if facet == "country":
        return geo.country_name(key, lang)
    if facet == "region":
        region = region_table.get_region(key)
        return region.name_in(lang) if region else value["label"]
    return value["label"]


def _url(base, query_string):
    return with_query(base, query_string)
