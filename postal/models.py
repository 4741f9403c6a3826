"""Shipments (results sent out, dossiers picked up), their tracking events, dispatch batches, feed cursors."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from core import search
from core.clock import utcnow
from core.db import Base, UTCDateTime
from core.models import Centre

DIRECTIONS = ("outbound", "inbound")


class DispatchBatch(Base):
    """Parcels handed to one carrier's postman together, with their handover list (bảng kê)."""

    __tablename__ = "dispatch_batch"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id"), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    carrier: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    shipments: Mapped[list[Shipment]] = relationship(back_populates="batch", order_by="Shipment.id")


class Shipment(Base):
    """A parcel at a carrier: a result sent to a citizen (outbound) or a dossier picked up (inbound).

    Its status changes only through `postal.shipments.transition`.
    """

    __tablename__ = "shipment"
    __table_args__ = (
        CheckConstraint("cod_amount >= 0", name="cod_not_negative"),
        CheckConstraint("weight_grams > 0", name="weight_positive"),
        CheckConstraint("direction IN ('outbound', 'inbound')", name="direction_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id"), index=True)
    # Our unguessable code: the order number sent to the carrier and the citizen's tracking link /t/<code>.
    code: Mapped[str] = mapped_column(String(16), unique=True)
    dossier_code: Mapped[str] = mapped_column(String(64), index=True)
    direction: Mapped[str] = mapped_column(String(8), default="outbound")
    carrier: Mapped[str] = mapped_column(String(32), index=True)
    service: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(24), default="pending", index=True)
    carrier_status: Mapped[str | None] = mapped_column(String(64))
    tracking_code: Mapped[str | None] = mapped_column(String(64), index=True)
    recipient_name: Mapped[str] = mapped_column(String(255))
    recipient_phone: Mapped[str] = mapped_column(String(32))
    street: Mapped[str] = mapped_column(String(255))
    ward_code: Mapped[str] = mapped_column(String(8))
    ward_name: Mapped[str] = mapped_column(String(128))
    province_code: Mapped[str] = mapped_column(String(8))
    province_name: Mapped[str] = mapped_column(String(128))
    weight_grams: Mapped[int] = mapped_column(Integer)
    cod_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    cod_collected: Mapped[int | None] = mapped_column(BigInteger)
    fee: Mapped[int | None] = mapped_column(BigInteger)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"), index=True)
    note: Mapped[str | None] = mapped_column(Text)
    promised_date: Mapped[date | None] = mapped_column(Date, index=True)
    # Rates compared before choosing, and why this carrier/service was chosen.
    rates: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    choice: Mapped[str | None] = mapped_column(String(255))
    # Creation at the carrier: attempts so far, and when the last one started (a timeout may have
    # created the order: the next attempt looks it up by our code first).
    create_attempts: Mapped[int] = mapped_column(Integer, default=0)
    create_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    # A dossier pickup: when the carrier said its postman will come to the citizen.
    pickup_window: Mapped[str | None] = mapped_column(String(128))
    label_pdf: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    label_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("dispatch_batch.id"), index=True)
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A dossier collected by post (inbound): the centre's own confirmation that the dossier is in its
    # hands, recorded beside the carrier's status and never through it (`postal.collection`). The
    # carrier's "delivered" says the postman handed it over; this says the receiving desk has it.
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    received_by: Mapped[str | None] = mapped_column(String(128))
    received_note: Mapped[str | None] = mapped_column(String(500))
    # Folded code, tracking code, dossier code, recipient name and phone, kept on write (core.search).
    search_text: Mapped[str] = mapped_column(String(search.SEARCH_LENGTH), default="", index=True)

    centre: Mapped[Centre] = relationship()
    batch: Mapped[DispatchBatch | None] = relationship(back_populates="shipments")
    events: Mapped[list[ShipmentEvent]] = relationship(back_populates="shipment", order_by="ShipmentEvent.id",
                                                       cascade="all, delete-orphan")

    @property
    def address(self) -> str:
        return ", ".join(x for x in (self.street, self.ward_name, self.province_name) if x)


search.maintain(Shipment, lambda s: (s.code, s.tracking_code, s.dossier_code, s.recipient_name, s.recipient_phone,
                                     search.digits(s.recipient_phone)))


class ShipmentEvent(Base):
    """A carrier's status report (or a staff action), kept raw; `applied` says whether it moved the status."""

    __tablename__ = "shipment_event"
    __table_args__ = (UniqueConstraint("shipment_id", "dedup_key", name="uq_shipment_event_dedup"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipment.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(24))
    carrier_status: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(String(255))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(16))  # webhook, poll, feed, staff, system
    dedup_key: Mapped[str] = mapped_column(String(160))
    cod_collected: Mapped[int | None] = mapped_column(BigInteger)
    applied: Mapped[bool] = mapped_column(default=False)
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    shipment: Mapped[Shipment] = relationship(back_populates="events")


class CarrierCursor(Base):
    """Where polling of a carrier's tracking feed has got to (VNPost's lastId)."""

    __tablename__ = "carrier_cursor"

    carrier: Mapped[str] = mapped_column(String(32), primary_key=True)
    cursor: Mapped[str] = mapped_column(String(64), default="0")
    polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
