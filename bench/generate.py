"""Realistic synthetic registry records, deterministic for a given seed.

Words and phrases come from the report (geodata/report/) and the seed YAML (geodata/seed/): descriptions
are 80-250 words of report sentences, titles and summaries combine the seed's keywords with real
countries, roles point at seed organisations and at synthetic ones. The output is the JSON import
format ({"organisations": [...], "projects": [...]}, see geodata/seed/FORMAT.md), so the real importer
loads it.

    python -m bench.generate 1000 -o records.json [--seed 7]
"""
import argparse
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from registry.core import geo
from registry.core.validate import AREAS, KINDS, ORG_TYPES, STATUSES, clean_organisation

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "geodata" / "report" / "gmp-activities-2020-2022.txt"
SEED_DIR = ROOT / "geodata" / "seed"

PRECISIONS = {"site": 35, "subnational": 25, "country": 25, "region": 10, "global": 5}
ORG_NAME_PATTERNS = {
    "government": ["Ministry of Environment of {country}", "{country} Ministry of Mines",
                   "{country} Environmental Protection Agency", "National Mercury Office of {country}"],
    "igo": ["{region} Mercury Programme", "{region} Environment Facility"],
    "ngo": ["{country} Alliance for {topic}", "Friends of {topic} ({country})", "{country} Miners Association"],
    "industry": ["{country} {topic} Company", "{topic} Industries of {country}"],
    "academia": ["University of {country} Institute for {topic}", "{country} Centre for {topic} Research"],
    "other": ["{topic} Network of {country}", "{country} {topic} Cooperative"],
}
TITLE_PATTERNS = ["{Keyword} in {country}", "{Keyword} and {keyword} in {country}", "{Kind} on {keyword}, {country}",
                  "{Keyword} {kind} ({country}, {year})", "{Area}: {keyword} in {country}"]
SUMMARY = "{title}: a {kind} on {keyword} and {keyword2} in {where}, with {org}."
REGIONS = ["West Africa", "East Africa", "Southern Africa", "Latin America", "the Amazon basin", "South-East Asia",
           "South Asia", "the Pacific", "Central Asia", "the Caribbean", "Eastern Europe", "the Arctic"]


@dataclass
class Pools:
    """Word pools and empirical distributions taken from the report and the seed."""
    sentences: list       # report sentences (6-60 words), for descriptions and source quotes
    keywords: list        # seed keywords (with their frequency)
    topics: list          # short keyword phrases, for organisation names
    areas: list           # main areas, status, kinds and start years, as often as the seed uses them
    statuses: list
    kinds: list
    years: list
    countries: list       # seed countries (weighted x3) plus every ISO country once
    seed_orgs: list       # cleaned seed organisations (valid import records)
    funders: list         # seed organisation ids that fund projects (weighted)


def _report_sentences(text):
    text = re.sub(r"https?://\S+", " ", text)
    text = re.sub(r"[*#_\u00b9\u00b2\u00b3\u2070-\u209f]+", "", text)
    out = []
    for line in text.splitlines():
        line = line.strip(" -\t")
        for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z\u201c])", line):
            words = sentence.split()
            if 6 <= len(words) <= 60 and sentence.endswith((".", "!", "?")):
                out.append(" ".join(words))
    return out


def _seed_records(pattern):
    records = []
    for path in sorted(SEED_DIR.glob(pattern)):
        try:
            records += [r for r in yaml.safe_load(path.read_text("utf-8")) or [] if isinstance(r, dict)]
        except yaml.YAMLError:
            continue  # a seed file being edited right now: its words are not needed
    return records


def load_pools():
    projects = _seed_records("projects*.yaml")
    orgs = {}
    for raw in _seed_records("organisations*.yaml"):
        org, errors = clean_organisation(raw)
        if org and not errors and org["country"] in (None, *(c.iso3 for c in geo.all_countries())):
            orgs.setdefault(org["id"], org)
    keywords = [str(k) for p in projects for k in (p.get("keywords") or []) if 3 <= len(str(k)) <= 60]
    iso = [c.iso3 for c in geo.all_countries()]
    seed_countries = [str(c) for p in projects for c in (p.get("countries") or []) if str(c) in iso]
    funders = [r.get("org") for p in projects for r in (p.get("organisations") or [])
               if isinstance(r, dict) and r.get("role") == "funder" and r.get("org") in orgs]
    pick = lambda key, allowed: [p[key] for p in projects if p.get(key) in allowed]  # noqa: E731
    return Pools(
        sentences=_report_sentences(REPORT.read_text("utf-8")),
        keywords=keywords,
        topics=sorted({k.title() for k in keywords if len(k.split()) <= 2 and k.isascii()}),
        areas=pick("area", AREAS) or list(AREAS),
        statuses=pick("status", STATUSES) or list(STATUSES),
        kinds=pick("kind", KINDS) or list(KINDS),
        years=[int(p["start_year"]) for p in projects if str(p.get("start_year", "")).isdigit()] or [2020],
        countries=seed_countries * 3 + iso,
        seed_orgs=sorted(orgs.values(), key=lambda o: o["id"]),
        funders=funders or sorted(orgs),
    )


class Generator:
    def __init__(self, seed=0, pools=None):
        self.rng = random.Random(seed)
        self.pools = pools or load_pools()

    def organisations(self, n):
        """n synthetic organisations (ids syn-org-00001...), with real countries."""
        rng, out = self.rng, []
        for i in range(1, n + 1):
            kind = rng.choice(list(ORG_NAME_PATTERNS))
            country = geo.get_country(rng.choice(self.pools.countries))
            name = rng.choice(ORG_NAME_PATTERNS[kind]).format(
                country=country.name, region=rng.choice(REGIONS).removeprefix("the ").title(),
                topic=rng.choice(self.pools.topics))
            acronym = "".join(w[0] for w in re.findall(r"[A-Za-z]+", name) if w[0].isupper())[:8]
            out.append({"id": f"syn-org-{i:05d}", "name": name, "acronym": acronym or None,
                        "aliases": [], "type": kind if kind in ORG_TYPES else "other",
                        "country": country.iso3, "website": None, "leads_areas": []})
        return out

    def description(self):
        rng, target, words = self.rng, self.rng.randint(80, 250), []
        while len(words) < target:
            words += rng.choice(self.pools.sentences).split()
        text = " ".join(words[:target])
        return text if text.endswith(".") else text.rstrip(",;:") + "."

    def location(self, countries, k):
        rng = self.rng
        precision = rng.choices(list(PRECISIONS), weights=list(PRECISIONS.values()))[0]
        if not countries and precision in ("site", "subnational", "country"):
            precision = "region"
        if precision == "global":
            return {"name": "Global", "precision": "global"}
        if precision == "region":
            c = geo.get_country(rng.choice(countries)) if countries else geo.get_country(rng.choice(self.pools.countries))
            return {"name": rng.choice(REGIONS).removeprefix("the ").title(), "precision": "region",
                    "lat": round(_clamp(c.lat + rng.gauss(0, 4), 85), 4),
                    "lon": round(_clamp(c.lon + rng.gauss(0, 4), 180), 4)}
        c = geo.get_country(rng.choice(countries))
        if precision == "country":
            return {"name": c.name, "precision": "country", "country": c.iso3}
        spread = 0.8 if precision == "site" else 1.5
        return {"name": f"{'Site' if precision == 'site' else 'District'} {k}, {c.name}", "precision": precision,
                "country": c.iso3, "lat": round(_clamp(c.lat + rng.gauss(0, spread), 85), 5),
                "lon": round(_clamp(c.lon + rng.gauss(0, spread), 180), 5)}

    def project(self, i, org_names, earlier_ids):
        """Project number i; org_names maps every usable organisation id to its name."""
        rng, pools, org_ids = self.rng, self.pools, list(org_names)
        countries = [] if rng.random() < 0.06 else list(dict.fromkeys(
            rng.choice(pools.countries) for _ in range(rng.choice([1, 1, 1, 2, 2, 3]))))
        area, kind, status = rng.choice(pools.areas), rng.choice(pools.kinds), rng.choice(pools.statuses)
        other_area = rng.choice(pools.areas)
        keywords = list(dict.fromkeys(rng.choice(pools.keywords) for _ in range(rng.randint(2, 5))))
        start = rng.choice(pools.years + [None]) if rng.random() < 0.8 else None
        end = start + rng.randint(1, 6) if (start and status == "completed") else None
        roles = [{"org": rng.choice(org_ids), "role": rng.choice(["lead", "implementer"])}]
        if rng.random() < 0.5:
            roles.append({"org": rng.choice(pools.funders), "role": "funder"})
        roles += [{"org": rng.choice(org_ids), "role": rng.choice(["partner", "implementer", "funder"])}
                  for _ in range(rng.randint(0, 4 - len(roles)))]
        roles = [dict(t) for t in dict.fromkeys(tuple(r.items()) for r in roles)]
        where = ", ".join(geo.country_name(c) for c in countries) or rng.choice(REGIONS)
        fill = {"keyword": keywords[0], "Keyword": keywords[0][:1].upper() + keywords[0][1:],
                "keyword2": keywords[-1], "kind": kind.replace("-", " "), "Kind": kind.replace("-", " ").capitalize(),
                "country": where, "year": start or 2021, "Area": AREAS[area].split(" (")[0]}
        fill["title"] = title = rng.choice(TITLE_PATTERNS).format(**fill)[:200]
        return {
            "id": f"syn-{i:06d}", "title": title, "summary": SUMMARY.format(
                **fill, where=where, org=org_names[roles[0]["org"]])[:1000],
            "description": self.description(), "kind": kind, "area": area,
            "other_areas": [other_area] if (other_area != area and rng.random() < 0.3) else [],
            "status": status, "start_year": start, "end_year": end,
            "parent": rng.choice(earlier_ids) if (earlier_ids and rng.random() < 0.08) else None,
            "countries": countries,
            "locations": [self.location(countries, k) for k in range(1, rng.randint(1, 5) + 1)],
            "organisations": roles, "keywords": keywords,
            "sources": [{"section": "synthetic", "quote": rng.choice(pools.sentences)}],
        }

    def registry(self, n):
        """{"organisations": [...], "projects": [...]} with n projects."""
        orgs = self.organisations(max(20, n // 25))
        org_names = {o["id"]: o["name"] for o in self.pools.seed_orgs + orgs}
        projects = []
        for i in range(1, n + 1):
            projects.append(self.project(i, org_names, [p["id"] for p in projects[-200:]]))
        return {"organisations": self.pools.seed_orgs + orgs, "projects": projects}


def _clamp(value, limit):
    return max(-limit, min(limit, value))


def generate(n, seed=0):
    return Generator(seed).registry(n)


def write_chunks(doc, folder, max_bytes=15_000_000, max_records=10_000):
    """Write doc as JSON import files of at most max_bytes / max_records (the importer's limits are
    MAX_CONTENT_LENGTH and ingest.MAX_ROWS); organisations go in the first file. Returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths, parts, size = [], [], 0
    orgs = json.dumps(doc["organisations"], ensure_ascii=False, separators=(",", ":"))

    def flush():
        path = folder / f"records-{len(paths) + 1:03d}.json"
        head = orgs if not paths else "[]"
        path.write_text(f'{{"organisations":{head},"projects":[{",".join(parts)}]}}', "utf-8")
        paths.append(path)

    for p in doc["projects"]:
        text = json.dumps(p, ensure_ascii=False, separators=(",", ":"))
        if parts and (size + len(text) > max_bytes or len(parts) >= max_records):
            flush()
            parts, size = [], 0
        parts.append(text)
        size += len(text.encode("utf-8"))
    if parts or not paths:
        flush()
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int)
    parser.add_argument("-o", "--output", default="-")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    text = json.dumps(generate(args.n, args.seed), ensure_ascii=False, indent=1)
    if args.output == "-":
        print(text)
    else:
        Path(args.output).write_text(text, "utf-8")


if __name__ == "__main__":
    main()
