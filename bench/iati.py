"""Time the IATI import of a generated file of N activities (issue 14): `python -m bench.iati [N]`.

The file is written by the registry's own export from N generated projects (so it is valid IATI 2.03 with every
mapped element: roles, countries, sites, regions, dates), then imported into an empty registry, dry run and
real, and once more (re-import: nothing changes). Prints the seconds of each step; docs/benchmarks.md keeps
the figures. Not a test: timings go here, never into the test suite.
"""
import sys
import tempfile
import time
from pathlib import Path

from registry.exchange import iati, ingest
from registry.store import db as storage

REPORTING = {"ref": "XM-DAC-41116", "type": "40", "name": "UN Environment Programme"}
COUNTRIES = ("KEN", "PER", "BFA", "IDN", "COL", "GHA", "PHL", "MNG")
ROLES = ("funder", "lead", "implementer", "partner")


def organisations(n=40):
    return [{"id": f"org-{i}", "name": f"Organisation {i}", "type": ("igo", "ngo", "government", "industry")[i % 4],
             "identifier": f"XM-BENCH-{i}" if i % 2 else None, "aliases": [], "acronym": None, "country": None,
             "website": None, "leads_areas": [], "evidence": {}} for i in range(n)]


def project(i, orgs):
    country = COUNTRIES[i % len(COUNTRIES)]
    return {"id": f"bench-{i}", "title": f"Generated mercury activity {i}", "summary": None,
            "description": f"Activity {i}: reducing mercury use in artisanal gold mining. " * 3,
            "kind": "project", "area": "asgm", "other_areas": [], "status": ("planned", "ongoing", "completed")[i % 3],
            "start_year": 2015 + i % 8, "end_year": 2024 + i % 3, "evidence": {}, "parent": None, "countries": [country],
            "keywords": [], "website": None, "iati_identifier": None,
            "locations": [{"name": f"Site {i}", "precision": "site", "lat": -5 + (i % 100) / 10, "lon": 20 + (i % 50) / 10,
                           "country": country, "region": None, "coords_source": "report", "gazetteer_id": None},
                          {"name": "Africa", "precision": "region", "lat": None, "lon": None, "country": None,
                           "region": "002", "coords_source": None, "gazetteer_id": None}],
            "organisations": [{"org": orgs[(i + k) % len(orgs)]["id"], "role": ROLES[k]} for k in range(4)],
            "sources": []}


def main(n=1000):
    orgs = organisations()
    data = b"".join(iati.activities_xml(orgs, (project(i, orgs) for i in range(n)), REPORTING, REPORTING["ref"]))
    with tempfile.TemporaryDirectory() as folder:
        db = storage.connect(str(Path(folder) / "bench.db"))
        storage.migrate(db)
        for label, dry in (("dry run", True), ("import", False), ("re-import (unchanged)", False)):
            start = time.perf_counter()
            report = ingest.import_data(db, data, "iati", dry_run=dry)
            print(f"{label:>22}: {time.perf_counter() - start:6.2f} s  {report.summary()}")
        db.conn.close()
    print(f"{n} activities, {len(data) / 1e6:.1f} MB of IATI XML")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
