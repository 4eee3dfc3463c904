"""A small picture of who works with whom (issue 15): hand-made SVG, drawn on the server.

The organisation sits in the centre and its partners on a circle around it, the one with most shared
projects at the top, then clockwise in the order given (store/network.py: most shared first, then by
name), so the same data always gives the same picture. A line joins the centre to each partner; the more
projects they share, the wider the line. Each partner and each line carries a <title> (its full name, the
number of shared projects), and the whole picture a <title> and <desc> that say in words what it shows: the
page lists the same numbers as text beside it, for screen readers and for copying.

Only plain strings here: the caller (web/views.py) marks the result safe. Every text from the data is
escaped. The words are in the language of `words` (gettext's interface, core/language.py; English by default).
"""
import math
from xml.sax.saxutils import escape, quoteattr

from ..core.language import ENGLISH
from ..core.summary import shortened

WIDTH, HEIGHT = 640, 400
RADIUS = 130                  # of the circle the partners sit on
CENTRE_R, PARTNER_R = 26, 9   # node radii
LINE_WIDTHS = (1.5, 9.0)      # the line of one shared project, of the most shared
# A label takes up to two lines of about LINE_CHARS characters (what fits beside a node at the left and
# right edges); a longer name is shortened between words, with '…' (the node's <title> holds it whole).
LINE_CHARS, LABEL_LINES, LINE_HEIGHT = 26, 2, 14
# A white halo under each label keeps it readable where a line passes beneath it.
FONT = 'font-family="sans-serif" font-size="12" fill="#1a1a1a" stroke="#fff" stroke-width="3" paint-order="stroke"'
CENTRE_FILL, PARTNER_FILL, LINE = "#1f4e79", "#6baed6", "#9ecae1"


def wrapped(text, width=LINE_CHARS, lines=LABEL_LINES):
    """`text` in at most `lines` lines of about `width` characters, broken between words; what does not
    fit ends the last line as '…' (summary.shortened). A single word longer than `width` keeps a line."""
    out = []
    words = text.split()
    while words and len(out) < lines - 1:
        line = words.pop(0)
        while words and len(line) + 1 + len(words[0]) <= width:
            line += " " + words.pop(0)
        out.append(line)
    if words:
        out.append(shortened(" ".join(words), width))
    return out or [text]


def label_lines(org):
    """The lines drawn for an organisation: its acronym, else its name (wrapped, shortened if long)."""
    return wrapped(org.get("acronym") or org["name"])


def partner_lines(partner):
    """A partner's label lines, the last one ending in its number of shared projects: "GEF (3)"."""
    lines = label_lines(partner)
    return lines[:-1] + [f"{lines[-1]} ({partner['shared']})"]


def full_name(org):
    return f"{org['name']} ({org['acronym']})" if org.get("acronym") else org["name"]


def shared_projects(n, words=ENGLISH):
    """"1 shared project", "3 shared projects" in the language of `words`."""
    return words.ngettext("%(num)s shared project", "%(num)s shared projects", n) % {"num": n}


def line_width(shared, most):
    """Wider for more shared projects: linear from LINE_WIDTHS[0] (one) to LINE_WIDTHS[1] (the most)."""
    low, high = LINE_WIDTHS
    if most <= 1:
        return low
    return round(low + (high - low) * (shared - 1) / (most - 1), 2)


def positions(count):
    """(x, y) of `count` partners on the circle, the first at the top, then clockwise."""
    cx, cy = WIDTH / 2, HEIGHT / 2
    return [(round(cx + RADIUS * math.sin(2 * math.pi * k / count), 1),
             round(cy - RADIUS * math.cos(2 * math.pi * k / count), 1)) for k in range(count)]


def text_svg(x, y, lines, anchor, extra=""):
    """A <text> of one or more lines, the first with its baseline at y."""
    spans = "".join(f'<tspan x="{round(x, 1)}" dy="{0 if i == 0 else LINE_HEIGHT}">{escape(line)}</tspan>'
                    for i, line in enumerate(lines))
    return f'<text x="{round(x, 1)}" y="{round(y, 1)}" text-anchor="{anchor}" {FONT}{extra}>{spans}</text>'


def _label_svg(x, y, lines):
    """A partner's label just outside its node, away from the centre: beside it on the left and right
    (centred on it), above it at the top, below it at the bottom."""
    dx, dy = x - WIDTH / 2, y - HEIGHT / 2
    block = LINE_HEIGHT * (len(lines) - 1)
    if abs(dx) > 1:
        lx, anchor = (x + PARTNER_R + 4, "start") if dx > 0 else (x - PARTNER_R - 4, "end")
        return text_svg(lx, y + 4 - block / 2, lines, anchor)
    top = y - PARTNER_R - 5 - block if dy < 0 else y + PARTNER_R + 14
    return text_svg(x, top, lines, "middle")


def describe(org, shown, total, words=ENGLISH):
    """The picture in words (its <desc>): whom it shows, with the numbers."""
    if not shown:
        return words.gettext("%(org)s shares no project with another organisation.") % {"org": full_name(org)}
    who = "; ".join(f"{full_name(p)}: {shared_projects(p['shared'], words)}" for p in shown)
    head = words.ngettext("%(org)s shares projects with %(num)s organisation.",
                          "%(org)s shares projects with %(num)s organisations.", total) % {
        "org": full_name(org), "num": total}
    more = ""
    if total > len(shown):
        more = " " + words.gettext("The %(shown)s with most shared projects are drawn, of %(total)s.") % {
            "shown": len(shown), "total": total}
    return f"{head}{more} {who}."


def pair_title(org, partner, words=ENGLISH):
    """A line's title: "UNEP and GEF: 3 shared projects"."""
    return words.ngettext("%(org)s and %(partner)s: %(num)s shared project",
                          "%(org)s and %(partner)s: %(num)s shared projects", partner["shared"]) % {
        "org": full_name(org), "partner": full_name(partner), "num": partner["shared"]}


def picture_title(org, words=ENGLISH):
    return words.gettext("Organisations that %(org)s works with") % {"org": full_name(org)}


def network_svg(org, shown, total=None, id_prefix="network", words=ENGLISH):
    """SVG text of `org` ({"id", "name", "acronym"}) and the partners `shown` (store.network.partners
    rows, in their order), `total` being how many partners it has in all (default: len(shown)); its words
    in the language of `words`."""
    total = len(shown) if total is None else total
    title_id, desc_id = f"{id_prefix}-title", f"{id_prefix}-desc"
    cx, cy = WIDTH / 2, HEIGHT / 2
    most = max((p["shared"] for p in shown), default=1)
    lines, nodes = [], []
    for p, (x, y) in zip(shown, positions(len(shown))):
        lines.append(f'<line x1="{cx}" y1="{cy}" x2="{x}" y2="{y}" stroke="{LINE}" stroke-linecap="round" '
                     f'stroke-width="{line_width(p["shared"], most)}"><title>{escape(pair_title(org, p, words))}'
                     f'</title></line>')
        nodes.append(f'<g class="partner" data-org={quoteattr(p["id"])}><title>{escape(full_name(p))}: '
                     f'{escape(shared_projects(p["shared"], words))}</title>'
                     f'<circle cx="{x}" cy="{y}" r="{PARTNER_R}" fill="{PARTNER_FILL}" stroke="#fff"/>'
                     f'{_label_svg(x, y, partner_lines(p))}</g>')
    centre = (f'<g class="centre" data-org={quoteattr(org["id"])}><title>{escape(full_name(org))}</title>'
              f'<circle cx="{cx}" cy="{cy}" r="{CENTRE_R}" fill="{CENTRE_FILL}"/>'
              + text_svg(cx, cy + CENTRE_R + 16, label_lines(org), "middle", ' font-weight="bold"') + '</g>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="network" role="img" '
            f'aria-labelledby="{title_id} {desc_id}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
            f'height="{HEIGHT}" style="max-width:100%;height:auto">'
            f'<title id="{title_id}">{escape(picture_title(org, words))}</title>'
            f'<desc id="{desc_id}">{escape(describe(org, shown, total, words))}</desc>'
            + "".join(lines) + "".join(nodes) + centre + "</svg>")
