"""Login sessions, kept on the server: the cookie carries only a random token (signed by Flask); a row of
`sessions` says whose session it is, since when, until when, and whether it has ended.

Every request looks its token up here, so ending a session (log out, log out everywhere, a new password,
a role change, a deactivation, a restore) takes effect at once in every worker: a copied cookie stops
working. Only the SHA-256 of a token is stored, so a copy of the database (a backup) opens no session.
Times are epoch seconds.
"""
import hashlib
import secrets
from contextlib import contextmanager

from .db import transaction

TOKEN_BYTES = 32          # 256 random bits per session token
TOUCH_EVERY = 60          # seconds: last_seen is written at most this often (one small write a minute)
KEEP_ENDED = 30 * 86400   # ended and expired rows stay this long (who was logged in when), then go


def _digest(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@contextmanager
def _writing(db):
    """A write transaction, or the caller's when one is open (update_user ends sessions inside its own)."""
    if db.conn.in_transaction:
        yield db
    else:
        with transaction(db):
            yield db


def start_session(db, user_id, at, max_age):
    """A new session for `user_id`, valid for `max_age` seconds at most. Returns its token (for the cookie)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with _writing(db):
        db.execute("DELETE FROM sessions WHERE coalesce(ended, expires) < ?", [at - KEEP_ENDED])
        db.execute("INSERT INTO sessions (id, user_id, created, last_seen, expires) VALUES (?, ?, ?, ?, ?)",
                   [_digest(token), user_id, at, at, at + max_age])
    return token


def session_user(db, token, at, idle):
    """The user (a users row) whose open session `token` is, or None: unknown token, ended, past its
    lifetime, idle for more than `idle` seconds, or the account deactivated. A session found expired or
    idle is ended here."""
    rows = list(db.query("SELECT u.*, s.last_seen AS session_last_seen, s.expires AS session_expires, "
                         "s.ended AS session_ended FROM sessions s JOIN users u ON u.id = s.user_id "
                         "WHERE s.id = ?", [_digest(token)]))
    if not rows:
        return None
    user = rows[0]
    last_seen, expires, ended = (user.pop(k) for k in ("session_last_seen", "session_expires", "session_ended"))
    if ended is not None or not user["active"]:
        return None
    if at >= expires or at - last_seen > idle:
        end_session(db, token, "expired" if at >= expires else "idle", at)
        return None
    if at - last_seen > TOUCH_EVERY:
        with _writing(db):
            db.execute("UPDATE sessions SET last_seen = ? WHERE id = ? AND ended IS NULL", [at, _digest(token)])
    return user


def end_session(db, token, reason, at):
    """End one session (log out)."""
    with _writing(db):
        db.execute("UPDATE sessions SET ended = ?, end_reason = ? WHERE id = ? AND ended IS NULL",
                   [at, reason, _digest(token)])


def end_user_sessions(db, user_id, reason, at):
    """End every open session of one user (log out everywhere, new password, role change, deactivation)."""
    with _writing(db):
        db.execute("UPDATE sessions SET ended = ?, end_reason = ? WHERE user_id = ? AND ended IS NULL",
                   [at, reason, user_id])


def end_all_sessions(db, reason, at):
    """End every open session (after a restore). Returns how many were open."""
    with _writing(db):
        return db.execute("UPDATE sessions SET ended = ?, end_reason = ? WHERE ended IS NULL",
                          [at, reason]).rowcount
