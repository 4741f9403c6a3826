"""Messages to citizens (SMS, Zalo, e-mail) behind one Notifier interface, sent by retried jobs.

A message is written in the business transaction (`queue_message`, or `notify_citizen` for an event with
its per-centre text) and sent after commit; a failed send is retried with backoff and never blocks the
work that asked for it. The sandbox notifier records messages so that flows can be walked without a
provider.

A message to a phone (channel sms or zalo) goes, when HCC_SMS_PROVIDER is `zalo+esms`, first as a Zalo ZNS
template message and, when the phone has no Zalo or the template is refused, as ONE brand-name SMS
through eSMS instead (`esms` sends SMS only). One message per (event, object) whatever the channel
(`CitizenDelivery.dedupe_key`); each provider call is marked started and committed before it is made, so
a worker killed mid-send never sends twice: an SMS is re-sent with the same eSMS RequestId (eSMS answers
124, already accepted), a Zalo send whose answer was lost is not repeated and not followed by an SMS
(it is `unconfirmed`). Quiet hours (21:00–07:00 Vietnam time) hold phone messages until morning;
an opted-out phone gets nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import mimetypes
import re
import smtplib
from abc import ABC, abstractmethod
from datetime import datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path

import requests
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import jobs
from core.clock import VN_TZ, as_utc, to_local, utcnow
from core.models import Centre, OutboundMessage
from core.settings import Setting, Settings, register_production_check, register_settings
from messaging import templates
from messaging.models import CitizenDelivery, MessageOptOut, MessageTemplate, ZaloToken
from messaging.sms.client import EsmsClient, EsmsConfig, SmsUnreachable
from messaging.zalo.client import ZaloConfig, ZaloTokenRefused, ZaloUnreachable, ZnsClient, expires_at
from messaging.zalo.payloads import TokenPair, zalo_phone

log = logging.getLogger(__name__)

register_settings(
    Setting("HCC_SMS_PROVIDER", "sandbox", "Who sends SMS/Zalo texts: `sandbox` records them (see /sandbox/messages); "
            "`zalo+esms` sends a Zalo ZNS message and falls back to one eSMS brand-name SMS; `esms` SMS only."),
    Setting("HCC_ZALO_API_URL", "<public url>/sandbox/zalo", "ZNS API base (https://business.openapi.zalo.me)."),
    Setting("HCC_ZALO_OAUTH_URL", "<public url>/sandbox/zalo/oauth", "Zalo OAuth base (https://oauth.zaloapp.com)."),
    Setting("HCC_ZALO_APP_ID", "sandbox-app", "Zalo app id of the official account's app."),
    Setting("HCC_ZALO_SECRET_KEY", "sandbox-zalo-secret", "Zalo app secret (header `secret_key` of the refresh)."),
    Setting("HCC_ZALO_REFRESH_TOKEN", "sandbox-zalo-refresh", "First OA refresh token; later ones are kept in the database."),
    Setting("HCC_ZNS_TEMPLATES", "(sandbox ids)", "Approved ZNS template id per event: "
            "`paid=123456,result_sent=123457,…`; an event without one goes by SMS."),
    Setting("HCC_ESMS_URL", "<public url>/sandbox/sms", "eSMS API base (https://rest.esms.vn)."),
    Setting("HCC_ESMS_API_KEY", "sandbox-esms-key", "eSMS ApiKey."),
    Setting("HCC_ESMS_SECRET_KEY", "sandbox-esms-secret", "eSMS SecretKey."),
    Setting("HCC_ESMS_BRANDNAME", "HCC", "Registered brand name the SMS is sent under."),
    Setting("HCC_QUIET_HOURS", "21:00-07:00", "Vietnam-time hours in which no SMS/Zalo is sent (held until the end)."),
    Setting("HCC_SANDBOX_ZALO_NO_ZALO_DIGITS", "9", "Sandbox ZNS: phones ending in these digits have no Zalo."),
    Setting("HCC_SMTP_HOST", "(unset: e-mail goes to the sandbox)", "SMTP server for receipts by e-mail."),
    Setting("HCC_SMTP_PORT", "25", "SMTP port."),
    Setting("HCC_SMTP_USER", "(none)", "SMTP user, when the server needs one."),
    Setting("HCC_SMTP_PASSWORD", "(none)", "SMTP password."),
    Setting("HCC_SMTP_STARTTLS", "0", "Use STARTTLS."),
    Setting("HCC_MAIL_FROM", "bienlai@hcc.example", "Sender address of e-mails."),
)

MAX_ATTEMPTS = 8

_NEEDED = {
    "esms": ("HCC_ESMS_URL", "HCC_ESMS_API_KEY", "HCC_ESMS_SECRET_KEY", "HCC_ESMS_BRANDNAME"),
    "zalo+esms": ("HCC_ESMS_URL", "HCC_ESMS_API_KEY", "HCC_ESMS_SECRET_KEY", "HCC_ESMS_BRANDNAME",
                  "HCC_ZALO_API_URL", "HCC_ZALO_OAUTH_URL", "HCC_ZALO_APP_ID", "HCC_ZALO_SECRET_KEY",
                  "HCC_ZALO_REFRESH_TOKEN", "HCC_ZNS_TEMPLATES"),
}


@register_production_check
def _phone_provider_configured(settings: Settings) -> list[str]:
    """In production the providers' defaults (the sandboxes) are never used: every setting is given."""
    provider = (settings.get("HCC_SMS_PROVIDER") or "sandbox").strip().lower()
    if provider == "sandbox":
        return []
    if provider not in _NEEDED:
        return [f"HCC_SMS_PROVIDER must be sandbox, esms or zalo+esms, not {provider!r}"]
    return [f"{name} must be set when HCC_SMS_PROVIDER is {provider}" for name in _NEEDED[provider]
            if not settings.get(name)]


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


PHONE_CHANNELS = ("sms", "zalo")
LEGACY_EVENTS = [  # purposes queued by fees/receipts/postal → the citizen event they announce
    (re.compile(r"^receipt-issued$"), "paid"),
    (re.compile(r"^shipment-pickup-requested$"), "pickup_scheduled"),
    (re.compile(r"^shipment-delivery_failed-\d+$"), "delivery_failed"),
    (re.compile(r"^apology-issued$"), "apology_issued"),
    (re.compile(r"^citizen:(?P<event>[a-z_]+)$"), None),
]
_URL = re.compile(r"https?://\S+")
_DOSSIER = re.compile(r"(?:hồ sơ|ho so) ([^\s(]+)")
_DATE = re.compile(r"(?:ngày|ngay) (\d{2}/\d{2}/\d{4})")
_TRACKING = re.compile(r"(?:mã vận đơn|ma van don) (\S+?)[\s.,:)]")


def _legacy_params(body: str) -> dict[str, str]:
    """The fields of a text queued by a caller that wrote it itself (receipts, postal, dossiers)."""
    text = body + " "
    found = {"link": _URL.findall(body), "dossier": _DOSSIER.search(text), "new_date": _DATE.search(text),
             "tracking": _TRACKING.search(text)}
    values = {k: (v[-1] if isinstance(v, list) else v.group(1)) if v else "" for k, v in found.items()}
    values["dossier"] = values["dossier"].rstrip(".,:;")  # a code has dots inside, never at its end
    return values


def provider_of(settings: Settings) -> str:
    return (settings.get("HCC_SMS_PROVIDER") or "sandbox").strip().lower()


def notifier_for(channel: str, settings: Settings) -> Notifier:
    if channel == "email":
        return SmtpNotifier(settings) if settings.get("HCC_SMTP_HOST") else SandboxNotifier()
    provider = provider_of(settings)
    if provider == "sandbox":
        return SandboxNotifier()
    raise PermanentNotifyError(f"unknown HCC_SMS_PROVIDER {provider!r}")


def _event_of(purpose: str | None, body: str) -> str | None:
    for rx, event in LEGACY_EVENTS:
        m = rx.match(purpose or "")
        if m:
            return event or m.group("event")
    if (purpose or "").startswith("shipment-picked_up-") and body.startswith("Kết quả"):
        return "result_sent"
    return None


def _dedupe_key(purpose: str | None, entity_type: str | None, entity_id: object, msg_id: int) -> str:
    if purpose and entity_type:
        return f"{purpose}:{entity_type}:{entity_id}:phone"[:160]
    return f"message:{msg_id}:phone"


def queue_message(session: Session, *, channel: str, recipient: str, body: str, subject: str | None = None,
                  attachments: list[dict[str, str]] | None = None, centre_id: int | None = None,
                  entity_type: str | None = None, entity_id: object = None,
                  purpose: str | None = None, params: dict | None = None) -> OutboundMessage:
    """Write a message to send after commit; the same purpose for the same entity is queued once.

    SMS and Zalo are one channel group: a purpose queued once as `sms` and once as `zalo` is one message.
    """
    if purpose and entity_type:
        if channel in PHONE_CHANNELS:
            found = session.scalar(select(CitizenDelivery).where(
                CitizenDelivery.dedupe_key == _dedupe_key(purpose, entity_type, entity_id, 0)))
            if found is not None:
                return session.get(OutboundMessage, found.outbound_message_id)
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
    if channel in PHONE_CHANNELS:
        event = _event_of(purpose, body)
        if params is None:
            params = _legacy_params(body)
            if event in templates.EVENTS and centre_id is not None:
                # A centre that wrote its own text for the event has it used for callers' texts too.
                own = session.scalar(select(MessageTemplate).where(MessageTemplate.centre_id == centre_id,
                                                                   MessageTemplate.event == event))
                if own is not None:
                    centre = session.get(Centre, centre_id)
                    params["centre"] = getattr(centre, "name", "") or ""
                    msg.body = templates.render(own.body, params)
        delivery = CitizenDelivery(outbound_message_id=msg.id, event=event, phone=zalo_phone(recipient),
                                   params=dict(params), dedupe_key=_dedupe_key(purpose, entity_type, entity_id, msg.id))
        try:
            with session.begin_nested():
                session.add(delivery)
        except IntegrityError:
            # Another transaction queued the same (event, object) meanwhile: that one is the message.
            session.delete(msg)
            found = session.scalar(select(CitizenDelivery).where(CitizenDelivery.dedupe_key == delivery.dedupe_key))
            return session.get(OutboundMessage, found.outbound_message_id)
    jobs.enqueue_after_commit(session, send_message, msg.id)
    return msg


def optout_token(settings: Settings, phone: str) -> str:
    key = (settings.secret_key or "").encode()
    return hmac.new(key, f"optout:{zalo_phone(phone)}".encode(), hashlib.sha256).hexdigest()[:24]


def optout_link(settings: Settings, phone: str) -> str:
    return f"{settings.public_url}/tin-nhan/tu-choi/{zalo_phone(phone)}/{optout_token(settings, phone)}"


def opt_out(session: Session, phone: str, source: str) -> bool:
    """Record that a phone wants no more messages; True when it is new."""
    number = zalo_phone(phone)
    if not number or session.scalar(select(MessageOptOut).where(MessageOptOut.phone == number)) is not None:
        return False
    session.add(MessageOptOut(phone=number, source=source, created_at=utcnow()))
    session.flush()
    return True


def is_opted_out(session: Session, phone: str) -> bool:
    return session.scalar(select(MessageOptOut.id).where(MessageOptOut.phone == zalo_phone(phone))) is not None


def notify_citizen(session: Session, *, event: str, phone: str | None, centre_id: int | None, entity_type: str,
                   entity_id: object, params: dict[str, object], purpose: str | None = None) -> OutboundMessage | None:
    """Queue the citizen's message for an event (payment_requested, paid, result_sent, delivery_failed,
    apology_issued, pickup_scheduled) in the centre's wording; at most one per (event, object)."""
    if not phone or event not in templates.EVENTS:
        return None
    settings = jobs.settings()
    centre = session.get(Centre, centre_id) if centre_id is not None else None
    values = {"centre": getattr(centre, "name", "") or "", **params}
    text, _ = templates.text_for(session, centre_id, event)
    body = templates.render(text, values)
    if settings is not None:
        body += templates.OPT_OUT_SUFFIX.format(optout=optout_link(settings, phone))
    return queue_message(session, channel="sms", recipient=phone, body=body, centre_id=centre_id,
                         entity_type=entity_type, entity_id=entity_id, purpose=purpose or f"citizen:{event}",
                         params=values)


def in_quiet_hours(settings: Settings, now: datetime) -> datetime | None:
    """When `now` falls in the quiet hours, the UTC time they end; else None."""
    spec = settings.get("HCC_QUIET_HOURS") or "21:00-07:00"
    try:
        start_s, end_s = spec.split("-")
        start, end = time.fromisoformat(start_s.strip()), time.fromisoformat(end_s.strip())
    except ValueError:
        start, end = time(21), time(7)
    local = to_local(now)
    t = local.time()
    quiet = (start <= t or t < end) if start > end else (start <= t < end)
    if not quiet:
        return None
    day = local.date() if t < end else local.date() + timedelta(days=1)
    return as_utc(datetime.combine(day, end, tzinfo=VN_TZ))


def http_session() -> requests.Session:
    """The HTTP session of the Zalo/eSMS clients (tests hand it a transport to the sandboxes)."""
    return requests.Session()


class DbTokenStore:
    """The OA token pair in its own short transactions: a rotated refresh token is kept even when the
    message's transaction rolls back."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.app_id = settings.get("HCC_ZALO_APP_ID") or "sandbox-app"

    def current(self) -> tuple[str | None, str]:
        with jobs.session_scope() as s:
            row = s.scalar(select(ZaloToken).where(ZaloToken.app_id == self.app_id))
            if row is None:
                return None, self.settings.get("HCC_ZALO_REFRESH_TOKEN") or "sandbox-zalo-refresh"
            fresh = row.access_token and (row.expires_at is None or as_utc(row.expires_at) > utcnow())
            return (row.access_token if fresh else None), row.refresh_token

    def save(self, pair: TokenPair) -> None:
        with jobs.session_scope() as s:
            row = s.scalar(select(ZaloToken).where(ZaloToken.app_id == self.app_id))
            if row is None:
                row = ZaloToken(app_id=self.app_id, refresh_token=pair.refresh_token)
                s.add(row)
            row.access_token, row.refresh_token = pair.access_token, pair.refresh_token
            row.expires_at, row.updated_at = expires_at(pair), utcnow()
            s.commit()


def _base(settings: Settings, key: str, sandbox_path: str) -> str:
    return (settings.get(key) or f"{settings.public_url}{sandbox_path}").rstrip("/")


def zns_client(settings: Settings, http: requests.Session) -> ZnsClient:
    return ZnsClient(ZaloConfig(api_base=_base(settings, "HCC_ZALO_API_URL", "/sandbox/zalo"),
                                oauth_base=_base(settings, "HCC_ZALO_OAUTH_URL", "/sandbox/zalo/oauth"),
                                app_id=settings.get("HCC_ZALO_APP_ID") or "sandbox-app",
                                secret_key=settings.get("HCC_ZALO_SECRET_KEY") or "sandbox-zalo-secret"),
                     DbTokenStore(settings), http)


def esms_client(settings: Settings, http: requests.Session) -> EsmsClient:
    return EsmsClient(EsmsConfig(base_url=_base(settings, "HCC_ESMS_URL", "/sandbox/sms"),
                                 api_key=settings.get("HCC_ESMS_API_KEY") or "sandbox-esms-key",
                                 secret_key=settings.get("HCC_ESMS_SECRET_KEY") or "sandbox-esms-secret",
                                 brandname=settings.get("HCC_ESMS_BRANDNAME") or "HCC"),
                      http)


def zns_template_for(settings: Settings, event: str | None, centre_template: str | None) -> str | None:
    if event is None:
        return None
    if centre_template:
        return centre_template
    spec = settings.get("HCC_ZNS_TEMPLATES")
    if not spec:
        return f"sbx-{event}" if settings.sandbox else None
    pairs = dict(p.split("=", 1) for p in spec.split(",") if "=" in p)
    return pairs.get(event, "").strip() or None


def _finish(msg: OutboundMessage, delivery: CitizenDelivery, channel: str, ref: str, status: str = "sent") -> None:
    msg.status, msg.sent_at, msg.last_error, msg.provider_ref = status, utcnow(), None, ref[:128]
    msg.channel = channel
    delivery.channel = channel


def _with_optout(settings: Settings, msg: OutboundMessage) -> str:
    """Every SMS ends with its opt-out link (a Zalo user opts out in Zalo itself: ZNS then answers -141)."""
    if "/tin-nhan/tu-choi/" in msg.body:
        return msg.body
    return msg.body + templates.OPT_OUT_SUFFIX.format(optout=optout_link(settings, msg.recipient))


def _send_by_phone(session: Session, msg: OutboundMessage, settings: Settings) -> None:
    """Zalo first (when the event has a ZNS template and the provider is zalo+esms), SMS as fallback."""
    delivery = session.scalar(select(CitizenDelivery).where(CitizenDelivery.outbound_message_id == msg.id))
    if delivery is None:  # a message queued before this table existed
        delivery = CitizenDelivery(outbound_message_id=msg.id, event=_event_of(msg.purpose, msg.body),
                                   phone=zalo_phone(msg.recipient), params={},
                                   dedupe_key=_dedupe_key(None, None, None, msg.id))
        session.add(delivery)
        session.flush()
    http = http_session()
    use_zalo = provider_of(settings) == "zalo+esms"
    if delivery.zalo_state == "started":
        # The last attempt reached (or may have reached) Zalo and died before recording the answer. ZNS has
        # no look-up by tracking_id, so neither a second ZNS nor an SMS is sent: never two messages.
        delivery.zalo_state = "unconfirmed"
        _finish(msg, delivery, "zalo", f"zalo-tracking:{delivery.zalo_tracking_id}")
        msg.last_error = "outcome of the Zalo send unknown (worker stopped); not repeated"
        return
    centre_template = None
    if delivery.event in templates.EVENTS:
        _, centre_template = templates.text_for(session, msg.centre_id, delivery.event)
    template_id = zns_template_for(settings, delivery.event, centre_template) if use_zalo else None
    if template_id and delivery.zalo_state == "none" and delivery.sms_state == "none":
        delivery.zalo_state, delivery.zalo_tracking_id = "started", f"hcc-msg-{msg.id}"
        session.commit()
        try:
            answer = zns_client(settings, http).send(delivery.phone, template_id, delivery.params or {},
                                                     delivery.zalo_tracking_id)
        except ZaloTokenRefused as e:
            delivery.zalo_state, delivery.zalo_error = "refused", None
            log.error("zalo refresh token refused; sending by SMS", extra={"message_id": msg.id, "error": str(e)})
        except ZaloUnreachable as e:
            # No answer: for a refused connection or a 5xx Zalo did not take it; a read timeout is unknown.
            delivery.zalo_state = "none" if not isinstance(e.__cause__, requests.ReadTimeout) else "started"
            raise RetryableNotifyError(str(e)) from e
        else:
            delivery.zalo_error = answer.error or None
            if answer.kind == "sent":
                delivery.zalo_state, delivery.zalo_msg_id = "sent", answer.msg_id
                _finish(msg, delivery, "zalo", answer.msg_id or delivery.zalo_tracking_id)
                return
            if answer.kind == "retry":
                delivery.zalo_state = "none"
                raise RetryableNotifyError(f"zalo {answer.error}: {answer.message}")
            # No Zalo, user refused, template refused, or our OA's set-up: the SMS carries it.
            delivery.zalo_state = "refused"
            log.info("zalo declined; falling back to SMS", extra={"message_id": msg.id, "zalo_error": answer.error})
        session.commit()
    if delivery.sms_state == "none":
        delivery.sms_state, delivery.sms_request_id = "started", f"hcc-msg-{msg.id}"
        session.commit()
    if delivery.sms_state != "started":
        return
    try:
        answer = esms_client(settings, http).send(msg.recipient, _with_optout(settings, msg), delivery.sms_request_id)
    except SmsUnreachable as e:
        raise RetryableNotifyError(str(e)) from e  # resent later with the same RequestId: never twice
    delivery.sms_code = answer.code
    if answer.kind in ("accepted", "duplicate"):
        delivery.sms_state, delivery.sms_id = "sent", answer.sms_id or delivery.sms_id
        _finish(msg, delivery, "sms", answer.sms_id or f"esms-request:{delivery.sms_request_id}")
        return
    if answer.kind == "retry":
        raise RetryableNotifyError(f"esms {answer.code}: {answer.message}")
    delivery.sms_state = "failed"
    raise PermanentNotifyError(f"esms {answer.code}: {answer.message}")


@jobs.job(retries=MAX_ATTEMPTS)
def send_message(message_id: int) -> None:
    with jobs.session_scope() as session:
        msg = session.get(OutboundMessage, message_id, with_for_update=session.get_bind().dialect.name != "sqlite")
        if msg is None or msg.status != "pending":
            return
        settings = jobs.settings()
        by_phone = msg.channel in PHONE_CHANNELS
        if by_phone and is_opted_out(session, msg.recipient):
            msg.status, msg.last_error = "skipped", "opted out"
            session.commit()
            return
        real = by_phone and provider_of(settings) in ("zalo+esms", "esms")
        if real:
            until = in_quiet_hours(settings, utcnow())
            if until is not None:
                msg.next_attempt_at = until
                delivery = session.scalar(select(CitizenDelivery).where(CitizenDelivery.outbound_message_id == msg.id))
                if delivery is not None:
                    delivery.delayed_until = until
                session.commit()
                return
        msg.attempts += 1
        try:
            if real:
                _send_by_phone(session, msg, settings)
            else:
                msg.provider_ref = notifier_for(msg.channel, settings).send(msg)
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
        session.commit()


def refresh_delivery_status(session: Session, limit: int = 200) -> int:
    """Sweeper: ask eSMS for the status of SMS sent in the last days that have no final report yet."""
    settings = jobs.settings()
    if settings is None or provider_of(settings) not in ("zalo+esms", "esms"):
        return 0
    rows = session.scalars(select(CitizenDelivery).where(
        CitizenDelivery.sms_state == "sent", CitizenDelivery.sms_id.is_not(None),
        or_(CitizenDelivery.delivery_status.is_(None),
            CitizenDelivery.delivery_status.in_(("pending_approval", "waiting", "sent_to_telco"))),
        CitizenDelivery.updated_at > utcnow() - timedelta(days=7))).all()[:limit]
    client = esms_client(settings, http_session())
    done = 0
    for row in rows:
        try:
            status = client.status(row.sms_id)
        except SmsUnreachable:
            break
        if status:
            row.delivery_status, done = status, done + 1
    return done


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
jobs.register_sweeper(refresh_delivery_status)
