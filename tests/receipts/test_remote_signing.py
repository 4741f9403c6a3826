"""Remote signing, the third kind of signing credential: the unit's key stays with the provider.

A unit on a Cloud Signature Consortium service (through pyHanko's CSC signer) and a unit on VNPT
SmartCA (the subscriber approves in the app) each get receipts whose PAdES signature pdfsig accepts
and whose embedded XML signature verifies; a refused or unanswered SmartCA request leaves the receipt
pending, retried by the sweep, never issued unsigned. The providers are the sandboxes, over HTTP.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import requests
from sqlalchemy import select

from core import jobs
from core.errors import InvalidInput
from province.models import Credential
from receipts.issuance import read_pdf, receipt_id_for_payment
from receipts.models import Receipt
from receipts.remote import csc_sandbox, set_unit_remote, smartca_sandbox
from receipts.signing import clear_cache
from receipts.verify import verify_pdf
from tests.receipts.factories import demo_unit, paid_payment

ORG = "Trung tâm Phục vụ hành chính công tỉnh Bắc Ninh"


@pytest.fixture
def live_server(live_server):
    """The app over real HTTP (tests/conftest.py); the remote signers' cache emptied afterwards."""
    yield live_server
    clear_cache()


@pytest.fixture
def smartca_unit(live_server, session, settings):
    """The demo unit signing through SmartCA; returns a function setting how the subscriber answers."""
    settings.extra["HCC_SMARTCA_POLL_SECONDS"] = "0.02"
    settings.extra["HCC_SMARTCA_WAIT_SECONDS"] = "0.3"
    smartca_sandbox.provision(settings.instance_dir, "001089000123", public_url=live_server, sp_id="hcc-sp",
                              sp_password="sp-secret", organisation=ORG, common_name="Ký biên lai SmartCA")
    set_unit_remote(session, settings, demo_unit(session), protocol="smartca",
                    service_url=f"{live_server}/sandbox/smartca", client_id="hcc-sp", client_secret="sp-secret",
                    user_id="001089000123")
    session.commit()
    yield lambda mode: smartca_sandbox.set_approval(settings.instance_dir, "001089000123", mode)
    settings.extra.pop("HCC_SMARTCA_POLL_SECONDS")
    settings.extra.pop("HCC_SMARTCA_WAIT_SECONDS")


def _issued(session, settings, payment) -> bytes:
    r = session.get(Receipt, receipt_id_for_payment(session, payment.id))
    assert r.status == "issued", r.last_error
    return read_pdf(settings, r)


def _xml_verified_by_xmlsec1(tmp_path, settings, data: bytes) -> None:
    """The embedded XML's signature, checked independently by xmlsec1 against the provider's CA."""
    import io

    from lxml import etree
    from pyhanko.pdf_utils.reader import PdfFileReader

    from receipts.verify import _embedded_xml

    if not shutil.which("xmlsec1"):
        return
    xml = _embedded_xml(PdfFileReader(io.BytesIO(data)))
    doc, ca = tmp_path / "receipt.xml", tmp_path / "ca.pem"
    doc.write_bytes(xml)
    ca.write_bytes((settings.instance_dir / "signing" / "remote" / "sandbox-ca.pem").read_bytes())
    ids = sorted({etree.QName(el).localname for el in etree.fromstring(xml).iter() if el.get("Id")})
    args = [a for name in ids for a in ("--id-attr:Id", name)]
    out = subprocess.run(["xmlsec1", "--verify", "--trusted-pem", str(ca), *args, str(doc)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def _accepted_by_pdfsig(tmp_path, data: bytes) -> None:
    if not shutil.which("pdfsig"):
        return
    path = tmp_path / "receipt.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60).stdout
    assert "Signature Validation: Signature is Valid." in out and "Total document signed" in out, out


def test_a_unit_on_a_csc_service_gets_receipts_signed_by_the_provider(live_server, session, settings, tmp_path):
    cert = csc_sandbox.provision(settings.instance_dir, "bn-hcc-01", public_url=live_server, client_id="hcc-client",
                                 client_secret="client-secret", pin="246810", organisation=ORG,
                                 common_name="Ký biên lai CSC")
    unit = set_unit_remote(session, settings, demo_unit(session), protocol="csc",
                           service_url=f"{live_server}/sandbox/csc", client_id="hcc-client",
                           client_secret="client-secret", credential_id="bn-hcc-01", pin="246810")
    session.commit()
    assert unit.signing_kind == "remote" and "Ký biên lai CSC" in unit.cert_subject
    stored = session.scalar(select(Credential).where(Credential.owner_type == "unit", Credential.owner_id == unit.id,
                                                     Credential.name == "signing_remote"))
    assert "client-secret" not in stored.ciphertext and "246810" not in stored.ciphertext  # kept encrypted

    data = _issued(session, settings, paid_payment(session))
    result = verify_pdf(session, settings, data)
    assert result.valid, result.reasons  # the PAdES signature and the embedded XML signature
    assert "Ký biên lai CSC" in result.signer
    assert cert["cert_pem"]  # the key itself never left the sandbox provider's folder
    _accepted_by_pdfsig(tmp_path, data)
    _xml_verified_by_xmlsec1(tmp_path, settings, data)


def test_a_wrong_csc_pin_leaves_the_receipt_pending(live_server, session, settings):
    csc_sandbox.provision(settings.instance_dir, "bn-hcc-02", public_url=live_server, client_id="hcc-client",
                          client_secret="client-secret", pin="246810", organisation=ORG, common_name="Ký CSC")
    set_unit_remote(session, settings, demo_unit(session), protocol="csc", service_url=f"{live_server}/sandbox/csc",
                    client_id="hcc-client", client_secret="client-secret", credential_id="bn-hcc-02", pin="000000")
    session.commit()
    p = paid_payment(session)
    r = session.get(Receipt, receipt_id_for_payment(session, p.id))
    assert r.status == "pending" and r.storage_key is None
    assert "invalid_pin" in r.last_error


def test_a_unit_on_smartca_gets_receipts_once_the_subscriber_approves(smartca_unit, session, settings, tmp_path,
                                                                        monkeypatch):
    smartca_unit("polls:2")  # approved in the app while we poll
    data = _issued(session, settings, paid_payment(session))
    result = verify_pdf(session, settings, data)
    assert result.valid, result.reasons
    assert "Ký biên lai SmartCA" in result.signer
    _accepted_by_pdfsig(tmp_path, data)
    _xml_verified_by_xmlsec1(tmp_path, settings, data)

    # Verifying never waits on the provider: the chain was kept when the service was set.
    import receipts.remote

    def unreachable(*_a, **_k):
        raise receipts.remote.RemoteSigningError("SmartCA unreachable")

    monkeypatch.setattr(receipts.remote, "open_remote_signer", unreachable)
    clear_cache()
    assert verify_pdf(session, settings, data).valid


@pytest.mark.parametrize(("mode", "why"), [("refuse", "từ chối"), ("never", "đang chờ")])
def test_a_refused_or_unanswered_smartca_request_leaves_the_receipt_pending_and_retried(
        smartca_unit, session, settings, mode, why):
    smartca_unit(mode)
    p = paid_payment(session)
    r = session.get(Receipt, receipt_id_for_payment(session, p.id))
    assert r.status == "pending" and r.storage_key is None and r.sha256 is None  # never issued unsigned
    assert why in r.last_error
    smartca_unit("instant")  # the subscriber approves the next request
    assert jobs.sweep()["sweep_receipts"] >= 1
    session.expire_all()
    r = session.get(Receipt, r.id)
    assert r.status == "issued"
    assert verify_pdf(session, settings, read_pdf(settings, r)).valid


def test_setting_a_remote_service_that_does_not_know_the_unit_stores_nothing(live_server, session, settings):
    unit = demo_unit(session)
    with pytest.raises(InvalidInput):
        set_unit_remote(session, settings, unit, protocol="smartca", service_url=f"{live_server}/sandbox/smartca",
                        client_id="hcc-sp", client_secret="sp-secret", user_id="079000000000")
    with pytest.raises(InvalidInput):
        set_unit_remote(session, settings, unit, protocol="csc", service_url=f"{live_server}/sandbox/csc",
                        client_id="nobody", client_secret="x", credential_id="nothing")
    assert unit.signing_kind != "remote"
    assert session.scalar(select(Credential).where(Credential.name == "signing_remote")) is None


def test_the_csc_sandbox_speaks_the_csc_error_model(live_server, settings):
    csc_sandbox.provision(settings.instance_dir, "bn-hcc-03", public_url=live_server, client_id="hcc-client",
                          client_secret="client-secret", organisation=ORG, common_name="Ký CSC")
    base = f"{live_server}/sandbox/csc"
    bad = requests.post(f"{base}/oauth2/token", data={"grant_type": "client_credentials", "client_id": "hcc-client",
                                                     "client_secret": "wrong"}, timeout=10)
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    token = requests.post(f"{base}/oauth2/token", auth=("hcc-client", "client-secret"),
                          data={"grant_type": "client_credentials"}, timeout=10).json()["access_token"]
    assert requests.post(f"{base}/csc/v1/credentials/info", json={"credentialID": "bn-hcc-03"},
                         timeout=10).status_code == 401
    auth = {"Authorization": f"Bearer {token}"}
    assert requests.post(f"{base}/csc/v1/credentials/list", json={}, headers=auth, timeout=10).json() == {
        "credentialIDs": ["bn-hcc-03"]}
    info = requests.post(f"{base}/csc/v1/credentials/info", json={"credentialID": "bn-hcc-03", "certificates": "chain",
                                                                 "certInfo": True}, headers=auth, timeout=10).json()
    assert len(info["cert"]["certificates"]) == 2 and info["key"]["status"] == "enabled"
    sad = requests.post(f"{base}/csc/v1/credentials/authorize", json={"credentialID": "bn-hcc-03", "numSignatures": 1},
                        headers=auth, timeout=10).json()["SAD"]
    too_many = requests.post(f"{base}/csc/v1/signatures/signHash", headers=auth, timeout=10, json={
        "credentialID": "bn-hcc-03", "SAD": sad, "hash": ["A" * 43 + "=", "B" * 43 + "="],
        "hashAlgo": "2.16.840.1.101.3.4.2.1", "signAlgo": "1.2.840.113549.1.1.1"})
    assert too_many.status_code == 400 and too_many.json()["error"] == "invalid_request"


def test_the_sandbox_providers_sign_up_subscribers_and_the_app_answers(client, settings):
    """Sandbox-only controls: a CSC credential and a SmartCA subscriber created over HTTP, the app's answer set."""
    made = client.post("/sandbox/csc/_credentials", json={"credentialID": "dev-01", "client_id": "dev",
                                                          "client_secret": "dev-secret", "PIN": "1234"})
    assert made.status_code == 200 and "BEGIN CERTIFICATE" in made.json["certificate"]
    assert client.post("/sandbox/csc/_credentials", json={"credentialID": "../x", "client_id": "a",
                                                         "client_secret": "b"}).status_code == 400
    sub = client.post("/sandbox/smartca/_subscribers", json={"user_id": "001089000999", "sp_id": "dev-sp",
                                                             "sp_password": "dev-pw", "approval": "polls:3"})
    assert sub.status_code == 200 and sub.json["approval"] == "polls:3"
    assert client.post("/sandbox/smartca/_subscribers/001089000999/approval",
                       json={"approval": "refuse"}).status_code == 200
    assert client.post("/sandbox/smartca/_subscribers/001089000998/approval",
                       json={"approval": "refuse"}).status_code == 404
    assert client.post("/sandbox/smartca/_subscribers/001089000999/approval",
                       json={"approval": "maybe"}).status_code == 400
    cert = client.post("/sandbox/smartca/v1/credentials/get_certificate", json={
        "sp_id": "dev-sp", "sp_password": "dev-pw", "user_id": "001089000999", "serial_number": "",
        "transaction_id": "t1"}).json
    assert cert["status_code"] == 200 and len(cert["data"]["user_certificates"]) == 1
    wrong = client.post("/sandbox/smartca/v1/credentials/get_certificate", json={
        "sp_id": "dev-sp", "sp_password": "nope", "user_id": "001089000999", "serial_number": "", "transaction_id": "t2"})
    assert wrong.status_code == 400 and wrong.json["status_code"] != 200
