"""VNPT SmartCA (remote signing, the subscriber approves each signature in the SmartCA app), as a pyHanko Signer.

Protocol (JSON over HTTPS POST, service URL e.g. https://gwsca.vnpt.vn/sca/sp769, test gateway
https://rmgateway.vnptit.vn/sca/sp769):

1. `/v1/credentials/get_certificate` {sp_id, sp_password, user_id, serial_number, transaction_id}
   → {status_code, message, data: {user_certificates: [{service_type, service_name, cert_id, cert_status,
   serial_number, cert_subject, cert_valid_from, cert_valid_to, cert_data, chain_data: {ca_cert,
   root_cert}, transaction_id}]}}
2. `/v1/signatures/sign` {sp_id, sp_password, user_id, transaction_id, transaction_desc, serial_number,
   time_stamp, sign_files: [{data_to_be_signed, doc_id, file_type, sign_type: "hash"}]}
   → {status_code, message, data: {transaction_id, tran_code, expired_in}}; the subscriber is notified.
3. `/v1/signatures/sign/{transaction_id}/status` (empty body), polled
   → {status_code, message, data: {transaction_id, signatures: [{doc_id, signature_value,
   timestamp_signature}] or null while not approved, expired_in}}

Sources: VNPT's integration samples as used by public clients (C# SmartCA769 with VnptHashSignatures,
a .NET client "theo tài liệu v4.0", PHP and NestJS clients, a TypeScript client's tests against VNPT's
Postman collection): the endpoints, field names, the hex `data_to_be_signed`, `sign_type` "hash",
polling until `signatures` is not null, and messages "SUCCESS", "REJECTED", "EXPIRED" agree there.

ASSUMED — not confirmed against VNPT's own published specification (the one place these are listed;
docs/signing.md repeats them):
- A1. `status_code` 0 or 200 means success; any other value (or HTTP >= 400) is an error, `message` says why.
- A2. While the subscriber has not answered, the status call answers `signatures: null` with a message
  other than "REJECTED"/"EXPIRED" (the sandbox says "PENDING"); refusal is "REJECTED", an unanswered
  transaction past `expired_in` is "EXPIRED" (public clients also test "TIMEOUT", "CANCELLED").
- A3. With sign_type "hash", `data_to_be_signed` is the lowercase hex SHA-256 digest and
  `signature_value` the base64 RSA PKCS#1 v1.5 signature over it (DigestInfo SHA-256), i.e. what
  CMS (PAdES) and XML-DSig RSA-SHA256 both need; `file_type` is "pdf" for both our signatures.
- A4. `cert_data` and `chain_data.ca_cert`/`root_cert` are base64 DER (PEM is accepted too).
- A5. The status path takes the `transaction_id` returned by the sign call (not `tran_code`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import quote

import aiohttp
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko.sign.signers import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

from core.text import printable
from receipts.remote.config import AwaitingApproval, RemoteConfig, RemoteSigningError, SigningRefused

TIMEOUT = 30
OK_CODES = (0, 200)  # A1
REFUSED = ("REJECTED", "CANCELLED")  # A2
EXPIRED = ("EXPIRED", "TIMEOUT")  # A2


def _cert(text: str | None) -> asn1_x509.Certificate | None:
    if not text:
        return None
    data = text.encode("ascii")
    if pem.detect(data):
        return asn1_x509.Certificate.load(pem.unarmor(data)[2])
    return asn1_x509.Certificate.load(base64.b64decode(text))  # A4


async def _call(session: aiohttp.ClientSession, url: str, body: dict) -> dict:
    try:
        async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as resp:
            data = await resp.json(content_type=None)
    except (aiohttp.ClientError, ValueError) as e:
        raise RemoteSigningError(f"SmartCA unreachable: {type(e).__name__}") from e
    if resp.status >= 400 or not isinstance(data, dict) or data.get("status_code") not in OK_CODES:
        message = data.get("message") if isinstance(data, dict) else None
        raise RemoteSigningError(f"SmartCA {url.rsplit('/v1/', 1)[-1]}: HTTP {resp.status}, {printable(message)[:300]}")
    return data


class SmartCaSigner(Signer):
    """Each signature is one SmartCA transaction: a hash sent, the subscriber's approval awaited (polling).

    Not approved within `wait_seconds`: AwaitingApproval; refused or expired: SigningRefused. Both leave
    the receipt pending for the issuance retry (receipts.jobs), which asks again.
    """

    def __init__(self, config: RemoteConfig, signing_cert, chain, serial_number: str, *,
                 poll_seconds: float = 3.0, wait_seconds: float = 120.0):
        self.config, self.serial_number = config, serial_number
        self.poll_seconds, self.wait_seconds = poll_seconds, wait_seconds
        store = SimpleCertificateStore()
        store.register(signing_cert)
        store.register_multiple(chain)
        super().__init__(signing_cert=signing_cert, cert_registry=store)

    def _url(self, path: str) -> str:
        return self.config.service_url.rstrip("/") + path

    def _auth(self) -> dict:
        return {"sp_id": self.config.client_id, "sp_password": self.config.client_secret,
                "user_id": self.config.user_id}

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run=False) -> bytes:
        if dry_run:
            return bytes(512)
        if digest_algorithm != "sha256":
            raise RemoteSigningError(f"SmartCA: digest {digest_algorithm} not supported here (SHA-256 only)")
        doc_id = uuid.uuid4().hex
        body = {**self._auth(), "transaction_id": uuid.uuid4().hex, "transaction_desc": "Ký biên lai điện tử",
                "serial_number": self.serial_number,
                "time_stamp": datetime.now(UTC).strftime("%Y%m%d%H%M%SZ"),
                "sign_files": [{"data_to_be_signed": hashlib.sha256(data).hexdigest(),  # A3
                                "doc_id": doc_id, "file_type": "pdf", "sign_type": "hash"}]}
        async with aiohttp.ClientSession() as session:
            started = await _call(session, self._url("/v1/signatures/sign"), body)
            tran = (started.get("data") or {}).get("transaction_id")
            if not tran:
                raise RemoteSigningError("SmartCA sign: no transaction_id in the answer")
            status_url = self._url(f"/v1/signatures/sign/{quote(str(tran), safe='')}/status")  # A5
            deadline = time.monotonic() + self.wait_seconds
            while True:
                answer = await _call(session, status_url, {})
                message = str(answer.get("message") or "").upper()
                sigs = (answer.get("data") or {}).get("signatures")
                if sigs:
                    mine = next((s for s in sigs if s.get("doc_id") == doc_id), sigs[0])
                    try:
                        return base64.b64decode(mine["signature_value"])
                    except (KeyError, TypeError, ValueError) as e:
                        raise RemoteSigningError("SmartCA status: unreadable signature_value") from e
                if message in REFUSED:
                    raise SigningRefused(f"SmartCA: người ký đã từ chối giao dịch {tran}")
                if message in EXPIRED:
                    raise SigningRefused(f"SmartCA: giao dịch {tran} hết hạn, chưa được xác nhận")
                if time.monotonic() >= deadline:
                    raise AwaitingApproval(f"SmartCA: giao dịch {tran} đang chờ người ký xác nhận trên ứng dụng")
                await asyncio.sleep(self.poll_seconds)


async def _open(config: RemoteConfig, poll_seconds: float, wait_seconds: float) -> SmartCaSigner:
    body = {"sp_id": config.client_id, "sp_password": config.client_secret, "user_id": config.user_id,
            "serial_number": config.credential_id, "transaction_id": uuid.uuid4().hex}
    async with aiohttp.ClientSession() as session:
        answer = await _call(session, config.service_url.rstrip("/") + "/v1/credentials/get_certificate", body)
    certs = (answer.get("data") or {}).get("user_certificates") or []
    if config.credential_id:
        certs = [c for c in certs if str(c.get("serial_number", "")).lower() == config.credential_id.lower()]
    if len(certs) != 1:
        serials = ", ".join(str(c.get("serial_number")) for c in certs) or "none"
        raise RemoteSigningError(f"SmartCA: expected one certificate for the user, found {serials}")
    chosen = certs[0]
    try:
        signing_cert = _cert(chosen.get("cert_data"))
        chain_data = chosen.get("chain_data") or {}
        chain = [c for c in (_cert(chain_data.get("ca_cert")), _cert(chain_data.get("root_cert"))) if c is not None]
    except (ValueError, TypeError) as e:
        raise RemoteSigningError("SmartCA: unreadable certificate in get_certificate") from e
    if signing_cert is None:
        raise RemoteSigningError("SmartCA: no cert_data in get_certificate")
    return SmartCaSigner(config, signing_cert, chain, str(chosen.get("serial_number") or ""),
                         poll_seconds=poll_seconds, wait_seconds=wait_seconds)


def open_smartca_signer(config: RemoteConfig, *, poll_seconds: float = 3.0, wait_seconds: float = 120.0) -> SmartCaSigner:
    from receipts.signing_base import run_async

    return run_async(_open(config, poll_seconds, wait_seconds))
