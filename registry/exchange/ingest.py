"""Read seed YAML, CSV, JSON and GeoJSON -> validate everything -> write all or nothing -> a report.

Nothing is written unless every record of the file is valid; errors name the file row and field.
"""
from dataclasses import dataclass, field
from pathlib import Path

from ..store import db as storage
from ..core import geo
from ..core.validate import ValidationError, check_references, clean_organisation, clean_project
from .readers import FORMATS, READERS, guess_format, read_yaml_dir  # noqa: F401  (the importer's API)



@dataclass
class ImportReport:
    added: list = field(default_factory=list)
    changed: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    organisations: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    version: int | None = None

    def as_dict(self):
        return {"added": self.added, "changed": self.changed, "unchanged": self.unchanged,
                "organisations": self.organisations, "errors": self.errors}


# --- validation of a whole batch -----------------------------------------------------------------

def _fill_locations(p):
    """Country-level locations get the country's representative point."""
    for loc in p["locations"]:
        if loc is None or loc["lat"] is not None or loc["precision"] not in ("country",):
            continue
        country = (geo.get_country(loc["country"]) if loc["country"] else None) or geo.lookup_country(loc["name"])
        if country is None and len(p["countries"]) == 1:
            country = geo.get_country(p["countries"][0])
        if country is not None:
            loc["country"] = country.iso3
            loc["lat"], loc["lon"] = country.lat, country.lon


def prepare(raw_orgs, raw_projects, known_projects=(), known_orgs=(), report_text=None):
    """Validate a batch. Returns (organisations, projects); raises ValidationError with every problem."""
    errors, orgs, projects = [], [], []
    for where, raw in raw_orgs:
        o, errs = clean_organisation(raw, where)
        errors += errs
        orgs.append(o)
    for where, raw in raw_projects:
        p, errs = clean_project(raw, where)
        errors += errs
        if p is not None and not errs:
            _fill_locations(p)
            if report_text is not None:
                for s in p["sources"]:
                    if s["quote"] and s["quote"] not in report_text:
                        errors.append(f"{where}sources: quote not found in the report: {s['quote'][:80]!r}")
        projects.append(p)
    if errors:
        raise ValidationError(errors)
    countries = {c.iso3 for c in geo.all_countries()}
    errors = check_references(projects, orgs, known_projects, known_orgs, countries)
    if errors:
        raise ValidationError(errors)
    return orgs, projects


def load_seed(db, seed_dir, report_path=None):
    """Replace the registry's content with the seed files (one transaction)."""
    raw_orgs, raw_projects = read_yaml_dir(seed_dir)
    report = Path(report_path).read_text("utf-8") if report_path else None
    orgs, projects = prepare(raw_orgs, raw_projects, report_text=report)
    storage.migrate(db)
    version = storage.write_records(db, orgs, projects, replace_all=True)
    return ImportReport(added=[p["id"] for p in projects], organisations=[o["id"] for o in orgs], version=version)


def import_data(db, data, fmt, dry_run=False):
    """Import CSV/JSON/GeoJSON bytes: all or nothing. Returns an ImportReport; raises ValidationError."""
    if fmt not in READERS:
        raise ValidationError([f"unknown format '{fmt}'; use one of: {', '.join(FORMATS)}"])
    raw_orgs, raw_projects = READERS[fmt](data)
    if not raw_projects and not raw_orgs:
        raise ValidationError(["the file holds no records"])
    storage.migrate(db)
    known_projects, known_orgs = storage.existing_ids(db)
    orgs, projects = prepare(raw_orgs, raw_projects, known_projects, known_orgs)
    report = ImportReport(organisations=[o["id"] for o in orgs])
    for p in projects:
        if p["id"] not in known_projects:
            report.added.append(p["id"])
        elif _same(storage.get_project(db, p["id"]), p):
            report.unchanged.append(p["id"])
        else:
            report.changed.append(p["id"])
    if not dry_run:
        changed = set(report.added) | set(report.changed)
        report.version = storage.write_records(db, orgs, [p for p in projects if p["id"] in changed])
    return report


def _same(stored, p):
    keys = ("title", "summary", "description", "kind", "area", "status", "start_year", "end_year", "website")
    if any(stored.get(k) != p.get(k) for k in keys):
        return False
    return (stored["countries"] == sorted(p["countries"]) and stored["keywords"] == p["keywords"]
            and len(stored["locations"]) == len(p["locations"])
            and sorted((o["id"], o["role"]) for o in stored["organisations"])
            == sorted((r["org"], r["role"]) for r in p["organisations"]))
