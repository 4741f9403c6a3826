"""The statistics provinces report monthly, per procedure, unit, centre, level or month, as SQL aggregates.

Every figure is defined in docs/statistics.md. In short, for the Vietnamese calendar days start..end:
received (dossiers received), resolved (results returned, split into early / on_time / late against the
appointment date as `dossiers.calendar.is_late` judges it), by_post_received (dossier collections the
centre confirmed it received), by_post_returned (results sent by post), fees_collected (fee lines of the
payments paid, by kind and channel, with the share paid online), receipts issued and the share issued
with no staff action. Rows are limited to the caller's centres (None: the whole province).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from core.clock import day_bounds_utc, utcnow
from core.errors import InvalidInput
from core.models import Centre
from dossiers.calendar import deadline_day
from dossiers.models import Dossier
from fees.gateways.base import AUTOMATIC_CHANNELS, ONLINE_GATEWAYS
from fees.models import Payment, PaymentItem
from postal.models import Shipment
from province.models import CollectingUnit
from receipts.models import Receipt
from stats.sqlfunc import local_date, local_month

GROUPS = ("procedure", "unit", "centre", "level", "month")
GROUP_LABELS = {"procedure": "Thủ tục", "unit": "Cơ quan, đơn vị", "centre": "Trung tâm", "level": "Cấp",
                "month": "Tháng"}
LEVEL_LABELS = {"province": "Cấp tỉnh", "district": "Cấp huyện", "commune": "Cấp xã"}
NO_KEY_LABEL = {"procedure": "Không gắn hồ sơ", "unit": "Không rõ đơn vị", "level": "Không gắn hồ sơ",
                "centre": "Không rõ", "month": "Không rõ"}
# Paid through a gateway without a person at a desk: these are "online" in `online_share`; a payment through
# AUTOMATIC_CHANNELS gets its receipt issued by the system itself (both read from the gateways' registry).
ONLINE_CHANNELS = ONLINE_GATEWAYS
PAID_STATUSES = ("paid", "partially_refunded", "refunded")
MAX_DAYS = 366
FIGURES = ("received", "resolved", "early", "on_time", "late_resolved", "late_open", "by_post_received", "by_post_returned",
           "fees_collected", "fees_phi", "fees_le_phi", "fees_online", "receipts_issued", "receipts_automatic")
FIGURE_LABELS = {
    "received": "Hồ sơ tiếp nhận", "resolved": "Hồ sơ đã trả kết quả", "early": "Trước hạn",
    "on_time": "Đúng hạn", "late": "Quá hạn (tổng)", "late_resolved": "Đã trả quá hạn",
    "late_open": "Chưa trả, đã quá hạn", "by_post_received": "Tiếp nhận qua bưu chính",
    "by_post_returned": "Trả kết quả qua bưu chính", "fees_collected": "Phí, lệ phí đã thu (đồng)",
    "fees_phi": "Phí (đồng)", "fees_le_phi": "Lệ phí (đồng)", "fees_online": "Thu trực tuyến (đồng)",
    "online_share": "Tỷ lệ thu trực tuyến (%)", "receipts_issued": "Biên lai đã phát hành",
    "receipts_automatic": "Biên lai tự động (không cần cán bộ)",
    "receipts_automatic_share": "Tỷ lệ biên lai tự động (%)",
}


@dataclass
class Row:
    """One group's figures; `key` is the procedure code, unit code, centre code, level or YYYY-MM (None: none)."""

    key: str | None
    label: str = ""
    received: int = 0
    resolved: int = 0
    early: int = 0
    on_time: int = 0
    late_resolved: int = 0
    late_open: int = 0
    by_post_received: int = 0
    by_post_returned: int = 0
    fees_collected: int = 0
    fees_phi: int = 0
    fees_le_phi: int = 0
    fees_online: int = 0
    fees_by_channel: dict[str, int] = field(default_factory=dict)
    receipts_issued: int = 0
    receipts_automatic: int = 0

    @property
    def late(self) -> int:
        """Every dossier late in the period: returned late, or still not returned past its deadline."""
        return self.late_resolved + self.late_open

    @property
    def online_share(self) -> float | None:
        """Share (0..1) of the fees collected that were paid online; None when nothing was collected."""
        return round(self.fees_online / self.fees_collected, 4) if self.fees_collected else None

    @property
    def receipts_automatic_share(self) -> float | None:
        return round(self.receipts_automatic / self.receipts_issued, 4) if self.receipts_issued else None

    def add(self, other: Row) -> None:
        for name in FIGURES:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for channel, amount in other.fees_by_channel.items():
            self.fees_by_channel[channel] = self.fees_by_channel.get(channel, 0) + amount

    def as_dict(self) -> dict:
        return {"key": self.key, "label": self.label,
                **{n: getattr(self, n) for n in ("received", "resolved", "early", "on_time", "late", "late_resolved",
                                                 "late_open", "by_post_received", "by_post_returned",
                                                 "fees_collected")},
                "fees_by_kind": {"phi": self.fees_phi, "le_phi": self.fees_le_phi},
                "fees_by_channel": dict(sorted(self.fees_by_channel.items())), "fees_online": self.fees_online,
                "online_share": self.online_share, "receipts_issued": self.receipts_issued,
                "receipts_automatic": self.receipts_automatic,
                "receipts_automatic_share": self.receipts_automatic_share}


@dataclass
class Stats:
    start: date
    end: date
    group_by: str
    rows: list[Row]
    total: Row

    def as_dict(self) -> dict:
        return {"from": self.start.isoformat(), "to": self.end.isoformat(), "group_by": self.group_by,
                "rows": [r.as_dict() for r in self.rows], "total": self.total.as_dict()}


def check_period(start: date, end: date, group_by: str) -> None:
    """Refuse what the figures cannot answer: an unknown group, `from` after `to`, more than a year."""
    if group_by not in GROUPS:
        raise InvalidInput(f"group_by must be one of {', '.join(GROUPS)}",
                           errors={"group_by": [f"Chọn một trong: {', '.join(GROUPS)}."]})
    if start > end:
        raise InvalidInput("'from' is after 'to'", errors={"from": ["Ngày bắt đầu sau ngày kết thúc."]})
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInput("period too long", errors={"to": [f"Tối đa {MAX_DAYS} ngày một lần."]})


def _key(group: str, *, centre, unit, event):
    """The SQL expression a source's rows are grouped by; `unit`/`centre` are the source's own columns."""
    return {"procedure": Dossier.procedure_code, "unit": unit, "centre": centre, "level": Dossier.level,
            "month": local_month(event)}[group]


def _linked(owner_centre, owner_dossier_code):
    """Outer-join condition from a payment or shipment to its dossier (same centre, same code)."""
    return and_(Dossier.centre_id == owner_centre, Dossier.code == owner_dossier_code)


def compute(session: Session, start: date, end: date, group_by: str, *, centre_ids: Collection[int] | None,
            unit_id: int | None = None, now: datetime | None = None) -> Stats:
    """Figures for the Vietnamese days start..end inclusive, one row per group, limited to `centre_ids`
    (None: every centre) and, when given, to one collecting unit. `now` bounds what is already late."""
    check_period(start, end, group_by)
    lo, _ = day_bounds_utc(start)
    _, hi = day_bounds_utc(end)
    rows: dict[object, Row] = {}

    def row(key) -> Row:
        if key not in rows:
            rows[key] = Row(key=key)
        return rows[key]

    def scoped(stmt, centre_col, unit_col):
        if centre_ids is not None:
            stmt = stmt.where(centre_col.in_(sorted(centre_ids)))
        if unit_id is not None:
            stmt = stmt.where(unit_col == unit_id)
        return stmt

    # Dossiers received.
    k = _key(group_by, centre=Dossier.centre_id, unit=Dossier.unit_id, event=Dossier.received_at)
    stmt = select(k, func.count()).where(Dossier.received_at >= lo, Dossier.received_at < hi).group_by(k)
    for key, n in session.execute(scoped(stmt, Dossier.centre_id, Dossier.unit_id)):
        row(key).received += n

    # Results returned, by appointment date and the day returned: early / on time / late is folded below with
    # the calendar's deadline (a promised day that became a holiday moves to the next business day).
    done = func.coalesce(Dossier.returned_at, Dossier.resolved_at)
    k = _key(group_by, centre=Dossier.centre_id, unit=Dossier.unit_id, event=done)
    day = local_date(done)
    stmt = (select(k, Dossier.appointment_date, day, func.count())
            .where(Dossier.status == "returned", done >= lo, done < hi)
            .group_by(k, Dossier.appointment_date, day))
    deadlines: dict[date, date] = {}
    for key, appointment, returned_day, n in session.execute(scoped(stmt, Dossier.centre_id, Dossier.unit_id)):
        r = row(key)
        r.resolved += n
        if isinstance(returned_day, str):  # a driver that hands the computed day back as text
            returned_day = date.fromisoformat(returned_day)
        if appointment is None:
            r.on_time += n  # nothing was promised, so nothing was late (dossiers.calendar.is_late)
            continue
        if appointment not in deadlines:
            deadlines[appointment] = deadline_day(session, appointment)
        if returned_day < appointment:
            r.early += n
        elif returned_day <= deadlines[appointment]:
            r.on_time += n
        else:
            r.late_resolved += n

    # Still open past the deadline (đang giải quyết quá hạn), judged at the end of the period (or now, if
    # earlier): the deadline day is in the period and over, and the result was not returned by the period's end.
    # Counted in the month of the deadline. The 31 days of slack covers deadlines moved past holidays.
    cutoff = min(hi, utcnow() if now is None else now)
    open_at_end = or_(Dossier.status != "returned", done.is_(None), done >= hi)
    month_key = group_by == "month"
    k = Dossier.appointment_date if month_key else _key(group_by, centre=Dossier.centre_id, unit=Dossier.unit_id,
                                                            event=Dossier.received_at)
    stmt = (select(k, Dossier.appointment_date, func.count())
            .where(Dossier.status != "cancelled", Dossier.appointment_date >= start - timedelta(days=31),
                   Dossier.appointment_date <= end, open_at_end)
            .group_by(k, Dossier.appointment_date))
    for key, appointment, n in session.execute(scoped(stmt, Dossier.centre_id, Dossier.unit_id)):
        if appointment not in deadlines:
            deadlines[appointment] = deadline_day(session, appointment)
        deadline = deadlines[appointment]
        if start <= deadline <= end and day_bounds_utc(deadline)[1] <= cutoff:
            row(f"{deadline:%Y-%m}" if month_key else key).late_open += n

    # By post: dossier collections the centre confirmed in its hands, and results handed to a carrier.
    for direction, event, attr in (("inbound", Shipment.received_at, "by_post_received"),
                                   ("outbound", Shipment.created_at, "by_post_returned")):
        k = _key(group_by, centre=Shipment.centre_id, unit=Dossier.unit_id, event=event)
        stmt = (select(k, func.count(Shipment.id)).select_from(Shipment)
                .outerjoin(Dossier, _linked(Shipment.centre_id, Shipment.dossier_code))
                .where(Shipment.direction == direction, Shipment.status != "cancelled", event >= lo, event < hi)
                .group_by(k))
        for key, n in session.execute(scoped(stmt, Shipment.centre_id, Dossier.unit_id)):
            setattr(row(key), attr, getattr(row(key), attr) + n)

    # Fees: the lines of payments paid in the period, by kind and channel.
    k = _key(group_by, centre=Payment.centre_id, unit=PaymentItem.unit_id, event=Payment.paid_at)
    stmt = (select(k, PaymentItem.kind, Payment.channel, func.coalesce(func.sum(PaymentItem.amount), 0))
            .select_from(PaymentItem).join(Payment, PaymentItem.payment_id == Payment.id)
            .outerjoin(Dossier, _linked(Payment.centre_id, Payment.dossier_code))
            .where(Payment.status.in_(PAID_STATUSES), Payment.paid_at >= lo, Payment.paid_at < hi)
            .group_by(k, PaymentItem.kind, Payment.channel))
    for key, kind, channel, amount in session.execute(scoped(stmt, Payment.centre_id, PaymentItem.unit_id)):
        r, amount = row(key), int(amount)
        r.fees_collected += amount
        if kind == "phi":
            r.fees_phi += amount
        elif kind == "le_phi":
            r.fees_le_phi += amount
        if channel in ONLINE_CHANNELS:
            r.fees_online += amount
        r.fees_by_channel[channel or "?"] = r.fees_by_channel.get(channel or "?", 0) + amount

    # Receipts issued in the period (also those cancelled or replaced later: they were issued), and those the
    # system issued by itself: an online or COD payment's ordinary receipt (a correction is a person's act).
    k = _key(group_by, centre=Receipt.centre_id, unit=Receipt.unit_id, event=Receipt.issued_at)
    automatic = func.sum(case((and_(Receipt.channel.in_(tuple(AUTOMATIC_CHANNELS)), Receipt.correction.is_(None)), 1),
                              else_=0))
    stmt = (select(k, func.count(Receipt.id), func.coalesce(automatic, 0)).select_from(Receipt)
            .join(Payment, Receipt.payment_id == Payment.id)
            .outerjoin(Dossier, _linked(Payment.centre_id, Payment.dossier_code))
            .where(Receipt.issued_at >= lo, Receipt.issued_at < hi).group_by(k))
    for key, n, auto in session.execute(scoped(stmt, Receipt.centre_id, Receipt.unit_id)):
        row(key).receipts_issued += n
        row(key).receipts_automatic += int(auto)

    _label(session, group_by, rows)
    ordered = sorted(rows.values(), key=lambda r: (r.key is None, r.label if group_by == "procedure" else "",
                                                   str(r.key)))
    total = Row(key=None, label="Tổng cộng")
    for r in ordered:
        total.add(r)
    return Stats(start, end, group_by, ordered, total)


def _label(session: Session, group_by: str, rows: dict[object, Row]) -> None:
    """Turn ids into codes (units, centres) and give every row its Vietnamese label."""
    ids = [k for k in rows if k is not None]
    names: dict[object, tuple[str, str]] = {}
    if group_by == "unit" and ids:
        names = {i: (c, n) for i, c, n in session.execute(
            select(CollectingUnit.id, CollectingUnit.code, CollectingUnit.name).where(CollectingUnit.id.in_(ids)))}
    elif group_by == "centre" and ids:
        names = {i: (c, n) for i, c, n in session.execute(
            select(Centre.id, Centre.code, Centre.name).where(Centre.id.in_(ids)))}
    elif group_by == "procedure" and ids:
        names = {c: (c, n) for c, n in session.execute(
            select(Dossier.procedure_code, func.max(Dossier.procedure_name))
            .where(Dossier.procedure_code.in_(ids)).group_by(Dossier.procedure_code))}
    for key, r in rows.items():
        if key is None:
            r.key, r.label = None, NO_KEY_LABEL[group_by]
        elif group_by in ("unit", "centre", "procedure"):
            code, name = names.get(key, (str(key), str(key)))
            r.key, r.label = code, name
        elif group_by == "level":
            r.key, r.label = str(key), LEVEL_LABELS.get(str(key), str(key))
        else:
            r.key, r.label = str(key), f"Tháng {str(key)[5:7]}/{str(key)[:4]}"
