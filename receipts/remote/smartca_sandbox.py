"""The sandbox VNPT SmartCA service: get_certificate, sign (a transaction the subscriber must approve) and
its status, with the fields of receipts.remote.smartca (and the assumptions listed there).

How the "subscriber" answers is set per user (`set_approval`): "instant" (approved before the first
status check), "polls:N" (approved at the N-th status check), "refuse" (REJECTED), "never" (pending
until `expired_in`, then EXPIRED). Transactions are kept under instance/signing/remote/smartca-tx/.
Routes: api/receipts/sandbox.py under /sandbox/smartca (service URL `<public>/sandbox/smartca`).
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import threading
import time
import uuid
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, utils

from receipts.remote import sandbox_keys

SERVICE = "smartca"
EXPIRES_IN = 300
MODES = re.compile(r"instant|refuse|never|polls:[0-9]{1,3}")
_HEX = re.compile(r"[0-9a-f]{64}")
_TRAN = re.compile(r"[0-9a-f]{32}")
_lock = threading.Lock()


def provision(instance_dir: Path, user_id: str, *, public_url: str, sp_id: str, sp_password: str,
              approval: str = "instant", organisation: str, common_name: str, days: int = 730) -> dict:
    """A SmartCA subscriber (`user_id`, e.g. a CCCD number) at the sandbox, for the service provider sp_id."""
    if not MODES.fullmatch(approval):
        raise ValueError("approval: instant, refuse, never or polls:N")
    return sandbox_keys.provision(instance_dir, SERVICE, user_id, public_url=public_url, organisation=organisation,
                                  common_name=common_name, days=days,
                                  extra={"sp_id": sp_id, "sp_password": sp_password, "approval": approval})


def set_approval(instance_dir: Path, user_id: str, approval: str) -> None:
    if not MODES.fullmatch(approval):
        raise ValueError("approval: instant, refuse, never or polls:N")
    sandbox_keys.update(instance_dir, SERVICE, user_id, approval=approval)


def _answer(status_code: int, message: str, data) -> dict:
    return {"status_code": status_code, "message": message, "data": data}


def _subscriber(instance_dir: Path, body: dict) -> tuple[dict | None, dict | None]:
    """(record, None) when sp_id/sp_password/user_id are right, else (None, error answer)."""
    record = sandbox_keys.load(instance_dir, SERVICE, str(body.get("user_id") or ""))
    if record is None:
        return None, _answer(404, "USER_NOT_FOUND", None)
    if body.get("sp_id") != record["sp_id"] or not hmac.compare_digest(str(body.get("sp_password") or ""),
                                                                       record["sp_password"]):
        return None, _answer(401, "UNAUTHORIZED", None)
    return record, None


def _serial(record: dict) -> str:
    return format(x509.load_pem_x509_certificate(record["cert_pem"].encode()).serial_number, "x")


def get_certificate(instance_dir: Path, body: dict) -> dict:
    record, error = _subscriber(instance_dir, body)
    if error:
        return error
    cert = x509.load_pem_x509_certificate(record["cert_pem"].encode())
    serial = _serial(record)
    if body.get("serial_number") and str(body["serial_number"]).lower() != serial:
        return _answer(200, "SUCCESS", {"user_certificates": []})
    entry = {"service_type": "ESEAL", "service_name": "SmartCA sandbox", "cert_id": f"sandbox-{serial[:12]}",
             "cert_status": "Đang hoạt động", "serial_number": serial, "cert_subject": cert.subject.rfc4514_string(),
             "cert_valid_from": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "cert_valid_to": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "cert_data": base64.b64encode(sandbox_keys.der(record["cert_pem"])).decode(),
             "chain_data": {"ca_cert": base64.b64encode(sandbox_keys.der(record["ca_pem"])).decode(), "root_cert": None},
             "transaction_id": body.get("transaction_id")}
    return _answer(200, "SUCCESS", {"user_certificates": [entry]})


def _tx_path(instance_dir: Path, tran: str) -> Path:
    folder = sandbox_keys.folder(instance_dir, "smartca-tx")
    return folder / f"{tran}.json"


def sign(instance_dir: Path, body: dict) -> dict:
    record, error = _subscriber(instance_dir, body)
    if error:
        return error
    if body.get("serial_number") and str(body["serial_number"]).lower() != _serial(record):
        return _answer(400, "CERTIFICATE_NOT_FOUND", None)
    files = body.get("sign_files")
    if not isinstance(files, list) or not files:
        return _answer(400, "INVALID_SIGN_FILES", None)
    for f in files:
        if not isinstance(f, dict) or f.get("sign_type") != "hash" or not _HEX.fullmatch(str(f.get("data_to_be_signed"))):
            return _answer(400, "INVALID_DATA_TO_BE_SIGNED", None)
    tran = uuid.uuid4().hex
    tx = {"transaction_id": tran, "user_id": record["name"], "client_transaction_id": body.get("transaction_id"),
          "files": [{"doc_id": str(f.get("doc_id") or ""), "hash": f["data_to_be_signed"]} for f in files],
          "polls": 0, "created": time.time(), "approval": record["approval"]}
    _tx_path(instance_dir, tran).write_text(json.dumps(tx))
    return _answer(200, "SUCCESS", {"transaction_id": tran, "tran_code": tran[:8].upper(), "expired_in": EXPIRES_IN})


def status(instance_dir: Path, tran: str) -> dict:
    if not _TRAN.fullmatch(tran or ""):
        return _answer(404, "TRANSACTION_NOT_FOUND", None)
    path = _tx_path(instance_dir, tran)
    with _lock:
        if not path.exists():
            return _answer(404, "TRANSACTION_NOT_FOUND", None)
        tx = json.loads(path.read_text())
        tx["polls"] += 1
        path.write_text(json.dumps(tx))
    left = max(0, int(EXPIRES_IN - (time.time() - tx["created"])))
    mode = tx["approval"]
    if mode == "refuse":
        return _answer(200, "REJECTED", {"transaction_id": tran, "signatures": None, "expired_in": left})
    approved = mode == "instant" or (mode.startswith("polls:") and tx["polls"] >= int(mode.split(":")[1]))
    if not approved:
        message = "EXPIRED" if left == 0 else "PENDING"
        return _answer(200, message, {"transaction_id": tran, "signatures": None, "expired_in": left})
    key = sandbox_keys.private_key(sandbox_keys.load(instance_dir, SERVICE, tx["user_id"]))
    signatures = [{"doc_id": f["doc_id"], "timestamp_signature": None,
                   "signature_value": base64.b64encode(key.sign(bytes.fromhex(f["hash"]), padding.PKCS1v15(),
                                                                utils.Prehashed(hashes.SHA256()))).decode()}
                  for f in tx["files"]]
    return _answer(200, "SUCCESS", {"transaction_id": tran, "signatures": signatures, "expired_in": left})
