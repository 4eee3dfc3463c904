"""The map with a keyboard and as a screen reader reads it (issue 17), in a real browser against the real app
(fixtures of tests/test_browser_maps.py: the seeded instance with its extra projects)."""
import pytest

from test_browser_maps import open_map, site  # noqa: F401  (fixtures; `page` is conftest's)

pytestmark = pytest.mark.slow   # a real browser


def test_located_list_holds_exactly_the_projects_drawn(page, site):
    open_map(page, site["base"] + "/map?area=asgm")
    drawn = page.evaluate("() => [...new Set(registryMaps[0].data.points.map(p => p.project.id))].sort()")
    listed = page.eval_on_selector_all("#map-located li[data-project]", "els => els.map(e => e.dataset.project)")
    assert drawn and sorted(set(listed)) == drawn
    hrefs = page.eval_on_selector_all("#map-located li a", "els => els.map(e => e.getAttribute('href'))")
    assert all("/projects/" in h or "/project" in h for h in hrefs)
    countries = page.eval_on_selector_all(".map-located-place h3 a", "els => els.map(e => e.href)")
    assert countries and all("area=asgm" in h and "country=" in h for h in countries)


def test_clusters_are_named_and_focusable(page, site):
    open_map(page, site["base"] + "/map")
    page.wait_for_selector(".map-cluster", timeout=5000)
    icons = page.eval_on_selector_all(".map-cluster", "els => els.map(e => [e.getAttribute('aria-label'), e.tabIndex, e.getAttribute('role')])")
    assert icons
    for label, tabindex, role in icons:
        assert label.endswith(": zoom in") and " project" in label and tabindex == 0 and role == "button"
    assert any(" near " in label for label, _, _ in icons)
    zoom = page.evaluate("() => registryMaps[0].map.getZoom()")
    page.focus(".map-cluster")
    page.keyboard.press("Enter")
    # Enter does what a click does: zoom in, or spread out points that share one place (at the last level)
    page.wait_for_function(f"() => registryMaps[0].map.getZoom() > {zoom} || !!registryMaps[0].cluster._spiderfied",
                           timeout=5000)


def test_popup_takes_focus_and_escape_returns_it(page, site):
    open_map(page, site["base"] + "/map?area=asgm")
    button = page.locator("#map-located .map-show").first
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(".leaflet-popup-content .map-popup-title", timeout=8000)
    page.wait_for_function("() => document.activeElement && document.activeElement.closest('.leaflet-popup')",
                           timeout=3000)
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.querySelector('.leaflet-popup')", timeout=3000)
    assert page.evaluate("() => document.activeElement.classList.contains('map-show')")
    assert page.errors == []


def test_layer_control_says_it_is_open_and_closes_on_escape(page, site):
    open_map(page, site["base"] + "/map")
    toggle = page.locator(".leaflet-control-layers-toggle")
    assert toggle.get_attribute("aria-expanded") == "false"
    toggle.focus()
    page.keyboard.press("Enter")
    assert toggle.get_attribute("aria-expanded") == "true"
    page.keyboard.press("Tab")
    page.keyboard.press("Escape")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert page.evaluate("() => document.activeElement.classList.contains('leaflet-control-layers-toggle')")


def test_keyboard_alone_from_the_map_to_a_project_page(page, site):
    """Tab from the top of /map until focus is on a located project's link (visible focus at each step),
    then Enter opens its page."""
    open_map(page, site["base"] + "/map?area=asgm")
    for _ in range(400):
        page.keyboard.press("Tab")
        state = page.evaluate("""() => { const a = document.activeElement;
            const style = getComputedStyle(a);
            return {located: !!a.closest('#map-located') && a.tagName === 'A' && !a.closest('h3'),
                    visible: style.outlineStyle !== 'none' || style.boxShadow !== 'none', href: a.href || ''}; }""")
        if state["located"]:
            break
    else:
        pytest.fail("Tab never reached the list of located projects")
    assert state["visible"], "focus is visible on the link"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == state["href"] and "/project" in page.url
