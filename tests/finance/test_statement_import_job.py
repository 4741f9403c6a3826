"""A statement is validated in the request and matched by a background job, a batch at a time, with progress."""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import jobs
from core.clock import local_day
from finance import imports, reconcile
from finance.models import ClosedDay, Discrepancy, StatementImport, StatementLine
from tests.factories import csrf_token, make_centre, make_user, sign_in
from tests.finance.factories import paid_payment

UPLOAD = "/staff/finance/import"


def bank_csv(rows) -> bytes:
    return ("date,reference,amount,description\n" + "".join(f"{d},{r},{a},{t}\n" for d, r, a, t in rows)).encode()


@contextmanager
def queued_jobs():
    """Jobs go to the (in-memory) queue instead of running at commit, as they do in production."""
    jobs.huey.immediate = False
    try:
        yield jobs.huey
    finally:
        jobs.huey.immediate = True


def finance_client(client, session, username="ketoan"):
    make_user(session, roles=("finance",), username=username)
    session.commit()
    sign_in(client, username)
    return client


def upload(client, data: bytes, *, source="bank-csv", name="sao-ke.csv"):
    import io

    return client.post(UPLOAD, data={"source": source, "csrf_token": csrf_token(client, "/staff/finance/"),
                                     "file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def a_day_of_statement(session, *, ok=6, unknown=3):
    """A bank file for yesterday: `ok` lines paying our payments, `unknown` lines nobody announced, and one of
    our payments missing from it."""
    day = local_day() - timedelta(days=1)
    paid = [paid_payment(session, on=day) for _ in range(ok)]
    paid_payment(session, on=day)  # not in the file
    rows = [(day, f"FT{i:04d}", p.paid_amount, f"HCC {p.code} nop phi") for i, p in enumerate(paid)]
    rows += [(day, f"FTX{i:04d}", 10_000 + i, "chuyen tien khong ro") for i in range(unknown)]
    session.commit()
    return bank_csv(rows)


def test_the_upload_is_validated_then_queued_and_the_job_matches_it(client, session):
    data = a_day_of_statement(session)
    finance_client(client, session)
    with queued_jobs() as huey:
        answer = upload(client, data)
        assert answer.status_code == 302
        statement = session.scalars(select(StatementImport)).one()
        assert answer.headers["Location"].endswith(f"/staff/finance/imports/{statement.id}")
        # Nothing matched yet: the row waits, with the file, for the job on the queue.
        assert (statement.state, statement.processed, statement.line_count) == ("queued", 0, 9)
        assert statement.raw_file == data
        assert session.scalar(select(func.count()).select_from(StatementLine)) == 0
        assert [t.name for t in huey.pending()] == ["run_statement_import"]
        page = client.get(f"/staff/finance/imports/{statement.id}").get_data(as_text=True)
        assert "<progress" in page and "Đang chờ đối chiếu 9 dòng" in page
        assert client.get(f"/staff/finance/imports/{statement.id}.json").get_json()["state"] == "queued"

        huey.execute(huey.dequeue())

    status = client.get(f"/staff/finance/imports/{statement.id}.json").get_json()
    assert status == {"id": statement.id, "state": "done", "state_label": "Xong", "processed": 9, "total": 9,
                      "matched": 6, "discrepancies": 4,
                      "message": "Đã đối chiếu 9 dòng: khớp 6, chênh lệch 4.",
                      "discrepancies_url": f"/staff/finance/discrepancies?import={statement.id}"}
    page = client.get(f"/staff/finance/imports/{statement.id}").get_data(as_text=True)
    assert f'href="/staff/finance/discrepancies?import={statement.id}"' in page


@pytest.mark.parametrize(("data", "error"), [
    (b"date,reference,amount,description\n2026-11-01,FT1,200000,ok\n2026-11-01,FT2,hai tram,bad\n",
     "dòng 3: số tiền không hợp lệ &#39;hai tram&#39;"),
    (b"ngay,so tien\n01/11/2026,200000\n", "dòng 1: thiếu cột date, reference, amount, description"),
])
def test_a_bad_file_is_refused_beside_the_field_and_queues_nothing(client, session, data, error):
    finance_client(client, session)
    with queued_jobs() as huey:
        answer = upload(client, data)
        assert huey.pending_count() == 0
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert re.search(r'<input type="file" name="file"[^>]*aria-invalid="true" aria-describedby="error-file"', page)
    assert re.search(rf'<span class="field-error" id="error-file">[^<]*{re.escape(error)}', page)
    assert session.scalar(select(func.count()).select_from(StatementImport)) == 0


def test_the_same_file_twice_is_refused_naming_the_first_import(client, session):
    data = a_day_of_statement(session, ok=1, unknown=1)
    finance_client(client, session)
    assert upload(client, data).status_code == 302
    first = session.scalars(select(StatementImport)).one()
    with queued_jobs() as huey:
        again = upload(client, data, name="sao-ke-lan-2.csv")
        assert huey.pending_count() == 0
    assert again.status_code == 400
    assert f"Tệp này đã được nhập (lần nhập #{first.id}, tệp sao-ke.csv); không nhập lại." in again.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(StatementImport)) == 1


def _queue(session, centre, data: bytes) -> int:
    from tests.finance.test_reconcile import OFFICER

    statement = imports.queue_statement(session, centre.id, "bank-csv", "sao-ke.csv", data, OFFICER)
    session.info.pop("hcc_after_commit", None)  # the test runs the job itself
    session.commit()
    return statement.id


def _state(session, import_id):
    session.expire_all()
    lines = session.scalars(select(StatementLine).where(StatementLine.import_id == import_id)
                            .order_by(StatementLine.line_no)).all()
    found = session.scalars(select(Discrepancy).order_by(Discrepancy.id)).all()
    s = session.get(StatementImport, import_id)
    return ([(x.line_no, x.status, x.payment_id) for x in lines],
            sorted((d.type, d.payment_id, d.line_id is not None, d.actual_amount) for d in found),
            (s.state, s.processed, s.matched_count, s.discrepancy_count))


def test_the_job_matches_in_batches_and_reports_its_progress(session, centre, db):
    import_id = _queue(session, centre, a_day_of_statement(session, ok=6, unknown=3))
    seen = []

    def watch(processed, total):
        # What the page's JSON reads between two batches, from another connection.
        with db.session() as other:
            s = other.get(StatementImport, import_id)
            seen.append((s.state, s.processed, s.line_count,
                         other.scalar(select(func.count()).select_from(StatementLine)
                                      .where(StatementLine.import_id == import_id))))

    assert imports.process_import(import_id, batch_size=4, after_batch=watch) == "done"
    assert seen == [("running", 4, 9, 4), ("running", 8, 9, 8), ("running", 9, 9, 9)]
    lines, found, counts = _state(session, import_id)
    assert counts == ("done", 9, 6, 4)
    assert [status for _, status, _ in lines] == ["matched"] * 6 + ["unmatched"] * 3
    assert [t for t, *_ in found].count("missing_theirs") == 1 and len(found) == 4


class Killed(BaseException):
    """The worker process dying: not an error the job could catch."""


def test_a_job_killed_midway_and_run_again_stores_no_line_or_discrepancy_twice(session, centre, db, monkeypatch):
    data = a_day_of_statement(session, ok=6, unknown=4)
    # The same file matched in one go, on a copy of the data, is what the interrupted import must end with.
    from tests.finance.test_reconcile import OFFICER
    whole = reconcile.import_statement(session, centre.id, "bank-csv", "mot-lan.csv", data, OFFICER)
    expected = (whole.matched, whole.discrepancies)
    session.rollback()

    import_id = _queue(session, centre, data)
    real = reconcile._find_payment
    calls = {"n": 0}

    def dies_on_the_seventh_line(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 7:  # inside the second batch (lines 5-8), before it commits
            raise Killed()
        return real(*args, **kwargs)

    monkeypatch.setattr(reconcile, "_find_payment", dies_on_the_seventh_line)
    with pytest.raises(Killed):
        imports.process_import(import_id, batch_size=4)
    lines, found, (state, processed, *_) = _state(session, import_id)
    assert (state, processed, len(lines)) == ("running", 4, 4)  # the first batch stayed, the second rolled back

    monkeypatch.setattr(reconcile, "_find_payment", real)
    assert imports.process_import(import_id, batch_size=4) == "done"
    assert imports.process_import(import_id, batch_size=4) == "done"  # a third run (the sweep's) changes nothing
    lines, found, counts = _state(session, import_id)
    assert [n for n, *_ in lines] == list(range(2, 12))
    assert (counts[2], counts[3]) == expected == (6, 5)
    assert len(found) == 5 and [t for t, *_ in found].count("missing_theirs") == 1


def test_a_stalled_import_is_driven_again_by_the_sweep(session, centre, db, monkeypatch):
    import_id = _queue(session, centre, a_day_of_statement(session, ok=2, unknown=1))
    ran = []
    monkeypatch.setattr(imports, "run_statement_import", lambda i: ran.append(i))
    s = session.get(StatementImport, import_id)
    s.updated_at = s.updated_at - imports.STALLED_AFTER - timedelta(seconds=1)
    session.commit()
    assert imports.redrive_statement_imports(session) == 1
    session.commit()
    assert ran == [import_id]


def test_another_centres_import_answers_404(client, session):
    b = make_centre(session, "BN")
    from tests.finance.test_reconcile import OFFICER

    theirs = imports.queue_statement(session, b.id, "bank-csv", "bn.csv",
                                     bank_csv([(local_day(), "FT1", 10_000, "x")]), OFFICER)
    session.commit()
    finance_client(client, session)
    assert client.get(f"/staff/finance/imports/{theirs.id}.json").status_code == 404
    assert client.get(f"/staff/finance/imports/{theirs.id}").status_code == 404
    assert client.get("/staff/finance/imports/99999.json").status_code == 404


def test_closing_a_day_is_refused_without_its_confirmation(client, session):
    finance_client(client, session)
    day = local_day() - timedelta(days=1)
    token = csrf_token(client, "/staff/finance/")
    refused = client.post("/staff/finance/close", data={"day": day.isoformat(), "allow_empty": "1",
                                                        "csrf_token": token})
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert f"Khoá sổ ngày {day:%d/%m/%Y}: sau khi khoá sẽ không thể sửa khoản thu, biên lai" in page
    assert f"Chưa khoá sổ: hãy đánh dấu ô xác nhận khoá sổ ngày {day:%d/%m/%Y}." in page
    assert session.scalar(select(func.count()).select_from(ClosedDay)) == 0

    done = client.post("/staff/finance/close", data={"day": day.isoformat(), "allow_empty": "1", "confirm": "1",
                                                     "csrf_token": token})
    assert done.status_code == 302
    assert session.scalars(select(ClosedDay.day)).all() == [day]


def test_the_dashboard_counts_discrepancies_by_type_and_charts_the_month(client, session):
    data = a_day_of_statement(session, ok=2, unknown=2)
    finance_client(client, session)
    upload(client, data)
    page = client.get("/staff/finance/").get_data(as_text=True)
    assert re.search(r'<a href="/staff/finance/discrepancies\?type=missing_ours">Có tiền, không có khoản thu</a>'
                     r'</td>\s*<td class="amount">2</td>', page)
    assert 'id="open-count">3<' in page
    day = local_day() - timedelta(days=1)
    if day.month == local_day().month:  # yesterday is in the month shown by default
        assert 'src="data:image/svg+xml;base64,' in page
        assert re.search(rf"<th scope=\"row\">{day:%d/%m/%Y}</th><td class=\"amount\">[^<]*</td>", page)


def test_a_job_that_fails_says_so_in_vietnamese_and_keeps_what_it_matched(client, session, centre, monkeypatch):
    import_id = _queue(session, centre, a_day_of_statement(session, ok=2, unknown=1))

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(reconcile, "_find_payment", broken)
    imports.run_statement_import(import_id)  # queue_immediate: runs here, as a worker would
    *_, (state, processed, *_) = _state(session, import_id)
    assert (state, processed) == ("failed", 0)
    finance_client(client, session)
    status = client.get(f"/staff/finance/imports/{import_id}.json").get_json()
    assert (status["state"], status["state_label"], status["discrepancies_url"]) == ("failed", "Lỗi", None)
    assert status["message"] == ("Đối chiếu không hoàn tất: Đối chiếu dừng sau 0 dòng do lỗi hệ thống; các dòng đã "
                                 "đối chiếu được giữ nguyên. Hãy báo quản trị hệ thống.")
