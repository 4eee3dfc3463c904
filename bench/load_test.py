"""Load test: the registry under gunicorn (several workers, as `make serve` runs it) serving read pages,
the search API and the map page to many concurrent clients while an import writes. Loopback only,
bounded in time and in requests; it stops by itself.

    .venv/bin/python -m bench.load_test [--seconds 30] [--clients 32] [--workers 4] [--import-rows 2000]

Pass criteria (exit code 1 otherwise): no 5xx and no failed connection; the import succeeds and every
one of its rows is stored and searchable (no lost write). Prints throughput and latency percentiles per
kind of request, overall and while the import was running. Not part of `make test`.
"""
import argparse
import csv
import http.client
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .servers import ROOT, registry_env, registry_server, run_cli

SEARCHES = ["mercury", "gold mining", "retort*", "Kenya", "waste", "chlor-alkali", "ZMWG", "monitoring network",
            "skin lightening", "dental amalgam"]
MAX_REQUESTS = 500_000


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")


def import_file(path, rows):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "title", "area", "status", "countries", "locations", "keywords"])
    writer.writerows([f"loadtest-{i}", f"Load test project {i} on mercury-free processing", "asgm", "ongoing",
                      "KEN", "Migori|-1.06|34.47|site", "loadtestword"] for i in range(rows))
    Path(path).write_text(out.getvalue(), "utf-8")


def paths_to_hit(base):
    """(kind, path) pairs: read pages, the search API and the map page, with real project ids."""
    host, port = base.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.request("GET", "/api/projects?per_page=100")
    ids = [r["id"] for r in json.loads(conn.getresponse().read())["results"]]
    conn.close()
    pages = ["/", "/projects", "/projects?area=asgm", "/projects?country=KEN", "/organisations", "/countries",
             "/about"] + [f"/projects/{pid}" for pid in ids[:40]]
    out = [("page", p) for p in pages]
    out += [("search", f"/api/projects?q={q.replace(' ', '+')}") for q in SEARCHES]
    out += [("search", f"/projects?q={q.replace(' ', '+')}") for q in SEARCHES[:4]]
    out += [("map", "/map"), ("map", "/map?area=asgm")]
    return out


def run(seconds, clients, workers, import_rows, folder):
    folder = Path(folder)
    log = open(folder / "load_test.log", "a")
    env = registry_env(folder)
    if not (folder / "registry.db").exists():
        print(f"setting up a registry from the seed in {folder} ...", flush=True)
        run_cli(["setup"], env, log)
    data = folder / "load-import.csv"
    import_file(data, import_rows)
    results, lock, stop = [], threading.Lock(), threading.Event()
    import_window = {}

    with registry_server(folder, log, workers=workers) as server:
        host, port = server.base.split("//")[1].split(":")
        targets = paths_to_hit(server.base)
        before = _get_json(host, port, "/api/projects?per_page=1")["total"]

        def client(seed):
            rng = random.Random(seed)
            while not stop.is_set() and len(results) < MAX_REQUESTS:
                kind, path = rng.choice(targets)
                start = time.perf_counter()
                try:
                    conn = http.client.HTTPConnection(host, int(port), timeout=60)
                    conn.request("GET", path)
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                    conn.close()
                except OSError as exc:
                    status = f"error: {type(exc).__name__}"
                now = time.perf_counter()
                with lock:
                    results.append((kind, path, status, now - start, now))

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
        began = time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(min(3, seconds / 5))
        import_window["start"] = time.perf_counter()
        importer = subprocess.run([sys.executable, "-m", "flask", "--app", "registry", "import", str(data)],
                                  cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        import_window["end"] = time.perf_counter()
        remaining = seconds - (time.perf_counter() - began)
        if remaining > 0:
            time.sleep(remaining)
        stop.set()
        for t in threads:
            t.join(timeout=120)
        elapsed = time.perf_counter() - began
        after = _get_json(host, port, "/api/projects?per_page=1")["total"]
        found = _get_json(host, port, "/api/projects?q=loadtestword&per_page=1")["total"]

    return report(results, elapsed, import_window, importer, before, after, found, import_rows, clients, workers)


def _get_json(host, port, path):
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    try:
        conn.request("GET", path)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def report(results, elapsed, window, importer, before, after, found, rows, clients, workers):
    print(f"\n{len(results)} requests in {elapsed:.1f} s from {clients} clients; gunicorn with {workers} sync "
          f"workers on {os.cpu_count()} cores; import of {rows} rows took {window['end'] - window['start']:.1f} s\n")
    print(f"{'requests':<22}{'count':>8}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'  non-2xx'}")
    during = lambda r: window["start"] <= r[4] <= window["end"]  # noqa: E731
    for label, pick in [("all", lambda r: True), ("page", lambda r: r[0] == "page"),
                        ("search", lambda r: r[0] == "search"), ("map", lambda r: r[0] == "map"),
                        ("page, during import", lambda r: r[0] == "page" and during(r)),
                        ("search, during import", lambda r: r[0] == "search" and during(r)),
                        ("page, no import", lambda r: r[0] == "page" and not during(r))]:
        rows_ = [r for r in results if pick(r)]
        in_import = window["end"] - window["start"]
        span = in_import if "during" in label else elapsed - in_import if "no import" in label else elapsed
        ms = [r[3] * 1000 for r in rows_]
        bad = {}
        for r in rows_:
            if r[2] != 200:
                bad[r[2]] = bad.get(r[2], 0) + 1
        print(f"{label:<22}{len(rows_):>8}{len(rows_) / span if span else 0:>9.1f}{percentile(ms, 50):>9.0f}"
              f"{percentile(ms, 95):>9.0f}{percentile(ms, 99):>9.0f}{max(ms, default=0):>9.0f}  {bad or ''}")
    failures = [r for r in results if not isinstance(r[2], int) or r[2] >= 500]
    problems = []
    if failures:
        problems.append(f"{len(failures)} requests failed with a 5xx or a connection error, e.g. {failures[:3]}")
    if importer.returncode != 0:
        problems.append(f"the import failed: {importer.stderr[-1000:]}")
    if after != before + rows:
        problems.append(f"lost write: {before} projects before, {after} after an import of {rows}")
    if found != rows:
        problems.append(f"the index has {found} of the {rows} imported projects")
    print("\nimport: " + (importer.stdout.strip() or importer.stderr.strip()[-300:]))
    print(f"projects: {before} before, {after} after; search finds {found} of the {rows} imported")
    print("\nFAIL:\n  " + "\n  ".join(problems) if problems else "\nPASS: no 5xx, no connection error, no lost write")
    return not problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=30, help="how long the clients run (at least the import)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent client threads")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1), help="gunicorn workers")
    parser.add_argument("--import-rows", type=int, default=2000, help="rows in the CSV imported during the load")
    parser.add_argument("--instance", help="a folder to use (a new registry from the seed is set up there when "
                        "it holds none); default: a new folder under bench/work")
    args = parser.parse_args(argv)
    if args.instance:
        folder = Path(args.instance)
        folder.mkdir(parents=True, exist_ok=True)
    else:
        (ROOT / "bench" / "work").mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="load-", dir=ROOT / "bench" / "work"))
    ok = run(args.seconds, args.clients, args.workers, args.import_rows, folder)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
