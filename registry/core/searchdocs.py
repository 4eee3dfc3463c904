"""What the search index holds: the text of each project and organisation document, with the
synonyms it mentions. Pure functions over the rows storage.index_documents / list_organisations give;
registry/search.py turns them into Whoosh documents (fields: see PROJECT_FIELDS / ORG_FIELDS there).
"""
import csv
import itertools
import re
from functools import lru_cache

from . import geo
from . import regions as region_table
from .language import translated_field_names
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


# What the documents hold, in a word: change it when project_document or organisation_document index other
# text, so that indexes built before are found stale and rebuilt (search/index.py _fingerprint).
DOCUMENT_FORMAT = "regions-1 spelling-1 languages-2"

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


@lru_cache(maxsize=1)
def _country_names_abroad():
    """ISO3 -> the words of the country's French and Spanish names (CLDR's and the UN's:
    geodata/country_names.csv) that none of its English names has, folded: "perou"; "papouasie nouvelle
    guinee nueva" for Papua New Guinea, whose "Guinea" is English too. An English query then finds nothing
    more in them than before ("Guinea" does not find Papua New Guinea's projects a second time)."""
    with geo.COUNTRY_NAMES_CSV.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out = {}
    for r in rows:
        names = [r[c] for lang in geo.NAME_LANGS for c in (f"name_{lang}", f"un_name_{lang}") if r.get(c)]
        out[r["iso3"]] = _new_words(names, _country_texts().get(r["iso3"], ""))
    return out


def _new_words(names, english):
    """The words of `names`, folded, that the text `english` does not have, in order, once each."""
    known = set(fold(english).split())
    return " ".join(w for w in dict.fromkeys(fold(" ".join(names)).split()) if w not in known)


# Everyday French and Spanish names of regions that are not their official M49 names (the "names" field holds
# those in the three languages, and the English everyday ones): "Afrique de l'Ouest" is M49's "Afrique
# occidentale". In the "places" field, with the French and Spanish country names.
EVERYDAY_REGION_NAMES = {
    "011": ("Afrique de l'Ouest", "África del Oeste", "África Occidental"),
    "014": ("Afrique de l'Est", "África del Este", "África Oriental"),
    "015": ("Afrique du Nord", "África del Norte"),
    "018": ("África Austral",),
    "030": ("Asie de l'Est", "Asia del Este", "Asia Oriental"),
    "034": ("Asie du Sud", "Asia del Sur"),
    "035": ("Asie du Sud-Est", "Sudeste Asiático", "Sureste Asiático"),
    "419": ("Latinoamérica",),
}


def places_text(countries, location_regions=()):
    """The French and Spanish names of these countries, and the everyday ones of their regions, for the
    "places" field (English analysis: folded). A field apart: the English fields score as before."""
    names, region_names = _country_names_abroad(), _region_names()
    regions = [_new_words(EVERYDAY_REGION_NAMES.get(c, ()), region_names.get(c, ""))
               for c in _region_codes(countries, location_regions)]
    return "\n".join(filter(None, [*(names.get(iso3, "") for iso3 in countries if iso3), *regions]))


# Region names are places too: a project is indexed with the names (English, French, Spanish, and the
# aliases core/regions.py knows) of every region it is in, through its countries or its region-precision
# locations (the same rule as the region filter, core/query.py region_scope), so "GEF Latin America" and
# "Afrique" find projects there. Left out: the World (every project) and the long names of the groups of
# countries ("Small Island Developing States", "Least Developed Countries"), whose everyday words (small,
# island, developing, countries) would match searches that are not about them; their acronyms stay.
# Custom regions are named only by a location in them (see _region_text).
@lru_cache(maxsize=1)
def _region_names():
    """Region code -> the text indexed for it."""
    aliases = {}
    for alias, code in region_table.ALIASES.items():
        aliases.setdefault(code, []).append(alias)
    out = {}
    for r in region_table.all_regions():
        if r.kind == "world":
            continue
        names = [*r.names.values(), *aliases.get(r.code, ())]
        if r.kind == "group":
            names = [n for n in re.findall(r"\(([^)]*)\)", " ".join(names)) + aliases.get(r.code, []) if n.isupper()]
        out[r.code] = " ; ".join(dict.fromkeys(names))
    return out


@lru_cache(maxsize=4096)
def _containing(code):
    """The regions a region-precision location with this region code is in (itself included)."""
    region = region_table.get_region(code)
    if region is None:
        return ()
    return tuple(r.code for r in region_table.all_regions()
                 if r.code == region.code or (region.members and region.members <= r.members))


def _region_codes(countries, location_regions):
    # custom regions (the Amazon basin) cover parts of their countries: only a location there names them,
    # or every Brazilian project would be found by "Amazon"
    codes = {r.code for iso3 in countries for r in region_table.regions_of_country(iso3) if r.kind != "custom"}
    codes.update(c for code in location_regions if code for c in _containing(code))
    return sorted(codes)


def _region_text(countries, location_regions):
    names = _region_names()
    return "\n".join(names[c] for c in _region_codes(countries, location_regions) if c in names)


# Spelling: British and American forms of a word are one word to search (both the index and the query
# analyzer map each word with `american`, search/index.py SpellingFilter). Patterns, each where it is safe:
# -isation/-ise/-ised/-iser... -> -iz- (not the words spelled -ise on both sides: advise, promise, exercise...),
# -yse -> -yze (analyse, paralyse), -our -> -or for words of 6+ letters before the ending (labour, colour,
# vapour; not contour, detour, devour...), and a few single words (programme, centre, defence, sulphur...).
_ISE = re.compile(r"(?P<base>\w{2,}?)is(?P<end>e|es|ed|ing|er|ers|ation|ations|ational|able)")
# words spelled -ise in American English too (and names); endings that only such words have
_ISE_KEPT = {"rise", "arise", "sunrise", "uprise", "exercise", "precise", "concise", "excise", "incise", "circumcise",
             "premise", "promise", "compromise", "demise", "surmise", "despise", "advertise", "chastise", "expertise",
             "mortise", "franchise", "enfranchise", "merchandise", "paradise", "anise", "treatise", "valise",
             "chemise", "remise", "cerise", "denise", "elise", "eloise", "mise", "reprise"}
_ISE_KEPT_ENDINGS = ("wise", "raise", "oise", "uise", "vise", "prise")
_YSE = re.compile(r"(?P<base>\w*(ana|para|cata|dia|electro|hydro|pyro))lys(?P<end>e|es|ed|er|ers|ing)")
_OUR = re.compile(r"(?P<base>\w{3,})our(?P<end>|s|ed|ing|ings|er|ers|ite|ites|able|ably|al|ally|ful|less|hood|ist|"
                  r"ists|ism|y)")
_OUR_KEPT = {"cont", "det", "dev", "vel", "param", "troubad", "glam", "ret", "aut", "sec", "carref"}
_WORDS_GB = {"programme": "program", "programmes": "programs", "centre": "center", "centres": "centers",
             "centred": "centered", "defence": "defense", "licence": "license", "licences": "licenses",
             "fibre": "fiber", "fibres": "fibers", "metre": "meter", "metres": "meters", "litre": "liter",
             "litres": "liters", "sulphur": "sulfur", "sulphide": "sulfide", "sulphides": "sulfides",
             "aluminium": "aluminum", "catalogue": "catalog", "catalogues": "catalogs", "modelling": "modeling",
             "modelled": "modeled", "labelling": "labeling", "labelled": "labeled", "travelling": "traveling",
             "grey": "gray", "mould": "mold", "moulds": "molds", "tonnes": "tons", "tonne": "ton"}


def american(word):
    """The American spelling of a lower-case word, or the word itself (organisation -> organization,
    labour -> labor, analysed -> analyzed). Mapping both sides the same way makes either spelling find both."""
    if len(word) < 5 or not word.isalpha():
        return word
    if word in _WORDS_GB:
        return _WORDS_GB[word]
    m = _ISE.fullmatch(word)
    if m and m["base"] + "ise" not in _ISE_KEPT and not (m["base"] + "ise").endswith(_ISE_KEPT_ENDINGS):
        return f"{m['base']}iz{m['end']}"
    m = _YSE.fullmatch(word)
    if m:
        return f"{m['base']}lyz{m['end']}"
    m = _OUR.fullmatch(word)
    if m and m["base"] not in _OUR_KEPT:
        return f"{m['base']}or{m['end']}"
    return word


_COMPOUND = re.compile(r"\b([^\W\d_]+(?:-[^\W\d_]+)+)\b")


def compounds(text):
    """Hyphenated words written as one ("chlor-alkali" -> "chloralkali"), so that one typed as one word,
    or misspelled as one ("cloralkali"), finds them."""
    return " ".join(dict.fromkeys(m.replace("-", "") for m in _COMPOUND.findall(text.lower())))


def _finish(doc, synonyms, stamp, into):
    """Add the synonyms of everything the document says, and its hyphenated words written as one, to field
    `into`, and its distinct words (those joined words too: "did you mean" and corrections draw on them)."""
    text = {k: v or "" for k, v in doc.items() if k != "id"}
    # (not the French and Spanish place names: `into` and "words" hold what they held before them, so that
    # English searches score as they did: "words" is searched by prefixes too)
    everything = "\n".join(v for k, v in text.items() if k != "places")
    joined = compounds(everything)
    text[into] = "\n".join(filter(None, [text[into], synonyms.expand(everything), joined]))
    text["words"] = " ".join(dict.fromkeys(re.findall(r"\w+", everything.lower() + " " + joined)))
    return dict(text, id=doc["id"], stamp=stamp)


def project_document(p, synonyms):
    """One project (as storage.index_documents returns it) -> the fields of its index document."""
    orgs = [" ; ".join(filter(None, [o["name"], o["acronym"], *o["aliases"]])) for o in p["orgs"]]
    names = [*dict.fromkeys(orgs), *map(_country_text, p["countries"]), *p["locations"], *p["keywords"],
             *(f"{a} {AREAS.get(a, '')}" for a in p["areas"]),
             _region_text(p["countries"], p.get("location_regions", ()))]
    translations = {name: p.get(name) or "" for name in translated_field_names()}   # title_fr, summary_es...
    return _finish({"id": p["id"], "title": p["title"], "names": "\n".join(names),
                    "text": "\n".join(filter(None, [p["summary"], p["description"], *p["sources"]])),
                    "places": places_text(p["countries"], p.get("location_regions", ())), **translations},
                   synonyms, f"{p['version']}:{p['updated_at']}", into="names")


def organisation_document(o, synonyms):
    return _finish({"id": o["id"], "name": " ; ".join(filter(None, [o["name"], o["acronym"]])),
                    "aliases": "\n".join(o["aliases"]),
                    "about": f"{o['type']} {ORG_TYPES.get(o['type'], '')}\n{_country_text(o['country'])}"},
                   synonyms, f"{o['version']}:{o['updated_at']}", into="aliases")
