"""Tables of citizen notifications: per-centre texts, opted-out phones, each message's delivery, the OA token."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base, UTCDateTime


class MessageTemplate(Base):
    """A centre's own wording of one event's SMS text (the default lives in messaging.templates)."""

    __tablename__ = "message_template"
    __table_args__ = (UniqueConstraint("centre_id", "event", name="uq_message_template_centre_event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    # The ZNS template approved for this centre's OA, when it differs from the deployment's one.
    zns_template_id: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[int | None] = mapped_column(Integer)


class MessageOptOut(Base):
    """A phone (84… form) that asked for no more messages; nothing is sent to it on any channel but e-mail."""

    __tablename__ = "message_opt_out"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(16), unique=True)
    source: Mapped[str] = mapped_column(String(16))  # link, keyword, staff
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CitizenDelivery(Base):
    """How one citizen message (an OutboundMessage of channel sms/zalo) went out: Zalo first, SMS as fallback.

    `dedupe_key` is unique per (event, object, channel group): a retried or killed worker finds the row and
    never sends a second message. Each provider attempt is marked `started` and committed before the call,
    so a process that died mid-send is known on retry (see core.notify for what a retry then does).
    """

    __tablename__ = "citizen_delivery"

    id: Mapped[int] = mapped_column(primary_key=True)
    outbound_message_id: Mapped[int] = mapped_column(ForeignKey("outbound_message.id"), unique=True)
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    event: Mapped[str | None] = mapped_column(String(32))
    phone: Mapped[str] = mapped_column(String(16))
    # The template's parameters (dossier, link, amount …): ZNS template_data, and the SMS text's fields.
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    # Zalo leg: none, started, sent, refused (no Zalo, refused template, user refused) or unconfirmed.
    zalo_state: Mapped[str] = mapped_column(String(16), default="none")
    zalo_tracking_id: Mapped[str | None] = mapped_column(String(48))
    zalo_msg_id: Mapped[str | None] = mapped_column(String(64))
    zalo_error: Mapped[int | None] = mapped_column(Integer)
    # SMS leg: none, started, sent, failed.
    sms_state: Mapped[str] = mapped_column(String(16), default="none")
    sms_request_id: Mapped[str | None] = mapped_column(String(48))
    sms_id: Mapped[str | None] = mapped_column(String(64))
    sms_code: Mapped[str | None] = mapped_column(String(8))
    channel: Mapped[str | None] = mapped_column(String(8))  # the one that carried the message
    delivery_status: Mapped[str | None] = mapped_column(String(32))  # provider's report (eSMS SendStatus …)
    delayed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # quiet hours
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ZaloToken(Base):
    """The OA's current access token and its rotating refresh token (each refresh returns a new one)."""

    __tablename__ = "zalo_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[str] = mapped_column(String(32), unique=True)
    access_token: Mapped[str | None] = mapped_column(Text)
    refresh_token: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
