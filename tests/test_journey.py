"""Issue 12's journey, in a real browser: "Which projects does the GEF fund in Latin America, and can I put a
map of them in our e-mail newsletter?" Choose GEF and Latin America and the Caribbean in the list's filters,
open the map, open the share panel, open the newsletter snippet; what each step shows is checked against the
database (the registry with every update applied), never against written-in counts."""
import re
import shutil
from urllib.parse import parse_qs, urlparse

import pytest

from conftest import make_app, serve
from registry.core import regions
from registry.search import index as search
from registry.store import db as storage

pytestmark = pytest.mark.slow   # a real browser
LAC = "419"


@pytest.fixture(scope="module")
def site(updated_instance, tmp_path_factory):
    folder = tmp_path_factory.mktemp("journey") / "instance"
    shutil.copytree(updated_instance[0], folder)
    app = make_app(folder)
    with app.app_context():
        from registry.web.context import index_settings
        search.rebuild(index_settings())
    server, base = serve(app)
    yield {"base": base, "app": app, "db": storage.connect(str(folder / "registry.db"))}
    server.shutdown()


def gef_projects_in_lac(db):
    """The GEF-funded projects with a country of 419 or a region location inside it, by plain SQL."""
    members = sorted(regions.members(LAC))
    inside = [r.code for r in regions.all_regions() if r.members and r.members <= regions.members(LAC)]
    marks = lambda xs: ",".join("?" * len(xs))  # noqa: E731
    return {r[0] for r in db.execute(
        f"""SELECT DISTINCT r.project_id FROM roles r WHERE r.role = 'funder' AND r.org_id = 'gef' AND (
              r.project_id IN (SELECT project_id FROM project_countries WHERE iso3 IN ({marks(members)}))
              OR r.project_id IN (SELECT project_id FROM locations WHERE region IN ({marks(inside)})))""",
        members + inside)}


def choose(page, facet_title, label):
    """Click a value of a facet box of the list (showing all of its values first when it is not shown)."""
    box = page.locator("details.facet", has=page.locator("summary", has_text=facet_title))
    link = box.get_by_role("link", name=label, exact=True)
    if not link.count():
        box.get_by_role("link", name=re.compile(r"^Show all")).click()
        page.wait_for_load_state()
        box = page.locator("details.facet", has=page.locator("summary", has_text=facet_title))
        link = box.get_by_role("link", name=label, exact=True)
    link.click()
    page.wait_for_load_state()


def test_from_a_question_to_a_newsletter_snippet(page, site):
    expected = gef_projects_in_lac(site["db"])
    assert len(expected) > 3
    page.goto(site["base"] + "/projects")
    choose(page, "Funder", "GEF")
    choose(page, "Region", "Latin America and the Caribbean")

    query = parse_qs(urlparse(page.url).query)
    assert query["funder"] == ["gef"] and query["region"] == [LAC]
    summary = page.locator("p.summary").inner_text()
    sentence = f"{len(expected)} projects funded by GEF in Latin America and the Caribbean"
    assert summary.startswith(sentence)

    page.get_by_role("link", name="Show on the map").click()
    page.wait_for_selector(".folium-map[data-ready]", timeout=15000)
    assert sentence in page.inner_text("main")
    shown = page.evaluate("() => registryMaps[0].data.projects.map(p => p.id)")
    assert set(shown) == expected
    bounds = page.evaluate("() => registryMaps[0].map.getBounds().toBBoxString()")
    west, south, east, north = map(float, bounds.split(","))
    # the map opens on the Americas (the selection's extent, widened to the window's shape), not the world
    assert east - west < 180 and -110 < (west + east) / 2 < -40 and -60 < south and north < 45, bounds

    page.locator(".map-share summary").click()
    png = page.locator(".map-share a[href*='map.png']").get_attribute("href")
    assert parse_qs(urlparse(png).query)["region"] == [LAC]
    page.locator(".map-share").get_by_role("link", name="Newsletter snippet").click()
    page.wait_for_load_state()
    snippet = page.content()
    assert sentence in snippet
    img = page.locator("img[src*='map.png']").first
    assert img.get_attribute("width") == "600"
    src = img.get_attribute("src")
    params = parse_qs(urlparse(src).query)
    assert params["funder"] == ["gef"] and params["region"] == [LAC]
    image = page.request.get(src if src.startswith("http") else site["base"] + src)
    assert image.status == 200 and image.headers["content-type"] == "image/png"
    assert page.errors == []
