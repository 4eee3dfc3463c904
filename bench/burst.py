"""The newsletter burst (issue 16): a newsletter goes out and its readers open one selection's PNG map and
embedded map at once. The registry on gunicorn (as `make serve` runs it), both URLs requested once to fill
the caches, then `connections` concurrent connections alternating between them for `duration` seconds, with
wrk (the machine's client of choice; a small threaded client when wrk is missing). Also checks the caching
headers a CDN or a browser needs (Cache-Control, ETag, Last-Modified) and times revalidations (304).

    python -m bench.burst --instance /tmp/inst/r10k [--connections 100] [--duration 20] [--workers 2]

Run alone, it works on a copy of the instance's database and index (the server writes its caches beside
them), never on the instance itself.
"""
import argparse
import http.client
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from .latency import _threaded, run_wrk
from .servers import registry_server

SELECTION = "area=asgm&country=GHA"
PNG_WIDTH = 600
REVALIDATIONS = 50

def paths(selection=SELECTION, width=PNG_WIDTH):
    """(PNG path, embed path) of one selection, as a newsletter snippet links them."""
    return f"/map.png?{selection}&width={width}", f"/embed/map?{selection}"


def burst(folder, log, *, connections=100, duration=20, workers=2, selection=SELECTION, width=PNG_WIDTH,
          per_url=True):
    """One row: throughput and latency of the burst, errors, the caching headers and revalidation."""
    png_path, embed_path = paths(selection, width)
    with registry_server(folder, log, workers, limits=True) as server:
        png, embed = fetch(server.base, png_path), fetch(server.base, embed_path)   # fills the caches
        row = {"connections": connections, "workers": workers, "selection": selection,
               "png_status": png["status"], "embed_status": embed["status"],
               "png_bytes": len(png["body"]), "embed_bytes": len(embed["body"]),
               "cache_control": png["headers"].get("cache-control"), "etag": png["headers"].get("etag"),
               "embed_cache_control": embed["headers"].get("cache-control"),
               "embed_etag": embed["headers"].get("etag"),
               "last_modified": png["headers"].get("last-modified"),
               "vary": png["headers"].get("vary"), "set_cookie": bool(png["headers"].get("set-cookie")),
               **revalidation(server.base, png_path, png["headers"], embed_path, embed["headers"])}
        row.update(measured_load(server, [png_path, embed_path], duration, connections))
        if per_url:   # each URL alone for a quarter of the time: their own latency
            for name, path in (("png", png_path), ("embed", embed_path)):
                alone = load(server.base, [path], max(2, duration // 4), connections)
                row.update({f"{name}_{k}": alone[k] for k in ("rps", "p50_ms", "p99_ms", "errors")})
    return row


def fetch(base, path, headers=None):
    """GET on a new connection: status, headers (lower-case names), body and milliseconds."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    start = time.perf_counter()
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    return {"status": resp.status, "headers": {k.lower(): v for k, v in resp.getheaders()}, "body": body,
            "ms": (time.perf_counter() - start) * 1000}


def revalidation(base, png_path, png_headers, embed_path, embed_headers):
    """Status and median time of conditional requests: If-None-Match on both URLs, If-Modified-Since on
    the PNG (304 expected of each)."""
    def check(path, headers):
        answers = [fetch(base, path, headers) for _ in range(REVALIDATIONS)]
        statuses = {a["status"] for a in answers}
        return (statuses.pop() if len(statuses) == 1 else sorted(statuses)), statistics.median(a["ms"] for a in answers)

    row = {}
    if png_headers.get("etag"):
        row["revalidation_status"], row["revalidation_ms"] = check(png_path, {"If-None-Match": png_headers["etag"]})
    if embed_headers.get("etag"):
        row["embed_revalidation_status"], row["embed_revalidation_ms"] = check(
            embed_path, {"If-None-Match": embed_headers["etag"]})
    if png_headers.get("last-modified"):
        row["ims_status"], row["ims_ms"] = check(png_path, {"If-Modified-Since": png_headers["last-modified"]})
    return row


def measured_load(server, load_paths, duration, connections):
    """The load, with the CPU time the server's workers and the client spent per request, and the
    machine's load average around it (other work on the same cores skews the tail)."""
    workers_before, load_before = _server_cpu(server), os.getloadavg()[0]
    result = load(server.base, load_paths, duration, connections)
    spent = _server_cpu(server) - workers_before
    done = max(result["requests"], 1)
    return dict(result, server_cpu_ms_per_request=spent * 1000 / done,
                client_cpu_ms_per_request=result.pop("client_cpu_s") * 1000 / done,
                load_before=load_before, load_after=os.getloadavg()[0])


def load(base, load_paths, duration, connections):
    """rps, p50/p90/p99 ms, requests, errors (socket errors and answers >= 400) of a load; wrk if installed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    if shutil.which("wrk"):
        result = _wrk(base, load_paths, duration, connections)
    else:
        threaded = _threaded(base, load_paths, duration, connections)
        result = {"tool": threaded["tool"], "rps": threaded["req_s"], "p50_ms": threaded["p50_ms"],
                  "p99_ms": None, "requests": threaded["requests"], "errors": threaded["errors"]}
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["client_cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result


def _wrk(base, load_paths, duration, connections):
    r = run_wrk(base, load_paths, duration, connections)
    return {"tool": "wrk", "rps": r["requests"] / r["seconds"], "p50_ms": r["p50_ms"], "p90_ms": r["p90_ms"],
            "p99_ms": r["p99_ms"], "max_ms": r["max_ms"], "requests": r["requests"],
            "errors": r["socket_errors"] + r["status_errors"], "socket_errors": r["socket_errors"],
            "status_errors": r["status_errors"]}


def _server_cpu(server):
    """CPU seconds the server's processes (gunicorn's master and workers) have used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in [server.proc.pid] + _children(server.proc.pid):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])   # utime, stime
        except OSError:
            pass
    return total / ticks


def _children(pid):
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def copy_instance(instance, into):
    """The instance's database and index copied into `into` (the server writes its caches beside them)."""
    instance, into = Path(instance), Path(into)
    for name in ("registry.db", "registry.db-wal", "registry.db-shm"):
        if (instance / name).exists():
            shutil.copy2(instance / name, into / name)
    shutil.copytree(instance / "index", into / "index")
    return into


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.burst", description=__doc__.splitlines()[0])
    parser.add_argument("--instance", required=True, help="an instance folder (bench.build): registry.db, index/")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--selection", default=SELECTION)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="burst-") as tmp:
        folder = copy_instance(args.instance, tmp)
        with open(Path(tmp) / "server.log", "w") as log:
            row = burst(folder, log, connections=args.connections, duration=args.duration, workers=args.workers,
                        selection=args.selection)
    json.dump(row, sys.stdout, indent=1, default=str)
    print()


if __name__ == "__main__":
    main()
