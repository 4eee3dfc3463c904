"""Phones (issue 12): at 390 x 844 the project list shows its first result on the first screen, with the
filters behind a "Filters (N)" button; no page is wider than the screen. A real browser (Debian's chromium
through Playwright) against the real app on a copy of the seeded registry."""
import shutil

import pytest

from conftest import make_app, serve

pytestmark = pytest.mark.slow   # a real browser
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
WIDE = {"viewport": {"width": 1280, "height": 900}}
# three active filters that keep results for "gold"
THREE_FILTERS = "q=gold&area=asgm&year_from=1990&year_to=2100"


@pytest.fixture(scope="module")
def site(seeded_instance, tmp_path_factory):
    folder = tmp_path_factory.mktemp("phone") / "instance"
    shutil.copytree(seeded_instance, folder)
    server, base = serve(make_app(folder))
    yield base
    server.shutdown()


def new_page(browser, device):
    context = browser.new_context(**device)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return context, page


@pytest.fixture
def phone(browser):
    context, page = new_page(browser, PHONE)
    yield page
    context.close()


@pytest.fixture
def wide(browser):
    context, page = new_page(browser, WIDE)
    yield page
    context.close()


def box(page, selector):
    return page.locator(selector).first.bounding_box()


def horizontal_overflow(page):
    """How many CSS pixels the page is wider than the screen (0 when it fits)."""
    return page.evaluate("() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
                         " - window.innerWidth")


def test_the_first_result_is_on_the_first_screen_of_a_phone(phone, site):
    phone.goto(site + "/projects?q=gold")
    first = box(phone, "ol.results > li")
    assert first is not None, "no result for gold"
    assert 0 <= first["y"] and first["y"] + 40 <= 844, f"the first result starts at {first['y']} px"
    assert not phone.locator("form.filters").is_visible()   # the filters wait behind their button
    assert phone.locator("summary.filter-toggle").inner_text().strip() == "Filters (0)"
    phone.screenshot(path="/tmp/phone-projects.png")
    assert phone.errors == []


def test_the_filters_button_counts_the_active_filters_and_opens_the_panel(phone, site):
    phone.goto(site + "/projects?" + THREE_FILTERS)
    toggle = phone.locator("summary.filter-toggle")
    assert toggle.inner_text().strip() == "Filters (3)"
    assert box(phone, "ol.results > li")["y"] < 844
    assert not phone.locator("form.filters").is_visible()
    toggle.click()
    assert phone.locator("form.filters").is_visible()
    assert phone.locator(".facets details.facet").first.is_visible()
    toggle.click()
    assert not phone.locator("form.filters").is_visible()
    # with the keyboard: the button takes the focus and Enter opens the panel
    toggle.focus()
    phone.keyboard.press("Enter")
    assert phone.locator("form.filters").is_visible()
    phone.screenshot(path="/tmp/phone-filters-open.png")


def test_the_filter_panel_is_open_on_a_wide_screen(wide, site):
    wide.goto(site + "/projects?" + THREE_FILTERS)
    assert wide.locator("form.filters").is_visible()
    assert wide.locator("summary.filter-toggle").inner_text().strip() == "Filters (3)"


def test_the_filter_panel_opens_without_javascript(browser, site):
    context = browser.new_context(java_script_enabled=False, **PHONE)
    try:
        page = context.new_page()
        page.goto(site + "/projects?" + THREE_FILTERS)
        assert not page.locator("form.filters").is_visible()
        page.locator("summary.filter-toggle").click()
        assert page.locator("form.filters").is_visible()
    finally:
        context.close()


def test_no_page_is_wider_than_a_phone(phone, site):
    phone.goto(site + "/projects?q=gold")
    first = phone.locator("ol.results > li a").first.get_attribute("href")
    for url in ("/projects?q=gold", "/projects?" + THREE_FILTERS, first, "/map", "/map?area=asgm", "/about",
                "/organisations", "/countries", "/no-such-page"):
        phone.goto(site + url)
        assert horizontal_overflow(phone) <= 0, f"{url} is {horizontal_overflow(phone)} px wider than the phone"


def test_the_map_is_on_the_first_screen_of_a_phone(phone, site):
    phone.goto(site + "/map?area=asgm")
    phone.wait_for_selector(".folium-map[data-ready]", timeout=15000)
    m = box(phone, ".registry-map-full")
    assert m["y"] < 844 / 2, f"the map starts at {m['y']} px"
    assert min(m["y"] + m["height"], 844) - m["y"] >= 300, "less than 300 px of the map on the first screen"
    assert m["x"] >= 0 and m["x"] + m["width"] <= 390
    phone.screenshot(path="/tmp/phone-map.png")
    assert phone.errors == []
