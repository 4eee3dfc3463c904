"""Build one benchmark registry: generate records, import them with the real CLI, rebuild the index
with the real CLI, then build the peer (the same projects in one SQLite table with an FTS5 index)."""
import json
import time
from pathlib import Path

import sqlite_utils

from registry.store import db as storage
from registry.core import geo
from .generate import generate, write_chunks
from .servers import progress, registry_env, run_cli

PEER_FTS = ["title", "summary", "description", "keywords", "org_names", "country_names"]


def build_registry(folder, n, seed, log):
    """Returns (generated document, build row). The instance lives in `folder`."""
    folder = Path(folder)
    doc = generate(n, seed)
    files = write_chunks(doc, folder / "import")
    env = registry_env(folder)
    import_s = import_mb = 0.0
    for path in progress(files, f"import {n:,}"):
        seconds, mb = run_cli(["import", path], env, log)
        import_s, import_mb = import_s + seconds, max(import_mb, mb)
    for _ in progress([1], f"reindex {n:,}"):
        reindex_s, reindex_mb = run_cli(["reindex"], env, log)
    db = storage.connect(folder / "registry.db", readonly=True)
    counts = storage.counts(db)
    db.conn.close()
    assert counts["projects"] == n, f"expected {n} projects after import, found {counts['projects']}"
    start = time.perf_counter()
    build_peer(folder / "registry.db", folder / "peer.db")
    peer_s = time.perf_counter() - start
    return doc, {
        "records": n, "locations": counts["locations"], "import_files": len(files),
        "import_s": import_s, "import_rec_s": n / import_s, "import_peak_mb": import_mb,
        "reindex_s": reindex_s, "reindex_docs_s": n / reindex_s, "reindex_peak_mb": reindex_mb,
        "peer_build_s": peer_s, "peer_rec_s": n / peer_s,
        "db_mb": _size_mb(folder / "registry.db"), "index_mb": _size_mb(folder / "index"),
        "peer_mb": _size_mb(folder / "peer.db"),
    }


def build_peer(registry_db, peer_db):
    """The peer database: one row per project, multi-valued fields as JSON arrays (for Datasette's
    array facets and filters), FTS5 over the same texts the registry searches."""
    source = storage.connect(registry_db, readonly=True)
    docs = storage.index_documents(source)
    source.conn.close()
    rows = ({
        "id": d["id"], "title": d["title"], "summary": d["summary"], "description": d["description"],
        "keywords": "; ".join(d["keywords"]),
        "org_names": "; ".join(dict.fromkeys(x for o in d["orgs"] for x in (o["name"], o["acronym"]) if x)),
        "country_names": "; ".join(geo.country_name(c) for c in d["countries"]),
        "countries": json.dumps(sorted(d["countries"])), "areas": json.dumps(sorted(d["areas"])),
        "funders": json.dumps(sorted({o["id"] for o in d["orgs"] if o["role"] == "funder"})),
        "area": d["area"], "status": d["status"], "kind": d["kind"],
        "start_year": d["start_year"], "end_year": d["end_year"],
    } for d in docs)
    Path(peer_db).unlink(missing_ok=True)
    peer = sqlite_utils.Database(peer_db)
    peer["projects"].insert_all(rows, pk="id", batch_size=1000)
    peer["projects"].enable_fts(PEER_FTS, fts_version="FTS5")
    for column in ("area", "status", "kind"):
        peer["projects"].create_index([column])
    peer.conn.execute("VACUUM")
    peer.conn.close()


def _size_mb(path):
    path = Path(path)
    files = [path] if path.is_file() else list(path.rglob("*")) if path.exists() else []
    return sum(f.stat().st_size for f in files if f.is_file()) / 1_048_576
