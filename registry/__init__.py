"""The Mercury Partnership Registry: projects and stakeholders of the UNEP Global Mercury Partnership.

The package's folders are its layers (each imports only the ones below it; .importlinter enforces it):
    web/, editing/     HTTP: pages, JSON API, map routes; accounts, forms, imports, moderation, history
    exchange/          formats in and out (CSV, JSON, GeoJSON) and the one audited write path
    search/, maps/     the Whoosh index and the finder; map shells, map data and PNG maps
    store/             SQLite: schema, reads, facet counts, writes with history, backups
    core/              pure rules and data: records and their validation, queries, countries, search text
"""
import os
import secrets
import stat
import tempfile
from pathlib import Path

from flask import Flask

from .core.paths import GEODATA, STATIC, TEMPLATES

# Keys that were published in this code (earlier versions served with the first by default): anyone can
# sign a cookie with them, so the registry refuses them everywhere.
PUBLIC_SECRET_KEYS = ("dev-only-change-me",)
MIN_SECRET_KEY_LENGTH = 32   # gunicorn.conf.py refuses shorter explicit keys in production


def secret_key_problem(key):
    """Why `key` must not sign sessions in production, or None."""
    if key in PUBLIC_SECRET_KEYS:
        return "it is the development key published in earlier versions of the registry's code"
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return f"it has {len(key)} characters, fewer than {MIN_SECRET_KEY_LENGTH}"
    return None


def instance_secret_key(path):
    """The secret key kept in the file `path` (mode 0600), made on first use (256 random bits). Processes
    starting together (gunicorn workers) agree on one key: each writes a candidate aside and hard-links it
    into place, which only the first can do; every process then reads the file."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, candidate = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")   # created with mode 0600
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32) + "\n")
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(candidate, path)
            except FileExistsError:
                pass                       # another process was first: its key is the key
        finally:
            os.unlink(candidate)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise RuntimeError(f"the secret key file {path} can be read by other users (mode {mode:o}): "
                           f"`chmod 600 {path}`, or delete it to make a new key (everyone is logged out)")
    key = path.read_text().strip()
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise RuntimeError(f"the secret key in {path} is too short ({len(key)} characters): delete the file "
                           "to make a new key (everyone is logged out), or set REGISTRY_SECRET_KEY")
    return key


def _check_secret_keys(config):
    """No published key, explicit or as a fallback; a lone fallback given as a string is one key (Flask
    would take each of its characters for a key)."""
    fallbacks = config.get("SECRET_KEY_FALLBACKS") or []
    config["SECRET_KEY_FALLBACKS"] = [fallbacks] if isinstance(fallbacks, str) else list(fallbacks)
    for key in [config["SECRET_KEY"], *config["SECRET_KEY_FALLBACKS"]]:
        if key in PUBLIC_SECRET_KEYS:
            raise RuntimeError("the secret key (or a fallback key) is the development key published in earlier "
                               "versions: remove it from REGISTRY_SECRET_KEY / REGISTRY_SECRET_KEY_FALLBACKS "
                               "and instance/config.py (unset, the registry makes its own in instance/secret_key)")


def create_app(test_config=None):
    """Application factory. Configuration is applied in one visible order:
    defaults -> instance/config.py -> REGISTRY_* environment variables -> test_config.
    Without a configured SECRET_KEY, the key in instance/secret_key signs sessions (made on first start)."""
    app = Flask(__name__, instance_relative_config=True,
                template_folder=str(TEMPLATES), static_folder=str(STATIC))
    app.config.from_mapping(
        SECRET_KEY=None,   # unset: a random key made on first start and kept in SECRET_KEY_FILE
        SECRET_KEY_FILE=os.path.join(app.instance_path, "secret_key"),
        DATABASE=os.path.join(app.instance_path, "registry.db"),
        INDEX_DIR=os.path.join(app.instance_path, "index"),
        CACHE_DIR=os.path.join(app.instance_path, "cache"),
        SEED_DIR=str(GEODATA / "seed"),
        REPORT_PATH=str(GEODATA / "report" / "gmp-activities-2020-2022.txt"),
        UPDATES_DIR=str(GEODATA / "updates"),
        MAX_CONTENT_LENGTH=20 * 1024 * 1024,
        EMBED_ORIGINS="*",
        SEARCH_TIME_LIMIT=2.0,
        CHECK_INDEX_ON_START=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # IATI export (docs/iati.md): who publishes, and the prefix of the identifiers of activities that have
        # no IATI identifier of their own. Default: the Partnership's secretariat, UNEP (XM-DAC-41116, type 40
        # Multilateral). REGISTRY_IATI_REPORTING_ORG takes JSON: {"ref": ..., "type": ..., "name": ...}.
        IATI_REPORTING_ORG={"ref": "XM-DAC-41116", "type": "40",
                            "name": "United Nations Environment Programme (UNEP), Global Mercury Partnership secretariat"},
        IATI_PUBLISHER_PREFIX="XM-DAC-41116-GMP",
    )
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("REGISTRY")
    if test_config:
        app.config.from_mapping(test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = instance_secret_key(app.config["SECRET_KEY_FILE"])
    _check_secret_keys(app.config)

    from . import cli, editing, web
    web.init_app(app)
    editing.init_app(app)
    cli.init_app(app)
    return app
