"""Remote signing: the unit's key stays with a signing service; we send hashes, it sends signatures back.

Two protocols, each a pyHanko `Signer` so the PAdES signature (receipts.pdf) and the XML signature
(`ReceiptSigner.xml_key`) go through it unchanged:

- `csc`: the Cloud Signature Consortium API (v1, or v2 where the URLs differ only by version), with
  pyHanko's own CSC signer (receipts.remote.csc); OAuth 2.0 client credentials for the bearer token.
- `smartca`: VNPT SmartCA's REST API (receipts.remote.smartca), where the subscriber approves each
  signature in the SmartCA app; what could not be confirmed about it is listed at the top of that module.

A unit's configuration (`RemoteConfig`) is kept whole as one encrypted credential, `signing_remote`
(province.units.set_signing_remote). A signature not approved yet raises `AwaitingApproval`, a refused
one `SigningRefused`: both are `SigningError`s, so issuance leaves the receipt pending and retries it —
a receipt is never issued unsigned.
"""

from __future__ import annotations

from dataclasses import asdict, replace

from receipts.remote.config import (
    PROTOCOLS,
    AwaitingApproval,
    RemoteConfig,
    RemoteSigningError,
    SigningRefused,
)
from receipts.signing_base import SigningError

__all__ = ["PROTOCOLS", "AwaitingApproval", "RemoteConfig", "RemoteSigningError", "SigningRefused", "SigningError",
           "open_remote_signer", "set_unit_remote"]


def open_remote_signer(config: RemoteConfig, settings=None):
    """The pyHanko signer for this configuration, its certificate fetched from the service."""
    if config.protocol == "csc":
        from receipts.remote.csc import open_csc_signer

        return open_csc_signer(config)
    if config.protocol == "smartca":
        from receipts.remote.smartca import open_smartca_signer

        poll = float(settings.get("HCC_SMARTCA_POLL_SECONDS") or 3) if settings is not None else 3.0
        wait = float(settings.get("HCC_SMARTCA_WAIT_SECONDS") or 120) if settings is not None else 120.0
        return open_smartca_signer(config, poll_seconds=poll, wait_seconds=wait)
    raise RemoteSigningError(f"unknown remote signing protocol {config.protocol!r}")


def set_unit_remote(session, settings, unit, *, protocol: str, service_url: str, client_id: str = "",
                    client_secret: str = "", credential_id: str = "", user_id: str = "", pin: str = "", otp: str = "",
                    api_version: str = "v1", actor=None):
    """Check a remote signing service answers for this unit, then keep its configuration (province.units).

    `protocol` "csc": `service_url` is the part before /csc/v1/..., `client_id`/`client_secret` the OAuth
    client, `credential_id` the CSC credentialID, `pin` (rarely `otp`) for credentials/authorize.
    `protocol` "smartca": `service_url` e.g. https://gwsca.vnpt.vn/sca/sp769, `client_id`/`client_secret`
    the sp_id/sp_password, `user_id` the subscriber, `credential_id` the certificate serial number (empty:
    the subscriber's only certificate).

    The certificate is fetched first, nothing signed: an unknown client, credential or user is refused
    (InvalidInput) and nothing is stored.
    """
    from urllib.parse import urlsplit

    from asn1crypto import pem

    from core import audit
    from core.errors import InvalidInput
    from province.units import set_signing_remote

    if protocol not in PROTOCOLS:
        raise InvalidInput("Giao thức ký số từ xa không hỗ trợ", errors={"protocol": [f"one of {', '.join(PROTOCOLS)}"]})
    parts = urlsplit(service_url or "")
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise InvalidInput("Địa chỉ dịch vụ ký số không hợp lệ", errors={"service_url": ["https URL"]})
    if protocol == "smartca" and not (client_id and client_secret and user_id):
        raise InvalidInput("SmartCA cần sp_id, sp_password và user_id", errors={"user_id": ["required"]})
    if protocol == "csc" and not (client_id and client_secret and credential_id):
        raise InvalidInput("CSC cần client_id, client_secret và credentialID", errors={"credential_id": ["required"]})
    config = RemoteConfig(protocol=protocol, service_url=service_url.rstrip("/"), client_id=client_id,
                          client_secret=client_secret, credential_id=credential_id, user_id=user_id, pin=pin, otp=otp,
                          api_version=api_version or "v1")
    try:
        signer = open_remote_signer(config, settings)
    except SigningError as e:
        raise InvalidInput(f"Không lấy được chứng thư số từ dịch vụ ký số của đơn vị {unit.code}: {e}",
                           errors={"service_url": ["unreachable or refused"]}) from e
    chain = [signer.signing_cert, *(c for c in signer.cert_registry if c.sha256 != signer.signing_cert.sha256)]
    config = replace(config, chain_pem="".join(pem.armor("CERTIFICATE", c.dump()).decode("ascii") for c in chain))
    return set_signing_remote(session, settings, unit, config=asdict(config), cert_der=signer.signing_cert.dump(),
                              actor=actor or audit.SYSTEM)
