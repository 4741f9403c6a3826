"""0007: an installation from before units loses nothing; its centre becomes a centre plus a unit."""

from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy import inspect, text

from core import migrate
from core.clock import local_day
from core.db import Database, UTCDateTime
from tests.core.test_migrations import _fresh_database

PRE_PROVINCE = "0006"


def t(name, *columns):
    return sa.table(name, *(sa.column(c, ty) for c, ty in columns))


S, INT, B, J, D, TS = sa.String, sa.Integer, sa.Boolean, sa.JSON, sa.Date, UTCDateTime
CENTRE = t("centre", ("id", INT), ("code", S), ("name", S), ("tax_code", S), ("address", S), ("phone", S),
           ("email", S), ("receipt_template", S), ("receipt_symbol", S), ("receipt_number_width", INT),
           ("is_demo", B), ("created_at", TS))
FEE = t("fee_type", ("id", INT), ("centre_id", INT), ("code", S), ("name", S), ("kind", S), ("amount", INT),
        ("effective_from", D), ("active", B))
PAYMENT = t("payment", ("id", INT), ("centre_id", INT), ("code", S), ("dossier_code", S), ("payer_name", S),
            ("amount", INT), ("paid_amount", INT), ("refunded_amount", INT), ("status", S), ("allowed_channels", J),
            ("flags", J), ("created_at", TS), ("updated_at", TS), ("extra", J))
ITEM = t("payment_item", ("payment_id", INT), ("fee_type_id", INT), ("fee_code", S), ("name", S), ("kind", S),
         ("unit_amount", INT), ("quantity", INT), ("amount", INT))
COUNTER = t("receipt_counter", ("centre_id", INT), ("template", S), ("symbol", S), ("year", INT), ("last_number", INT))
RECEIPT = t("receipt", ("centre_id", INT), ("payment_id", INT), ("template", S), ("symbol", S), ("year", INT),
            ("number", INT), ("number_width", INT), ("lookup_code", S), ("status", S), ("amount", INT),
            ("collected_at", TS), ("content", J), ("fee_codes", S), ("created_at", TS), ("attempts", INT))


def at(*args):
    return datetime(*args, tzinfo=UTC)


def centre(id_, code, name, tax, prefix):
    return dict(id=id_, code=code, name=name, tax_code=tax, address="Số 1 Lý Thái Tổ", phone="0222 000",
                email="a@b.vn", receipt_template="01BLP0-001", receipt_symbol=prefix, receipt_number_width=8,
                is_demo=False, created_at=at(2024, 12, 1))


def receipt(symbol, year, number, code, when):
    return dict(centre_id=1, payment_id=1, template="01BLP0-001", symbol=symbol, year=year, number=number,
                number_width=8, lookup_code=code, status="issued", amount=200000, collected_at=when, content={},
                fee_codes="LLTP", created_at=when, attempts=0)


def seed(conn):
    conn.execute(CENTRE.insert(), [centre(1, "STP-BN", "Sở Tư pháp", "2300245389", "BN"),
                                   centre(2, "KB", "Phường Kinh Bắc", "0100000000-999", "KB")])
    conn.execute(FEE.insert(), [dict(id=1, centre_id=1, code="LLTP", name="Phí", kind="phi", amount=200000,
                                     effective_from=date(2024, 1, 1), active=True),
                                dict(id=2, centre_id=2, code="CT", name="Phí", kind="phi", amount=2000,
                                     effective_from=date(2024, 1, 1), active=True)])
    conn.execute(PAYMENT.insert().values(id=1, centre_id=1, code="P1", dossier_code="HS1", payer_name="Nguyễn Văn A",
                                         amount=200000, paid_amount=200000, refunded_amount=0, status="paid",
                                         allowed_channels=[], flags=[], created_at=at(2025, 1, 2),
                                         updated_at=at(2025, 1, 2), extra={}))
    conn.execute(ITEM.insert().values(payment_id=1, fee_type_id=1, fee_code="LLTP", name="Phí", kind="phi",
                                      unit_amount=200000, quantity=1, amount=200000))
    conn.execute(COUNTER.insert(), [dict(centre_id=1, template="01BLP0-001", symbol="BN25", year=2025, last_number=41),
                                    dict(centre_id=1, template="01BLP0-001", symbol="BN26", year=2026, last_number=3)])
    conn.execute(RECEIPT.insert(), [receipt("BN25", 2025, 2, "R2", at(2025, 1, 3, 2)),
                                    receipt("BN25", 2025, 1, "R1", at(2025, 1, 2, 2)),
                                    # 17:30 UTC on 1 January is 00:30 on 2 January in Vietnam.
                                    receipt("BN26", 2026, 1, "R3", at(2026, 1, 1, 17, 30))])


def test_upgrade_keeps_everything_and_downgrade_is_clean(tmp_path):
    url, cleanup = _fresh_database(tmp_path)
    db = Database(url)
    try:
        migrate.upgrade(db, PRE_PROVINCE)
        with db.engine.begin() as conn:
            seed(conn)

        migrate.upgrade(db)
        with db.engine.connect() as conn:
            units = conn.execute(sa.select(t("collecting_unit", ("id", INT), ("code", S), ("name", S), ("tax_code", S),
                                             ("address", S), ("gateway", J), ("active", B)))
                                 .order_by(sa.column("id"))).all()
            assert [(u.code, u.name, u.tax_code, u.address) for u in units] == [
                ("STP-BN", "Sở Tư pháp", "2300245389", "Số 1 Lý Thái Tổ"),
                ("KB", "Phường Kinh Bắc", "0100000000-999", "Số 1 Lý Thái Tổ")]  # copied as it was, even if invalid
            assert units[0].gateway == {} and units[0].active is True
            links = conn.execute(text("SELECT centre_id, unit_id FROM centre_unit ORDER BY centre_id")).all()
            assert [tuple(r) for r in links] == [(1, units[0].id), (2, units[1].id)]
            fees = conn.execute(text("SELECT id, unit_id FROM fee_type ORDER BY id")).all()
            assert [tuple(r) for r in fees] == [(1, units[0].id), (2, units[1].id)]
            series = conn.execute(sa.select(t("receipt_series", ("unit_id", INT), ("template", S), ("symbol", S),
                                              ("year", INT), ("number_width", INT), ("state", S), ("registered_on", D)))
                                  .order_by(sa.column("unit_id"), sa.column("year"))).all()
            this_year = local_day().year
            first = [tuple(r)[1:] for r in series if r.unit_id == units[0].id]
            assert first[:2] == [("01BLP0-001", "BN25", 2025, 8, "in_use", date(2025, 1, 2)),
                                 ("01BLP0-001", "BN26", 2026, 8, "in_use", date(2026, 1, 2))]
            assert f"BN{this_year % 100:02d}" in {s[1] for s in first}
            second = [tuple(r)[1:] for r in series if r.unit_id == units[1].id]
            assert second == [("01BLP0-001", f"KB{this_year % 100:02d}", this_year, 8, "registered", None)]
            counters = conn.execute(text("SELECT symbol, last_number FROM receipt_counter ORDER BY symbol")).all()
            assert [tuple(r) for r in counters] == [("BN25", 41), ("BN26", 3)]
        # The new columns' constraints hold on the altered table.
        for bad in ("UPDATE fee_type SET retained_percent = 101", "UPDATE fee_type SET online_amount = -1",
                    "UPDATE fee_type SET unit_id = 999"):
            try:
                with db.engine.begin() as conn:
                    conn.execute(text(bad))
            except sa.exc.IntegrityError:
                continue
            raise AssertionError(f"not refused: {bad}")

        migrate.downgrade(db, PRE_PROVINCE)
        names = set(inspect(db.engine).get_table_names())
        assert not {"collecting_unit", "centre_unit", "receipt_series", "credential", "carrier_account",
                    "principal_centre"} & names
        columns = {c["name"] for c in inspect(db.engine).get_columns("fee_type")}
        assert not {"unit_id", "online_amount", "retained_percent"} & columns
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM payment_item WHERE fee_type_id = 1")).scalar() == 1
            if db.dialect == "sqlite":
                assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
        migrate.upgrade(db)
        assert migrate.is_up_to_date(db)
    finally:
        db.dispose()
        if cleanup:
            admin, name = cleanup
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            admin.dispose()
