"""Load test: the registry under gunicorn (several workers, as `make serve` runs it) serving read pages,
the search API and the map page to many concurrent clients while an import writes. Loopback only,
bounded in time and in requests; it stops by itself.

    .venv/bin/python -m bench.load_test [--seconds 30] [--clients 32] [--workers 4] [--import-rows 2000]

Pass criteria (exit code 1 otherwise): no 5xx and no failed connection; the import succeeds and every
one of its rows is stored and searchable (no lost write). Prints throughput and latency percentiles per
kind of request, overall and while the import was running. Not part of `make test`.

Abuse mode (issue 11, finding 6): normal clients alone, then the same normal clients next to abusive ones,
each run `--seconds` long, on one server:

    .venv/bin/python -m bench.load_test --abuse [--normal 8] [--abusive 8] [--seconds 30] [--workers 4] \
        [--instance bench/work/r10k]

Normal clients are people: searches and pages of bench/queries.py (the API with facets and the list
page), a think time of 0.5-3 s between requests. Abusive clients send, back to back, searches of 20 random
long words, exports of the whole registry (CSV, JSON, GeoJSON) and PNG maps of random sizes (never
cached); after a 429 or 503 they wait as Retry-After says, or with `--flood` send again at once. Each client has an address of its own (X-Forwarded-For, the server
running as behind a reverse proxy, REGISTRY_PROXY_FIX=1), as the budgets per client of web/limits.py
see them. The abusive clients run in a process of their own, so the normal clients' timings are not
slowed by the harness itself. Pass criteria: no 5xx, failed connection or 429 for the normal clients, and
their p95 with abuse within 2x of their p95 alone. `--instance` reuses a registry (e.g. one built by
bench/build.py from bench/generate.py records); without it a registry is set up from the seed.
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

from .queries import QUERIES, ours_path
from .servers import ROOT, registry_env, registry_server, run_cli, serve

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


# --- abuse mode ------------------------------------------------------------------------------------

def abuse_server(folder, log, workers):
    """The registry as `make serve` runs it, behind a (pretended) reverse proxy: X-Forwarded-For names the
    client, so each harness client has an address of its own."""
    env = dict(registry_env(folder), REGISTRY_WORKERS=str(workers), REGISTRY_ACCESS_LOG="", REGISTRY_TIMEOUT="600",
               REGISTRY_PROXY_FIX="1")
    cmd = lambda port: [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "registry" / "gunicorn.conf.py"),  # noqa: E731
                        "--bind", f"127.0.0.1:{port}", "registry:create_app()"]
    return serve(f"registry ({workers} workers, behind a proxy)", cmd, env, "/api/openapi.json", log)


def normal_targets(host, port):
    """(kind, path) of what people do: searches (API with facets, list page) and pages."""
    ids = [r["id"] for r in _get_json(host, port, "/api/projects?per_page=100")["results"]]
    searches = [("search", ours_path(q)) for q in QUERIES if "q=" in q]
    searches += [("search", f"/projects?{q}") for q in QUERIES if "q=" in q]
    pages = ["/", "/projects", "/projects?area=asgm", "/projects?country=KEN&page=2", "/organisations", "/countries",
             "/about", "/map"] + [f"/projects/{pid}" for pid in ids[:40]]
    return searches + [("page", p) for p in pages]


def abusive_path(rng):
    """One expensive request: 20 random long words, a whole export, or a PNG size nobody asked before."""
    kind = rng.choice(["search", "export", "png"])
    if kind == "search":
        words = "+".join("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(8, 9)))
                         for _ in range(20))
        return kind, f"/api/projects?q={words}"
    if kind == "export":
        return kind, "/projects." + rng.choice(["csv", "json", "geojson"])
    return kind, f"/map.png?width={rng.randint(200, 1200)}&height={rng.randint(150, 1200)}"


def _fetch(host, port, path, address):
    """(status or 'error: ...', seconds, Retry-After in seconds or None); reads the whole body."""
    start, retry_after = time.perf_counter(), None
    try:
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        conn.request("GET", path, headers={"X-Forwarded-For": address})
        response = conn.getresponse()
        while response.read(1 << 16):
            pass
        status, retry_after = response.status, response.getheader("Retry-After")
        conn.close()
    except (OSError, http.client.HTTPException) as exc:
        status = f"error: {type(exc).__name__}"
    return status, time.perf_counter() - start, int(retry_after) if retry_after else None


def _abusers(host, port, clients, seconds, out, flood=False):
    """In a process of its own: `clients` threads sending abusive requests back to back for `seconds`;
    after a 429 or 503 they wait as Retry-After says (most HTTP clients with retries do), unless `flood`."""
    rows, lock = [], threading.Lock()
    deadline = time.monotonic() + seconds

    def client(i):
        rng = random.Random(1000 + i)
        while time.monotonic() < deadline:
            kind, path = abusive_path(rng)
            status, took, retry_after = _fetch(host, port, path, f"10.66.0.{i + 1}")
            with lock:
                rows.append((kind, status, took))
            if retry_after and not flood:
                time.sleep(max(0.0, min(retry_after, deadline - time.monotonic())))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 180)
    out.put(rows)


def abuse_phase(host, port, targets, seconds, normal, abusive, think=(0.5, 3.0), flood=False):
    """Normal clients (threads here) and abusive ones (another process) for `seconds`: (normal, abusive) rows
    of (kind, status, seconds)."""
    import multiprocessing
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_abusers, args=(host, port, abusive, seconds, queue, flood), daemon=True)
    if abusive:
        process.start()
    rows, lock = [], threading.Lock()
    deadline = time.monotonic() + seconds

    def person(i):
        rng = random.Random(i)
        while time.monotonic() < deadline:
            kind, path = rng.choice(targets)
            status, took, _ = _fetch(host, port, path, f"10.1.0.{i + 1}")
            with lock:
                rows.append((kind, status, took))
            time.sleep(rng.uniform(*think))

    threads = [threading.Thread(target=person, args=(i,), daemon=True) for i in range(normal)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 180)
    abusive_rows = queue.get(timeout=seconds + 300) if abusive else []
    if abusive:
        process.join(timeout=30)
    return rows, abusive_rows


def abuse_run(folder, seconds, normal, abusive, workers, flood=False):
    """Normal clients alone, then with abusive ones. Returns (ok, summary dict) and prints the tables."""
    folder = Path(folder)
    log = open(folder / "load_test.log", "a")
    if not (folder / "registry.db").exists():
        print(f"setting up a registry from the seed in {folder} ...", flush=True)
        run_cli(["setup"], registry_env(folder), log)
    with abuse_server(folder, log, workers) as server:
        host, port = server.base.split("//")[1].split(":")
        targets = normal_targets(host, port)
        for i, (_, path) in enumerate(targets[:2 * workers]):   # open each worker's searcher first
            _fetch(host, port, path, f"10.9.0.{i + 1}")
        alone, _ = abuse_phase(host, port, targets, seconds, normal, 0)
        together, abusive_rows = abuse_phase(host, port, targets, seconds, normal, abusive, flood=flood)
        peak_mb = server.worker_peak_mb()
        projects = _get_json(host, port, "/api/projects?per_page=1")["total"]
    return abuse_report(alone, together, abusive_rows, seconds, normal, abusive, workers, projects, peak_mb, flood)


def _stats(rows):
    ms = [r[2] * 1000 for r in rows]
    statuses = {}
    for r in rows:
        statuses[r[1]] = statuses.get(r[1], 0) + 1
    return {"count": len(rows), "p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95),
            "p99_ms": percentile(ms, 99), "statuses": statuses}


def abuse_report(alone, together, abusive_rows, seconds, normal, abusive, workers, projects, peak_mb, flood=False):
    print(f"\n{projects} projects; gunicorn with {workers} sync workers on {os.cpu_count()} cores; {normal} normal "
          f"clients (think time 0.5-3 s), then the same with {abusive} abusive clients "
          f"({'ignoring' if flood else 'honouring'} Retry-After); {seconds} s each\n")
    print(f"{'requests':<34}{'count':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}  statuses")
    summary = {}
    for label, rows in [("normal, alone", alone), ("normal, with abuse", together)]:
        for kind in ("all", "search", "page"):
            picked = [r for r in rows if kind == "all" or r[0] == kind]
            stats = summary[f"{label}: {kind}"] = _stats(picked)
            print(f"{label + ': ' + kind:<34}{stats['count']:>7}{stats['p50_ms']:>9.0f}{stats['p95_ms']:>9.0f}"
                  f"{stats['p99_ms']:>9.0f}  {stats['statuses']}")
    for kind in ("search", "export", "png"):
        stats = summary[f"abusive: {kind}"] = _stats([r for r in abusive_rows if r[0] == kind])
        print(f"{'abusive: ' + kind:<34}{stats['count']:>7}{stats['p50_ms']:>9.0f}{stats['p95_ms']:>9.0f}"
              f"{stats['p99_ms']:>9.0f}  {stats['statuses']}")
    base, loaded = summary["normal, alone: all"]["p95_ms"], summary["normal, with abuse: all"]["p95_ms"]
    ratio = loaded / base if base else float("nan")
    summary.update(ratio=ratio, worker_peak_mb=peak_mb, projects=projects, flood=flood)
    print(f"\nnormal clients' p95: {base:.0f} ms alone, {loaded:.0f} ms with abuse (x{ratio:.2f}); "
          f"largest worker peak RSS {peak_mb:.0f} MB")
    problems = []
    for label, rows in [("alone", alone), ("with abuse", together)]:
        bad = [r for r in rows if r[1] != 200]
        if bad:
            problems.append(f"{len(bad)} normal requests {label} were not answered 200, e.g. {bad[:3]}")
    # a 503 is an answer here: every slot for heavy work taken (web/limits.py), or a search over its time limit
    failed = [r for r in abusive_rows if not isinstance(r[1], int) or (r[1] >= 500 and r[1] != 503)]
    if failed:
        problems.append(f"{len(failed)} abusive requests got a 500 or a connection error, e.g. {failed[:3]}")
    if not ratio <= 2:
        problems.append(f"the normal clients' p95 with abuse is {ratio:.2f} times their p95 alone (limit 2)")
    print("\nFAIL:\n  " + "\n  ".join(problems) if problems else "\nPASS: normal clients within 2x, no 5xx")
    return not problems, summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=30, help="how long the clients run (at least the import)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent client threads")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1), help="gunicorn workers")
    parser.add_argument("--import-rows", type=int, default=2000, help="rows in the CSV imported during the load")
    parser.add_argument("--abuse", action="store_true", help="abuse mode: normal clients alone, then with "
                        "abusive ones (see above)")
    parser.add_argument("--normal", type=int, default=8, help="abuse mode: normal clients")
    parser.add_argument("--abusive", type=int, default=8, help="abuse mode: abusive clients")
    parser.add_argument("--flood", action="store_true", help="abuse mode: abusive clients ignore 429/503 and "
                        "Retry-After and send again at once (a flood: see docs/deployment.md, nginx limit_req)")
    parser.add_argument("--instance", help="a folder to use (a new registry from the seed is set up there when "
                        "it holds none); default: a new folder under bench/work")
    args = parser.parse_args(argv)
    if args.instance:
        folder = Path(args.instance)
        folder.mkdir(parents=True, exist_ok=True)
    else:
        (ROOT / "bench" / "work").mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="load-", dir=ROOT / "bench" / "work"))
    if args.abuse:
        ok, _ = abuse_run(folder, args.seconds, args.normal, args.abusive, args.workers, args.flood)
    else:
        ok = run(args.seconds, args.clients, args.workers, args.import_rows, folder)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
