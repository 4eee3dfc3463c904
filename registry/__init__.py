"""The Mercury Partnership Registry: projects and stakeholders of the UNEP Global Mercury Partnership.

The package's folders are its layers (each imports only the ones below it; .importlinter enforces it):
    web/, editing/     HTTP: pages, JSON API, map routes; accounts, forms, imports, moderation, history
    exchange/          formats in and out (CSV, JSON, GeoJSON) and the one audited write path
    search/, maps/     the Whoosh index and the finder; map shells, map data and PNG maps
    store/             SQLite: schema, reads, facet counts, writes with history, backups
    core/              pure rules and data: records and their validation, queries, countries, search text
"""
import os

from flask import Flask

from .core.paths import GEODATA, STATIC, TEMPLATES

DEV_SECRET_KEY = "dev-only-change-me"  # gunicorn.conf.py refuses to serve with it


def create_app(test_config=None):
    """Application factory. Configuration is applied in one visible order:
    defaults -> instance/config.py -> REGISTRY_* environment variables -> test_config."""
    app = Flask(__name__, instance_relative_config=True,
                template_folder=str(TEMPLATES), static_folder=str(STATIC))
    app.config.from_mapping(
        SECRET_KEY=DEV_SECRET_KEY,
        DATABASE=os.path.join(app.instance_path, "registry.db"),
        INDEX_DIR=os.path.join(app.instance_path, "index"),
        CACHE_DIR=os.path.join(app.instance_path, "cache"),
        SEED_DIR=str(GEODATA / "seed"),
        REPORT_PATH=str(GEODATA / "report" / "gmp-activities-2020-2022.txt"),
        MAX_CONTENT_LENGTH=20 * 1024 * 1024,
        EMBED_ORIGINS="*",
        SEARCH_TIME_LIMIT=2.0,
        CHECK_INDEX_ON_START=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("REGISTRY")
    if test_config:
        app.config.from_mapping(test_config)
    os.makedirs(app.instance_path, exist_ok=True)

    from . import cli, editing, web
    web.init_app(app)
    editing.init_app(app)
    cli.init_app(app)
    return app
