"""The month's report adds up: its totals equal the sums of the receipts and payments beneath it."""

import io
import random
from collections import Counter, defaultdict
from datetime import date, timedelta

from openpyxl import load_workbook
from sqlalchemy import insert, select

from core.accounts import ensure_demo_centre
from core.clock import day_bounds_utc
from fees.models import FeeType, Payment, PaymentItem
from finance.reports import summary, to_xlsx
from receipts.models import Receipt

FEES = [("LLTP", "Phí cung cấp thông tin lý lịch tư pháp", "phi", 200_000),
        ("HT-KS", "Lệ phí đăng ký khai sinh", "le_phi", 8_000),
        ("CT-BS", "Phí chứng thực bản sao", "phi", 2_000),
        ("DD-GCN", "Lệ phí cấp giấy chứng nhận quyền sử dụng đất", "le_phi", 100_000),
        ("KD-HKD", "Lệ phí đăng ký hộ kinh doanh", "le_phi", 100_000)]
CHANNELS = ["vnpay", "momo", "vietqr", "counter", "cod"]


def test_ten_thousand_payments_add_up(session):
    centre = ensure_demo_centre(session)
    rng = random.Random(20261124)
    fee_ids = {}
    for code, name, kind, amount in FEES:
        f = FeeType(centre_id=centre.id, code=code, name=name, kind=kind, amount=amount, effective_from=date(2020, 1, 1))
        session.add(f)
        session.flush()
        fee_ids[code] = f.id
    start, end = date(2026, 10, 1), date(2026, 10, 31)
    lo, _ = day_bounds_utc(start)
    payments, items, receipts = [], [], []
    expect_channel, expect_fee, expect_issued = defaultdict(int), defaultdict(int), 0
    cancelled = Counter()
    n = 10_000
    for i in range(1, n + 1):
        # Some fall outside October (the evening of 31/10 in Vietnam is still October; 1/11 00:30 is not).
        paid_at = lo + timedelta(seconds=rng.randrange(0, 33 * 86400)) - timedelta(days=1)
        channel = rng.choice(CHANNELS)
        lines = [(c, nm, k, a, rng.randint(1, 3)) for c, nm, k, a in rng.sample(FEES, rng.randint(1, 3))]
        amount = sum(a * q for _c, _n, _k, a, q in lines)
        payments.append(dict(id=i, centre_id=centre.id, code=f"R{i:09d}", dossier_code=f"HS{i}", payer_name="Lê Thị Hoa",
                             amount=amount, paid_amount=amount, refunded_amount=0, status="paid", channel=channel,
                             channel_ref=f"T{i}", allowed_channels=[channel], flags=[], created_at=paid_at,
                             updated_at=paid_at, paid_at=paid_at, extra={}))
        for c, nm, k, a, q in lines:
            items.append(dict(payment_id=i, fee_type_id=fee_ids[c], fee_code=c, name=nm, kind=k, unit_amount=a,
                              quantity=q, amount=a * q))
        issued_at = paid_at + timedelta(seconds=rng.randint(1, 30))
        is_cancelled = rng.random() < 0.02
        receipts.append(dict(centre_id=centre.id, payment_id=i, current_payment_id=None if is_cancelled else i,
                             template="01BLP0-001", symbol="HN", year=issued_at.year, number=i, number_width=7,
                             lookup_code=f"L{i:012d}", status="cancelled" if is_cancelled else "issued", amount=amount,
                             channel=channel, channel_ref=f"T{i}", collected_at=paid_at, content={}, fee_codes="",
                             created_at=issued_at, issued_at=issued_at,
                             cancelled_at=issued_at + timedelta(hours=1) if is_cancelled else None, attempts=1))
        in_month = start <= (paid_at + timedelta(hours=7)).date() <= end
        if in_month:
            expect_channel[channel] += amount
            for c, _nm, _k, a, q in lines:
                expect_fee[c] += a * q
        if start <= (issued_at + timedelta(hours=7)).date() <= end:
            expect_issued += amount
        if is_cancelled and start <= (issued_at + timedelta(hours=1, minutes=0) + timedelta(hours=7)).date() <= end:
            cancelled["count"] += 1
            cancelled["amount"] += amount
    session.execute(insert(Payment), payments)
    session.execute(insert(PaymentItem), items)
    session.execute(insert(Receipt), receipts)
    session.commit()

    s = summary(session, centre.id, start, end)

    assert {k: v["amount"] for k, v in s.by_channel.items()} == dict(expect_channel)
    assert s.collected == sum(expect_channel.values())
    assert {f["fee_code"]: f["amount"] for f in s.by_fee} == dict(expect_fee)
    assert sum(f["amount"] for f in s.by_fee) == s.collected
    # Receipts of the month, summed straight from the receipt table.
    month_lo, _ = day_bounds_utc(start)
    _, month_hi = day_bounds_utc(end)
    rows = session.execute(select(Receipt.amount, Receipt.channel).where(
        Receipt.issued_at >= month_lo, Receipt.issued_at < month_hi)).all()
    assert s.sections["Biên lai"]["issued"]["amount"] == sum(a for a, _ in rows) == expect_issued
    assert s.sections["Biên lai"]["issued"]["count"] == len(rows)
    by_channel = defaultdict(int)
    for a, ch in rows:
        by_channel[ch] += a
    assert {k: v["amount"] for k, v in s.sections["Biên lai"]["by_channel"].items()} == dict(by_channel)

    sheet = load_workbook(io.BytesIO(to_xlsx(s)))["Tổng hợp"]
    totals = {row[0]: row[2] for row in sheet.iter_rows(values_only=True)}
    assert totals["Tổng số khoản thu"] == s.collected
    assert s.sections["Biên lai"]["cancelled"] == {"count": cancelled["count"], "amount": cancelled["amount"]}


def test_a_refund_counts_in_the_month_it_was_paid_out_whatever_touches_the_payment_later(session):
    from datetime import datetime, time

    from core.clock import VN_TZ
    from fees.models import Refund
    from tests.finance.factories import paid_payment

    centre = ensure_demo_centre(session)
    p = paid_payment(session, on=date(2026, 9, 20), amount=200_000)
    paid_out = datetime.combine(date(2026, 10, 31), time(23, 30), tzinfo=VN_TZ)  # still October in Vietnam
    session.add(Refund(payment_id=p.id, amount=50_000, reason="Thu thừa", status="succeeded", reference="RF-1",
                       requested_by="user:1", created_at=paid_out, updated_at=paid_out, completed_at=paid_out))
    p.status, p.refunded_amount = "partially_refunded", 50_000
    session.flush()
    p.updated_at = datetime(2026, 11, 5, 3, 0, tzinfo=VN_TZ)  # a later note or flag on the payment
    session.commit()

    october = summary(session, centre.id, date(2026, 10, 1), date(2026, 10, 31))
    november = summary(session, centre.id, date(2026, 11, 1), date(2026, 11, 30))
    assert (october.refunds, october.refunded_payments) == (50_000, 1)
    assert (november.refunds, november.refunded_payments) == (0, 0)


def test_the_daily_trend_has_every_day_of_the_month_by_channel_in_its_vietnamese_day(session, centre):
    from datetime import time

    from finance.reports import daily_by_channel
    from tests.finance.factories import paid_payment

    paid_payment(session, channel="vnpay", amount=200_000, on=date(2026, 11, 3))
    paid_payment(session, channel="vnpay", amount=50_000, on=date(2026, 11, 3))
    paid_payment(session, channel="vietqr", amount=150_000, on=date(2026, 11, 30), at=time(23, 30))  # 16:30 UTC
    paid_payment(session, channel="momo", amount=70_000, on=date(2026, 12, 1), at=time(0, 30))  # November in UTC
    session.commit()
    trend = daily_by_channel(session, centre.id, date(2026, 11, 1), date(2026, 11, 30))
    assert len(trend.days) == 30 and trend.channels == ["vnpay", "vietqr"]
    assert trend.amounts["vnpay"][2] == 250_000 and sum(trend.amounts["vnpay"]) == 250_000
    assert trend.amounts["vietqr"][29] == 150_000 and trend.total(29) == 150_000
