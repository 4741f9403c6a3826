"""The sandbox Cloud Signature Consortium service: the endpoints pyHanko's CSC signer calls, to the CSC
API v1.0.4 field names (info, oauth2/token, credentials/list, credentials/info, credentials/authorize,
signatures/signHash), with keys provisioned by receipts.remote.sandbox_keys.

Routes: api/receipts/sandbox.py under /sandbox/csc (service URL `<public>/sandbox/csc`, endpoints at
`/sandbox/csc/csc/v1/...`, token at `/sandbox/csc/oauth2/token`). Tokens and SADs are HMAC-signed and
carry their own expiry, so any worker process answers any request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, utils

from receipts.remote import sandbox_keys

SERVICE = "csc"
RSA = "1.2.840.113549.1.1.1"  # rsaEncryption: the hash algorithm is given in hashAlgo
SHA256_RSA = "1.2.840.113549.1.1.11"
HASHES = {"2.16.840.1.101.3.4.2.1": hashes.SHA256(), "2.16.840.1.101.3.4.2.2": hashes.SHA384(),
          "2.16.840.1.101.3.4.2.3": hashes.SHA512()}
SIGN_ALGOS = {SHA256_RSA: "2.16.840.1.101.3.4.2.1", "1.2.840.113549.1.1.12": "2.16.840.1.101.3.4.2.2",
              "1.2.840.113549.1.1.13": "2.16.840.1.101.3.4.2.3"}
TOKEN_SECONDS = 3600
SAD_SECONDS = 300


class CscError(Exception):
    """An error answer: HTTP status and the CSC error object ({"error", "error_description"})."""

    def __init__(self, status: int, error: str, description: str):
        super().__init__(description)
        self.status, self.body = status, {"error": error, "error_description": description}


def provision(instance_dir: Path, credential_id: str, *, public_url: str, client_id: str, client_secret: str,
              pin: str | None = None, scal: int = 1, organisation: str, common_name: str, days: int = 730) -> dict:
    """A subscriber's credential at the sandbox provider, usable by one OAuth client."""
    return sandbox_keys.provision(instance_dir, SERVICE, credential_id, public_url=public_url,
                                  organisation=organisation, common_name=common_name, days=days,
                                  extra={"client_id": client_id, "client_secret": client_secret, "pin": pin,
                                         "scal": scal})


def _secret(instance_dir: Path) -> bytes:
    path = sandbox_keys.folder(instance_dir, SERVICE).parent / "sandbox-hmac.key"
    if not path.exists():
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()


def _seal(instance_dir: Path, claims: dict) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims, sort_keys=True).encode()).decode().rstrip("=")
    mac = hmac.new(_secret(instance_dir), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def _open(instance_dir: Path, token: str | None, kind: str) -> dict | None:
    if not token or token.count(".") != 1:
        return None
    body, mac = token.split(".")
    if not hmac.compare_digest(mac, hmac.new(_secret(instance_dir), body.encode(), hashlib.sha256).hexdigest()):
        return None
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    if claims.get("kind") != kind or claims.get("exp", 0) < time.time():
        return None
    return claims


def info(base_url: str) -> dict:
    return {"specs": "1.0.4.0", "name": "HCC sandbox CSC", "logo": "", "region": "VN", "lang": "vi-VN",
            "description": "Dịch vụ ký số từ xa thử nghiệm (CSC API)", "authType": ["oauth2client"],
            "oauth2": base_url,
            "methods": ["oauth2/token", "credentials/list", "credentials/info", "credentials/authorize",
                        "signatures/signHash"]}


def token(instance_dir: Path, client_id: str | None, client_secret: str | None, grant_type: str | None) -> dict:
    """oauth2/token, client credentials grant (RFC 6749 §4.4)."""
    if grant_type != "client_credentials":
        raise CscError(400, "unsupported_grant_type", "Only client_credentials is supported by this sandbox")
    known = any(r.get("client_id") == client_id and hmac.compare_digest(str(r.get("client_secret")), client_secret or "")
                for r in sandbox_keys.all_records(instance_dir, SERVICE))
    if not client_id or not known:
        raise CscError(401, "invalid_client", "Invalid client_id or client_secret")
    return {"access_token": _seal(instance_dir, {"kind": "token", "sub": client_id,
                                                 "exp": time.time() + TOKEN_SECONDS}),
            "token_type": "Bearer", "expires_in": TOKEN_SECONDS}


def _client(instance_dir: Path, authorization: str | None) -> str:
    scheme, _, value = (authorization or "").partition(" ")
    claims = _open(instance_dir, value.strip(), "token") if scheme.lower() == "bearer" else None
    if claims is None:
        raise CscError(401, "invalid_token", "The access token is missing, invalid or expired")
    return claims["sub"]


def _credential(instance_dir: Path, client: str, body: dict) -> dict:
    cred_id = body.get("credentialID")
    if not isinstance(cred_id, str) or not cred_id:
        raise CscError(400, "invalid_request", "Missing (or invalid type) string parameter credentialID")
    record = sandbox_keys.load(instance_dir, SERVICE, cred_id)
    if record is None or record.get("client_id") != client:
        raise CscError(400, "invalid_request", "Invalid parameter credentialID")
    return record


def credentials_list(instance_dir: Path, authorization: str | None, body: dict) -> dict:
    client = _client(instance_dir, authorization)
    return {"credentialIDs": [r["name"] for r in sandbox_keys.all_records(instance_dir, SERVICE)
                              if r.get("client_id") == client]}


def _gtime(dt) -> str:
    return dt.strftime("%Y%m%d%H%M%SZ")


def credentials_info(instance_dir: Path, authorization: str | None, body: dict) -> dict:
    record = _credential(instance_dir, _client(instance_dir, authorization), body)
    which = body.get("certificates", "single")
    if which not in ("none", "single", "chain"):
        raise CscError(400, "invalid_request", "Invalid parameter certificates")
    cert = x509.load_pem_x509_certificate(record["cert_pem"].encode())
    chain = {"none": [], "single": [record["cert_pem"]], "chain": [record["cert_pem"], record["ca_pem"]]}[which]
    out = {
        "key": {"status": "enabled", "algo": [SHA256_RSA, RSA], "len": cert.public_key().key_size},
        "cert": {"status": "valid", "certificates": [base64.b64encode(sandbox_keys.der(p)).decode() for p in chain]},
        "authMode": "explicit",
        "SCAL": str(record.get("scal", 1)),
        "multisign": 10,
        "lang": "vi-VN",
    }
    if body.get("certInfo"):
        out["cert"].update({"issuerDN": cert.issuer.rfc4514_string(), "serialNumber": format(cert.serial_number, "x"),
                            "subjectDN": cert.subject.rfc4514_string(),
                            "validFrom": _gtime(cert.not_valid_before_utc), "validTo": _gtime(cert.not_valid_after_utc)})
    out["PIN"] = {"presence": "true" if record.get("pin") else "false", "format": "N", "label": "PIN"}
    return out


def credentials_authorize(instance_dir: Path, authorization: str | None, body: dict) -> dict:
    record = _credential(instance_dir, _client(instance_dir, authorization), body)
    num = body.get("numSignatures")
    if not isinstance(num, int) or num < 1:
        raise CscError(400, "invalid_request", "Missing (or invalid type) integer parameter numSignatures")
    hashes_ = body.get("hash")
    if int(record.get("scal", 1)) == 2 and (not isinstance(hashes_, list) or len(hashes_) != num):
        raise CscError(400, "invalid_request", "Missing (or invalid type) array parameter hash")
    if record.get("pin") and not hmac.compare_digest(str(body.get("PIN") or ""), record["pin"]):
        raise CscError(400, "invalid_pin", "The PIN is invalid")
    sad = _seal(instance_dir, {"kind": "sad", "cred": record["name"], "n": num,
                               "hashes": hashes_ if int(record.get("scal", 1)) == 2 else None,
                               "exp": time.time() + SAD_SECONDS})
    return {"SAD": sad, "expiresIn": SAD_SECONDS}


def sign_hash(instance_dir: Path, authorization: str | None, body: dict) -> dict:
    record = _credential(instance_dir, _client(instance_dir, authorization), body)
    sad = _open(instance_dir, body.get("SAD"), "sad")
    if sad is None or sad["cred"] != record["name"]:
        raise CscError(400, "invalid_request", "Invalid SAD")
    hashes_ = body.get("hash")
    if not isinstance(hashes_, list) or not hashes_ or len(hashes_) > sad["n"]:
        raise CscError(400, "invalid_request", "Missing (or invalid type) array parameter hash")
    if sad["hashes"] is not None and sorted(hashes_) != sorted(sad["hashes"]):
        raise CscError(400, "invalid_request", "Hash values do not match the authorized ones")
    sign_algo = body.get("signAlgo")
    hash_oid = body.get("hashAlgo") or SIGN_ALGOS.get(sign_algo)
    if sign_algo not in (RSA, *SIGN_ALGOS) or hash_oid not in HASHES:
        raise CscError(400, "invalid_request", "Invalid parameter signAlgo or hashAlgo")
    if sign_algo in SIGN_ALGOS and SIGN_ALGOS[sign_algo] != hash_oid:
        raise CscError(400, "invalid_request", "signAlgo and hashAlgo do not agree")
    algo = HASHES[hash_oid]
    key = sandbox_keys.private_key(record)
    out = []
    for h in hashes_:
        try:
            digest = base64.b64decode(h, validate=True)
        except (ValueError, TypeError) as e:
            raise CscError(400, "invalid_request", "Invalid base64 hash value") from e
        if len(digest) != algo.digest_size:
            raise CscError(400, "invalid_request", "Hash length does not match hashAlgo")
        out.append(base64.b64encode(key.sign(digest, padding.PKCS1v15(), utils.Prehashed(algo))).decode())
    return {"signatures": out}


__all__ = ["CscError", "credentials_authorize", "credentials_info", "credentials_list", "info",
           "provision", "sign_hash", "token"]
