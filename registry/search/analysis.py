"""How text becomes index terms, in the registry's three languages (whoosh, like the rest of the package).

English fields: words, lower case, accents folded, British spellings made American, English stop words out,
Porter stems. The French and Spanish fields (title_fr, summary_es, ...: the records' translations) fold
accents the same way, then drop their language's function words and take the Snowball stems of their
language ("orpailleurs" -> "orpailleur", "mineras" -> "miner"). Folding comes before stemming on both sides
(index and query), so "minería" and "mineria" are one word. WORDS keeps every word as written (folded):
"did you mean" and prefixes draw on it.
"""
from whoosh.analysis import (STOP_WORDS, CharsetFilter, CompositeAnalyzer, Filter, LowercaseFilter,
                             RegexTokenizer, StemFilter, StopFilter, Token)
from whoosh.lang import stemmer_for_language
from whoosh.lang.porter2 import stem
from whoosh.support.charset import accent_map

from ..core.searchdocs import american

TOKENS = r"\w+(\.?\w+)*"   # whoosh-reloaded's default also keeps '*' inside words

# The function words dropped from the French and Spanish fields, folded. Short lists on purpose (Snowball's
# Spanish list holds "estado", "estados", "sentido"...: content words here, "Estados Unidos").
FRENCH_STOPS = frozenset("""le la les l un une des du de d au aux et ou en dans sur pour par avec sans chez entre
    vers ce cet cette ces son sa ses leur leurs qui que qu est sont a""".split())
SPANISH_STOPS = frozenset("""el la los las lo un una unos unas de del al y e o u en con sin por para sobre entre
    hacia desde hasta su sus que es son se""".split())
# The French and Spanish fields drop the English stop words too: a word the English fields drop must not be
# required of the others, or "St. Kitts and Nevis" would need an "and" in a French title (words are AND-ed).
FRENCH_FIELD_STOPS = FRENCH_STOPS | STOP_WORDS
SPANISH_FIELD_STOPS = SPANISH_STOPS | STOP_WORDS


class SpellingFilter(Filter):
    """British spellings become American ones (organisation -> organization, labour -> labor:
    core/searchdocs.py `american`), in the index and in queries alike, so either spelling finds both."""

    def __eq__(self, other):
        return type(other) is type(self)

    def __call__(self, tokens):
        for t in tokens:
            t.text = american(t.text)
            yield t


class _Analyzer(CompositeAnalyzer):
    """RegexTokenizer | LowercaseFilter | CharsetFilter [| SpellingFilter] [| StopFilter | StemFilter], run as
    one loop with a
    memo of stems instead of a chain of five generators: the same tokens (tests/test_search_equivalence.py
    compares them with the chain) in less than half the time. Analysis was a quarter of indexing."""

    STEMS = {}   # word -> stem, shared (stemming is a pure function); cleared when it grows large

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True,
                 start_pos=0, start_char=0, tokenize=True, mode="", no_morph=False, **kwargs):
        if not tokenize or no_morph:   # not used here: leave them to the chain
            return super().__call__(value, positions=positions, chars=chars, keeporiginal=keeporiginal,
                                    removestops=removestops, start_pos=start_pos, start_char=start_char,
                                    tokenize=tokenize, mode=mode, no_morph=no_morph, **kwargs)
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        return self._tokens(token, value, keeporiginal, start_pos, start_char)

    def _tokens(self, t, value, keeporiginal, start_pos, start_char):
        tokenizer, _, charset, *rest = self.items
        spelling = len(rest) == 3   # English: SpellingFilter, StopFilter, StemFilter
        stop, stemmer = rest[-2:] if rest else (None, None)
        stems, kept = self.STEMS, None   # kept: the position of the last word kept (StopFilter renumbers)
        if len(stems) > 200_000:
            stems.clear()
        for pos, match in enumerate(tokenizer.expression.finditer(value), start_pos):
            t.boost, text = 1.0, match.group(0)
            if keeporiginal:
                t.original = text
            if t.chars:
                t.startchar, t.endchar = start_char + match.start(), start_char + match.end()
            text = text.lower()
            if not text.isascii():   # the accent map changes no lower-case ASCII letter
                text = text.translate(charset.charmap)
            t.stopped = bool(stop) and (len(text) < stop.min or text in stop.stops)
            if t.stopped:
                if t.removestops:
                    continue
            elif stop:
                # (the spelling map turns no word into a stop word: it maps words of 5+ letters)
                text = stems.get(text) or stems.setdefault(
                    text, stemmer.stemfn(american(text) if spelling else text))
                pos = kept = pos if kept is None else kept + 1
            t.text = text
            if t.positions:
                t.pos = pos
            yield t


class _FrenchAnalyzer(_Analyzer):
    STEMS = {}   # a memo of its own: the same word stems differently in each language


class _SpanishAnalyzer(_Analyzer):
    STEMS = {}


class _PlacesAnalyzer(_Analyzer):
    STEMS = {}


_SNOWBALL = {"fr": stemmer_for_language("fr"), "es": stemmer_for_language("es")}


def french_stem(word):
    """Snowball's French stem (a module-level function: the schema pickles the stem function by name)."""
    return _SNOWBALL["fr"](word)


def spanish_stem(word):
    return _SNOWBALL["es"](word)


def unstemmed(word):
    return word


ANALYZER = _Analyzer(RegexTokenizer(TOKENS), LowercaseFilter(), CharsetFilter(accent_map), SpellingFilter(),
                     StopFilter(), StemFilter(stemfn=stem))
WORDS = _Analyzer(RegexTokenizer(TOKENS), LowercaseFilter(), CharsetFilter(accent_map))
FRENCH = _FrenchAnalyzer(RegexTokenizer(TOKENS), LowercaseFilter(), CharsetFilter(accent_map),
                         StopFilter(stoplist=FRENCH_FIELD_STOPS), StemFilter(stemfn=french_stem))
SPANISH = _SpanishAnalyzer(RegexTokenizer(TOKENS), LowercaseFilter(), CharsetFilter(accent_map),
                           StopFilter(stoplist=SPANISH_FIELD_STOPS), StemFilter(stemfn=spanish_stem))
# French and Spanish place names ("places": core/searchdocs.py), folded, not stemmed: "Estados Unidos" is no
# form of the English "UNIDO". Every language's function words out (no word of a query may be required here
# that the other fields drop).
PLACES = _PlacesAnalyzer(RegexTokenizer(TOKENS), LowercaseFilter(), CharsetFilter(accent_map),
                         StopFilter(stoplist=FRENCH_FIELD_STOPS | SPANISH_FIELD_STOPS), StemFilter(stemfn=unstemmed))
# The analyzer of each language's fields
ANALYZERS = {"en": ANALYZER, "fr": FRENCH, "es": SPANISH}


def stems(analyzer, text):
    """The terms `analyzer` makes of `text` (a query word, a glossary term)."""
    return [t.text for t in analyzer(text, mode="query")]
