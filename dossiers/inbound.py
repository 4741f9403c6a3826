"""The one-stop system's signed webhook: the per-centre secret, and the check of a signature and its age.

Signed as our own outbound webhooks are (fees.webhooks, which receivers already implement): header
`X-HCC-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` over the exact body bytes.
A request older (or newer) than the window is refused; a request seen before (same signature) is a replay
and refused too, since a sender signs every sending afresh. See docs/dossiers.md.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from cryptography.fernet import InvalidToken
from sqlalchemy.orm import Session

from core import audit
from core.clock import utcnow
from core.models import Centre
from core.settings import Setting, Settings, register_settings
from dossiers.models import DossierCentre
from dossiers.service import configure_centre
from province import secrets as stored_secrets

register_settings(
    Setting("HCC_ONESTOP_WEBHOOK_WINDOW", "300",
            "Seconds a signed webhook from the one-stop system stays acceptable (its `t=` against our clock)."),
)

SOURCE = "onestop"
HEADER = "X-HCC-Signature"


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""
    # What identifies this sending: its signature (a replay carries the same one).
    dedup_key: str | None = None


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value a sender puts on `body` (the one-stop system's side; also our tests')."""
    ts = int(time.time()) if timestamp is None else timestamp
    return f"t={ts},v1={signature(secret, ts, body)}"


def check(secret: str | None, header: str | None, body: bytes, *, window: int, now: int | None = None) -> Verdict:
    """Whether `header` signs `body` with `secret` within `window` seconds of `now` (pure; no replay check)."""
    if not secret:
        return Verdict(False, "no webhook secret is set for this centre")
    try:
        parts = dict(p.strip().split("=", 1) for p in (header or "").split(","))
        ts = int(parts["t"])
        given = parts["v1"]
    except (ValueError, KeyError):
        return Verdict(False, "missing or malformed signature header")
    if abs((now if now is not None else int(time.time())) - ts) > window:
        return Verdict(False, "signature timestamp outside the accepted window")
    if not hmac.compare_digest(given.lower(), signature(secret, ts, body)):
        return Verdict(False, "bad signature")
    return Verdict(True, dedup_key=f"{ts}:{given.lower()}"[:128])


def window(settings: Settings) -> int:
    return settings.get_int("HCC_ONESTOP_WEBHOOK_WINDOW", 300)


def webhook_secret(session: Session, settings: Settings, centre_id: int) -> str | None:
    own = session.get(DossierCentre, centre_id)
    if own is None or not own.webhook_secret:
        return None
    try:
        return stored_secrets.keyring(settings).decrypt(own.webhook_secret.encode("ascii")).decode()
    except InvalidToken:
        return None


def new_webhook_secret(session: Session, settings: Settings, centre_id: int, *,
                       actor: audit.Actor = audit.SYSTEM) -> str:
    """Generate (or replace) the centre's inbound secret; returned once, stored encrypted."""
    own = configure_centre(session, session.get(Centre, centre_id))
    value = secrets.token_hex(32)
    own.webhook_secret = stored_secrets.keyring(settings).encrypt(value.encode()).decode("ascii")
    own.updated_at = utcnow()
    audit.record(session, actor, "dossier.webhook_secret_set", entity_type="centre", entity_id=centre_id,
                 centre_id=centre_id)
    session.flush()
    return value
