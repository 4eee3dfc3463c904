"""French and Spanish queries find the English records they mean (issue 13).

Three things happen to a query's text before it is parsed (index.py `_compile`), none of them to an English
query that names no French or Spanish glossary term:

1. Glossary phrases: a run of words that is a French or Spanish term of the glossary (glossary.py), compared
   word by word as that language's analyzer makes them (case and accents folded, function words out,
   Snowball stems: "orpailleurs" is "orpailleur", "minerías" is "minería"), longest first, is searched as
   itself OR as each English term of its entry, phrases as phrases:
       orpaillage au Pérou  ->  (orpaillage OR "artisanal and small-scale gold mining" OR "ASGM" ...) Pérou
   A run that is an English term of the glossary (as the English analyzer makes it) is left alone, even when
   a French or Spanish term has the same stem ("cement", "cemento"): English queries search as before.
   Only words outside quotes are compared, except a quoted phrase that is a whole term ("orpaillage illégal").
2. French and Spanish function words ("de", "la", "les", "el", "los", "et", "y", ...) outside quotes are
   dropped, so that "minería de oro" needs no "de" in the English text: words default to AND. A word in
   capitals stays ("UN"), and so does a query made only of such words.
3. Everything else is searched in every field, each with its own analyzer: the English fields, the French
   fields with French stems and the Spanish ones with Spanish stems (index.py KINDS), so a Spanish title is
   found by its own words.

The glossary's French and Spanish words also serve "did you mean" (`near`): a misspelt "orpaillge" is
corrected to "orpaillage" even though no record says it, and then found as its English terms.
"""
import logging
import re
from dataclasses import dataclass
from functools import lru_cache

from . import glossary as glossary_file
from .analysis import ANALYZERS, FRENCH_STOPS, SPANISH_STOPS, TOKENS, WORDS, stems

log = logging.getLogger(__name__)

FOREIGN = ("fr", "es")
# Dropped from queries outside quotes: the French and Spanish function words, less the English words among
# them ("son", "sin") and single letters (every analyzer drops those already).
QUERY_STOPS = frozenset(w for w in FRENCH_STOPS | SPANISH_STOPS if len(w) > 1 and w not in ("son", "sin"))
# A query's parts: a quoted phrase (perhaps unclosed), a bracket, an operator, or a word (perhaps a prefix*)
_PARTS = re.compile(r'"(?P<phrase>[^"]*)"?|(?P<bracket>[()])|\b(?P<operator>AND|OR|NOT|ANDNOT|ANDMAYBE)\b|'
                    rf'(?P<word>{TOKENS})(?P<star>\*)?')
_UNSAFE = re.compile(r'["*():^~]')   # query syntax inside a glossary term: searched as spaces
MIN_VOCABULARY_WORD = 4              # shorter words are never corrected (index.py _unknown_words)


@dataclass(frozen=True)
class Match:
    start: int            # where the matched words are in the query text
    end: int
    english: tuple        # the English terms searched as well
    quoted: bool = False  # a whole quoted phrase: start and end include its quotes


class Glossary:
    """The glossary's terms as each language's analyzer makes them, for matching query words."""

    def __init__(self, entries):
        self.keys = {lang: {} for lang in ("en", *FOREIGN)}   # lang -> {tuple of terms: [entries]}
        self.vocabulary = {}                                   # folded French or Spanish word -> as written
        self.longest = 0                                       # the most words of a term, function words too
        for entry in entries:
            for lang, keys in self.keys.items():
                for term in entry.terms.get(lang, ()):
                    key = tuple(stems(ANALYZERS[lang], term))
                    if key and entry not in keys.setdefault(key, []):
                        keys[key].append(entry)
                    self.longest = max(self.longest, len(re.findall(TOKENS, term)))
            for term in (t for lang in FOREIGN for t in entry.terms.get(lang, ())):
                for token in WORDS(term, keeporiginal=True):
                    if len(token.text) >= MIN_VOCABULARY_WORD and token.text.isalpha():
                        self.vocabulary.setdefault(token.text, token.original.lower())
        # the words of the English terms (folded): never corrected into French or Spanish ones
        self.english_words = {t.text for e in entries for term in e.terms.get("en", ()) for t in WORDS(term)}
        self._by_initial = {}
        for word in self.vocabulary:
            self._by_initial.setdefault(word[0], []).append(word)

    def __bool__(self):
        return bool(self.longest)

    def matches(self, text, corrections=()):
        """The French or Spanish glossary phrases of the query text, left to right, longest first.
        `corrections`: (start, end, word) of misspelt words, compared as their corrections."""
        fixed = {(start, end): word for start, end, word in corrections}
        out = []
        for run, quotes in _runs(text):
            words = [fixed.get((m.start(), m.end()), m.group()) for m in run]
            analysed = {lang: [(stems(ANALYZERS[lang], w) or [None])[0] for w in words] for lang in self.keys}
            i = 0
            while i < len(run):
                length, entries = self._longest(analysed, i, len(run) if quotes else None)
                if entries:
                    english = tuple(dict.fromkeys(t for e in entries for t in e.terms["en"]))
                    start, end = quotes or (run[i].start(), run[i + length - 1].end())
                    out.append(Match(start, end, english, quoted=bool(quotes)))
                i += max(length, 1)
        return out

    def _longest(self, analysed, i, exactly=None):
        """(length, entries) of the longest term starting at word i: entries is empty when the longest
        is an English term, or nothing matches (length 0). `exactly`: only a term of that many words."""
        n = len(analysed["en"])
        ends = [exactly] if exactly else range(min(n, i + self.longest), i, -1)
        best = {}
        for lang, keys in self.keys.items():
            words = analysed[lang]
            for j in ends:
                if words[i] is None or words[j - 1] is None:   # a term starts and ends with a word
                    continue
                found = keys.get(tuple(w for w in words[i:j] if w is not None))
                if found:
                    best[lang] = (j - i, found)
                    break
        english = best.get("en", (0, []))[0]
        foreign = max((best[lang][0] for lang in FOREIGN if lang in best), default=0)
        if foreign <= english:
            return english, []
        entries = [e for lang in FOREIGN if best.get(lang, (0,))[0] == foreign for e in best[lang][1]]
        return foreign, list(dict.fromkeys(entries))

    def near(self, word, distance):
        """The glossary's French and Spanish words (folded) `distance` edits from `word`, first letter kept."""
        return [w for w in self._by_initial.get(word[:1], ())
                if abs(len(w) - len(word)) <= distance and w != word and _within(word, w, distance)]

    def written(self, word):
        """A folded glossary word as the glossary writes it ("mineria" -> "minería")."""
        return self.vocabulary.get(word, word)


def _runs(text):
    """([word matches], quotes) for each run of plain words between quotes, brackets, operators and prefixes
    (quotes None), and for each closed quoted phrase (quotes: its (start, end), quotes included; matched
    only as a whole term)."""
    run = []
    for part in _PARTS.finditer(text):
        if part["word"] and not part["star"]:
            run.append(part)
            continue
        if run:
            yield run, None
        run = []
        if part["phrase"] is not None and part.group().endswith('"') and len(part.group()) > 1:
            inner = [_Shifted(m, part.start("phrase")) for m in re.finditer(TOKENS, part["phrase"])]
            if inner:
                yield inner, (part.start(), part.end())
    if run:
        yield run, None


class _Shifted:
    """A word match inside a quoted phrase, with positions in the whole query text."""

    def __init__(self, match, offset):
        self._match, self._offset = match, offset

    def start(self):
        return self._match.start() + self._offset

    def end(self):
        return self._match.end() + self._offset

    def group(self):
        return self._match.group()


def _within(a, b, limit):
    """Whether the edit distance (Levenshtein) of a and b is at most `limit`."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return False
        previous = current
    return previous[-1] <= limit


def is_query_stop(word):
    """Whether a query word is a French or Spanish function word that the query drops."""
    return word.lower() in QUERY_STOPS and not (word.isupper() and len(word) > 1)


def rewrite(text, matches):
    """The query text to parse: glossary phrases OR-ed with their English terms, function words dropped
    (see the module's docstring). `matches`: Glossary.matches of the text."""
    edits = [(m.start, m.end, _alternatives(text, m)) for m in matches]
    plain = [w for run, quotes in _runs(text) if not quotes for w in run]
    stops = [(w.start(), w.end(), " ") for w in plain
             if is_query_stop(w.group()) and not any(m.start <= w.start() < m.end for m in matches)]
    if len(stops) == len(plain) and not edits:
        stops = []   # a query of function words only ("de la") is searched as it is
    out = text
    for start, end, replacement in sorted(edits + stops, reverse=True):
        out = out[:start] + replacement + out[end:]
    return out


def _alternatives(text, match):
    """`((words of the match) OR "english term" OR ...)`: its own words (function words out; a quoted
    match as its phrase) or any of its entries' English terms."""
    own = text[match.start:match.end]
    if not match.quoted:
        own = "(" + (" ".join(w for w in own.split() if not is_query_stop(w)) or own) + ")"
    english = " OR ".join(f'"{" ".join(_UNSAFE.sub(" ", t).split())}"' for t in match.english)
    return f" ({own} OR {english}) "   # spaced: "l'orpaillage" leaves "l'" just before


@lru_cache(maxsize=1)
def current():
    """The glossary of geodata/glossary.yaml (empty when missing; when invalid, empty and said in the log:
    searching works without it, and tests/test_search_languages.py fails on it)."""
    try:
        return Glossary(glossary_file.load(glossary_file.GLOSSARY_FILE))
    except FileNotFoundError:
        log.warning("no glossary at %s: French and Spanish queries are not expanded", glossary_file.GLOSSARY_FILE)
    except glossary_file.GlossaryError as exc:
        log.error("the glossary cannot be used: %s", exc)
    return Glossary([])


NO_GLOSSARY = Glossary([])
