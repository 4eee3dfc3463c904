"""Run the registry (gunicorn) and the peer (Datasette) on 127.0.0.1, and the registry's CLI, as
child processes of the harness: timed, with their peak memory, their output in a log file."""
import http.client
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent


def progress(items, desc):
    """A progress bar on a terminal (none in a log file)."""
    return tqdm(items, desc=desc, leave=False, disable=None)


def registry_env(folder):
    """Environment for a registry process working on the instance in `folder`."""
    folder = Path(folder)
    return dict(os.environ, REGISTRY_DATABASE=str(folder / "registry.db"), REGISTRY_INDEX_DIR=str(folder / "index"),
                REGISTRY_CACHE_DIR=str(folder / "cache"), REGISTRY_SECRET_KEY="bench-" + "x" * 32,  # gunicorn refuses < 32
                PYTHONUNBUFFERED="1")


def run_cli(args, env, log):
    """Run `flask --app registry ARGS`; returns (seconds, peak RSS in MB). Raises on failure."""
    cmd = [sys.executable, "-m", "flask", "--app", "registry", *map(str, args)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"`flask --app registry {' '.join(map(str, args))}` failed; see {log.name}")
    return seconds, usage.ru_maxrss / 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(base, path, timeout=300):
    """GET base+path on a new connection; returns (seconds, status, body bytes)."""
    url = urlsplit(base)
    start = time.perf_counter()
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    return time.perf_counter() - start, resp.status, body


@dataclass
class Server:
    name: str
    base: str
    proc: subprocess.Popen
    start_s: float = 0.0    # from spawning the process to the first answer

    def worker_peak_mb(self):
        """Largest peak RSS (VmHWM) among the server's processes (gunicorn: its workers)."""
        pids = [self.proc.pid] + _children(self.proc.pid)
        return max((_vm_hwm_kb(pid) for pid in pids), default=0) / 1024


def _children(pid):
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _vm_hwm_kb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@contextmanager
def serve(name, cmd, env, ready_path, log, timeout=180):
    """Start `cmd` (a function of the port), wait until ready_path answers 200, yield a Server, stop it."""
    port = free_port()
    proc = subprocess.Popen(cmd(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    server = Server(name, f"http://127.0.0.1:{port}", proc)
    start = time.monotonic()
    try:
        deadline = start + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode}; see {log.name}")
            try:
                if get(server.base, ready_path, timeout=30)[1] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer {ready_path} within {timeout} s; see {log.name}")
            time.sleep(0.1)
        server.start_s = time.monotonic() - start
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def registry_server(folder, log, workers=1, limits=False):
    """The registry as `make serve` runs it (gunicorn with registry/gunicorn.conf.py), without access log.
    The per-client budgets (web/limits.py) are off unless `limits`: the harness is one client measuring
    capacity, which the budgets would cut to one person's share (the peer has none); they are measured
    apart, by `python -m bench.load_test --abuse`."""
    env = dict(registry_env(folder), REGISTRY_WORKERS=str(workers), REGISTRY_ACCESS_LOG="", REGISTRY_TIMEOUT="600",
               REGISTRY_RATE_LIMITS_ENABLED="true" if limits else "false")
    cmd = lambda port: [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "registry" / "gunicorn.conf.py"),  # noqa: E731
                        "--bind", f"127.0.0.1:{port}", "registry:create_app()"]
    return serve(f"registry ({workers} worker{'s' if workers > 1 else ''})", cmd, env, "/api/openapi.json", log)


def datasette_server(db_path, log):
    """Datasette serving the peer database read-only (immutable), with limits high enough that no
    query or facet is cut short, and without suggested facets (the registry suggests none)."""
    cmd = lambda port: [sys.executable, "-m", "datasette", "serve", "-i", str(db_path),  # noqa: E731
                        "-h", "127.0.0.1", "-p", str(port),
                        "--setting", "sql_time_limit_ms", "60000", "--setting", "facet_time_limit_ms", "60000",
                        "--setting", "suggest_facets", "off", "--setting", "default_facet_size", "300"]
    return serve("datasette", cmd, dict(os.environ), "/-/versions.json", log)
