"""Numbering: gapless and unique per series, across workers that race and workers that die.

The full-size scenario (1,000 receipts, several concurrent workers, one killed mid-batch) runs on
PostgreSQL; a small one runs on SQLite, whose writers are serialised by the database lock.
"""

from __future__ import annotations

import hashlib
import random
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from core import events, jobs
from core.clock import local_day
from receipts import issuance
from receipts.issuance import SignedReceipt, allocate_receipt, finish_receipt
from receipts.models import Receipt
from tests.conftest import PG_URL
from tests.receipts.factories import demo_unit, ensure_demo_series, pay, pending_payment


class WorkerKilled(Exception):
    """Stands in for a worker process killed between taking a number and signing."""


def _fast_pdf(_settings, content, _signer=None):
    # Numbering is what is under test; signing 1,000 real PDFs would only make the test slow.
    data = f"%PDF-1.7 test {content['symbol']} {content['number']}".encode()
    return SignedReceipt(data, hashlib.sha256(data).hexdigest(), "CN=test")


def _paid_payments(session, n: int) -> list[int]:
    ids = []
    for _ in range(n):
        p = pending_payment(session, payer_email=None, payer_phone=None)
        pay(session, p)
        ids.append(p.id)
    session.commit()
    return ids


def _run_workers(db, settings, shared: list[int], workers: int, own: list[int], kill_after: int):
    """`workers` race over `shared`, each in its own order; meanwhile one more worker takes the batch
    `own` (nobody else's) and is killed after taking its `kill_after`-th number, before signing it."""
    errors: list[BaseException] = []

    def work(n: int, order: list[int], kill: int | None):
        done = 0
        try:
            for pid in order:
                with db.session() as s:
                    rid = allocate_receipt(s, pid).id
                done += 1
                if kill is not None and done >= kill:
                    raise WorkerKilled
                with db.session() as s:
                    finish_receipt(s, rid, settings=settings)
        except WorkerKilled:
            pass
        except BaseException as e:  # surfaced to the test below
            errors.append(e)

    orders = [random.Random(n).sample(shared, len(shared)) for n in range(workers)]
    threads = [threading.Thread(target=work, args=(n, orders[n], None)) for n in range(workers)]
    threads.append(threading.Thread(target=work, args=(workers, list(own), kill_after)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def _check_series(session, ids: list[int]):
    year = max(session.scalars(select(Receipt.year)).all())
    rows = session.execute(select(Receipt.payment_id, Receipt.number, Receipt.status)
                           .where(Receipt.unit_id == demo_unit(session).id, Receipt.symbol == f"{year % 100:02d}T")).all()
    assert sorted(r.number for r in rows) == list(range(1, len(ids) + 1))
    assert sorted(r.payment_id for r in rows) == sorted(ids)
    assert {r.status for r in rows} == {"issued"}


def _scenario(session, db, settings, monkeypatch, n: int, workers: int):
    monkeypatch.setitem(events._handlers, "payment.paid", [])  # the workers below do the issuing
    monkeypatch.setattr(issuance, "produce_pdf", _fast_pdf)
    ids = _paid_payments(session, n)
    own, shared = ids[:n // 5], ids[n // 5:]
    kill_after = len(own) // 2
    # The racing workers finish their batch; the extra worker dies in the middle of its own.
    _run_workers(db, settings, shared, workers, own, kill_after)
    session.expire_all()
    # What the dead worker left: the receipt it had numbered but not signed, and the rest of its batch.
    pending = session.scalars(select(Receipt.payment_id).where(Receipt.status == "pending")).all()
    assert pending == [own[kill_after - 1]]
    unreceipted = set(ids) - set(session.scalars(select(Receipt.payment_id)).all())
    assert unreceipted == set(own[kill_after:])
    # Restart: the sweep finishes what the dead worker left pending and issues the rest.
    assert jobs.sweep()["sweep_receipts"] == 1 + len(own) - kill_after
    session.expire_all()
    _check_series(session, ids)
    assert session.scalar(select(func.count()).select_from(Receipt)) == n


@pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL (HCC_TEST_DATABASE_URL)")
def test_a_thousand_receipts_by_racing_workers_are_numbered_1_to_1000(session, db, settings, monkeypatch):
    _scenario(session, db, settings, monkeypatch, 1000, workers=4)


def test_racing_workers_on_sqlite_leave_no_gap_and_no_duplicate(session, db, settings, monkeypatch):
    _scenario(session, db, settings, monkeypatch, 40, workers=3)


def test_numbers_restart_at_one_in_a_new_vietnamese_year(session, monkeypatch):
    monkeypatch.setattr(issuance, "produce_pdf", _fast_pdf)
    ensure_demo_series(session, 2026)
    ensure_demo_series(session, 2027)  # prepared ahead: it takes over at 00:00 on 1 January in Vietnam
    monkeypatch.setattr(issuance, "utcnow", lambda: datetime(2026, 12, 31, 16, 30, tzinfo=UTC))  # 23:30 in Hà Nội
    a = pending_payment(session)
    pay(session, a)
    ra = issuance.issue_receipt(session, a.id)
    monkeypatch.setattr(issuance, "utcnow", lambda: datetime(2026, 12, 31, 17, 30, tzinfo=UTC))  # 00:30, 1/1/2027
    b = pending_payment(session)
    pay(session, b)
    rb = issuance.issue_receipt(session, b.id)
    session.commit()
    assert (ra.symbol, ra.number_text) == ("26T", "0000001")
    assert (rb.symbol, rb.number_text) == ("27T", "0000001")


def test_the_width_follows_the_series_setting(session, centre, monkeypatch):
    monkeypatch.setattr(issuance, "produce_pdf", _fast_pdf)
    ensure_demo_series(session, local_day().year, width=8)
    p = pending_payment(session)
    pay(session, p)
    assert issuance.issue_receipt(session, p.id).number_text == "00000001"
