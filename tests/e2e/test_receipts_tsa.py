"""PAdES B-T and beyond: with a time-stamp authority configured, each receipt's signature carries an RFC 3161
token, fetched over HTTP from the sandbox TSA that speaks the real protocol (B-LTA: docs/signing.md)."""

from __future__ import annotations

import io
import shutil
import subprocess

from receipts.issuance import read_pdf, receipt_id_for_payment
from receipts.models import Receipt
from receipts.signing import clear_cache
from receipts.verify import verify_pdf
from tests.receipts.factories import paid_payment


def test_with_a_time_stamp_authority_receipts_are_pades_b_t(live_server, session, settings, tmp_path):
    settings.extra["HCC_SIGNING_TSA_URL"] = f"{live_server}/sandbox/tsa"
    try:
        p = paid_payment(session)
        r = session.get(Receipt, receipt_id_for_payment(session, p.id))
        data = read_pdf(settings, r)
        from pyhanko.pdf_utils.reader import PdfFileReader

        sig = PdfFileReader(io.BytesIO(data)).embedded_signatures[0]
        unsigned = [a["type"].native for a in sig.signer_info["unsigned_attrs"]]
        assert "signature_time_stamp_token" in unsigned  # an RFC 3161 token over the signature
        assert verify_pdf(session, settings, data).valid
        if shutil.which("pdfsig"):
            path = tmp_path / "bt.pdf"
            path.write_bytes(data)
            out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60).stdout
            # The receipt's signature; a document time-stamp (B-LTA, see tests/receipts/test_longevity.py) may follow.
            assert "Signature Validation: Signature is Valid." in out.split("Signature #2:")[0], out
    finally:
        settings.extra.pop("HCC_SIGNING_TSA_URL")
        clear_cache()


def test_the_sandbox_tsa_refuses_what_is_not_a_timestamp_query(client):
    assert client.post("/sandbox/tsa", data=b"x", content_type="text/plain").status_code == 415
    assert client.post("/sandbox/tsa", data=b"x", content_type="application/timestamp-query").status_code == 400
