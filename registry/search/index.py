"""Full-text search over projects and organisations (whoosh is imported only in this package: here, analysis.py).

SQLite is the truth; the index is derived from it and can always be rebuilt.

On disk (INDEX_DIR):
    current        the name of the generation in use (a one-line file, replaced with os.replace)
    gen-<ns>/      one Whoosh directory per build, holding two indexes: "projects" and "organisations"
    write.lock     a cross-process file lock: one writer at a time (rebuild or update)
A rebuild writes a new generation next to the current one and swaps the pointer, so searches never see
a half-built index; the previous generation stays for searchers that still have it open, older ones go.
Updates after an edit (`update_projects`) change the current generation in place (Whoosh commits are
atomic for readers).
    stale          a mark: an update could not be applied (the lock was held too long, the disk was full);
                   the edit stands in the database and a repair catches the index up (see below)

Segment files are read without memory maps (_Storage): a file truncated or damaged under a live searcher
then raises an exception in the search that reads it, where a memory-mapped one ended the whole process
with SIGBUS (the development server, or every gunicorn worker that had it open).

Freshness: every indexed document stores the stamp of its row (store.db.index_stamps): an organisation's
`version:updated_at`; a project's also names the versions of its organisations, whose names are part of its
text. Each generation also keeps a fingerprint of the synonym table (every organisation's name, acronym
and aliases expand the text of every document that names it: core/searchdocs.py). `verify` compares both
with the database; start-up (CHECK_INDEX_ON_START), `flask setup` and `flask reindex` rebuild when the
index is missing, unreadable (corrupt files raise all sorts of errors) or stale. A failed update leaves
the edit in place, marks the index stale and starts a repair.

Repairs (`schedule_repair`) run in a background thread of the serving process, at most one per process and
index, under the write lock (so one at a time across processes): verify, then reindex the documents whose
stamps differ from the database's (the pending updates), or build a new generation when the index cannot be
read. A failing repair (a full disk) is retried after growing pauses until it succeeds; meanwhile searches
use the generation in place. A search that finds the index unreadable, or a stale mark left by another
process, starts one too; such triggers are ignored while a repair runs or for REPAIR_INTERVAL after one, so
a broken index costs one rebuild, not one per request.

Searching: one long-lived searcher per process and generation, refreshed when the index changes.
User syntax is limited to words, "phrases", ( ), AND / OR / NOT and prefix wildcards with at least
three letters (retort*); everything else is plain text. Words default to AND, with an OR fallback
when AND finds nothing. A word the index has never seen is searched as the indexed word nearest to it,
one or two edits away ("Mongolai" finds what Mongolia finds), which "did you mean" proposes. British and
American spellings are one word (organisation, organization: SpellingFilter), and hyphenated words are
also indexed written as one ("chloralkali" finds chlor-alkali). Acronyms and aliases (a list of ours and
every organisation's in the database) are expanded at indexing time, so "ZMWG" and "Zero Mercury
Working Group" find the same projects (see registry/searchdocs.py). A country or place name finds the
projects located there.

Languages (issue 13; analysis.py, languages.py, glossary.py): the records' French and Spanish titles and
summaries are fields of their own, analysed with French and Spanish stems, and the French and Spanish names
of a project's countries and regions are places ("Pérou", "Afrique de l'Ouest"); every field folds accents.
A French or Spanish phrase of the glossary (geodata/glossary.yaml) in a query is also searched as its
English terms, French and Spanish function words are dropped, and "did you mean" draws on the glossary's
words too. English queries search the English fields as before.

When the index cannot be used (missing, unreadable, a search over the time limit Settings.time_limit),
searches raise SearchUnavailable, which the web layer answers with a 503 and a message; browsing and
filtering without search text keep working.
"""
import hashlib
import itertools
import logging
import os
import re
import shutil
import sys
import threading
import time
from array import array
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import filelock
from markupsafe import Markup, escape
import numpy
from tqdm import tqdm
from whoosh import collectors, columns, fields, formats, highlight, index, matching, qparser, query, scoring
from whoosh.codec.whoosh3 import LENGTHS_COLUMN as W3_LENGTHS, W3Codec, W3LeafMatcher
from whoosh.filedb.compound import SubFile
from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.structfile import BufferFile, StructFile
from whoosh.query import spans
from whoosh.system import pack_uint
from whoosh.util import numeric
from whoosh.writing import PostingPool, SegmentWriter

from ..store import db as storage
from ..core.language import N_, translated_field, translated_field_names
from ..core.query import QueryError
from ..core.searchdocs import DOCUMENT_FORMAT, organisation_document, project_document, synonyms_for
from . import languages
from .analysis import ANALYZER, ANALYZERS, PLACES, WORDS, SpellingFilter, _Analyzer, stems  # noqa: F401  (see below)

log = logging.getLogger(__name__)

# Searched fields and their weights. Few fields on purpose: a search costs about one matcher per word
# and field. "words" (every distinct word, unstemmed) feeds "did you mean" and prefixes like "minin*".
PROJECT_FIELDS = {"title": 4.0, "names": 2.0, "text": 1.0}   # names: organisations, places, keywords, area
ORG_FIELDS = {"name": 3.0, "aliases": 2.0, "about": 1.0}     # about: type and country
# The records' French and Spanish titles and summaries (core/language.py: title_fr, summary_es, ...), each
# analysed in its own language (analysis.py), and "places": the French and Spanish names of a project's
# countries (core/searchdocs.py). Fields apart, so that English searches score English text as before.
FIELD_LANGUAGE = {name: name.rsplit("_", 1)[1] for name in translated_field_names()}
OTHER_PROJECT_FIELDS = {"places": 2.0, **{name: PROJECT_FIELDS["title" if name.startswith("title") else "text"]
                                          for name in FIELD_LANGUAGE}}
KINDS = {"projects": {**PROJECT_FIELDS, **OTHER_PROJECT_FIELDS}, "organisations": ORG_FIELDS}
WAIT_REBUILD = 1800    # seconds a rebuild waits for another writer
WAIT_UPDATE = 60       # seconds an update after a commit may wait for another writer (apply's rebuilds)
# Seconds an update inside an editor's request waits for another writer; then the edit is saved all the
# same, the index marked stale and caught up by a background repair (the user is not kept waiting).
WAIT_EDIT = 5
REPAIR_RETRY = (2, 5, 15, 60, 300)   # seconds between the attempts of a failing repair (then every 300 s)
REPAIR_INTERVAL = 30   # seconds after a repair during which a failing search does not start another one
STALE_FILE = "stale"
# Parts of a segment up to this size are read into memory when a searcher opens them (see _File): with
# memory maps off, the scorer's one-byte reads of field lengths cost a system call each.
MEMORY_PART = 4 * 1024 * 1024
MIN_PREFIX = 3
# Whoosh sorts the postings of a build or an update in memory up to `limitmb` MB; beyond, it pickles
# every posting to disk in sorted runs and merges them back: a third of a 10,000-project build. So a
# build sorts in memory when it fits in POOL_MB (see _pool_mb). Measured and left out (docs/benchmarks.md):
# two processes (procs=2) gained nothing on a busy 2-core machine and leave two segments, on which typo
# searches were up to 40% slower; rebuilding instead of updating after a large import was never faster.
POOL_MB = 1024
PROJECT_KB = 64   # pool memory a project document needs (a bench project: ~330 postings of ~190 bytes)

# The analyzers are in analysis.py; their names stay importable here: indexes built before pickled them as
# registry.search.index._Analyzer and registry.search.index.SpellingFilter.


@dataclass(frozen=True)
class Settings:
    """Where the index and the database it derives from are, how long one search may take, and whether
    French and Spanish glossary phrases are also searched as their English terms (languages.py; off only to
    compare, as tests/test_search_languages.py does)."""
    index_dir: str
    database: str
    time_limit: float = 2.0
    glossary: bool = True


class SearchUnavailable(Exception):
    """The index cannot be used (missing, unreadable, too slow). The web layer answers 503 with the
    message and a Retry-After (JSON under /api/, a page elsewhere)."""

    def __init__(self, message, code="search_unavailable"):
        super().__init__(message)
        self.code, self.message = code, message

    def translated(self, words):
        """The message in the language of `words` (gettext's interface): each message is marked with N_."""
        return words.gettext(self.message)


@dataclass
class Hits:
    ids: list                                   # every matching id, best first
    scores: dict = field(default_factory=dict)  # id -> score
    suggestion: str | None = None               # the query with unknown words corrected


def _schema(names):
    text = {name: fields.TEXT(analyzer=_analyzer(name)) for name in names}
    # id and stamp are columns: reading them for every document is fast (stored fields are not)
    return fields.Schema(id=fields.ID(unique=True, sortable=True), stamp=fields.COLUMN(),
                         words=fields.TEXT(analyzer=WORDS, phrase=False), **text)


# How each field is analysed: "en" (ANALYZER), "fr", "es", or "places" (unstemmed: analysis.PLACES)
FIELD_ANALYSIS = {**FIELD_LANGUAGE, "places": "places"}
ANALYSES = {**ANALYZERS, "places": PLACES}


def _analyzer(field_name):
    return ANALYSES[FIELD_ANALYSIS.get(field_name, "en")]


SCHEMAS = {kind: _schema(names) for kind, names in KINDS.items()}


class _Storage(FileStorage):
    """Whoosh's file storage with memory maps off: segments are read with system calls, so a truncated or
    damaged file raises a Python exception (a 503 and a repair) instead of a SIGBUS that ends the process.
    Searches cost about the same (docs/benchmarks.md, "Index files without memory maps")."""

    def __init__(self, path):
        super().__init__(str(path), supports_mmap=False)

    def open_file(self, name, **kwargs):
        return _File(open(self._fpath(name), "rb"), name=name, **kwargs)


class _File(StructFile):
    """A segment file whose small parts (the files inside a compound segment: field lengths, ids, often
    the term table) are read into memory when opened, and the others read with os.pread."""

    def subset(self, offset, length, name=None):
        if length <= MEMORY_PART and not (name or "").endswith(".pst"):
            data = os.pread(self.file.fileno(), length, offset)
            if len(data) != length:
                raise OSError(f"index file {self._name} is shorter than its table of contents says (truncated)")
            return BufferFile(data, name=name or self._name)
        return _Part(self.file, offset, length, name or self._name)


class _Part(StructFile):
    """A file inside a compound segment file. A lookup at a position is one os.pread: Whoosh's own part
    does a seek and a read through two wrappers, which made typo searches (they walk the term table with
    thousands of lookups) twice as slow as with memory maps. A short read (a truncated file) fails to
    unpack: an exception like any other damage."""

    def __init__(self, parent, offset, length, name):
        super().__init__(SubFile(parent, offset, length), name=name)
        self._fd, self._start, self._length = parent.fileno(), offset, length

    def get(self, position, length):
        length = max(0, min(length, self._length - position))
        return os.pread(self._fd, length, self._start + position)

    def get_array(self, position, typecode, length):
        a = array(typecode)
        a.frombytes(self.get(position, length * a.itemsize))
        if sys.byteorder == "little":   # Whoosh stores arrays big-endian (structfile.read_array)
            a.byteswap()
        return a


def _open_index(path, kind):
    return index.FileIndex(_Storage(path), indexname=kind)


def _create_index(path, kind):
    return index.FileIndex.create(_Storage(path), SCHEMAS[kind], kind)


def _commit(writer):
    """Commit, or on failure (a full disk) cancel the writer and free Whoosh's own lock even when closing
    its files fails too: a lock left held would refuse every later writer of this process."""
    try:
        writer.commit()
    except BaseException:
        try:
            writer.cancel()
        except Exception:
            if writer.writelock is not None:
                writer.writelock.release()
        raise


# --- generations on disk, building and updating ----------------------------------------------

def _root(settings):
    return Path(settings.index_dir)


def _current(root):
    try:
        name = (root / "current").read_text("utf-8").strip()
    except FileNotFoundError:
        return None
    return name if name and (root / name).is_dir() else None


def _lock(root, timeout):
    root.mkdir(parents=True, exist_ok=True)
    return filelock.FileLock(str(root / "write.lock"), timeout=timeout)


@contextmanager
def _database(settings):
    """A connection to the registry database, or None while it does not exist yet (before setup)."""
    path = settings.database
    if not os.path.exists(path):
        yield None
        return
    db = storage.connect(path)
    try:
        yield db if "projects" in db.table_names() else None
    finally:
        db.conn.close()


def _read_db(settings, project_ids=None, org_ids=()):
    """Rows to index: every project, or these ids plus the projects of these organisations (their text
    names them); and every organisation. -> (projects, organisations, project ids)"""
    with _database(settings) as db:
        if db is None:
            return [], [], set()
        if project_ids is not None:
            project_ids = set(project_ids) | set(storage.projects_of_organisations(db, org_ids))
        projects = storage.index_documents(db, None if project_ids is None else sorted(project_ids))
        return projects, storage.list_organisations(db), project_ids


def _expected(settings):
    """(stamps, synonym fingerprint) the index must hold to reflect the database."""
    with _database(settings) as db:
        if db is None:
            return {kind: {} for kind in SCHEMAS}, _fingerprint(synonyms_for([]))
        return storage.index_stamps(db), _fingerprint(synonyms_for(storage.list_organisations(db)))


def _project_document(p, synonyms):
    """The project's document, stamped with its organisations' versions too (store.db.project_stamp)."""
    doc = project_document(p, synonyms)
    doc["stamp"] = storage.project_stamp(p["version"], p["updated_at"], [(o["id"], o["version"]) for o in p["orgs"]])
    return doc


# Synonyms: a new acronym or alias of an organisation changes the expanded text of every document that
# names the organisation, with or without a role in it. Rebuilding the whole index for that would hold an
# editor's request for minutes at 10k projects; instead an update looks up, in the index itself, the
# documents that contain any old or new name of the changed organisations and reindexes them too. The
# fingerprint of the synonym table is kept per generation and checked by `verify`, so a change written
# without an index update (a script, an import without index settings) is still found stale and rebuilt.
SYNONYMS_FILE = "synonyms.sha256"


def _fingerprint(synonyms):
    # DOCUMENT_FORMAT too: an index whose documents were made another way (before region names) is stale
    return hashlib.sha256("\n".join([DOCUMENT_FORMAT, *sorted(synonyms.texts)]).encode("utf-8")).hexdigest()


def _write_fingerprint(path, fingerprint):
    tmp = path / (SYNONYMS_FILE + ".tmp")
    tmp.write_text(fingerprint, "utf-8")
    os.replace(tmp, path / SYNONYMS_FILE)


def _read_fingerprint(path):
    try:
        return (path / SYNONYMS_FILE).read_text("utf-8").strip()
    except FileNotFoundError:
        return None


def _names_of(settings, org_ids):
    """The current names, acronyms and aliases of these organisations. A document that named one of their
    old names holds all of them (its synonyms), so these find it unless every name changed: callers that
    know the old names pass them too (exchange.apply does)."""
    if not org_ids:
        return set()
    with _database(settings) as db:
        orgs = storage.list_organisations(db, ids=list(org_ids)) if db is not None else []
    return {n for o in orgs for n in (o["name"], o["acronym"], *o["aliases"]) if n}


def _mentioning(path, names):
    """{kind: ids} of the documents whose searched text contains any of these names (as phrases)."""
    found = {kind: set() for kind in SCHEMAS}
    for kind, searched in KINDS.items():
        searched = [f for f in searched if f not in FIELD_ANALYSIS]   # names are indexed in English fields
        phrases = [words for words in ([t.text for t in ANALYZER(name)] for name in names) if words]
        subqueries = [query.Phrase(f, words) if len(words) > 1 else query.Term(f, words[0])
                      for words in phrases for f in searched]
        if not subqueries:
            continue
        with _open_index(path, kind).searcher() as s:
            if not s.doc_count():   # an empty index (the first import) has no columns: nothing mentions them
                continue
            ids = list(s.reader().column_reader("id"))
            found[kind] = {ids[d] for d in s.docs_for_query(query.Or(subqueries))}
    return found


def _add(writer, doc):
    """writer.add_document(**doc): the same postings, lengths and columns for a fifth less CPU, most of it in
    the fields with positions or frequencies (tests/test_indexing_equivalence.py compares the two indexes)."""
    doc = dict(doc, stamp=doc["stamp"].encode("utf-8"))
    if not isinstance(writer, SegmentWriter) or any(name.startswith("_") for name in doc):
        writer.add_document(**doc)
        return
    writer._check_state()
    if type(writer.pool) is PostingPool:
        writer.pool.__class__ = _SortedPool
    docs, docnum, schema = writer.perdocwriter, writer.docnum, writer.schema
    postings = []
    docs.start_doc(docnum)
    try:
        for name in sorted(doc):
            value = doc[name]
            if value is not None:
                _add_field(docs, postings, name, schema[name], value, docnum)
    except Exception:
        docs.cancel_doc()
        raise
    docs.finish_doc()
    _pool_extend(writer.pool, postings)
    writer._added = True
    writer.docnum += 1


def _add_field(docs, postings, name, field, value, docnum):
    """One field of SegmentWriter.add_document: its postings into `postings`, its length and column."""
    length = 0
    if field.indexed:
        for text, freq, weight, encoded in _field_postings(field, value):
            if field.scorable:
                length += freq
            postings.append((name, text, docnum, weight, encoded))
    if field.separate_spelling() or field.vector:
        raise ValueError(f"field {name}: spelling and vector fields are not supported by _add")
    docs.add_field(name, field, value if field.stored else None, length)
    if field.column_type:
        docs.add_column_value(name, field.column_type, field.to_column_value(value))


def _field_postings(field, value):
    """(term bytes, frequency, weight, encoded value) of each term, as field.index(value) makes them: for
    positions and frequencies, one loop over the analyzer's tokens (each token's boost is 1.0: the weight is
    the frequency times the field's boost) instead of Whoosh's generators and dictionaries of weights."""
    fmt = type(field.format)
    if fmt not in (formats.Positions, formats.Frequency) or not isinstance(value, str) \
            or not isinstance(field.analyzer, _Analyzer):
        return list(field.index(value))
    positions = {}
    for t in field.analyzer(value, positions=True, boosts=True, mode="index"):
        if not t.stopped:
            found = positions.get(t.text)
            if found is None:
                positions[t.text] = [t.pos]
            else:
                found.append(t.pos)
    boost = field.format.field_boost
    if fmt is formats.Positions:
        encode = field.format.encode
        return [(w.encode("utf-8"), len(p), float(len(p)) * boost, encode(p)) for w, p in positions.items()]
    return [(w.encode("utf-8"), len(p), float(len(p)) * boost, pack_uint(len(p))) for w, p in positions.items()]


def _pool_extend(pool, postings):
    """PostingPool.add for each posting, counting the same memory and spilling to disk past the same limit."""
    pool.fieldnames.update(p[0] for p in postings)
    pool.currentsize += sum(150 + len(f) + 2 * len(t) + len(v or b"") for f, t, _, _, v in postings)
    pool.current.extend(postings)
    if pool.currentsize > pool.limit:
        pool.save()


class _SortedPool(PostingPool):
    """Whoosh's pool of postings, sorted in the same order, (field, term, docnum, ...), by one bytes key per
    posting instead of comparing tuples: a third of a commit. The pool holds postings in docnum order and a
    document has each term once, so a stable sort by field and term gives the same order. (The NUL after
    the field name sorts a field before any longer name that begins with it.) _add gives its writer's pool
    this class."""

    def _sort(self):
        prefixes = {name: name.encode("utf-8") + b"\0" for name in self.fieldnames}
        self.current.sort(key=lambda p: prefixes[p[0]] + p[1])

    def save(self):   # a run spilled to disk: sorted here, so Whoosh's own sort finds it sorted at once
        self._sort()
        super().save()

    def items(self, maxfiles=128):
        if self.runs:
            return super().items(maxfiles)
        self._sort()
        return self.current


class IndexBusy(Exception):
    """Another process is writing the index (a rebuild or an update holds the lock)."""


def rebuild(settings, progress=False, wait=WAIT_REBUILD):
    """Build a new generation from SQLite and swap it in. Returns the number of projects indexed.
    Raises IndexBusy when another writer holds the lock for longer than `wait` seconds. On any failure the
    index is marked stale, so that the serving processes repair it (their next search starts a repair)."""
    root = _root(settings)
    lock = _lock(root, wait)
    try:
        lock.acquire()
    except filelock.Timeout:
        _write_stale_mark(root, "a rebuild could not get the write lock")
        raise IndexBusy("the search index is being rebuilt or updated by another process; try again "
                        "in a few minutes") from None
    try:
        return _build(settings, root, progress)
    except Exception as exc:
        _write_stale_mark(root, f"a rebuild failed: {type(exc).__name__}: {exc}")
        raise
    finally:
        lock.release()


def _build(settings, root, progress):
    projects, orgs, _ = _read_db(settings)
    synonyms = synonyms_for(orgs)
    name = f"gen-{time.time_ns()}"
    tmp = root / f"{name}.tmp"
    try:
        _write_generation(tmp, projects, orgs, synonyms, progress)
        previous = _current(root)
        os.replace(tmp, root / name)
        pointer = root / "current.tmp"
        pointer.write_text(name, "utf-8")
        os.replace(pointer, root / "current")
    except BaseException:   # a full disk, a kill: the generation in use stays, and nothing is left behind
        for path in (tmp, root / name):
            shutil.rmtree(path, ignore_errors=True)
        raise
    for old in root.iterdir():   # keep the new and the previous generation; drop the rest and leftovers
        if old.is_dir() and old.name.startswith("gen-") and old.name not in (name, previous):
            shutil.rmtree(old, ignore_errors=True)
    log.info("search index generation %s: %d projects, %d organisations", name, len(projects), len(orgs))
    return len(projects)


def _write_generation(tmp, projects, orgs, synonyms, progress):
    tmp.mkdir(parents=True)
    docs = {"projects": (_project_document(p, synonyms) for p in projects),
            "organisations": (organisation_document(o, synonyms) for o in orgs)}
    with tqdm(total=len(projects) + len(orgs), desc="Indexing", unit="doc", disable=not progress) as bar:
        for kind in SCHEMAS:
            writer = _create_index(tmp, kind).writer(
                limitmb=_pool_mb(len(projects if kind == "projects" else orgs)), codec=_codec())
            try:
                for doc in docs[kind]:
                    _add(writer, doc)
                    bar.update()
            except BaseException:
                writer.cancel()
                raise
            _commit(writer)
    _write_fingerprint(tmp, _fingerprint(synonyms))


def _pool_mb(documents):
    """The memory cap (MB) for sorting the postings of this many documents: POOL_MB when they should fit
    in it, else 256: once postings spill, all of them do, and a 100k build took as long with 256 as with
    1024, in half the memory."""
    return POOL_MB if documents * PROJECT_KB <= POOL_MB * 1024 else 256


def _codec():
    """Whoosh's codec without the minimum and maximum field lengths of each block of postings: they only
    tighten the bounds that top-N searches use to skip blocks (we score every match, and the bounds stay
    valid), and computing them read a length back for every posting: 15% of a build."""
    codec = W3Codec()
    codec.length_stats = False
    return codec


def verify(settings):
    """None when the index matches the database, else why not ("missing", "stale", "unreadable: ...")."""
    root = _root(settings)
    name = _current(root)
    if name is None:
        return "missing"
    expected, fingerprint = _expected(settings)
    if _read_fingerprint(root / name) != fingerprint:
        return "stale"
    try:
        for kind in SCHEMAS:
            with _open_index(root / name, kind).searcher() as s:
                if _stamps(s.reader()) != expected[kind]:
                    return "stale"
                first = next(iter(KINDS[kind]))
                for term in itertools.islice(s.reader().lexicon(first), 1):   # touch the postings too
                    s.search(query.Term(first, term), limit=1)
    except Exception as exc:  # corrupt or truncated files surface as unrelated errors
        return f"unreadable: {type(exc).__name__}: {exc}"[:300]
    return None


def _stamps(reader):
    """{id: stamp} of the documents in the index."""
    if not reader.doc_count():   # an empty index has no columns to read
        return {}
    ids, stamps = list(reader.column_reader("id")), list(reader.column_reader("stamp"))
    return {ids[d]: stamps[d].decode("utf-8") for d in reader.all_doc_ids()}


def ensure_index(settings, progress=False, wait=WAIT_REBUILD):
    """Rebuild when the index is missing, unreadable or stale. Returns the reason it was rebuilt, or None.
    With wait=0 it gives up at once when another process holds the write lock (it is rebuilding)."""
    if verify(settings) is None:
        return None
    root = _root(settings)
    try:
        with _lock(root, wait):
            reason = verify(settings)          # another process may have rebuilt it meanwhile
            if reason is not None:
                log.warning("search index %s: rebuilding from the database", reason)
                _build(settings, root, progress)
            return reason
    except filelock.Timeout:
        log.warning("search index is being written by another process; not checked now")
        return None


def update_projects(settings, ids, organisations=(), names=(), wait=WAIT_EDIT):
    """Bring these projects (and organisations, with their projects) up to date after a commit; ids no
    longer in the database are removed. `names`: the old and new names, acronyms and aliases of changed
    organisations: the documents that contain any of them are reindexed too (their synonyms changed).
    Returns True when the index is up to date. Never raises: when the update cannot be applied now
    (another writer holds the lock for more than `wait` seconds, the disk is full, ...) the edit stands,
    the index is marked stale and a background repair catches up (retrying until it can): returns False."""
    root = _root(settings)
    try:
        with _lock(root, wait):
            name = _current(root)
            if name is None:
                _build(settings, root, progress=False)
            else:
                _update(settings, root / name, ids, organisations, names)
        return True
    except filelock.Timeout:
        reason = f"another writer held the index for more than {wait} s"
        log.warning("search index update of %d projects queued: %s", len(ids), reason)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        log.exception("search index update failed for %d projects; a repair will catch up", len(ids))
    mark_stale(settings, reason)
    return False


def update_organisations(settings, ids, wait=WAIT_EDIT):
    return update_projects(settings, (), organisations=ids, wait=wait)


def _update(settings, path, ids, organisations, names):
    """Reindex these projects and organisations in generation `path`, and the documents that contain any of
    `names` or the organisations' current names. The caller holds the write lock."""
    names = set(names) | _names_of(settings, organisations)
    mentioning = _mentioning(path, names)
    projects, orgs, project_ids = _read_db(settings, set(ids) | mentioning["projects"], organisations)
    synonyms = synonyms_for(orgs)
    org_ids = set(organisations) | mentioning["organisations"]
    _replace(path, "projects", project_ids, [_project_document(p, synonyms) for p in projects])
    _replace(path, "organisations", org_ids, [organisation_document(o, synonyms) for o in orgs if o["id"] in org_ids])
    if names:   # the documents naming the changed organisations were looked for and reindexed
        _write_fingerprint(path, _fingerprint(synonyms))


def _replace(path, kind, ids, docs):
    if not ids:
        return
    # Whoosh's own lock is free while we hold write.lock, unless a process outside the registry holds it:
    # give up soon (the index is marked stale and the repair retries) rather than hold an editor's request.
    writer = _open_index(path, kind).writer(timeout=WAIT_EDIT, codec=_codec(), limitmb=_pool_mb(len(docs)))
    try:
        for i in ids:
            writer.delete_by_term("id", i)
        for doc in docs:
            _add(writer, doc)
    except BaseException:
        writer.cancel()
        raise
    _commit(writer)


# --- repairs: a stale mark, and one background repair per process and index -----------------------

_repairs = {}          # index root -> the thread repairing it in this process
_repairs_wanted = {}   # index root -> how many times a repair was asked for (a running one looks again)
_repairs_ended = {}    # index root -> time.monotonic() when the last repair here ended
_repairs_guard = threading.Lock()


def _write_stale_mark(root, reason):
    """Best effort: on a full disk the mark cannot be written, and the process's own repair (retrying until
    it succeeds) or the next start-up check (stamps compared with the database) catches up instead."""
    try:
        (root / STALE_FILE).write_text(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {reason}\n",
                                       "utf-8")
    except OSError:
        log.warning("search index: could not write the stale mark (%s)", reason)


def mark_stale(settings, reason):
    """The index misses changes the database has (an update could not be applied): mark it, and catch up
    in the background of this process."""
    _write_stale_mark(_root(settings), reason)
    schedule_repair(settings, reason, urgent=True)


def is_marked_stale(settings):
    return (_root(settings) / STALE_FILE).exists()


def schedule_repair(settings, reason, urgent=False):
    """Start the background repair of this process for this index, unless one runs (an urgent request, a
    known missed update, makes a running one look again when it is done) or, for a request that is not
    urgent (a failing search), one ended less than REPAIR_INTERVAL seconds ago. Returns True if started."""
    root = _root(settings)
    with _repairs_guard:
        running = _repairs.get(root)
        if running is not None:
            if urgent:
                _repairs_wanted[root] = _repairs_wanted.get(root, 0) + 1
            return False
        ended = _repairs_ended.get(root)
        if not urgent and ended is not None and time.monotonic() - ended < REPAIR_INTERVAL:
            return False
        _repairs_wanted[root] = _repairs_wanted.get(root, 0) + 1
        thread = threading.Thread(target=_repair, args=(settings, root), name="search-index-repair", daemon=True)
        _repairs[root] = thread
    log.warning("search index: repair started in the background (%s)", reason)
    thread.start()
    return True


def wait_for_repair(settings, timeout):
    """Wait until no repair of this index runs in this process; False if one still runs after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        with _repairs_guard:
            thread = _repairs.get(_root(settings))
        if thread is None:
            return True
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            return False


def _repair(settings, root):
    """The repair thread: repair until it works, and again while repairs were asked for meanwhile. It
    leaves in the same critical section that checks for new requests, so none falls in between."""
    try:
        while True:
            with _repairs_guard:
                seen = _repairs_wanted.get(root, 0)
            _repair_until_done(settings, root)
            with _repairs_guard:
                if _repairs_wanted.get(root, 0) == seen:
                    del _repairs[root]
                    _repairs_ended[root] = time.monotonic()
                    return
    except BaseException:   # not expected (_repair_until_done retries every Exception): let a new one start
        with _repairs_guard:
            _repairs.pop(root, None)
            _repairs_ended[root] = time.monotonic()
        raise


def _repair_until_done(settings, root):
    for attempt in itertools.count():
        try:
            with _lock(root, WAIT_REBUILD):
                reason = verify(settings)
                if reason is not None:
                    _catch_up(settings, root, reason, rebuild=attempt >= 2)
                try:
                    (root / STALE_FILE).unlink()
                except FileNotFoundError:
                    pass
            return
        except Exception:
            pause = REPAIR_RETRY[min(attempt, len(REPAIR_RETRY) - 1)]
            log.exception("search index repair failed (attempt %d); retrying in %d s", attempt + 1, pause)
            time.sleep(pause)


def _catch_up(settings, root, reason, rebuild=False):
    """Reindex the documents whose stamps differ from the database's (the updates that were missed); build a
    new generation instead when the index is missing or unreadable, the synonyms changed (any document
    may hold them), or catching up failed twice. The caller holds the write lock."""
    name = _current(root)
    expected, fingerprint = _expected(settings)
    if rebuild or reason != "stale" or name is None or _read_fingerprint(root / name) != fingerprint:
        log.warning("search index %s: rebuilding it from the database", reason)
        _build(settings, root, progress=False)
        return
    differ = {}
    for kind in SCHEMAS:
        with _open_index(root / name, kind).searcher() as s:
            found = _stamps(s.reader())
        differ[kind] = {i for i in found.keys() | expected[kind].keys() if found.get(i) != expected[kind].get(i)}
    log.warning("search index stale: catching up %d projects and %d organisations", len(differ["projects"]),
                len(differ["organisations"]))
    _update(settings, root / name, differ["projects"], differ["organisations"], ())


# --- the long-lived searcher (one per process and index directory) --------------------------

_lock_searching = threading.RLock()   # Whoosh searchers are not meant for concurrent threads
_engines = OrderedDict()   # index directory -> _Engine (one in production; tests use many)
# Ids kept in each process's cache of recent results (paging repeats a search): about 100 bytes each (a
# pointer to the id and a score in a dict), so 20 MB; the key (at most 200 characters) and the Hits around
# each entry are counted as ENTRY_IDS ids, so a flood of different searches that match nothing cannot
# grow it either (it held any number of empty results before).
CACHE_HITS = 200_000
ENTRY_IDS = 20


class _Engine:
    """The open indexes of one generation: a long-lived searcher each, docnum -> id arrays and a small
    cache of recent results; all refreshed when an update commits to the generation."""

    def __init__(self, path, name):
        self.name = name
        self.indexes = {kind: _open_index(path, kind) for kind in SCHEMAS}
        self.searchers = {kind: ix.searcher() for kind, ix in self.indexes.items()}
        self.ids, self.cache = {}, OrderedDict()
        for kind in SCHEMAS:
            self._load(kind)

    def _load(self, kind):
        """docnum -> id, from the id column (stored_fields per hit is slow)."""
        reader = self.searchers[kind].reader()   # (an empty index, no organisations yet, has no columns)
        self.ids[kind] = list(reader.column_reader("id")) if reader.doc_count() else []

    def searcher(self, kind):
        s = self.searchers[kind]
        if not s.up_to_date():
            # Not s.refresh(): Whoosh 2.7 then reuses the old segment readers, and documents deleted
            # since (the old version of an edited project) come back. Opening anew costs ~0.1 s per commit.
            self.searchers[kind] = self.indexes[kind].searcher()
            s.close()
            self._load(kind)
            self.cache.clear()
        return self.searchers[kind]

    def remember(self, key, hits):
        """Keep `hits` for `key`; the oldest go when the cache holds more than CACHE_HITS ids, each entry
        counting as ENTRY_IDS ids more: an entry with no hits (a random word) is not free."""
        self.cache[key] = hits
        self.cache.move_to_end(key)
        held = sum(len(h.ids) + ENTRY_IDS for h in self.cache.values())
        while held > CACHE_HITS and len(self.cache) > 1:
            held -= len(self.cache.popitem(last=False)[1].ids) + ENTRY_IDS

    def close(self):
        for s in self.searchers.values():
            s.close()


REBUILDING = {   # one whole sentence each, for the translations
    "missing": N_("search is temporarily unavailable: the search index is missing and is being rebuilt; please "
                  "try again in a minute (browsing without search text still works)"),
    "unreadable": N_("search is temporarily unavailable: the search index cannot be read and is being rebuilt; "
                     "please try again in a minute (browsing without search text still works)")}


def _rebuilding(what):
    return SearchUnavailable(REBUILDING[what])


def _engine(settings):
    root = _root(settings)
    name = _current(root)
    if name is None:
        if not os.path.exists(settings.database):   # before `flask setup`: nothing to build it from
            raise SearchUnavailable(N_("search is not available yet: the index has not been built "
                                       "(run `flask --app registry setup`); browsing works meanwhile"))
        schedule_repair(settings, "the index is missing")   # deleted: build it again
        raise _rebuilding("missing")
    if (root / STALE_FILE).exists():   # marked by a process whose update failed: it may be gone since
        schedule_repair(settings, "the index is marked stale")
    engine = _engines.get(root)
    if engine is None or engine.name != name:
        try:
            fresh = _Engine(root / name, name)
        except Exception as exc:
            if schedule_repair(settings, f"the index cannot be opened: {type(exc).__name__}"):
                log.exception("search index %s cannot be opened", name)
            else:   # said once, when its repair started
                log.warning("search index %s cannot be opened (%s: %s)", name, type(exc).__name__, exc)
            raise _rebuilding("unreadable") from exc
        if engine is not None:
            engine.close()
        _engines[root] = engine = fresh
        while len(_engines) > 4:
            _engines.popitem(last=False)[1].close()
    return engine


def _forget_engine(settings):
    engine = _engines.pop(_root(settings), None)
    if engine is not None:
        engine.close()


# --- queries ---------------------------------------------------------------------------------

class _StarOnly(qparser.WildcardPlugin):
    """Only '*' is a wildcard; '?' is punctuation ("what is mercury?")."""
    expr = "(?P<text>[*])"


@lru_cache(maxsize=None)
def _parser(kind, conjunctive):
    group = qparser.AndGroup if conjunctive else qparser.OrGroup.factory(0.9)
    parser = qparser.MultifieldParser(list(KINDS[kind]), SCHEMAS[kind], fieldboosts=KINDS[kind], group=group)
    for plugin in (qparser.FieldsPlugin, qparser.RangePlugin, qparser.BoostPlugin, qparser.WildcardPlugin,
                   qparser.EveryPlugin, qparser.SingleQuotePlugin):
        parser.remove_plugin_class(plugin)
    parser.add_plugin(_StarOnly())
    return parser


def _unknown_words(searcher, kind, text, glossary):
    """Query words (stem, original, start, end) that no searched field contains, each field as its
    language's analyzer makes the word. Words of four letters or more as typed: a misspelling may stem short
    ("minning" -> "min"). French and Spanish function words and glossary phrases are known words."""
    reader, out = searcher.reader(), []
    phrases = glossary.matches(text)
    for t in ANALYZER(text, chars=True, keeporiginal=True, mode="query"):
        if text[t.endchar:t.endchar + 1] == "*" or len(t.original) < 4 or not t.text.isalpha():
            continue
        if languages.is_query_stop(t.original) or any(m.start <= t.startchar < m.end for m in phrases):
            continue
        if not any(reader.doc_frequency(f, stem) for f in KINDS[kind] if (stem := _stem(f, t.text, t.original))):
            out.append((t.text, t.original, t.startchar, t.endchar))
    return out


def _stem(field_name, english, original):
    """The word as field `field_name` holds it: `english` (the English analyzer's), or the stem of its
    language (None for a function word of it)."""
    analysis = FIELD_ANALYSIS.get(field_name, "en")
    if analysis == "en":
        return english
    analysed = stems(ANALYSES[analysis], original)
    return analysed[0] if analysed else None


# One misspelled word finds what its correction finds: a word the index has never seen is searched as the
# indexed word nearest to it (one edit away, else two; the most frequent of those, first letter kept), the
# same word "did you mean" proposes. ("minning" stems to "min", so widening the stem within an edit or two,
# as before, found "man", "mine", "mint"... and "minning" found other projects than "mining".)
# The cost of one search is bounded before it runs: each correction costs a Levenshtein automaton (a few ms
# of pure Python for a long word) and a walk of the "words" field's word list, computed once per search
# (shared by the cost check, the AND pass, the OR fallback and the suggestion) and only for the first
# MAX_FUZZY_WORDS unknown words of a query (20 random long words cost 0.5-1 s of CPU when every word was
# widened in every field, for each pass). A correction is one term per field: cheaper than the fuzzy terms.
# Then what a search reads is bounded: every indexed occurrence ("posting") of every term the query expands
# to costs about 10 us to score, so a query that would read more than MAX_POSTINGS_PER_DOC postings per
# indexed document (the bench queries read at most 6.2, "gold mining" 3.4; twenty common words 17 and
# twenty OR-ed wildcards 48, for 1.5 and 7 s of CPU at 10k projects) is refused with a 400 saying how
# to narrow it. Below MIN_POSTINGS_CHECKED (a few ms of work) nothing is refused, so a small registry
# never refuses a search. Settings.time_limit bounds the rest.
MAX_FUZZY_WORDS = 4
MAX_POSTINGS_PER_DOC = 15
MIN_POSTINGS_CHECKED = 50_000


@dataclass(frozen=True)
class _Correction:
    stem: str        # the unknown word as the searched fields would hold it
    original: str    # as typed
    start: int       # where it is in the query text
    end: int
    word: str        # the nearest indexed word, as the "words" field holds it (lower case)
    shown: str = ""  # the word as "did you mean" writes it: a glossary word with its accents ("minería")


def _corrections(searcher, kind, text, glossary):
    """The corrections of the first MAX_FUZZY_WORDS unknown words of the query that have one."""
    reader, out = searcher.reader(), []
    for stemmed, original, start, end in _unknown_words(searcher, kind, text, glossary)[:MAX_FUZZY_WORDS]:
        word = next((tok.text for tok in WORDS(original)), "")   # as the "words" field holds it
        for dist in (1, 2):
            near = [w for w in reader.terms_within("words", word, dist, prefix=1) if w != word] if word else []
            if near:
                best = max(near, key=lambda w: (reader.doc_frequency("words", w), w))
                out.append(_Correction(stemmed, original, start, end, best, best))
                break
        else:   # else the glossary's French and Spanish words, which records need not say ("orpaillage")
            correction = _glossary_correction(glossary, word)
            if correction:
                out.append(_Correction(stemmed, original, start, end, correction, glossary.written(correction)))
    return out


def _glossary_correction(glossary, word):
    """The glossary's French or Spanish word nearest to `word` (one edit away, else two), or None. Not for an
    English word of the glossary: "batteries", which no record says, is no misspelt "baterías"."""
    if not word or word in glossary.english_words:
        return None
    for dist in (1, 2):
        near = glossary.near(word, dist)
        if near:
            return max(near)
    return None


def _check_and_correct(q, corrected, primary):
    """Reject costly wildcards, stem prefixes, and search each unknown word as its correction."""
    if isinstance(q, query.Every) or (isinstance(q, query.Wildcard) and not isinstance(q, query.Prefix)):
        raise QueryError(N_("wildcards need at least %(num)d leading characters and go at the end of a word, "
                            "e.g. retort*"), "invalid_query", num=MIN_PREFIX)
    if isinstance(q, query.Prefix):   # its text went through the field's analyzer: folded and stemmed
        if len(q.text) < MIN_PREFIX and q.fieldname in FIELD_ANALYSIS:   # stemmed short in French or Spanish
            return query.NullQuery   # (the English fields decide whether the prefix is long enough)
        if len(q.text) < MIN_PREFIX:
            raise QueryError(N_("wildcards need at least %(num)d leading characters, e.g. retort*"), "invalid_query",
                             num=MIN_PREFIX)
        if q.fieldname == primary:   # once per word: also the unstemmed words ("minin*" -> mining)
            return query.Or([q, query.Prefix("words", q.text, boost=q.boost / 4)])
        return q
    key = (FIELD_ANALYSIS.get(q.fieldname, "en"), q.text) if type(q) is query.Term else None
    if key and corrected.get(key):
        terms = [query.Term(q.fieldname, stemmed, boost=q.boost) for stemmed in corrected[key]]
        return terms[0] if len(terms) == 1 else query.And(terms)
    if q.is_leaf():
        return q
    return q.apply(lambda sub: _check_and_correct(sub, corrected, primary))


def _compile(searcher, kind, text, glossary, conjunctive=True, corrections=None):
    if corrections is None:
        corrections = _corrections(searcher, kind, text, glossary)
    # French and Spanish glossary phrases (corrected words compared as corrected) also searched as their
    # English terms; French and Spanish function words dropped (languages.py). English text: unchanged.
    matches = glossary.matches(text, [(c.start, c.end, c.word) for c in corrections])
    try:
        q = _parser(kind, conjunctive).parse(languages.rewrite(text, matches))
    except Exception as exc:
        raise QueryError(N_("this search text cannot be understood (%(error)s); try plain words, or \"a phrase\" "
                            "in quotes"), "invalid_query", error=type(exc).__name__) from exc
    # the correction's stems in each language's fields (one, or none for a stop word: then the unknown word
    # stays, finding nothing)
    corrected = {}
    for c in corrections:
        for lang, analyzer in ANALYSES.items():
            typed = c.stem if lang == "en" else next(iter(stems(analyzer, c.original)), None)
            if typed:
                corrected[(lang, typed)] = stems(analyzer, c.word)
    return _check_and_correct(q, corrected, next(iter(KINDS[kind])))


def _check_cost(searcher, q):
    """QueryError when `q` would read more postings than MAX_POSTINGS_PER_DOC per indexed document."""
    reader = searcher.reader()
    postings = sum(_postings(reader, leaf) for leaf in q.leaves())
    if postings > max(MIN_POSTINGS_CHECKED, MAX_POSTINGS_PER_DOC * reader.doc_count()):
        raise QueryError(N_("this search is too broad to answer quickly: its words, wildcards and corrected words "
                            "match about %(num)d times in every record; use fewer or more specific words, fewer "
                            "wildcards (retort* rather than ret*), or a filter"), "search_too_broad",
                         num=postings // max(1, reader.doc_count()))


def _postings(reader, leaf):
    """Postings a leaf of a query reads: those of every term it expands to; a phrase walks its rarest
    word's documents and checks the other words there."""
    if isinstance(leaf, query.Phrase):
        frequencies = [reader.doc_frequency(leaf.fieldname, word) for word in leaf.words]
        return len(frequencies) * min(frequencies, default=0)
    return sum(reader.doc_frequency(f, t) for f, t in leaf.expanded_terms(reader))


def _suggest(text, corrections):
    """The text with each corrected word replaced by its correction, written in the case it was typed in."""
    out = text
    for c in reversed(corrections):
        best = c.shown or c.word
        if c.original.isupper() and len(c.original) > 1:
            best = best.upper()
        elif c.original[:1].isupper():
            best = best.capitalize()
        out = out[:c.start] + best + out[c.end:]
    return out if corrections else None


class _AllScored(collectors.UnlimitedCollector):
    """Every match with its score, giving up with TimeLimit after `seconds`. (Whoosh's
    TimeLimitCollector does the same but adds a generator step per match: about 30% slower.)"""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def prepare(self, top_searcher, q, context):
        super().prepare(top_searcher, q, context)
        self.deadline = time.monotonic() + self.seconds

    def _collect(self, global_docnum, score):
        self.items.append((score, global_docnum))
        if time.monotonic() > self.deadline:
            raise collectors.TimeLimit
        return 0


def _run(searcher, ids, q, seconds):
    """All matching ids, best first (ties by document number), with their scores. One scored pass over
    every match costs about the same as a top-N pass (Whoosh's block skipping gains little on OR-of-fields
    queries). The matcher Whoosh builds for each segment is scored at once with numpy when it is made of
    terms, ANDs, ORs and phrases (_scored_at_once), else walked match by match: the same scores."""
    collector, parts = _AllScored(seconds), []
    try:
        collector.prepare(searcher, q, searcher.context())   # as searcher.search_with_collector does
        for subsearcher, offset in searcher.leaf_searchers():
            collector.set_subsearcher(subsearcher, offset)
            parts.append(_segment_matches(collector, subsearcher, offset))
    except collectors.TimeLimit:
        raise SearchUnavailable(N_("this search took too long; try more specific words or a filter"),
                                "search_timeout") from None
    docs, scores = (numpy.concatenate(column) for column in zip(*parts)) if parts else _NOTHING
    order = numpy.lexsort((docs, -scores))   # best first, then by document number
    docs, scores = docs[order].tolist(), scores[order].tolist()
    return [ids[d] for d in docs], {ids[d]: score for d, score in zip(docs, scores)}


def _segment_matches(collector, subsearcher, offset):
    """(docnums, scores) of the segment's matches (docnums of the whole index)."""
    found = _scored_at_once(collector.matcher, subsearcher)
    if found is None:
        collector.items = []
        collector.collect_matches()
        return (numpy.array([d for _, d in collector.items], dtype=numpy.int64),
                numpy.array([score for score, _ in collector.items], dtype=numpy.float64))
    if len(found[0]) and time.monotonic() > collector.deadline:   # as _AllScored._collect
        raise collectors.TimeLimit
    return found[0] + offset, found[1]


# --- scoring every match at once ------------------------------------------------------------
# Whoosh scores a match by walking its matcher tree once per matching document (about 10 us a posting, in
# Python). For a tree of terms under ANDs, ORs and phrases, numpy does the same arithmetic on whole posting
# lists: each term's BM25F score by Whoosh's own formula (scorer._score on arrays), a boost multiplies, an
# AND or an OR of two adds where both match, an OR of many (small indexes) adds its parts in their order, a
# phrase scores as the AND of its words and keeps the documents where they stand one after the other. Every
# float operation is the one Whoosh makes, in the same order, so the scores are equal to the last bit
# (tests/test_search_equivalence.py compares them).

def _scored_at_once(matcher, searcher):
    """(docnums, scores) numpy arrays of every match of `matcher`, or None when it holds a matcher that
    is not scored here (a prefix, NOT, AND MAYBE...): then Whoosh walks it."""
    if searcher.weighting.use_final or not _supported(matcher):
        return None
    return _vector(matcher, searcher)


def _supported(m):
    kind = type(m)
    if kind in (matching.UnionMatcher, matching.IntersectionMatcher):
        return _supported(m.a) and _supported(m.b)
    if kind is matching.WrappingMatcher:
        return _supported(m.child)
    if kind is matching.ArrayUnionMatcher:
        return m._scored and all(_supported(sub) for sub in m._submatchers)
    if kind is _PhraseMatcher:   # the parser's phrases: words at consecutive positions
        return (m.slop, m.mindist, m.ordered, m.boost) == (1, 1, True, 1.0) and _supported(m.child) \
            and all(type(word) in (W3LeafMatcher, matching.ListMatcher) for word in m.ms) \
            and all(word.format.fixed_value_size() is None for word in m.ms if type(word) is W3LeafMatcher)
    if kind in (W3LeafMatcher, matching.ListMatcher):
        scorer = m.scorer if kind is W3LeafMatcher else m._scorer
        return type(scorer) is scoring.BM25FScorer and m._term is not None
    return kind is matching.NullMatcherClass


_NOTHING = (numpy.zeros(0, dtype=numpy.int64), numpy.zeros(0))
_PhraseMatcher = spans.SpanNear2.SpanNear2Matcher


def _vector(m, searcher):
    kind = type(m)
    if kind is matching.NullMatcherClass:
        return _NOTHING
    if kind is matching.WrappingMatcher:
        docs, scores = _vector(m.child, searcher)
        return docs, scores * m.boost
    if kind is matching.UnionMatcher:
        return _union([_vector(m.a, searcher), _vector(m.b, searcher)])
    if kind is matching.IntersectionMatcher:
        (docs_a, scores_a), (docs_b, scores_b) = _vector(m.a, searcher), _vector(m.b, searcher)
        docs, in_a, in_b = numpy.intersect1d(docs_a, docs_b, assume_unique=True, return_indices=True)
        return docs, scores_a[in_a] + scores_b[in_b]
    if kind is _PhraseMatcher:   # the documents of its words' AND, scored as that AND, that hold the phrase
        docs, scores = _vector(m.child, searcher)
        keep = _holding_phrase(m.ms, docs)
        return docs[keep], scores[keep]
    if kind is matching.ArrayUnionMatcher:   # a[doc] += score * boost, part by part, from 0
        parts = [_vector(sub, searcher) for sub in m._submatchers]
        docs, scores = _union([(d, s * m._boost) for d, s in parts])
        keep = scores > 0   # (it yields the documents whose sum is positive)
        return docs[keep], scores[keep]
    return _leaf(m, searcher)


def _union(parts):
    """Every document of the parts, its scores added in the parts' order (0 + a + b ...). Dense arrays over
    the document numbers: numpy.union1d hashes, ten times slower on 100,000 documents."""
    size = max((int(docs[-1]) + 1 for docs, _ in parts if len(docs)), default=0)
    present, totals = numpy.zeros(size, dtype=bool), numpy.zeros(size)
    for docs, scores in parts:   # (a term's documents are distinct: one addition per document and part)
        present[docs] = True
        totals[docs] += scores
    docs = numpy.flatnonzero(present)
    return docs, totals[docs]


def _leaf(m, searcher):
    """A term's postings and their BM25F scores (the scorer's formula, the field lengths Whoosh reads)."""
    if type(m) is W3LeafMatcher:
        docs, weights, scorer = [], [], m.scorer
        for ids, block_weights, _ in _blocks(m):
            docs.extend(ids)
            weights.extend(block_weights)
    else:
        docs, scorer = m._ids, m._scorer   # (ListMatcher.weight's rule)
        weights = [m._all_weights] * len(docs) if m._all_weights else list(m._weights or [1.0] * len(docs))
    docs = numpy.asarray(docs, dtype=numpy.int64)
    lengths = _field_lengths(searcher, m._term[0])[docs]
    return docs, scorer._score(numpy.asarray(weights, dtype=numpy.float64), lengths)


def _blocks(m):
    """[(ids, weights, values)] of each posting block of the term matcher, read once (a phrase reads its
    words' postings to score them, then their positions: values as stored, encoded positions)."""
    if "_registry_blocks" not in m.__dict__:
        m.reset()
        blocks = []
        while m.is_active():
            m._read_ids()
            m._read_weights()
            blocks.append((m._ids, m._weights, m._data[2]))
            m._next_block()
        m._registry_blocks = blocks
    return m._registry_blocks


def _holding_phrase(words, docs):
    """A mask of `docs`: those where the words stand at consecutive positions (SpanNear2 with slop 1,
    mindist 1, ordered: each word one position after the one before)."""
    starts = dict.fromkeys(docs.tolist())   # doc -> the positions where the phrase so far can start
    for i, word in enumerate(words):
        positions = _positions(word, numpy.fromiter(starts, dtype=numpy.int64, count=len(starts)))
        if i == 0:
            starts = {doc: set(found) for doc, found in positions.items()}
        else:
            starts = {doc: left for doc, at in starts.items()
                      if (left := at.intersection(p - i for p in positions.get(doc, ())))}
    return numpy.isin(docs, numpy.fromiter(starts, dtype=numpy.int64, count=len(starts)))


def _positions(m, docs):
    """{doc: positions of the term} for the term matcher's postings in `docs` (a sorted array)."""
    if type(m) is W3LeafMatcher:
        out, fmt = {}, m.format
        for ids, _, values in _blocks(m):
            ids = numpy.asarray(ids, dtype=numpy.int64)
            wanted = numpy.flatnonzero(numpy.isin(ids, docs, assume_unique=True))
            out.update((int(ids[j]), fmt.decode_positions(values[j])) for j in wanted)
        return out
    wanted = set(docs.tolist())
    return {doc: m._format.decode_positions(value) for doc, value in zip(m._ids, m._values) if doc in wanted}


def _field_lengths(searcher, fieldname):
    """Every document's length in `fieldname` as the scorer reads it (doc_field_length with 1 for none),
    once per segment reader and field."""
    reader = searcher.reader()
    held = reader.__dict__.setdefault("_registry_lengths", {})
    if fieldname not in held:
        held[fieldname] = _read_lengths(reader, fieldname)
    return held[fieldname]


_LENGTHS = numpy.array([numeric.byte_to_length(b) for b in range(256)], dtype=numpy.float64)   # byte -> length


def _read_lengths(reader, fieldname):
    """The field's length bytes read at once (Whoosh reads one per call); lengths as doc_field_length
    decodes them. Any other column layout: one doc_field_length call per document."""
    column = reader._perdoc._cached_reader(f"_{fieldname}_len", W3_LENGTHS) if hasattr(reader, "_perdoc") else None
    if type(column) is not columns.NumericColumn.Reader or column._typecode != "B" or column._reverse:
        return numpy.fromiter((reader.doc_field_length(d, fieldname, 1) or 1 for d in range(reader.doc_count_all())),
                              dtype=numpy.float64, count=reader.doc_count_all())
    stored = numpy.frombuffer(column._dbfile.get(column._basepos, column._count), dtype=numpy.uint8)
    codes = numpy.zeros(reader.doc_count_all(), dtype=numpy.uint8)   # (documents past the column: 0)
    codes[:len(stored)] = stored[:len(codes)]
    return numpy.where(codes == 0, 1.0, _LENGTHS[codes])


_OPERATOR = re.compile(r"\b(AND|OR|NOT|ANDNOT|ANDMAYBE)\b|[\"()]")


_SYNTAX_OFF = re.compile(r"[:^~]")   # field:, boost^ and fuzzy~ syntax are off: plain word separators


def _glossary(settings):
    return languages.current() if settings.glossary else languages.NO_GLOSSARY


def _search(settings, kind, text):
    text = _SYNTAX_OFF.sub(" ", text)
    with _lock_searching:
        engine = _engine(settings)
        try:
            searcher = engine.searcher(kind)
            key, glossary = (kind, text, settings.glossary), _glossary(settings)
            hits = engine.cache.get(key)
            if hits is None:
                # the corrections of unknown words: shared by the cost check, both passes and the suggestion
                corrections = _corrections(searcher, kind, text, glossary)
                compiled = _compile(searcher, kind, text, glossary, corrections=corrections)
                _check_cost(searcher, compiled)   # the OR fallback has the same terms
                ids, scores = _run(searcher, engine.ids[kind], compiled, settings.time_limit)
                if not ids and len(text.split()) > 1 and not _OPERATOR.search(text):
                    fallback = _compile(searcher, kind, text, glossary, False, corrections)
                    ids, scores = _run(searcher, engine.ids[kind], fallback, settings.time_limit)
                hits = Hits(ids=ids, scores=scores, suggestion=_suggest(text, corrections))
                engine.remember(key, hits)
            return Hits(ids=list(hits.ids), scores=hits.scores, suggestion=hits.suggestion)
        except (QueryError, SearchUnavailable):
            raise
        except Exception as exc:   # an index damaged since it was opened, or a Whoosh surprise
            log.exception("search failed for %r", text)
            _forget_engine(settings)
            # A damaged file: the repair verifies the index and rebuilds it (one per REPAIR_INTERVAL at most)
            schedule_repair(settings, f"a search failed: {type(exc).__name__}")
            raise SearchUnavailable(N_("the search could not be completed; the search index is being checked "
                                       "and repaired if need be: please try again in a minute"),
                                    "search_failed") from exc


def search_projects(settings, q):
    """Every project matching the search text, best first (filters and facets are applied on these ids)."""
    return _search(settings, "projects", q)


def search_organisations(settings, q):
    """Organisation ids matching name, acronym, aliases, type or country, best first."""
    return _search(settings, "organisations", q).ids


# --- snippets --------------------------------------------------------------------------------

class _Mark(highlight.Formatter):
    """Matched words in <mark>; everything else HTML-escaped (the text is user-supplied)."""
    between = " … "

    def _text(self, text):
        return str(escape(text))

    def format_token(self, text, token, replace=False):
        return f"<mark>{escape(highlight.get_text(text, token, replace))}</mark>"

    def format(self, fragments, replace=False):
        out = super().format(fragments, replace)
        if fragments and fragments[0].startchar > 0:
            out = "… " + out
        if fragments and fragments[-1].endchar < len(fragments[-1].text):
            out += " …"
        return out


def snippets(settings, db, q, ids):
    """{id: Markup} for these projects: the passages that match, matched words highlighted."""
    if not q or not ids:
        return {}
    with _lock_searching:
        try:
            searcher = _engine(settings).searcher("projects")
            compiled = _compile(searcher, "projects", _SYNTAX_OFF.sub(" ", q), _glossary(settings), conjunctive=False)
            # (Query.existing_terms skips fields after the first one: a Whoosh bug)
            terms = {lang: set() for lang in ANALYZERS}   # the matched terms of each language's fields
            for leaf in compiled.leaves():
                for f, t in leaf.expanded_terms(searcher.reader()):
                    if f in KINDS["projects"] and f != "places":   # (place names: not in the texts shown)
                        terms[FIELD_LANGUAGE.get(f, "en")].add(t.decode("utf-8") if isinstance(t, bytes) else t)
        except Exception:   # snippets are a nicety: the list falls back to summaries
            log.warning("no snippets for %r", q, exc_info=True)
            return {}
    if not any(terms.values()):
        return {}
    fragmenter, formatter = highlight.ContextFragmenter(maxchars=240, surround=60), _Mark()
    out = {}
    for p in storage.index_documents(db, list(ids)):
        # the English texts (a French query's glossary phrases are searched as English terms too), then the
        # French and Spanish summaries with their own analyzers
        texts = [(text, "en") for text in (p["description"], p["summary"], *p["sources"], ", ".join(p["keywords"]))]
        texts += [(p.get(translated_field("summary", lang)), lang) for lang in dict.fromkeys(FIELD_LANGUAGE.values())]
        for text, lang in texts:
            if text and terms[lang]:
                found = highlight.highlight(text, terms[lang], ANALYZERS[lang], fragmenter, formatter, top=2)
                if found:
                    out[p["id"]] = Markup(found)
                    break
    return out
