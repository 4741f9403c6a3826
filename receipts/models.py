"""E-receipt models: the receipt (biên lai điện tử) of one collecting unit, and the gapless counter per series."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import search
from core.clock import utcnow
from core.db import Base, UTCDateTime
from core.models import Centre
from province.models import CollectingUnit

# pending: number taken, PDF not yet signed; issued: signed and stored; cancelled / replaced: no longer current.
RECEIPT_STATUSES = ("pending", "issued", "cancelled", "replaced")


class ReceiptCounter(Base):
    """The last number taken in one receipt series (province.models.ReceiptSeries); locked to take the next.

    `series_id` is the key. template/symbol/year repeat the series' for reading; `centre_id` is the
    centre of a counter from before units (a unit's series is shared by every centre serving it: NULL).
    """

    __tablename__ = "receipt_counter"
    __table_args__ = (
        UniqueConstraint("series_id", name="uq_receipt_counter_series_id"),
        CheckConstraint("last_number >= 0", name="last_number_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int | None] = mapped_column(ForeignKey("receipt_series.id"))
    centre_id: Mapped[int | None] = mapped_column(ForeignKey("centre.id"))
    template: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(16))
    year: Mapped[int] = mapped_column(Integer)
    last_number: Mapped[int] = mapped_column(BigInteger, default=0)


class Receipt(Base):
    """A collecting unit's electronic receipt for its lines of a payment. Never edited once issued:
    cancelled, or replaced by another.

    A payment with fees of several units has one receipt per unit, each in that unit's series.
    `centre_id` is the centre that collected (it scopes who may see the receipt); `unit_id` and
    `series_id` say whose receipt it is. Both are NULL only for rows written before units existed and
    not migrated.
    """

    __tablename__ = "receipt"
    __table_args__ = (
        UniqueConstraint("series_id", "number", name="uq_receipt_series_id_number"),
        # At most one current receipt per payment and unit, enforced by the database (NULL once cancelled/replaced).
        UniqueConstraint("current_payment_id", "unit_id", name="uq_receipt_current_payment_unit"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint("status IN ('pending', 'issued', 'cancelled', 'replaced')", name="status_known"),
        Index("ix_receipt_centre_issued", "centre_id", "issued_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id"), index=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"), index=True)
    current_payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("collecting_unit.id"), index=True)
    series_id: Mapped[int | None] = mapped_column(ForeignKey("receipt_series.id"))
    template: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(16))
    year: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(BigInteger)
    number_width: Mapped[int] = mapped_column(Integer, default=7)
    # The unguessable code citizens use at /r/<lookup_code> (printed and in the QR code).
    lookup_code: Mapped[str] = mapped_column(String(24), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[str | None] = mapped_column(String(16), index=True)
    channel_ref: Mapped[str | None] = mapped_column(String(64))
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The legal content as issued (payer, lines, organisation): the PDF and XML are rendered from it.
    content: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fee_codes: Mapped[str] = mapped_column(String(500), default="")
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("receipt.id"))
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("receipt.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    storage_key: Mapped[str | None] = mapped_column(String(255))
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    size: Mapped[int | None] = mapped_column(Integer)
    signer_subject: Mapped[str | None] = mapped_column(String(500))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # A receipt made to correct another (`replaces_id`): "replace" (the old one is no longer current) or
    # "adjust" (the old one stays valid; this one carries the difference). NULL for an ordinary receipt.
    correction: Mapped[str | None] = mapped_column(String(8))
    # An adjusting receipt's signed difference in đồng (`amount` is its absolute value, as printed).
    delta: Mapped[int | None] = mapped_column(BigInteger)
    # Folded number, symbol, lookup and payment codes, dossier code and payer name, kept on write (core.search).
    search_text: Mapped[str] = mapped_column(String(search.SEARCH_LENGTH), default="", index=True)

    centre: Mapped[Centre] = relationship()
    unit: Mapped[CollectingUnit | None] = relationship()

    @property
    def number_text(self) -> str:
        return str(self.number).zfill(self.number_width)

    @property
    def is_current(self) -> bool:
        return self.status in ("pending", "issued")

    @property
    def signed_amount(self) -> int:
        """What the receipt adds to the money collected: its amount, or an adjusting receipt's difference."""
        return self.delta if self.correction == "adjust" and self.delta is not None else self.amount


def receipt_search_parts(r: Receipt) -> tuple:
    c = r.content or {}
    number = str(r.number).zfill(r.number_width or 7) if r.number is not None else None
    return (number, r.number, r.symbol, r.lookup_code,
            c.get("payment_code"), c.get("dossier_code"), (c.get("payer") or {}).get("name"))


search.maintain(Receipt, receipt_search_parts)


CORRECTION_KINDS = ("cancel", "replace", "adjust")
NOTICE_STATUSES = ("pending", "sent", "accepted", "rejected", "failed")


class ReceiptCorrection(Base):
    """A receipt found made in error and what was done about it: cancelled, replaced or adjusted.

    The receipts side records the decision (who, when, why, which new receipt); the tax side
    (tax.corrections) fills the `notice_*` columns as it notifies the tax authority on form 04/SS-CTĐT
    and learns its answer.
    """

    __tablename__ = "receipt_correction"
    __table_args__ = (
        CheckConstraint("kind IN ('cancel', 'replace', 'adjust')", name="kind_known"),
        CheckConstraint("notice_status IN ('pending', 'sent', 'accepted', 'rejected', 'failed')",
                        name="notice_status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id"), index=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipt.id"), index=True)
    new_receipt_id: Mapped[int | None] = mapped_column(ForeignKey("receipt.id"))
    kind: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What changed, for the staff page: {"payer": {"name": [old, new]}, "total": [old, new], ...}.
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    notice_status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    notice_message_id: Mapped[str | None] = mapped_column(String(64))
    notice_xml: Mapped[str | None] = mapped_column(Text)
    notice_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    notice_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notice_answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    receipt: Mapped[Receipt] = relationship(foreign_keys=[receipt_id])
    new_receipt: Mapped[Receipt | None] = relationship(foreign_keys=[new_receipt_id])


class ReceiptRefund(Base):
    """A refund document (chứng từ hoàn trả) linked to a receipt that stays valid.

    A refund of a correctly issued receipt does not cancel it: the money was collected as the receipt
    says, and part or all of it was paid back later. This row is the decision (who, when, why, how much of
    this receipt) and the payout (the gateway's or our reference, when), copied from fees' Refund.
    """

    __tablename__ = "receipt_refund"
    __table_args__ = (
        UniqueConstraint("receipt_id", "refund_id", name="uq_receipt_refund_receipt_refund"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id"), index=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipt.id"), index=True)
    refund_id: Mapped[int] = mapped_column(ForeignKey("refund.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reference: Mapped[str] = mapped_column(String(40))
    gateway_ref: Mapped[str | None] = mapped_column(String(64))
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    receipt: Mapped[Receipt] = relationship()
