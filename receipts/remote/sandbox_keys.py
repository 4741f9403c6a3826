"""Keys held by the sandbox signing services (CSC, SmartCA): the "provider side", never ours in production.

Each sandbox credential is a key and certificate issued by a sandbox CA (core.devcert, development
marker, CRL published for B-LT), stored under instance/signing/remote/ (0600), with what the service
needs to recognise its client. `provision` is what a provider does when a subscriber signs up; tests
and the development set-up call it.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from core.devcert import crl_url, make_ca, make_signing_cert, write_crl

_lock = threading.Lock()
_NAME = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")


def folder(instance_dir: Path, service: str) -> Path:
    path = instance_dir / "signing" / "remote" / service
    path.mkdir(parents=True, exist_ok=True)
    return path


def _ca(instance_dir: Path):
    base = instance_dir / "signing" / "remote"
    base.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = base / "sandbox-ca.key", base / "sandbox-ca.pem"
    if key_path.exists() and cert_path.exists():
        return (serialization.load_pem_private_key(key_path.read_bytes(), password=None),
                x509.load_pem_x509_certificate(cert_path.read_bytes()))
    ca_key, ca_cert = make_ca("HCC sandbox remote signing CA")
    key_path.write_bytes(ca_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    key_path.chmod(0o600)
    cert_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    write_crl(instance_dir, ca_key, ca_cert)
    return ca_key, ca_cert


def provision(instance_dir: Path, service: str, name: str, *, public_url: str, organisation: str,
              common_name: str, extra: dict | None = None, days: int = 730) -> dict:
    """Create (or replace) the sandbox credential `name` of `service`; returns its record (with `cert_pem`)."""
    if not _NAME.fullmatch(name):
        raise ValueError("credential name: letters, digits and _.:@- only")
    with _lock:
        ca_key, ca_cert = _ca(instance_dir)
        key, cert = make_signing_cert(ca_key, ca_cert, organisation, common_name, days=days,
                                      crl_url=crl_url(public_url, ca_cert))
        record = {
            "name": name,
            "key_pem": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode("ascii"),
            "cert_pem": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            "ca_pem": ca_cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            **(extra or {}),
        }
        path = folder(instance_dir, service) / f"{name}.json"
        path.write_text(json.dumps(record))
        path.chmod(0o600)
    return record


def load(instance_dir: Path, service: str, name: str) -> dict | None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return None
    path = folder(instance_dir, service) / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def update(instance_dir: Path, service: str, name: str, **changes) -> None:
    with _lock:
        record = load(instance_dir, service, name)
        if record is None:
            raise KeyError(name)
        record.update(changes)
        path = folder(instance_dir, service) / f"{name}.json"
        path.write_text(json.dumps(record))


def all_records(instance_dir: Path, service: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder(instance_dir, service).glob("*.json"))]


def private_key(record: dict):
    return serialization.load_pem_private_key(record["key_pem"].encode("ascii"), password=None)


def der(pem_text: str) -> bytes:
    return x509.load_pem_x509_certificate(pem_text.encode("ascii")).public_bytes(serialization.Encoding.DER)
