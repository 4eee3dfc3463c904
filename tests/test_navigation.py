"""Getting around (issue 17), checked in the HTML the real app serves and in the real style sheet: skip links
first, a results heading right before the first result, chosen filters that read "Remove filter: Peru", search
forms with distinct names, the newsletter image's alt text, and the WCAG contrast of the colours in
static/style.css (borders and focus rings 3:1, text 4.5:1). The browser side (focus really moves, Tab stops
counted, 320 px screens) is in tests/test_keyboard.py."""
import re

import lxml.html
import pytest

from conftest import ROOT

STYLE = ROOT / "static" / "style.css"
# what takes the focus with Tab (hidden inputs and tabindex="-1" do not)
FOCUSABLE = ("//a[@href] | //button | //input[not(@type='hidden')] | //select | //textarea | //summary"
             " | //*[@tabindex and not(@tabindex='-1')]")
LIST_PAGES = ["/projects", "/projects?q=gold", "/projects?country=PER&area=asgm", "/organisations",
              "/organisations?type=ngo"]
OTHER_PAGES = ["/", "/countries", "/about", "/sources", "/map", "/changes", "/projects/does-not-exist"]


def parse(client, url):
    response = client.get(url)
    assert response.status_code in (200, 404), (url, response.status_code)
    return lxml.html.fromstring(response.get_data(as_text=True))


def tab_stops(doc):
    """The focusable elements in document order (what Tab visits, as no positive tabindex is used)."""
    return doc.find("body").xpath(" | ".join("." + part.strip() for part in FOCUSABLE.split("|")))


def spoken(element):
    """The text a screen reader reads for an element: its text without aria-hidden parts, spaces collapsed."""
    parts = []

    def walk(e):
        if e.get("aria-hidden") == "true":
            return
        parts.append(e.text or "")
        for child in e:
            walk(child)
            parts.append(child.tail or "")
    walk(element)
    return " ".join("".join(parts).split())


# --- skip links and the results heading ----------------------------------------------------------

@pytest.mark.parametrize("url", LIST_PAGES + OTHER_PAGES)
def test_skip_to_content_is_the_first_tab_stop_and_lands_on_main(client, url):
    doc = parse(client, url)
    first = tab_stops(doc)[0]
    assert (first.tag, spoken(first), first.get("href")) == ("a", "Skip to content", "#content")
    main = doc.get_element_by_id("content")
    assert main.tag == "main" and main.get("tabindex") == "-1"   # focusable by the link, not by Tab


@pytest.mark.parametrize("url", LIST_PAGES)
def test_list_pages_skip_to_their_results_heading_one_tab_before_the_first_result(client, url):
    doc = parse(client, url)
    stops = tab_stops(doc)
    assert [(spoken(a), a.get("href")) for a in stops[:2]] == [
        ("Skip to content", "#content"), ("Skip to results", "#results")]
    heading = doc.get_element_by_id("results")
    assert heading.tag == "h2" and heading.get("tabindex") == "-1" and spoken(heading).startswith("Results")
    order = list(doc.iter())
    first_result = doc.xpath("//ol[@class='results']/li[1]//a[@class='title']")[0]
    between = [e for e in stops if order.index(heading) < order.index(e) < order.index(first_result)]
    assert between == [], [spoken(e) for e in between]   # Tab from the heading reaches the first result
    facet_links = doc.xpath("//aside[@class='facets']//a[@href]")
    assert facet_links and all(order.index(a) < order.index(heading) for a in facet_links)   # skipped


@pytest.mark.parametrize("url", OTHER_PAGES)
def test_pages_without_a_result_list_offer_no_skip_to_results(client, url):
    doc = parse(client, url)
    assert "Skip to results" not in [spoken(a) for a in doc.xpath("//a")]
    assert not doc.xpath("//*[@id='results']")


# --- chosen filters ------------------------------------------------------------------------------

def test_a_chosen_facet_value_reads_remove_filter_and_hides_its_symbol(client):
    doc = parse(client, "/projects?country=PER&area=asgm")
    chosen = doc.xpath("//aside[@class='facets']//li[@class='selected']/a")
    assert sorted(spoken(a) for a in chosen) == [
        "Remove filter: Artisanal and small-scale gold mining (ASGM)", "Remove filter: Peru"]
    for a in chosen:
        symbol = a.xpath(".//*[contains(text(), '✕')]")
        assert symbol and symbol[0].get("aria-hidden") == "true"
        assert a.text_content().replace("Remove filter: ", "").strip().startswith("✕")   # the eye sees ✕ Peru
        assert "visually-hidden" in a.xpath(".//span[contains(text(), 'Remove filter')]")[0].get("class")
    unchosen = doc.xpath("//aside[@class='facets']//li[not(@class='selected')]/a[not(ancestor::p)]")
    assert unchosen and not any("Remove filter" in spoken(a) for a in unchosen)


def test_organisation_facets_and_source_and_area_chips_read_remove_filter(client):
    doc = parse(client, "/organisations?type=ngo")
    assert [spoken(a) for a in doc.xpath("//li[@class='selected']/a")] == [
        "Remove filter: Non-governmental organisation"]
    doc = parse(client, "/projects?source=gmp-report-2020-2022&bbox=-90,-60,-30,15")
    chips = [spoken(a) for a in doc.xpath("//ul[@class='filter-chips']//a[@class='chip']")]
    assert len(chips) == 2 and all(c.startswith("Remove filter: ") for c in chips), chips
    assert "Remove filter: In the area searched on the map" in chips
    assert not any("✕" in c for c in chips)


# --- search forms ------------------------------------------------------------------------------

def accessible_name(doc, element):
    if element.get("aria-labelledby"):
        return " ".join(spoken(doc.get_element_by_id(i)) for i in element.get("aria-labelledby").split())
    return (element.get("aria-label") or "").strip()


@pytest.mark.parametrize("url", ["/", "/projects?q=gold", "/organisations", "/map", "/projects/does-not-exist"])
def test_search_forms_on_a_page_have_distinct_names(client, url):
    doc = parse(client, url)
    forms = doc.xpath("//form[@role='search']")
    names = [accessible_name(doc, f) for f in forms]
    assert all(names) and len(set(names)) == len(names), names
    inputs = doc.xpath("//input[@type='search']")
    labels = [accessible_name(doc, i) for i in inputs]
    assert all(labels) and len(set(labels)) == len(labels), labels
    assert names[0] == "Site search"   # the header's, on every page
    if url != "/projects?q=gold":
        assert len(forms) == 2, names   # this page has a search of its own besides the header's


# --- the newsletter image -----------------------------------------------------------------------

@pytest.mark.parametrize("query, where", [
    ("country=PER&q=gold", "projects matching “gold” in Peru"),
    ("region=419", "projects in Latin America and the Caribbean"),
    ("q=borax", "projects matching “borax” in "),          # every project listed: their countries named
    ("", "projects, each country shaded by its number of projects"),
])
def test_the_newsletter_image_says_it_opens_the_map_and_where_the_projects_are(client, query, where):
    html = client.get(f"/map/newsletter?{query}").get_data(as_text=True)
    preview = lxml.html.fromstring(html).xpath("//div[@class='newsletter-preview']//a[img]")[0]
    alt = preview.xpath("img")[0].get("alt")
    assert alt.startswith("Open the interactive map of ") and where in alt, alt
    assert spoken(preview) == "" and preview.get("href").startswith("http://localhost/map")
    total = client.get(f"/api/projects?{query}&per_page=1").get_json()["total"]
    assert total and f" of {total:,} project" in alt


# --- colours: WCAG contrast computed from static/style.css ----------------------------------------

def css_rules(text):
    """{selector: {property: value}} of the style sheet's top-level and media-query rules (later wins)."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    rules = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", text):
        declarations = dict((k.strip(), v.strip()) for k, _, v in
                            (d.partition(":") for d in body.split(";") if ":" in d))
        for selector in selectors.split(","):
            rules.setdefault(" ".join(selector.split()), {}).update(declarations)
    return rules


def colour(rules, selector, prop):
    """The colour a rule gives a property (a #hex colour, var() resolved, the last one in a shorthand)."""
    value = rules[selector][prop]
    value = re.sub(r"var\((--[\w-]+)\)", lambda m: rules[":root"][m.group(1)], value)
    hexes = re.findall(r"#[0-9a-fA-F]{3,6}\b", value)
    assert hexes, f"{selector} {{ {prop}: {value} }} has no hex colour"
    return hexes[-1]


def luminance(hex_colour):
    h = hex_colour.lstrip("#")
    h = "".join(c * 2 for c in h) if len(h) == 3 else h
    channels = [int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b):
    high, low = sorted([luminance(a), luminance(b)], reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_formula_matches_known_values():
    assert contrast("#000", "#fff") == pytest.approx(21)
    assert contrast("#777", "#fff") == pytest.approx(4.48, abs=0.01)
    assert contrast("#d8e0e5", "#fff") == pytest.approx(1.34, abs=0.01)   # the old input border (issue 17)


FIELD = "input[type=search]"
PAGE, HEADER = ("body", "background"), ("header.site", "background")
# (what, foreground (selector, property), background (selector, property), minimum ratio)
PAIRS = [
    ("field border on the page", (FIELD, "border"), PAGE, 3),
    ("field border on the field", (FIELD, "border"), (FIELD, "background"), 3),
    ("select border on the page", ("select", "border"), PAGE, 3),
    ("focus ring on the page", (":focus-visible", "outline"), PAGE, 3),
    ("focus ring on the header", ("header.site :focus-visible", "outline-color"), HEADER, 3),
    ("filters button's ring", (".facets summary.filter-toggle:focus-visible", "outline"), PAGE, 3),
    ("results heading's ring", (".results-heading:focus", "outline"), PAGE, 3),
    ("skip link", (".skip-link:focus", "color"), (".skip-link:focus", "background"), 4.5),
    ("skip link's ring", (":focus-visible", "outline"), (".skip-links", "background"), 3),
    ("text", ("body", "color"), PAGE, 4.5),
    ("links", ("a", "color"), PAGE, 4.5),
    ("links on the grey panels", ("a", "color"), (".figures li", "background"), 4.5),
    ("muted text", (".meta", "color"), PAGE, 4.5),
    ("counts", (".count", "color"), PAGE, 4.5),
    ("footer", ("footer.site", "color"), PAGE, 4.5),
    ("header links", ("header.site a", "color"), HEADER, 4.5),
    ("buttons", ("button", "color"), ("button", "background"), 4.5),
    ("filters button", (".facets summary.filter-toggle", "color"), (".facets summary.filter-toggle", "background"),
     4.5),
    ("highlighted words", ("body", "color"), (".snippet mark", "background"), 4.5),
] + [(f"tag text on {s}", (".tag", "color"), (s, "background"), 4.5) for s in (
    ".tag", ".status-ongoing", ".status-completed", ".status-planned", ".status-postponed", ".area-asgm",
    ".area-chlor-alkali", ".area-air-transport", ".area-products", ".area-coal", ".area-waste",
    ".area-supply-storage", ".area-cement", ".area-cross-cutting")]


@pytest.mark.parametrize("what, fore, back, minimum", PAIRS, ids=[p[0] for p in PAIRS])
def test_colours_in_the_style_sheet_meet_wcag_contrast(what, fore, back, minimum):
    rules = css_rules(STYLE.read_text(encoding="utf-8"))
    fg, bg = colour(rules, *fore), colour(rules, *back)
    ratio = contrast(fg, bg)
    assert ratio >= minimum, f"{what}: {fg} on {bg} is {ratio:.2f}:1, needs {minimum}:1"


def test_every_field_rule_uses_the_field_border():
    """The form fields share one rule; no later rule gives them a pale border again."""
    rules = css_rules(STYLE.read_text(encoding="utf-8"))
    for field in ("input[type=search]", "input[type=text]", "input[type=number]", "input[type=password]",
                  "input[type=email]", "input[type=url]", "select", "textarea"):
        assert rules[field]["border"] == rules[FIELD]["border"], field
    pale = [s for s, d in rules.items() if any(w in s for w in ("input", "select", "textarea"))
            and "var(--line)" in d.get("border", "") + d.get("border-color", "")]
    assert pale == []
