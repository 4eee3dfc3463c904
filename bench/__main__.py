"""python -m bench [--sizes 1000,10000,100000 | --quick] [--out bench/results]

For each size: generate records, import them with the real CLI into a new instance, rebuild the index,
build the peer (Datasette + FTS5) over the same projects, then measure search latency (interleaved with
the peer), the interactive map, the PNG map, the exports, throughput and the newsletter burst. Prints the tables and writes them to
<out>/<date>-<sizes>.md and .json. See docs/benchmarks.md.
"""
import argparse
import os
import shutil
import tempfile
from pathlib import Path

from tqdm import tqdm

from . import report
from .build import build_registry
from .burst import burst
from .exports import exports
from .latency import search_latency, throughput
from .mapping import PNG_SELECTIONS, map_rows, map_selections, png
from .queries import QUERIES, ours_path, peer_path
from .servers import datasette_server, registry_server

ROOT = Path(__file__).resolve().parent.parent
MAP_TARGETS = (1_000, 10_000, 50_000)


def run(sizes, out, *, seed=0, duration=20, connections=50, burst_connections=100, queries=QUERIES,
        map_targets=MAP_TARGETS, map_loads=3, png_selections=PNG_SELECTIONS, work=ROOT / "bench" / "work",
        keep=False):
    """Run every measurement for every size; returns the results (also written to `out`)."""
    results = {"machine": report.machine(), "sizes": list(sizes),
               "settings": (f"{len(queries)} search queries (cold pass, then a repeat pass); throughput: "
                            f"{connections} connections for {duration} s, registry on gunicorn with 2 workers; "
                            f"newsletter burst: {burst_connections} connections for {duration} s, 2 workers; "
                            f"map: {map_loads} loads per selection; record generator seed {seed}.")}
    for section in report.COLUMNS:
        results[section] = []
    results["load"] = []   # the machine's 1-minute load average around each size: other work skews timings
    Path(work).mkdir(parents=True, exist_ok=True)
    for n in sizes:
        folder = Path(tempfile.mkdtemp(prefix=f"{report.size_label(n)}-", dir=work))
        tqdm.write(f"== {n:,} records in {folder}")
        load_start = os.getloadavg()[0]
        with open(folder / "bench.log", "w") as log:
            measure_size(results, n, folder, log, seed=seed, duration=duration, connections=connections,
                         burst_connections=burst_connections, queries=queries, map_targets=map_targets, map_loads=map_loads, png_selections=png_selections)
        results["load"].append({"records": n, "start": load_start, "end": os.getloadavg()[0]})
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
        report.write(results, out)  # after each size, so a long run leaves its partial results
    return results


def measure_size(results, n, folder, log, *, seed, duration, connections, burst_connections, queries,
                 map_targets, map_loads, png_selections):
    doc, row = build_registry(folder, n, seed, log)
    results["build"].append(row)
    tqdm.write(report.table("build", [row]))

    def on_registry(workers, measure):
        """A measurement on a registry server of its own (a new process, nothing cached)."""
        def run():
            with registry_server(folder, log, workers) as ours:
                return measure(ours)
        return attempt(n, run)

    with datasette_server(folder / "peer.db", log) as peer:
        results["search"].append(dict(on_registry(1, lambda ours: search_latency(ours, peer, queries)), records=n))
        tqdm.write(report.table("search", results["search"][-1:]))
        selections = map_selections(doc["projects"], map_targets)
        results["map"] += rows_of(n, on_registry(1, lambda ours: map_rows(ours.base, selections, map_loads)))
        results["png"].append(dict(on_registry(1, lambda ours: png(ours.base, png_selections)), records=n))
        exported = rows_of(n, attempt(n, lambda: exports(folder, log)))
        results["exports"] += exported
        tqdm.write(report.table("exports", exported))
        mine = on_registry(2, lambda ours: throughput(ours.base, [ours_path(q) for q in queries], duration, connections))
        theirs = attempt(n, lambda: throughput(peer.base, [peer_path(q) for q in queries], duration, connections))
    row = {"records": n, "tool": mine.get("tool") or theirs.get("tool")}
    row.update({f"ours_{k}": v for k, v in mine.items() if k not in ("tool", "error")})
    row.update({f"peer_{k}": v for k, v in theirs.items() if k not in ("tool", "error")})
    if "error" in mine or "error" in theirs:
        row["error"] = mine.get("error") or theirs.get("error")
    results["throughput"].append(row)
    results["burst"].append(dict(attempt(n, lambda: burst(folder, log, connections=burst_connections,
                                                          duration=duration)), records=n))
    tqdm.write(report.table("burst", results["burst"][-1:]))


def rows_of(n, measured):
    """The rows of a measurement giving several (a list, or one error row), each with its size."""
    return [dict(r, records=n) for r in (measured if isinstance(measured, list) else [measured])]


def attempt(n, measure):
    """Run one measurement; a failure (say, a page not built yet) becomes an error row, not a lost run."""
    try:
        return measure()
    except Exception as exc:  # noqa: BLE001 - reported in the table, the run goes on
        tqdm.write(f"   measurement failed at {n:,} records: {exc}")
        return {"error": str(exc)[:200]}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated record counts")
    parser.add_argument("--quick", action="store_true", help="1,000 records only")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--duration", type=int, default=20, help="seconds of each throughput run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--burst-connections", type=int, default=100, help="connections of the newsletter burst")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the instances under bench/work/")
    args = parser.parse_args(argv)
    sizes = [1000] if args.quick else [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    results = run(sizes, args.out, seed=args.seed, duration=args.duration, connections=args.connections,
                  burst_connections=args.burst_connections, keep=args.keep)
    print()
    print(report.markdown(results))
    print(f"Written to {report.write(results, args.out)} (and .json)")


if __name__ == "__main__":
    main()
