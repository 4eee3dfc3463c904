"""Who works with whom (issue 15): the organisations that share projects with one organisation, any role.

Checked against the real seed in a real SQLite file: every count and every shared project equals an
independent SQL count (one INTERSECT per pair of organisations), the order is most shared first then by
name, the page lists the top ten with links and counts and the rest under "more" (none dropped), its SVG
picture parses and names every partner it shows with the same numbers as the list, the API's `works_with`
carries the same, and an organisation without partners says so."""
import re
import sqlite3
import xml.etree.ElementTree as ET

import pytest

from registry.maps.network import network_svg
from registry.store import network

SVG = "{http://www.w3.org/2000/svg}"


def sql_partners(db_path):
    """{org: {partner: {shared project ids}}} by INTERSECT of each pair's projects, not the self-join
    the store uses."""
    conn = sqlite3.connect(db_path)
    try:
        orgs = [r[0] for r in conn.execute("SELECT id FROM organisations")]
        projects = {o: {r[0] for r in conn.execute("SELECT project_id FROM roles WHERE org_id = ?", [o])}
                    for o in orgs}
        pairs = {o: {} for o in orgs}
        for a in orgs:
            for b in orgs:
                if a == b or not projects[a] or not projects[b]:
                    continue
                shared = {r[0] for r in conn.execute(
                    "SELECT project_id FROM roles WHERE org_id = ? INTERSECT "
                    "SELECT project_id FROM roles WHERE org_id = ?", [a, b])}
                if shared:
                    pairs[a][b] = shared
        return pairs
    finally:
        conn.close()


@pytest.fixture(scope="module")
def expected(seeded_instance):
    return sql_partners(str(seeded_instance / "registry.db"))


def nocase(text):
    """SQLite's NOCASE: ASCII letters folded, nothing else."""
    return text.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"))


def test_counts_and_shared_projects_equal_sql(db, expected):
    checked_pairs = 0
    for org, want in expected.items():
        got = network.partners(db, org)
        assert {p["id"]: p["shared"] for p in got} == {b: len(ids) for b, ids in want.items()}, org
        for p in got:
            assert [s["id"] for s in p["projects"]] and {s["id"] for s in p["projects"]} == want[p["id"]]
            assert len(p["projects"]) == p["shared"]   # each shared project once
            checked_pairs += 1
    # not vacuous: the seed has many pairs, some sharing several projects, and an organisation with two
    # roles in one project (counted once: the INTERSECT above is a set)
    assert checked_pairs > 200
    assert max(len(ids) for want in expected.values() for ids in want.values()) >= 3
    assert list(db.query("SELECT 1 FROM roles GROUP BY project_id, org_id HAVING count(*) > 1 LIMIT 1"))


def test_order_is_most_shared_then_name(db, expected):
    ties = 0
    for org in expected:
        got = network.partners(db, org)
        assert got == sorted(got, key=lambda p: (-p["shared"], nocase(p["name"]), p["id"])), org
        ties += sum(1 for a, b in zip(got, got[1:]) if a["shared"] == b["shared"])
        for p in got:
            titles = [nocase(s["title"]) for s in p["projects"]]
            assert titles == sorted(titles)
    assert ties > 50   # the name order is exercised, not only the count order


def most_connected(expected):
    return max(expected, key=lambda o: (len(expected[o]), o))


def page_partners(html):
    """[(id, count)] of the page's ordered list, and of its "more" part, as the reader sees them."""
    top = re.search(r'<ol class="partners">(.*?)</ol>', html, re.S).group(1)
    more = re.search(r'<details class="more-partners">(.*?)</details>', html, re.S)
    pattern = r'<li><a href="/organisations/([^"]+)">.*?<span class="shared-count">(\d+)</span>'
    return ([(i, int(n)) for i, n in re.findall(pattern, top, re.S)],
            [(i, int(n)) for i, n in re.findall(pattern, more.group(1), re.S)] if more else [])


def test_page_lists_top_ten_with_counts_links_and_the_rest(client, db, expected):
    org = most_connected(expected)
    assert len(expected[org]) > 10
    html = client.get(f"/organisations/{org}").get_data(as_text=True)
    top, more = page_partners(html)
    want = [(p["id"], p["shared"]) for p in network.partners(db, org)]
    assert top == want[:10]
    assert more == want[10:]   # nothing dropped: the rest are under "more"
    assert f"10 of {len(want)}" in html
    # each listed partner's shared projects are on the page, linked, under its count
    first = network.partners(db, org)[0]
    block = re.search(rf'<a href="/organisations/{re.escape(first["id"])}">.*?</details>', html, re.S).group(0)
    assert re.findall(r'<a href="/projects/([^"]+)">', block) == [s["id"] for s in first["projects"]]


def svg_text(html):
    """The network picture's SVG in a page (not any other SVG the page may hold)."""
    return re.search(r'<svg [^>]*class="network".*?</svg>', html, re.S).group(0)


def page_svg(html):
    return ET.fromstring(svg_text(html))


def test_svg_parses_and_names_every_partner_shown(client, db, expected):
    for org in (most_connected(expected), "agc"):
        html = client.get(f"/organisations/{org}").get_data(as_text=True)
        svg = page_svg(html)
        assert svg.get("role") == "img"
        title_id, desc_id = svg.get("aria-labelledby").split()
        assert svg[0].tag == f"{SVG}title" and svg[0].get("id") == title_id and svg[0].text.strip()
        assert svg.find(f"{SVG}desc").get("id") == desc_id
        top, _ = page_partners(html)
        partners = {p["id"]: p for p in network.partners(db, org)}
        groups = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "partner"]
        assert [g.get("data-org") for g in groups] == [i for i, _ in top]
        for g, (pid, count) in zip(groups, top):
            p = partners[pid]
            assert g.find(f"{SVG}title").text.startswith(p["name"])
            assert g.find(f"{SVG}title").text.endswith(f"{count} shared project" + ("" if count == 1 else "s"))
            assert drawn(g).endswith(f"({count})")   # the same number as the list
            assert p["name"] in svg.find(f"{SVG}desc").text
        # the wider the line, the more shared projects: widths follow the list's order
        widths = [float(line.get("stroke-width")) for line in svg.iter(f"{SVG}line")]
        assert len(widths) == len(top) and widths == sorted(widths, reverse=True)
        assert widths[0] > widths[-1] or top[0][1] == top[-1][1]


def drawn(group):
    """The label a partner's node shows, its lines joined by spaces."""
    return " ".join(t.text for t in group.iter(f"{SVG}tspan"))


def test_picture_is_deterministic(client, expected):
    org = most_connected(expected)
    first = client.get(f"/organisations/{org}").get_data(as_text=True)
    again = client.get(f"/organisations/{org}").get_data(as_text=True)
    assert svg_text(first) == svg_text(again)


def test_svg_escapes_names():
    org = {"id": "a", "name": 'Ministry of <Mines> & "Energy"', "acronym": None}
    partner = {"id": "b&c", "name": "</svg><script>alert(1)</script>", "acronym": None, "shared": 2}
    svg = ET.fromstring(network_svg(org, [partner]))
    assert "<script>" not in network_svg(org, [partner])
    group = next(g for g in svg.iter(f"{SVG}g") if g.get("class") == "partner")
    assert group.get("data-org") == "b&c"
    assert group.find(f"{SVG}title").text == "</svg><script>alert(1)</script>: 2 shared projects"
    assert svg[0].text == 'Organisations that Ministry of <Mines> & "Energy" works with'


def test_long_names_are_shortened_visibly_and_whole_in_the_title():
    name = "International Cooperation Agency for Environmental and Mercury Research"
    svg = ET.fromstring(network_svg({"id": "a", "name": "A", "acronym": None},
                                    [{"id": "b", "name": name, "acronym": None, "shared": 1}]))
    group = next(g for g in svg.iter(f"{SVG}g") if g.get("class") == "partner")
    lines = [t.text for t in group.iter(f"{SVG}tspan")]
    assert len(lines) == 2 and lines[-1].endswith("… (1)")   # shortened where all can see it
    assert name.startswith(" ".join(lines)[:-len("… (1)")])   # between words, from the start
    assert group.find(f"{SVG}title").text == f"{name}: 1 shared project"


def test_organisation_without_partners_says_so(client, db, expected):
    alone = sorted(o for o, want in expected.items() if not want)
    with_projects = [o for o in alone if list(db.query("SELECT 1 FROM roles WHERE org_id = ?", [o]))]
    assert with_projects   # an organisation with projects, none shared: the seed has some
    for org in with_projects[:3]:
        html = client.get(f"/organisations/{org}").get_data(as_text=True)
        assert "No other organisation shares a project with" in html
        assert '<ol class="partners">' not in html and 'class="network"' not in html
        assert client.get(f"/api/organisations/{org}").get_json()["works_with"] == []


def test_api_works_with_equals_the_store(client, db, expected):
    org = most_connected(expected)
    body = client.get(f"/api/organisations/{org}").get_json()
    got = body["works_with"]
    want = network.partners(db, org)
    assert len(got) == len(want) == len(expected[org])   # all of them, not only the page's ten
    for g, w in zip(got, want):
        assert (g["id"], g["name"], g["acronym"], g["shared_project_count"]) == (w["id"], w["name"], w["acronym"],
                                                                               w["shared"])
        assert g["url"].endswith(f"/organisations/{w['id']}") and g["api_url"].endswith(f"/api/organisations/{w['id']}")
        assert [s["id"] for s in g["shared_projects"]] == [s["id"] for s in w["projects"]]
        assert all(s["url"].endswith(f"/projects/{s['id']}") for s in g["shared_projects"])
        assert client.get(g["api_url"]).status_code == 200
