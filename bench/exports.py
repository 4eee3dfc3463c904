"""Exports at scale: time to the first byte, the whole download and the worker's memory, per format.

Each format is fetched once from a registry server of its own (one worker, nothing cached), reading the
body as it streams. Memory is the worker's resident size before the request and its peak (VmHWM) after:
a streamed export keeps the growth flat whatever the number of projects."""
import http.client
import time
from pathlib import Path
from urllib.parse import urlsplit

from .report import EXPORT_FORMATS as FORMATS
from .servers import progress, registry_server

CHUNK = 1 << 16


def exports(folder, log, formats=FORMATS):
    """One row per format: first_byte_s, whole_s, mb, rss_before_mb, peak_mb, growth_mb."""
    rows = []
    for fmt in progress(formats, "exports"):
        with registry_server(folder, log, 1) as server:
            worker = _worker_pid(server)
            before = _status_kb(worker, "VmRSS:") / 1024
            row = download(server.base, f"/projects.{fmt}")
            peak = _status_kb(worker, "VmHWM:") / 1024
        rows.append(dict(row, format=fmt, rss_before_mb=before, peak_mb=peak, growth_mb=peak - before))
    return rows


def download(base, path, timeout=600):
    """GET base+path reading the body in chunks: status, seconds to the first body byte and to the last, MB."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    start = time.perf_counter()
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        first, size = None, 0
        while chunk := resp.read1(CHUNK):
            first = first or time.perf_counter() - start
            size += len(chunk)
    finally:
        conn.close()
    return {"status": resp.status, "first_byte_s": first, "whole_s": time.perf_counter() - start,
            "mb": size / 1_048_576}


def _worker_pid(server):
    """gunicorn's one worker (the arbiter's child); the server itself if it has none."""
    children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children").read_text().split()
    return int(children[0]) if children else server.proc.pid


def _status_kb(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0
