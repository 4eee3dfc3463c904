"""Builds geodata/country_names.csv: each country's name in French and Spanish (issue 13).

Two names per language: `name_fr`/`name_es`, the short name pages show (CLDR, through Babel: "Bolivie",
"Royaume-Uni"), and `un_name_fr`/`un_name_es`, the UN's own name from the UNSD M49 tables
(geodata/m49-source/, "Country or Area": "Bolivie (État plurinational de)"), which searches and filters
accept too. A country M49 does not list (TWN) has CLDR's name in both.
Run from the repository root: `.venv/bin/python geodata/build_country_names.py`.
"""
import csv
from pathlib import Path

from babel import Locale

HERE = Path(__file__).resolve().parent
LANGS = ("fr", "es")
# Where CLDR's short name is colloquial ("Congo-Kinshasa") or the UN's ambiguous ("Congo" for both), the
# names the registry's English matches ("Republic of the Congo", "Democratic Republic of the Congo")
OVERRIDES = {("COG", "fr"): "République du Congo", ("COG", "es"): "República del Congo",
             ("COD", "fr"): "République démocratique du Congo", ("COD", "es"): "República Democrática del Congo"}


def unsd_names(lang):
    with open(HERE / "m49-source" / f"UNSD-{lang}.csv", newline="", encoding="utf-8-sig") as f:
        return {row["ISO-alpha3 Code"]: row["Country or Area"] for row in csv.DictReader(f)
                if row["ISO-alpha3 Code"]}


def main():
    unsd = {lang: unsd_names(lang) for lang in LANGS}
    with open(HERE / "countries.csv", newline="", encoding="utf-8") as f:
        countries = list(csv.DictReader(f))
    rows = []
    for c in countries:
        row = {"iso3": c["iso3"]}
        for lang in LANGS:
            short = Locale(lang).territories.get(c["iso2"])
            row[f"name_{lang}"] = (OVERRIDES.get((c["iso3"], lang)) or short or unsd[lang].get(c["iso3"])
                                   or c["name"])
            row[f"un_name_{lang}"] = unsd[lang].get(c["iso3"]) or row[f"name_{lang}"]
        row["source"] = "CLDR + UNSD M49" if c["iso3"] in unsd["fr"] else "CLDR"
        rows.append(row)
    with open(HERE / "country_names.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["iso3", "name_fr", "name_es", "un_name_fr", "un_name_es", "source"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} countries; {sum(r['source'] == 'CLDR' for r in rows)} not in M49")


if __name__ == "__main__":
    main()
