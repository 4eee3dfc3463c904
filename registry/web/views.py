"""HTML pages: thin. Parse the request, make one library call, render."""

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from ..exchange import exports, iati
from ..exchange.facts import headline_facts

from ..core import geo
from ..core import regions as region_table
from ..store import db as storage
from ..store import changes as change_log
from ..store import sources as source_store
from ..store import network as network_store
from ..maps.network import network_svg
from ..search.finder import (countries_by_region, find_organisations, find_projects, list_countries, list_regions,
                             projects_by_role, query_from_args, region_tree)
from ..core.query import DEFAULT_FACET_SIZE, ProjectQuery
from ..core.sources import REPORT_SOURCE_ID
from ..core.labels import labels
from ..core.validate import AREAS, KINDS, ROLES, STATUSES
from . import language
from .context import get_db, index_settings, selection_summary
from .envelope import linked_facets
from .errors import ApiError

bp = Blueprint("views", __name__)
MAX_SOURCE_CHANGES = 1000   # changes a source page lists (it says how many more there are)
TOP_PARTNERS = 10           # partners an organisation page lists first and draws (the rest under "more")


@bp.app_context_processor
def vocabulary():
    """The vocabularies' labels and the names of places, in the request's language (core/labels.py)."""
    words, lang = language.words(), language.current_language()
    return {"AREAS": labels("area", words), "ORG_TYPES": labels("org_type", words),
            "KIND_LABELS": labels("kind", words), "STATUS_LABELS": labels("status", words),
            "ROLE_LABELS": labels("role", words), "PRECISION_LABELS": labels("precision", words),
            "KINDS": KINDS, "STATUSES": STATUSES, "ROLES": ROLES,
            "country_name": lambda iso3: geo.country_name(iso3, lang),
            "region_name": lambda region: region.name_in(lang),
            "gazetteer_place": geo.gazetteer_place,
            "get_region": region_table.get_region,   # a region location's name and page (templates/project.html)
            "has_map": "maps.map_page" in current_app.view_functions,
            "DEFAULT_FACET_SIZE": DEFAULT_FACET_SIZE, "source_summary": source_summary,
            "REPORT_SOURCE_ID": REPORT_SOURCE_ID}


def source_summary(source_id):
    """{"id", "title", "as_of"} of one source record, or None: how a history row from a source names it
    (templates/_change.html; the editor's history pages call it with the row's `source`)."""
    return source_store.source_summaries(get_db(), [source_id]).get(source_id) if source_id else None


def last_change(db, entity, record_id):
    """The record's newest change (store.changes), naming its source record when it came from one."""
    change = change_log.last_change(db, entity, record_id)
    if change:
        change["update_source"] = source_store.sources_of_changes(db, [change["id"]]).get(change["id"])
    return change


def sources_newest_first(db):
    """Every source record with what it contributed (store.sources.list_sources), newest first."""
    return list(reversed(source_store.list_sources(db)))


def registry_sources(db):
    """What the home and About pages say of the sources: each with its counts, and the registry's date."""
    return {"sources": sources_newest_first(db), "registry_as_of": source_store.registry_as_of(db)}


@bp.route("/")
def home():
    db = get_db()
    return render_template("home.html", facts=headline_facts(), **storage.overview(db), **registry_sources(db))


@bp.route("/projects")
def projects():
    db = get_db()
    query = query_from_args(db, request.args)
    results = find_projects(db, index_settings(), query)
    return render_template("projects.html", results=results, q=query,
                           summary=selection_summary(db, query, results.total),
                           source_titles=source_store.source_titles(db, query.sources),
                           facets=page_facets(results.facets, query, "views.projects"))


def page_facets(facets, query, endpoint):
    """A list page's facets: linked to `endpoint` on this site, labelled in the request's language."""
    return linked_facets(facets, query, endpoint, external=False, words=language.words(),
                         lang=language.current_language())


@bp.route("/projects.iati.xml", defaults={"fmt": "iati"})   # the same endpoint: web/limits.py meters it as an export
@bp.route("/projects.<any(csv, geojson, json):fmt>")
def export(fmt):
    """Exports of the current selection: the same query string as the list and the map. Streamed: the
    records are read a batch at a time and sent as they are written, so memory stays constant and the
    first bytes leave at once, whatever the size of the selection (web/limits.py meters the whole)."""
    db = get_db()
    query = query_from_args(db, request.args)
    results = find_projects(db, index_settings(), query, with_page=False, with_facets=False)
    name = f"mercury-registry-{selection_summary(db, query, results.total).slug}"   # says what it holds
    # A connection of its own, closed after the last batch: the request's is closed when the view returns,
    # before the body is sent.
    stream_db = storage.connect(current_app.config["DATABASE"], readonly=True)
    organisations, projects = storage.export_stream(stream_db, results.ids, close=True)   # + the orgs they name
    if fmt == "iati":
        return iati_export(organisations, projects)
    sources = source_store.export_sources(stream_db, results.ids) if fmt != "csv" else []   # + what they cite
    headers = {"Content-Disposition": f"attachment; filename={name}.{fmt}",
               "Cache-Control": "no-store"}
    return Response(exports.export_chunks(fmt, organisations, projects, sources=sources),
                    content_type=exports.MIMETYPES[fmt],
                    headers=headers)


def iati_export(organisations, projects):
    """The selection as an IATI 2.03 activity file (exchange/iati.py; docs/iati.md), streamed like the other
    exports. A selection with no project IATI can hold is a 422 saying why (the schema needs one activity);
    not a 404, which the error page reads as a mistyped address."""
    config = current_app.config
    try:
        chunks = iati.activities_xml(organisations, projects, config["IATI_REPORTING_ORG"],
                                     config["IATI_PUBLISHER_PREFIX"])
    except iati.NoActivities as exc:
        projects.close()   # ends the read transaction and closes the export's own connection
        raise ApiError(422, "no_activities", str(exc)) from None
    headers = {"Content-Disposition": "attachment; filename=mercury-registry-projects.iati.xml",
               "Cache-Control": "no-store"}
    return Response(chunks, content_type=iati.MIMETYPE, headers=headers)


@bp.route("/projects/<project_id>")
def project(project_id):
    db = get_db()
    p = storage.get_project(db, project_id)
    if p is None:
        abort(404)
    cited = source_store.source_summaries(db, {s["document"] for s in p["sources"]})
    return render_template("project.html", p=p, last_change=last_change(db, "project", project_id),
                           as_of=source_store.as_of(db, [project_id]).get(project_id), cited=cited,
                           undated=source_store.undated_consulted(db, [project_id]).get(project_id))


@bp.route("/organisations")
def organisations():
    found = find_organisations(get_db(), index_settings(), request.args)
    return render_template("organisations.html", q=found.query, found=found,
                           facets=page_facets(found.facets, found.query, "views.organisations"))


@bp.route("/organisations/<org_id>")
def organisation(org_id):
    db = get_db()
    o = storage.get_organisation(db, org_id)
    if o is None:
        abort(404)
    by_role = projects_by_role(o["projects"])
    partners = network_store.partners(db, org_id)
    top = partners[:TOP_PARTNERS]
    return render_template("organisation.html", o=o, by_role=by_role,
                           last_change=last_change(db, "organisation", org_id),
                           as_of=source_store.organisation_as_of(db, org_id),
                           partners=top, more_partners=partners[TOP_PARTNERS:],
                           network=Markup(network_svg(o, top, total=len(partners), words=language.words()))
                           if top else None)


@bp.route("/countries")
def countries():
    lang = language.current_language()
    rows = [dict(row, name=geo.country_name(row["iso3"], lang)) for row in list_countries(get_db())]
    rows.sort(key=lambda row: (geo.fold(row["name"]), row["iso3"]))     # in the order of the page's language
    return render_template("countries.html", rows=rows, groups=regions_by_name(countries_by_region(rows), lang))


def regions_by_name(groups, lang):
    """countries_by_region's groups ordered by the regions' names in `lang` (no region last)."""
    by_name = lambda item: (item[0] is None, geo.fold(item[0].name_in(lang)) if item[0] else "")   # noqa: E731
    return [(region, sorted(subs, key=by_name)) for region, subs in sorted(groups, key=by_name)]


@bp.route("/regions")
def regions():
    return render_template("regions.html", groups=region_tree(list_regions(get_db())))


@bp.route("/regions/<code>")
def region(code):
    r = region_table.get_region(code)
    if r is None:
        named = region_table.lookup_region(code)     # a name or another spelling: the page of its code
        if named is not None:
            return redirect(url_for("views.region", code=named.code), 301)
        raise ApiError(404, "not_found", _("no region with code '%(code)s': the regions are listed at /regions",
                                           code=code[:100]))
    if r.code != code:
        return redirect(url_for("views.region", code=r.code), 301)
    db = get_db()
    query = ProjectQuery(regions=(r.code,), per_page=100)
    results = find_projects(db, index_settings(), query, with_facets=False)
    parent = region_table.get_region(r.parent) if r.parent else None
    children = [c for c in region_table.all_regions() if c.parent == r.code and c.kind != "custom"]
    return render_template("region.html", r=r, parent=parent, children=children, results=results, q=query,
                           members=sorted(r.members, key=lambda iso3: geo.fold(
                               geo.country_name(iso3, language.current_language()))))


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
    db = get_db()
    overview = storage.overview(db)   # the figures the page gives are counted from the data, never typed
    return render_template("about.html", facts=headline_facts(), counts=overview["counts"], areas=overview["areas"],
                           report_name=current_app.config["REPORT_PATH"].rsplit("/", 1)[-1], **registry_sources(db))


@bp.route("/sources")
def sources():
    return render_template("sources.html", sources=sources_newest_first(get_db()))


@bp.route("/sources/<source_id>")
def source(source_id):
    db = get_db()
    s = source_store.get_source(db, source_id)
    if s is None:
        raise ApiError(404, "not_found", _("no source with id '%(id)s': the sources are listed at /sources",
                                           id=source_id[:100]))
    return render_template("source.html", s=s, by_project=citations_by_project(s["citations"]),
                           changes=changes_from(db, source_id))


def changes_from(db, source_id):
    """The changes applied from one source, newest first: every one (a source changes a few records)."""
    rows, total = change_log.recent_changes(db, change_log.ChangeFilter(source_record=source_id),
                                            limit=MAX_SOURCE_CHANGES)
    return {"rows": rows, "total": total}


def citations_by_project(citations):
    """A source's citations grouped by project: [(project id, title, [citations])], in their order."""
    groups = {}
    for c in citations:
        groups.setdefault((c["project_id"], c["title"]), []).append(c)
    return [(pid, title, cs) for (pid, title), cs in groups.items()]
