"""What people read for each vocabulary key, defined once in English and marked for the catalogs (issue 13).

The keys (core/validate.py) are what records store and URLs carry; these labels are what pages, the map,
the PNG and the feeds show, in the request's language: `labels("kind", words)` gives {key: label} through
`words` (gettext's interface; core/language.py), `label("status", "ongoing", words)` one of them.
"""
from .language import ENGLISH, N_
from .validate import AREAS, ORG_TYPES

KIND_LABELS = {
    "programme": N_("Programme"), "project": N_("Project"), "country-project": N_("Country project"),
    "monitoring-network": N_("Monitoring network"), "monitoring-site": N_("Monitoring site"),
    "study": N_("Study"), "campaign": N_("Campaign"), "guidance": N_("Guidance"), "tool": N_("Tool"),
    "event": N_("Event"), "research": N_("Research"), "capacity-building": N_("Capacity building"),
    "national-action-plan": N_("National action plan"), "initiative": N_("Initiative"),
}
STATUS_LABELS = {"proposed": N_("Proposed"), "planned": N_("Planned"), "ongoing": N_("Ongoing"),
                 "completed": N_("Completed"), "postponed": N_("Postponed"), "unknown": N_("Status unknown")}
ROLE_LABELS = {"funder": N_("Funder"), "lead": N_("Lead"), "implementer": N_("Implementer"),
               "partner": N_("Partner")}
PRECISION_LABELS = {"site": N_("Exact site"), "subnational": N_("Sub-national area"), "country": N_("Country"),
                    "region": N_("Region"), "global": N_("Global")}
# How a place says where its coordinates come from (core.validate.COORDS_SOURCES)
COORDS_SOURCE_LABELS = {"report": N_("Stated in the source"), "gazetteer": N_("Gazetteer"),
                        "country-point": N_("The country's representative point"),
                        "editor": N_("Entered by an editor")}

VOCABULARIES = {"area": AREAS, "kind": KIND_LABELS, "status": STATUS_LABELS, "role": ROLE_LABELS,
                "org_type": ORG_TYPES, "precision": PRECISION_LABELS, "coords_source": COORDS_SOURCE_LABELS}


def labels(vocabulary, words=ENGLISH):
    """{key: label in the language of `words`} of one vocabulary, in its order."""
    return {key: words.gettext(text) for key, text in VOCABULARIES[vocabulary].items()}


def label(vocabulary, key, words=ENGLISH):
    """The label of one key (an unknown key is shown as it is)."""
    text = VOCABULARIES[vocabulary].get(key)
    return words.gettext(text) if text else key
