"""Budgets of server time per client for the expensive requests: searches, exports, new map images.

What counts: any request with search text (`q`: the list, the API, the maps' data...), an export
(/projects.csv, .json, .geojson, /map/download.html) and a PNG map that has to be rendered. Plain pages,
records, filters without search text and images already cached never count, so a person reading or paging
and a newsletter's readers loading its image are never limited.

What a request costs is the CPU time its thread spent on it (time.thread_time, measured until the last
byte of a streamed export is sent), so one costly search weighs as much as a hundred cheap ones. Each
client has a leaky bucket per kind (store/limits.py): a request is admitted while the client's recent
spending is under the kind's capacity; beyond it the answer is a 429 with Retry-After and a message in the
usual error shape (JSON under /api/, a page elsewhere), saying when to come back. A refused request costs
nothing, so waiting is enough.

Where the counters live: in SQLite (CACHE_DIR/limits.db), shared by every gunicorn worker, not in each
process's memory (Flask-Limiter's default storage): with N workers a per-process limit gives a client N
times its budget, and which worker answers is chance. A separate file from the registry's database, so
that an import holding the registry's write lock never holds searches up. A failure of the file (full disk)
admits the request and is logged: the limits protect the service and must not take it down.

Budgets bound each client; they cannot bound many clients at once. So the heavy work (an export, a map
render: seconds of one core each) also needs one of HEAVY_SLOTS slots shared by every worker (a file lock
each, under CACHE_DIR/slots: released by the kernel even when a worker dies), by default half the cores:
however many clients ask, the rest of the machine keeps answering pages and searches. A heavy request that
finds every slot taken gets a 503 with Retry-After at once (a worker waiting would be a worker lost).

The client is the remote address (REGISTRY_PROXY_FIX=1 makes it the address the reverse proxy saw; a
client cannot forge it otherwise); an IPv6 client is its /64 network, since one host holds a whole /64.
Many readers behind one address (an office, a newsroom) share its budget: raise RATE_LIMITS if they hit it.
"""
import fcntl
import hmac
import ipaddress
import logging
import math
import os
import time

from flask import current_app, g, request
from flask_babel import gettext as _, ngettext

from ..store.limits import BudgetStore
from .errors import error_response

log = logging.getLogger(__name__)

# kind -> (capacity: CPU seconds a client may spend at once, rate: CPU seconds it regains per second).
# Config RATE_LIMITS overrides any of them ({"search": [20, 0.05]}; REGISTRY_RATE_LIMITS as JSON).
# Measured on the 2-core development machine: a search costs 0.005 s of CPU on today's registry (260
# projects), 0.02-0.1 s at 10k and up to 0.5 s at 100k; an export about 0.3 s per thousand projects; a
# map image 0.3-1.5 s. So at 10k a person may make 20-100 searches in a row and one every second or two
# for good, export the whole registry once in a while, and render a few new images a minute (cached
# images are free). With eight abusive clients the rates hold them to a few percent of a core each
# (docs/benchmarks.md). For a registry of 100k projects, raise the search budget (RATE_LIMITS).
BUDGETS = {"search": (2.0, 0.05), "export": (3.0, 0.01), "render": (2.0, 0.01)}
HEAVY = ("export", "render")   # kinds that also need a slot
BUSY_RETRY = 5                 # seconds a client is told to wait when every slot is taken
NOUNS = {"search": "searches", "export": "exports", "render": "new map images"}
EXPORT_ENDPOINTS = {"views.export", "maps.download"}
UNMETERED_ENDPOINTS = {"maps.png", "static"}   # the PNG route meters its renders itself (not its cache hits)


class Busy(Exception):
    """Every slot for heavy work is taken: try again in a few seconds."""


class RateLimited(Exception):
    def __init__(self, kind, retry_after, capacity, rate):
        noun = NOUNS[kind]
        super().__init__(
            f"too many {noun} from your address in a short time: each address may use {capacity:g} seconds of "
            f"server time on {noun} at once, and regains {rate * 60:g} seconds a minute. Please wait "
            f"{retry_after} second{'' if retry_after == 1 else 's'} and try again; a filter or more specific "
            "words make each request cheaper")
        self.kind, self.retry_after, self.capacity, self.rate = kind, retry_after, capacity, rate

    def translated(self):
        """The message in the request's language (one whole sentence per kind of work)."""
        values = {"capacity": f"{self.capacity:g}", "rate": f"{self.rate * 60:g}"}   # ngettext adds num
        if self.kind == "search":
            return ngettext("too many searches from your address in a short time: each address may use "
                            "%(capacity)s seconds of server time on searches at once, and regains %(rate)s seconds "
                            "a minute. Please wait %(num)s second and try again; a filter or more specific words "
                            "make each request cheaper",
                            "too many searches from your address in a short time: each address may use "
                            "%(capacity)s seconds of server time on searches at once, and regains %(rate)s seconds "
                            "a minute. Please wait %(num)s seconds and try again; a filter or more specific words "
                            "make each request cheaper", self.retry_after, **values)
        if self.kind == "export":
            return ngettext("too many exports from your address in a short time: each address may use "
                            "%(capacity)s seconds of server time on exports at once, and regains %(rate)s seconds "
                            "a minute. Please wait %(num)s second and try again; a filter makes each export cheaper",
                            "too many exports from your address in a short time: each address may use "
                            "%(capacity)s seconds of server time on exports at once, and regains %(rate)s seconds "
                            "a minute. Please wait %(num)s seconds and try again; a filter makes each export "
                            "cheaper", self.retry_after, **values)
        return ngettext("too many new map images from your address in a short time: each address may use "
                        "%(capacity)s seconds of server time on new map images at once, and regains %(rate)s "
                        "seconds a minute. Please wait %(num)s second and try again",
                        "too many new map images from your address in a short time: each address may use "
                        "%(capacity)s seconds of server time on new map images at once, and regains %(rate)s "
                        "seconds a minute. Please wait %(num)s seconds and try again", self.retry_after, **values)


def init_app(app):
    app.extensions["limits"] = BudgetStore(app.config.get("RATE_LIMITS_DATABASE")
                                           or os.path.join(app.config["CACHE_DIR"], "limits.db"))
    app.before_request(_admit)
    app.after_request(_charge_when_sent)

    app.teardown_request(_release_slot)

    @app.errorhandler(RateLimited)
    def _rate_limited(exc):
        response, status = error_response(429, "too_many_requests", exc.translated())
        return response, status, {"Retry-After": str(exc.retry_after)}

    @app.errorhandler(Busy)
    def _busy(exc):
        response, status = error_response(503, "busy", _("the server is busy with other exports and map images; "
                                                          "please try again in a few seconds"))
        return response, status, {"Retry-After": str(BUSY_RETRY)}


def budget(kind):
    """(capacity, rate) of `kind` for the current app."""
    override = (current_app.config.get("RATE_LIMITS") or {}).get(kind)
    capacity, rate = override if override is not None else BUDGETS[kind]
    return float(capacity), float(rate)


def enabled():
    """Budgets and slots are on unless RATE_LIMITS_ENABLED is false; off by default under TESTING, where a
    test client makes hundreds of requests from one address (tests/test_limits.py turns them on)."""
    return current_app.config.get("RATE_LIMITS_ENABLED", not current_app.testing)


def client():
    """The key of the requesting client: a keyed hash of its address (or IPv6 /64): no address is stored."""
    address = request.remote_addr or ""
    try:
        ip = ipaddress.ip_address(address)
        if ip.version == 6 and ip.ipv4_mapped is None:
            address = str(ipaddress.ip_network(f"{ip}/64", strict=False))
    except ValueError:
        pass
    secret = current_app.secret_key or ""
    secret = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(secret, address.encode(), "sha256").hexdigest()[:32]


def check(kind):
    """Raise RateLimited when this client has used up its budget for `kind`."""
    if not enabled():
        return
    capacity, rate = budget(kind)
    try:
        spent = current_app.extensions["limits"].spent(client(), kind, rate, time.time())
    except Exception:
        log.exception("rate limits: cannot read the budgets; admitting the request")
        return
    if spent >= capacity:
        wait = (spent - capacity) / rate if rate > 0 else 3600
        raise RateLimited(kind, max(1, math.ceil(wait + 0.5)), capacity, rate)


def charge(kind, seconds):
    """Add `seconds` of CPU to this client's spending on `kind`."""
    if not enabled():
        return
    _store_charge(current_app.extensions["limits"], client(), kind, seconds, budget(kind)[1])


def _store_charge(store, key, kind, seconds, rate):
    try:
        store.charge(key, kind, seconds, rate, time.time())
    except Exception:
        log.exception("rate limits: cannot record a request's cost")


def metered(kind):
    """A context manager for work inside a view that counts as `kind` (a PNG render): checks the budget
    first, charges the work's CPU time after."""
    return _Meter(kind)


class _Meter:
    def __init__(self, kind):
        self.kind, self.slot = kind, None

    def __enter__(self):
        check(self.kind)
        if self.kind in HEAVY and enabled():
            self.slot = take_slot()
        self.start = time.thread_time()

    def __exit__(self, *exc):
        charge(self.kind, time.thread_time() - self.start)
        if self.slot is not None:
            os.close(self.slot)


def take_slot():
    """A file descriptor holding one of the slots for heavy work (closing it frees the slot); Busy when
    every slot is taken."""
    folder = os.path.join(current_app.config["CACHE_DIR"], "slots")
    os.makedirs(folder, exist_ok=True)
    slots = int(current_app.config.get("HEAVY_SLOTS") or max(1, (os.cpu_count() or 2) // 2))
    for n in range(slots):
        fd = os.open(os.path.join(folder, f"heavy-{n}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            os.close(fd)
    raise Busy("the server is busy with other exports and map images; please try again in a few seconds")


def _release_slot(exc=None):
    slot = g.pop("limits_slot", None)
    if slot is not None:
        os.close(slot)


def _kind():
    endpoint = request.endpoint or ""
    if endpoint in EXPORT_ENDPOINTS:
        return "export"
    if endpoint in UNMETERED_ENDPOINTS or request.method not in ("GET", "HEAD"):
        return None
    return "search" if request.args.get("q", "").strip() else None


def _admit():
    kind = _kind()
    if kind is None:
        return
    check(kind)
    if kind in HEAVY and enabled():
        g.limits_slot = take_slot()
    g.limits_meter = (kind, time.thread_time())


def _charge_when_sent(response):
    """Charge a metered request: now, when its body is made, or once a streamed body (an export) has been
    sent to its last byte (the server closes the response then)."""
    meter = g.pop("limits_meter", None)
    if meter is None or not enabled():
        return response
    kind, start = meter
    store, key, rate = current_app.extensions["limits"], client(), budget(kind)[1]
    slot = g.pop("limits_slot", None)   # held until the last byte is sent

    finished = []

    def done():
        if not finished:   # once: when the body ends, or when the server closes it (a client gone early)
            finished.append(True)
            _store_charge(store, key, kind, time.thread_time() - start, rate)
            if slot is not None:
                os.close(slot)

    if response.is_streamed:
        response.response = _then(response.response, done)
        response.call_on_close(done)
    else:
        done()
    return response


def _then(body, done):
    """The body's chunks, then done() (also when iteration stops early)."""
    try:
        yield from body
    finally:
        done()
