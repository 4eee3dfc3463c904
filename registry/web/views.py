"""HTML pages: thin. Parse the request, make one library call, render."""
import functools
import json

import yaml
from flask import Blueprint, Response, abort, current_app, render_template, request

from ..core.paths import GEODATA, STATIC

from ..exchange import exports

from ..core import geo
from ..store import db as storage
from ..search.finder import find_organisations, find_projects, query_from_args
from ..core.query import ProjectQuery
from ..core.validate import AREAS, KINDS, ORG_TYPES, ROLES, STATUSES
from .context import get_db, index_settings

bp = Blueprint("views", __name__)


@functools.cache
def headline_facts():
    return yaml.safe_load((GEODATA / "facts.yaml").read_text("utf-8"))


@bp.app_context_processor
def vocabulary():
    return {"AREAS": AREAS, "KINDS": KINDS, "STATUSES": STATUSES, "ROLES": ROLES, "ORG_TYPES": ORG_TYPES,
            "country_name": geo.country_name, "has_map": "maps.map_page" in current_app.view_functions}


@bp.route("/")
def home():
    db = get_db()
    areas = dict(db.execute("SELECT area, count(*) FROM project_areas GROUP BY area").fetchall())
    countries = storage.country_project_counts(db)
    top_countries = sorted(countries.items(), key=lambda x: (-x[1], x[0]))[:24]
    orgs = sorted(storage.list_organisations(db), key=lambda o: -o["project_count"])[:18]
    return render_template("home.html", counts=storage.counts(db), facts=headline_facts(), areas=areas,
                           top_countries=top_countries, orgs=orgs)


@bp.route("/projects")
def projects():
    db = get_db()
    query = query_from_args(db, request.args)
    results = find_projects(db, index_settings(), query)
    return render_template("projects.html", results=results, q=query)


@bp.route("/projects.<any(csv, geojson, json):fmt>")
def export(fmt):
    """Exports of the current selection: the same query string as the list and the map."""
    db = get_db()
    results = find_projects(db, index_settings(), query_from_args(db, request.args), with_page=False, with_facets=False)
    projects = [storage.get_project(db, pid) for pid in results.ids]
    headers = {"Content-Disposition": f"attachment; filename=mercury-registry-projects.{fmt}",
               "Cache-Control": "no-store"}
    if fmt == "csv":
        return Response(exports.export_csv(projects), mimetype="text/csv; charset=utf-8", headers=headers)
    body = exports.export_geojson(projects) if fmt == "geojson" else {"projects": projects}
    mimetype = "application/geo+json" if fmt == "geojson" else "application/json"
    return Response(json.dumps(body, ensure_ascii=False), mimetype=mimetype, headers=headers)


@bp.route("/projects/<project_id>")
def project(project_id):
    db = get_db()
    p = storage.get_project(db, project_id)
    if p is None:
        abort(404)
    return render_template("project.html", p=p)


@bp.route("/organisations")
def organisations():
    db = get_db()
    query, rows, page_rows, facets = find_organisations(db, index_settings(), request.args)
    return render_template("organisations.html", q=query, rows=rows, page_rows=page_rows, facets=facets,
                           selected_types=request.args.getlist("type"))


@bp.route("/organisations/<org_id>")
def organisation(org_id):
    db = get_db()
    o = storage.get_organisation(db, org_id)
    if o is None:
        abort(404)
    by_role = {}
    for row in o["projects"]:
        by_role.setdefault(row["role"], []).append(row)
    return render_template("organisation.html", o=o, by_role=by_role)


@bp.route("/countries")
def countries():
    db = get_db()
    counts = storage.country_project_counts(db)
    rows = sorted(((geo.country_name(c), c, n) for c, n in counts.items()))
    return render_template("countries.html", rows=rows)


@bp.route("/countries/<code>")
def country(code):
    c = geo.lookup_country(code)
    if c is None:
        abort(404)
    db = get_db()
    query = ProjectQuery(countries=(c.iso3,), per_page=100)
    results = find_projects(db, index_settings(), query)
    orgs = storage.list_organisations(db, country=[c.iso3])
    return render_template("country.html", c=c, results=results, q=query, orgs=orgs)


@bp.route("/areas/<area>")
def area(area):
    if area not in AREAS:
        abort(404)
    db = get_db()
    query = ProjectQuery(areas=(area,), per_page=100)
    results = find_projects(db, index_settings(), query)
    leads = [o for o in storage.list_organisations(db) if area in o["leads_areas"]]
    return render_template("area.html", area=area, results=results, q=query, leads=leads)


@bp.route("/about")
def about():
    return render_template("about.html", facts=headline_facts(),
                           report_name=current_app.config["REPORT_PATH"].rsplit("/", 1)[-1])
