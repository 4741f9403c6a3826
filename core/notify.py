"""Messages to citizens (SMS, Zalo, e-mail) behind one Notifier interface, sent by retried jobs.

A message is written in the business transaction (`queue_message`) and sent after commit; a failed
send is retried with backoff and never blocks the work that asked for it. The sandbox notifier
records messages so that flows can be walked (and tested) without a provider.
"""

from __future__ import annotations

import logging
import mimetypes
import smtplib
from abc import ABC, abstractmethod
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from core import jobs
from core.clock import utcnow
from core.models import OutboundMessage
from core.settings import Setting, Settings, register_settings

log = logging.getLogger(__name__)

register_settings(
    Setting("HCC_SMS_PROVIDER", "sandbox", "Who sends SMS/Zalo texts: `sandbox` records them (see /sandbox/messages)."),
    Setting("HCC_SMTP_HOST", "(unset: e-mail goes to the sandbox)", "SMTP server for receipts by e-mail."),
    Setting("HCC_SMTP_PORT", "25", "SMTP port."),
    Setting("HCC_SMTP_USER", "(none)", "SMTP user, when the server needs one."),
    Setting("HCC_SMTP_PASSWORD", "(none)", "SMTP password."),
    Setting("HCC_SMTP_STARTTLS", "0", "Use STARTTLS."),
    Setting("HCC_MAIL_FROM", "bienlai@hcc.example", "Sender address of e-mails."),
)

MAX_ATTEMPTS = 8


class NotifyError(Exception):
    """Base of notifier failures."""


class RetryableNotifyError(NotifyError):
    """Raised when the provider is unreachable or busy: try again later."""


class PermanentNotifyError(NotifyError):
    """Raised when the message can never be sent as it is (bad address, refused content)."""


class Notifier(ABC):
    """Sends one message; returns the provider's reference."""

    @abstractmethod
    def send(self, message: OutboundMessage) -> str: ...


class SandboxNotifier(Notifier):
    """Records the message as sent; the sandbox page lists what citizens would have received."""

    def send(self, message: OutboundMessage) -> str:
        return f"sandbox-{message.id}"


class SmtpNotifier(Notifier):
    def __init__(self, settings: Settings):
        self.host = settings.get("HCC_SMTP_HOST")
        self.port = settings.get_int("HCC_SMTP_PORT", 25)
        self.user = settings.get("HCC_SMTP_USER")
        self.password = settings.get("HCC_SMTP_PASSWORD")
        self.starttls = settings.get_bool("HCC_SMTP_STARTTLS", False)
        self.sender = settings.get("HCC_MAIL_FROM", "bienlai@hcc.example")

    def send(self, message: OutboundMessage) -> str:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.sender, message.recipient, message.subject or ""
        mail.set_content(message.body)
        for att in message.attachments or []:
            data = Path(att["path"]).read_bytes()
            ctype = att.get("mimetype") or mimetypes.guess_type(att["filename"])[0] or "application/octet-stream"
            maintype, subtype = ctype.split("/", 1)
            mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=att["filename"])
        try:
            with smtplib.SMTP(self.host, self.port, timeout=20) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.user:
                    smtp.login(self.user, self.password or "")
                refused = smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as e:
            raise PermanentNotifyError("recipient refused") from e
        except (OSError, smtplib.SMTPException) as e:
            raise RetryableNotifyError(f"SMTP: {type(e).__name__}") from e
        if refused:
            raise PermanentNotifyError("recipient refused")
        return mail.get("Message-ID") or "smtp"


def notifier_for(channel: str, settings: Settings) -> Notifier:
    if channel == "email":
        return SmtpNotifier(settings) if settings.get("HCC_SMTP_HOST") else SandboxNotifier()
    provider = settings.get("HCC_SMS_PROVIDER", "sandbox")
    if provider == "sandbox":
        return SandboxNotifier()
    raise PermanentNotifyError(f"unknown HCC_SMS_PROVIDER {provider!r}")


def queue_message(session: Session, *, channel: str, recipient: str, body: str, subject: str | None = None,
                  attachments: list[dict[str, str]] | None = None, centre_id: int | None = None,
                  entity_type: str | None = None, entity_id: object = None,
                  purpose: str | None = None) -> OutboundMessage:
    """Write a message to send after commit; the same purpose for the same entity is queued once."""
    if purpose and entity_type:
        existing = session.scalars(select(OutboundMessage).where(
            OutboundMessage.purpose == purpose, OutboundMessage.entity_type == entity_type,
            OutboundMessage.entity_id == str(entity_id), OutboundMessage.channel == channel)).first()
        if existing is not None:
            return existing
    msg = OutboundMessage(channel=channel, recipient=recipient, body=body, subject=subject,
                          attachments=attachments or [], centre_id=centre_id, entity_type=entity_type,
                          entity_id=None if entity_id is None else str(entity_id), purpose=purpose,
                          status="pending", attempts=0, created_at=utcnow())
    session.add(msg)
    session.flush()
    jobs.enqueue_after_commit(session, send_message, msg.id)
    return msg


@jobs.job(retries=MAX_ATTEMPTS)
def send_message(message_id: int) -> None:
    with jobs.session_scope() as session:
        msg = session.get(OutboundMessage, message_id, with_for_update=session.get_bind().dialect.name != "sqlite")
        if msg is None or msg.status != "pending":
            return
        msg.attempts += 1
        try:
            msg.provider_ref = notifier_for(msg.channel, jobs.settings()).send(msg)
            msg.status, msg.sent_at, msg.last_error = "sent", utcnow(), None
        except PermanentNotifyError as e:
            msg.status, msg.last_error = "failed", str(e)
            log.warning("message failed for good", extra={"message_id": msg.id, "channel": msg.channel})
        except RetryableNotifyError as e:
            msg.last_error = str(e)
            if msg.attempts >= MAX_ATTEMPTS:
                msg.status = "failed"
            else:
                msg.next_attempt_at = utcnow() + timedelta(seconds=min(3600, 5 * 2 ** msg.attempts))
                session.commit()
                raise jobs.RetryableJobError(str(e)) from e


def redrive_messages(session: Session) -> int:
    """Sweeper: pending messages whose job was lost or whose retry time has come."""
    now = utcnow()
    ids = session.scalars(select(OutboundMessage.id).where(
        OutboundMessage.status == "pending",
        or_(and_(OutboundMessage.next_attempt_at.is_(None), OutboundMessage.created_at < now - timedelta(minutes=1)),
            OutboundMessage.next_attempt_at <= now)).limit(500)).all()
    for mid in ids:
        jobs.enqueue_after_commit(session, send_message, mid)
    return len(ids)


jobs.register_sweeper(redrive_messages)
