"""Seed YAML, CSV, JSON and GeoJSON in: read -> exchange/apply.py (validate all, write what changed with its
history in one transaction, update the index) -> a Report naming every changed field.

Nothing is written unless every record of the file is valid; errors name the file row and field.
"""
from pathlib import Path

from ..store import db as storage
from ..core.paths import ROOT
from ..core.validate import ValidationError
from .apply import Origin, Report, apply_changes, cli_actor, prepare  # noqa: F401  (the importer's API)
from .readers import FORMATS, READERS, guess_format, read_yaml_dir  # noqa: F401  (the importer's API)


def load_seed(db, seed_dir, report_path=None, index=None):
    """Make the registry's content the seed files (one transaction; history rows by actor `seed`).
    Records the seed lacks are deleted; unchanged ones are left as they are. Every quote must be in the
    report at `report_path` when given."""
    raw_orgs, raw_projects = read_yaml_dir(seed_dir)
    report_text = Path(report_path).read_text("utf-8") if report_path else None
    storage.migrate(db)
    return apply_changes(db, Origin("seed", "seed", _shown_path(seed_dir)), organisations=raw_orgs, projects=raw_projects,
                         replace_all=True, report_text=report_text, index=index)


def _shown_path(folder):
    """The seed folder as the history shows it: relative to the checkout when inside it (geodata/seed)."""
    folder = Path(folder).resolve()
    return str(folder.relative_to(ROOT)) if folder.is_relative_to(ROOT) else str(folder)


def import_data(db, data, fmt, dry_run=False, *, actor=None, source=None, index=None, batch=None, note=None,
                progress=None):
    """Import CSV/JSON/GeoJSON bytes: all or nothing, only what changed is written. `actor` defaults to
    `cli:<os user>`; `source` names the file; `progress`: see apply_changes. Returns a Report; raises
    ValidationError (nothing stored)."""
    if fmt not in READERS:
        raise ValidationError([f"unknown format '{fmt}'; use one of: {', '.join(FORMATS)}"])
    raw_orgs, raw_projects = READERS[fmt](data)
    if not raw_projects and not raw_orgs:
        raise ValidationError(["the file holds no records"])
    storage.migrate(db)
    origin = Origin(actor or cli_actor(), "import", source, note, batch)
    return apply_changes(db, origin, organisations=raw_orgs, projects=raw_projects, dry_run=dry_run, index=index,
                         progress=progress)
