"""Migrations go up, all the way down, and up again, on SQLite and (when configured) PostgreSQL."""

import uuid

from sqlalchemy import create_engine, inspect, text

from core import migrate
from core.db import Database
from tests.conftest import PG_URL


def _fresh_database(tmp_path):
    if not PG_URL:
        return f"sqlite:///{tmp_path / 'fresh.sqlite3'}", None
    name = f"hcc_mig_{uuid.uuid4().hex[:10]}"
    server = PG_URL.rsplit("/", 1)[0] + "/postgres"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return PG_URL.rsplit("/", 1)[0] + "/" + name, (admin, name)


def test_upgrade_downgrade_base_and_upgrade_again(tmp_path):
    url, cleanup = _fresh_database(tmp_path)
    db = Database(url)
    try:
        migrate.upgrade(db)
        assert migrate.is_up_to_date(db)
        assert {"centre", "app_user", "api_client", "audit_log", "idempotency_record", "ward"} <= set(
            inspect(db.engine).get_table_names())
        migrate.downgrade(db, "base")
        assert migrate.current_revision(db) is None
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(db)
        assert migrate.is_up_to_date(db)
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM province")).scalar() == 34
    finally:
        db.dispose()
        if cleanup:
            admin, name = cleanup
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            admin.dispose()
