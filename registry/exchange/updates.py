"""Updates from later sources (geodata/updates/, README.md there): one JSON file per source, applied in the
order of the file names through the one audited write path, each as a change from that source (history:
source_kind `source`, source = the source record's id, actor `updates`). Applying a file again changes nothing.
"""
import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..core.validate import Problem, ValidationError
from ..store import db as storage
from .apply import Origin, Report, apply_changes
from .readers import read_json

ACTOR = "updates"


@dataclass
class Applied:
    """One update file and what applying it did (or would do)."""
    path: Path
    source_id: str
    report: Report


def update_files(folder):
    """The update files of `folder`, in the order they apply (their names start with the source's date)."""
    return sorted(Path(folder).glob("*.json")) if folder and Path(folder).is_dir() else []


def read_update(path):
    """The Batch of one update file; ValidationError (every problem prefixed with the file's name) when it
    cannot be read or does not hold exactly one source record."""
    try:
        batch = read_json(Path(path).read_bytes())
    except ValidationError as exc:
        raise _in_file(path, exc.problems) from None
    if len(batch.sources) != 1:
        raise _in_file(path, [Problem("", "sources", f"an update file holds exactly one source record (this one "
                                                     f"has {len(batch.sources)}): the source its changes come from")])
    return batch


def source_id_of(batch):
    raw = batch.sources[0][1]
    return raw.get("id") if isinstance(raw, dict) else None


def newer_sources(path):
    """The ids of the sources of the update files that apply after `path` (its folder, name order)."""
    later = [p for p in update_files(Path(path).parent) if p.name > Path(path).name]
    ids = []
    for p in later:
        try:
            ids.append(source_id_of(read_update(p)))
        except ValidationError:
            continue     # reported when that file is applied
    return [i for i in ids if i]


def apply_update(db, path, index=None, dry_run=False):
    """Apply one update file as a change from its source. What a newer source (a file that sorts after it)
    has set since stays as that source set it, so applying a file again changes nothing. Returns Applied;
    raises ValidationError naming the file, or Conflict."""
    batch = read_update(path)
    source_id = source_id_of(batch)
    try:
        report = apply_changes(db, Origin(ACTOR, "source", source_id), organisations=batch.organisations,
                               projects=batch.projects, sources=batch.sources, changes=batch.changes,
                               index=index, dry_run=dry_run, newer_sources=newer_sources(path))
    except ValidationError as exc:
        raise _in_file(path, exc.problems) from None
    return Applied(Path(path), source_id, report)


def apply_updates(db, folder, index=None, progress=None, pending_only=True):
    """Apply the update files of `folder` in order: those not applied yet in this form (`pending_only`),
    else all of them. `progress(applied)` hears each. Returns [Applied]. Stops at the first file that is
    not valid (the files before it stay applied: each is its own change). A file is applied once: applying
    it again would undo an editor's later correction of what it set; a file edited since is applied again,
    leaving what newer sources set as they set it (apply_update)."""
    done = []
    for path in update_files(folder):
        if pending_only and storage.get_meta(db, _meta_key(path)) == _digest(path):
            continue
        done.append(apply_update(db, path, index=index))
        storage.set_meta(db, _meta_key(path), _digest(path))
        if progress is not None:
            progress(done[-1])
    return done


def _meta_key(path):
    return f"update:{Path(path).name}"


def _digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _in_file(path, problems):
    name = Path(path).name
    return ValidationError([Problem(f"{name}: {p.where}" if p.where else name, p.field, p.message)
                            if isinstance(p, Problem) else f"{name}: {p}" for p in problems])
