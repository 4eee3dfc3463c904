"""Production serving: `make serve`, i.e. gunicorn --config registry/gunicorn.conf.py "registry:create_app()".

Everything comes from the environment (see docs/deployment.md):
  REGISTRY_BIND             where to listen (default 127.0.0.1:$PORT, PORT default 8000): keep it on
                            loopback behind a reverse proxy
  REGISTRY_WORKERS          worker processes (default 2 x cores)
  REGISTRY_WORKER_CLASS     sync (default) or gthread, with REGISTRY_THREADS threads per worker (default 1):
                            gthread keeps connections alive (a burst of map readers), but a worker's
                            threads share one interpreter lock (docs/deployment.md, "Caching and CDNs")
  REGISTRY_TIMEOUT          seconds before a silent worker is killed and replaced (default 120)
  REGISTRY_ACCESS_LOG       access log file, "-" for standard output (default), "" for none
  REGISTRY_SECRET_KEY       signs sessions and CSRF tokens; refused when shorter than 32 characters or
                            published. Unset: the key in instance/secret_key (REGISTRY_SECRET_KEY_FILE),
                            made on first start with mode 0600, shared by the workers of this one server
  REGISTRY_SECRET_KEY_FALLBACKS  JSON list of older keys still accepted (rotation), e.g. '["old key"]'
  REGISTRY_TRUSTED_HOSTS    comma-separated host names; any other Host header gets 400
  REGISTRY_PROXY_FIX=1      trust X-Forwarded-For/-Proto from the reverse proxy (one hop)
  REGISTRY_DATABASE, REGISTRY_INDEX_DIR, REGISTRY_EMBED_ORIGINS ... read by create_app itself.
"""
import multiprocessing
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

chdir = str(ROOT)
bind = os.environ.get("REGISTRY_BIND") or f"127.0.0.1:{os.environ.get('PORT') or 8000}"
workers = int(os.environ.get("REGISTRY_WORKERS") or 2 * multiprocessing.cpu_count())
worker_class = os.environ.get("REGISTRY_WORKER_CLASS") or "sync"
threads = int(os.environ.get("REGISTRY_THREADS") or 1)
timeout = int(os.environ.get("REGISTRY_TIMEOUT") or 120)   # > the slowest request (an import preview)
graceful_timeout = 30
keepalive = 5
preload_app = False            # each worker imports the app and opens its connections after the fork
# Recycle workers now and then: bounds slow memory growth (every cache is bounded in bytes). Not too often:
# a new worker spends about a second of CPU starting, and a newsletter's readers (cached answers, 1,000 a
# second) would otherwise restart each worker every few seconds (docs/deployment.md, "Caching and CDNs").
max_requests = 100_000
max_requests_jitter = 10_000
# Request limits (gunicorn's defaults, stated): a longer request line or more headers get a 400.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = os.environ.get("REGISTRY_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("REGISTRY_LOG_LEVEL", "info")
proc_name = "mercury-registry"
control_socket_disable = True  # gunicorn's admin socket in $HOME: unused, and it would clash between instances


def production_problems():
    """What stops the registry from serving safely with this environment (empty list: all good)."""
    from flask import Config
    from flask.helpers import get_debug_flag

    config = Config(str(ROOT / "instance"))
    config.from_pyfile("config.py", silent=True)
    config.from_prefixed_env("REGISTRY")
    problems = secret_key_problems(config)
    if config.get("DEBUG") or get_debug_flag():
        problems.append("DEBUG is on: unset REGISTRY_DEBUG / FLASK_DEBUG; the debugger must never face the network")
    return problems


def secret_key_problems(config):
    """A weak explicit key or fallback is refused; without a key, the instance key file must be usable (it is
    made here, once, before the workers start)."""
    from registry import instance_secret_key, secret_key_problem
    problems, key = [], config.get("SECRET_KEY")
    fix = ("set it to a long random value, e.g. `export REGISTRY_SECRET_KEY=$(python3 -c 'import secrets; "
           "print(secrets.token_hex(32))')`, or unset it to use the key kept in instance/secret_key")
    if key:
        problem = secret_key_problem(key)
        if problem:
            problems.append(f"REGISTRY_SECRET_KEY is weak ({problem}): {fix}")
    else:
        try:
            instance_secret_key(config.get("SECRET_KEY_FILE") or ROOT / "instance" / "secret_key")
        except (RuntimeError, OSError) as exc:
            problems.append(str(exc))
    fallbacks = config.get("SECRET_KEY_FALLBACKS") or []
    for fallback in [fallbacks] if isinstance(fallbacks, str) else fallbacks:
        problem = secret_key_problem(fallback)
        if problem:
            problems.append(f"a key in REGISTRY_SECRET_KEY_FALLBACKS is weak ({problem}): remove it")
    return problems


def on_starting(server):
    problems = production_problems()
    for problem in problems:
        server.log.error("refusing to start: %s", problem)
    if problems:
        sys.exit(1)
    if not os.environ.get("REGISTRY_SECRET_KEY"):
        server.log.info("signing sessions with the key kept in the instance folder (instance/secret_key or "
                        "REGISTRY_SECRET_KEY_FILE): right for one server; see docs/deployment.md")
    if not os.environ.get("REGISTRY_TRUSTED_HOSTS"):
        server.log.warning("REGISTRY_TRUSTED_HOSTS is not set: any Host header is accepted; set it to the "
                           "public host name(s) unless the reverse proxy already drops unknown hosts")
