"""Caches of files shared by the workers of an instance (the PNG maps, the map payloads): written whole or
not at all, their last use kept as the file's modification time, the least recently used deleted first.

Last use is the file's modification time: a hit sets it to now (one utime call, no shared index to write),
so the newsletter's image, read by every reader of the newsletter, stays while a cycle of other sizes and
selections passes through. Files rather than diskcache: with its least-recently-used policy every hit is a
write transaction in one SQLite file shared by all workers; here a hit is a read and a utime, and only a
miss (rare) lists the folder to trim it."""
import os
import tempfile
import time
from pathlib import Path

STALE_TMP = 3600   # seconds after which a *.tmp file is a leftover of a killed process


def read_and_touch(path):
    """The cached bytes, marked as used now; None when the file is not there (or was just trimmed by
    another process)."""
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        mark_used(path)
    except FileNotFoundError:   # trimmed by another process since: the bytes read are still right
        pass
    return body


def mark_used(path):
    # the precise clock, not the file system's coarse one: uses milliseconds apart keep their order
    now = time.time_ns()
    os.utime(path, ns=(now, now))


def write_whole(path, body):
    """Write `body` to `path` through a temporary file: another process never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(body)
    os.replace(tmp, path)
    mark_used(path)


def trim(folder, max_bytes, keep):
    """Keep `folder` within `max_bytes`: delete the least recently used files (never `keep`, just written)
    until the rest fits; remove leftovers of killed processes."""
    now, files = time.time(), []
    for entry in os.scandir(folder):
        try:
            st = entry.stat()
        except FileNotFoundError:
            continue
        if entry.name.endswith(".tmp"):
            if now - st.st_mtime > STALE_TMP:
                Path(entry.path).unlink(missing_ok=True)
            continue
        files.append((st.st_mtime_ns, st.st_size, entry.path))
    total = sum(size for _, size, _ in files)
    for _, size, name in sorted(files):
        if total <= max_bytes:
            break
        if name != str(keep):
            Path(name).unlink(missing_ok=True)
            total -= size
