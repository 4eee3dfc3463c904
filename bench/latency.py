"""Search latency (the registry and the peer, interleaved) and throughput under concurrency."""
import json
import math
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from .queries import WARMUP, ours_path, peer_path
from .servers import get, progress


def percentile(values, p):
    """Nearest-rank percentile."""
    values = sorted(values)
    return values[max(0, math.ceil(p / 100 * len(values)) - 1)] if values else float("nan")


def _total(body, key):
    try:
        return json.loads(body)[key]
    except (ValueError, KeyError, TypeError):
        return None


def search_pass(ours, peer, queries, desc):
    """Each query once: query i on the registry, then query i on the peer. One row per query."""
    rows = []
    for query in progress(queries, desc):
        ours_s, ours_status, ours_body = get(ours.base, ours_path(query))
        peer_s, peer_status, peer_body = get(peer.base, peer_path(query))
        rows.append({"query": query, "ours_ms": ours_s * 1000, "peer_ms": peer_s * 1000,
                     "ours_status": ours_status, "peer_status": peer_status,
                     "ours_total": _total(ours_body, "total"),
                     "peer_total": _total(peer_body, "filtered_table_rows_count")})
    return rows


def search_latency(ours, peer, queries):
    """Warm both servers (searchers open, caches of the process filled with other queries), then a
    cold pass (each query new to the process) and a repeat pass. Returns a summary row, with the
    timings and result counts of each query under "per_query"."""
    for query in WARMUP:
        get(ours.base, ours_path(query))
        get(peer.base, peer_path(query))
    cold = search_pass(ours, peer, queries, "search (cold)")
    repeat = search_pass(ours, peer, queries, "search (repeat)")
    row = {"queries": len(queries)}
    for side in ("ours", "peer"):
        row[f"{side}_p50_ms"] = statistics.median(r[f"{side}_ms"] for r in cold)
        row[f"{side}_p95_ms"] = percentile([r[f"{side}_ms"] for r in cold], 95)
        row[f"{side}_max_ms"] = max(r[f"{side}_ms"] for r in cold)
        row[f"{side}_repeat_p50_ms"] = statistics.median(r[f"{side}_ms"] for r in repeat)
        row[f"{side}_errors"] = sum(r[f"{side}_status"] != 200 for r in cold + repeat)
    row["ours_timeouts"] = sum(r["ours_status"] == 503 for r in cold + repeat)   # the search time limit
    row["p50_ratio"] = row["ours_p50_ms"] / row["peer_p50_ms"]
    row["p95_ratio"] = row["ours_p95_ms"] / row["peer_p95_ms"]
    slowest = max(cold, key=lambda r: r["ours_ms"])
    row["ours_slowest"] = f"{slowest['query']} ({slowest['ours_ms']:.0f} ms)"
    row["worker_peak_mb"] = ours.worker_peak_mb()
    row["server_start_s"] = ours.start_s
    row["per_query"] = [dict(c, repeat_ours_ms=r["ours_ms"], repeat_peer_ms=r["peer_ms"]) for c, r in zip(cold, repeat)]
    return row


WRK_SCRIPT = """
paths = {%s}
init = function(args) i = math.random(1, #paths) end
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %%d, "seconds": %%f, "socket_errors": %%d, "status_errors": %%d, '
    .. '"p50_ms": %%f, "p90_ms": %%f, "p95_ms": %%f, "p99_ms": %%f, "max_ms": %%f}\\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
"""


def throughput(base, paths, seconds, connections):
    """Requests per second and latency under `connections` concurrent connections for `seconds`,
    with wrk when it is installed, else a small threaded client. Loopback only, bounded in time."""
    if shutil.which("wrk"):
        return _wrk(base, paths, seconds, connections)
    return _threaded(base, paths, seconds, connections)


def run_wrk(base, paths, seconds, connections):
    """wrk cycling through `paths`: requests (completed within the time), seconds, socket_errors,
    status_errors (any status but 2xx/3xx) and the latency percentiles p50/p90/p95/p99 and max, in ms."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "paths.lua"
        script.write_text(WRK_SCRIPT % ", ".join(json.dumps(p) for p in paths))
        out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s",
                              "-s", str(script), base], capture_output=True, text=True, timeout=seconds + 120)
    return json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])


def _wrk(base, paths, seconds, connections):
    result = run_wrk(base, paths, seconds, connections)
    result["errors"] = result["socket_errors"] + result["status_errors"]
    done = result["requests"]  # requests still running when time is up are not counted
    return {"tool": "wrk", "req_s": done / result["seconds"], "p50_ms": result["p50_ms"] if done else None,
            "p95_ms": result["p95_ms"] if done else None, "requests": done, "errors": result["errors"]}


def _threaded(base, paths, seconds, connections, max_requests=200_000):
    latencies, errors, lock = [], [0], threading.Lock()
    deadline = time.monotonic() + seconds

    def client(offset):
        i = offset
        while time.monotonic() < deadline and len(latencies) < max_requests:
            try:
                elapsed, status, _ = get(base, paths[i % len(paths)], timeout=30)
                with lock:
                    latencies.append(elapsed * 1000)
                    errors[0] += status != 200
            except OSError:
                with lock:
                    errors[0] += 1
            i += 1

    start = time.monotonic()
    threads = [threading.Thread(target=client, args=(k * 7,)) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    done = len(latencies)
    return {"tool": "python threads", "req_s": done / elapsed, "p50_ms": percentile(latencies, 50) if done else None,
            "p95_ms": percentile(latencies, 95) if done else None, "requests": done, "errors": errors[0]}
