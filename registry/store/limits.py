"""Per-client budgets of server time (registry/web/limits.py), shared by every process that serves.

A budget is a leaky bucket per (client, kind): `spent` seconds, which drain at the kind's rate; a request
is admitted while what is left of `spent` is under the kind's capacity, and its cost is added when it ends.

The buckets live in a small SQLite file of their own (by default CACHE_DIR/limits.db), not in the
registry's database: every search writes here, and a long import holds the registry's write lock for
seconds, which would hold every search with it. Nothing here needs to survive a crash (synchronous=OFF):
losing the file only forgives everyone's recent use. One connection per process, opened on first use
(after gunicorn's fork) and shared by the process's threads under a lock.
"""
import os
import random
import sqlite3
import threading

SCHEMA = """CREATE TABLE IF NOT EXISTS budgets (
    client TEXT NOT NULL, kind TEXT NOT NULL, spent REAL NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (client, kind)) WITHOUT ROWID"""
FORGET_AFTER = 86400   # seconds: rows this old are drained whatever the rate; deleted now and then


class BudgetStore:
    def __init__(self, path):
        self.path = str(path)
        self.lock = threading.Lock()
        self.conn, self.pid = None, None

    def _connection(self):
        if self.conn is None or self.pid != os.getpid():   # never share a connection across a fork
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=2, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 2000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute(SCHEMA)
            self.conn, self.pid = conn, os.getpid()
        return self.conn

    def spent(self, client, kind, rate, now):
        """Seconds `client` has spent on `kind` that have not drained yet at `now`."""
        with self.lock:
            row = self._connection().execute("SELECT spent, at FROM budgets WHERE client = ? AND kind = ?",
                                              [client, kind]).fetchone()
        return 0.0 if row is None else max(0.0, row[0] - rate * max(0.0, now - row[1]))

    def charge(self, client, kind, cost, rate, now):
        """Add `cost` seconds to the bucket, after draining it at `rate` since it was last charged."""
        with self.lock:
            conn = self._connection()
            conn.execute(
                "INSERT INTO budgets (client, kind, spent, at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (client, kind) DO UPDATE SET "
                "spent = max(0.0, spent - ? * max(0.0, excluded.at - at)) + excluded.spent, at = excluded.at",
                [client, kind, cost, now, rate])
            if random.random() < 0.001:   # now and then, forget clients long gone
                conn.execute("DELETE FROM budgets WHERE at < ?", [now - FORGET_AFTER])
