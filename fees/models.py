"""Fee schedule and payment requests."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import search
from core.clock import utcnow
from core.db import Base, UTCDateTime
from core.models import Centre
from fees.gateways.base import ALL_CHANNELS

FEE_KINDS = ("phi", "le_phi")  # phí (fee) or lệ phí (charge): printed differently on the receipt
PAYMENT_STATUSES = ("pending", "paid", "failed", "expired", "cancelled", "refunded", "partially_refunded")
# Every registered channel (fees.gateways.base.ALL_CHANNELS: vnpay, momo, vietqr, ..., counter, cod), read
# from the registry at use, so a gateway's registration line makes it a channel.
CHANNELS = ALL_CHANNELS


class FeeType(Base):
    """One fee of a collecting unit's catalogue, valid over a period so an old payment keeps the fee that applied.

    `unit_id` is the owner (province.models.CollectingUnit; NULL only for rows written before units
    existed and not yet migrated). `centre_id` is kept for the code that still looks fees up by centre:
    for a unit's fee it is a centre serving the unit (the one it was imported under), not a scope.
    Read a fee for a payment through `province.fees.fee_in_force`.
    """

    __tablename__ = "fee_type"
    __table_args__ = (
        UniqueConstraint("centre_id", "code", "effective_from", name="uq_fee_type_centre_code_from"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint("kind IN ('phi', 'le_phi')", name="kind_known"),
        CheckConstraint("online_amount IS NULL OR online_amount >= 0", name="online_amount_not_negative"),
        CheckConstraint("retained_percent IS NULL OR (retained_percent >= 0 AND retained_percent <= 100)",
                        name="retained_percent_range"),
        Index("uq_fee_type_unit_code_from", "unit_id", "code", "effective_from", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    procedure_code: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))
    amount: Mapped[int] = mapped_column(BigInteger)
    legal_basis: Mapped[str | None] = mapped_column(String(500))
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("collecting_unit.id"), index=True)
    # The reduced amount for a dossier submitted online, where the fee act sets one.
    online_amount: Mapped[int | None] = mapped_column(BigInteger)
    # The share (percent) the unit retains; the rest is remitted to the state budget.
    retained_percent: Mapped[int | None] = mapped_column(Integer)


class Payment(Base):
    """A payment request: what a citizen owes for a dossier, and how and when it was paid.

    Its status changes only through `fees.payments.transition`.
    """

    __tablename__ = "payment"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint("paid_amount >= 0", name="paid_not_negative"),
        CheckConstraint("refunded_amount >= 0 AND refunded_amount <= paid_amount", name="refund_within_paid"),
        Index("ix_payment_status_expires", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id"), index=True)
    # The short unguessable code citizens see (pay link, VietQR description, the first gateway order's
    # reference; later checkout attempts have their own, see GatewayAttempt).
    code: Mapped[str] = mapped_column(String(16), unique=True)
    dossier_code: Mapped[str] = mapped_column(String(64), index=True)
    payer_name: Mapped[str] = mapped_column(String(255))
    payer_phone: Mapped[str | None] = mapped_column(String(32))
    payer_email: Mapped[str | None] = mapped_column(String(255))
    payer_address: Mapped[str | None] = mapped_column(String(500))
    amount: Mapped[int] = mapped_column(BigInteger)
    paid_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(24), default="pending", index=True)
    # Channel the money came through, and that channel's own transaction reference.
    channel: Mapped[str | None] = mapped_column(String(16))
    channel_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    # Channels a citizen may choose; a COD payment is collected by the postman only.
    allowed_channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Things finance must look at: paid_after_expiry, overpaid, underpaid, cod_amount_mismatch, ...
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    note: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Folded code, dossier code, payer name and phone, kept on write (core.search): staff search by it.
    search_text: Mapped[str] = mapped_column(String(search.SEARCH_LENGTH), default="", index=True)

    centre: Mapped[Centre] = relationship()
    items: Mapped[list[PaymentItem]] = relationship(back_populates="payment", order_by="PaymentItem.id",
                                                    cascade="all, delete-orphan")

    @property
    def refundable_amount(self) -> int:
        return self.paid_amount - self.refunded_amount


search.maintain(Payment, lambda p: (p.code, p.dossier_code, p.payer_name, p.payer_phone, search.digits(p.payer_phone)))


class PaymentItem(Base):
    """A fee line of a payment, copied from the schedule so later schedule changes do not alter it.

    `unit_id` is the collecting unit the line's money and receipt belong to (the fee's unit, or for a
    line given outright the unit named or the centre's only one); NULL only on rows from before units.
    """

    __tablename__ = "payment_item"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("amount = unit_amount * quantity", name="amount_is_unit_times_quantity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id", ondelete="CASCADE"), index=True)
    fee_type_id: Mapped[int | None] = mapped_column(ForeignKey("fee_type.id"))
    fee_code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(8))
    unit_amount: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    amount: Mapped[int] = mapped_column(BigInteger)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("collecting_unit.id"), index=True)

    payment: Mapped[Payment] = relationship(back_populates="items")


# What became of one gateway order: open (sent, no verified answer yet), paid (the one that paid the payment),
# failed, refused (the gateway would not open it, e.g. MoMo 41), paid_twice (a second payment of the same
# fee: refunded through a refund of kind "second_payment"), paid_after_cancel, refunded (that refund went through).
ATTEMPT_OUTCOMES = ("open", "paid", "failed", "refused", "paid_twice", "paid_after_cancel", "refunded")


class GatewayAttempt(Base):
    """One order opened at a gateway for a payment: each checkout is its own order (VNPAY vnp_TxnRef, MoMo
    orderId/requestId), since a gateway refuses a reused order reference. All map back to the one payment.

    `order_ref` is what the gateway knows the order by (fees.attempts.order_ref_for: the payment code for
    the first attempt, then CODE + "L" + n). `create_date` is VNPAY's vnp_CreateDate of the pay request,
    which querydr and refund need to find it. A notification for an order we never opened here (from before
    this table, or sent by hand) gets a row when it arrives.
    """

    __tablename__ = "gateway_attempt"
    __table_args__ = (
        UniqueConstraint("gateway", "order_ref", name="uq_gateway_attempt_gateway_order_ref"),
        UniqueConstraint("payment_id", "seq", name="uq_gateway_attempt_payment_seq"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint("outcome IN ('open', 'paid', 'failed', 'refused', 'paid_twice', 'paid_after_cancel', "
                        "'refunded')", name="outcome_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    gateway: Mapped[str] = mapped_column(String(16))
    order_ref: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    merchant_id: Mapped[str | None] = mapped_column(String(64))
    create_date: Mapped[str | None] = mapped_column(String(14))
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(24), default="open")
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    transaction_ref: Mapped[str | None] = mapped_column(String(64))
    raw_status: Mapped[str | None] = mapped_column(String(16))

    payment: Mapped[Payment] = relationship()


REFUND_STATUSES = ("requested", "approved", "processing", "succeeded", "failed", "rejected")
REFUND_KINDS = ("payment", "second_payment")


class Refund(Base):
    """Money given back on a paid request: full or partial, with a reason, maybe approved by a second person."""

    __tablename__ = "refund"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("status IN ('requested', 'approved', 'processing', 'succeeded', 'failed', 'rejected')",
                        name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="requested", index=True)
    # Our reference sent to the gateway (vnp_TxnRef of the refund, MoMo orderId): one per refund, so a
    # retried call is recognised as the same refund and never pays out twice.
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    gateway_ref: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "payment": money of the payment given back (moves it to partially_refunded/refunded); "second_payment":
    # a second payment of the same fee through another gateway order (`attempt_id`), returned whole, the
    # payment itself untouched.
    kind: Mapped[str] = mapped_column(String(16), default="payment", server_default="payment")
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("gateway_attempt.id"), index=True)
    # "query" while the gateway's answer did not say whether the refund went through (VNPAY 94/99, MoMo
    # 40/41/43/7000..., a lost answer): only a query of the transaction may end it (fees.refunds).
    confirmation: Mapped[str | None] = mapped_column(String(16))
    unknown_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_answer: Mapped[str | None] = mapped_column(String(16))
    # Bumped when the gateway showed the earlier request never arrived, so the resent request has a new id.
    request_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    payment: Mapped[Payment] = relationship()
    attempt: Mapped[GatewayAttempt | None] = relationship()

    @property
    def request_reference(self) -> str:
        """The id sent to the gateway for this sending (VNPAY vnp_RequestId, MoMo refund orderId/requestId)."""
        return self.reference if not self.request_seq else f"{self.reference}-{self.request_seq}"


class WebhookEndpoint(Base):
    """An integrating system's URL that is told of payment events, signed with its own secret."""

    __tablename__ = "webhook_endpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(128))
    # Event names ("payment.paid", ...) or ["*"] for all.
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str | None] = mapped_column(String(255))
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One event for one endpoint; retried with backoff until the endpoint answers 2xx."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("ix_webhook_delivery_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoint.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    event: Mapped[str] = mapped_column(String(64))
    # The exact bytes sent (as text), so every retry carries the same body and signature input.
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    endpoint: Mapped[WebhookEndpoint] = relationship()
