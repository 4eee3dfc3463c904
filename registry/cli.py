"""Command line: a thin edge over the library. Errors become messages that say how to fix them.

    flask --app registry init-db | load-seed | setup | import FILE [--dry-run] | export | stats | reindex
    flask --app registry backup [DEST] [--keep N] | restore FILE [--yes]
"""
import json
import os
import sqlite3
import sys
from pathlib import Path

import click
from flask import current_app

from .store import backup
from .store import db as storage
from .exchange import exports
from .exchange import ingest
from .search import index as search
from .core.validate import ValidationError
from .web.context import index_settings


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
    search.rebuild(index_settings(), progress=True)


@click.command("setup")
def setup_command():
    """Create the database, load the seed and build the index when they are missing (idempotent)."""
    db = _db()
    if storage.counts(db)["projects"] == 0:
        click.echo("Empty database: loading the seed data...")
        report = ingest.load_seed(db, current_app.config["SEED_DIR"], current_app.config["REPORT_PATH"])
        click.echo(f"Loaded {len(report.added)} projects and {len(report.organisations)} organisations.")
    search.ensure_index(index_settings(), progress=True)
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
        search.update_projects(index_settings(), report.added + report.changed,
                              organisations=report.organisations)


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
        n = search.rebuild(index_settings(), progress=True, wait=60)
    except search.IndexBusy as exc:
        _fail([str(exc)], "The index was not rebuilt:")
    click.echo(f"Indexed {n} projects.")


def _backup_dir():
    return current_app.config.get("BACKUP_DIR") or os.path.join(current_app.instance_path, "backups")


@click.command("backup")
@click.argument("destination", required=False, type=click.Path())
@click.option("--keep", type=int, default=0, show_default=True,
              help="Afterwards keep only the newest N backups in the folder (0 keeps all).")
def backup_command(destination, keep):
    """Back up the database while the registry keeps serving (to DESTINATION: a .db file or a folder;
    default: instance/backups or REGISTRY_BACKUP_DIR)."""
    db_path = current_app.config["DATABASE"]
    if not Path(db_path).is_file():
        raise click.ClickException(f"there is no database at {db_path}; run `flask --app registry setup` first")
    if destination and destination.endswith(".db"):
        dest = Path(destination)
    else:
        dest = backup.default_name(destination or _backup_dir())
    try:
        backup.backup_database(db_path, dest)
        info = backup.verify(dest)
    except (backup.BackupError, sqlite3.Error, OSError) as exc:
        raise click.ClickException(f"backup failed, no backup was written: {exc}") from None
    click.echo(f"Backed up {info['projects']} projects and {info['organisations']} organisations "
               f"(data version {info['data_version']}) to {dest}")
    for path in backup.prune(dest.parent, keep):
        click.echo(f"Removed old backup {path}")


@click.command("restore")
@click.argument("backup_file", type=click.Path(dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def restore_command(backup_file, yes):
    """Replace the registry's data with BACKUP_FILE (verified first), then rebuild the search index."""
    try:
        info = backup.verify(backup_file)
    except backup.BackupError as exc:
        raise click.ClickException(f"{exc}; nothing was changed") from None
    if not yes:
        click.confirm(f"Replace the registry's data with {backup_file} ({info['projects']} projects, "
                      f"{info['organisations']} organisations)?", abort=True)
    try:
        backup.restore_database(backup_file, current_app.config["DATABASE"])
    except (backup.BackupError, storage.StorageError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Restored {info['projects']} projects and {info['organisations']} organisations; rebuilding the index...")
    search.rebuild(index_settings(), progress=True)
    click.echo("Restore complete.")


def init_app(app):
    for command in (init_db_command, load_seed_command, setup_command, import_command, export_command,
                    stats_command, reindex_command, backup_command, restore_command):
        app.cli.add_command(command)
