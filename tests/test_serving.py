"""Production serving: gunicorn with registry/gunicorn.conf.py, two workers, on a free loopback port,
against a temporary instance. Pages and the API answer with their security headers; gunicorn's own
limits hold; a killed worker is replaced; the server refuses a weak secret key and serves with the instance key
when none is set.
"""
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]   # slow: real gunicorn servers
CONF = ROOT / "registry" / "gunicorn.conf.py"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(instance, port, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "FLASK_"))}
    env.update(REGISTRY_BIND=f"127.0.0.1:{port}", REGISTRY_WORKERS="2", REGISTRY_SECRET_KEY="serving-test-" + "x" * 32,
               REGISTRY_DATABASE=str(instance / "registry.db"), REGISTRY_INDEX_DIR=str(instance / "index"),
               REGISTRY_CACHE_DIR=str(instance / "cache"), REGISTRY_UPLOAD_DIR=str(instance / "uploads"),
               REGISTRY_TRUSTED_HOSTS="127.0.0.1,localhost", REGISTRY_ACCESS_LOG=str(instance / "access.log"),
               PYTHONPATH=str(ROOT))
    env.update(extra)
    return env


class Server:
    def __init__(self, instance, **extra_env):
        self.instance, self.port = instance, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(instance / "gunicorn.log", "w+")
        self.proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", str(CONF), "registry:create_app()"],
                                     cwd=ROOT, env=server_env(instance, self.port, **extra_env),
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"gunicorn exited: {self.output()}"
            try:
                if self.get("/api/countries")[0] == 200 and len(self.workers()) == 2:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"gunicorn did not come up: {self.output()}")

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-3000:]

    def get(self, path, headers=None, timeout=30):
        request = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()

    def raw(self, data):
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            s.sendall(data)
            return s.recv(65536).decode("latin-1")

    def workers(self):
        children = set()
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            children |= {int(pid) for pid in (task / "children").read_text().split()}
        return children

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="module")
def server(seeded_instance, tmp_path_factory):
    folder = tmp_path_factory.mktemp("serving") / "instance"
    shutil.copytree(seeded_instance, folder)
    s = Server(folder)
    yield s
    s.stop()
    assert s.proc.returncode == 0, s.output()          # a clean shutdown on SIGTERM


def project_id(server):
    return json.loads(server.get("/api/projects?per_page=1")[2])["results"][0]["id"]


PAGES = ["/", "/projects", "/projects?q=mercury", "/organisations", "/countries", "/about", "/api/projects?q=gold",
         "/api/organisations", "/api/countries", "/api/openapi.json", "/projects.csv?area=asgm", "/map"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_answer_with_security_headers(server, path):
    status, headers, body = server.get(path)
    assert status == 200, body[:500]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_a_project_page_and_its_api_record(server):
    pid = project_id(server)
    assert server.get(f"/projects/{pid}")[0] == 200
    assert server.get(f"/api/projects/{pid}")[0] == 200
    assert server.get("/projects/no-such-project")[0] == 404


def test_two_workers_and_an_access_log(server):
    assert len(server.workers()) == 2
    server.get("/about?access-log-check=1")
    line, deadline = 'GET /about?access-log-check=1 HTTP/1.1" 200', time.monotonic() + 10
    while line not in (server.instance / "access.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.1)                                  # the worker logs just after it answers
    assert line in (server.instance / "access.log").read_text()


def test_H01_unknown_host_is_400(server):
    status, _, body = server.get("/api/projects", headers={"Host": "evil.example"})
    assert status == 400 and "evil.example" not in body


def test_H03_declared_body_over_the_limit_is_413(server):
    reply = server.raw(b"POST /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
                       b"Content-Length: 999999999\r\n\r\nid,title\r\n")
    assert reply.startswith("HTTP/1.1 413"), reply[:200]


def test_H04_request_line_and_header_limits(server):
    long_line = server.raw(b"GET /projects?q=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert long_line.startswith(("HTTP/1.1 400", "HTTP/1.1 414")), long_line[:100]
    headers = b"".join(b"X-H%d: 1\r\n" % i for i in range(150))
    many = server.raw(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n")
    assert many.startswith(("HTTP/1.1 400", "HTTP/1.1 431")), many[:100]
    assert server.get("/about")[0] == 200                      # and the server carries on


def test_FT2_killed_worker_is_replaced(server):
    before = server.workers()
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    deadline, ok = time.monotonic() + 60, 0
    while time.monotonic() < deadline and (ok < 5 or len(server.workers()) != 2):
        try:
            ok += server.get("/api/projects?q=mercury", timeout=10)[0] == 200
        except OSError:
            pass                                               # a request that hit the dying worker
        time.sleep(0.1)
    after = server.workers()
    assert len(after) == 2 and victim not in after and ok >= 5


def test_truncated_index_under_a_live_worker_recovers(instance):
    """Truncating a segment that workers have open: they answer 503 (segments are read without memory
    maps, so no SIGBUS) and rebuild the index in the background. Searches then answer as before."""
    s = Server(instance)
    try:
        status, _, body = s.get("/api/projects?q=mercury&per_page=100")
        assert status == 200
        expected = json.loads(body)["total"]
        gen = instance / "index" / (instance / "index" / "current").read_text().strip()
        for seg in gen.glob("*.seg"):
            with open(seg, "r+b") as f:
                f.truncate(40)
        deadline, good = time.monotonic() + 90, 0
        while time.monotonic() < deadline and good < 6:
            try:
                status, _, body = s.get("/api/projects?q=mercury&per_page=100", timeout=20)
                assert status in (200, 503), body[:300]
                good = good + 1 if status == 200 and json.loads(body)["total"] == expected else 0
            except OSError:
                good = 0
            time.sleep(0.2)
        assert good >= 6, s.output()
        assert s.proc.poll() is None
    finally:
        s.stop()


@pytest.mark.parametrize("env, message", [
    ({"REGISTRY_SECRET_KEY": "dev-only-change-me"}, "REGISTRY_SECRET_KEY is weak (it is the development key"),
    ({"REGISTRY_SECRET_KEY": "changeme"}, "REGISTRY_SECRET_KEY is weak (it has 8 characters, fewer than 32)"),
    ({"REGISTRY_SECRET_KEY_FALLBACKS": '["dev-only-change-me"]'}, "REGISTRY_SECRET_KEY_FALLBACKS is weak"),
    ({"FLASK_DEBUG": "1"}, "DEBUG is on"),
    ({"REGISTRY_DEBUG": "true"}, "DEBUG is on"),
])
def test_refuses_to_start_unsafely(instance, env, message):
    port = free_port()
    proc = subprocess.run([sys.executable, "-m", "gunicorn", "--config", str(CONF), "registry:create_app()"], cwd=ROOT,
                          env=server_env(instance, port, **env), capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and message in proc.stdout + proc.stderr


def test_without_a_key_serves_with_the_private_instance_key(instance):
    """No REGISTRY_SECRET_KEY: the workers of this one server share a random key made at the first start,
    kept in the instance folder with mode 0600 (and refused when others can read it)."""
    key_file = instance / "secret_key"
    s = Server(instance, REGISTRY_SECRET_KEY="", REGISTRY_SECRET_KEY_FILE=str(key_file))
    try:
        assert s.get("/about")[0] == 200
    finally:
        s.stop()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and len(key_file.read_text().strip()) >= 43
    key_file.chmod(0o644)
    proc = subprocess.run([sys.executable, "-m", "gunicorn", "--config", str(CONF), "registry:create_app()"], cwd=ROOT,
                          env=server_env(instance, free_port(), REGISTRY_SECRET_KEY="",
                                         REGISTRY_SECRET_KEY_FILE=str(key_file)),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "chmod 600" in proc.stdout + proc.stderr
