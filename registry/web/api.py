"""The JSON API: one envelope (web/envelope.py), one error shape. Documented at /api/openapi.json and in
docs/api.md."""
from flask import Blueprint, jsonify, request, url_for

from ..store import db as storage
from ..core import geo
from ..core.query import parse_paging
from .envelope import linked_facets, list_envelope
from .errors import ApiError
from ..search.finder import find_organisations, find_projects, list_countries, page_of, query_from_args
from .openapi import OPENAPI
from ..core.validate import AREAS
from .context import get_db, index_settings

bp = Blueprint("api", __name__, url_prefix="/api")


def _countries(codes):
    return [{"iso3": c, "name": geo.country_name(c)} for c in codes]


def _project_result(row, found):
    return {
        "id": row["id"], "title": row["title"], "url": url_for("views.project", project_id=row["id"], _external=True),
        "api_url": url_for("api.project", project_id=row["id"], _external=True),
        "summary": row["summary"], "countries": _countries(row["countries"]), "area": row["area"],
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
                                 query.page, query.per_page, linked_facets(found.facets, query, "api.projects"),
                                 **extra))


@bp.route("/projects/<project_id>")
def project(project_id):
    p = storage.get_project(get_db(), project_id)
    if p is None:
        raise ApiError(404, "not_found", f"no project with id '{project_id[:100]}'; list ids at /api/projects")
    p = dict(p, url=url_for("views.project", project_id=p["id"], _external=True),
             countries=_countries(p["countries"]),
             organisations=[{"id": o["id"], "name": o["name"], "acronym": o["acronym"], "role": o["role"],
                             "basis": o["basis"], "source": o["source"], "reason": o["reason"]}
                            for o in p["organisations"]])
    return jsonify(p)


@bp.route("/organisations")
def organisations():
    found = find_organisations(get_db(), index_settings(), request.args)
    results = [dict(o, url=url_for("views.organisation", org_id=o["id"], _external=True),
                    country=({"iso3": o["country"], "name": geo.country_name(o["country"])}
                             if o["country"] else None)) for o in found.page_rows]
    query = found.query
    return jsonify(list_envelope(results, found.total, query.page, query.per_page,
                                 linked_facets(found.facets, query, "api.organisations")))


@bp.route("/organisations/<org_id>")
def organisation(org_id):
    o = storage.get_organisation(get_db(), org_id)
    if o is None:
        raise ApiError(404, "not_found", f"no organisation with id '{org_id[:100]}'; list ids at /api/organisations")
    o = dict(o, url=url_for("views.organisation", org_id=o["id"], _external=True),
             countries=_countries(o["countries"]))
    return jsonify(o)


@bp.route("/countries")
def countries():
    page, per_page = parse_paging(request.args)
    rows = list_countries(get_db(), order="iso3")
    return jsonify(list_envelope(page_of(rows, page, per_page), len(rows), page, per_page))


@bp.route("/openapi.json")
def openapi():
    return jsonify(OPENAPI)


@bp.route("/<path:anything>")
def unknown(anything):
    raise ApiError(404, "not_found", "no such API endpoint; see /api/openapi.json")
