"""Seed YAML, CSV, JSON, GeoJSON and IATI activity XML (exchange/iati_read.py) in: read -> exchange/apply.py
(validate all, write what changed with its history in one transaction, update the index) -> a Report naming
every changed field.

Nothing is written unless every record of the file is valid; errors name the file row and field.
"""
import re
from pathlib import Path

from ..store import db as storage
from ..core.paths import ROOT
from ..core.language import N_
from ..core.validate import Problem, ValidationError, problem as make_problem
from .apply import Origin, Report, apply_changes, cli_actor, prepare  # noqa: F401  (the importer's API)
from . import iati_read
from .readers import FORMATS, READERS, guess_format, read_yaml_dir  # noqa: F401  (the importer's API)

# IATI's reader builds on readers (its Batch), so it joins the table here rather than in readers.py
READERS = {**READERS, "iati": iati_read.read_iati}


def load_seed(db, seed_dir, report_path=None, index=None):
    """Make the registry's content the seed files (one transaction; history rows by actor `seed`).
    Records the seed lacks are deleted; unchanged ones are left as they are. Every quote must be in the
    report at `report_path` when given."""
    batch = read_yaml_dir(seed_dir)
    report_text = Path(report_path).read_text("utf-8") if report_path else None
    storage.migrate(db)
    return apply_changes(db, Origin("seed", "seed", _shown_path(seed_dir)), organisations=batch.organisations,
                         projects=batch.projects, sources=batch.sources, replace_all=True, report_text=report_text,
                         index=index)


def _shown_path(folder):
    """The seed folder as the history shows it: relative to the checkout when inside it (geodata/seed)."""
    folder = Path(folder).resolve()
    return str(folder.relative_to(ROOT)) if folder.is_relative_to(ROOT) else str(folder)


def import_data(db, data, fmt, dry_run=False, *, actor=None, source=None, index=None, batch=None, note=None,
                progress=None):
    """Import CSV/JSON/GeoJSON/IATI bytes: all or nothing, only what changed is written. `actor` defaults to
    `cli:<os user>`; `source` names the file; `progress`: see apply_changes. Returns a Report; raises
    ValidationError (nothing stored)."""
    if fmt not in READERS:
        raise ValidationError([make_problem("", "", N_("unknown format '%(format)s'; use one of: %(formats)s"),
                                            format=fmt, formats=", ".join(FORMATS))])
    records = READERS[fmt](data)
    if not records:
        raise ValidationError([make_problem("", "", N_("the file holds no records"))])
    storage.migrate(db)
    records = iati_read.match_stored(db, records)   # IATI: activities and organisations the registry has
    origin = Origin(actor or cli_actor(), "import", source, note, batch)
    try:
        return apply_changes(db, origin, organisations=records.organisations, projects=records.projects,
                             sources=records.sources, changes=records.changes, dry_run=dry_run, index=index,
                             progress=progress)
    except ValidationError as exc:
        if fmt != "csv":
            raise
        raise ValidationError([_csv_hint(p) for p in exc.problems]) from None


UNKNOWN_DOCUMENT = re.compile(r"^sources\[\d+\]\.document$")
CSV_SOURCES_HINT = N_("'%(document)s' is not a source of the registry: a CSV file cannot hold source records: "
                      'import the source first, as JSON ({"sources": [{"id": ..., "title": ..., "publisher": ..., '
                      '"date": ..., "url": ...}]}, README.md "Import formats"), or cite one the registry has '
                      "(listed at /sources)")


def _csv_hint(problem):
    """An unknown document in a CSV: the usual message says to add the source to the same file, which a
    CSV cannot do; say how instead."""
    if not (isinstance(problem, Problem) and UNKNOWN_DOCUMENT.match(problem.field or "")
            and "is not a source of the registry" in problem.message):
        return problem
    document = (problem.params or {}).get("document") or problem.message.split(" is not a source", 1)[0].strip("'")
    return make_problem(problem.where, problem.field, CSV_SOURCES_HINT, document=document)
