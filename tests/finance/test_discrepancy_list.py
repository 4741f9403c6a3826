"""A month of real statements: a 20,000-row import worked a page at a time, filtered, and resolved in bulk."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, insert, select

from core import audit
from core.clock import local_day, utcnow
from core.models import AuditLog
from finance import discrepancies as dl
from finance.models import ClosedDay, Discrepancy, StatementImport
from tests.factories import csrf_token, make_centre, make_user, sign_in

LIST = "/staff/finance/discrepancies"
BIG = 20_000
# The big bank file: 30 days; 3,000 amounts differ, 2,000 duplicates, the rest money nobody announced.
TYPES = {"amount_differs": 3_000, "duplicate": 2_000, "missing_ours": BIG - 5_000}


def add_import(session, centre_id: int, *, source="bank-csv", name="sao-ke-thang-11.csv") -> StatementImport:
    statement = StatementImport(centre_id=centre_id, source=source, filename=name, sha256=f"{name}{centre_id}" * 2,
                                imported_at=utcnow(), line_count=0)
    session.add(statement)
    session.flush()
    return statement


def add_discrepancies(session, statement: StatementImport, *, types: dict[str, int], channel="vietqr",
                      first_day: date, days: int = 30) -> None:
    """Rows written as one executemany, the way 20,000 of them must be made for a test to stay quick."""
    rows, now, n = [], utcnow(), 0
    for type_, how_many in types.items():
        for _ in range(how_many):
            rows.append({"centre_id": statement.centre_id, "day": first_day + timedelta(days=n % days), "type": type_,
                         "channel": channel, "import_id": statement.id, "actual_amount": 10_000 + n,
                         "detail": f"Dòng {n + 2}: có tiền {10_000 + n} đ (FT{n:06d}) nhưng không có khoản thu tương ứng.",
                         "status": "open", "created_at": now})
            n += 1
    session.execute(insert(Discrepancy), rows)
    statement.discrepancy_count = statement.line_count = n
    session.commit()


@pytest.fixture
def month(session, centre):
    """Centre A's November: the big bank import, a small VNPAY import; and centre B's own import."""
    first = local_day() - timedelta(days=40)
    big = add_import(session, centre.id)
    add_discrepancies(session, big, types=TYPES, first_day=first)
    vnpay = add_import(session, centre.id, source="vnpay-csv", name="vnpay.csv")
    add_discrepancies(session, vnpay, types={"amount_differs": 40, "missing_theirs": 10}, channel="vnpay",
                      first_day=first, days=5)
    centre_b = make_centre(session, "BN-TTPVHCC")
    other = add_import(session, centre_b.id, name="sao-ke-b.csv")
    add_discrepancies(session, other, types={"amount_differs": 30}, first_day=first, days=3)
    return {"big": big.id, "vnpay": vnpay.id, "other": other.id, "first": first, "centre_b": centre_b}


@pytest.fixture
def officer(client, session):
    user = make_user(session, roles=("finance",), username="ketoan")
    sign_in(client, user.username)
    return client


def rows_on(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr id="discrepancy-(\d+)"', html)]


def open_count(session, **where) -> int:
    q = select(func.count()).select_from(Discrepancy).where(Discrepancy.status == "open")
    for k, v in where.items():
        q = q.where(getattr(Discrepancy, k) == v)
    return session.scalar(q)


def test_the_first_page_of_a_20000_row_import_shows_100_rows_and_says_how_many_in_all(officer, month):
    resp = officer.get(f"{LIST}?import={month['big']}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert len(rows_on(html)) == 100
    assert "Trang 1/200" in html and "20.000 chênh lệch" in html
    assert 'id="page-next"' in html and 'id="page-prev"' not in html

    third = officer.get(f"{LIST}?import={month['big']}&page=3").get_data(as_text=True)
    assert "Trang 3/200" in third and "dòng 201–300" in third
    assert not set(rows_on(third)) & set(rows_on(html))
    # The pager keeps the filter in its links.
    assert f"import={month['big']}" in re.search(r'id="page-next" href="([^"]+)"', third).group(1).replace("&amp;", "&")
    last = officer.get(f"{LIST}?import={month['big']}&page=9999").get_data(as_text=True)
    assert "Trang 200/200" in last and len(rows_on(last)) == 100 and 'id="page-next"' not in last


def test_every_row_of_the_import_is_on_exactly_one_page(session, month, centre):
    f = dl.Filters(centre_id=centre.id, import_id=month["big"])
    seen = []
    for number in range(1, 201):
        page = dl.page_of(session, f, number)
        seen += [d.id for d in page.rows]
    assert len(seen) == len(set(seen)) == BIG
    days = [d.day for d in dl.page_of(session, f, 1).rows]
    assert days == sorted(days, reverse=True)  # newest day first


def test_filters_by_type_day_channel_and_import_narrow_the_list(officer, session, month, centre):
    day = month["first"] + timedelta(days=7)

    def total(query: str) -> int:
        resp = officer.get(f"{LIST}?{query}")
        assert resp.status_code == 200, query
        return int(re.search(r'id="total-count">([\d.]+)<', resp.get_data(as_text=True)).group(1).replace(".", ""))

    assert total("") == BIG + 50                                # all open of centre A, none of B
    assert total(f"import={month['big']}") == BIG
    assert total(f"import={month['vnpay']}") == 50
    assert total("type=amount_differs") == 3_000 + 40
    assert total(f"type=amount_differs&import={month['big']}") == 3_000
    assert total("channel=vnpay") == 50
    assert total("channel=momo") == 0
    in_a_day = session.scalar(select(func.count()).select_from(Discrepancy).where(
        Discrepancy.centre_id == centre.id, Discrepancy.day == day))
    assert total(f"day={day}") == in_a_day and 0 < in_a_day < BIG
    week = total(f"from={day}&to={day + timedelta(days=6)}&import={month['big']}")
    assert week == session.scalar(select(func.count()).select_from(Discrepancy).where(
        Discrepancy.import_id == month["big"], Discrepancy.day.between(day, day + timedelta(days=6))))
    assert total("status=resolved") == 0 and total("status=all") == BIG + 50
    page = officer.get(f"{LIST}?type=duplicate&channel=vietqr").get_data(as_text=True)
    assert page.count("Trùng lặp</span>") == 100 and "Lệch số tiền</span>" not in page


@pytest.mark.parametrize("query, field", [("type=lost", "type"), ("day=2026-13-01", "day"), ("page=abc", "page"),
                                          ("page=0", "page"), ("import=-1", "import"), ("status=deleted", "status"),
                                          ("channel=cash%00", "channel"), ("from=2026-11-30&to=2026-11-01", "to"),
                                          ("day=99999-01-01", "day"), ("import=99999999999999999999", "import")])
def test_a_bad_filter_value_is_a_400_naming_the_field_never_a_500(officer, query, field):
    resp = officer.get(f"{LIST}?{query}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert 'id="filter-errors"' in html and f'id="error-{field}"' in html
    if field != "page":
        assert f'aria-describedby="error-{field}"' in html
    assert rows_on(html) == []


def confirm(client, data: dict) -> tuple[int, str]:
    resp = client.post(f"{LIST}/confirm", data={"csrf_token": csrf_token(client, LIST), **data})
    return resp.status_code, resp.get_data(as_text=True)


def hidden_fields(html: str) -> dict:
    form = html[html.index('id="resolve-form"'):]
    fields: dict = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form):
        fields.setdefault(name, []).append(value.replace("&#34;", '"').replace("&amp;", "&"))
    return {k: v if len(v) > 1 else v[0] for k, v in fields.items()}


NOTE = "Sai lệch phí chuyển khoản của ngân hàng, đã đối chiếu với sổ phụ"


def test_resolving_all_that_match_the_filter_resolves_exactly_those_with_the_note(officer, session, month, centre):
    status, html = confirm(officer, {"import": month["big"], "type": "amount_differs", "scope": "all",
                                     "action": "write_off", "note": NOTE})
    assert status == 200
    assert "Đánh dấu đã xử lý 3.000 chênh lệch với ghi chú “" + NOTE + "”" in html
    assert open_count(session, type="amount_differs", import_id=month["big"]) == 3_000  # asking changes nothing

    fields = hidden_fields(html)
    resp = officer.post(f"{LIST}/resolve", data={**fields, "confirm": "1"})
    assert resp.status_code == 303
    page = officer.get(resp.headers["Location"]).get_data(as_text=True)
    # More than a request does at once: a job resolves them (at once here: the tests' queue runs jobs inline).
    assert "Đang đánh dấu đã xử lý 3.000 chênh lệch trong nền" in page
    assert f"Đã xong: 3.000 chênh lệch đánh dấu đã xử lý, ghi chú “{NOTE}”" in page
    assert "Không có chênh lệch nào" in page

    session.expire_all()
    done = session.scalars(select(Discrepancy).where(Discrepancy.status == "resolved")).all()
    assert len(done) == 3_000
    assert {(d.type, d.import_id, d.action, d.note) for d in done} == {("amount_differs", month["big"], "write_off", NOTE)}
    user_id = session.scalar(select(AuditLog.actor_id).where(AuditLog.action == "auth.login"))
    assert {d.resolved_by for d in done} == {f"user:{user_id}"} and all(d.resolved_at for d in done)
    # The others stay open: the VNPAY import's amount differences, the other types, centre B's rows.
    assert open_count(session, type="amount_differs", import_id=month["vnpay"]) == 40
    assert open_count(session, import_id=month["big"]) == BIG - 3_000
    assert open_count(session, import_id=month["other"]) == 30
    bulk = session.scalars(select(AuditLog).where(AuditLog.action == "discrepancy.bulk_resolved")).all()
    assert len(bulk) == 1 and bulk[0].after["count"] == 3_000 and bulk[0].detail == NOTE
    assert bulk[0].after["filters"] == {"import": str(month["big"]), "type": "amount_differs"}

    resolved = officer.get(f"{LIST}?status=resolved").get_data(as_text=True)
    assert "3.000 chênh lệch" in resolved and NOTE in resolved


def test_resolving_the_rows_ticked_on_a_page_resolves_only_them(officer, session, month):
    ids = rows_on(officer.get(f"{LIST}?import={month['vnpay']}").get_data(as_text=True))[:3]
    status, html = confirm(officer, {"import": month["vnpay"], "scope": "selected", "id": ids, "action": "refund",
                                     "note": "Hoàn trả cho người nộp"})
    assert status == 200 and "Đánh dấu đã xử lý 3 chênh lệch" in html
    resp = officer.post(f"{LIST}/resolve", data={**hidden_fields(html), "confirm": "1"})
    assert resp.status_code == 303
    session.expire_all()
    assert sorted(session.scalars(select(Discrepancy.id).where(Discrepancy.status == "resolved"))) == sorted(ids)


def test_without_the_confirmation_box_nothing_is_resolved(officer, session, month):
    status, html = confirm(officer, {"import": month["big"], "scope": "all", "action": "accept", "note": NOTE})
    fields = hidden_fields(html)
    before = session.scalar(select(func.count()).select_from(AuditLog))
    resp = officer.post(f"{LIST}/resolve", data=fields)
    assert resp.status_code == 400
    assert "Hãy đánh dấu ô xác nhận" in resp.get_data(as_text=True)
    session.expire_all()
    assert open_count(session) == BIG + 50 + 30
    assert session.scalar(select(func.count()).select_from(AuditLog)) == before


@pytest.mark.parametrize("expected, max_id", [("", "5"), ("3", "x"), ("-1", "5"), ("3", "99999999999999999999999")])
def test_a_tampered_confirmation_is_a_400_and_changes_nothing(officer, session, month, expected, max_id):
    resp = officer.post(f"{LIST}/resolve", data={"csrf_token": csrf_token(officer, LIST), "scope": "all",
                                                 "import": month["vnpay"], "action": "accept", "note": NOTE,
                                                 "confirm": "1", "expected": expected, "max_id": max_id})
    assert resp.status_code == 400
    assert open_count(session, import_id=month["vnpay"]) == 50


def test_asking_without_a_note_or_a_selection_names_what_is_missing(officer, month):
    status, html = confirm(officer, {"import": month["big"], "scope": "selected", "action": "accept", "note": "  "})
    assert status == 400
    assert 'id="error-note"' in html and 'aria-describedby="error-note"' in html
    assert "Cần ghi chú lý do xử lý" in html and "Chọn ít nhất một chênh lệch" in html


def test_linking_is_for_one_row_at_a_time(officer, month):
    status, html = confirm(officer, {"import": month["vnpay"], "scope": "all", "action": "link", "note": NOTE,
                                     "payment_code": "ABCDEFGHJK"})
    assert status == 400 and "chọn đúng một dòng" in html


def test_if_the_list_changed_after_the_confirmation_nothing_is_resolved(officer, session, month, centre):
    status, html = confirm(officer, {"type": "missing_theirs", "scope": "all", "action": "accept", "note": NOTE})
    assert "Đánh dấu đã xử lý 10 chênh lệch" in html
    # Meanwhile another officer resolves one of them on the single-row form.
    one = session.scalars(select(Discrepancy).where(Discrepancy.type == "missing_theirs")).first()
    one.status, one.action, one.note = "resolved", "accept", "Đã khớp"
    session.commit()
    resp = officer.post(f"{LIST}/resolve", data={**hidden_fields(html), "confirm": "1"})
    page = officer.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Danh sách đã thay đổi: nay có 9 chênh lệch phù hợp (khi xác nhận là 10)" in page
    session.expire_all()
    assert open_count(session, type="missing_theirs") == 9


def test_rows_of_a_closed_day_are_left_alone_and_said_so(officer, session, month, centre):
    day = month["first"] + timedelta(days=1)
    session.add(ClosedDay(centre_id=centre.id, day=day, summary={}))
    session.commit()
    on_day = open_count(session, day=day, import_id=month["vnpay"])
    status, html = confirm(officer, {"import": month["vnpay"], "scope": "all", "action": "accept", "note": NOTE})
    assert f"Đánh dấu đã xử lý {50 - on_day} chênh lệch" in html
    assert f"{on_day} chênh lệch thuộc ngày đã khoá sổ sẽ không thay đổi" in html
    officer.post(f"{LIST}/resolve", data={**hidden_fields(html), "confirm": "1"})
    session.expire_all()
    assert open_count(session, import_id=month["vnpay"]) == on_day


def test_another_centres_rows_never_appear_and_its_import_shows_nothing(app, session, month, centre):
    officer_b = app.test_client()
    sign_in(officer_b, make_user(session, roles=("finance",), centre=month["centre_b"]).username)
    own = officer_b.get(LIST).get_data(as_text=True)
    assert "30 chênh lệch" in own and len(rows_on(own)) == 30
    ids_a = set(session.scalars(select(Discrepancy.id).where(Discrepancy.centre_id == centre.id)))
    assert not set(rows_on(own)) & ids_a
    assert "sao-ke-thang-11.csv" not in own  # not in the import choice either

    assert officer_b.get(f"{LIST}?import={month['big']}").status_code == 404
    assert officer_b.get(f"{LIST}?centre={centre.code}").status_code == 404
    token = csrf_token(officer_b, LIST)
    some_a = sorted(ids_a)[:5]
    for path, extra in (("confirm", {}), ("resolve", {"confirm": "1", "expected": "5", "max_id": str(max(ids_a))})):
        resp = officer_b.post(f"{LIST}/{path}", data={"csrf_token": token, "import": month["big"], "scope": "all",
                                                      "action": "accept", "note": NOTE, **extra})
        assert resp.status_code == 404, path
    # A's ids posted under B's own list are not B's rows: nothing to resolve.
    resp = officer_b.post(f"{LIST}/confirm", data={"csrf_token": token, "scope": "selected", "id": some_a,
                                                   "action": "accept", "note": NOTE})
    assert resp.status_code == 400 and "Không có chênh lệch nào chưa xử lý" in resp.get_data(as_text=True)
    resp = officer_b.post(f"{LIST}/resolve", data={"csrf_token": token, "scope": "selected", "id": some_a,
                                                   "action": "accept", "note": NOTE, "confirm": "1", "expected": "5",
                                                   "max_id": str(max(ids_a))})
    session.expire_all()
    assert open_count(session, centre_id=centre.id) == BIG + 50


def test_a_user_of_several_centres_opens_an_import_of_any_of_theirs_by_its_id_alone(app, session, month, centre):
    both = app.test_client()
    sign_in(both, make_user(session, roles=("finance",), centre=month["centre_b"], also=[centre]).username)
    page = both.get(f"{LIST}?import={month['vnpay']}")  # A's import; the user's home centre is B
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "50 chênh lệch" in html and centre.name in html
    ids_a = set(session.scalars(select(Discrepancy.id).where(Discrepancy.import_id == month["vnpay"])))
    assert set(rows_on(html)) == ids_a
    # Naming the centre still decides: B's list has no such import.
    assert both.get(f"{LIST}?import={month['vnpay']}&centre={month['centre_b'].code}").status_code == 404


def test_only_finance_opens_the_list(client, session):
    sign_in(client, make_user(session, roles=("dispatcher",)).username)
    assert client.get(LIST).status_code == 403


def test_a_small_bulk_resolve_is_one_statement_in_the_request(session, month, centre):
    f = dl.Filters(centre_id=centre.id, import_id=month["big"], type="duplicate", day_to=month["first"] + timedelta(days=5))
    plan = dl.plan_bulk(session, f, ids=None, action="accept", note=NOTE)
    assert 0 < plan.count <= dl.INLINE_MAX and plan.errors == {}
    done = dl.bulk_resolve(session, f, ids=None, action="accept", note=NOTE, expected=plan.count, max_id=plan.max_id,
                           actor=audit.Actor(type="user", id="7", name="ketoan"))
    session.commit()
    assert done == plan.count == session.scalar(select(func.count()).select_from(Discrepancy).where(
        Discrepancy.status == "resolved"))


def test_a_lost_bulk_job_is_resumed_by_the_sweep_and_audited_once(session, month, centre, monkeypatch):
    from core import jobs
    from finance import discrepancy_jobs as bj

    f = dl.Filters(centre_id=centre.id)  # the whole centre: 20,050 open rows
    plan = dl.plan_bulk(session, f, ids=None, action="accept", note=NOTE)
    assert (plan.count, plan.errors) == (BIG + 50, {})
    monkeypatch.setattr(jobs, "enqueue_after_commit", lambda *a, **k: None)  # the process dies before enqueueing
    bulk = bj.request_bulk_resolve(session, f, ids=None, action="accept", note=NOTE, expected=plan.count,
                                   max_id=plan.max_id, actor=audit.Actor(type="user", id="7", name="ketoan"))
    session.commit()
    assert open_count(session, centre_id=centre.id) == BIG + 50  # nothing done yet, but nothing lost

    bulk.updated_at = utcnow() - timedelta(minutes=5)
    session.commit()
    assert bj.resume_bulk_resolutions(session) == 1
    session.expire_all()
    assert open_count(session, centre_id=centre.id) == 0
    assert open_count(session, import_id=month["other"]) == 30  # centre B's rows untouched
    assert (bulk.status, bulk.resolved_count) == ("done", BIG + 50)
    bj.resolve_batches(session, bulk.id)  # a second delivery of the job changes nothing
    audits = session.scalars(select(AuditLog).where(AuditLog.action == "discrepancy.bulk_resolved")).all()
    assert len(audits) == 1 and audits[0].after["count"] == BIG + 50 and audits[0].detail == NOTE
    assert {d.resolved_by for d in session.scalars(select(Discrepancy).where(Discrepancy.centre_id == centre.id))} \
        == {"user:7"}


def test_a_bulk_job_does_not_start_if_the_list_changed_since_the_confirmation(session, month, centre):
    from core.errors import Conflict
    from finance import discrepancy_jobs as bj

    f = dl.Filters(centre_id=centre.id, import_id=month["big"])
    plan = dl.plan_bulk(session, f, ids=None, action="accept", note=NOTE)
    one = session.scalars(select(Discrepancy).where(Discrepancy.import_id == month["big"])).first()
    one.status = "resolved"
    session.commit()
    with pytest.raises(Conflict):
        bj.request_bulk_resolve(session, f, ids=None, action="accept", note=NOTE, expected=plan.count,
                                max_id=plan.max_id, actor=audit.Actor(type="user", id="7", name="ketoan"))
    session.rollback()
    assert session.scalar(select(func.count()).select_from(bj.BulkResolution)) == 0


def test_one_row_is_linked_to_a_payment_through_the_single_resolve(officer, session, month, centre):
    from tests.finance.factories import paid_payment

    payment = paid_payment(session, channel="vnpay", amount=200_000)
    session.commit()
    row = session.scalars(select(Discrepancy).where(Discrepancy.type == "missing_theirs")).first()
    status, html = confirm(officer, {"import": month["vnpay"], "scope": "selected", "id": [row.id], "action": "link",
                                     "payment_code": payment.code.lower(), "note": "Khớp theo mã trên giấy nộp tiền"})
    assert status == 200 and f"Liên kết chênh lệch #{row.id} với khoản thu {payment.code.lower()}" in html
    resp = officer.post(f"{LIST}/resolve", data={**hidden_fields(html), "confirm": "1"})
    assert "Đã đánh dấu đã xử lý 1 chênh lệch." in officer.get(resp.headers["Location"]).get_data(as_text=True)
    session.expire_all()
    row = session.get(Discrepancy, row.id)
    assert (row.status, row.action, row.payment_id) == ("resolved", "link", payment.id)
    assert session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "discrepancy.resolved")) == 1
