"""Who works with whom (issue 15): the organisations that share projects with one organisation.

Two organisations work together on a project when both have a role in it (funder, lead, implementer or
partner: any role, either side). An organisation with two roles in one project counts that project once.
"""

# Every other organisation with a role in a project where `org_id` has one, with the number of distinct
# projects they share; most shared first, then by name as the organisation lists sort it (db.py), then by
# id so that equal names keep one order.
_PARTNERS = """
SELECT o.id, o.name, o.acronym, count(DISTINCT theirs.project_id) AS shared
FROM roles mine
JOIN roles theirs ON theirs.project_id = mine.project_id AND theirs.org_id <> mine.org_id
JOIN organisations o ON o.id = theirs.org_id
WHERE mine.org_id = ?
GROUP BY o.id
ORDER BY shared DESC, o.name COLLATE NOCASE, o.id
"""
# The shared projects themselves, each partner's by title.
_SHARED_PROJECTS = """
SELECT DISTINCT theirs.org_id AS partner, p.id, p.title, p.title_fr, p.title_es, p.status
FROM roles mine
JOIN roles theirs ON theirs.project_id = mine.project_id AND theirs.org_id <> mine.org_id
JOIN projects p ON p.id = mine.project_id
WHERE mine.org_id = ?
ORDER BY p.title COLLATE NOCASE, p.id
"""


def partners(db, org_id):
    """Every organisation that shares at least one project with `org_id`, most shared projects first,
    then by name: [{"id", "name", "acronym", "shared", "projects": [{"id", "title", "title_fr", "title_es",
    "status"}]}], where "shared" is the number of projects in "projects". [] for an organisation with no
    partner (or none at all)."""
    found = [dict(row, projects=[]) for row in db.query(_PARTNERS, [org_id])]
    by_id = {p["id"]: p for p in found}
    for row in db.query(_SHARED_PROJECTS, [org_id]):
        partner = by_id.get(row["partner"])
        if partner is not None:
            partner["projects"].append({k: row[k] for k in ("id", "title", "title_fr", "title_es", "status")})
    return found
