"""The JSON API: one envelope (web/envelope.py), one error shape. Documented at /api/openapi.json and in
docs/api.md."""
from flask import Blueprint, jsonify, request, url_for
from flask_babel import gettext as _

from ..store import db as storage
from ..store import sources as source_store
from ..store import changes as change_log
from ..store import network as network_store
from ..core import geo
from ..core import regions as region_table
from ..core.query import parse_paging
from .envelope import linked_facets, list_envelope
from .errors import ApiError
from ..search.finder import (find_organisations, find_projects, list_countries, list_regions, page_of,
                             query_from_args)
from .openapi import OPENAPI
from ..core.validate import AREAS
from ..core.language import translated_field_names
from .context import get_db, index_settings
from . import language

bp = Blueprint("api", __name__, url_prefix="/api")
TRANSLATED = translated_field_names()   # a project's French and Spanish title and summary, null when none
MAX_SOURCE_CHANGES = 1000   # changes /api/sources/<id> lists, newest first (/api/changes pages through more)


def _countries(codes):
    return [{"iso3": c, "name": geo.country_name(c)} for c in codes]


def _project_result(row, found):
    return {
        "id": row["id"], "title": row["title"], "url": url_for("views.project", project_id=row["id"], _external=True),
        "api_url": url_for("api.project", project_id=row["id"], _external=True),
        "summary": row["summary"], **{name: row.get(name) for name in TRANSLATED},   # title_fr... (issue 13)
        "countries": _countries(row["countries"]), "area": row["area"],
        "area_label": AREAS.get(row["area"]), "status": row["status"], "kind": row["kind"],
        "start_year": row["start_year"], "end_year": row["end_year"],
        "funders": [{"id": f["id"], "name": f["name"]} for f in row["funders"]],
        "snippet": str(found.snippets[row["id"]]) if row["id"] in found.snippets else None,
        "score": found.scores.get(row["id"]),
    }


@bp.route("/projects")
def projects():
    db = get_db()
    query = query_from_args(db, request.args)
    found = find_projects(db, index_settings(), query)
    extra = {"suggestion": found.suggestion} if found.suggestion else {}
    return jsonify(list_envelope([_project_result(row, found) for row in found.page_rows], found.total,
                                 query.page, query.per_page, _facets(found.facets, query, "api.projects"),
                                 **extra))


@bp.route("/projects/<project_id>")
def project(project_id):
    db = get_db()
    p = storage.get_project(db, project_id)
    if p is None:
        raise ApiError(404, "not_found", _("no project with id '%(id)s'; list ids at /api/projects",
                                           id=project_id[:100]))
    p = dict(p, url=url_for("views.project", project_id=p["id"], _external=True),
             countries=_countries(p["countries"]),
             organisations=[{"id": o["id"], "name": o["name"], "acronym": o["acronym"], "role": o["role"],
                             "basis": o["basis"], "source": o["source"], "reason": o["reason"]}
                            for o in p["organisations"]],
             # as of the newest source it cites; beside the record's fields (not one of them: exports carry
             # the record, and an import refuses a field it does not know)
             as_of=source_store.as_of(db, [p["id"]]).get(p["id"]),
             cited_sources=[_source_summary(s) for s in _cited(db, p["sources"])])
    return jsonify(p)


def _cited(db, citations):
    """The source records the citations name, in the order first cited."""
    summaries = source_store.source_summaries(db, [c["document"] for c in citations])
    return [summaries[d] for d in dict.fromkeys(c["document"] for c in citations) if d in summaries]


def _source_summary(s):
    return dict(s, page_url=url_for("views.source", source_id=s["id"], _external=True),
                api_url=url_for("api.source", source_id=s["id"], _external=True))


def _source(row):
    """A source record as the API gives it: its fields, its date as of, what it contributed and its links."""
    fields = ("id", "title", "publisher", "date", "consulted", "as_of", "kind", "url", "reference", "language",
              "projects", "citations", "added", "changed")
    out = {k: row[k] for k in fields if k in row}   # `url`: the source's own address (a field of the record)
    return dict(out, page_url=url_for("views.source", source_id=row["id"], _external=True),
                api_url=url_for("api.source", source_id=row["id"], _external=True),
                projects_url=url_for("api.projects", source=row["id"], _external=True))


@bp.route("/sources")
def sources():
    """Every source record, newest first, with what it contributed."""
    page, per_page = parse_paging(request.args)
    rows = [_source(r) for r in reversed(source_store.list_sources(get_db()))]
    return jsonify(list_envelope(page_of(rows, page, per_page), len(rows), page, per_page))


@bp.route("/sources/<source_id>")
def source(source_id):
    db = get_db()
    s = source_store.get_source(db, source_id)
    if s is None:
        raise ApiError(404, "not_found", _("no source with id '%(id)s'; list ids at /api/sources",
                                           id=source_id[:100]))
    counts = next(iter(source_store.list_sources(db, source_id)), {})   # its counts only, not every source's
    body = _source(dict(s, **{k: counts.get(k, 0) for k in ("projects", "citations", "added", "changed")}))
    body["cited_by"] = [{"project_id": c["project_id"], "title": c["title"], "section": c["section"],
                         "quote": c["quote"], "url": url_for("views.project", project_id=c["project_id"], _external=True)}
                        for c in s["citations"]]
    body["changes"] = [{"id": c["id"], "at": c["at"], "entity": c["entity"], "entity_id": c["entity_id"],
                        "title": c["title"], "action": c["action"], "fields": c["fields"]}
                       for c in change_log.recent_changes(db, change_log.ChangeFilter(source_record=source_id),
                                                          limit=MAX_SOURCE_CHANGES)[0]]
    return jsonify(body)


@bp.route("/organisations")
def organisations():
    found = find_organisations(get_db(), index_settings(), request.args)
    results = [dict(o, url=url_for("views.organisation", org_id=o["id"], _external=True),
                    country=({"iso3": o["country"], "name": geo.country_name(o["country"])}
                             if o["country"] else None)) for o in found.page_rows]
    query = found.query
    return jsonify(list_envelope(results, found.total, query.page, query.per_page,
                                 _facets(found.facets, query, "api.organisations")))


def _facets(facets, query, endpoint):
    """The facets with absolute links, their values labelled in the request's language (as on the pages)."""
    return linked_facets(facets, query, endpoint, words=language.words(), lang=language.current_language())


@bp.route("/organisations/<org_id>")
def organisation(org_id):
    db = get_db()
    o = storage.get_organisation(db, org_id)
    if o is None:
        raise ApiError(404, "not_found", _("no organisation with id '%(id)s'; list ids at /api/organisations",
                                           id=org_id[:100]))
    o = dict(o, url=url_for("views.organisation", org_id=o["id"], _external=True),
             countries=_countries(o["countries"]),
             works_with=[_partner(p) for p in network_store.partners(db, org_id)])
    return jsonify(o)


def _partner(p):
    """One organisation the organisation works with (shares projects with, any role), and those projects."""
    return {"id": p["id"], "name": p["name"], "acronym": p["acronym"], "shared_project_count": p["shared"],
            "url": url_for("views.organisation", org_id=p["id"], _external=True),
            "api_url": url_for("api.organisation", org_id=p["id"], _external=True),
            "shared_projects": [{"id": s["id"], "title": s["title"], "status": s["status"],
                                 "url": url_for("views.project", project_id=s["id"], _external=True)}
                                for s in p["projects"]]}


@bp.route("/countries")
def countries():
    page, per_page = parse_paging(request.args)
    rows = list_countries(get_db(), order="iso3")
    return jsonify(list_envelope(page_of(rows, page, per_page), len(rows), page, per_page))


def _region(row):
    """A region as the API gives it: code, kind, names, parent, project count, members, links."""
    return dict(row, members=_countries(row["members"]),
                url=url_for("views.region", code=row["code"], _external=True),
                api_url=url_for("api.region", code=row["code"], _external=True),
                projects_url=url_for("api.projects", region=row["code"], _external=True))


@bp.route("/regions")
def regions():
    """Every region (World, M49 regions, sub-regions, intermediate regions, groups, custom) with its counts."""
    page, per_page = parse_paging(request.args, default_per_page=100)
    rows = [_region(r) for r in list_regions(get_db())]
    return jsonify(list_envelope(page_of(rows, page, per_page), len(rows), page, per_page))


@bp.route("/regions/<code>")
def region(code):
    known = region_table.get_region(code)
    row = next((r for r in list_regions(get_db()) if known and r["code"] == known.code), None)
    if row is None:
        raise ApiError(404, "not_found", _("no region with code '%(code)s'; list codes at /api/regions",
                                           code=code[:100]))
    return jsonify(_region(row))


@bp.route("/openapi.json")
def openapi():
    return jsonify(OPENAPI)


@bp.route("/<path:anything>")
def unknown(anything):
    raise ApiError(404, "not_found", _("no such API endpoint; see /api/openapi.json"))
