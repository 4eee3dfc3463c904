"""What the search index holds: the text of each project and organisation document, with the
synonyms it mentions. Pure functions over the rows storage.index_documents / list_organisations give;
registry/search.py turns them into Whoosh documents (fields: see PROJECT_FIELDS / ORG_FIELDS there).
"""
import csv
import itertools
import re
from functools import lru_cache

from . import geo
from .validate import AREAS, ORG_TYPES, fold

# Acronyms and other names of the same thing. Matching is on whole words, ignoring case and accents,
# except that an all-capitals form (WHO, ARM, GAPS) only matches where the text writes it in capitals.
SYNONYMS = (
    ("ASGM", "artisanal and small-scale gold mining", "artisanal small-scale gold mining",
     "artisanal gold mining", "small-scale gold mining"),
    ("ZMWG", "Zero Mercury Working Group"),
    ("ICSC", "International Centre for Sustainable Carbon", "IEA Clean Coal Centre"),
    ("BRI", "Biodiversity Research Institute"),
    ("NRDC", "Natural Resources Defense Council", "Natural Resources Defence Council"),
    ("planetGOLD", "planet GOLD", "GEF GOLD", "GEF-GOLD"),
    ("GMOS", "Global Mercury Observation System"),
    ("NADP", "National Atmospheric Deposition Program", "National Atmospheric Deposition Network"),
    ("APMMN", "Asia-Pacific Mercury Monitoring Network", "Asia Pacific Mercury Monitoring Network"),
    ("GAPS", "Global Atmospheric Passive Sampling"),
    ("LAPAN", "Latin American Passive Air Sampling Network"),
    ("CMMN", "Caribbean Mercury Monitoring Network"),
    ("AMAP", "Arctic Monitoring and Assessment Programme"),
    ("EMEP", "European Monitoring and Evaluation Programme"),
    ("GBMS", "Global Biotic Mercury Synthesis"),
    ("GEO", "Group on Earth Observations"),
    ("GMP", "Global Mercury Partnership"),
    ("PAG", "Partnership Advisory Group"),
    ("MIA", "MIAs", "Minamata Initial Assessment", "Minamata Initial Assessments"),
    ("NAP", "NAPs", "national action plan", "national action plans"),
    ("COP", "Conference of the Parties"),
    ("Hg", "mercury"),
    ("WHO", "World Health Organization"),
    ("UNEP", "UN Environment", "United Nations Environment Programme"),
    ("UNIDO", "United Nations Industrial Development Organization"),
    ("UNDP", "United Nations Development Programme"),
    ("UNITAR", "United Nations Institute for Training and Research"),
    ("GEF", "Global Environment Facility"),
    ("EPA", "Environmental Protection Agency"),
    ("AGC", "Artisanal Gold Council"),
    ("ARM", "Alliance for Responsible Mining"),
    ("ISWA", "International Solid Waste Association"),
    ("GCCA", "Global Cement and Concrete Association"),
    ("EEB", "European Environmental Bureau"),
    ("ESM", "environmentally sound management"),
    ("PVC", "polyvinyl chloride"),
    ("VCM", "vinyl chloride monomer"),
    ("CFL", "CFLs", "compact fluorescent lamp", "compact fluorescent lamps"),
    ("skin-lightening", "skin lightening", "skin whitening"),
)


WORD = re.compile(r"\w+")
END = ""   # trie key marking the end of a form (never a word: words are not empty)


class Synonyms:
    """Finds the synonym groups a text mentions and returns their other names to index with it."""

    def __init__(self, groups):
        # a word trie of every form: {word: {next word: {...}, END: [groups ending here]}}; walking it
        # from each word of a text costs one dict lookup per word (many names start with "national")
        self.texts, self.trie = [], {}
        for group in groups:
            group = [g for g in dict.fromkeys(group) if g and fold(g)]
            if len(group) < 2:
                continue
            for form in group:
                acronym = form.isupper() and re.fullmatch(r"\w+", form)
                node = self.trie
                for word in [form] if acronym else fold(form).split():
                    node = node.setdefault(word, {})
                node.setdefault(END, []).append(len(self.texts))
            self.texts.append(" ; ".join(group))

    def expand(self, text):
        """The names of every group the text mentions (acronyms as written, other forms folded)."""
        found, trie = set(), self.trie
        for words in (fold(text).split(), WORD.findall(text)):
            for i in [i for i, word in enumerate(words) if word in trie]:
                node = trie
                for word in itertools.islice(words, i, None):
                    node = node.get(word)
                    if node is None:
                        break
                    found.update(node.get(END, ()))
        return "\n".join(self.texts[n] for n in sorted(found))


def synonyms_for(organisations):
    """Our list plus each organisation's name, acronym and aliases."""
    return Synonyms(list(SYNONYMS) + [(o["name"], o.get("acronym"), *o.get("aliases", ()))
                                      for o in organisations])


@lru_cache(maxsize=1)
def _country_texts():
    """ISO3 -> every name of the country (name, official name, aliases, code). Two-letter codes are
    left out: DO, GO, ME, IT, NO... are everyday words and would match far too much."""
    with geo.COUNTRIES_CSV.open(newline="", encoding="utf-8") as f:
        return {r["iso3"]: " ; ".join(dict.fromkeys([r["name"], r["official_name"], *r["aliases"].split("|"),
                                                     r["iso3"]])) for r in csv.DictReader(f)}


def _country_text(iso3):
    return _country_texts().get(iso3, iso3) if iso3 else ""


def _finish(doc, synonyms, stamp, into):
    """Add the synonyms of everything the document says to field `into`, and its distinct words."""
    text = {k: v or "" for k, v in doc.items() if k != "id"}
    everything = "\n".join(text.values())
    text[into] = "\n".join(filter(None, [text[into], synonyms.expand(everything)]))
    text["words"] = " ".join(dict.fromkeys(re.findall(r"\w+", everything.lower())))
    return dict(text, id=doc["id"], stamp=stamp)


def project_document(p, synonyms):
    """One project (as storage.index_documents returns it) -> the fields of its index document."""
    orgs = [" ; ".join(filter(None, [o["name"], o["acronym"], *o["aliases"]])) for o in p["orgs"]]
    names = [*dict.fromkeys(orgs), *map(_country_text, p["countries"]), *p["locations"], *p["keywords"],
             *(f"{a} {AREAS.get(a, '')}" for a in p["areas"])]
    return _finish({"id": p["id"], "title": p["title"], "names": "\n".join(names),
                    "text": "\n".join(filter(None, [p["summary"], p["description"], *p["sources"]]))},
                   synonyms, f"{p['version']}:{p['updated_at']}", into="names")


def organisation_document(o, synonyms):
    return _finish({"id": o["id"], "name": " ; ".join(filter(None, [o["name"], o["acronym"]])),
                    "aliases": "\n".join(o["aliases"]),
                    "about": f"{o['type']} {ORG_TYPES.get(o['type'], '')}\n{_country_text(o['country'])}"},
                   synonyms, f"{o['version']}:{o['updated_at']}", into="aliases")
