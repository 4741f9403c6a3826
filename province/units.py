"""Collecting units: lookups by centre and code, and setting a unit's signing key (kept as credentials).

Three kinds of signing credential: a PKCS#12 file, a PKCS#11 token, or a remote signing service (CSC
API, VNPT SmartCA) where the key never leaves the provider.
"""

from __future__ import annotations

from datetime import UTC

from cryptography.hazmat.primitives.serialization import pkcs12
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, pkcs11_token
from core.errors import InvalidInput, NotFound
from core.settings import Settings
from province import secrets
from province.models import CentreUnit, CollectingUnit


def unit_by_code(session: Session, code: str) -> CollectingUnit:
    unit = session.scalar(select(CollectingUnit).where(CollectingUnit.code == code))
    if unit is None:
        raise NotFound(f"Không có đơn vị thu mã {code!r}")
    return unit


def units_served_at(session: Session, centre_id: int, *, active_only: bool = True) -> list[CollectingUnit]:
    """The units a centre collects for, by code."""
    stmt = (select(CollectingUnit).join(CentreUnit, CentreUnit.unit_id == CollectingUnit.id)
            .where(CentreUnit.centre_id == centre_id).order_by(CollectingUnit.code))
    if active_only:
        stmt = stmt.where(CollectingUnit.active.is_(True))
    return list(session.scalars(stmt))


def unit_ids_served_at(session: Session, centre_ids: frozenset[int] | set[int] | list[int]) -> set[int]:
    """Ids of the active units served at any of these centres (for fee lookups scoped to a key's centres)."""
    if not centre_ids:
        return set()
    stmt = (select(CentreUnit.unit_id).join(CollectingUnit, CollectingUnit.id == CentreUnit.unit_id)
            .where(CentreUnit.centre_id.in_(list(centre_ids)), CollectingUnit.active.is_(True)))
    return set(session.scalars(stmt))


def centre_ids_serving(session: Session, unit_id: int) -> list[int]:
    return list(session.scalars(select(CentreUnit.centre_id).where(CentreUnit.unit_id == unit_id)
                                .order_by(CentreUnit.id)))


def set_signing_pkcs12(session: Session, settings: Settings, unit: CollectingUnit, data: bytes, password: bytes, *,
                       actor: audit.Actor = audit.SYSTEM) -> CollectingUnit:
    """Store a unit's PKCS#12 file and password (encrypted) and show its certificate's subject and expiry.

    The file is opened first: a wrong password or a file without key and certificate is refused and
    nothing is stored.
    """
    try:
        key, cert, _chain = pkcs12.load_key_and_certificates(data, password or None)
    except (ValueError, TypeError) as e:
        raise InvalidInput("Không mở được tệp PKCS#12 (sai mật khẩu hoặc tệp hỏng)",
                           errors={"signing_pkcs12": ["unreadable"]}) from e
    if key is None or cert is None:
        raise InvalidInput("Tệp PKCS#12 phải chứa khóa ký và chứng thư số", errors={"signing_pkcs12": ["incomplete"]})
    secrets.set_secret(session, settings, "unit", unit.id, "signing_pkcs12", data, actor=actor)
    if password:
        secrets.set_secret(session, settings, "unit", unit.id, "signing_pkcs12_password", password, actor=actor)
    else:
        secrets.delete_secret(session, "unit", unit.id, "signing_pkcs12_password", actor=actor)
    return _set_certificate(session, unit, "pkcs12", cert.subject.rfc4514_string(),
                            cert.not_valid_after_utc.astimezone(UTC), actor)


def set_signing_pkcs11(session: Session, settings: Settings, unit: CollectingUnit, *, module: str, pin: bytes,
                       slot: int | None = None, token_label: str | None = None, key_label: str | None = None,
                       cert_label: str | None = None, actor: audit.Actor = audit.SYSTEM) -> CollectingUnit:
    """Point a unit at a PKCS#11 token/HSM, keep its PIN encrypted and show the token certificate's subject and expiry.

    The token is opened and logged in to first: a module that does not load, a token not found, a wrong PIN,
    or a key or certificate missing under the labels given is refused (InvalidInput naming the field) and
    nothing is stored, so a unit is never left pointing at a token that cannot sign.
    """
    if not module:
        raise InvalidInput("Thiếu đường dẫn thư viện PKCS#11", errors={"pkcs11_module": ["required"]})
    if slot is None and not token_label:
        raise InvalidInput("Cần số khe (slot) hoặc nhãn token", errors={"pkcs11_slot": ["slot or token_label"]})
    try:
        found = pkcs11_token.read_certificates(module, pin=pin.decode() if pin else None, slot=slot,
                                               token_label=token_label, key_label=key_label, cert_label=cert_label)
    except pkcs11_token.TokenError as e:
        raise InvalidInput(f"Không mở được token PKCS#11 của đơn vị {unit.code}: {e.reason}",
                           errors={e.field: [e.reason]}) from e
    secrets.set_secret(session, settings, "unit", unit.id, "signing_pkcs11_pin", pin, actor=actor)
    unit.pkcs11_module, unit.pkcs11_slot, unit.pkcs11_token_label = module, slot, token_label
    unit.pkcs11_key_label, unit.pkcs11_cert_label = key_label, cert_label
    cert = found.signing_cert
    return _set_certificate(session, unit, "pkcs11", cert.subject.rfc4514_string(),
                            cert.not_valid_after_utc.astimezone(UTC), actor)


REMOTE_SECRET = "signing_remote"  # noqa: S105  (a credential name, not a secret)


REMOTE_PROTOCOLS = ("csc", "smartca")


def set_signing_remote(session: Session, settings: Settings, unit: CollectingUnit, *, config: dict, cert_der: bytes,
                       actor: audit.Actor = audit.SYSTEM) -> CollectingUnit:
    """Point a unit at a remote signing service (CSC API, VNPT SmartCA) and show its certificate's subject and expiry.

    `config` is what receipts.remote.RemoteConfig holds (protocol, service_url, client id and secret,
    credential id, user id, PIN...), kept whole as one encrypted credential; `cert_der` the certificate
    the service returned for it. Callers go through receipts.remote.set_unit_remote, which asks the
    service for the certificate first, so a unit is never left pointing at a service that cannot sign.
    The audit row names the service, client and credential, never a secret.
    """
    import json

    from cryptography.x509 import load_der_x509_certificate

    if config.get("protocol") not in REMOTE_PROTOCOLS:
        raise InvalidInput("Giao thức ký số từ xa không hỗ trợ",
                           errors={"protocol": [f"one of {', '.join(REMOTE_PROTOCOLS)}"]})
    try:
        cert = load_der_x509_certificate(cert_der)
    except ValueError as e:
        raise InvalidInput("Chứng thư số của dịch vụ ký số không đọc được", errors={"certificate": ["unreadable"]}) from e
    secrets.set_secret(session, settings, "unit", unit.id, REMOTE_SECRET,
                       json.dumps(config, ensure_ascii=False, sort_keys=True).encode("utf-8"), actor=actor)
    audit.record(session, actor, "unit.signing_remote_set", entity_type="collecting_unit", entity_id=unit.id,
                 after={k: config.get(k) for k in ("protocol", "service_url", "client_id", "credential_id", "user_id")})
    return _set_certificate(session, unit, "remote", cert.subject.rfc4514_string(),
                            cert.not_valid_after_utc.astimezone(UTC), actor)


def _set_certificate(session: Session, unit: CollectingUnit, kind: str, subject: str | None, not_after,
                     actor: audit.Actor) -> CollectingUnit:
    before = {"signing_kind": unit.signing_kind, "cert_subject": unit.cert_subject,
              "cert_not_after": unit.cert_not_after.isoformat() if unit.cert_not_after else None}
    unit.signing_kind, unit.cert_subject, unit.cert_not_after = kind, subject, not_after
    session.flush()
    audit.record(session, actor, "unit.signing_set", entity_type="collecting_unit", entity_id=unit.id, before=before,
                 after={"signing_kind": kind, "cert_subject": subject,
                        "cert_not_after": not_after.isoformat() if not_after else None})
    return unit
