"""HTML pages: thin. Parse the request, make one library call, render."""

from flask import Blueprint, Response, abort, current_app, render_template, request

from ..exchange import exports
from ..exchange.facts import headline_facts

from ..core import geo
from ..store import db as storage
from ..store import changes as change_log
from ..search.finder import (find_organisations, find_projects, list_countries, projects_by_role,
                             query_from_args)
from ..core.query import DEFAULT_FACET_SIZE, ProjectQuery
from ..core.validate import AREAS, KINDS, ORG_TYPES, ROLES, STATUSES
from .context import get_db, index_settings
from .envelope import linked_facets

bp = Blueprint("views", __name__)


@bp.app_context_processor
def vocabulary():
    return {"AREAS": AREAS, "KINDS": KINDS, "STATUSES": STATUSES, "ROLES": ROLES, "ORG_TYPES": ORG_TYPES,
            "country_name": geo.country_name, "gazetteer_place": geo.gazetteer_place,
            "has_map": "maps.map_page" in current_app.view_functions,
            "DEFAULT_FACET_SIZE": DEFAULT_FACET_SIZE}


@bp.route("/")
def home():
    return render_template("home.html", facts=headline_facts(), **storage.overview(get_db()))


@bp.route("/projects")
def projects():
    db = get_db()
    query = query_from_args(db, request.args)
    results = find_projects(db, index_settings(), query)
    return render_template("projects.html", results=results, q=query,
                           facets=linked_facets(results.facets, query, "views.projects", external=False))


@bp.route("/projects.<any(csv, geojson, json):fmt>")
def export(fmt):
    """Exports of the current selection: the same query string as the list and the map. Streamed: the
    records are read a batch at a time and sent as they are written, so memory stays constant and the
    first bytes leave at once, whatever the size of the selection (web/limits.py meters the whole)."""
    db = get_db()
    results = find_projects(db, index_settings(), query_from_args(db, request.args), with_page=False, with_facets=False)
    # A connection of its own, closed after the last batch: the request's is closed when the view returns,
    # before the body is sent.
    stream_db = storage.connect(current_app.config["DATABASE"], readonly=True)
    organisations, projects = storage.export_stream(stream_db, results.ids, close=True)   # + the orgs they name
    headers = {"Content-Disposition": f"attachment; filename=mercury-registry-projects.{fmt}",
               "Cache-Control": "no-store"}
    return Response(exports.export_chunks(fmt, organisations, projects), content_type=exports.MIMETYPES[fmt],
                    headers=headers)


@bp.route("/projects/<project_id>")
def project(project_id):
    db = get_db()
    p = storage.get_project(db, project_id)
    if p is None:
        abort(404)
    return render_template("project.html", p=p, last_change=change_log.last_change(db, "project", project_id))


@bp.route("/organisations")
def organisations():
    found = find_organisations(get_db(), index_settings(), request.args)
    return render_template("organisations.html", q=found.query, found=found,
                           facets=linked_facets(found.facets, found.query, "views.organisations", external=False))


@bp.route("/organisations/<org_id>")
def organisation(org_id):
    db = get_db()
    o = storage.get_organisation(db, org_id)
    if o is None:
        abort(404)
    by_role = projects_by_role(o["projects"])
    return render_template("organisation.html", o=o, by_role=by_role,
                           last_change=change_log.last_change(db, "organisation", org_id))


@bp.route("/countries")
def countries():
    return render_template("countries.html", rows=list_countries(get_db()))


@bp.route("/countries/<code>")
def country(code):
    c = geo.lookup_country(code)
    if c is None:
        abort(404)
    db = get_db()
    query = ProjectQuery(countries=(c.iso3,), per_page=100)
    results = find_projects(db, index_settings(), query, with_facets=False)
    orgs = storage.list_organisations(db, country=[c.iso3])
    return render_template("country.html", c=c, results=results, q=query, orgs=orgs)


@bp.route("/areas/<area>")
def area(area):
    if area not in AREAS:
        abort(404)
    db = get_db()
    query = ProjectQuery(areas=(area,), per_page=100)
    results = find_projects(db, index_settings(), query, with_facets=False)
    leads = storage.organisations_leading_area(db, area)
    return render_template("area.html", area=area, results=results, q=query, leads=leads)


@bp.route("/about")
def about():
    return render_template("about.html", facts=headline_facts(),
                           report_name=current_app.config["REPORT_PATH"].rsplit("/", 1)[-1])
