"""Build geodata/m49.csv and geodata/regions.csv from the UN M49 tables in geodata/m49-source/.

Inputs (committed, verbatim; see geodata/m49-source/README.md):
  m49-source/UNSD-en.csv, UNSD-fr.csv, UNSD-es.csv   the UNSD "Standard country or area codes for
                                                     statistical use" (M49) table in three languages
  custom_regions.csv                                 hand-made regions that M49 does not have, each
                                                     with its members and a source line

Outputs (committed, deterministic):
  m49.csv      one row per country or area: iso3, m49, region_code, subregion_code, intermediate_code,
               ldc, lldc, sids (0/1)
  regions.csv  one row per grouping: code, kind (world | region | subregion | intermediate | group |
               custom), name_en, name_fr, name_es, parent

Only the standard library: run it with any Python 3.10+.

    python geodata/build_m49.py            # writes into geodata/
    python geodata/build_m49.py --out DIR  # writes into DIR (the tests compare that with geodata/)

The build fails (and writes nothing) if the three languages disagree on any code, flag or ISO code, if a
code has two names in one language, or if a custom region names an ISO code that M49 does not have.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "m49-source"
LANGS = ("en", "fr", "es")

# The column headers of the UNSD files (the same English headers in all three languages).
GLOBAL_CODE, GLOBAL_NAME = "Global Code", "Global Name"
LEVELS = (  # (kind, code column, name column), from the top down
    ("region", "Region Code", "Region Name"),
    ("subregion", "Sub-region Code", "Sub-region Name"),
    ("intermediate", "Intermediate Region Code", "Intermediate Region Name"),
)
M49, ISO3 = "M49 Code", "ISO-alpha3 Code"
FLAGS = {  # m49.csv column -> UNSD column ("x" when the country is in the group)
    "ldc": "Least Developed Countries (LDC)",
    "lldc": "Land Locked Developing Countries (LLDC)",
    "sids": "Small Island Developing States (SIDS)",
}

# The three groups of countries in special situations, with the M49 codes UNSD gives them on its M49
# overview page (https://unstats.un.org/unsd/methodology/m49/). The English names are the headers of the
# UNSD files. The files have no French or Spanish names for them (their headers are English in every
# language), so those are the UN's usual terms (the UN-OHRLLS and UNCTAD French and Spanish pages use
# them, with the acronyms PMA, PDSL and PEID).
GROUPS = {
    "ldc": ("199", "Least Developed Countries (LDC)",
            "Pays les moins avancés (PMA)", "Países menos adelantados (PMA)"),
    "lldc": ("432", "Land Locked Developing Countries (LLDC)",
             "Pays en développement sans littoral (PDSL)", "Países en desarrollo sin litoral (PDSL)"),
    "sids": ("722", "Small Island Developing States (SIDS)",
             "Petits États insulaires en développement (PEID)",
             "Pequeños Estados insulares en desarrollo (PEID)"),
}

M49_COLUMNS = ["iso3", "m49", "region_code", "subregion_code", "intermediate_code", "ldc", "lldc", "sids"]
REGION_COLUMNS = ["code", "kind", "name_en", "name_fr", "name_es", "parent"]
KIND_ORDER = {"world": 0, "region": 1, "subregion": 2, "intermediate": 3, "group": 4, "custom": 5}


class BuildError(Exception):
    pass


def read_source(lang: str, source: Path = SOURCE) -> list[dict[str, str]]:
    with (source / f"UNSD-{lang}.csv").open(newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def _flag(value: str, where: str) -> str:
    if value not in ("", "x"):
        raise BuildError(f"{where}: unexpected flag {value!r}")
    return "1" if value == "x" else "0"


def build(source: Path = SOURCE, custom_csv: Path = HERE / "custom_regions.csv"):
    """Return (m49 rows, region rows), both sorted, or raise BuildError."""
    tables = {lang: read_source(lang, source) for lang in LANGS}
    en = tables["en"]
    if any(len(rows) != len(en) for rows in tables.values()):
        raise BuildError("the three files have different numbers of rows")

    names: dict[str, dict[str, str]] = {}   # code -> {lang: name}
    kinds: dict[str, str] = {}
    parents: dict[str, str] = {}

    def add(code: str, kind: str, parent: str, lang: str, name: str, where: str) -> None:
        if kinds.setdefault(code, kind) != kind:
            raise BuildError(f"{where}: code {code} is both {kinds[code]} and {kind}")
        if parents.setdefault(code, parent) != parent:
            raise BuildError(f"{where}: code {code} has two parents, {parents[code]} and {parent}")
        known = names.setdefault(code, {}).setdefault(lang, name)
        if known != name:
            raise BuildError(f"{where}: code {code} is named both {known!r} and {name!r} in {lang}")

    countries = []
    for i, row in enumerate(en):
        where = f"row {i + 2}"
        for lang in LANGS[1:]:
            other = tables[lang][i]
            same = [GLOBAL_CODE, M49, ISO3, *FLAGS.values()] + [code for _, code, _ in LEVELS]
            for column in same:
                if other[column] != row[column]:
                    raise BuildError(f"{where}: {column} is {row[column]!r} in en, {other[column]!r} in {lang}")
        for lang in LANGS:
            r = tables[lang][i]
            add(r[GLOBAL_CODE], "world", "", lang, r[GLOBAL_NAME], where)
            parent = r[GLOBAL_CODE]
            for kind, code_col, name_col in LEVELS:
                if r[code_col]:
                    add(r[code_col], kind, parent, lang, r[name_col], where)
                    parent = r[code_col]
        iso3 = row[ISO3]
        if len(iso3) != 3 or not iso3.isalpha() or not iso3.isupper():
            raise BuildError(f"{where}: bad ISO alpha-3 code {iso3!r}")
        countries.append({
            "iso3": iso3,
            "m49": row[M49],
            "region_code": row["Region Code"],
            "subregion_code": row["Sub-region Code"],
            "intermediate_code": row["Intermediate Region Code"],
            **{key: _flag(row[column], where) for key, column in FLAGS.items()},
        })
    isos = [c["iso3"] for c in countries]
    if len(set(isos)) != len(isos):
        raise BuildError("an ISO alpha-3 code appears twice")

    regions = []
    for code, by_lang in names.items():
        if set(by_lang) != set(LANGS):
            raise BuildError(f"code {code} lacks a name in {sorted(set(LANGS) - set(by_lang))}")
        regions.append({"code": code, "kind": kinds[code], **{f"name_{l}": by_lang[l] for l in LANGS},
                        "parent": parents[code]})
    # The groups are not places: no parent, so that a tree of regions stays a tree of places.
    for code, name_en, name_fr, name_es in GROUPS.values():
        regions.append({"code": code, "kind": "group", "name_en": name_en, "name_fr": name_fr,
                        "name_es": name_es, "parent": ""})

    with custom_csv.open(newline="", encoding="utf-8") as f:
        custom = list(csv.DictReader(f))
    codes = {r["code"] for r in regions}
    for row in custom:
        where = f"custom_regions.csv, {row['code']}"
        if row["code"] in codes or row["code"].isdigit():
            raise BuildError(f"{where}: the code clashes with an M49 code")
        unknown = sorted(set(row["members"].split()) - set(isos))
        if unknown or not row["members"].split():
            raise BuildError(f"{where}: members not in M49: {unknown}")
        if row["parent"] and row["parent"] not in codes:
            raise BuildError(f"{where}: unknown parent {row['parent']}")
        if not row["source"].strip():
            raise BuildError(f"{where}: no source")
        regions.append({"code": row["code"], "kind": "custom", "name_en": row["name_en"],
                        "name_fr": row["name_fr"], "name_es": row["name_es"], "parent": row["parent"]})
        codes.add(row["code"])

    countries.sort(key=lambda c: c["iso3"])
    regions.sort(key=lambda r: (KIND_ORDER[r["kind"]], r["code"]))
    return countries, regions


def write(rows: list[dict[str, str]], columns: list[str], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write m49.csv and regions.csv into")
    args = parser.parse_args(argv)
    try:
        countries, regions = build()
    except BuildError as e:
        print(f"build_m49: {e}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    write(countries, M49_COLUMNS, args.out / "m49.csv")
    write(regions, REGION_COLUMNS, args.out / "regions.csv")
    print(f"wrote {len(countries)} countries to {args.out / 'm49.csv'}, "
          f"{len(regions)} groupings to {args.out / 'regions.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
