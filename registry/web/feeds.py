"""Atom feeds: `/projects.atom?<query string>`, the newest changes of a selection, for feed readers.

The same query string as the list, the map and the exports (core/query.py: search, filters, region,
source...) selects the projects; the feed holds the last change of each (store/changes.py), newest first,
at most MAX_ENTRIES of them: added, or which fields changed, and from which source. Partners and newsletter
editors subscribe to "projects funded by GEF in Africa" and see each new project or update.

Ids are tag: URIs (RFC 4151), stable whatever the URL the feed was read from:
- the feed's: `tag:<authority>,2026:projects.atom?<the selection's canonical query string>`;
- an entry's: `tag:<authority>,2026:projects/<project id>/changes/<history id>`: one entry per change, so a
  reader shows a project's next change as a new item (an entry id per project would make most readers keep
  the old item and show nothing).
The authority is FEED_TAG_AUTHORITY, by default the host name the request came to: set it when the
registry is served under more than one name, so that the ids stay the same.

feedgen writes the XML (it escapes text, formats dates as RFC 3339 and orders the Atom elements). A bad query
is a 400 in the usual error shape (an HTML page, as for the CSV export); a search (`q`) is metered like the
list's by web/limits.py, which meters every GET with search text.

The feed speaks the request's language (issue 13): its title, subtitle and each entry's sentence, and the
projects' titles and summaries in French or Spanish where they have them. The feed's own links carry `lang=`
when a language was chosen (url_for adds it), so a reader subscribed in French keeps getting French.
"""
from datetime import datetime, timezone
from urllib.parse import quote

from feedgen.feed import FeedGenerator
from flask import Blueprint, Response, current_app, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup, escape

from ..core.language import N_, localized
from ..core.query import with_query
from ..search.finder import find_projects, query_from_args
from ..store import changes as change_log
from ..store import db as storage
from ..store import sources as source_store
from . import language
from .context import get_db, index_settings, selection_summary

bp = Blueprint("feeds", __name__)

MAX_ENTRIES = 50          # entries in one feed: the newest changes of the selection (docs/api.md)
TAG_DATE = "2026"         # the date part of every tag: URI (RFC 4151): the year this naming began
MIMETYPE = "application/atom+xml; charset=utf-8"
REGISTRY_NAME = N_("Mercury Partnership Registry")
# What a change did, as an entry's sentence begins: "Changed by an editor's form: status, end_year"
ACTIONS = {"added": N_("Added"), "changed": N_("Changed"), "deleted": N_("Deleted"), "reverted": N_("Reverted"),
           "restored": N_("Restored")}
# How a change came about, after its action
VIA = {"form": N_("by an editor's form"), "import": N_("by an import"),
       "seed": N_("from the registry's first edition (the Partnership's report on activities)"),
       "proposal": N_("from an approved proposal"), "revert": N_("by reverting an earlier change"),
       "restore": N_("from a restored backup")}


@bp.app_template_global()
def projects_feed_url(query, external=True):
    """The URL of the Atom feed of a ProjectQuery's selection: absolute for the share panel (copied into
    feed readers), relative in a page's <head> (base.html: autodiscovery resolves it against the page)."""
    filters = query.filter_params()
    return with_query(url_for("feeds.projects", _external=external), filters)


@bp.route("/projects.atom")
def projects():
    db = get_db()
    query = query_from_args(db, request.args)
    results = find_projects(db, index_settings(), query, with_page=False, with_facets=False)
    summary = selection_summary(db, query, results.total)
    changes = change_log.last_project_changes(db, results.ids, MAX_ENTRIES)
    sources = source_store.sources_of_changes(db, [c["id"] for c in changes if c["id"] is not None])
    records = {p["id"]: p for p in storage.project_summaries(db, [c["entity_id"] for c in changes])}
    feed = _feed(query, summary.sentence, _feed_updated(db, changes))
    for change in changes:
        _add_entry(feed, change, sources.get(change["id"]), records.get(change["entity_id"]))
    return Response(feed.atom_str(pretty=True), content_type=MIMETYPE)


def _feed(query, title, updated):
    filters = query.filter_params()
    suffix = f"?{filters}" if filters else ""
    feed = FeedGenerator()
    feed.id(f"{_tag_prefix()}projects.atom{suffix}")
    feed.title(title)
    feed.language(language.current_language())
    feed.subtitle(_("The newest changes to these projects in the %(registry)s, newest first (at most %(max)s): "
                    "projects added, and which fields changed, from which source.",
                    registry=_(REGISTRY_NAME), max=MAX_ENTRIES))
    feed.updated(updated)
    feed.author({"name": _(REGISTRY_NAME), "uri": url_for("views.home", _external=True)})
    feed.link(href=with_query(url_for("feeds.projects", _external=True), filters), rel="self",
              type="application/atom+xml")
    feed.link(href=with_query(url_for("views.projects", _external=True), filters), rel="alternate", type="text/html")
    feed.generator(_(REGISTRY_NAME), uri=url_for("views.about", _external=True))
    return feed


def _feed_updated(db, changes):
    """The newest entry's time; for an empty feed, the registry's last change (a feed must say when it
    changed, and an empty selection changes only when the registry does), else now."""
    if changes:
        return _datetime(changes[0]["at"])
    newest, _ = change_log.recent_changes(db, limit=1)
    return _datetime(newest[0]["at"]) if newest else datetime.now(timezone.utc)


def _add_entry(feed, change, update_source, record):
    """One entry: the project's title and summary in the feed's language where it has them (else English)."""
    entry = feed.add_entry(order="append")   # feedgen prepends by default: the changes are newest first
    pid = change["entity_id"]
    number = f"changes/{change['id']}" if change["id"] is not None else "unrecorded"
    entry.id(f"{_tag_prefix()}projects/{quote(pid, safe='')}/{number}")
    lang = language.current_language()
    title = localized(record, "title", lang)[0] or change["title"]
    project_summary = localized(record, "summary", lang)
    entry.title(title)
    entry.updated(_datetime(change["at"]))
    link = url_for("views.project", project_id=pid, _external=True)
    entry.link(href=link, rel="alternate", type="text/html")
    entry.category(term=change["action"])
    what = what_changed(change, update_source)
    entry.summary(what)
    entry.content(_content(what, title, update_source, project_summary, link), type="html")


def what_changed(change, update_source):
    """One sentence in the request's language: "Added from ...", "Update from <source title> (as of May 1,
    2024): status, end_year", "Changed by an editor's form: title"."""
    if change["action"] == "unrecorded":
        return _("No change of this project is recorded in the history; it was last updated %(date)s",
                 date=language.date_text(change["at"]))
    if update_source:
        head = _update_from(change["action"] == "added", update_source)
    else:
        action, kind = change["action"], change["source_kind"]
        head = f"{_(ACTIONS[action]) if action in ACTIONS else action.capitalize()} {_(VIA[kind]) if kind in VIA else ''}"
        head = head.rstrip()
    if not change["fields"]:
        return head
    return _("%(change)s: %(fields)s", change=head, fields=", ".join(change["fields"]))


def _update_from(added, source):
    values = {"source": source["title"], "date": language.date_text(source.get("as_of"))}
    if source.get("as_of"):
        return _("Added from %(source)s (as of %(date)s)", **values) if added \
            else _("Update from %(source)s (as of %(date)s)", **values)
    return _("Added from %(source)s", **values) if added else _("Update from %(source)s", **values)


def _content(what, title, update_source, project_summary, link):
    """The entry's HTML: what changed (the source linked), the project's own summary ((text, its language)),
    a link to it."""
    sentence = escape(what)
    if update_source:
        source_link = Markup('<a href="{}">{}</a>').format(
            url_for("views.source", source_id=update_source["id"], _external=True), update_source["title"])
        sentence = Markup(str(sentence).replace(str(escape(update_source["title"])), str(source_link), 1))
    parts = [Markup("<p>{}</p>").format(sentence)]
    text, text_lang = project_summary
    if text:   # the English summary of a project without one in the feed's language says it is English
        marked = Markup(' lang="{}"').format(text_lang) if text_lang != language.current_language() else ""
        parts.append(Markup("<p{}>{}</p>").format(marked, text))
    parts.append(Markup('<p><a href="{}">{}</a></p>').format(link, title))
    return str(Markup("").join(parts))


def _tag_prefix():
    host = request.host   # "name", "name:port" or "[v6 address]:port": the name without its port
    authority = current_app.config.get("FEED_TAG_AUTHORITY") or (
        host[1:host.find("]")] if host.startswith("[") else host.split(":")[0])
    return f"tag:{authority},{TAG_DATE}:"


def _datetime(stamp):
    """A history or record time ('2026-12-07T00:07:11Z') as an aware datetime, which feedgen requires."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(timezone.utc)
