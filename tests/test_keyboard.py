"""Getting around with the keyboard alone (issue 17), in a real browser (Debian's chromium through Playwright)
against the real app on a copy of the seeded registry: skip links take the focus where they say, the first
result is a few Tab stops away, the focus is visible at every step, and nothing is wider than a 320 px
screen. The HTML side (order of Tab stops, names, colours) is in tests/test_navigation.py."""
import shutil

import pytest

from conftest import make_app, serve

pytestmark = pytest.mark.slow   # a real browser
WIDE = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
NARROW = {"viewport": {"width": 320, "height": 640}}
# "within a few Tab stops": after "Skip to results", the first result is the next one
FEW = 3

ACTIVE = """() => { const e = document.activeElement, s = getComputedStyle(e), r = e.getBoundingClientRect();
  return {tag: e.tagName.toLowerCase(), id: e.id, text: (e.innerText || e.value || '').trim(),
          href: e.getAttribute('href'), label: e.getAttribute('aria-label'), cls: e.className,
          outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0, shadow: s.boxShadow !== 'none',
          width: r.width, height: r.height, inResults: !!e.closest('ol.results'),
          firstResult: e === document.querySelector('ol.results > li a.title'),
          inFacets: !!e.closest('aside.facets')}; }"""
# elements sticking out on the right, except inside a box that scrolls or clips (the header's links scroll)
OVERFLOW = """() => { const W = document.documentElement.clientWidth, out = [];
  for (const e of document.querySelectorAll('body *')) {
    const r = e.getBoundingClientRect();
    if (!r.width || !r.height) continue;
    let clipped = false;
    for (let a = e.parentElement; a && a !== document.body; a = a.parentElement)
      if (getComputedStyle(a).overflowX !== 'visible') { clipped = true; break; }
    if (!clipped && r.right > W + 0.5) out.push(`${e.tagName.toLowerCase()}.${e.className} by ${Math.ceil(r.right - W)} px`);
  }
  return {page: document.documentElement.scrollWidth - W, elements: out}; }"""


@pytest.fixture(scope="module")
def site(seeded_instance, tmp_path_factory):
    folder = tmp_path_factory.mktemp("keyboard") / "instance"
    shutil.copytree(seeded_instance, folder)
    server, base = serve(make_app(folder))
    yield base
    server.shutdown()


def open_page(browser, device):
    context = browser.new_context(**device)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(f"{e}: {(e.stack or '')[:300]}"))
    return context, page


@pytest.fixture
def wide(browser):
    context, page = open_page(browser, WIDE)
    yield page
    context.close()


@pytest.fixture
def phone(browser):
    context, page = open_page(browser, PHONE)
    yield page
    context.close()


@pytest.fixture
def narrow(browser):
    context, page = open_page(browser, NARROW)
    yield page
    context.close()


def press(page, key):
    """Press a key and return what has the focus then, asserting that the focus can be seen."""
    page.keyboard.press(key)
    active = page.evaluate(ACTIVE)
    if active["tag"] not in ("body", "main"):   # <main> is the target of "Skip to content": a landing place
        assert active["outline"] or active["shadow"], f"no visible focus on {active}"
        assert active["width"] > 1 and active["height"] > 1, f"the focused element is not shown: {active}"
    return active


def tab_until(page, found, limit=150):
    """Press Tab until `found(active)`; returns (the number of presses, the active element)."""
    for count in range(1, limit + 1):
        active = press(page, "Tab")
        if found(active):
            return count, active
    raise AssertionError(f"not reached in {limit} Tab presses")


def test_skip_to_content_is_the_first_tab_stop_and_moves_the_focus_to_main(wide, site):
    wide.goto(site + "/about")
    first = press(wide, "Tab")
    assert (first["text"], first["href"]) == ("Skip to content", "#content")
    assert press(wide, "Enter")["id"] == "content"
    after = press(wide, "Tab")   # the next stop is inside the content, past the header
    assert wide.evaluate("() => !!document.activeElement.closest('main')"), after
    assert wide.errors == []


def test_skip_to_results_reaches_the_first_result_within_a_few_tab_stops(wide, site):
    wide.goto(site + "/projects?q=gold")
    without_skip, _ = tab_until(wide, lambda a: a["firstResult"])   # the way it was: past every filter
    wide.goto(site + "/projects?q=gold")
    assert press(wide, "Tab")["text"] == "Skip to content"
    skip = press(wide, "Tab")
    assert (skip["text"], skip["href"]) == ("Skip to results", "#results")
    heading = press(wide, "Enter")
    assert heading["id"] == "results" and heading["tag"] == "h2" and heading["text"].startswith("Results")
    stops, active = tab_until(wide, lambda a: a["firstResult"], limit=FEW)
    print(f"first result: {stops} Tab stop(s) after 'Skip to results' (2 + Enter before it); "
          f"{without_skip} Tab stops without the skip link")
    assert stops == 1 and without_skip > 20, (stops, without_skip)
    assert wide.errors == []


def test_on_a_phone_the_closed_filters_keep_their_links_out_of_the_tab_order(phone, site):
    phone.goto(site + "/projects?q=gold")
    seen = []
    stops, _ = tab_until(phone, lambda a: seen.append(a) or a["firstResult"], limit=30)
    assert not any(a["inFacets"] and a["tag"] == "a" for a in seen), [a["text"] for a in seen if a["inFacets"]]
    assert [a["text"] for a in seen if a["inFacets"]] == ["Filters (0)"]   # the panel's button only
    print(f"phone: the first result is Tab stop {stops} from the top of the page")
    # the stops before it: 2 skip links, the header (name, 8 links, search field and button), the summary
    # line's 6 links and "Filters": about 21, where the open facets would add 70 more
    assert stops <= 25


def test_from_the_home_page_to_a_search_result_with_the_keyboard_alone(wide, site):
    wide.goto(site + "/")
    stops, field = tab_until(wide, lambda a: a["tag"] == "input" and a["label"] == "Search projects", limit=30)
    wide.keyboard.type("gold")
    with wide.expect_navigation():
        wide.keyboard.press("Enter")
    assert "/projects?q=gold" in wide.url
    assert press(wide, "Tab")["text"] == "Skip to content"
    assert press(wide, "Tab")["text"] == "Skip to results"
    assert press(wide, "Enter")["id"] == "results"
    first = press(wide, "Tab")
    assert first["firstResult"], first
    with wide.expect_navigation():
        wide.keyboard.press("Enter")
    assert "/projects/" in wide.url and wide.locator("h1").inner_text().strip() == first["text"]
    print(f"home: the big search field is Tab stop {stops}; the result reached: {first['text']}")
    assert wide.errors == []


def test_at_320_px_nothing_on_the_home_page_overflows(narrow, site):
    narrow.goto(site + "/")
    overflow = narrow.evaluate(OVERFLOW)
    assert overflow == {"page": 0, "elements": []}, overflow
    button = narrow.locator("form.big-search button").bounding_box()
    assert button["x"] + button["width"] <= 320
    narrow.screenshot(path="/tmp/home-320.png")


def test_at_320_px_the_embed_bar_wraps_and_keeps_its_whole_sentence(narrow, site):
    narrow.goto(site + "/embed/map?area=asgm&status=ongoing&country=PER&country=COL&country=ECU&country=BOL")
    narrow.wait_for_selector(".embed-bar")
    overflow = narrow.evaluate(OVERFLOW)
    assert overflow["page"] == 0 and not [e for e in overflow["elements"] if "embed" in e], overflow
    caption = narrow.locator(".embed-caption").bounding_box()
    unplaced = narrow.locator(".embed-unplaced").bounding_box()
    assert unplaced["y"] >= caption["y"] + caption["height"] - 1, (caption, unplaced)   # on a line of its own
    clipped = narrow.evaluate("() => { const c = document.querySelector('.embed-caption');"
                              " return c.scrollHeight - c.clientHeight; }")
    assert clipped <= 1, f"the caption's sentence is cut by {clipped} px"
    assert narrow.locator(".embed-sentence").inner_text().endswith("South America")
    narrow.screenshot(path="/tmp/embed-320.png")
    assert narrow.errors == []
