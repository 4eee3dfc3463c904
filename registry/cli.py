"""Command line: a thin edge over the library. Errors become messages that say how to fix them.

    flask --app registry init-db | load-seed | setup | import FILE [--dry-run] | export | stats | reindex
"""
import json
import os
import sys
from pathlib import Path

import click
from flask import current_app

from . import db as storage
from . import exports, ingest, search
from .validate import ValidationError


def _db():
    db = storage.connect(current_app.config["DATABASE"])
    storage.migrate(db)
    return db


def _fail(errors, header):
    click.secho(header, fg="red", err=True)
    for e in errors[:200]:
        click.echo(f"  - {e}", err=True)
    if len(errors) > 200:
        click.echo(f"  ... and {len(errors) - 200} more", err=True)
    sys.exit(1)


@click.command("init-db")
def init_db_command():
    """Create the database tables (keeps existing data)."""
    _db()
    click.echo(f"Database ready: {current_app.config['DATABASE']}")


@click.command("load-seed")
@click.option("--seed-dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Folder of organisations*.yaml and projects*.yaml (default: geodata/seed).")
def load_seed_command(seed_dir):
    """Replace the registry's content with the seed data from the report, then rebuild the index."""
    db = _db()
    try:
        report = ingest.load_seed(db, seed_dir or current_app.config["SEED_DIR"], current_app.config["REPORT_PATH"])
    except ValidationError as exc:
        _fail(exc.errors, "The seed is not valid; nothing was stored. Fix these entries in geodata/seed/:")
    click.echo(f"Loaded {len(report.added)} projects and {len(report.organisations)} organisations.")
    search.rebuild(current_app, progress=True)


@click.command("setup")
def setup_command():
    """Create the database, load the seed and build the index when they are missing (idempotent)."""
    db = _db()
    if storage.counts(db)["projects"] == 0:
        click.echo("Empty database: loading the seed data...")
        report = ingest.load_seed(db, current_app.config["SEED_DIR"], current_app.config["REPORT_PATH"])
        click.echo(f"Loaded {len(report.added)} projects and {len(report.organisations)} organisations.")
    search.ensure_index(current_app, progress=True)
    click.echo("Registry ready.")


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(ingest.FORMATS), help="Default: from the file name.")
@click.option("--dry-run", is_flag=True, help="Validate and report what would change; store nothing.")
def import_command(file, fmt, dry_run):
    """Import projects (and organisations) from CSV, JSON or GeoJSON: all or nothing."""
    fmt = fmt or ingest.guess_format(file)
    if fmt is None:
        _fail([f"cannot tell the format of {file}"], "Use --format csv, json or geojson.")
    size = os.path.getsize(file)
    if size > current_app.config["MAX_CONTENT_LENGTH"]:
        _fail([f"{file} is {size // 1_048_576} MB"], "The file is too large; split it into smaller files.")
    db = _db()
    try:
        report = ingest.import_data(db, Path(file).read_bytes(), fmt, dry_run=dry_run)
    except ValidationError as exc:
        _fail(exc.errors, f"{file} was rejected; nothing was stored. Fix these rows and import again:")
    except storage.StorageError as exc:
        _fail([str(exc)], f"{file} could not be stored (disk full or database busy); nothing was stored. "
                          "Free some disk space or wait for the other import, then try again:")
    verb = "Would add" if dry_run else "Added"
    click.echo(f"{verb} {len(report.added)}, {'would change' if dry_run else 'changed'} {len(report.changed)}, "
               f"unchanged {len(report.unchanged)} projects; {len(report.organisations)} organisations.")
    if not dry_run:
        search.update_projects(report.added + report.changed, app=current_app, organisations=report.organisations)


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(ingest.FORMATS), default="json")
@click.option("-o", "--output", type=click.File("w"), default="-")
def export_command(fmt, output):
    """Export every project (CSV, JSON or GeoJSON) to a file or standard output."""
    db = _db()
    projects = [storage.get_project(db, r[0]) for r in db.execute("SELECT id FROM projects ORDER BY id")]
    if fmt == "csv":
        output.write(exports.export_csv(projects))
    elif fmt == "geojson":
        json.dump(exports.export_geojson(projects), output, ensure_ascii=False, indent=1)
    else:
        json.dump(exports.export_json(projects, storage.list_organisations(db)), output, ensure_ascii=False, indent=1)


@click.command("stats")
def stats_command():
    """Counts of projects, organisations, countries, locations, roles and sources."""
    db = _db()
    for name, n in storage.counts(db).items():
        click.echo(f"{name:>14}: {n}")
    click.echo(f"{'data version':>14}: {storage.data_version(db)}")


@click.command("reindex")
def reindex_command():
    """Rebuild the search index from the database (a new generation, swapped in atomically)."""
    try:
        n = search.rebuild(current_app, progress=True, wait=60)
    except search.IndexBusy as exc:
        _fail([str(exc)], "The index was not rebuilt:")
    click.echo(f"Indexed {n} projects.")


def init_app(app):
    for command in (init_db_command, load_seed_command, setup_command, import_command, export_command,
                    stats_command, reindex_command):
        app.cli.add_command(command)
    from . import backup
    backup.init_app(app)
