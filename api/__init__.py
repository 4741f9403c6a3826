"""Flask app factory: settings, database, jobs, auth, errors, API blueprints, pages, CLI."""

from __future__ import annotations

import importlib
import logging
from datetime import timedelta

from flask import Flask
from flask_smorest import Api
from werkzeug.routing import IntegerConverter

from api import auth, errors, idempotency, security
from api.context import Hcc, close_session
from core import jobs
from core.db import Database
from core.registry import import_jobs, import_models
from core.settings import Settings

log = logging.getLogger(__name__)


class RowIdConverter(IntegerConverter):
    """`<int:...>` in our routes is always a row id: one beyond a 32-bit key is a 404, not a database overflow."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)

# Feature modules, each with `init_app(app, api)`; adding a feature is one line here.
FEATURES: list[str] = [
    "api.v1.foundation",
    "api.fees",
    "api.receipts",
    "api.postal",
    "api.finance",
    "api.admin",
    "api.tax",
    "api.sandbox",
    "api.messaging",
    "api.dossiers",
    "api.dossier_pages",
    "api.stats",
    "api.search",
]


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app. `test_config` may hold `settings` (a Settings) and Flask config overrides."""
    test_config = dict(test_config or {})
    settings: Settings = test_config.pop("settings", None) or Settings.from_env()
    settings.ensure_instance()
    if settings.signing_pkcs12 is None and not settings.production:
        from core.devcert import ensure_dev_signing

        files = ensure_dev_signing(settings.instance_dir, public_url=settings.public_url)
        settings.signing_pkcs12, settings.signing_pkcs12_password = files.pkcs12, files.password
    settings.check_production()
    logging.basicConfig(level=settings.log_level)

    app = Flask(__name__, instance_path=str(settings.instance_dir), instance_relative_config=False)
    app.url_map.converters["int"] = RowIdConverter
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        REMEMBER_COOKIE_SECURE=settings.session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.get_int("HCC_SESSION_MAX_HOURS", 12)),
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=20 * 1024 * 1024,
        JSON_SORT_KEYS=False,
        API_TITLE="HCC: bưu chính công, thu phí và biên lai điện tử",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "security": [{"bearerAuth": []}],
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "info": {"description": "REST API for one-stop software and the national public service portal. "
                                    "Every POST accepts an Idempotency-Key header."},
        },
    )
    app.config.update(test_config)
    app.json.ensure_ascii = False  # Vietnamese stays readable in JSON

    import_models()
    import_jobs()
    db = Database(settings.database_url)
    app.extensions["hcc"] = Hcc(settings=settings, db=db)
    jobs.configure(settings, db)
    app.teardown_appcontext(close_session)

    api = Api(app)
    auth.init_app(app)
    idempotency.init_app(app)

    from api import health, pages
    from api.i18n import get_locale, t

    app.register_blueprint(health.bp)
    app.register_blueprint(pages.bp)

    @app.context_processor
    def _template_globals():
        from flask_login import current_user

        from core.clock import format_local
        from core.money import format_vnd

        nav = [(e, k) for e, k, roles in pages.NAV
               if current_user.is_authenticated and (not roles or current_user.has_role(*roles))]
        return {"t": t, "lang": get_locale(), "nav": nav, "format_local": format_local, "format_vnd": format_vnd,
                "settings": settings}

    for name in FEATURES:
        importlib.import_module(name).init_app(app, api)

    # After the features: throttling attaches to their views.
    security.init_app(app, settings)

    # Registered last so our problem+json handlers win over flask-smorest's own.
    errors.register(app)
    # The `hcc` commands are not attached here: api.cli builds the app (it imports this module), not the
    # other way round. `hcc` (a FlaskGroup) has its own commands and finds the features' on app.cli.
    return app
