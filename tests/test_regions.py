"""Tests for registry.core.regions and the committed M49 files, checked against the raw UNSD tables.

The UNSD files in geodata/m49-source/ are parsed here on their own (stdlib csv, by column header), not
through the build script, so a mistake in the build or in the lookup module shows up as a difference.
"""

import csv
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from registry.core import regions

ROOT = Path(__file__).resolve().parent.parent
GEODATA = ROOT / "geodata"
SOURCE = GEODATA / "m49-source"


def read_unsd(lang):
    with (SOURCE / f"UNSD-{lang}.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def unsd():
    return {lang: read_unsd(lang) for lang in ("en", "fr", "es")}


@pytest.fixture(scope="module")
def source_members(unsd):
    """code -> set of ISO3, straight from the English UNSD file."""
    members = defaultdict(set)
    for row in unsd["en"]:
        iso3 = row["ISO-alpha3 Code"]
        for column in ("Global Code", "Region Code", "Sub-region Code", "Intermediate Region Code"):
            if row[column]:
                members[row[column]].add(iso3)
        for column, code in (("Least Developed Countries (LDC)", "199"),
                             ("Land Locked Developing Countries (LLDC)", "432"),
                             ("Small Island Developing States (SIDS)", "722")):
            if row[column] == "x":
                members[code].add(iso3)
    return members


@pytest.fixture(scope="module")
def source_names(unsd):
    """code -> {lang: name}, from the three UNSD files."""
    names = defaultdict(dict)
    for lang, rows in unsd.items():
        for row in rows:
            for code_col, name_col in (("Global Code", "Global Name"), ("Region Code", "Region Name"),
                                       ("Sub-region Code", "Sub-region Name"),
                                       ("Intermediate Region Code", "Intermediate Region Name")):
                if row[code_col]:
                    names[row[code_col]][lang] = row[name_col]
    return names


def countries_csv_codes():
    with (GEODATA / "countries.csv").open(newline="", encoding="utf-8") as f:
        return {row["iso3"] for row in csv.DictReader(f)}


# --- the source files -------------------------------------------------------------------------------

def test_source_files_are_the_stored_copies(unsd):
    # Lengths in characters of the copies read from datasets/country-codes@25c1991e (see the README there).
    sizes = {"en": 20169, "fr": 28363, "es": 27848}
    for lang, size in sizes.items():
        assert len((SOURCE / f"UNSD-{lang}.csv").read_text(encoding="utf-8")) == size
        assert len(unsd[lang]) == 248


def test_source_languages_agree_on_codes(unsd):
    keys = ("Global Code", "Region Code", "Sub-region Code", "Intermediate Region Code", "M49 Code",
            "ISO-alpha2 Code", "ISO-alpha3 Code", "Least Developed Countries (LDC)",
            "Land Locked Developing Countries (LLDC)", "Small Island Developing States (SIDS)")
    rows = {lang: [tuple(r[k] for k in keys) for r in table] for lang, table in unsd.items()}
    assert rows["en"] == rows["fr"] == rows["es"]


def test_committed_files_match_a_fresh_build(tmp_path):
    result = subprocess.run([sys.executable, str(GEODATA / "build_m49.py"), "--out", str(tmp_path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    for name in ("m49.csv", "regions.csv"):
        assert (tmp_path / name).read_text(encoding="utf-8") == (GEODATA / name).read_text(encoding="utf-8"), name


# --- membership against the raw UNSD files ------------------------------------------------------------

def test_every_source_code_is_a_region_with_exactly_its_source_members(source_members):
    for code, isos in source_members.items():
        assert regions.members(code) == frozenset(isos), code


def test_latin_america_and_the_caribbean(source_members):
    lac = regions.members("419")
    for iso3 in source_members["419"]:
        assert iso3 in lac
    assert len(lac) == 52
    assert {"BRA", "MEX", "JAM", "HTI", "GUF"} <= lac
    assert not {"USA", "CAN", "ESP"} & lac


def test_groups_and_world(source_members):
    assert regions.members("001") == frozenset(source_members["001"])
    assert "ATA" in regions.members("001")                  # Antarctica: in the World, in no region
    assert [r.code for r in regions.regions_of_country("ATA")] == ["001"]
    assert "HTI" in regions.members("199") and "HTI" in regions.members("722")
    assert "BOL" in regions.members("432") and "BOL" not in regions.members("199")
    assert regions.get_region("722").kind == "group" and regions.get_region("722").parent is None


def test_hierarchy_parents_contain_children():
    for region in regions.all_regions():
        if region.parent:
            assert region.members <= regions.members(region.parent), (region.code, region.parent)


def test_regions_of_country():
    codes = [r.code for r in regions.regions_of_country("bra")]
    assert codes == ["001", "019", "419", "005", "amazon-basin", "guiana-shield", "pan-amazon"]
    assert [r.code for r in regions.regions_of_country("HTI")] == ["001", "019", "419", "029", "199", "722"]
    assert regions.regions_of_country("TWN") == ()            # not in the UNSD table
    assert regions.regions_of_country("XXX") == ()
    assert regions.regions_of_country(None) == ()


# --- names and lookups --------------------------------------------------------------------------------

def test_official_names_in_three_languages(source_names):
    for code, names in source_names.items():
        region = regions.get_region(code)
        assert region.names == names, code
    assert regions.get_region("419").names == {
        "en": "Latin America and the Caribbean", "fr": "Amérique latine et Caraïbes",
        "es": "América Latina y el Caribe"}


@pytest.mark.parametrize("text, code", [
    ("latin america and the caribbean", "419"),
    ("LATIN AMERICA AND THE CARIBBEAN", "419"),
    ("Amérique latine et Caraïbes", "419"),
    ("amerique latine et caraibes", "419"),
    ("América Latina y el Caribe", "419"),
    ("america latina, y el caribe!", "419"),
    ("419", "419"),
    (" 419 ", "419"),
    ("19", "019"),
    ("Sub-Saharan Africa", "202"),
    ("sub saharan africa", "202"),
    ("Afrique subsaharienne", "202"),
    ("África Subsahariana", "202"),
    ("Africa", "002"),
    ("Afrique", "002"),
    ("África", "002"),
    ("002", "002"),
    ("World", "001"),
    ("Monde", "001"),
    ("mundo", "001"),
    ("Caribbean", "029"),
    ("the Caribbean", "029"),
    ("Caraïbes", "029"),
    ("El Caribe", "029"),
    ("Asie méridionale", "034"),
    ("Southern Asia", "034"),
    ("Small Island Developing States (SIDS)", "722"),
    ("small island developing states", "722"),
    ("Petits États insulaires en développement", "722"),
    ("Least Developed Countries", "199"),
    ("Países menos adelantados", "199"),
    ("amazon-basin", "amazon-basin"),
    ("Amazon-Basin", "amazon-basin"),
    ("Amazon basin", "amazon-basin"),
    ("Bassin amazonien", "amazon-basin"),
    ("Cuenca amazónica", "amazon-basin"),
    ("guiana-shield", "guiana-shield"),
    ("Plateau des Guyanes", "guiana-shield"),
    ("Escudo guayanés", "guiana-shield"),
    ("Asia Pacific", "asia-pacific"),      # issue 12: a custom region now (M49 Asia and Oceania)
    ("Arctic", "arctic"),
    ("Guianas", "guianas"),
    ("Pan-Amazon", "pan-amazon"),
    # aliases
    ("Latin America", "419"),
    ("LAC", "419"),
    ("América Latina", "419"),
    ("Latin American and Caribbean region", "419"),
    ("SIDS", "722"),
    ("LDCs", "199"),
    ("LLDC", "432"),
    ("Central Africa", "017"),
    ("Southeast Asia", "035"),
    ("Amazon", "amazon-basin"),
    ("Amazonía", "amazon-basin"),
])
def test_lookup(text, code):
    region = regions.lookup_region(text)
    assert region is not None, text
    assert region.code == code


@pytest.mark.parametrize("text", [
    "Atlantis", "", "   ", None, "ASEAN", "North America", "Middle East", "999", "0", "Brazil", "BRA",
])
def test_unknown_is_none(text):
    assert regions.lookup_region(text) is None


def test_get_region_and_members_of_unknown_code():
    assert regions.get_region("Latin America") is None       # get_region takes codes only
    assert regions.get_region(None) is None
    with pytest.raises(KeyError):
        regions.members("atlantis")


def test_every_alias_reaches_its_region_and_shadows_no_official_name():
    official = {}
    for region in regions.all_regions():
        for name in region.names.values():
            official[regions.fold(name)] = region.code
    for alias, code in regions.ALIASES.items():
        assert regions.get_region(code) is not None, alias
        assert regions.lookup_region(alias).code == code, alias
        assert official.get(regions.fold(alias), code) == code, alias


def test_names_are_unambiguous():
    # no folded official name may stand for two regions
    seen = {}
    for region in regions.all_regions():
        for name in region.names.values():
            key = regions.fold(name)
            assert seen.setdefault(key, region.code) == region.code, (name, seen[key], region.code)


def test_all_regions_kinds_and_order():
    kinds = [r.kind for r in regions.all_regions()]
    assert kinds == sorted(kinds, key=regions.KINDS.index)
    assert set(kinds) == set(regions.KINDS)
    assert {r.code for r in regions.all_regions() if r.kind == "region"} == {"002", "009", "019", "142", "150"}


# --- custom regions -----------------------------------------------------------------------------------

def test_custom_regions_are_real_countries_with_a_source():
    known = countries_csv_codes()
    with (GEODATA / "custom_regions.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {row["code"] for row in rows} == {"amazon-basin", "arctic", "asean-10", "asia-pacific", "guiana-shield",
                                             "guianas", "pan-amazon"}
    for row in rows:
        region = regions.get_region(row["code"])
        assert region.kind == "custom"
        assert region.members == frozenset(row["members"].split())
        assert region.members <= known, region.members - known
        assert region.members <= regions.members(region.parent)
        assert row["source"].startswith(("The ", "the ")) and "http" in row["source"]
        assert all(region.names[lang] for lang in ("en", "fr", "es"))


def test_custom_region_members():
    # ACTO's eight member states; French Guiana is not one (France is not a party)
    assert regions.members("amazon-basin") == {"BOL", "BRA", "COL", "ECU", "GUY", "PER", "SUR", "VEN"}
    # the UNDP Guiana Shield Facility's six countries
    assert regions.members("guiana-shield") == {"BRA", "COL", "GUF", "GUY", "SUR", "VEN"}
