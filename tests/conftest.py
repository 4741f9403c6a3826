"""Fixtures: a migrated database per test (SQLite copy, or PostgreSQL truncated), the app, clients.

Set HCC_TEST_DATABASE_URL to a throwaway PostgreSQL database to run the suite on PostgreSQL.
"""

from __future__ import annotations

import os
import shutil

import pytest
from sqlalchemy import text

from core import migrate
from core.db import Base, Database
from core.devcert import ensure_dev_signing
from core.registry import import_models
from core.settings import Settings

# Shared fixtures kept in their own modules.
pytest_plugins = ["tests.onestop"]

PG_URL = os.environ.get("HCC_TEST_DATABASE_URL", "").strip() or None
# Under pytest-xdist each worker runs on a database of its own, made beside the one named (and dropped after).
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if PG_URL and _WORKER:
    PG_URL = f"{PG_URL}_{_WORKER}"


def _pg_admin(statement: str) -> None:
    """Run CREATE/DROP DATABASE on the server of PG_URL (outside a transaction, as they must be)."""
    from sqlalchemy import create_engine

    engine = create_engine(PG_URL.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()
REFERENCE_TABLES = {"province", "ward", "alembic_version"}


def pytest_report_header(config):
    return f"database: {'PostgreSQL ' + PG_URL.rsplit('/', 1)[-1] if PG_URL else 'SQLite'}"


@pytest.fixture(scope="session")
def signing_files(tmp_path_factory):
    """One development signing identity for the whole run (key generation is slow)."""
    return ensure_dev_signing(tmp_path_factory.mktemp("signing"))


@pytest.fixture(scope="session")
def template_db(tmp_path_factory):
    import_models()
    if PG_URL:
        name = PG_URL.rsplit("/", 1)[1]
        if _WORKER:
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            _pg_admin(f'CREATE DATABASE "{name}"')
        db = Database(PG_URL)
        with db.engine.begin() as conn:  # a throwaway database: start from nothing, whatever was left
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        migrate.upgrade(db)
        db.dispose()
        yield PG_URL
        if _WORKER:
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    path = tmp_path_factory.mktemp("template") / "hcc.sqlite3"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    yield path


def _empty_pg(db: Database) -> None:
    """Empty every table but the reference data and restart the ids at 1.

    DELETE in dependency order, then one setval per sequence: a TRUNCATE of every table costs about
    80 ms (it replaces each table's files), a DELETE of a test's few rows about 6 ms, and the suite
    does this once per test. Should rows refer to each other in a cycle the DELETEs cannot order,
    TRUNCATE ... CASCADE still empties them."""
    tables = [t for t in Base.metadata.sorted_tables if t.name not in REFERENCE_TABLES]
    try:
        with db.engine.begin() as conn:
            for table in reversed(tables):
                conn.execute(table.delete())
            sequences = conn.execute(text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")).scalars()
            for name in sequences.all():
                conn.execute(text("SELECT setval(CAST(:name AS regclass), 1, false)"), {"name": f'"{name}"'})
    except Exception:
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE TABLE {', '.join(t.name for t in tables)} RESTART IDENTITY CASCADE"))


@pytest.fixture
def database_url(template_db, tmp_path):
    if PG_URL:
        db = Database(PG_URL)
        try:
            _empty_pg(db)
        finally:
            db.dispose()
        return PG_URL
    target = tmp_path / "hcc.sqlite3"
    shutil.copyfile(template_db, target)
    return f"sqlite:///{target}"


@pytest.fixture
def settings(tmp_path, database_url, signing_files) -> Settings:
    return Settings.from_env(
        environ={},
        instance_dir=tmp_path / "instance",
        database_url=database_url,
        queue_url="memory://",
        queue_immediate=True,
        secret_key="test-" + "k" * 40,
        signing_pkcs12=signing_files.pkcs12,
        signing_pkcs12_password=signing_files.password,
        public_url="http://localhost",
    )


@pytest.fixture
def app(settings):
    from api import create_app
    from core.accounts import ensure_demo_centre

    app = create_app({"settings": settings, "TESTING": True})
    db = app.extensions["hcc"].db
    with db.session() as session:
        ensure_demo_centre(session)
    yield app
    db.dispose()


@pytest.fixture
def db(app) -> Database:
    return app.extensions["hcc"].db


@pytest.fixture
def session(db):
    s = db.sessionmaker()
    yield s
    s.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def live_server(app):
    """The test app over real HTTP on 127.0.0.1:<free port>, with the public URL pointing at it: the
    sandboxes (gateways, carriers, the tax authority, signing services) reach our callbacks over HTTP,
    as the real systems do, and a browser can open its pages."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.extensions["hcc"].settings.public_url = url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def centre(session):
    from core.accounts import ensure_demo_centre

    return ensure_demo_centre(session)


@pytest.fixture(autouse=True)
def carrier_catalogues(monkeypatch):
    """Carriers' address catalogues, read once per session from their sandboxes (tests/carriers/conftest.py),
    are what postal stores on first need, instead of reading ~760 pages over HTTP in every test."""
    from postal import addressing
    from tests.carriers.conftest import sandbox_units

    monkeypatch.setattr(addressing, "fetch_units", lambda settings, carrier: sandbox_units(carrier))
