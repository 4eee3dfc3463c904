"""Country lookup from the committed geodata (no network, no Flask).

Data: geodata/countries.csv (one row per ISO 3166-1 country, with a point
inside it) and geodata/countries.geojson (110m boundaries), both built by
geodata/build_countries.py.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .paths import GEODATA as GEODATA_DIR
COUNTRIES_CSV = GEODATA_DIR / "countries.csv"
COUNTRIES_GEOJSON = GEODATA_DIR / "countries.geojson"
GAZETTEER_CSV = GEODATA_DIR / "gazetteer.csv"
# names in French and Spanish: short (CLDR) and the UN's (geodata/build_country_names.py)
COUNTRY_NAMES_CSV = GEODATA_DIR / "country_names.csv"
NAME_LANGS = ("fr", "es")   # named places with a point (geodata/build_gazetteer.py)


@dataclass(frozen=True)
class Country:
    iso3: str
    iso2: str
    name: str
    lat: float
    lon: float


def fold(text: str) -> str:
    """Normalise a name for matching: no accents, case, punctuation or leading 'the'."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = re.sub(r"[^0-9a-z]+", " ", text).strip()
    return text[4:] if text.startswith("the ") else text


@dataclass(frozen=True)
class _Index:
    by_iso3: dict[str, Country]
    by_key: dict[str, Country]
    names: dict[tuple[str, str], str]     # (iso3, lang) -> short name in French or Spanish


@lru_cache(maxsize=1)
def _index() -> _Index:
    # keep_default_na=False is essential there (Namibia is "NA"); the csv
    # module never converts anything, so plain strings are safe here.
    with COUNTRIES_CSV.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_iso3: dict[str, Country] = {}
    names: list[tuple[int, str, Country]] = []
    for row in rows:
        country = Country(row["iso3"], row["iso2"], row["name"],
                          float(row["lat"]), float(row["lon"]))
        by_iso3[country.iso3] = country
        aliases = [a for a in row["aliases"].split("|") if a]
        # Priority: codes first, then the display and official names, then aliases.
        names += [(0, country.iso3, country), (1, country.iso2, country),
                  (2, country.name, country), (2, row["official_name"], country)]
        names += [(3, alias, country) for alias in aliases]
    translated = _translated_names()
    # French and Spanish names come last: an English name or alias always wins a clash
    names += [(4, name, by_iso3[iso3]) for (iso3, _lang), name in translated["all"] if iso3 in by_iso3]
    by_key: dict[str, Country] = {}
    for _, text, country in sorted(names, key=lambda item: item[0]):
        by_key.setdefault(fold(text), country)
    return _Index(by_iso3, by_key, translated["short"])


def _translated_names():
    with COUNTRY_NAMES_CSV.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    short = {(r["iso3"], lang): r[f"name_{lang}"] for r in rows for lang in NAME_LANGS}
    every = [((r["iso3"], lang), r[column]) for r in rows for lang in NAME_LANGS
             for column in (f"name_{lang}", f"un_name_{lang}")]
    return {"short": short, "all": every}


def lookup_country(text: str | None) -> Country | None:
    """Find a country by ISO3, ISO2, English name or alias, or its French or Spanish name; None if unknown."""
    if not text:
        return None
    return _index().by_key.get(fold(text))


def get_country(iso3: str | None) -> Country | None:
    """The country with this ISO 3166-1 alpha-3 code (case-insensitive)."""
    if not iso3:
        return None
    return _index().by_iso3.get(iso3.strip().upper())


def all_countries() -> list[Country]:
    """Every ISO 3166-1 country, sorted by (folded) name."""
    return sorted(_index().by_iso3.values(), key=lambda c: fold(c.name))


def country_name(iso3: str, lang: str = "en") -> str:
    """Display name for a code in `lang` (en, fr, es), or the code itself if it is unknown."""
    country = get_country(iso3)
    if not country:
        return iso3
    return _index().names.get((country.iso3, lang), country.name) if lang != "en" else country.name


def countries_geojson_path() -> Path:
    """Path of the committed 110m boundaries (FeatureCollection, EPSG:4326)."""
    return COUNTRIES_GEOJSON


@dataclass(frozen=True)
class Place:
    """An entry of the shipped gazetteer: `id` ("geonames:2294768"), where it comes from (`source`,
    `source_id`) and its point."""
    id: str
    name: str
    country: str
    lat: float
    lon: float
    kind: str
    source: str
    source_id: str


@lru_cache(maxsize=1)
def _gazetteer() -> dict[str, Place]:
    with GAZETTEER_CSV.open(newline="", encoding="utf-8") as f:
        return {row["id"]: Place(**dict(row, lat=float(row["lat"]), lon=float(row["lon"])))
                for row in csv.DictReader(f)}


def gazetteer_place(place_id: str | None) -> Place | None:
    """The gazetteer entry with this id, or None."""
    return _gazetteer().get(place_id) if place_id else None
