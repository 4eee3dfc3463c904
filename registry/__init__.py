"""The Mercury Partnership Registry: projects and stakeholders of the UNEP Global Mercury Partnership."""
import os
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET_KEY = "dev-only-change-me"  # gunicorn.conf.py refuses to serve with it


def create_app(test_config=None):
    """Application factory. Configuration is applied in one visible order:
    defaults -> instance/config.py -> REGISTRY_* environment variables -> test_config."""
    app = Flask(__name__, instance_relative_config=True,
                template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    app.config.from_mapping(
        SECRET_KEY=DEV_SECRET_KEY,
        DATABASE=os.path.join(app.instance_path, "registry.db"),
        INDEX_DIR=os.path.join(app.instance_path, "index"),
        CACHE_DIR=os.path.join(app.instance_path, "cache"),
        SEED_DIR=str(ROOT / "geodata" / "seed"),
        REPORT_PATH=str(ROOT / "geodata" / "report" / "gmp-activities-2020-2022.txt"),
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

    from . import api, cli, db, errors, search, security, views
    db.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    search.init_app(app)
    for module in ("maps", "auth", "editor"):
        _register_optional(app, module)
    return app


def _register_optional(app, name):
    """Feature modules that register their own blueprint through an `init_app(app)`."""
    import importlib
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        return
    module.init_app(app)
