"""Statistics of a seeded month match what the raw rows say, in the API, the page and its XLSX/CSV exports,
and a centre's staff see only their centre's figures."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from core.clock import local_day
from core.models import Centre
from dossiers.models import Dossier
from fees.models import Payment, PaymentItem
from postal.models import Shipment
from province.models import CollectingUnit
from receipts.models import Receipt
from stats.queries import GROUPS, compute
from tests.factories import bearer, make_api_key, make_centre, make_user, sign_in
from tests.stats.factories import MONTH, local, make_dossier, seed_month

START, END = MONTH
ONLINE = {"vnpay", "momo", "vietqr"}


@pytest.fixture
def month(app, session):
    return seed_month(session, app.extensions["hcc"].settings)


def _in_month(at) -> bool:
    return at is not None and START <= local_day(at) <= END


def expected(session, group_by: str, centre_ids=None) -> dict:
    """The figures counted row by row in Python, from the raw tables, without the module under test."""
    def seen(centre_id):
        return centre_ids is None or centre_id in centre_ids

    units = {u.id: u.code for u in session.scalars(select(CollectingUnit))}
    centres = {c.id: c.code for c in session.scalars(select(Centre))}
    dossiers = [d for d in session.scalars(select(Dossier)) if seen(d.centre_id)]
    by_code = {(d.centre_id, d.code): d for d in dossiers}

    def key(d, *, centre_id, unit_id, at):
        if group_by == "centre":
            return centres[centre_id]
        if group_by == "month":
            return f"{local_day(at):%Y-%m}"
        if group_by == "unit":
            return units.get(unit_id)
        if d is None:
            return None
        return d.procedure_code if group_by == "procedure" else d.level

    out: dict = defaultdict(lambda: defaultdict(int))
    for d in dossiers:
        if _in_month(d.received_at):
            out[key(d, centre_id=d.centre_id, unit_id=d.unit_id, at=d.received_at)]["received"] += 1
        done = d.returned_at or d.resolved_at
        if d.status == "returned" and _in_month(done):
            r = out[key(d, centre_id=d.centre_id, unit_id=d.unit_id, at=done)]
            r["resolved"] += 1
            day = local_day(done)
            # No holiday falls in November 2026, so the promised day is the deadline itself.
            if d.appointment_date is not None and day < d.appointment_date:
                r["early"] += 1
            elif d.appointment_date is None or day == d.appointment_date:
                r["on_time"] += 1
            else:
                r["late_resolved"] += 1
    # Still not returned at the end of November though the deadline (no holiday in November 2026: the day
    # promised) fell in November and is over.
    for d in dossiers:
        if d.status == "cancelled" or d.appointment_date is None or not START <= d.appointment_date <= END:
            continue
        done = d.returned_at or d.resolved_at
        if d.status != "returned" or local_day(done) > END:
            out[f"{d.appointment_date:%Y-%m}" if group_by == "month" else
                key(d, centre_id=d.centre_id, unit_id=d.unit_id, at=d.received_at)]["late_open"] += 1
    for s in session.scalars(select(Shipment)):
        if not seen(s.centre_id) or s.status == "cancelled":
            continue
        d = by_code.get((s.centre_id, s.dossier_code))
        at = s.received_at if s.direction == "inbound" else s.created_at
        if _in_month(at):
            figure = "by_post_received" if s.direction == "inbound" else "by_post_returned"
            out[key(d, centre_id=s.centre_id, unit_id=d.unit_id if d else None, at=at)][figure] += 1
    for p in session.scalars(select(Payment)):
        if not seen(p.centre_id) or p.status not in ("paid", "partially_refunded", "refunded") or not _in_month(p.paid_at):
            continue
        d = by_code.get((p.centre_id, p.dossier_code))
        for item in session.scalars(select(PaymentItem).where(PaymentItem.payment_id == p.id)):
            r = out[key(d, centre_id=p.centre_id, unit_id=item.unit_id, at=p.paid_at)]
            r["fees_collected"] += item.amount
            r["fees_" + item.kind] += item.amount
            if p.channel in ONLINE:
                r["fees_online"] += item.amount
    for rc in session.scalars(select(Receipt)):
        if not seen(rc.centre_id) or not _in_month(rc.issued_at):
            continue
        p = session.get(Payment, rc.payment_id)
        d = by_code.get((p.centre_id, p.dossier_code))
        r = out[key(d, centre_id=rc.centre_id, unit_id=rc.unit_id, at=rc.issued_at)]
        r["receipts_issued"] += 1
        if rc.channel in ONLINE | {"cod"} and rc.correction is None:
            r["receipts_automatic"] += 1
    return {k: dict(v) for k, v in out.items()}


FIGURES = ("received", "resolved", "early", "on_time", "late_resolved", "late_open", "by_post_received", "by_post_returned",
           "fees_collected", "fees_phi", "fees_le_phi", "fees_online", "receipts_issued", "receipts_automatic")


def as_expected(rows) -> dict:
    return {r.key: {f: getattr(r, f) for f in FIGURES if getattr(r, f)} for r in rows}


def test_a_seeded_month_matches_the_raw_rows_in_every_grouping(session, month):
    for group_by in GROUPS:
        s = compute(session, START, END, group_by, centre_ids=None)
        want = expected(session, group_by)
        assert as_expected(s.rows) == want, group_by
        assert s.total.fees_collected == sum(v.get("fees_collected", 0) for v in want.values())
    # The month has a bit of everything, so the comparisons above are not vacuous.
    assert s.total.received >= 25 and s.total.resolved and s.total.late_resolved and s.total.early
    assert s.total.late_open and s.total.late == s.total.late_resolved + s.total.late_open
    assert s.total.by_post_received and s.total.by_post_returned and s.total.receipts_issued
    assert s.total.fees_phi and s.total.fees_le_phi and 0 < s.total.online_share < 1
    assert 0 < s.total.receipts_automatic < s.total.receipts_issued
    # 31/10 23:30 and 1/12 00:30 in Vietnam are outside November; 1/11 00:05 and 30/11 23:55 inside.
    assert [r.key for r in compute(session, START, END, "month", centre_ids=None).rows if r.received] == ["2026-11"]
    assert compute(session, date(2026, 10, 31), date(2026, 10, 31), "month", centre_ids=None).total.received == 1


def test_on_time_early_late_against_the_appointment_date(session, centre):
    from core.accounts import ensure_demo_unit

    unit = ensure_demo_unit(session, centre)
    promised = date(2026, 11, 18)  # a Wednesday
    for returned_on in (date(2026, 11, 17), date(2026, 11, 18), date(2026, 11, 19)):
        make_dossier(session, centre, unit=unit, received_at=local(date(2026, 11, 10)), appointment_date=promised,
                     status="returned", resolved_at=local(date(2026, 11, 16)), returned_at=local(returned_on, 16, 59))
    # Ready in time but handed back a day late: the return is what counts.
    make_dossier(session, centre, unit=unit, received_at=local(date(2026, 11, 10)), appointment_date=promised,
                 status="returned", resolved_at=local(date(2026, 11, 16)), returned_at=local(date(2026, 11, 19), 8))
    # Ready, not yet handed back: not resolved yet.
    make_dossier(session, centre, unit=unit, received_at=local(date(2026, 11, 10)), appointment_date=promised,
                 status="result_ready", resolved_at=local(date(2026, 11, 16)))
    session.commit()
    t = compute(session, START, END, "unit", centre_ids=None).total
    assert (t.received, t.resolved, t.early, t.on_time, t.late_resolved) == (5, 4, 1, 1, 2)
    # The one not handed back is late once its day is over, and only then.
    assert t.late_open == 1 and t.late == 3
    before = compute(session, START, END, "unit", centre_ids=None, now=local(date(2026, 11, 18), 17)).total
    assert before.late_open == 0 and before.late == 2


def test_the_api_answers_the_same_rows(client, session, month):
    key = make_api_key(session, roles=("finance",))
    answer = client.get("/api/v1/stats?from=2026-11-01&to=2026-11-30&group_by=procedure", headers=bearer(key))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    s = compute(session, START, END, "procedure", centre_ids=None)
    assert body["rows"] == [r.as_dict() for r in s.rows]
    by_key = {r["key"]: r for r in body["rows"]}
    for k, figures in expected(session, "procedure").items():
        figures["late"] = figures.get("late_resolved", 0) + figures.get("late_open", 0)
        assert {f: by_key[k][f] for f in ("received", "resolved", "on_time", "late", "by_post_received",
                                          "by_post_returned", "fees_collected")} == \
               {f: figures.get(f, 0) for f in ("received", "resolved", "on_time", "late", "by_post_received",
                                               "by_post_returned", "fees_collected")}
    assert body["total"]["fees_by_kind"]["phi"] + body["total"]["fees_by_kind"]["le_phi"] == body["total"]["fees_collected"]


@pytest.mark.parametrize("query", ["group_by=ward", "group_by=", "from=2026-12-01&to=2026-11-01", "to=2027-12-31",
                                   "from=nope"])
def test_the_api_refuses_a_bad_group_or_period(client, session, query):
    key = make_api_key(session, roles=("finance",))
    params = dict(p.split("=", 1) for p in ("from=2026-11-01&to=2026-11-30&" + query).split("&"))
    answer = client.get("/api/v1/stats", query_string=params, headers=bearer(key))
    assert answer.status_code == 422
    assert answer.headers["Content-Type"].startswith("application/problem+json")


def test_another_centres_staff_do_not_see_this_centres_figures(client, session, month):
    other = make_centre(session, "HCC-BN-02")
    make_dossier(session, other, unit=None, received_at=local(date(2026, 11, 20)), procedure=("9.999999", "Khác"))
    session.commit()
    theirs = make_api_key(session, roles=("finance",), centre=other)
    body = client.get("/api/v1/stats?from=2026-11-01&to=2026-11-30&group_by=centre", headers=bearer(theirs)).get_json()
    assert [(r["key"], r["received"], r["fees_collected"]) for r in body["rows"]] == [("HCC-BN-02", 1, 0)]
    by_procedure = client.get("/api/v1/stats?from=2026-11-01&to=2026-11-30", headers=bearer(theirs)).get_json()
    assert [r["key"] for r in by_procedure["rows"]] == ["9.999999"]
    # Naming this centre is answered like a centre that does not exist.
    asked = client.get(f"/api/v1/stats?from=2026-11-01&to=2026-11-30&centre_code={month.code}", headers=bearer(theirs))
    assert asked.status_code == 404
    # The province sees both, each as its own row.
    province = make_api_key(session, roles=("finance",), province_wide=True)
    rows = client.get("/api/v1/stats?from=2026-11-01&to=2026-11-30&group_by=centre",
                      headers=bearer(province)).get_json()["rows"]
    assert {r["key"] for r in rows} == {month.code, "HCC-BN-02"}


def test_the_page_draws_charts_and_its_exports_carry_the_same_numbers(client, session, month):
    user = make_user(session, roles=("dispatcher",))
    sign_in(client, user.username)
    page = client.get("/staff/stats/?from=2026-11-01&to=2026-11-30&group_by=unit")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.count('src="data:image/svg+xml;base64,') >= 3 and 'href="/staff/stats/"' in html
    s = compute(session, START, END, "unit", centre_ids={month.id})
    assert f'id="total-received">{s.total.received}<' in html

    xlsx = client.get("/staff/stats/export.xlsx?from=2026-11-01&to=2026-11-30&group_by=unit")
    assert xlsx.status_code == 200
    ws = load_workbook(io.BytesIO(xlsx.data)).active
    header = [c.value for c in ws[2]]
    lines = {row[0] or None: dict(zip(header, row, strict=True)) for row in ws.iter_rows(min_row=3, values_only=True)}
    for r in s.rows:
        line = lines[r.key]
        assert (line["Hồ sơ tiếp nhận"], line["Hồ sơ đã trả kết quả"], line["Đúng hạn"], line["Quá hạn (tổng)"],
                line["Phí, lệ phí đã thu (đồng)"], line["Biên lai đã phát hành"]) == \
               (r.received, r.resolved, r.on_time, r.late, r.fees_collected, r.receipts_issued)
        assert sum(line[h] for h in header if h.startswith("Thu qua")) == r.fees_collected
    total = list(ws.iter_rows(min_row=ws.max_row, values_only=True))[0]
    assert total[1] == "Tổng cộng" and total[2] == s.total.received and total[11] == s.total.fees_collected

    text = client.get("/staff/stats/export.csv?from=2026-11-01&to=2026-11-30&group_by=unit").data.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))[1:]
    assert [int(x) for x in table[-1][2:5]] == [s.total.received, s.total.resolved, s.total.early]


def test_the_page_refuses_another_centre(client, session, month):
    other = make_centre(session, "HCC-BN-03")
    user = make_user(session, roles=("cashier",), centre=other)
    sign_in(client, user.username)
    assert client.get(f"/staff/stats/?centre={month.code}").status_code == 404
    assert client.get(f"/staff/stats/export.xlsx?centre={month.code}").status_code == 404
    page = client.get("/staff/stats/?from=2026-11-01&to=2026-11-30").get_data(as_text=True)
    assert 'id="total-received">0<' in page
