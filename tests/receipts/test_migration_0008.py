"""0008: receipts, counters and payment items of an installation from before units get their unit and
series, and numbering continues where it was."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from core import migrate
from core.db import Database
from province.models import ReceiptSeries
from receipts.issuance import _lock_counter
from tests.core.test_migrations import _fresh_database
from tests.province.test_migration import PRE_PROVINCE, RECEIPT, receipt, seed


def _drop(cleanup):
    if cleanup:
        admin, name = cleanup
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_receipts_get_their_unit_and_series_and_numbering_continues(tmp_path):
    url, cleanup = _fresh_database(tmp_path)
    db = Database(url)
    try:
        migrate.upgrade(db, PRE_PROVINCE)
        with db.engine.begin() as conn:
            seed(conn)  # centre STP-BN: counters BN25 (41) and BN26 (3), three receipts; centre KB: none
            # A replaced receipt and its replacement refer to each other: the table rebuild keeps both links.
            when = datetime(2026, 2, 1, 3, tzinfo=UTC)
            conn.execute(RECEIPT.insert(), [receipt("BN26", 2026, 2, "R4", when) | {"status": "replaced"},
                                            receipt("BN26", 2026, 3, "R5", when)])
            conn.execute(text("UPDATE receipt SET replaced_by_id = (SELECT id FROM receipt WHERE lookup_code = 'R5') "
                              "WHERE lookup_code = 'R4'"))
            conn.execute(text("UPDATE receipt SET replaces_id = (SELECT id FROM receipt WHERE lookup_code = 'R4') "
                              "WHERE lookup_code = 'R5'"))

        migrate.upgrade(db)
        with db.engine.connect() as conn:
            unit_id = conn.execute(text("SELECT id FROM collecting_unit WHERE code = 'STP-BN'")).scalar_one()
            series = dict(conn.execute(text("SELECT symbol, id FROM receipt_series WHERE unit_id = :u"),
                                       {"u": unit_id}).all())
            rows = conn.execute(text("SELECT lookup_code, unit_id, series_id, symbol FROM receipt ORDER BY lookup_code")).all()
            assert [tuple(r) for r in rows] == [(code, unit_id, series[symbol], symbol) for code, symbol in
                                                (("R1", "BN25"), ("R2", "BN25"), ("R3", "BN26"), ("R4", "BN26"),
                                                 ("R5", "BN26"))]
            links = conn.execute(text("SELECT a.lookup_code, b.lookup_code FROM receipt a JOIN receipt b "
                                      "ON b.id = a.replaced_by_id")).all()
            assert [tuple(r) for r in links] == [("R4", "R5")]
            counters = conn.execute(text("SELECT symbol, series_id, last_number FROM receipt_counter ORDER BY symbol")).all()
            assert [tuple(r) for r in counters] == [("BN25", series["BN25"], 41), ("BN26", series["BN26"], 3)]
            assert conn.execute(text("SELECT unit_id FROM payment_item")).scalar_one() == unit_id
            if db.dialect == "sqlite":
                assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
        indexes = {i["name"] for i in inspect(db.engine).get_indexes("receipt")}
        assert {"ix_receipt_centre_issued", "ix_receipt_sha256", "ix_receipt_unit_id"} <= indexes

        # Numbering continues: the migrated counter is the series' counter, at 3, so the next number is 4.
        with Session(db.engine) as session:
            counter = _lock_counter(session, session.get(ReceiptSeries, series["BN26"]))
            assert counter.last_number == 3
            session.rollback()

        migrate.downgrade(db, "0007")
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM receipt")).scalar() == 5
            assert "unit_id" not in {c["name"] for c in inspect(db.engine).get_columns("receipt")}
            if db.dialect == "sqlite":
                assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
        migrate.upgrade(db)
        assert migrate.is_up_to_date(db)
    finally:
        db.dispose()
        _drop(cleanup)
