"""Command line: a thin edge over the library. Errors become messages that say how to fix them.

    flask --app registry init-db | load-seed | setup | apply-updates [--all] [--dry-run]
    flask --app registry import FILE [--dry-run] | export | stats | reindex
    flask --app registry backup [DEST] [--keep N] | restore FILE [--yes]
    flask --app registry history [ID] [--entity E] [--source-kind K] [--limit N]
"""
import os
import sys
import tempfile
from pathlib import Path

import click
from flask import current_app

from .store import backup
from .store import db as storage
from .store import changes as change_log
from .store import editing as editing_db
from .store import sources as source_store
from .exchange import exports, iati
from .exchange import apply, ingest, updates
from .search import index as search
from .core.validate import Problem, ValidationError
from .web.context import index_settings


def _db():
    db = storage.connect(current_app.config["DATABASE"])
    storage.migrate(db)
    return db


def _fail(errors, header):
    """Print every problem (Problems as "row 12, column countries: ..."; plain messages as they are),
    never cut: the count comes last, where a long list ends."""
    click.secho(header, fg="red", err=True)
    for e in errors:
        click.echo(f"  - {e.describe() if isinstance(e, Problem) else e}", err=True)
    if len(errors) > 1:
        click.secho(f"{len(errors)} problems in all.", fg="red", err=True)
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
    """Replace the registry's content with the seed data from the report and the updates from later sources
    (geodata/updates/), then rebuild the index."""
    db = _db()
    try:
        report = ingest.load_seed(db, seed_dir or current_app.config["SEED_DIR"], current_app.config["REPORT_PATH"])
    except ValidationError as exc:
        _fail(exc.problems, "The seed is not valid; nothing was stored. Fix these entries in geodata/seed/:")
    click.echo(f"Seed loaded (history actor: seed). {report.summary()}")
    _apply_updates(db, pending_only=False)
    search.rebuild(index_settings(), progress=True)


@click.command("setup")
def setup_command():
    """Create the database, load the seed and build the index when they are missing (idempotent)."""
    db = _db()
    if storage.counts(db)["projects"] == 0:
        click.echo("Empty database: loading the seed data...")
        report = ingest.load_seed(db, current_app.config["SEED_DIR"], current_app.config["REPORT_PATH"])
        click.echo(f"Seed loaded (history actor: seed). {report.summary()}")
    _apply_updates(db)
    search.ensure_index(index_settings(), progress=True)
    click.echo("Registry ready.")


def _apply_updates(db, pending_only=True, index=None):
    """Apply the update files of UPDATES_DIR (those not applied yet), saying what each changed."""
    def said(applied):
        click.echo(f"  {applied.path.name} (source {applied.source_id}): {applied.report.summary()}")
    try:
        done = updates.apply_updates(db, current_app.config["UPDATES_DIR"], index=index, progress=said,
                                     pending_only=pending_only)
    except ValidationError as exc:
        _fail(exc.problems, "An update file is not valid; it was not applied (those before it were). Fix it in "
                            "geodata/updates/ (format: README.md there):")
    except apply.Conflict as exc:
        _fail([str(exc)], "An update file could not be applied:")
    click.echo(f"Updates from later sources: {len(done)} file(s) applied (history actor: {updates.ACTOR}).")
    return done


@click.command("apply-updates")
@click.option("--all", "every", is_flag=True, help="Apply every file again, also those applied before.")
@click.option("--dry-run", is_flag=True, help="Apply them to a copy of the database, say what they would change, "
                                             "keep nothing.")
def apply_updates_command(every, dry_run):
    """Apply the update files of geodata/updates/ (one per later source) in order, through the audited path."""
    if not dry_run:
        _apply_updates(_db(), pending_only=not every, index=index_settings())
        return
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "dry-run.db"
        if Path(current_app.config["DATABASE"]).is_file():
            backup.backup_database(current_app.config["DATABASE"], copy)
        db = storage.connect(str(copy))
        storage.migrate(db)
        if storage.counts(db)["projects"] == 0:
            ingest.load_seed(db, current_app.config["SEED_DIR"], current_app.config["REPORT_PATH"])
        _apply_updates(db, pending_only=not every)
        db.conn.close()
    click.echo("Dry run: nothing was kept.")


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(ingest.FORMATS), help="Default: from the file name.")
@click.option("--dry-run", is_flag=True, help="Validate and report what would change; store nothing.")
def import_command(file, fmt, dry_run):
    """Import projects (and organisations) from CSV, JSON, GeoJSON or IATI activity XML: all or nothing."""
    with open(file, "rb") as head:     # a file without a known suffix: what it starts with (IATI XML)
        fmt = fmt or ingest.guess_format(file, head.read(4096))
    if fmt is None:
        _fail([f"cannot tell the format of {file}"], "Use --format csv, json, geojson or iati.")
    size = os.path.getsize(file)
    if size > current_app.config["MAX_CONTENT_LENGTH"]:
        _fail([f"{file} is {size // 1_048_576} MB"], "The file is too large; split it into smaller files.")
    db = _db()
    try:
        report = ingest.import_data(db, Path(file).read_bytes(), fmt, dry_run=dry_run, actor=apply.cli_actor(),
                                    source=Path(file).name, index=None if dry_run else index_settings())
    except ValidationError as exc:
        _fail(exc.problems, f"{file} was rejected; nothing was stored. Fix these rows and import again:")
    except editing_db.Conflict as exc:
        _fail([str(exc)], f"{file} conflicts with a change saved meanwhile; nothing was stored. Import it again:")
    except storage.StorageError as exc:
        _fail([str(exc)], f"{file} could not be stored (disk full or database busy); nothing was stored. "
                          "Free some disk space or wait for the other import, then try again:")
    click.echo(report.summary())
    for line in report.lines():   # every added record and every changed field, never cut
        click.echo(f"  {line}")


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(list(dict.fromkeys([*ingest.FORMATS, "iati"]))), default="json")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-")
def export_command(fmt, output):
    """Export the whole registry (CSV, JSON or GeoJSON) to a file or standard output: every project, and in
    JSON and GeoJSON every source record and every organisation. `flask import` reads it back unchanged.
    `--format iati`: an IATI 2.03 activity file (docs/iati.md)."""
    if fmt == "iati":
        return _export_iati(output)
    db = _db()
    organisations, projects = storage.export_stream(db, all_organisations=True)
    sources = source_store.export_sources(db) if fmt != "csv" else []   # every source record, in its snapshot
    written = 0
    for chunk in exports.export_chunks(fmt, organisations, projects, indent=1, sources=sources):   # constant memory
        output.write(chunk)
        written += len(chunk)
    if output.name != "<stdout>":
        carried = "" if fmt == "csv" else f" ({len(sources)} source records, {len(organisations)} organisations)"
        click.echo(f"Wrote {written} characters of {fmt.upper()}{carried} to {output.name}.", err=True)


def _export_iati(output):
    """Every project IATI can hold, as an IATI activity file; says how many were written and which were left
    out and why (a project without a status, a year or an organisation: docs/iati.md, "Left out")."""
    organisations, projects = storage.export_stream(_db())
    summary = iati.ExportSummary()
    config = current_app.config
    try:
        chunks = iati.activities_xml(organisations, projects, config["IATI_REPORTING_ORG"],
                                     config["IATI_PUBLISHER_PREFIX"], summary)
    except iati.NoActivities as exc:
        _fail([str(exc)], "No IATI file was written:")
    to_stdout = output.name == "<stdout>"
    with click.open_file("-" if to_stdout else output.name, "wb") as out:   # bytes: the file declares UTF-8
        for chunk in chunks:   # constant memory
            out.write(chunk)
    where = "standard output" if to_stdout else output.name
    click.echo(f"Wrote {summary.written} IATI activities (version {iati.IATI_VERSION}) to {where}.", err=True)
    if summary.left_out:
        click.echo(f"Left out {len(summary.left_out)} projects that IATI cannot hold without inventing a value "
                   "(also listed in a comment at the end of the file):", err=True)
        for project_id, reasons in summary.left_out:   # every one, never cut
            click.echo(f"  - {project_id}: {'; '.join(reasons)}", err=True)


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


def _change_line(c):
    """One change as a line: id, time, record, action, actor, source, changed fields."""
    source = f"{c['source_kind']}: {c['source']}" if c["source"] else c["source_kind"]
    fields = ", ".join(c["fields"]) or "-"
    return (f"#{c['id']}  {c['at']}  {c['entity']} {c['entity_id']}  {c['action']}  by {c['actor']}  "
            f"({source})  fields: {fields}")


@click.command("history")
@click.argument("record_id", required=False)
@click.option("--entity", type=click.Choice(change_log.ENTITIES), help="Only projects or only organisations.")
@click.option("--source-kind", type=click.Choice(change_log.SOURCE_KINDS), help="Only changes from this source.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=20, show_default=True,
              help="Show at most this many changes, newest first.")
def history_command(record_id, entity, source_kind, limit):
    """The recent changes to projects and organisations, or those of one record (RECORD_ID): when, which
    record, what happened, who made it, from which source, which fields changed."""
    db = _db()
    filters = change_log.ChangeFilter(entity=entity, entity_id=record_id, source_kind=source_kind)
    rows, total = change_log.recent_changes(db, filters, limit=limit, for_editor=True)
    if record_id and not rows and record_id not in set().union(*storage.existing_ids(db)):
        raise click.ClickException(f"no project or organisation '{record_id}' and no recorded change of one; "
                                   "check the id (it is the last part of the record's address)")
    for change in rows:
        click.echo(_change_line(change))
    if total > len(rows):
        click.echo(f"... and {total - len(rows)} older change(s): add --limit {total} to list them all")
    elif not rows:
        click.echo("No changes recorded" + (f" for '{record_id}'." if record_id else "."))


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
    except (backup.BackupError, OSError) as exc:
        raise click.ClickException(f"backup failed, no backup was written: {exc}") from None
    click.echo(f"Backed up {info['projects']} projects and {info['organisations']} organisations "
               f"(data version {info['data_version']}) to {dest}")
    for path in backup.prune(dest.parent, keep):
        click.echo(f"Removed old backup {path}")


@click.command("restore")
@click.argument("backup_file", type=click.Path(dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--with-accounts", is_flag=True,
              help="Also replace the accounts with the backup's (their passwords and roles as they were then).")
def restore_command(backup_file, yes, with_accounts):
    """Replace the registry's projects and organisations with those of BACKUP_FILE (verified first, an older
    backup brought to today's schema) as one change through the audited write path: a history row per
    record that differs; history and proposals stay. On a missing or empty registry the backup's history
    and proposals come too. Accounts, login failures and rate limits stay those of this registry (unless
    --with-accounts), and every session ends. Then the search index is rebuilt."""
    try:
        info = backup.verify(backup_file)
    except backup.BackupError as exc:
        raise click.ClickException(f"{exc}; nothing was changed") from None
    if not yes:
        click.confirm(f"Replace the registry's data with {backup_file} ({info['projects']} projects, "
                      f"{info['organisations']} organisations)?", abort=True)
    try:
        click.echo(_restore(backup_file, with_accounts))
    except (backup.BackupError, storage.StorageError) as exc:
        raise click.ClickException(str(exc)) from None
    except ValidationError as exc:
        _fail(exc.problems, f"{backup_file} holds records that are not valid today; nothing was changed:")
    click.echo("Restore complete.")


def _restore(backup_file, with_accounts):
    """Restore and rebuild the index; returns what was done, in sentences."""
    db_path = current_app.config["DATABASE"]
    if Path(db_path).exists() and Path(backup_file).resolve() == Path(db_path).resolve():
        raise backup.BackupError("the backup file is the live database itself; choose a backup file")
    origin = apply.Origin(apply.cli_actor(), "restore", str(backup_file))
    whole = not backup.holds_registry(db_path)
    copy = backup.load_copy(backup_file)          # verified, brought to today's schema, in memory
    try:
        if whole:
            apply.check_restorable(copy)
            info = backup.replace_database(copy, _db(), origin.actor, origin.source, with_accounts)
            search.rebuild(index_settings(), progress=True)
            done = (f"Copied the whole backup ({info['projects']} projects, {info['organisations']} organisations, "
                    "with its history and proposals) into the empty registry.")
        else:
            report = apply.restore_records(_db(), copy, origin, index=index_settings(), with_accounts=with_accounts)
            done = f"Restored the records of {backup_file} (history: source restore). {report.summary()}"
    finally:
        copy.conn.close()
    accounts = ("The accounts are now those of the backup" if with_accounts
                else "The accounts, login failures and rate limits are this registry's, as before")
    return f"{done}\n{accounts}; every session was ended (everyone logs in again)."


def init_app(app):
    for command in (init_db_command, load_seed_command, setup_command, apply_updates_command, import_command,
                    export_command,
                    stats_command, reindex_command, backup_command, restore_command, history_command):
        app.cli.add_command(command)
