"""The OpenAPI 3.1 description of the JSON API (served at /api/openapi.json)."""
from ..core.query import MAX_PER_PAGE, MAX_Q, SORT_CHOICES
from ..core.validate import AREAS, KINDS, ROLES, STATUSES


# A blank value (what a web form sends for an empty field) means "not set", for every parameter.
BLANK = {"type": "string", "pattern": r"^\s*$"}
BLANK_ITEM = {"type": "string", "pattern": r"^[\s,]*$"}   # list values are also split on commas


def _list(name, description, enum=None):
    item = {"anyOf": [{"type": "string", "enum": list(enum)}, BLANK_ITEM]} if enum else {"type": "string"}
    schema = {"type": "array", "items": item}
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema, "style": "form", "explode": True}


def _int(name, low, high, description):
    return {"name": name, "in": "query", "description": description,
            "schema": {"anyOf": [{"type": "integer", "minimum": low, "maximum": high}, BLANK]}}


FILTERS = [
    {"name": "q", "in": "query", "description": "Search words; phrases in double quotes. Max "
     f"{MAX_Q} characters and 20 words.", "schema": {"type": "string", "maxLength": MAX_Q}},
    _list("country", "ISO3, ISO2 or English name; repeat for OR."),
    _list("funder", "Funder id, name, acronym or alias; repeat for OR."),
    _list("org", "Organisation (any role) id, name, acronym or alias; repeat for OR."),
    _list("role", "Restrict `org` to these roles.", ROLES),
    _list("area", "Partnership area.", AREAS),
    _list("status", "Project status.", STATUSES),
    _list("kind", "Kind of project.", KINDS),
    _int("year_from", 1900, 2100, "Active in or after this year."),
    _int("year_to", 1900, 2100, "Active in or before this year (not before year_from)."),
    {"name": "sort", "in": "query", "schema": {"anyOf": [{"type": "string", "enum": list(SORT_CHOICES)}, BLANK]}},
    _int("page", 1, 10000, "Page number."),
    _int("per_page", 1, MAX_PER_PAGE, "Results per page."),
]

ERROR = {"description": "Bad request: the message says what to fix.",
         "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
NOT_FOUND = dict(ERROR, description="No such record.")
FACET = {"type": "array", "items": {"type": "object", "required": ["value", "label", "count"], "properties": {
    "value": {"type": "string"}, "label": {"type": "string"}, "count": {"type": "integer"}}}}
COUNTRY = {"type": "object", "properties": {"iso3": {"type": "string"}, "name": {"type": "string"}}}

OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "Mercury Partnership Registry API", "version": "1.0",
             "description": "Projects and stakeholders of the UNEP Global Mercury Partnership. Every list "
                            "endpoint returns {total, page, per_page, results, facets}; every error "
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
            "summary": "Search organisations", "parameters": [FILTERS[0], _list("type", "Organisation type"),
                                                              _list("country", "Country"), FILTERS[-2], FILTERS[-1]],
            "responses": {"200": {"description": "A page of organisations", "content": {"application/json": {
                "schema": {"type": "object", "required": ["total", "page", "per_page", "results"]}}}},
                "400": ERROR}}},
        "/api/organisations/{id}": {"get": {
            "summary": "One organisation with its projects by role",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "The organisation", "content": {"application/json": {
                "schema": {"type": "object", "required": ["id", "name", "projects"]}}}}, "404": NOT_FOUND}}},
        "/api/countries": {"get": {"summary": "Countries with project counts", "responses": {
            "200": {"description": "Countries", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
    },
    "components": {"schemas": {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
        "ProjectList": {"type": "object", "required": ["total", "page", "per_page", "results", "facets"],
                        "properties": {
                            "total": {"type": "integer"}, "page": {"type": "integer"},
                            "per_page": {"type": "integer"}, "suggestion": {"type": "string"},
                            "results": {"type": "array", "items": {"type": "object", "required": [
                                "id", "title", "url", "countries", "area", "status", "snippet", "score"],
                                "properties": {"id": {"type": "string"}, "title": {"type": "string"},
                                               "url": {"type": "string"},
                                               "countries": {"type": "array", "items": COUNTRY},
                                               "area": {"type": "string"}, "status": {"type": "string"},
                                               "snippet": {"type": ["string", "null"]},
                                               "score": {"type": ["number", "null"]}}}},
                            "facets": {"type": "object", "properties": {
                                k: FACET for k in ("country", "funder", "area", "status", "kind")}}}},
        "Project": {"type": "object", "required": ["id", "title", "countries", "organisations", "locations",
                                                   "sources"]},
    }},
}
