"""Report sections and day-close checks for the records built on payments (receipts, shipments)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from core.clock import day_bounds_utc
from fees.gateways.base import AUTOMATIC_CHANNELS
from fees.models import Payment
from finance.closing import DayClosedError, _closed_on, _original, register_freeze_check
from finance.reports import register_section
from receipts.models import Receipt

# A receipt's legal content; its status may still move (cancel, replace) as a correction on a later day.
FROZEN_RECEIPT_FIELDS = ("amount", "number", "symbol", "template", "content", "sha256", "storage_key",
                         "collected_at", "issued_at", "payment_id", "channel", "channel_ref")


@register_section
def receipts_section(session: Session, centre_id: int, start: date, end: date) -> tuple[str, dict]:
    lo, _ = day_bounds_utc(start)
    _, hi = day_bounds_utc(end)
    issued = session.execute(select(func.count(), func.coalesce(func.sum(Receipt.amount), 0)).where(
        Receipt.centre_id == centre_id, Receipt.issued_at >= lo, Receipt.issued_at < hi)).one()
    cancelled = session.execute(select(func.count(), func.coalesce(func.sum(Receipt.amount), 0)).where(
        Receipt.centre_id == centre_id, Receipt.cancelled_at >= lo, Receipt.cancelled_at < hi)).one()
    by_channel = {ch or "?": {"count": n, "amount": int(a)} for ch, n, a in session.execute(
        select(Receipt.channel, func.count(), func.coalesce(func.sum(Receipt.amount), 0))
        .where(Receipt.centre_id == centre_id, Receipt.issued_at >= lo, Receipt.issued_at < hi)
        .group_by(Receipt.channel).order_by(Receipt.channel))}
    # Online and COD payments of the period that have a receipt issued with no staff action: the
    # first receipt of the payment is still the current one (no cancellation or replacement).
    auto_paid = (Payment.centre_id == centre_id, Payment.paid_at >= lo, Payment.paid_at < hi,
                 Payment.channel.in_(tuple(AUTOMATIC_CHANNELS)))
    online = session.scalar(select(func.count()).select_from(Payment).where(*auto_paid)) or 0
    untouched = session.scalar(select(func.count()).select_from(Payment).where(
        *auto_paid, Payment.id.in_(select(Receipt.payment_id).where(Receipt.status == "issued",
                                                                    Receipt.replaces_id.is_(None))),
        Payment.id.not_in(select(Receipt.payment_id).where(Receipt.status.in_(("cancelled", "replaced")))))) or 0
    return "Biên lai", {
        "issued": {"count": issued[0], "amount": int(issued[1])},
        "cancelled": {"count": cancelled[0], "amount": int(cancelled[1])},
        "by_channel": by_channel,
        "automatic_share": {"count": untouched, "of": online,
                            "percent": round(100 * untouched / online, 1) if online else None},
    }


def _receipts_frozen(session: Session) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if not isinstance(obj, Receipt) or obj.issued_at is None:
            continue
        state = inspect(obj)
        changed = [f for f in FROZEN_RECEIPT_FIELDS if state.attrs[f].history.has_changes()]
        if (changed or obj in session.deleted) and _closed_on(session, obj.centre_id, _original(state, "issued_at")):
            raise DayClosedError(f"Biên lai số {obj.number_text} thuộc ngày đã khoá sổ; không sửa được "
                                 f"({', '.join(changed) or 'xoá'}).")


register_freeze_check(_receipts_frozen)


@register_section
def dispatch_section(session: Session, centre_id: int, start: date, end: date) -> tuple[str, dict]:
    from core.clock import local_day
    from postal.models import Shipment

    lo, _ = day_bounds_utc(start)
    _, hi = day_bounds_utc(end)
    mine = (Shipment.centre_id == centre_id, Shipment.direction == "outbound")

    def count(*where) -> int:
        return session.scalar(select(func.count()).select_from(Shipment).where(*mine, *where)) or 0

    delivered = session.execute(select(Shipment.delivered_at, Shipment.promised_date).where(
        *mine, Shipment.status == "delivered", Shipment.delivered_at >= lo, Shipment.delivered_at < hi)).all()
    on_time = sum(1 for at, promised in delivered if promised is None or local_day(at) <= promised)
    return "Bưu chính", {
        "sent": count(Shipment.created_at >= lo, Shipment.created_at < hi, Shipment.status.not_in(("cancelled",))),
        "delivered": len(delivered),
        "on_time": on_time,
        "late": len(delivered) - on_time,
        "returned": count(Shipment.status.in_(("return_to_sender", "returned")), Shipment.last_event_at >= lo,
                          Shipment.last_event_at < hi),
        "overdue_now": count(Shipment.promised_date < local_day(),
                             Shipment.status.not_in(("delivered", "returned", "cancelled"))),
    }


def _fee_labels() -> None:
    from finance.models import FEE_KINDS
    from finance.reports import CHANNEL_LABELS, FIGURE_LABELS

    for channel in ("vnpay", "momo", "cod"):
        for kind, label in FEE_KINDS.items():
            FIGURE_LABELS.setdefault(f"{kind}:{channel}", f"{label} — {CHANNEL_LABELS.get(channel, channel)}")


_fee_labels()


@register_section
def settlement_fees_section(session: Session, centre_id: int, start: date, end: date) -> tuple[str, dict]:
    """The fee ledger: what gateways and carriers deducted from their payouts, by channel and kind (per batch)."""
    from finance.models import FeeBooking

    out = {}
    for channel, kind, count, amount in session.execute(
            select(FeeBooking.channel, FeeBooking.kind, func.count(), func.sum(FeeBooking.amount)).where(
                FeeBooking.centre_id == centre_id, FeeBooking.day >= start, FeeBooking.day <= end)
            .group_by(FeeBooking.channel, FeeBooking.kind).order_by(FeeBooking.channel, FeeBooking.kind)):
        out[f"{kind}:{channel}"] = {"count": int(count), "amount": int(amount)}
    return "Phí cổng thanh toán và cước bưu chính đã khấu trừ", out
