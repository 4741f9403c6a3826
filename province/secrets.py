"""Secrets encrypted at rest (signing PINs and PKCS#12 files, gateway keys, carrier tokens) with MultiFernet.

Keys come from HCC_ENCRYPTION_KEYS: comma-separated Fernet keys; the first encrypts, every one decrypts.
Rotation: put a new key first (`Fernet.generate_key()`), keep the old ones after it, run `rotate` (which
re-encrypts every row with the first key), then drop the old keys from the setting. In the embedded
default a key is generated once into `<instance>/encryption_keys` (mode 600); production refuses to run
without the setting, since a key beside the database protects nothing.

Values are never logged, never audited, and never returned by a listing: `describe` gives name, size and
time only.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import adapters, audit
from core.clock import utcnow
from core.errors import DomainError, InvalidInput
from core.settings import Setting, Settings, register_settings
from province.models import OWNER_TYPES, Credential

log = logging.getLogger(__name__)

SETTING = "HCC_ENCRYPTION_KEYS"
KEY_FILE = "encryption_keys"

register_settings(
    Setting(SETTING, "generated into `<instance>/encryption_keys`",
            "Fernet keys (comma-separated) that encrypt stored secrets; the first encrypts, all decrypt. "
            "Must be set in production; rotate with `hcc credentials rotate`."),
)

# The names integration code reads; any other name is refused so a typo never stores a secret nobody reads.
# A unit's signing key, a carrier account's token, and each payment gateway's own (`unit_secrets`, declared
# in its folder fees/gateways/<name>/, so a new gateway brings its names with it).
SIGNING_NAMES = ("signing_pkcs12", "signing_pkcs12_password", "signing_pkcs11_pin", "signing_remote")
CARRIER_NAMES = ("carrier_token",)


def gateway_unit_fields() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Per registered gateway that takes a unit's own account: the key of the unit's merchant id in
    CollectingUnit.gateway, and the names of the credentials that go with it."""
    gateways = adapters.registry("gateway")
    out = {}
    for name in gateways.names():
        cls = gateways.get_class(name)
        if getattr(cls, "unit_id_key", "") or getattr(cls, "unit_secrets", None):
            out[name] = (cls.unit_id_key, tuple(cls.unit_secrets.values()))
    return out


def unit_names() -> tuple[str, ...]:
    """The credentials a collecting unit may hold: its signing key and its gateway accounts' secrets."""
    return (*SIGNING_NAMES, *(n for _, names in gateway_unit_fields().values() for n in names))


def names() -> tuple[str, ...]:
    return (*unit_names(), *CARRIER_NAMES)


class SecretsError(DomainError):
    """Raised when the keys are missing or malformed, or a stored secret cannot be decrypted with them."""

    code = "secrets-error"


@dataclass(frozen=True)
class CredentialInfo:
    """What may be shown about a secret: that it is set, when, and how big. Never the value."""

    owner_type: str
    owner_id: int
    name: str
    updated_at: datetime
    hint: str


def _fingerprint(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:12]


def _generated_keys(settings: Settings) -> list[bytes]:
    path = settings.instance_dir / KEY_FILE
    if not path.exists():
        settings.instance_dir.mkdir(parents=True, exist_ok=True)
        path.write_bytes(Fernet.generate_key() + b"\n")
        path.chmod(0o600)
    return [line.strip() for line in path.read_bytes().splitlines() if line.strip()]


def configured_keys(settings: Settings) -> list[bytes]:
    """The keys, first one encrypting: from HCC_ENCRYPTION_KEYS, else (not in production) the generated file."""
    raw = settings.get(SETTING)
    if raw and raw.strip():
        keys = [k.strip().encode() for k in raw.split(",") if k.strip()]
    elif settings.production:
        raise SecretsError(f"{SETTING} is not set; production needs its own encryption keys")
    else:
        keys = _generated_keys(settings)
    for i, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError) as e:  # never echo the key itself
            raise SecretsError(f"{SETTING}: key {i} is not a Fernet key (32 url-safe base64-encoded bytes)") from e
    return keys


def keys_are_configured(settings: Settings) -> bool:
    """True when HCC_ENCRYPTION_KEYS is set (the generated development key does not count)."""
    raw = settings.get(SETTING)
    return bool(raw and raw.strip())


def keyring(settings: Settings) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in configured_keys(settings)])


def _check_owner(owner_type: str, name: str) -> None:
    if owner_type not in OWNER_TYPES:
        raise InvalidInput(f"unknown owner type {owner_type!r}", errors={"owner_type": [f"one of {', '.join(OWNER_TYPES)}"]})
    known = names()
    if name not in known:
        raise InvalidInput(f"unknown credential {name!r}", errors={"name": [f"one of {', '.join(known)}"]})


def _row(session: Session, owner_type: str, owner_id: int, name: str) -> Credential | None:
    return session.scalar(select(Credential).where(Credential.owner_type == owner_type,
                                                   Credential.owner_id == owner_id, Credential.name == name))


def set_secret(session: Session, settings: Settings, owner_type: str, owner_id: int, name: str, value: bytes, *,
               actor: audit.Actor = audit.SYSTEM) -> Credential:
    """Store (or replace) a secret, encrypted with the first key. The audit row names it, never its value."""
    _check_owner(owner_type, name)
    if not isinstance(value, bytes) or not value:
        raise InvalidInput("a secret must be non-empty bytes", errors={"value": ["empty"]})
    keys = configured_keys(settings)
    token = MultiFernet([Fernet(k) for k in keys]).encrypt(value).decode("ascii")
    row = _row(session, owner_type, owner_id, name)
    action = "credential.replaced" if row is not None else "credential.set"
    if row is None:
        row = Credential(owner_type=owner_type, owner_id=owner_id, name=name)
        session.add(row)
    row.ciphertext, row.key_id, row.size, row.updated_at = token, _fingerprint(keys[0]), len(value), utcnow()
    session.flush()
    audit.record(session, actor, action, entity_type="credential", entity_id=row.id,
                 after={"owner_type": owner_type, "owner_id": owner_id, "name": name})
    log.info("credential stored", extra={"credential_id": row.id, "credential_name": name})
    return row


def get_secret(session: Session, settings: Settings, owner_type: str, owner_id: int, name: str) -> bytes | None:
    """The decrypted secret, or None when it is not set. For the code that uses it (signer, gateway), never a page."""
    row = _row(session, owner_type, owner_id, name)
    if row is None:
        return None
    try:
        return keyring(settings).decrypt(row.ciphertext.encode("ascii"))
    except InvalidToken as e:
        raise SecretsError(f"credential {name} of {owner_type} {owner_id} cannot be decrypted: the key that "
                           f"encrypted it ({row.key_id}) is not in {SETTING}") from e


def has_secret(session: Session, owner_type: str, owner_id: int, name: str) -> bool:
    return _row(session, owner_type, owner_id, name) is not None


def delete_secret(session: Session, owner_type: str, owner_id: int, name: str, *,
                  actor: audit.Actor = audit.SYSTEM) -> bool:
    row = _row(session, owner_type, owner_id, name)
    if row is None:
        return False
    audit.record(session, actor, "credential.deleted", entity_type="credential", entity_id=row.id,
                 before={"owner_type": owner_type, "owner_id": owner_id, "name": name})
    session.delete(row)
    session.flush()
    return True


def _hint(size: int) -> str:
    return f"•••••• ({size} byte)"


def describe(session: Session, owner_type: str | None = None, owner_id: int | None = None) -> list[CredentialInfo]:
    """What is set, for pages and the CLI: names, times and a masked hint; nothing is decrypted."""
    stmt = select(Credential).order_by(Credential.owner_type, Credential.owner_id, Credential.name)
    if owner_type is not None:
        stmt = stmt.where(Credential.owner_type == owner_type)
    if owner_id is not None:
        stmt = stmt.where(Credential.owner_id == owner_id)
    return [CredentialInfo(r.owner_type, r.owner_id, r.name, r.updated_at, _hint(r.size)) for r in session.scalars(stmt)]


def rotate(session: Session, settings: Settings, *, actor: audit.Actor = audit.SYSTEM) -> int:
    """Re-encrypt every stored secret with the first key (MultiFernet.rotate); returns how many rows.

    Every row must decrypt with one of the configured keys, or nothing is changed.
    """
    keys = configured_keys(settings)
    ring = MultiFernet([Fernet(k) for k in keys])
    primary = _fingerprint(keys[0])
    rows = list(session.scalars(select(Credential).order_by(Credential.id)))
    new_tokens = []
    for row in rows:
        try:
            new_tokens.append(ring.rotate(row.ciphertext.encode("ascii")).decode("ascii"))
        except InvalidToken as e:
            raise SecretsError(f"credential {row.name} of {row.owner_type} {row.owner_id} cannot be decrypted "
                               f"with {SETTING}; nothing was rotated") from e
    for row, token in zip(rows, new_tokens, strict=True):
        row.ciphertext, row.key_id = token, primary
    session.flush()
    audit.record(session, actor, "credential.rotated", entity_type="credential",
                 detail=f"{len(rows)} secrets re-encrypted with key {primary}")
    return len(rows)
