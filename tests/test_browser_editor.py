"""The editing forms in a real browser (Debian chromium through Playwright) against the real app served
on 127.0.0.1, on a private copy of the seeded instance."""
import shutil

import pytest
from playwright.sync_api import expect

from conftest import PASSWORD, add_user, make_app, serve
from registry.store import editing as editing_db
from registry.store import db as storage

pytestmark = pytest.mark.slow   # a real browser
@pytest.fixture(scope="module")
def site(seeded_instance, tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser-editor") / "instance"
    shutil.copytree(seeded_instance, folder)
    app = make_app(folder, UPLOAD_DIR=str(folder / "uploads"))
    add_user(app, "writer", "editor")
    server, base = serve(app)
    yield {"base": base, "app": app}
    server.shutdown()


@pytest.fixture
def page(browser, site):
    context = browser.new_context(base_url=site["base"], viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    yield page
    assert page.errors == []
    context.close()


def log_in(page):
    page.goto("/login")
    page.fill("#f-username", "writer")
    page.fill("#f-password", PASSWORD)
    page.click("button:text('Log in')")
    expect(page.locator("h1")).to_have_text("Editing the registry")


def test_log_in_create_a_project_and_see_it_on_its_page(page, site):
    org_id, org_name = storage.connect(site["app"].config["DATABASE"]).execute(
        "SELECT id, name FROM organisations ORDER BY name LIMIT 1").fetchone()
    log_in(page)
    page.click("nav.editor-nav >> text=New project")
    page.fill("#f-title", "Browser-made mercury survey")
    page.select_option("#f-area", "waste")
    page.select_option("#f-status", "planned")
    page.fill("#f-countries", "Kenya")
    page.fill("#f-loc-1-name", "Mombasa port")
    page.select_option("#f-loc-1-precision", "site")
    page.fill("#f-loc-1-lat", "-4.05")
    page.fill("#f-loc-1-lon", "39.67")
    page.fill("#f-org-1-org", org_id)
    page.select_option("#f-org-1-role", "lead")
    page.click("button:text('Create project')")

    expect(page).to_have_url(f"{site['base']}/projects/browser-made-mercury-survey")
    expect(page.locator("h1")).to_have_text("Browser-made mercury survey")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("Kenya")
    expect(facts).to_contain_text("planned")
    expect(page.locator("ul.locations")).to_contain_text("Mombasa port")
    expect(page.locator("ul.locations .coords")).to_have_text("-4.050, 39.670")
    expect(page.locator("article.record")).to_contain_text(org_name)
    expect(page.get_by_role("link", name="Edit", exact=True)).to_be_visible()


def test_a_validation_error_shows_next_to_its_field(page, site):
    log_in(page)
    page.goto("/editor/projects/new")
    page.fill("#f-title", "Out of range")
    page.select_option("#f-area", "coal")
    page.fill("#f-loc-1-name", "Nowhere")
    page.select_option("#f-loc-1-precision", "site")
    page.fill("#f-loc-1-lat", "95")
    page.fill("#f-loc-1-lon", "10")
    page.fill("#f-website", "javascript:alert(1)")
    page.click("button:text('Create project')")

    expect(page.locator(".form-errors")).to_contain_text("Nothing was saved")
    error = page.locator("#err-loc-1-lat")
    expect(error).to_be_visible()
    expect(error).to_contain_text("between -90 and 90")
    lat = page.locator("#f-loc-1-lat")
    expect(lat).to_have_attribute("aria-invalid", "true")
    expect(lat).to_have_value("95")                       # what was typed is kept
    assert page.evaluate("() => document.getElementById('err-loc-1-lat').parentElement === "
                         "document.getElementById('f-loc-1-lat').parentElement")
    expect(page.locator("#err-website")).to_contain_text("only http:// and https://")
    expect(page.locator("#f-title")).to_have_value("Out of range")
    db = storage.connect(site["app"].config["DATABASE"])
    assert db.execute("SELECT count(*) FROM projects WHERE title = 'Out of range'").fetchone()[0] == 0


def test_propose_a_project_without_an_account(page, site):
    page.goto("/propose")
    expect(page.locator("#f-homepage")).not_to_be_in_viewport()
    page.fill("#f-title", "Proposed from a browser")
    page.select_option("#f-area", "products")
    page.fill("#f-loc-1-name", "Global")
    page.select_option("#f-loc-1-precision", "global")
    page.click("button:text('Send the proposal')")
    expect(page.locator("h1")).to_have_text("Thank you")
    db = storage.connect(site["app"].config["DATABASE"])
    assert [p["data"]["title"] for p in editing_db.list_proposals(db)] == ["Proposed from a browser"]


def test_log_out_from_the_menu(page):
    log_in(page)
    page.click("header.site button:text('Log out')")
    expect(page.locator("header.site nav:not(.languages)")).to_contain_text("Log in")
    page.goto("/editor")
    expect(page.locator("h1")).to_have_text("Log in")
