"""axe-core (issue 17) on every public page, at desktop and at phone width, in a real browser (Debian's
chromium through Playwright) against the real app on a copy of the registry with every update applied:
0 violations of the WCAG 2.0 and 2.1 A and AA rules. axe-core is vendored under tests/vendor/axe-core/
(see its README), so nothing is fetched at test time.

Every page is checked in each interface language (English, French, Spanish: issue 13), through `?lang=`.

test_every_public_page_is_checked fails when a GET route is neither among the pages checked here nor
listed, with its reason, as something that is no public page: a new page cannot be forgotten."""
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import make_app, serve
from registry.core.language import LANGUAGES
from registry.core.query import with_query
from registry.core.sources import REPORT_SOURCE_ID
from registry.search import index as search
from registry.store import db as storage

pytestmark = pytest.mark.slow   # a real browser
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
MAP_READY = ".folium-map[data-ready]"
LAC = "419"

# name -> path; the path may name a record picked from the database by `examples` ({project} ...)
PAGES = {
    "home": "/",
    "projects": "/projects",
    "search results": "/projects?q=gold",
    "project (map, sources)": "/projects/{project}",
    "organisations": "/organisations",
    "organisation": "/organisations/{organisation}",
    "countries": "/countries",
    "country": "/countries/{country}",
    "regions": "/regions",
    "region": f"/regions/{LAC}",
    "area": "/areas/asgm",
    "sources": "/sources",
    "source": "/sources/{source}",
    "the report as a source": f"/sources/{REPORT_SOURCE_ID}",
    "map": "/map",
    "map of a region": f"/map?region={LAC}",
    "embedded map": "/embed/map",
    "downloadable map": "/map/download.html",
    "newsletter snippet": f"/map/newsletter?region={LAC}",
    "stats": "/stats",
    "changes": "/changes",
    "about": "/about",
    "propose": "/propose",
    "login": "/login",
    "not found": "/no-such-page",
}
# the forms anyone can send, as they come back when sent empty: their error summaries and invalid fields
SENT_EMPTY = {"propose, sent empty": "/propose", "login, sent empty": "/login"}

# GET routes that are no public HTML page, each with why; every other GET route must be in PAGES
NOT_PAGES = {
    "static": "files",
    "api.": "JSON API",
    "changes.changes_api": "JSON API",
    "views.export": "CSV, JSON, GeoJSON and IATI exports",
    "feeds.projects": "Atom feed",
    "maps.data": "map data (JSON)",
    "maps.countries": "country boundaries (GeoJSON)",
    "maps.png": "PNG map",
    "maps.newsletter_text": "plain-text newsletter snippet",
    "stats.chart_csv": "chart data (CSV)",
    "stats.chart_png": "chart image (PNG)",
    "auth.": "for signed-in users only",
    "users.": "for signed-in users only",
    "editor.": "for signed-in users only",
    "history.": "for signed-in users only",
    "webimport.": "for signed-in users only",
    "quality.": "for signed-in users only",
    "moderation.proposals": "for signed-in users only",   # (moderation.propose is public: PAGES)
    "moderation.proposal": "for signed-in users only",
}


def examples(db):
    """Records whose pages show the most: a project with a map point and the most sources cited, the
    organisation and country with the most projects, the later source (not the report) cited by the most projects."""
    one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
    return {
        "project": one("""SELECT p.id FROM projects p JOIN sources s ON s.project_id = p.id
                          WHERE p.id IN (SELECT project_id FROM locations WHERE lat IS NOT NULL)
                          GROUP BY p.id ORDER BY count(DISTINCT s.document) DESC, count(*) DESC, p.id LIMIT 1"""),
        "organisation": one("""SELECT org_id FROM roles GROUP BY org_id
                               ORDER BY count(DISTINCT project_id) DESC, org_id LIMIT 1"""),
        "country": one("""SELECT iso3 FROM project_countries GROUP BY iso3
                          ORDER BY count(*) DESC, iso3 LIMIT 1"""),
        "source": db.execute("""SELECT document FROM sources WHERE document IS NOT NULL AND document NOT IN ('', ?)
                                GROUP BY document ORDER BY count(DISTINCT project_id) DESC, document LIMIT 1""",
                             [REPORT_SOURCE_ID]).fetchone()[0],
    }


@pytest.fixture(scope="module")
def site(updated_instance, tmp_path_factory):
    folder = tmp_path_factory.mktemp("axe") / "instance"
    shutil.copytree(updated_instance[0], folder)
    app = make_app(folder)
    with app.app_context():
        from registry.web.context import index_settings
        search.rebuild(index_settings())   # the updated instance's index is the seed's
    db = storage.connect(str(folder / "registry.db"))
    try:
        ids = examples(db)
    finally:
        db.conn.close()
    server, base = serve(app)
    yield {"base": base, "app": app, "ids": ids}
    server.shutdown()


def run_axe(page):
    page.add_script_tag(path=str(AXE))
    return page.evaluate("""async (tags) => {
        const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
        return {passes: result.passes.length,
                violations: result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.map(n => ({target: n.target.join(" "), html: n.html.slice(0, 200),
                                             summary: n.failureSummary}))}))};
    }""", WCAG_AA)


def described(violations):
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        lines += [f"    {n['target']}\n        {n['html']}\n        {(n['summary'] or '').replace(chr(10), chr(10) + ' ' * 8)}"
                  for n in v["nodes"]]
    return "\n".join(lines)


def open_page(page, url):
    """Open `url` and wait until what its scripts draw is there (a map's points, most of all)."""
    page.goto(url, wait_until="load")
    if page.locator(".folium-map").count():
        page.wait_for_selector(MAP_READY, state="attached", timeout=15000)


def send_empty(page):
    """Send the page's form as it is, past the browser's own checks of `required` fields (form.submit()
    skips them), so the server's answer with its error summary is what gets checked."""
    with page.expect_navigation() as answer:
        page.evaluate("() => { const forms = document.querySelectorAll('main form[method=post]');"
                      " forms[forms.length - 1].submit(); }")
    assert answer.value.request.method == "POST" and answer.value.status in (200, 400, 422), answer.value.status
    page.wait_for_load_state("load")


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("width", ["desktop", "phone"])
@pytest.mark.parametrize("name", list(PAGES) + list(SENT_EMPTY))
def test_no_wcag_aa_violations(browser, site, name, width, lang):
    context = browser.new_context(**(DESKTOP if width == "desktop" else PHONE))
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        path = with_query({**PAGES, **SENT_EMPTY}[name].format(**site["ids"]), f"lang={lang}")
        url = site["base"] + path
        if name == "downloadable map":   # served as a file to save (an attachment): open what one saves
            page.set_content(site["app"].test_client().get(path).get_data(as_text=True), wait_until="load")
            page.wait_for_selector(MAP_READY, state="attached", timeout=15000)
        else:
            open_page(page, url)
        if name in SENT_EMPTY:
            send_empty(page)
        result = run_axe(page)
    finally:
        context.close()
    violations = result["violations"]
    assert result["passes"] >= 10, f"{url}: axe checked almost nothing ({result['passes']} rules passed)"
    assert not violations, f"{url} at {width} width:\n{described(violations)}"
    if name != "downloadable map":
        assert f'<html lang="{lang}"' in site["app"].test_client().get(path).get_data(as_text=True)[:300]
    assert not errors, f"{url}: script errors {errors}"


def _endpoints_of_pages(app, ids):
    adapter = app.url_map.bind("localhost")
    found = set()
    for path in PAGES.values():
        parts = urlsplit(path.format(**ids))
        try:
            found.add(adapter.match(parts.path, method="GET")[0])
        except Exception:   # the 404 page: no route
            pass
    return found


def _not_a_page(endpoint):
    return next((why for prefix, why in NOT_PAGES.items()
                 if endpoint == prefix or (prefix.endswith(".") and endpoint.startswith(prefix))), None)


def test_every_public_page_is_checked(site):
    """Every GET route is checked above or listed in NOT_PAGES; a route without arguments listed there is
    indeed no public HTML page (not HTML, or sends a visitor who is not signed in to /login)."""
    app = site["app"]
    checked = _endpoints_of_pages(app, site["ids"])
    client = app.test_client()
    forgotten, wrongly_excluded = [], []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in checked:
            continue
        why = _not_a_page(rule.endpoint)
        if why is None:
            forgotten.append(rule.rule)
        elif not rule.arguments:
            response = client.get(rule.rule)
            public_html = response.status_code == 200 and response.mimetype == "text/html"
            if public_html:
                wrongly_excluded.append(f"{rule.rule} ({why})")
    assert not forgotten, f"public pages not checked by axe: add them to PAGES (or, if no page, NOT_PAGES): {forgotten}"
    assert not wrongly_excluded, f"these serve HTML to anyone: add them to PAGES: {wrongly_excluded}"
    assert len(checked) >= 20, checked   # the list itself resolves to routes (no typo in PAGES)
