"""The counts behind /stats: a selection of projects counted by area and status, start year, country,
funder and the types of the organisations taking part. One query each, over the selection's ids (loaded
once into a TEMP table) or over every project.

`selection_counts(db, ids)` returns plain rows; labels and charts are made in registry/maps/charts.py.
"""
import json

EVERY_PROJECT = "(SELECT id FROM projects)"


def _scope(db, ids):
    """The SQL source of the selection's ids: every project (ids None), or TEMP table stats_ids holding them."""
    if ids is None:
        return EVERY_PROJECT
    db.execute("CREATE TEMP TABLE IF NOT EXISTS stats_ids (id TEXT PRIMARY KEY) WITHOUT ROWID")
    db.execute("DELETE FROM temp.stats_ids")
    db.execute("INSERT OR IGNORE INTO temp.stats_ids SELECT value FROM json_each(?)", [json.dumps(list(ids))])
    return "temp.stats_ids"


def selection_counts(db, ids=None):
    """Counts of the projects `ids` (None: every project):

    projects: how many; area_status: [(main area, status, projects)];
    start_years: [(start year or None, projects)];
    countries: [(iso3, projects)]; without_country: projects that name no country (regional, global);
    funders: [(org id, name, acronym, projects, countries of those projects)]; without_funder: projects
    with no funder recorded;
    org_types: [(organisation type, organisations)] of the organisations taking part in the projects in any
    role; organisations: how many (each once, whatever its roles)."""
    scope = _scope(db, ids)
    one = lambda sql: db.execute(sql.format(scope=scope)).fetchone()[0]      # noqa: E731
    rows = lambda sql: [tuple(r) for r in db.execute(sql.format(scope=scope)).fetchall()]   # noqa: E731
    return {
        "projects": one("SELECT count(*) FROM projects WHERE id IN {scope}"),
        "area_status": rows("SELECT area, status, count(*) FROM projects WHERE id IN {scope} "
                            "GROUP BY area, status ORDER BY area, status"),
        "start_years": rows("SELECT start_year, count(*) FROM projects WHERE id IN {scope} "
                            "GROUP BY start_year ORDER BY start_year IS NULL, start_year"),
        "countries": rows("SELECT iso3, count(*) AS n FROM project_countries WHERE project_id IN {scope} "
                          "GROUP BY iso3 ORDER BY n DESC, iso3"),
        "without_country": one("SELECT count(*) FROM projects WHERE id IN {scope} "
                               "AND id NOT IN (SELECT project_id FROM project_countries)"),
        "funders": rows(
            "SELECT o.id, o.name, o.acronym, count(DISTINCT r.project_id) AS n, count(DISTINCT c.iso3) "
            "FROM roles r JOIN organisations o ON o.id = r.org_id "
            "LEFT JOIN project_countries c ON c.project_id = r.project_id "
            "WHERE r.role = 'funder' AND r.project_id IN {scope} "
            "GROUP BY o.id ORDER BY n DESC, o.name COLLATE NOCASE, o.id"),
        "without_funder": one("SELECT count(*) FROM projects WHERE id IN {scope} AND id NOT IN "
                              "(SELECT project_id FROM roles WHERE role = 'funder')"),
        "org_types": rows("SELECT o.type, count(*) AS n FROM organisations o WHERE o.id IN "
                          "(SELECT org_id FROM roles WHERE project_id IN {scope}) "
                          "GROUP BY o.type ORDER BY n DESC, o.type"),
        "organisations": one("SELECT count(DISTINCT org_id) FROM roles WHERE project_id IN {scope}"),
    }
