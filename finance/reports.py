"""Daily and monthly figures for finance: money by channel and fee type, refunds, COD, automation,
receipts and dispatch; exported as CSV and XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.clock import day_bounds_utc
from fees.gateways.base import ChannelLabels
from fees.models import Payment, PaymentItem, Refund
from finance.models import StatementLine

CHANNEL_LABELS = ChannelLabels({"vnpay": "VNPAY", "momo": "MoMo", "vietqr": "Chuyển khoản VietQR",
                                "counter": "Tại quầy", "cod": "Thu hộ khi phát (COD)"})
KIND_LABELS = {"phi": "Phí", "le_phi": "Lệ phí"}
# Labels of the figures that report sections (receipts, dispatch) return.
FIGURE_LABELS = {
    "issued": "Biên lai đã phát hành", "cancelled": "Biên lai đã huỷ", "by_channel": "Biên lai theo kênh",
    "automatic_share": "Thu trực tuyến/COD có biên lai tự động, không cần cán bộ",
    "sent": "Đã gửi", "delivered": "Đã phát thành công", "on_time": "Phát đúng hạn", "late": "Phát trễ hạn",
    "returned": "Chuyển hoàn", "overdue_now": "Đang quá hạn",
}


@dataclass
class Summary:
    centre_id: int
    start: date
    end: date
    payments: int = 0
    collected: int = 0
    by_channel: dict[str, dict[str, int]] = field(default_factory=dict)
    by_fee: list[dict] = field(default_factory=list)
    refunds: int = 0
    refunded_payments: int = 0
    cod_collected: int = 0
    cod_remitted: int = 0
    # Filled by sections that other packages register (receipts, dispatch).
    sections: dict[str, dict] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "payments": self.payments,
                "collected": self.collected, "by_channel": self.by_channel, "by_fee": self.by_fee,
                "refunds": self.refunds, "refunded_payments": self.refunded_payments,
                "cod_collected": self.cod_collected, "cod_remitted": self.cod_remitted, **self.sections}


Section = Callable[[Session, int, date, date], tuple[str, dict]]
_SECTIONS: list[Section] = []


def register_section(fn: Section) -> Section:
    if fn not in _SECTIONS:
        _SECTIONS.append(fn)
    return fn


def summary(session: Session, centre_id: int, start: date, end: date) -> Summary:
    """Figures for the Vietnamese calendar days start..end inclusive."""
    lo, _ = day_bounds_utc(start)
    _, hi = day_bounds_utc(end)
    s = Summary(centre_id, start, end)
    paid = (Payment.centre_id == centre_id, Payment.paid_at >= lo, Payment.paid_at < hi,
            Payment.status.in_(("paid", "partially_refunded", "refunded")))
    for channel, count, amount in session.execute(
            select(Payment.channel, func.count(), func.coalesce(func.sum(Payment.paid_amount), 0))
            .where(*paid).group_by(Payment.channel).order_by(Payment.channel)):
        s.by_channel[channel or "?"] = {"payments": count, "amount": int(amount)}
        s.payments += count
        s.collected += int(amount)
    for code, name, kind, qty, amount in session.execute(
            select(PaymentItem.fee_code, PaymentItem.name, PaymentItem.kind, func.sum(PaymentItem.quantity),
                   func.sum(PaymentItem.amount)).join(Payment, PaymentItem.payment_id == Payment.id)
            .where(*paid).group_by(PaymentItem.fee_code, PaymentItem.name, PaymentItem.kind)
            .order_by(func.sum(PaymentItem.amount).desc(), PaymentItem.fee_code)):
        s.by_fee.append({"fee_code": code, "name": name, "kind": kind, "quantity": int(qty), "amount": int(amount)})
    s.cod_collected = s.by_channel.get("cod", {}).get("amount", 0)
    # A refund counts on the day it was paid out (not on the payment's last update, which any later change moves).
    s.refunds, s.refunded_payments = (int(x or 0) for x in session.execute(
        select(func.coalesce(func.sum(Refund.amount), 0), func.count(func.distinct(Refund.payment_id)))
        .join(Payment, Refund.payment_id == Payment.id)
        .where(Payment.centre_id == centre_id, Refund.status == "succeeded", Refund.kind == "payment",
               Refund.completed_at >= lo, Refund.completed_at < hi)).one())
    s.cod_remitted = int(session.scalar(select(func.coalesce(func.sum(StatementLine.amount), 0)).where(
        StatementLine.centre_id == centre_id, StatementLine.channel == "cod", StatementLine.status == "matched",
        StatementLine.value_date >= start, StatementLine.value_date <= end)) or 0)
    for section in _SECTIONS:
        name, data = section(session, centre_id, start, end)
        s.sections[name] = data
    return s


@dataclass
class DailyTrend:
    """Money collected per Vietnamese day of a period, by channel (every day listed, empty days as 0)."""

    days: list[date]
    channels: list[str]
    amounts: dict[str, list[int]]  # channel -> one amount per day, in the order of `days`

    def total(self, index: int) -> int:
        return sum(values[index] for values in self.amounts.values())


def daily_by_channel(session: Session, centre_id: int, start: date, end: date) -> DailyTrend:
    """The trend chart's figures: what `summary` counts as collected, per day of payment and channel.

    Payments are grouped by their Vietnamese day here rather than in SQL: the day boundary is a time-zone
    shift that SQLite and PostgreSQL spell differently, and a month is a few thousand rows of two columns."""
    from core.clock import local_day

    lo, _ = day_bounds_utc(start)
    _, hi = day_bounds_utc(end)
    days = [date.fromordinal(n) for n in range(start.toordinal(), end.toordinal() + 1)]
    index = {d: i for i, d in enumerate(days)}
    amounts: dict[str, list[int]] = {}
    for channel, paid_at, amount in session.execute(
            select(Payment.channel, Payment.paid_at, Payment.paid_amount).where(
                Payment.centre_id == centre_id, Payment.paid_at >= lo, Payment.paid_at < hi,
                Payment.status.in_(("paid", "partially_refunded", "refunded")))):
        i = index.get(local_day(paid_at))
        if i is None:
            continue
        amounts.setdefault(channel or "?", [0] * len(days))[i] += int(amount or 0)
    channels = [c for c in CHANNEL_LABELS if c in amounts] + sorted(c for c in amounts if c not in CHANNEL_LABELS)
    return DailyTrend(days, channels, {c: amounts[c] for c in channels})


def _rows(s: Summary) -> list[list]:
    rows: list[list] = [["Chỉ tiêu", "Số lượng", "Số tiền (đồng)"],
                        ["Kỳ báo cáo", f"{s.start:%d/%m/%Y} – {s.end:%d/%m/%Y}", ""],
                        ["Tổng số khoản thu", s.payments, s.collected]]
    for channel, v in s.by_channel.items():
        rows.append([f"Kênh: {CHANNEL_LABELS.get(channel, channel)}", v["payments"], v["amount"]])
    for f in s.by_fee:
        rows.append([f"{KIND_LABELS.get(f['kind'], f['kind'])}: {f['name']} ({f['fee_code']})", f["quantity"],
                     f["amount"]])
    rows.append(["Hoàn tiền", s.refunded_payments, s.refunds])
    rows.append(["COD đã thu", "", s.cod_collected])
    rows.append(["COD bưu chính đã chuyển", "", s.cod_remitted])
    for name, data in s.sections.items():
        for key, value in data.items():
            label = f"{name}: {FIGURE_LABELS.get(key, key)}"
            if key == "by_channel":
                for channel, v in value.items():
                    rows.append([f"{label}: {CHANNEL_LABELS.get(channel, channel)}", v["count"], v["amount"]])
            elif key == "automatic_share":
                share = "" if value["percent"] is None else f"{value['percent']}%"
                rows.append([label, f"{value['count']}/{value['of']}", share])
            elif isinstance(value, dict):
                rows.append([label, value.get("count", ""), value.get("amount", "")])
            else:
                rows.append([label, value, ""])
    return rows


def to_csv(s: Summary) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(_rows(s))
    return buf.getvalue().encode("utf-8-sig")  # BOM so Excel reads Vietnamese correctly


def to_xlsx(s: Summary) -> bytes:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "Tổng hợp"
    for row in _rows(s):
        ws.append(row)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.column_dimensions["A"].width = 60
    ws.column_dimensions["B"].width = 24
    ws.column_dimensions["C"].width = 18
    for row in ws.iter_rows(min_row=3, min_col=3, max_col=3):
        for cell in row:
            cell.number_format = "#,##0"
    ch = wb.create_sheet("Theo kênh")
    ch.append(["Kênh", "Số khoản", "Số tiền (đồng)"])
    for channel, v in s.by_channel.items():
        ch.append([CHANNEL_LABELS.get(channel, channel), v["payments"], v["amount"]])
    if s.by_channel:
        chart = BarChart()
        chart.title = "Số tiền theo kênh thanh toán"
        chart.add_data(Reference(ch, min_col=3, min_row=1, max_row=len(s.by_channel) + 1), titles_from_data=True)
        chart.set_categories(Reference(ch, min_col=1, min_row=2, max_row=len(s.by_channel) + 1))
        ch.add_chart(chart, "E2")
    fees = wb.create_sheet("Theo loại phí")
    fees.append(["Mã", "Tên phí, lệ phí", "Loại", "Số lượng", "Số tiền (đồng)"])
    for f in s.by_fee:
        fees.append([f["fee_code"], f["name"], KIND_LABELS.get(f["kind"], f["kind"]), f["quantity"], f["amount"]])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
