"""The README's production deployment under a gateway's load, with a worker killed and Redis restarted.

gunicorn -w 3 (gthread), two `hcc worker`s (jobs and the periodic sweep) on a Redis of the test's own,
PostgreSQL (a database of the test's own). 200 payments made through the API with a key from
`hcc api-keys create`; every VNPAY IPN (signed with the merchant's hash secret, as VNPAY signs) sent three
times, shuffled over 24 concurrent clients; one worker SIGKILLed a third of the way through and another
started; Redis shut down without saving (every queued job gone) two thirds of the way through and started
again. Then: each payment answered `00` once and `02` twice, paid once, one receipt each, issued, signed
(pyHanko verifies every PDF fetched through the API), numbered exactly 1..200 in the series, and the queue
drained. Outcomes only, never timings; the wait for the end is bounded by the sweep (once a minute).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.scale.deployment import Deployment, postgres_url, redis_available

N_PAYMENTS = 200
CLIENTS = 24

pytestmark = pytest.mark.skipif(not (postgres_url() and redis_available()),
                                reason="needs PostgreSQL (HCC_TEST_DATABASE_URL) and Redis (.ci/run starts both)")


@pytest.fixture
def deployment(tmp_path):
    dep = Deployment(tmp_path, pg_url=postgres_url())
    try:
        dep.start()
        yield dep
    finally:
        dep.stop()


def test_scale_out_deployment_pays_and_receipts_every_ipn_once(deployment):
    import requests
    from sqlalchemy import func, select

    from core.models import AuditLog
    from fees.models import Payment
    from receipts.models import Receipt
    from receipts.verify import verify_pdf
    from tax.models import TaxMessage

    dep = deployment
    local = threading.local()
    t0 = time.monotonic()

    def phase(what: str) -> None:  # printed for the curious (pytest -s), never asserted
        print(f"[{time.monotonic() - t0:6.1f} s] {what}", flush=True)

    def http() -> requests.Session:
        if not hasattr(local, "s"):
            local.s = requests.Session()
        return local.s

    fees = http().get(f"{dep.url}/api/v1/fees", headers=dep.headers(), timeout=30).json()
    fee_code = (fees["items"] if isinstance(fees, dict) else fees)[0]["code"]

    def create(i: int) -> dict:
        r = http().post(f"{dep.url}/api/v1/payments", headers=dep.headers(), timeout=60, json={
            "dossier_code": f"000.00.01.H26-261202-{i:04d}", "payer": {"name": f"Nguyễn Thị Hương {i}"},
            "items": [{"fee_code": fee_code, "quantity": 1}], "channels": ["vnpay"]})
        assert r.status_code == 201, r.text
        return r.json()

    with ThreadPoolExecutor(CLIENTS) as pool:
        payments = list(pool.map(create, range(N_PAYMENTS)))
    assert len({p["code"] for p in payments}) == N_PAYMENTS
    phase(f"{N_PAYMENTS} payments created")

    sends = [(p["id"], dep.vnpay_ipn_query(p, i)) for i, p in enumerate(payments)] * 3
    random.Random(15).shuffle(sends)
    answers: dict[int, list[str]] = {p["id"]: [] for p in payments}
    lock = threading.Lock()
    sent = Counter()
    killed, redis_restarted = threading.Event(), threading.Event()

    def chaos() -> None:
        # A third of the way: SIGKILL a worker mid-job and start another. Two thirds: Redis loses everything.
        while sent["n"] < len(sends) // 3:
            time.sleep(0.01)
        dep.kill_worker(dep.workers[0])
        dep.start_worker()
        killed.set()
        phase("worker 1 SIGKILLed, worker 3 started")
        while sent["n"] < 2 * len(sends) // 3:
            time.sleep(0.01)
        dep.restart_redis()
        redis_restarted.set()
        phase("Redis shut down without saving and started again")

    def ipn(item: tuple[int, str]) -> None:
        payment_id, query = item
        r = http().get(f"{dep.url}/callbacks/vnpay/ipn?{query}", timeout=60)
        with lock:
            answers[payment_id].append(r.json()["RspCode"])
            sent["n"] += 1

    chaos_thread = threading.Thread(target=chaos, daemon=True)
    chaos_thread.start()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(ipn, sends))
    chaos_thread.join(timeout=60)
    assert killed.is_set() and redis_restarted.is_set()
    phase(f"{len(sends)} IPNs answered")

    # A sweep that runs while receipt jobs are still queued enqueues them again: every payment's job is
    # delivered a second time here, whether or not the first has run (the jobs must be idempotent).
    from core.registry import import_jobs

    import_jobs()
    from receipts.jobs import issue_receipt_job

    for p in payments:
        dep.enqueue(issue_receipt_job, p["id"])
    phase(f"{N_PAYMENTS} receipt jobs enqueued a second time")

    wrong = {pid: codes for pid, codes in answers.items() if sorted(codes) != ["00", "02", "02"]}
    assert not wrong, f"{len(wrong)} payments not answered 00 once and 02 twice, e.g. {list(wrong.items())[:5]}"

    # Every receipt gets issued and sent to the tax authority by the workers (two kinds of job, one enqueued by
    # the other): the jobs that died with the worker or with Redis are re-driven by the periodic sweep (once a
    # minute), so the wait is bounded by two sweeps; it is a bound, not a timing the test asserts.
    db = dep.database()
    ids = [p["id"] for p in payments]
    deadline = time.monotonic() + 150
    while True:
        with db.session() as s:
            issued = s.scalar(select(func.count()).select_from(Receipt).where(
                Receipt.payment_id.in_(ids), Receipt.status == "issued"))
            to_tax = s.scalar(select(func.count(func.distinct(TaxMessage.receipt_id))).where(
                TaxMessage.kind == "receipt", TaxMessage.direction == "out"))
        if (issued >= N_PAYMENTS and to_tax >= N_PAYMENTS) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert all(w.poll() is None for w in dep.workers[1:]), dep.logs()
    phase(f"{issued} receipts issued, {to_tax} sent to the tax authority; queued now: {dict(dep.pending_jobs())}")

    with db.session() as s:
        statuses = Counter(s.scalars(select(Payment.status).where(Payment.id.in_(ids))).all())
        paid_audits = Counter(s.scalars(select(AuditLog.entity_id).where(
            AuditLog.action == "payment.paid", AuditLog.entity_id.in_([str(i) for i in ids]))).all())
        receipts = s.scalars(select(Receipt).where(Receipt.payment_id.in_(ids))).all()
        assert statuses == {"paid": N_PAYMENTS}, statuses
        assert len(paid_audits) == N_PAYMENTS and set(paid_audits.values()) == {1}, paid_audits.most_common(3)
        per_payment = Counter(r.payment_id for r in receipts)
        assert set(per_payment) == set(ids) and set(per_payment.values()) == {1}, \
            f"{len(per_payment)} payments with receipts, {[p for p, c in per_payment.items() if c > 1][:5]} with two"
        assert Counter(r.status for r in receipts) == {"issued": N_PAYMENTS}, dep.logs()
        assert to_tax == N_PAYMENTS, f"{to_tax} receipts' data sent to the tax authority, of {N_PAYMENTS}"
        by_series = Counter(r.series_id for r in receipts)
        assert len(by_series) == 1
        assert sorted(r.number for r in receipts) == list(range(1, N_PAYMENTS + 1))
        receipt_ids = [r.id for r in receipts]

    # Signed: each PDF, fetched as the one-stop system fetches it, verifies (our signature, untouched).
    settings = dep.settings()

    def fetch(rid: int) -> tuple[int, requests.Response]:
        return rid, http().get(f"{dep.url}/api/v1/receipts/{rid}/pdf", headers=dep.headers(), timeout=60)

    try:
        with db.session() as s, ThreadPoolExecutor(4) as pool:
            for rid, r in pool.map(fetch, receipt_ids):
                assert r.status_code == 200 and r.content.startswith(b"%PDF")
                result = verify_pdf(s, settings, r.content)
                assert result.valid, (rid, result.reasons)
    finally:
        db.dispose()
    phase("every PDF fetched and verified")
