"""Where the committed files are: templates, static assets and the source data in geodata/."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GEODATA = ROOT / "geodata"
STATIC = ROOT / "static"
TEMPLATES = ROOT / "templates"
