"""Records the map tests import into their private instance (through the real importer and index update):
a project with one exact site, and a project whose title, organisation and places are script injections."""
import json

from registry.store import db as storage
from registry.exchange import ingest
from registry.search import index as search
from registry.web.context import index_settings
XSS_TITLE = "<img src=x onerror=window.PWNED=1> ${window.PWNED=1} </script><script>window.PWNED=1</script>"
XSS_ORG = "</script><img src=x onerror=window.PWNED=1>${window.PWNED=1}"
XSS_PLACE = "<svg onload=window.PWNED=1>${window.PWNED=1}"
SOURCE = [{"section": "test", "quote": "Recorded for the map tests."}]


def samples():
    """Organisations and projects in the registry's JSON import format."""
    return {
        "organisations": [
            {"id": "map-test-org", "name": "Map Test Organisation", "type": "ngo"},
            {"id": "map-xss-org", "name": XSS_ORG, "acronym": XSS_ORG[:40], "type": "other"},
        ],
        "projects": [
            {"id": "map-test-site", "title": "Map test: mercury-free processing at one site", "kind": "project",
             "area": "asgm", "status": "ongoing", "countries": ["GHA"],
             "locations": [{"name": "Tarkwa test site", "precision": "site", "lat": 5.3, "lon": -1.99}],
             "organisations": [{"org": "map-test-org", "role": "implementer"}], "sources": SOURCE},
            {"id": "map-xss", "title": XSS_TITLE, "summary": XSS_TITLE, "kind": "project", "area": "products",
             "status": "planned", "countries": ["KEN"],
             "locations": [{"name": XSS_PLACE, "precision": "site", "lat": -1.29, "lon": 36.82},
                           {"name": XSS_PLACE + " (worldwide)", "precision": "global"}],
             "organisations": [{"org": "map-xss-org", "role": "funder"}], "sources": SOURCE},
        ],
    }


def import_samples(app):
    """Import the samples into the app's database and bring the search index up to date."""
    db = storage.connect(app.config["DATABASE"])
    try:
        report = ingest.import_data(db, json.dumps(samples()).encode("utf-8"), "json")
    finally:
        db.conn.close()
    with app.app_context():
        search.update_projects(index_settings(app), report.added + report.changed, organisations=report.organisations)
    return report
