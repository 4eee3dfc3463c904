"""How a CSV cell holds lists and records, in both directions (README.md "Import formats" says the same).

- Lists: entries separated by `;` (lists of words also accept `|`, as older files did).
- Entries of a list of mappings (locations, sources): fields separated by `|`; the first fields by position
  (a location: name|lat|lon|precision; a source: section|quote|document), then `key=value` for every other
  key of the mapping that has a value (a location's `country=KEN`, and whatever keys locations gain later).
- Roles (the funders/leads/implementers/partners columns): organisation ids separated by `;`, each id
  followed by `|key=value` for its basis, source and reason when recorded (`agc|basis=stated|source=1`).
  Older files separated plain ids by `|` too (`agc|gef`): an entry with no `key=value` field is a list of ids.
- A project's evidence (the basis of status, start_year, end_year): entries `field|basis|key=value` separated
  by `;`: `status|stated|source=2; end_year|inferred|reason=a three-year project begun in 2021`.
- A backslash escapes the separators: `\\;` is a `;`, `\\|` a `|`, `\\\\` a backslash, inside any value. A
  backslash before any other character is kept as it is, so older files read as before.
- Spreadsheet formulas: a cell starting with = + - @ a tab, a carriage return or ' is written with one more
  ' in front; reading removes one leading ' when one of those characters follows it. A hand-typed leading
  ' before anything else (`'Mercury-free' schools`) is kept.
"""
import re
from decimal import Decimal

GUARDED = "=+-@\t\r'"       # first characters a spreadsheet would run as a formula (and the guard itself)
ESCAPED = re.compile(r"([\\;|])")
UNESCAPE = re.compile(r"\\([\\;|])")
TOKEN = re.compile(r"\\[\\;|]|[;|]")    # an escaped character (skipped) or a separator
LOCATION_FIELDS = ("name", "lat", "lon", "precision")
SOURCE_FIELDS = ("section", "quote", "document")
ROLE_FIELDS = ("org",)                      # a role's positional field (its role is the column's)
SUPPORT_KEYS = ("basis", "source", "reason")
EVIDENCE_FIELDS = ("field", "basis")        # an evidence entry's positional fields


class CellError(ValueError):
    """A cell that cannot be read; the message says what to fix."""


# --- formula guard --------------------------------------------------------------------------------

def guard(text):
    return "'" + text if text[:1] and text[0] in GUARDED else text


def unguard(text):
    return text[1:] if text[:1] == "'" and text[1:2] and text[1] in GUARDED else text


# --- writing --------------------------------------------------------------------------------------

def escape(text):
    return ESCAPED.sub(r"\\\1", text)


def scalar(value):
    """A value as cell text: numbers in plain decimal notation (never `1e-05`, which no reader takes)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return str(value)


def join_words(values):
    return ";".join(escape(scalar(v)) for v in values)


def join_entries(items, positional):
    """`a|b|c|key=value; ...`: the positional fields, then every other key with a value."""
    return "; ".join(_entry(item, positional) for item in items)


def join_roles(roles):
    """`agc;gef|basis=inferred|reason=...`: plain ids stay plain (`;` between entries, as in older files)."""
    return ";".join(_entry({key: role.get(key) for key in ROLE_FIELDS + SUPPORT_KEYS}, ROLE_FIELDS)
                    for role in roles)


def join_evidence(evidence):
    """{field: {basis, source | reason}} -> `status|stated|source=2; end_year|inferred|reason=...`."""
    return join_entries([dict(entry, field=name) for name, entry in evidence.items()], EVIDENCE_FIELDS)


def _entry(item, positional):
    fields = [escape(scalar(item.get(key))) for key in positional]
    fields += [f"{key}={escape(scalar(value))}" for key, value in item.items()
               if key not in positional and value is not None]
    return "|".join(fields)


# --- reading --------------------------------------------------------------------------------------

def split_raw(text, separators):
    """Split at the separators that are not escaped; the parts keep their escapes."""
    parts, start = [], 0
    for m in TOKEN.finditer(text):
        if m.group() in separators:
            parts.append(text[start:m.start()])
            start = m.end()
    parts.append(text[start:])
    return parts


def unescape(text):
    return UNESCAPE.sub(r"\1", text).strip()


def split_words(cell):
    """A list of words (`;` or `|` between them); empty entries carry nothing and are skipped."""
    words = [unescape(part) for part in split_raw(cell or "", ";|")]
    return [w for w in words if w]


def split_entries(cell, positional, keys):
    """A list of mappings: positional fields, then `key=value` for the keys in `keys`. Raises CellError."""
    out = []
    for number, raw in enumerate((p for p in split_raw(cell or "", ";") if p.strip()), 1):
        try:
            out.append(_read_entry(raw, positional, keys))
        except CellError as exc:
            raise CellError(f"entry {number} ({unescape(raw)[:60]!r}): {exc}") from None
    return out


def split_roles(cell):
    """The roles of one column: [{org, basis?, source?, reason?}]. Raises CellError."""
    out = []
    for number, raw in enumerate((p for p in split_raw(cell or "", ";") if p.strip()), 1):
        fields = [unescape(f) for f in split_raw(raw, "|")]
        if not any("=" in f for f in fields[1:]):      # `agc` or, as older files wrote lists, `agc|gef`
            out += [{"org": f} for f in fields if f]
            continue
        try:
            out.append({k: v for k, v in _read_entry(raw, ROLE_FIELDS, ROLE_FIELDS + SUPPORT_KEYS).items()
                        if v is not None})
        except CellError as exc:
            raise CellError(f"entry {number} ({unescape(raw)[:60]!r}): {exc}") from None
    return out


def split_evidence(cell):
    """A project's evidence cell -> {field: {basis, source?, reason?}}. Raises CellError."""
    out = {}
    for entry in split_entries(cell, EVIDENCE_FIELDS, EVIDENCE_FIELDS + SUPPORT_KEYS):
        name = entry.pop("field")
        if not name:
            raise CellError(f"an entry names no field: write field|basis|source=N or field|basis|reason=..., e.g. "
                            "status|stated|source=1")
        if name in out:
            raise CellError(f"'{name[:40]}' is given twice: give each field's basis once")
        out[name] = {k: v for k, v in entry.items() if v is not None}
    return out


def _read_entry(raw, positional, keys):
    fields = [unescape(f) for f in split_raw(raw, "|")]
    item = dict(zip(positional, fields))
    for text in fields[len(positional):]:
        if not text:
            continue
        key, eq, value = text.partition("=")
        key = key.strip()
        if not eq or not key:
            raise CellError(f"'{text[:40]}' should be key=value after the first {len(positional)} fields "
                            f"({'|'.join(positional)}); write a | inside a value as \\|")
        if key not in keys:
            raise CellError(f"'{key[:40]}' is not a field here; the fields are: {', '.join(keys)}")
        if key in item:
            raise CellError(f"'{key}' is given twice")
        item[key] = value.strip()
    return {k: (v if v != "" else None) for k, v in item.items()}
