"""A dossier as the province's one-stop system knows it, and each centre's one-stop settings."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.clock import utcnow
from core.db import Base, UTCDateTime
from core.models import Centre

LEVELS = ("province", "district", "commune")
SUBMISSIONS = ("in_person", "online", "post")
DELIVERIES = ("desk", "post")
STATUSES = ("received", "processing", "result_ready", "returned", "cancelled")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Dossier(Base):
    """A dossier (hồ sơ TTHC): received by a centre for a procedure of the national catalogue.

    The one-stop system is the source of truth; we keep its last word (`dossiers.sync`). Payments,
    receipts, shipments and pickups refer to it by (centre_id, dossier_code). `appointment_date` is
    the Vietnamese calendar day the result is promised (ngày hẹn trả); `received_at`, `resolved_at`
    and `returned_at` are UTC instants.
    """

    __tablename__ = "dossier"
    __table_args__ = (
        UniqueConstraint("centre_id", "code", name="uq_dossier_centre_code"),
        CheckConstraint(_in("level", LEVELS), name="level_known"),
        CheckConstraint(_in("submission", SUBMISSIONS), name="submission_known"),
        CheckConstraint(_in("delivery", DELIVERIES), name="delivery_known"),
        CheckConstraint(_in("status", STATUSES), name="status_known"),
        Index("ix_dossier_centre_appointment", "centre_id", "appointment_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    # Mã and tên thủ tục in the national catalogue (Cơ sở dữ liệu quốc gia về TTHC), e.g. "1.004227".
    procedure_code: Mapped[str] = mapped_column(String(64), index=True)
    procedure_name: Mapped[str] = mapped_column(String(500))
    # The collecting unit (cơ quan tiếp nhận); NULL only where the centre serves no unit yet.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("collecting_unit.id"), index=True)
    level: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    appointment_date: Mapped[date | None] = mapped_column(Date)
    submission: Mapped[str] = mapped_column(String(16), default="in_person")
    delivery: Mapped[str] = mapped_column(String(8), default="desk")
    status: Mapped[str] = mapped_column(String(16), default="received", index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    citizen_name: Mapped[str] = mapped_column(String(255))
    citizen_phone: Mapped[str | None] = mapped_column(String(32))
    citizen_email: Mapped[str | None] = mapped_column(String(255))
    # The citizen's address shaped as in shipments (two-level units since 1 July 2025). Kept as the
    # one-stop system sent it; it is resolved against the ward catalogue when a shipment is created.
    street: Mapped[str | None] = mapped_column(String(255))
    ward: Mapped[str | None] = mapped_column(String(128))
    province: Mapped[str | None] = mapped_column(String(128))
    # The result shipment created for it (delivery by post), so it is created once.
    result_shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipment.id"), index=True)
    # When the one-stop system was sent the result shipment's tracking code (`dossier.shipment_created`).
    tracking_announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Where the last update came from: "api" or "webhook".
    source: Mapped[str] = mapped_column(String(16), default="api")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    centre: Mapped[Centre] = relationship()

    @property
    def address(self) -> str:
        return ", ".join(x for x in (self.street, self.ward, self.province) if x)


class DossierCentre(Base):
    """A centre's one-stop settings: its default level, and how results by post are sent.

    `webhook_secret` signs the one-stop system's inbound webhook (HMAC-SHA256); it is kept encrypted
    with the deployment's keys (`province.secrets.keyring`), never in clear.
    """

    __tablename__ = "dossier_centre"
    __table_args__ = (
        CheckConstraint(_in("level", LEVELS), name="level_known"),
        CheckConstraint("weight_grams > 0", name="weight_positive"),
    )

    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id"), primary_key=True)
    level: Mapped[str] = mapped_column(String(16), default="province")
    # The carrier (a CarrierAccount of the centre) and its service used for results by post.
    carrier: Mapped[str | None] = mapped_column(String(16))
    service: Mapped[str | None] = mapped_column(String(32))
    weight_grams: Mapped[int] = mapped_column(Integer, default=500)
    webhook_secret: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
