"""Regions: the UN M49 geoscheme and a few named custom regions (no network, no Flask).

Data, read once at first use (see geodata/m49-source/README.md for the source and terms):
- geodata/regions.csv: one row per grouping (code, kind, names in English, French and Spanish, parent),
  built by geodata/build_m49.py from the UNSD M49 tables;
- geodata/m49.csv: one row per country or area (ISO alpha-3) with its region, sub-region and intermediate
  region codes and its LDC / LLDC / SIDS membership;
- geodata/custom_regions.csv: regions M49 does not have (the Amazon basin, the Guiana Shield), each with
  its member countries and a source line.

Codes are M49 codes as text ("419", "002", "001"); custom regions have a slug ("amazon-basin").
Kinds: world | region | subregion | intermediate | group | custom.
A country that M49 does not list (Taiwan, TWN, is in countries.csv but not in M49) belongs to no region.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache

from .geo import fold
from .paths import GEODATA

REGIONS_CSV = GEODATA / "regions.csv"
M49_CSV = GEODATA / "m49.csv"
CUSTOM_CSV = GEODATA / "custom_regions.csv"

KINDS = ("world", "region", "subregion", "intermediate", "group", "custom")
LANGS = ("en", "fr", "es")

# m49.csv columns whose value is a region code, and the group code of each 0/1 flag column
_LEVEL_COLUMNS = ("region_code", "subregion_code", "intermediate_code")
_GROUP_FLAGS = {"ldc": "199", "lldc": "432", "sids": "722"}

# What users type that is not an official M49 name, and the region each means. Lookups try codes first,
# then the official names (in the three languages, with and without a trailing acronym in brackets), and
# only then these, so none of them can hide an official name.
#
# Deliberately absent:
# - "Asia Pacific" / "Asia-Pacific": M49 has no such grouping (the nearest is Asia 142 plus Oceania 009, and
#   ESCAP's membership is something else again); a record about the Asia-Pacific needs a custom region.
# - "North America": it means the continent (M49 019 less South America) as often as M49 "Northern
#   America" (021: Bermuda, Canada, Greenland, Saint Pierre and Miquelon, the United States), so it is
#   ambiguous.
# - "Middle East": not an M49 grouping (it spans Western Asia 145 and part of Northern Africa 015).
# - "Sub-Saharan Africa" needs no alias: it is the official English name of 202.
ALIASES = {
    # 419: M49 has no "Latin America" without the Caribbean; users who type it mean 419.
    "Latin America": "419",
    "Amérique latine": "419",          # French, the same
    "América Latina": "419",           # Spanish, the same
    "LAC": "419",                      # the usual English acronym of Latin America and the Caribbean
    "ALC": "419",                      # the French and Spanish acronym (Amérique latine et Caraïbes)
    "Latin America and Caribbean": "419",          # the official name without "the"
    "Latin American and Caribbean region": "419",  # as the Partnership's report words it
    # 019: the report's words for a network spanning the Americas
    "North, Central and Latin America": "019",
    # 202: "subsaharan" written as one word (the French and Spanish official names write it so)
    "Subsaharan Africa": "202",
    # 017: "Middle Africa" is called Central Africa in French and Spanish (Afrique centrale, África central)
    "Central Africa": "017",
    # the everyday English names of M49 sub-regions ("Western Africa" is officially so, users write "West Africa")
    "West Africa": "011",
    "East Africa": "014",
    "North Africa": "015",
    "East Asia": "030",
    "South Asia": "034",
    # 009: the Pacific islands, which M49 calls Oceania
    "Pacific": "009",
    "Pacific Islands": "009",
    # 035: the everyday English name of South-eastern Asia
    "South-East Asia": "035",
    "Southeast Asia": "035",
    # groups: the acronyms and plurals users type, and the landlocked spelling UN-OHRLLS uses
    "LDC": "199",
    "LDCs": "199",
    "PMA": "199",                      # French and Spanish acronym
    "LLDC": "432",
    "LLDCs": "432",
    "Landlocked Developing Countries": "432",
    "PDSL": "432",                     # French and Spanish acronym
    "SIDS": "722",
    "PEID": "722",                     # French and Spanish acronym
    # custom regions: the report's words for ASEAN's members at the time (2020-2022: ten, before Timor-Leste)
    "ASEAN Member States": "asean-10",
    # custom regions: what the report and users call the Amazon
    "Amazon": "amazon-basin",
    "Amazonia": "amazon-basin",
    "Amazonie": "amazon-basin",        # French
    "Amazonía": "amazon-basin",        # Spanish
}


@dataclass(frozen=True)
class Region:
    code: str
    kind: str
    names: dict[str, str]            # {"en": ..., "fr": ..., "es": ...}
    parent: str | None
    members: frozenset[str]          # ISO alpha-3 codes

    @property
    def name(self) -> str:
        """The English name."""
        return self.names["en"]

    def name_in(self, lang: str) -> str:
        """The name in `lang` (en, fr, es; the official M49 name), English when it has none."""
        return self.names.get(lang) or self.names["en"]

    def __hash__(self) -> int:       # names is a dict: hash by code, which is unique
        return hash(self.code)


@dataclass(frozen=True)
class _Index:
    by_code: dict[str, Region]
    by_key: dict[str, Region]
    by_country: dict[str, tuple[Region, ...]]


def _code_key(text: str) -> str:
    """A typed code in its canonical form: '19' -> '019', ' Amazon-Basin ' -> 'amazon-basin'."""
    text = text.strip().lower()
    return text.zfill(3) if text.isdigit() and len(text) <= 3 else text


@lru_cache(maxsize=1)
def _index() -> _Index:
    with REGIONS_CSV.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with M49_CSV.open(newline="", encoding="utf-8") as f:
        countries = list(csv.DictReader(f))
    with CUSTOM_CSV.open(newline="", encoding="utf-8") as f:
        custom = {row["code"]: row["members"].split() for row in csv.DictReader(f)}

    members: dict[str, set[str]] = {row["code"]: set() for row in rows}
    for country in countries:
        iso3 = country["iso3"]
        members["001"].add(iso3)
        for column in _LEVEL_COLUMNS:
            if country[column]:
                members[country[column]].add(iso3)
        for flag, code in _GROUP_FLAGS.items():
            if country[flag] == "1":
                members[code].add(iso3)
    for code, isos in custom.items():
        members[code].update(isos)

    by_code = {row["code"]: Region(row["code"], row["kind"], {lang: row[f"name_{lang}"] for lang in LANGS},
                                   row["parent"] or None, frozenset(members[row["code"]]))
               for row in rows}

    keys: list[tuple[int, str, Region]] = []
    for region in by_code.values():
        keys.append((0, region.code, region))
        for name in region.names.values():
            keys.append((1, name, region))
            bare = re.sub(r"\s*\([^)]*\)\s*$", "", name)     # "Small Island Developing States (SIDS)"
            if bare != name:
                keys.append((2, bare, region))
    keys += [(3, alias, by_code[code]) for alias, code in ALIASES.items()]
    by_key: dict[str, Region] = {}
    for _, text, region in sorted(keys, key=lambda item: item[0]):
        by_key.setdefault(fold(text), region)

    by_country: dict[str, list[Region]] = {}
    for region in sorted(by_code.values(), key=lambda r: (KINDS.index(r.kind), r.code)):
        for iso3 in region.members:
            by_country.setdefault(iso3, []).append(region)
    return _Index(by_code, by_key, {iso3: tuple(regions) for iso3, regions in by_country.items()})


def all_regions() -> list[Region]:
    """Every grouping: world, regions, sub-regions, intermediate regions, groups, custom; by code within each."""
    return sorted(_index().by_code.values(), key=lambda r: (KINDS.index(r.kind), r.code))


def get_region(code: str | None) -> Region | None:
    """The region with this code ("419", "19", "amazon-basin"; case-insensitive), or None."""
    if not code:
        return None
    return _index().by_code.get(_code_key(code))


def lookup_region(text: str | None) -> Region | None:
    """A region from a code, an official name in English, French or Spanish, or a common alias
    (case-, accent- and punctuation-insensitive); None if unknown."""
    if not text or not text.strip():
        return None
    return get_region(text) or _index().by_key.get(fold(text))


def regions_of_country(iso3: str | None) -> tuple[Region, ...]:
    """Every grouping the country belongs to (world first, custom regions last); () if M49 lacks it."""
    if not iso3:
        return ()
    return _index().by_country.get(iso3.strip().upper(), ())


def members(code: str) -> frozenset[str]:
    """The ISO alpha-3 codes of the region with this code. KeyError for an unknown code: resolve what a
    user typed with lookup_region() first."""
    region = get_region(code)
    if region is None:
        raise KeyError(code)
    return region.members
