"""The OpenAPI 3.1 description of the JSON API (served at /api/openapi.json)."""
from ..core.query import DEFAULT_FACET_SIZE, MAX_FACET_SIZE, MAX_PAGE, MAX_PER_PAGE, MAX_Q, SORT_CHOICES
from ..core.validate import AREAS, KINDS, ORG_TYPES, ROLES, STATUSES
from ..core.language import translated_field_names
from ..store.changes import ACTIONS as CHANGE_ACTIONS, ENTITIES as CHANGE_ENTITIES, SOURCE_KINDS


# A blank value (what a web form sends for an empty field) means "not set", for every parameter.
BLANK = {"type": "string", "pattern": r"^\s*$"}
BLANK_ITEM = {"type": "string", "pattern": r"^[\s,]*$"}   # list values are also split on commas
# Four plain decimal numbers separated by commas (the ranges are checked by core/query.py parse_bbox)
_NUMBER = r"\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*"
BBOX_PATTERN = rf"^{_NUMBER},{_NUMBER},{_NUMBER},{_NUMBER}$"


def _list(name, description, enum=None):
    item = {"anyOf": [{"type": "string", "enum": list(enum)}, BLANK_ITEM]} if enum else {"type": "string"}
    schema = {"type": "array", "items": item}
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema, "style": "form", "explode": True}


def _int(name, low, high, description):
    return {"name": name, "in": "query", "description": description,
            "schema": {"anyOf": [{"type": "integer", "minimum": low, "maximum": high}, BLANK]}}


# Paging and facet size: single-valued, like q, year_from, year_to and sort (given twice: a 400).
PAGE = _int("page", 1, MAX_PAGE, "Page number.")
PER_PAGE = _int("per_page", 1, MAX_PER_PAGE, "Results per page.")
FACET_SIZE = {"name": "facet_size", "in": "query", "description": (
    f"How many values each facet shows (default {DEFAULT_FACET_SIZE}; selected values are always shown), "
    "or `max` for every value. A facet that leaves values out says `truncated: true` and gives its "
    "`show_all_url`."), "schema": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_FACET_SIZE},
                                             {"type": "string", "enum": ["max"]}, BLANK]}}
Q = {"name": "q", "in": "query", "description": "Search words; phrases in double quotes. Max "
     f"{MAX_Q} characters and 20 words.", "schema": {"type": "string", "maxLength": MAX_Q}}

FILTERS = [
    Q,
    _list("country", "ISO3, ISO2 or English name; repeat for OR."),
    _list("region", "Region: an M49 code (419, 005, 202, the groups 199 LDC, 432 LLDC, 722 SIDS), a custom "
                    "region's code (amazon-basin) or a name in English, French or Spanish (Latin America, "
                    "Afrique, América del Sur; case and accents do not matter), as listed at /api/regions; "
                    "repeat for OR. A project is in a region when one of its countries is, or one of its "
                    "region-precision locations is in it. Links and facets give the code. An unknown region "
                    "is a 400 (code unknown_region)."),
    _list("funder", "Funder id, name, acronym or alias; repeat for OR."),
    _list("org", "Organisation (any role) id, name, acronym or alias; repeat for OR."),
    _list("role", "Restrict `org` to these roles.", ROLES),
    _list("area", "Partnership area.", AREAS),
    _list("status", "Project status.", STATUSES),
    _list("kind", "Kind of project.", KINDS),
    _list("source", "Projects citing this source record (its id, as listed at /api/sources); repeat for OR. "
                    "An unknown id is a 400 (code unknown_source)."),
    {"name": "bbox", "in": "query", "description": (
        "minlon,minlat,maxlon,maxlat in degrees (-20,-35,55,38): the projects with a point (a location of "
        "precision site, subnational or country with coordinates) inside the box. minlon > maxlon crosses the "
        "antimeridian (170,-25,-170,-10: Fiji and Samoa). Rounded to 4 decimals. Malformed (not four plain "
        "numbers, out of range, minlat > maxlat): a 400 (code invalid_bbox)."),
     "schema": {"anyOf": [{"type": "string", "pattern": BBOX_PATTERN}, BLANK]}},
    _int("year_from", 1900, 2100, "Active in or after this year."),
    _int("year_to", 1900, 2100, "Active in or before this year (not before year_from)."),
    {"name": "sort", "in": "query", "description": "Order: relevance (the default with q), title (the default "
     "without), start_year, -start_year (newest first), updated (last changed first).",
     "schema": {"anyOf": [{"type": "string", "enum": list(SORT_CHOICES)}, BLANK]}},
    PAGE,
    PER_PAGE,
    FACET_SIZE,
]
ORGANISATION_FILTERS = [Q, _list("type", "Organisation type; repeat for OR.", ORG_TYPES),
                        _list("country", "Head office country: ISO3, ISO2 or English name; repeat for OR."),
                        PAGE, PER_PAGE, FACET_SIZE]

ERROR = {"description": "Bad request: the message says what to fix.",
         "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
NOT_FOUND = dict(ERROR, description="No such record.")
FACET_VALUE = {"type": "object", "required": ["value", "label", "count", "selected", "toggle_url"], "properties": {
    "value": {"type": "string"}, "label": {"type": "string"},
    "count": {"type": "integer", "description": "matching results with this value (other filters applied, not "
                                                 "this facet's own); 0 for a selected value nothing else matches"},
    "selected": {"type": "boolean", "description": "whether the query filters on this value"},
    "toggle_url": {"type": "string", "description": "this list with the value added (or removed, when "
                                                    "selected), on its first page"}}}
FACET = {"type": "object", "required": ["values", "value_count", "truncated", "show_all_url"], "properties": {
    "values": {"type": "array", "items": FACET_VALUE,
               "description": "selected values first, then the most frequent, up to facet_size"},
    "value_count": {"type": "integer", "description": "how many values the facet has in all"},
    "truncated": {"type": "boolean", "description": "whether values were left out (see facet_size)"},
    "show_all_url": {"type": ["string", "null"], "description": "this list with every value of every "
                                                                "facet (facet_size=max); null unless truncated"}}}
PAGE_LINKS = {   # in every list envelope
    "next": {"type": ["string", "null"], "description": "URL of the next page (same query), null on the last"},
    "prev": {"type": ["string", "null"], "description": "URL of the previous page (same query), null on the first"}}


def _with(schema, **properties):
    """`schema` with more (optional) properties."""
    return dict(schema, properties=dict(schema["properties"], **properties))


def envelope(results, facets=None):
    """The schema of a list: {total, page, per_page, results, [facets], next, prev}."""
    required = ["total", "page", "per_page", "results"] + (["facets"] if facets else []) + ["next", "prev"]
    properties = {"total": {"type": "integer"}, "page": {"type": "integer"}, "per_page": {"type": "integer"},
                  "results": {"type": "array", "items": results}, **PAGE_LINKS}
    if facets:
        properties["facets"] = {"type": "object", "required": list(facets),
                                "properties": {name: FACET for name in facets}}
    return {"type": "object", "required": required, "properties": properties}


PROBLEM = {"type": "object", "required": ["where", "field", "message"], "properties": {
    "where": {"type": "string", "description": "the record: \"row 3\", \"projects[2]\", \"project <id>\"; "
                                              "empty for the whole input"},
    "field": {"type": "string", "description": "the path inside it: \"title\", \"countries[2]\", "
                                              "\"locations[1].lat\" (entries count from 1); empty for the whole "
                                              "record"},
    "message": {"type": "string", "description": "what is wrong and how to fix it"}}}
COUNTRY = {"type": "object", "properties": {"iso3": {"type": "string"}, "name": {"type": "string"}}}
# a project's title and summary in French and Spanish (issue 13): null when it has none (the page then shows
# the English, marked lang="en")
_IN = {"fr": "French", "es": "Spanish"}
TRANSLATIONS = {name: {"type": ["string", "null"], "description": f"{name[:-3]} in {_IN[name[-2:]]}"}
                for name in translated_field_names()}
# on what a value stands (issue 18): stated by the record's source number `source` (from 1, its quote), or
# inferred with a one-line `reason`; a role's basis may be null (not recorded)
SUPPORT = {"basis": {"type": ["string", "null"], "enum": ["stated", "inferred", None]},
           "source": {"type": ["integer", "null"], "minimum": 1,
                      "description": "the number (from 1) of the source whose quote says so; null when inferred"},
           "reason": {"type": ["string", "null"], "description": "why it is inferred, in one line"}}
EVIDENCE_ENTRY = {"oneOf": [
    {"type": "object", "required": ["basis", "source"], "additionalProperties": False,
     "properties": {"basis": {"const": "stated"}, "source": {"type": "integer", "minimum": 1}}},
    {"type": "object", "required": ["basis", "reason"], "additionalProperties": False,
     "properties": {"basis": {"const": "inferred"}, "reason": {"type": "string"}}}]}

OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "Mercury Partnership Registry API", "version": "1.0",
             "description": "Projects and stakeholders of the UNEP Global Mercury Partnership. Every list "
                            "endpoint returns {total, page, per_page, results, facets (lists with facets), "
                            "next, prev}; every error "
                            "returns {error: {code, message}} with a 4xx status."},
    "paths": {
        "/api/projects": {"get": {
            "summary": "Search and filter projects", "parameters": FILTERS,
            "responses": {"200": {"description": "A page of projects with facet counts", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ProjectList"}}}}, "400": ERROR}}},
        "/api/projects/{id}": {"get": {
            "summary": "One project with countries, organisations and roles, locations and sources",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "The project", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Project"}}}}, "404": NOT_FOUND}}},
        "/api/organisations": {"get": {
            "summary": "Search organisations", "parameters": ORGANISATION_FILTERS,
            "responses": {"200": {"description": "A page of organisations with type and country facets", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/OrganisationList"}}}},
                "400": ERROR}}},
        "/api/organisations/{id}": {"get": {
            "summary": "One organisation with its projects by role",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "The organisation", "content": {"application/json": {
                "schema": {"type": "object", "required": ["id", "name", "projects"]}}}}, "404": NOT_FOUND}}},
        "/api/countries": {"get": {"summary": "Countries with project counts, by ISO3 code",
                                   "parameters": [PAGE, PER_PAGE], "responses": {
            "200": {"description": "A page of countries", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/CountryList"}}}}, "400": ERROR}}},
    },
    "components": {"schemas": {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                           "details": {"type": "array", "items": PROBLEM,
                                       "description": "With code invalid_data: every problem of the data "
                                                      "(the message says if some are not listed)."}}}}},
        "ProjectList": _with(envelope({"type": "object", "required": [
                                 "id", "title", "url", "countries", "area", "status", "snippet", "score"],
                                 "properties": {"id": {"type": "string"}, "title": {"type": "string"},
                                                **TRANSLATIONS, "url": {"type": "string"},
                                                "countries": {"type": "array", "items": COUNTRY},
                                                "area": {"type": "string"}, "status": {"type": "string"},
                                                "snippet": {"type": ["string", "null"]},
                                                "score": {"type": ["number", "null"]}}},
                                 facets=("country", "region", "funder", "area", "status", "kind", "source")),
                             suggestion={"type": "string", "description": "did you mean (a search that "
                                                                          "matched nothing)"}),
        "OrganisationList": envelope({"type": "object", "required": ["id", "name", "type", "url", "project_count"],
                                      "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                                                     "type": {"type": "string", "enum": list(ORG_TYPES)},
                                                     "url": {"type": "string"},
                                                     "country": {"anyOf": [COUNTRY, {"type": "null"}]},
                                                     "project_count": {"type": "integer"}}},
                                     facets=("type", "country")),
        "CountryList": envelope({"type": "object", "required": ["iso3", "name", "projects"], "properties": {
            "iso3": {"type": "string"}, "name": {"type": "string"}, "projects": {"type": "integer"}}}),
        "Project": {"type": "object", "required": ["id", "title", "countries", "organisations", "locations",
                                                   "sources", "evidence", "as_of", "cited_sources"], "properties": {
            **TRANSLATIONS,
            "as_of": {"type": ["string", "null"], "description": "The newest date (YYYY, YYYY-MM or YYYY-MM-DD) "
                      "among the source records the project cites: publication date, else consultation date. Not "
                      "a field of the record: exports leave it out, and an import refuses it."},
            "sources": {"type": "array", "items": {"type": "object", "required": ["document", "section", "quote"],
                        "properties": {"document": {"type": "string", "description": "the id of a source record "
                                                    "(/api/sources/{id})"},
                                       "section": {"type": ["string", "null"]}, "quote": {"type": "string"}}}},
            "cited_sources": {"type": "array", "items": {"$ref": "#/components/schemas/SourceSummary"},
                              "description": "The source records its citations name, in the order first cited."},
            "evidence": {"type": "object", "description": "On what the status and the years stand (issue 18): "
                                                          "one entry per field whose basis is recorded",
                         "properties": {name: EVIDENCE_ENTRY for name in ("status", "start_year", "end_year")},
                         "additionalProperties": False},
            "organisations": {"type": "array", "items": {"type": "object", "required": [
                "id", "name", "role", "basis", "source", "reason"], "properties": {
                    "id": {"type": "string"}, "name": {"type": "string"}, "acronym": {"type": ["string", "null"]},
                    "role": {"type": "string"}, **SUPPORT}}},
            "locations": {"type": "array", "items": {"type": "object", "required": ["name", "precision", "basis"],
                                                     "properties": SUPPORT}}}},
    }},
}

# --- the public change log (registry/web/changes.py) -------------------------------------------------
CHANGE = {"type": "object", "required": ["id", "at", "entity", "entity_id", "title", "url", "action",
                                          "source_kind", "fields"], "properties": {
    "id": {"type": "integer", "description": "The change's number (newer changes have higher numbers)."},
    "at": {"type": "string", "description": "When, in UTC: 2026-12-06T10:15:00Z."},
    "entity": {"type": "string", "enum": list(CHANGE_ENTITIES)},
    "entity_id": {"type": "string"}, "title": {"type": "string", "description": "The record's title or name."},
    "url": {"type": ["string", "null"], "description": "The record's page; null once it was deleted."},
    "api_url": {"type": ["string", "null"]},
    "action": {"type": "string", "enum": list(CHANGE_ACTIONS)},
    "source_kind": {"type": "string", "enum": list(SOURCE_KINDS)},
    "fields": {"type": "array", "items": {"type": "string"},
               "description": "Paths of the changed fields: title, locations[1].lat, organisations..."}}}
OPENAPI["paths"]["/api/changes"] = {"get": {
    "summary": "Recent changes to projects and organisations, newest first (no account names)",
    "parameters": [
        {"name": "entity", "in": "query", "description": "Only projects or only organisations.",
         "schema": {"anyOf": [{"type": "string", "enum": list(CHANGE_ENTITIES)}, BLANK]}},
        {"name": "id", "in": "query", "description": "Only the changes of the record with this id.",
         "schema": {"type": "string", "maxLength": 100, "pattern": r"^[^\x00-\x1f\x7f]*$"}},
        {"name": "source_kind", "in": "query", "description": "Only changes from this kind of source.",
         "schema": {"anyOf": [{"type": "string", "enum": list(SOURCE_KINDS)}, BLANK]}},
        {"name": "since", "in": "query", "description": "Only changes on or after this date (UTC), YYYY-MM-DD.",
         "schema": {"anyOf": [{"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}, BLANK]}},
        PAGE, PER_PAGE],
    "responses": {"200": {"description": "A page of changes", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ChangeList"}}}}, "400": ERROR}}}
OPENAPI["components"]["schemas"]["ChangeList"] = {
    "type": "object", "required": ["total", "page", "per_page", "results", "next", "prev"], "properties": {
        "total": {"type": "integer"}, "page": {"type": "integer"}, "per_page": {"type": "integer"},
        "results": {"type": "array", "items": CHANGE},
        "next": {"type": ["string", "null"], "description": "The next (older) page; null on the last."},
        "prev": {"type": ["string", "null"], "description": "The previous (newer) page; null on the first."}}}

# --- source records (issue 19; registry/store/sources.py) ---------------------------------------------
SOURCE_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
DATE = {"type": ["string", "null"], "pattern": r"^\d{4}(-\d{2}(-\d{2})?)?$"}
SOURCE = {"type": "object", "required": ["id", "title", "publisher", "date", "consulted", "as_of", "kind", "url",
                                          "reference", "projects", "citations", "added", "changed", "page_url",
                                          "api_url", "projects_url"], "properties": {
    "id": {"type": "string"}, "title": {"type": "string"}, "publisher": {"type": "string"},
    "date": dict(DATE, description="When it was published: YYYY, YYYY-MM or YYYY-MM-DD."),
    "consulted": dict(DATE, description="When the team read it: YYYY-MM-DD."),
    "as_of": dict(DATE, description="Its date for the records citing it: date, else consulted."),
    "kind": {"type": "string"},
    "url": {"type": ["string", "null"], "description": "The source's own address (outside the registry)."},
    "reference": {"type": ["string", "null"], "description": "A document symbol, e.g. UNEP/Hg/PAG.12."},
    "language": {"type": ["string", "null"], "description": "The language it is written in (ISO 639-1, e.g. "
                                                              "fr); null when not known."},
    "projects": {"type": "integer", "description": "Projects citing it."},
    "citations": {"type": "integer", "description": "Citations (quotes) of it."},
    "added": {"type": "integer", "description": "Projects and organisations its update added (the founding "
                                                "report: those the seed loaded)."},
    "changed": {"type": "integer", "description": "Projects and organisations its update changed."},
    "page_url": {"type": "string", "description": "Its page in the registry."},
    "api_url": {"type": "string"},
    "projects_url": {"type": "string", "description": "/api/projects?source={id}: the projects citing it."}}}
OPENAPI["components"]["schemas"]["Source"] = SOURCE
OPENAPI["components"]["schemas"]["SourceSummary"] = {
    "type": "object", "required": ["id", "title", "as_of", "page_url", "api_url"], "properties": {
        "id": {"type": "string"}, "title": {"type": "string"}, "as_of": DATE,
        "page_url": {"type": "string"}, "api_url": {"type": "string"}}}
OPENAPI["components"]["schemas"]["SourceList"] = envelope({"$ref": "#/components/schemas/Source"})
OPENAPI["components"]["schemas"]["SourceDetail"] = _with(
    dict(SOURCE, required=SOURCE["required"] + ["cited_by", "changes"]),
    cited_by={"type": "array", "description": "Its citations, by project title.", "items": {
        "type": "object", "required": ["project_id", "title", "section", "quote", "url"], "properties": {
            "project_id": {"type": "string"}, "title": {"type": "string"}, "section": {"type": ["string", "null"]},
            "quote": {"type": "string"}, "url": {"type": "string"}}}},
    changes={"type": "array", "description": "The changes applied from it, newest first, at most 1000 (see /api/changes).",
             "items": {"type": "object", "required": ["id", "at", "entity", "entity_id", "title", "action",
                                                      "fields"]}})
OPENAPI["paths"]["/api/sources"] = {"get": {
    "summary": "Every source record, newest first, with what it contributed", "parameters": [PAGE, PER_PAGE],
    "responses": {"200": {"description": "A page of sources", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/SourceList"}}}}, "400": ERROR}}}
OPENAPI["paths"]["/api/sources/{id}"] = {"get": {
    "summary": "One source record with its citations and the changes applied from it",
    "parameters": [SOURCE_ID],
    "responses": {"200": {"description": "The source", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/SourceDetail"}}}}, "404": NOT_FOUND}}}
CHANGE["properties"]["source"] = {
    "anyOf": [{"$ref": "#/components/schemas/ChangeSource"}, {"type": "null"}],
    "description": "For a change applied from a source record (source_kind `source`): that source; else null."}
OPENAPI["components"]["schemas"]["ChangeSource"] = {
    "type": "object", "required": ["id", "title", "as_of", "page_url"], "properties": {
        "id": {"type": "string"}, "title": {"type": "string"}, "as_of": DATE,
        "page_url": {"type": "string", "description": "The source's page in the registry."}}}

# --- regions (issue 12; core/regions.py, search/finder.py list_regions) -----------------------------------
REGION = {"type": "object", "required": ["code", "kind", "name", "names", "parent", "projects", "members", "url",
                                         "api_url", "projects_url"], "properties": {
    "code": {"type": "string", "description": "M49 code (\"419\") or a custom region's slug (\"amazon-basin\")."},
    "kind": {"type": "string", "enum": ["world", "region", "subregion", "intermediate", "group", "custom"]},
    "name": {"type": "string", "description": "The English name."},
    "names": {"type": "object", "required": ["en", "fr", "es"], "properties": {
        "en": {"type": "string"}, "fr": {"type": "string"}, "es": {"type": "string"}}},
    "parent": {"type": ["string", "null"], "description": "The code of the region it is part of."},
    "projects": {"type": "integer", "description": "Projects in it (what /api/projects?region={code} counts)."},
    "members": {"type": "array", "items": COUNTRY, "description": "Its member countries and areas."},
    "url": {"type": "string"}, "api_url": {"type": "string"},
    "projects_url": {"type": "string", "description": "/api/projects?region={code}"}}}
OPENAPI["components"]["schemas"]["Region"] = REGION
OPENAPI["components"]["schemas"]["RegionList"] = envelope({"$ref": "#/components/schemas/Region"})
OPENAPI["paths"]["/api/regions"] = {"get": {
    "summary": "Every region (World, M49 regions, sub-regions, intermediate regions, groups, custom) with its "
               "project count and members; 100 a page by default",
    "parameters": [PAGE, PER_PAGE],
    "responses": {"200": {"description": "A page of regions", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/RegionList"}}}}, "400": ERROR}}}
OPENAPI["paths"]["/api/regions/{code}"] = {"get": {
    "summary": "One region",
    "parameters": [{"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}],
    "responses": {"200": {"description": "The region", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Region"}}}}, "404": NOT_FOUND}}}
