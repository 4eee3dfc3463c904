"""The maps' accessibility at the level of code and pages (issue 17): colours checked from the one
definition in registry/maps/data.py (WCAG 2.1 contrast ratio, CIEDE2000, colour-vision simulation with the
Machado et al. 2009 matrices at full severity), the configuration the map script reads, and the pages'
text equivalents. The browser side is tests/test_browser_map_a11y.py."""
import itertools
import math
import re

import pytest

from registry.maps import data as mapdata
from registry.maps import png as staticmap
from registry.core.paths import STATIC
from registry.core.validate import AREAS


# --- colour maths (sRGB, WCAG relative luminance, CIELAB D65, CIEDE2000, Machado 2009) ---------------

def srgb(hex_colour):
    h = hex_colour.lstrip("#")
    return tuple(int(h[i:i + 2], 16) / 255 for i in (0, 2, 4))


def linear(c):
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def encoded(c):
    c = min(1.0, max(0.0, c))
    return 12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055


def luminance(hex_colour):
    r, g, b = (linear(c) for c in srgb(hex_colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b):
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


# Machado, Oliveira and Fernandes (2009), severity 1.0, applied to linear RGB
MACHADO = {
    "protanopia": ((0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216), (-0.003882, -0.048116, 1.051998)),
    "deuteranopia": ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413), (-0.011820, 0.042940, 0.968881)),
    "tritanopia": ((1.255528, -0.076749, -0.178779), (-0.078411, 0.930809, 0.147602), (0.004733, 0.691367, 0.303900)),
}
VISIONS = (None,) + tuple(MACHADO)


def simulated(hex_colour, vision):
    if vision is None:
        return hex_colour
    rgb = [linear(c) for c in srgb(hex_colour)]
    out = [encoded(sum(row[j] * rgb[j] for j in range(3))) for row in MACHADO[vision]]
    return "#" + "".join(f"{round(c * 255):02x}" for c in out)


def lab(hex_colour):
    r, g, b = (linear(c) for c in srgb(hex_colour))
    x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047
    y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b
    z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883

    def f(t):
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116
    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def ciede2000(lab1, lab2):
    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    c_mean = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(c_mean ** 7 / (c_mean ** 7 + 25 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1p, h2p = math.degrees(math.atan2(b1, a1p)) % 360, math.degrees(math.atan2(b2, a2p)) % 360
    dl, dc = l2 - l1, c2p - c1p
    dh = 0.0 if c1p * c2p == 0 else (h2p - h1p + 180) % 360 - 180
    big_dh = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dh / 2))
    l_mean, cp_mean = (l1 + l2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        h_mean = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        h_mean = (h1p + h2p) / 2
    else:
        h_mean = (h1p + h2p + (360 if h1p + h2p < 360 else -360)) / 2
    t = (1 - 0.17 * math.cos(math.radians(h_mean - 30)) + 0.24 * math.cos(math.radians(2 * h_mean))
         + 0.32 * math.cos(math.radians(3 * h_mean + 6)) - 0.20 * math.cos(math.radians(4 * h_mean - 63)))
    rc = 2 * math.sqrt(cp_mean ** 7 / (cp_mean ** 7 + 25 ** 7))
    rt = -math.sin(math.radians(2 * 30 * math.exp(-((h_mean - 275) / 25) ** 2))) * rc
    sl = 1 + 0.015 * (l_mean - 50) ** 2 / math.sqrt(20 + (l_mean - 50) ** 2)
    sc, sh = 1 + 0.045 * cp_mean, 1 + 0.015 * cp_mean * t
    return math.sqrt((dl / sl) ** 2 + (dc / sc) ** 2 + (big_dh / sh) ** 2 + rt * (dc / sc) * (big_dh / sh))


def difference(a, b, vision=None):
    return ciede2000(lab(simulated(a, vision)), lab(simulated(b, vision)))


def test_the_colour_maths_matches_published_values():
    """Sharma, Wu and Dalal's CIEDE2000 test data (pairs 1, 7, 17), and WCAG's black on white 21:1."""
    assert ciede2000((50, 2.6772, -79.7751), (50, 0, -82.7485)) == pytest.approx(2.0425, abs=1e-4)
    assert ciede2000((50, 0, 0), (50, -1, 2)) == pytest.approx(2.3669, abs=1e-4)
    assert ciede2000((50, 2.5, 0), (73, 25, -18)) == pytest.approx(27.1492, abs=1e-4)
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert simulated("#808080", "deuteranopia") == "#808080"        # greys stay grey


# --- the colours in the code ----------------------------------------------------------------------

# WCAG 1.4.11: 3:1 for a graphical object against what is next to it. Neighbouring classes of a sequential
# scale cannot all be 3:1 from each other (five steps would need 3**4 = 81:1, over the 21:1 there is): each
# is a visible step instead, in lightness (1.3:1) and in CIEDE2000 (7: well past the ~2 of a just noticeable
# difference), under every simulated vision too.
STEP_CONTRAST, STEP_DIFFERENCE, AREA_DIFFERENCE = 1.3, 7, 15


@pytest.mark.parametrize("background", ["SEA", "EMPTY"])
def test_every_choropleth_class_is_3_to_1_against_the_sea_and_empty_countries(background):
    colour = getattr(mapdata, background)
    ratios = [round(contrast(c, colour), 2) for c in mapdata.PALETTE]
    assert min(ratios) >= 3, f"classes against {background} {colour}: {ratios}"


def test_neighbouring_classes_are_a_visible_step_in_every_vision():
    for vision in VISIONS:
        for low, high in zip(mapdata.PALETTE, mapdata.PALETTE[1:]):
            assert contrast(low, high) >= STEP_CONTRAST, (low, high)
            assert difference(low, high, vision) >= STEP_DIFFERENCE, (low, high, vision)
    lums = [luminance(c) for c in mapdata.PALETTE]
    assert lums == sorted(lums, reverse=True), "the classes go from light to dark"


def test_sea_and_empty_land_differ_and_borders_separate_them():
    assert difference(mapdata.SEA, mapdata.EMPTY) >= 5
    assert contrast(mapdata.BORDER, mapdata.SEA) >= 3 and contrast(mapdata.BORDER, mapdata.EMPTY) >= 3


@pytest.mark.parametrize("vision", VISIONS)
def test_every_pair_of_partnership_area_colours_stays_apart(vision):
    pairs = itertools.combinations(sorted(mapdata.AREA_COLOURS.items()), 2)
    closest = min((difference(a, b, vision), ka, kb) for (ka, a), (kb, b) in pairs)
    assert closest[0] >= AREA_DIFFERENCE, f"{closest[1]} and {closest[2]} under {vision}: {closest[0]:.1f}"


def test_every_area_has_its_own_shape_and_colour():
    assert set(mapdata.AREA_COLOURS) == set(AREAS) == set(mapdata.AREA_SHAPES)
    assert len(set(mapdata.AREA_SHAPES.values())) == len(AREAS)
    assert len(set(mapdata.AREA_COLOURS.values())) == len(AREAS)
    shapes = re.findall(r'case "([a-z-]+)":', (STATIC / "map.js").read_text("utf-8"))
    assert set(mapdata.AREA_SHAPES.values()) - {"circle"} <= set(shapes), "map.js draws every shape"


def test_marker_rings_are_3_to_1_against_any_background():
    """A marker's outer ring is dark and its inner ring white: one of them is 3:1 against any fill under it."""
    dark, white = mapdata.MARKER_RINGS
    for background in (mapdata.SEA, mapdata.EMPTY) + mapdata.PALETTE:
        assert max(contrast(dark, background), contrast(white, background)) >= 3, background
    assert contrast(dark, white) >= 3


def test_the_png_and_the_interactive_map_use_one_definition(client):
    assert staticmap.PALETTE is mapdata.PALETTE and staticmap.EMPTY is mapdata.EMPTY
    assert staticmap.OCEAN == mapdata.SEA and staticmap.BORDER == mapdata.BORDER
    config = map_config(client.get("/map").get_data(as_text=True))
    assert config["palette"] == list(mapdata.PALETTE)
    assert config["colours"] == {"sea": mapdata.SEA, "empty": mapdata.EMPTY, "border": mapdata.BORDER,
                                 "ringOuter": mapdata.MARKER_RINGS[0], "ringInner": mapdata.MARKER_RINGS[1]}
    assert {k: (a["colour"], a["shape"]) for k, a in config["areas"].items()} == \
        {k: (mapdata.AREA_COLOURS[k], mapdata.AREA_SHAPES[k]) for k in AREAS}
    css = (STATIC / "map.css").read_text("utf-8")
    # the stylesheet's sea (shown before the script runs) is the same as the script's
    assert set(re.findall(r"\.registry-map[^{]*\{[^}]*background: (#[0-9a-f]{6})", css)) == {mapdata.SEA}
    assert "#" not in re.sub(r"//.*|/\*.*?\*/", "", _js_colour_lines()), "map.js hard-codes no map colour"


def _js_colour_lines():
    """map.js's lines that style countries or markers (where a colour must come from the configuration)."""
    js = (STATIC / "map.js").read_text("utf-8")
    return "\n".join(line for line in js.splitlines()
                     if re.search(r"fillColor|function plainStyle|shadeStyle|ring:", line))


def map_config(html):
    import json
    match = re.search(r"RegistryMap\.init\([^,]+, (\{.*\})\);", html)
    assert match, "the page hands the map its configuration"
    return json.loads(match.group(1))


# --- pages: the text equivalents ------------------------------------------------------------------

def test_the_map_page_has_a_list_of_located_projects(client):
    html = client.get("/map?area=asgm").get_data(as_text=True)
    assert 'id="map-located"' in html and "Projects on the map, by country" in html
    assert map_config(html)["locatedId"] == "map-located"


def test_the_embed_links_to_the_list_following_the_query(client):
    html = client.get("/embed/map?area=asgm&country=GHA").get_data(as_text=True)
    link = re.search(r'<a class="embed-located" href="([^"]+)"', html)
    assert link and "area=asgm" in link.group(1) and "country=GHA" in link.group(1)
    assert link.group(1).split("?")[0].endswith("/map") and link.group(1).endswith("#map-located-title")


def test_points_name_their_country(client):
    data = client.get("/map/data.json").get_json()
    points = mapdata.records(data, "points")
    assert points and all(p["country"] for p in points if p["precision"] == "country")
    named = {c["iso3"] for c in mapdata.records(data, "countries")}
    assert {p["country"] for p in points if p["country"]} <= named | {None}
