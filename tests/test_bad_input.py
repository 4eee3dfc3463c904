"""Bad input never gets a 500: a clear 4xx that says what to fix, nothing stored, index unchanged.

Test ids follow ../shared/docs/reliability-plan.md, table 3a (Q search box, F editor forms, C CSV import,
G GeoJSON import, U URLs, H headers, M map rendering): every id has a case here, except H04 (gunicorn's
request-line and header limits: tests/test_serving.py, with a real gunicorn). Imports are checked through
`ingest.import_data` and through the `flask import` command; malformed JSON and GeoJSON shapes in
tests/test_import_shapes.py.
"""
import csv
import hashlib
import html
import io
import json
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.store import db as storage
from registry.exchange import ingest, readers
from registry.core.validate import ValidationError

from werkzeug.routing import IntegerConverter

from conftest import add_user, csrf_token, logged_in, login, make_app, post_form, read_form, set_field

# --- helpers --------------------------------------------------------------------------------------


def snapshot(db_path):
    """Row count and MAX(rowid) of every table, and the data version: equal means nothing was stored."""
    db = storage.connect(db_path)
    try:
        tables = sorted(db.table_names())
        rows = {t: db.execute(f"SELECT count(*), max(rowid) FROM [{t}]").fetchone() for t in tables}
        return rows, storage.data_version(db)
    finally:
        db.conn.close()


def index_fingerprint(index_dir):
    """Names, sizes and content hashes of the index files: equal means the index was not touched."""
    out = {}
    for path in sorted(p for p in index_dir.rglob("*") if p.is_file()) if index_dir.exists() else []:
        out[str(path.relative_to(index_dir))] = hashlib.sha1(path.read_bytes()).hexdigest()
    return out


def cli_import(instance, path, **config):
    """`flask --app registry import PATH`, in-process (the `flask` command pushes an app context)."""
    app = make_app(instance, **config)
    with app.app_context():
        return app.test_cli_runner().invoke(args=["import", str(path)])


def assert_clear_error(response, status=400):
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    if response.is_json:
        err = response.get_json()["error"]
        assert err["code"] and len(err["message"]) > 15
    else:
        assert "error-message" in response.get_data(as_text=True)


@pytest.fixture(scope="module")
def reader(seeded_instance, tmp_path_factory):
    """A read-only client on a private copy of the seeded registry, shared by the read tests."""
    folder = tmp_path_factory.mktemp("bad-input") / "instance"
    shutil.copytree(seeded_instance, folder)
    return make_app(folder).test_client()


# --- Q: the search box, on every endpoint that takes q --------------------------------------------

SEARCH_ENDPOINTS = ["/projects", "/api/projects", "/organisations", "/api/organisations", "/projects.csv"]
OK, REJECT, EITHER = {200}, {400}, {200, 400}

Q_CASES = [
    ("Q01", '"unbalanced', OK),
    ("Q02-open", "(unbalanced", OK),
    ("Q02-close", "unbalanced)", OK),
    ("Q02-nested", "(" * 20 + "a" + ")" * 20, OK),
    ("Q02-nested-long", "(" * 500 + "a" + ")" * 500, REJECT),
    ("Q03", "nosuchfield:foo", OK),
    ("Q04-empty-range", "when:[ to ]", EITHER),
    ("Q04-text-range", "when:[abc to def]", EITHER),
    ("Q04-year-range", "year:[abc TO def]", EITHER),
    ("Q05-a-star", "a*", EITHER),
    ("Q05-star", "*", EITHER),
    ("Q05-star-a-star", "*a*", EITHER),
    ("Q05-question", "?", EITHER),
    ("Q05-many", "a* b* c* d*", EITHER),
    ("Q06-201", "x" * 201, REJECT),
    ("Q06-100000", "x" * 100_000, REJECT),
    ("Q07-5000-terms", "a " * 5000, REJECT),
    ("Q07-21-terms", " ".join(["mercury"] * 21), REJECT),
    ("Q08-empty", "", OK),
    ("Q08-blank", "   \t ", OK),
    ("Q08-nul", "\x00", REJECT),
    ("Q08-nul-inside", "gold\x00mining", REJECT),
    ("Q09", "<script>alert(1)</script>", OK),
    ("Q10-and", "AND", OK),
    ("Q10-or", "OR OR OR", OK),
    ("Q10-not", "NOT", OK),
    ("Q10-tilde", "~", OK),
    ("Q10-boost", "foo^abc", OK),
    ("Q10-fuzzy", "foo~9", OK),
    ("Q-colon-only", ":", OK),
    ("Q-quotes-only", '""', OK),
    ("Q-unicode", "mercúrio 水銀 ртуть", OK),
    ("Q-rtl-override", "gold\u202emining", OK),
]


@pytest.mark.parametrize("endpoint", SEARCH_ENDPOINTS)
@pytest.mark.parametrize("case, q, allowed", Q_CASES, ids=[c[0] for c in Q_CASES])
def test_search_text(reader, endpoint, case, q, allowed):
    r = reader.get(endpoint, query_string={"q": q})
    assert r.status_code in allowed, (r.status_code, r.get_data(as_text=True)[:300])
    if r.status_code == 400:
        assert_clear_error(r)
    assert "<script>alert(1)</script>" not in r.get_data(as_text=True)


def test_Q06_too_long_names_the_limit(reader):
    r = reader.get("/api/projects", query_string={"q": "x" * 201})
    assert r.get_json()["error"]["code"] == "query_too_long"
    assert "200" in r.get_json()["error"]["message"]


def test_Q07_too_many_terms_names_the_limit(reader):
    r = reader.get("/api/projects", query_string={"q": " ".join(["gold"] * 21)})
    assert r.get_json()["error"]["code"] == "too_many_terms"
    assert "20" in r.get_json()["error"]["message"]


@pytest.mark.parametrize("endpoint", ["/projects", "/api/projects"])
def test_Q08_lone_surrogate(reader, endpoint):
    r = reader.get(endpoint + "?q=%ED%A0%80")
    assert r.status_code in (200, 400)
    if r.status_code == 400:
        assert_clear_error(r)


def test_Q09_query_is_escaped_in_the_page(reader):
    page = reader.get("/projects", query_string={"q": "<script>alert(1)</script>"}).get_data(as_text=True)
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize("endpoint", SEARCH_ENDPOINTS)
def test_Q11_repeated_q_is_refused_with_a_message(reader, endpoint):
    # which of the values was meant cannot be guessed: a 400 that names the parameter, as for per_page
    r = reader.get(endpoint + "?q=gold" + "".join(f"&q=other{i}" for i in range(9)))
    assert_clear_error(r)
    assert "'q' is given 10 times" in r.get_data(as_text=True).replace("&#39;", "'")   # (HTML escapes ')


Q12_CASES = [("page-negative", "page=-1"), ("page-huge", "page=1000000000"), ("page-float", "page=1e9"),
             ("page-text", "page=abc"), ("per-page-huge", "per_page=100000"), ("per-page-zero", "per_page=0"),
             ("page-fullwidth", "page=\uff11"), ("year-text", "year_from=abc"), ("years-swapped",
             "year_from=2020&year_to=2010")]


@pytest.mark.parametrize("endpoint", ["/projects", "/api/projects", "/projects.geojson"])
@pytest.mark.parametrize("case, params", Q12_CASES, ids=[f"Q12-{c[0]}" for c in Q12_CASES])
def test_Q12_paging_out_of_range(reader, endpoint, case, params):
    r = reader.get(f"{endpoint}?{params}")
    assert_clear_error(r)
    name = params.split("=")[0]
    assert name in (r.get_json()["error"]["message"] if r.is_json else r.get_data(as_text=True))


def test_Q12_page_past_the_end_is_empty(reader):
    body = reader.get("/api/projects?page=10000&per_page=100").get_json()
    assert body["results"] == [] and body["total"] > 0


@pytest.mark.parametrize("sort", ["name;drop table projects", "__class__", "p.title; --", "title DESC"])
@pytest.mark.parametrize("endpoint", ["/projects", "/api/projects"])
def test_Q13_unknown_sort(reader, endpoint, sort):
    r = reader.get(endpoint, query_string={"sort": sort})
    assert_clear_error(r)
    if r.is_json:
        assert r.get_json()["error"]["code"] == "unknown_sort"
    assert reader.get("/api/projects").get_json()["total"] > 0  # the table is still there


@pytest.mark.parametrize("name, value", [("area", "plutonium"), ("status", "<b>x</b>"), ("kind", "x" * 500),
                                         ("role", "owner"), ("country", "Atlantis"), ("funder", "nobody-at-all")])
def test_unknown_filter_values(reader, name, value):
    for endpoint in ("/projects", "/api/projects"):
        r = reader.get(endpoint, query_string={name: value})
        assert_clear_error(r)
        if not r.is_json:
            assert "<b>x</b>" not in r.get_data(as_text=True)


# --- U: identifiers and oversized parameters in URLs -------------------------------------------------

WEIRD_IDS = ["0", "-1", "99999999999999999999", "abc-not-there", "%00", "%ED%A0%80", "a" * 5000,
             "..%2F..%2Fetc%2Fpasswd", "%3Cscript%3E", "%20", "null", "1.0", "%E2%80%AE"]


@pytest.mark.parametrize("prefix", ["/projects/", "/organisations/", "/countries/", "/areas/",
                                    "/api/projects/", "/api/organisations/"])
@pytest.mark.parametrize("ident", WEIRD_IDS, ids=[f"U05-{i[:12]}" for i in WEIRD_IDS])
def test_U05_weird_ids_are_404(reader, prefix, ident):
    r = reader.get(prefix + ident)
    assert_clear_error(r, 404)
    if not r.is_json:
        assert "<script>" not in r.get_data(as_text=True)


@pytest.mark.parametrize("endpoint", ["/projects.csv", "/projects.geojson", "/api/projects", "/projects"])
def test_U07_too_many_values(reader, endpoint):
    codes = ",".join(f"C{i:05d}" for i in range(100_000))
    r = reader.get(f"{endpoint}?country={codes}")
    assert_clear_error(r)
    assert "maximum" in r.get_data(as_text=True)


def test_U07_unknown_parameters_are_ignored(reader):
    baseline = reader.get("/api/projects").get_json()["total"]
    r = reader.get("/api/projects?ids=" + ",".join(str(i) for i in range(100_000)))
    assert r.status_code == 200 and r.get_json()["total"] == baseline


def int_routes():
    """(URL rule, method) for every route that takes an integer, read from the app's url_map: a new route
    is covered without a change here."""
    with tempfile.TemporaryDirectory() as folder:
        app = make_app(Path(folder), CHECK_INDEX_ON_START=False)
        return sorted((rule.rule, method) for rule in app.url_map.iter_rules()
                      if any(isinstance(c, IntegerConverter) for c in rule._converters.values())
                      for method in rule.methods & {"GET", "POST"})


INT_ROUTES = int_routes()
# beyond SQLite's 64-bit integers (2**63, 25 nines, 2**64), the largest it holds, and none at all
HUGE_IDS = ["9223372036854775808", "9" * 25, "18446744073709551616", "9223372036854775807", "0", "9" * 5000]


def test_U05_int_routes_are_found():
    """The routes below are read from the app (not vacuous): the editing pages with numeric ids."""
    rules = {rule for rule, _ in INT_ROUTES}
    assert {"/editor/history/<int:change_id>", "/editor/proposals/<int:proposal_id>",
            "/admin/users/<int:user_id>"} <= rules


@pytest.fixture(scope="module")
def admin_client(seeded_instance, tmp_path_factory):
    folder = tmp_path_factory.mktemp("int-ids") / "instance"
    shutil.copytree(seeded_instance, folder)
    client = logged_in(make_app(folder), "int-admin", "admin")
    return client, csrf_token(client, "/editor")


@pytest.mark.parametrize("rule, method", INT_ROUTES, ids=[f"{m}-{r}" for r, m in INT_ROUTES])
@pytest.mark.parametrize("ident", HUGE_IDS, ids=lambda i: f"U05-{i[:12]}" + (f"-{len(i)}-digits" * (len(i) > 12)))
def test_U05_huge_ids_are_404_on_every_int_route(admin_client, rule, method, ident):
    """Issue 11, finding 9: ids SQLite cannot hold were a 500 (OverflowError); an admin (who may open
    every one of these pages) gets 404, for GET and for POST with a valid CSRF token."""
    client, token = admin_client
    url = re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", lambda m: ident if m.group(1) == "int" else "x", rule)
    r = client.open(url, method=method, data={"csrf_token": token} if method == "POST" else None)
    assert_clear_error(r, 404)


@pytest.fixture(scope="module")
def editing(seeded_instance, tmp_path_factory):
    """A private copy of the seeded registry shared by the editing cases (F, U01-U04, H05, H06, C16, M):
    the folder, the app, and an editor's and an admin's clients. Each case writes records of its own."""
    folder = tmp_path_factory.mktemp("editing") / "instance"
    shutil.copytree(seeded_instance, folder)
    app = make_app(folder, UPLOAD_DIR=str(folder / "uploads"))
    return {"folder": folder, "app": app, "editor": logged_in(app, "f-editor", "editor"),
            "admin": logged_in(app, "f-admin", "admin")}


NEXT_CASES = [("U01", "//evil.example"), ("U02-backslash", "/\\evil.example"), ("U02-escaped", "\\/evil.example"),
              ("U02-three", "\\\\\\evil.example"), ("U03-https", "https://evil.example"),
              ("U03-scheme-only", "https:evil.example"), ("U03-javascript", "javascript:alert(1)"),
              ("U03-tab", "\t//evil.example")]


@pytest.mark.parametrize("case, target", NEXT_CASES, ids=[c[0] for c in NEXT_CASES])
def test_U01_U03_login_never_redirects_off_site(editing, case, target):
    add_user(editing["app"], f"next-{case.lower()}", "editor")
    response = login(editing["app"].test_client(), f"next-{case.lower()}", next_url=target)
    assert response.status_code == 302 and response.headers["Location"] == "/editor"    # the default, on site


def test_U04_login_redirects_to_a_path_on_this_site(editing):
    add_user(editing["app"], "next-u04", "editor")
    response = login(editing["app"].test_client(), "next-u04", next_url="/projects/1")
    assert response.status_code == 302 and response.headers["Location"] == "/projects/1"


def test_U06_oversized_map_image_is_refused_and_the_embed_ignores_sizes(reader):
    """Decision: the PNG names its limits (400); the embed page has no size or zoom parameters (ignored)."""
    r = reader.get("/map.png?zoom=99&width=100000&height=100000")
    assert_clear_error(r)
    assert "'width' must be a whole number of pixels between" in r.get_data(as_text=True).replace("&#39;", "'")
    assert reader.get("/embed/map?zoom=99&width=100000&height=100000").status_code == 200


# --- H: headers -----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/projects", "/api/projects", "/no/such/page"])
def test_H01_untrusted_host_is_refused(instance, path):
    """Decision: production sets REGISTRY_TRUSTED_HOSTS; any other Host gets 400 and no link is built."""
    client = make_app(instance, TRUSTED_HOSTS="registry.example.org, localhost").test_client()
    r = client.get(path, headers={"Host": "evil.example"})
    assert r.status_code == 400
    assert "evil.example" not in r.get_data(as_text=True)
    assert "unknown host" in r.get_data(as_text=True)
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    ok = client.get(path, headers={"Host": "registry.example.org"})
    assert ok.status_code in (200, 404)


def test_H01_trusted_host_builds_links_with_it(instance):
    client = make_app(instance, TRUSTED_HOSTS=["registry.example.org"]).test_client()
    body = client.get("/api/projects?per_page=1", headers={"Host": "registry.example.org"}).get_json()
    assert body["results"][0]["url"].startswith("http://registry.example.org/projects/")


@pytest.mark.parametrize("proxy_fix", [False, True])
def test_H02_forwarded_headers_only_behind_the_proxy(instance, proxy_fix):
    client = make_app(instance, PROXY_FIX=proxy_fix).test_client()
    r = client.get("/api/projects?per_page=1", headers={
        "X-Forwarded-For": "1.2.3.4", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"})
    url = r.get_json()["results"][0]["url"]
    assert "evil.example" not in url                     # the forwarded host is never trusted
    assert url.startswith("https://" if proxy_fix else "http://")


@pytest.mark.parametrize("method, path", [("GET", "/projects"), ("POST", "/projects"), ("POST", "/api/projects"),
                                          ("PUT", "/api/projects/x"), ("POST", "/no/such/page")])
def test_H03_declared_body_over_the_limit_is_413(reader, method, path):
    limit = reader.application.config["MAX_CONTENT_LENGTH"]
    r = reader.open(path, method=method, data=b"x" * 10, environ_overrides={"CONTENT_LENGTH": str(limit + 1)})
    assert_clear_error(r, 413)
    assert "too large" in r.get_data(as_text=True)


@pytest.mark.parametrize("case", ["H05-flipped-byte", "H05-old-key"])
def test_H05_tampered_or_foreign_session_cookie_is_logged_out(editing, case):
    app = editing["app"]
    client = logged_in(app, f"cookie-{case[4:]}", "editor")
    name = app.config["SESSION_COOKIE_NAME"]
    value = client.get_cookie(name).value
    if case == "H05-flipped-byte":
        value = value[:-5] + ("A" if value[-5] != "A" else "B") + value[-4:]
    else:   # the same session, signed with a key this registry does not have
        other = make_app(editing["folder"], SECRET_KEY="another registry's key, long enough to be a real one")
        with other.test_request_context():
            value = other.session_interface.get_signing_serializer(other).dumps(
                app.session_interface.get_signing_serializer(app).loads(value))
    client.set_cookie(name, value)
    response = client.get("/editor")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_H06_json_post_to_a_form_endpoint_without_csrf_is_refused(editing):
    before = snapshot(editing["folder"] / "registry.db")
    r = editing["editor"].post("/editor/projects/new", json={"title": "JSON title", "area": "asgm", "version": "0"})
    assert_clear_error(r)
    assert "did not come from this site" in r.get_data(as_text=True)
    assert snapshot(editing["folder"] / "registry.db") == before


# --- C: CSV import ----------------------------------------------------------------------------------

HEADER = ["id", "title", "area", "status", "countries", "locations"]


def good_row(i):
    return [f"hardening-{i}", f"Hardening test project {i}", "asgm", "ongoing", "KEN", "Migori|-1.06|34.47|site"]


def to_csv(rows, header=HEADER):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def with_cell(column, value, row_no=0):
    rows = [good_row(i) for i in range(3)]
    rows[row_no][HEADER.index(column)] = value
    return to_csv(rows)


def latlon(lat, lon="34.47"):
    return with_cell("locations", f"Migori|{lat}|{lon}|site", row_no=1)


C_CASES = [
    ("C01", to_csv([good_row(1)]) + b'hardening-2,"unterminated,asgm,ongoing,KEN,x\nmore,rows,here\n',
     "unterminated quote"),
    ("C02", with_cell("title", "x" * 200_000), "row 2"),
    ("C04", "id,title,area,status,countries,locations\ncaf\xe9-1,Caf\xe9,asgm,ongoing,KEN,K|||country\n"
     .encode("latin-1"), "UTF-8"),
    ("C04-utf16", "id,title\n".encode("utf-16"), "UTF-8"),
    ("C06", b"id,title,title,area\nx,y,z,asgm\n", "duplicate column"),
    ("C07-is_admin", to_csv([good_row(1) + ["1"]], HEADER + ["is_admin"]), "unknown column"),
    ("C07-owner_id", to_csv([good_row(1) + ["7"]], HEADER + ["owner_id"]), "unknown column"),
    ("C08", to_csv([good_row(1), good_row(2) + ["extra"]]), "row 3: has 7 cells, expected 6"),
    ("C09-title", to_csv([["x", "asgm"]], ["id", "area"]), "required column 'title'"),
    ("C09-empty", b"", "empty"),
    ("C10", with_cell("title", "bad\x00title", row_no=2), "control characters"),
    ("C10-summary", to_csv([good_row(1) + ["a\x01b"]], HEADER + ["summary"]), "control characters"),
    ("C11-nan", latlon("nan"), "row 3: locations[1].lat"),
    ("C11-inf", latlon("inf"), "row 3: locations[1].lat"),
    ("C11-lon-500", latlon("1", "500"), "row 3: locations[1].lon"),
    ("C11-1e309", latlon("1e309"), "row 3: locations[1].lat"),
    ("C11-fullwidth", latlon("\uff11\uff12"), "row 3: locations[1].lat"),
    ("C11-arabic-digits", latlon("\u0661\u0662"), "row 3: locations[1].lat"),
    ("C11-underscore", latlon("12_000"), "row 3: locations[1].lat"),
    ("C11-hex", latlon("0x10"), "row 3: locations[1].lat"),
    ("C11-lat-91", latlon("91"), "row 3: locations[1].lat"),
    ("C13", b"id,title,area\n" + b"x,y,z\n" * (readers.MAX_ROWS + 1), f"more than {readers.MAX_ROWS} rows"),
    ("C15", to_csv([good_row(i) for i in range(10_000)] + [good_row(10_000)[:4] + ["XXX", "K|||country"]]),
     "'XXX' is not a known"),
    ("C17-png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "not text"),
    ("C17-zip", b"PK\x03\x04" + b"\x00" * 64, "not text"),
    ("C17-pdf", b"%PDF-1.7\n", "not text"),
    ("C-bad-enum", with_cell("area", "plutonium"), "area: 'plutonium' is not allowed"),
    ("C-bad-id", with_cell("id", "../../etc/passwd"), "not a valid id"),
    ("C-duplicate-ids", to_csv([good_row(1), good_row(1)]), "duplicate id"),
    ("C-javascript-url", to_csv([good_row(1) + ["javascript:alert(1)"]], HEADER + ["website"]), "http"),
    ("C-no-rows", to_csv([]), "no records"),
]


@pytest.fixture
def instance_db(instance):
    conn = storage.connect(str(instance / "registry.db"))
    yield conn
    conn.conn.close()


LARGE_FILES = ("C13", "C15")   # MAX_ROWS + 1 and 10,001 rows: seconds each


def marked_cases(cases):
    """The cases as pytest params named by their id, the large files marked slow."""
    return [pytest.param(*c, id=c[0], marks=pytest.mark.slow if c[0] in LARGE_FILES else ()) for c in cases]


@pytest.mark.parametrize("case, data, expected", marked_cases(C_CASES))
def test_csv_rejected_whole_by_import_data(instance, instance_db, case, data, expected):
    before, index_before = snapshot(instance / "registry.db"), index_fingerprint(instance / "index")
    with pytest.raises(ValidationError) as exc:
        ingest.import_data(instance_db, data, "csv")
    assert expected in " | ".join(exc.value.errors)
    assert snapshot(instance / "registry.db") == before
    assert index_fingerprint(instance / "index") == index_before


CLI_CASES = [c for c in C_CASES if c[0] in ("C01", "C04", "C08", "C10", "C11-nan", "C15", "C17-zip")]
CLI_WORDING = {"C11-nan": "row 3, column locations (entry 1, lat)"}   # the CLI says row and column


@pytest.mark.parametrize("case, data, expected", marked_cases(CLI_CASES))
def test_csv_rejected_whole_by_the_cli(instance, tmp_path, case, data, expected):
    path = tmp_path / "upload.csv"
    path.write_bytes(data)
    before, index_before = snapshot(instance / "registry.db"), index_fingerprint(instance / "index")
    result = cli_import(instance, path)
    assert result.exit_code == 1
    assert "nothing was stored" in result.output and CLI_WORDING.get(case, expected) in result.output
    assert snapshot(instance / "registry.db") == before
    assert index_fingerprint(instance / "index") == index_before


def test_C03_file_over_the_limit_is_refused_before_parsing(instance, tmp_path):
    path = tmp_path / "big.csv"
    path.write_bytes(to_csv([good_row(i) for i in range(200)]))
    before = snapshot(instance / "registry.db")
    result = cli_import(instance, path, MAX_CONTENT_LENGTH=path.stat().st_size - 1)
    assert result.exit_code == 1 and "too large" in result.output
    assert snapshot(instance / "registry.db") == before


def test_C05_bom_is_accepted(instance_db):
    report = ingest.import_data(instance_db, b"\xef\xbb\xbf" + to_csv([good_row(1)]), "csv")
    assert report.added == ["hardening-1"]


def test_C11_whitespace_around_numbers_is_trimmed(instance_db):
    ingest.import_data(instance_db, latlon(" -1.5 ", " 34.25 "), "csv")
    assert storage.get_project(instance_db, "hardening-1")["locations"][0]["lat"] == -1.5


def test_C12_formulas_stored_as_text_and_neutralised_on_export(instance, instance_db):
    formulas = ["=HYPERLINK(\"http://evil.example\")", "+1", "@SUM(A1)", "-2+3", "\t=1"]
    rows = [good_row(i)[:1] + [f] + good_row(i)[2:] for i, f in enumerate(formulas)]
    ingest.import_data(instance_db, to_csv(rows), "csv")
    assert storage.get_project(instance_db, "hardening-0")["title"] == formulas[0]
    client = make_app(instance).test_client()
    exported = list(csv.reader(io.StringIO(client.get("/projects.csv?q=Hardening").get_data(as_text=True))))
    exported += list(csv.reader(io.StringIO(client.get("/projects.csv").get_data(as_text=True))))
    titles = {r[1] for r in exported[1:]}
    for f in formulas[:4]:
        assert "'" + f in titles and f not in titles
    assert not any(r[1].startswith(("=", "+", "@", "\t")) for r in exported[1:] if r[0].startswith("hardening"))


def test_C14_same_file_twice_stores_no_duplicates(instance, instance_db):
    data = to_csv([good_row(i) for i in range(5)])
    first = ingest.import_data(instance_db, data, "csv")
    counts = storage.counts(instance_db)
    second = ingest.import_data(instance_db, data, "csv")
    assert len(first.added) == 5 and second.added == [] and sorted(second.unchanged) == sorted(first.added)
    assert storage.counts(instance_db) == counts


@pytest.mark.slow   # 10,001 rows
def test_C15_report_names_the_last_row(instance_db):
    rows = [good_row(i) for i in range(10_000)] + [good_row(10_000)[:2] + ["nope"] + good_row(0)[3:]]
    with pytest.raises(ValidationError) as exc:
        ingest.import_data(instance_db, to_csv(rows), "csv")
    assert exc.value.errors[0].startswith("row 10002: area")


def test_C16_uploaded_file_name_is_never_a_path(editing):
    """The upload waits under a generated name; the client's name is only shown, escaped."""
    uploads = editing["folder"] / "uploads"
    name = "../../<b>app</b>.py"
    r = editing["editor"].post("/editor/import", data={
        "csrf_token": csrf_token(editing["editor"], "/editor/import"), "format": "csv",
        "file": (io.BytesIO(to_csv([good_row("c16")])), name)})
    page = r.get_data(as_text=True)
    assert r.status_code == 200, page[:300]
    assert "../../&lt;b&gt;app&lt;/b&gt;.py" in page and "<b>app" not in page
    assert sorted(p.suffix for p in uploads.iterdir()) == [".data", ".json"]
    assert all(re.fullmatch(r"[0-9a-f]{32}\.(data|json)", p.name) for p in uploads.iterdir())
    assert not (editing["folder"].parent / "app.py").exists() and not (editing["folder"] / "app.py").exists()


# --- G: GeoJSON import ------------------------------------------------------------------------------

def feature(geometry, i=1, **props):
    properties = {"id": f"geo-hardening-{i}", "title": f"GeoJSON test {i}", "area": "asgm", "countries": ["KEN"]}
    properties.update(props)
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def collection(*features, **extra):
    return json.dumps({"type": "FeatureCollection", "features": list(features), **extra}).encode()


def point(lon, lat):
    return {"type": "Point", "coordinates": [lon, lat]}


def nested_collections(depth):
    geom = point(0, 0)
    for _ in range(depth):
        geom = {"type": "GeometryCollection", "geometries": [geom]}
    return geom


SQUARE = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]
G_CASES = [
    ("G01-not-json", b"this is not json", "invalid JSON at line 1"),
    ("G01-truncated", collection(feature(point(1, 1)))[:-7], "invalid JSON"),
    ("G02-brackets", b"[" * 100_000, "nested too deeply"),
    ("G02-collections", b'{"type":"FeatureCollection","features":[{"type":"Feature","geometry":'
     + json.dumps(nested_collections(30)).encode() + b"}]}", "nested too deeply"),
    ("G02-2000-collections", b'{"type":"FeatureCollection","features":[{"type":"Feature","geometry":'
     + b'{"type":"GeometryCollection","geometries":[' * 2000 + b"]}" * 2000 + b"}]}", "nested too deeply"),
    ("G03-nan", collection(feature(point(1, 1))).replace(b"[1, 1]", b"[NaN, 1]"), "NaN is not allowed"),
    ("G03-infinity", collection(feature(point(1, 1))).replace(b"[1, 1]", b"[Infinity, 1]"), "not allowed"),
    ("G03-1e400", collection(feature(point(1, 1))).replace(b"[1, 1]", b"[1e400, 1]"), "out of range"),
    ("G04-feature", collection({"geometry": point(1, 1), "properties": {}}), "is not a GeoJSON Feature"),
    ("G04-geometry", collection(feature({"coordinates": [1, 1]})), "geometry type missing"),
    ("G05", collection(feature({"type": "Circle", "coordinates": [1, 1], "radius": 5})),
     "unsupported geometry type 'Circle'"),
    ("G06-500", collection(feature(point(500, 100))), "out of range"),
    ("G06-181", collection(feature(point(-181, 0))), "out of range"),
    ("G06-lat", collection(feature(point(0, 90.0001))), "out of range"),
    ("G07-strings", collection(feature({"type": "Point", "coordinates": ["1", "2"]})), "numbers"),
    ("G07-object", collection(feature({"type": "Point", "coordinates": {}})), "numbers"),
    ("G07-bool", collection(feature({"type": "Point", "coordinates": [True, False]})), "numbers"),
    ("G08-short-ring", collection(feature({"type": "Polygon", "coordinates": [SQUARE[:3]]})), "unsupported"),
    ("G08-unclosed", collection(feature({"type": "Polygon", "coordinates": [SQUARE[:4]]})), "unsupported"),
    ("G09-bowtie", collection(feature({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]})),
     "unsupported"),
    ("G10", collection(feature({"type": "Point", "coordinates": [1, 2, 3, 4, 5]})), "numbers"),
    ("G11-vertices", collection(feature({"type": "MultiPoint", "coordinates": [[0, 0]] * (readers.MAX_VERTICES + 1)})),
     f"at most {readers.MAX_VERTICES} positions"),
    ("G11-features", collection(*[{"type": "Feature"}] * (readers.MAX_FEATURES + 1)),
     f"the maximum is {readers.MAX_FEATURES}"),
    ("G13", collection(feature(point(1, 1)), crs={"type": "name", "properties": {"name": "EPSG:3857"}}), "WGS84"),
    ("G14-zip", b"PK\x03\x04\x14\x00\x00\x00../x" + b"\x00" * 40, "not text"),
    ("G15-vrt", b'<OGRVRTDataSource><OGRVRTLayer name="x"><SrcDataSource>/etc/passwd</SrcDataSource>'
     b"</OGRVRTLayer></OGRVRTDataSource>", "invalid JSON"),
    ("G15-kml", b'<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><NetworkLink><Link>'
     b"<href>http://evil.example/x.kml</href></Link></NetworkLink></kml>", "invalid JSON"),
    ("G-not-a-collection", json.dumps(feature(point(1, 1))).encode(), "FeatureCollection"),
    ("G-bad-property", collection(feature(point(1, 1), area="plutonium")), "'plutonium' is not allowed"),
    ("G-second-feature-bad", collection(feature(point(1, 1)), feature(point(1, 95), i=2)), "feature 2"),
]


@pytest.mark.parametrize("case, data, expected", G_CASES, ids=[c[0] for c in G_CASES])
def test_geojson_rejected_whole_by_import_data(instance, instance_db, case, data, expected):
    before, index_before = snapshot(instance / "registry.db"), index_fingerprint(instance / "index")
    with pytest.raises(ValidationError) as exc:
        ingest.import_data(instance_db, data, "geojson")
    assert expected in " | ".join(exc.value.errors)
    assert snapshot(instance / "registry.db") == before
    assert index_fingerprint(instance / "index") == index_before


GEO_CLI_CASES = [c for c in G_CASES if c[0] in ("G01-truncated", "G02-brackets", "G03-nan", "G06-500", "G13",
                                                "G15-vrt", "G-second-feature-bad")]


@pytest.mark.parametrize("case, data, expected", GEO_CLI_CASES, ids=[c[0] for c in GEO_CLI_CASES])
def test_geojson_rejected_whole_by_the_cli(instance, tmp_path, case, data, expected):
    path = tmp_path / "upload.geojson"
    path.write_bytes(data)
    before, index_before = snapshot(instance / "registry.db"), index_fingerprint(instance / "index")
    result = cli_import(instance, path)
    assert result.exit_code == 1
    assert "nothing was stored" in result.output and expected in result.output
    assert snapshot(instance / "registry.db") == before
    assert index_fingerprint(instance / "index") == index_before


def test_G12_markup_in_properties_is_stored_and_shown_as_text(instance, instance_db):
    evil = '<img src=x onerror="window.PWNED=1"> ${window.PWNED=1} </script><script>window.PWNED=1</script>'
    ingest.import_data(instance_db, collection(feature(point(36.8, -1.3), title=evil, summary=evil)), "geojson")
    assert storage.get_project(instance_db, "geo-hardening-1")["title"] == evil
    client = make_app(instance).test_client()
    for url in ("/projects/geo-hardening-1", "/projects?q=GeoJSON", "/projects"):
        response = client.get(url)
        page = response.get_data(as_text=True)
        assert response.status_code == 200, url   # an error page would pass the checks below
        assert "<img src=x" not in page and "<script>window.PWNED" not in page
    assert "&lt;img src=x" in client.get("/projects/geo-hardening-1").get_data(as_text=True)   # shown, as text
    assert client.get("/api/projects/geo-hardening-1").get_json()["title"] == evil


# --- F: editor forms (logged in as an editor unless stated; nothing stored on a refusal) ----------------

def project_form(client, **values):
    """The new-project form as a browser would send it, with `values` filled in (loc_1_lat -> loc-1-lat)."""
    fields = read_form(client.get("/editor/projects/new").get_data(as_text=True))
    values = dict({"area": "asgm", "loc_1_name": "Global", "loc_1_precision": "global"}, **values)
    for name, value in values.items():
        set_field(fields, name.replace("_", "-") if name[:4] in ("loc_", "src_") else name, value)
    return fields


def refused(editing, fields, status=400, url="/editor/projects/new", client="editor"):
    """Post the form; the answer must be `status` with a message, and nothing stored. Returns the page."""
    before = snapshot(editing["folder"] / "registry.db")
    response = post_form(editing[client] if isinstance(client, str) else client, url, fields)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert re.search(r'class="(error-message|field-error)"', response.get_data(as_text=True))   # says what is wrong
    assert snapshot(editing["folder"] / "registry.db") == before
    return html.unescape(response.get_data(as_text=True))


def field_error(page, name):
    block = re.search(rf'<div class="field-error" id="err-{name}">(.*?)</div>', page, re.S)
    assert block, f"no error shown at {name}"
    return block.group(1)


def test_F01_F02_post_without_or_with_a_foreign_csrf_token(editing):
    fields = project_form(editing["editor"], title="F01 project")
    without = [f for f in fields if f[0] != "csrf_token"]
    assert "did not come from this site" in refused(editing, without)
    foreign = set_field([list(f) for f in fields], "csrf_token", csrf_token(editing["app"].test_client()))
    assert "did not come from this site" in refused(editing, foreign)


def test_F03_anonymous_goes_to_login_and_an_editor_gets_403_on_admin_forms(editing):
    anonymous = editing["app"].test_client()
    before = snapshot(editing["folder"] / "registry.db")
    r = anonymous.post("/editor/projects/new", data={"csrf_token": csrf_token(anonymous), "title": "F03"})
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    r = editing["editor"].post("/admin/users", data={"csrf_token": csrf_token(editing["editor"], "/editor"),
                                                     "username": "f03-made-by-editor", "role": "admin"})
    assert_clear_error(r, 403)
    assert snapshot(editing["folder"] / "registry.db") == before


def test_F04_fields_outside_the_form_are_ignored(editing, tmp_path):
    """No ownership: every editor edits every record (decision); admin-only fields added to a form are ignored."""
    fields = project_form(editing["editor"], title="F04 project") + [["owner_id", "1"], ["role", "admin"],
                                                                     ["is_admin", "1"], ["version", "99"]]
    assert post_form(editing["editor"], "/editor/projects/new", fields).status_code == 302
    db = storage.connect(str(editing["folder"] / "registry.db"))
    try:
        assert db.execute("SELECT role FROM users WHERE username = 'f-editor'").fetchone()[0] == "editor"
        assert storage.get_project(db, "f04-project")["title"] == "F04 project"
    finally:
        db.conn.close()


def test_F05_a_title_of_one_megabyte(editing):
    page = refused(editing, project_form(editing["editor"], title="x" * 1_000_000))
    assert "is 1000000 characters long; the maximum is 200" in field_error(page, "title")


F_MARKUP = ["<img src=x onerror=alert(1)>", "${alert(1)} `backticks`",
            '<iframe src="https://evil.example"></iframe> <svg onload=alert(1)> [x](javascript:alert(1))']


@pytest.mark.parametrize("case, text", list(zip(("F06", "F07", "F13"), F_MARKUP)), ids=["F06", "F07", "F13"])
def test_F06_F07_F13_markup_is_stored_verbatim_and_shown_as_text(editing, case, text):
    pid = f"{case.lower()}-markup"
    fields = project_form(editing["editor"], id=pid, title=f"{case} {text}", description=text, loc_1_name=text)
    assert post_form(editing["editor"], "/editor/projects/new", fields).status_code == 302
    client = editing["editor"]
    assert client.get(f"/api/projects/{pid}").get_json()["description"] == text        # verbatim
    for url in (f"/projects/{pid}", f"/projects?q={case}", "/map", f"/editor/projects/{pid}/edit"):
        page = client.get(url).get_data(as_text=True)
        assert "<img src=x" not in page and "<iframe src" not in page and "<svg onload" not in page, url
        assert 'href="javascript:' not in page, url
        scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", outside_data(page), flags=re.S)
        assert not any("alert(1)" in script for script in scripts), url     # text only, never in a script
    exported = list(csv.reader(io.StringIO(client.get(f"/projects.csv?q={case}").get_data(as_text=True))))
    column = exported[0].index("description")
    assert any(row[0] == pid and row[column] == text for row in exported[1:])   # the CSV keeps the text as it is


@pytest.mark.parametrize("title", ["bad\x00title", "bad\x07title"], ids=["F08-nul", "F08-bell"])
def test_F08_control_characters_are_refused(editing, title):
    assert "control characters" in field_error(refused(editing, project_form(editing["editor"], title=title)), "title")


def test_F08_bidi_and_zero_width_characters_are_removed(editing):
    """Documented rule (core/validate.py INVISIBLE_RE): invisible and direction-override characters go."""
    fields = project_form(editing["editor"], id="f08-invisible", title="gold\u202emining\u200b here\ufeff")
    assert post_form(editing["editor"], "/editor/projects/new", fields).status_code == 302
    assert editing["editor"].get("/api/projects/f08-invisible").get_json()["title"] == "goldmining here"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,<b>x</b>", "JaVaScRiPt:alert(1)",
                                 "\tjavascript:alert(1)", "vbscript:x", "//evil.example", "ftp://x.example"])
def test_F09_only_http_and_https_web_addresses(editing, url):
    page = refused(editing, project_form(editing["editor"], title="F09", website=url))
    assert "only http:// and https:// web addresses are allowed" in field_error(page, "website")


@pytest.mark.parametrize("lat", ["nan", "inf", "1e309", "91", "-180.0001", "\uff11\uff12.5", "\u0661\u0662", "12_000",
                                 "0x10", "1" * 400])
def test_F10_latitudes_that_are_not_decimals_in_range(editing, lat):
    fields = project_form(editing["editor"], title="F10", loc_1_precision="site", loc_1_lat=lat, loc_1_lon="30")
    message = field_error(refused(editing, fields), "loc-1-lat")
    assert "is not a decimal number" in message or "is out of range" in message, message


@pytest.mark.parametrize("year", ["2023-02-30", "0000-01-01", "9999-99-99", "yesterday", "0000", "1899", "2101"])
def test_F11_dates_that_are_not_years(editing, year):
    """The registry keeps years, not dates: anything but a year from 1900 to 2100 is refused."""
    assert "is not a year between 1900 and 2100" in field_error(
        refused(editing, project_form(editing["editor"], title="F11", start_year=year)), "start_year")


@pytest.mark.parametrize("name, value", [("status", "bogus"), ("kind", "<b>x</b>"), ("area", "plutonium"),
                                         ("loc_1_precision", "everywhere")])
def test_F12_values_outside_their_list(editing, name, value):
    page = refused(editing, project_form(editing["editor"], title="F12", **{name: value}))
    assert "is not allowed; use one of" in field_error(page, name.replace("_", "-") if name[:4] == "loc_" else name)


def test_F14_a_double_submit_stores_one_record(editing):
    fields = project_form(editing["editor"], id="f14-once", title="F14 once")
    assert post_form(editing["editor"], "/editor/projects/new", fields).status_code == 302
    page = refused(editing, fields)        # the same form again: the id is taken, nothing more stored
    assert "already the id of another project" in field_error(page, "id")


def test_F15_concurrent_edits_get_409(editing):
    fields = project_form(editing["editor"], id="f15-shared", title="F15 shared")
    assert post_form(editing["editor"], "/editor/projects/new", fields).status_code == 302
    url = "/editor/projects/f15-shared/edit"
    first, second = (read_form(c.get(url).get_data(as_text=True)) for c in (editing["editor"], editing["admin"]))
    assert post_form(editing["admin"], url, set_field(second, "title", "F15 first")).status_code == 302
    page = refused(editing, set_field(first, "title", "F15 late"), 409, url)
    assert "edited by someone else since you opened it" in page and "F15 late" in page    # the input is kept


# --- M: map rendering -----------------------------------------------------------------------------------

M_STRINGS = {"M01": '<img src=x onerror="window.PWNED=1">', "M02": "${window.PWNED=1}", "M03": "a`b",
             "M04": "</script><script>window.PWNED=1</script>", "M05": '"><svg onload=window.PWNED=1>',
             "M06": "javascript:window.PWNED=1", "M07": "'); window.PWNED=1; //"}
M_PAGES = ["/projects/m-rendering", "/projects?q=rendering", "/map", "/embed/map", "/map?q=rendering",
           "/map/download.html?q=rendering", "/map/newsletter?q=rendering", "/organisations/m-rendering-org"]


def outside_data(page):
    """The page without its JSON data blocks (data is not markup: the map fills popups with textContent)."""
    return re.sub(r'<script[^>]*type="application/(?:json|geo\+json)"[^>]*>.*?</script>', "", page, flags=re.S)


def test_M01_M07_map_and_pages_render_every_string_as_text(editing):
    """Every string as a project's title, summary and place name, an organisation's name, a keyword (a layer
    of the list): no page carries it as markup or script. tests/test_browser_maps.py runs the map pages in
    chromium with such strings and checks that window.PWNED stays undefined."""
    text = " ".join(M_STRINGS.values())
    org = {"id": "m-rendering-org", "name": "M rendering org " + text[:150], "type": "ngo"}
    project = {"id": "m-rendering", "title": "M rendering " + text[:180], "summary": text, "area": "waste",
               "description": text, "keywords": list(M_STRINGS.values()), "countries": ["KEN"],
               "locations": [{"name": text[:190], "precision": "site", "lat": -1.3, "lon": 36.8}],
               "organisations": [{"org": "m-rendering-org", "role": "lead"}]}
    db = storage.connect(str(editing["folder"] / "registry.db"))
    try:
        ingest.import_data(db, json.dumps({"organisations": [org], "projects": [project]}).encode(), "json")
        with pytest.raises(ValidationError) as exc:      # M06 as a link: never stored
            ingest.import_data(db, json.dumps({"projects": [dict(project, website=M_STRINGS["M06"])]}).encode(), "json")
        assert "only http:// and https://" in exc.value.errors[0]
    finally:
        db.conn.close()
    with editing["app"].app_context():
        from registry.search import index as search
        from registry.web.context import index_settings
        search.update_projects(index_settings(editing["app"]), ["m-rendering"], organisations=["m-rendering-org"])
    client = editing["app"].test_client()
    for url in M_PAGES:
        response = client.get(url)
        assert response.status_code == 200, url
        page = outside_data(response.get_data(as_text=True))
        for case, string in M_STRINGS.items():
            if any(ch in string for ch in "<>\"'"):
                assert string not in page, (url, case)
        for script in re.findall(r"<script\b[^>]*>(.*?)</script>", page, flags=re.S):
            # data inside scripts only as JSON strings ("...", markup escaped as \u003c), never as code or in
            # a template literal (`...${}...`: folium's popup trap); chromium runs them in test_browser_maps
            assert "PWNED" not in re.sub(r'"(?:[^"\\]|\\.)*"', '""', script), url
    data = client.get("/map/data.json?q=rendering").get_data(as_text=True)
    assert "</script>" not in data and "<img" not in data      # HTML-safe JSON (\u003c...)


# --- property-based: whatever the file, only ValidationError, and nothing stored when it is raised ---

@pytest.fixture(scope="module")
def fuzz_db(seeded_instance, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz") / "instance"
    shutil.copytree(seeded_instance, folder)
    conn = storage.connect(str(folder / "registry.db"))
    yield folder / "registry.db", conn
    conn.conn.close()


def check_all_or_nothing(db_path, conn, data, fmt):
    before = snapshot(db_path)
    try:
        ingest.import_data(conn, data, fmt)
    except ValidationError as exc:
        assert exc.errors and all(isinstance(e, str) and e for e in exc.errors)
        assert snapshot(db_path) == before


FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
cell = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["asgm", "waste", "KEN", "kenya", "ongoing", "2020", "1e309", "nan", "-1.5", "Migori|-1|34|site",
                     "Kenya|||country", "World|||global", "gef", "agc;gef", "https://example.org", "javascript:x"]),
    st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True),
)


@FUZZ
@given(header=st.lists(st.sampled_from(readers.CSV_COLUMNS), min_size=1, max_size=8, unique=True)
       .map(lambda h: ["id", "title", "area"] + [c for c in h if c not in ("id", "title", "area")]),
       rows=st.lists(st.lists(cell, min_size=1, max_size=10), max_size=6))
def test_csv_rows_property(fuzz_db, header, rows):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    check_all_or_nothing(*fuzz_db, out.getvalue().encode(), "csv")


@FUZZ
@given(data=st.binary(max_size=300), fmt=st.sampled_from(ingest.FORMATS))
def test_random_bytes_property(fuzz_db, data, fmt):
    check_all_or_nothing(*fuzz_db, data, fmt)


number = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-1000, 1000),
                   st.floats(-180, 180), st.text(max_size=3), st.booleans(), st.none())
position = st.lists(number, max_size=5)
geometry = st.one_of(
    st.none(), st.text(max_size=5),
    st.fixed_dictionaries({"type": st.sampled_from(["Point", "MultiPoint", "Polygon", "LineString", "Circle",
                                                    "GeometryCollection", ""]),
                           "coordinates": st.one_of(position, st.lists(position, max_size=4), number)}),
)
properties = st.one_of(st.none(), st.fixed_dictionaries(
    {"id": st.one_of(st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True), st.text(max_size=10))},
    optional={"title": st.text(max_size=30), "area": st.sampled_from(["asgm", "coal", "plutonium", ""]),
              "countries": st.one_of(st.lists(st.sampled_from(["KEN", "BRA", "XXX", "kenya"]), max_size=3),
                                     st.text(max_size=5)),
              "status": st.text(max_size=10), "location_names": st.lists(st.text(max_size=10), max_size=3),
              "precision": st.sampled_from(["site", "country", "region", "nowhere"]),
              "organisations": st.lists(st.fixed_dictionaries({"org": st.sampled_from(["gef", "agc", "ghost"]),
                                                               "role": st.sampled_from(["funder", "king"])}),
                                        max_size=2)}))
geo_feature = st.one_of(
    st.fixed_dictionaries({"type": st.just("Feature"), "geometry": geometry, "properties": properties}),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.text(max_size=5),
)


@FUZZ
@given(features=st.lists(geo_feature, max_size=4),
       extra=st.dictionaries(st.sampled_from(["crs", "bbox", "name"]), st.one_of(st.text(max_size=10), st.none()),
                             max_size=2))
def test_geojson_documents_property(fuzz_db, features, extra):
    doc = {"type": "FeatureCollection", "features": features, **extra}
    check_all_or_nothing(*fuzz_db, json.dumps(doc, allow_nan=True).encode(), "geojson")
