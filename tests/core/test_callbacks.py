"""Inbound callbacks are kept verbatim before anything acts on them, and what became of each is recorded."""

from sqlalchemy import select, text

from core import audit, callbacks
from core.callbacks import RawCallback
from core.models import AuditLog, InboundCallback


def _ipn(**overrides) -> RawCallback:
    values = {"source": "vnpay", "method": "GET", "path": "/callbacks/vnpay/ipn",
              "query_string": "vnp_Amount=5000000&vnp_OrderInfo=Thanh+to%C3%A1n+l%E1%BB%87+ph%C3%AD&vnp_TxnRef=AB12",
              "headers": {"Host": "hcc.example.vn", "User-Agent": "VNPAY", "Authorization": "Bearer secret",
                          "Cookie": "session=abc"},
              "body": "", "remote_addr": "203.0.113.7"}
    values.update(overrides)
    return RawCallback(**values)


def test_a_callback_is_committed_verbatim_before_anything_acts_on_it(db):
    callback_id = callbacks.store(db, _ipn(body="{\"ghi_chú\": \"Lệ phí cấp bản sao\"}"))
    # Another connection sees it at once: a crash while judging it cannot lose it.
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT source, method, path, query_string, body, remote_addr, outcome "
                                "FROM inbound_callback WHERE id = :id"), {"id": callback_id}).one()
    assert row.source == "vnpay" and row.method == "GET" and row.path == "/callbacks/vnpay/ipn"
    assert row.query_string == _ipn().query_string
    assert row.body == "{\"ghi_chú\": \"Lệ phí cấp bản sao\"}"
    assert row.remote_addr == "203.0.113.7"
    assert row.outcome is None  # not judged yet


def test_our_callers_credentials_are_not_kept_with_the_callback(db, session):
    callback_id = callbacks.store(db, _ipn())
    stored = session.get(InboundCallback, callback_id)
    assert stored.headers == {"Host": "hcc.example.vn", "User-Agent": "VNPAY"}
    assert stored.received_at.tzinfo is not None


def test_what_became_of_a_callback_commits_with_the_transaction_that_acted_on_it(db):
    callback_id = callbacks.store(db, _ipn())
    with db.session() as s:
        callbacks.settle(s, callback_id, "accepted", detail="paid", dedup_key="14000000:00", entity_type="payment",
                         entity_id=42)
    with db.session() as s:
        row = s.get(InboundCallback, callback_id)
        assert (row.outcome, row.detail, row.dedup_key, row.entity_type, row.entity_id) == \
            ("accepted", "paid", "14000000:00", "payment", "42")
        assert row.processed_at is not None and row.processed_at >= row.received_at
        # The request itself is untouched.
        assert row.query_string == _ipn().query_string
        assert callbacks.seen_before(s, "vnpay", "14000000:00")
        assert not callbacks.seen_before(s, "vnpay", "14000000:00", exclude_id=callback_id)


def test_a_rolled_back_judgement_leaves_the_callback_unjudged(db):
    callback_id = callbacks.store(db, _ipn())
    s = db.sessionmaker()
    try:
        callbacks.settle(s, callback_id, "accepted", dedup_key="14000001:00")
        s.rollback()
    finally:
        s.close()
    with db.session() as s:
        assert s.get(InboundCallback, callback_id).outcome is None
        assert not callbacks.seen_before(s, "vnpay", "14000001:00")


def test_a_callback_the_session_already_read_shows_its_outcome(db):
    callback_id = callbacks.store(db, _ipn())
    with db.session() as s:
        row = s.get(InboundCallback, callback_id)
        callbacks.settle(s, callback_id, "rejected", detail="bad checksum")
        assert (row.outcome, row.detail) == ("rejected", "bad checksum")


def test_an_audit_row_commits_or_rolls_back_with_the_change_it_records(db):
    actor = audit.Actor(type="gateway", id="vnpay", name="VNPAY IPN")
    with db.session() as s:
        kept = audit.record(s, actor, "payment.paid", entity_type="payment", entity_id=7,
                            before={"status": "pending"}, after={"status": "paid", "paid_amount": 50_000},
                            detail="vnpay: đã thanh toán")
    s = db.sessionmaker()
    try:
        audit.record(s, actor, "payment.failed", entity_type="payment", entity_id=7)
        s.rollback()
    finally:
        s.close()
    with db.session() as s:
        rows = s.scalars(select(AuditLog).where(AuditLog.entity_type == "payment", AuditLog.entity_id == "7")).all()
    assert [r.action for r in rows] == ["payment.paid"]
    assert rows[0].id == kept.id
    assert rows[0].after == {"status": "paid", "paid_amount": 50_000}
    assert rows[0].detail == "vnpay: đã thanh toán" and rows[0].at.tzinfo is not None
