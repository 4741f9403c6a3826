"""A province goes live from its file: import, keys, a key of one centre, a payment for two units paid
through the VNPAY sandbox, and two receipts, each its own unit's, signed with the unit's certificate.

The province file is the README's example (docs/province-example.yaml). The district centre PVHCC-KB
collects for the ward People's Committee (UBND-KB) and for the Department of Agriculture and Environment
(SNNMT); neither has a VNPAY merchant of its own, so the citizen pays both in one VNPAY order.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlalchemy import select

from api.cli import main
from core.accounts import create_api_client
from core.clock import local_day
from core.devcert import make_ca, make_signing_cert
from core.models import Centre
from province.models import CollectingUnit, ReceiptSeries
from province.series import register_series
from province.units import set_signing_pkcs12
from tests.factories import bearer

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "province-example.yaml"

pytestmark = pytest.mark.skipif(not all(shutil.which(x) for x in ("pdfsig", "pdftotext")), reason="poppler-utils")


def unit_pkcs12(name: str, common_name: str) -> bytes:
    ca_key, ca_cert = make_ca(f"CA {common_name}", development=False)
    key, cert = make_signing_cert(ca_key, ca_cert, name, common_name, development=False)
    return pkcs12.serialize_key_and_certificates(b"k", key, cert, [ca_cert], serialization.BestAvailableEncryption(b"pw"))


@pytest.fixture
def province(app, session, settings):
    runner = app.test_cli_runner()
    first = runner.invoke(main, args=["province", "import", str(EXAMPLE)])
    assert first.exit_code == 0, first.output
    again = runner.invoke(main, args=["province", "import", str(EXAMPLE)])
    assert again.exit_code == 0 and "không có thay đổi" in again.output.lower(), again.output
    year = local_day().year
    for code in ("UBND-KB", "SNNMT"):
        unit = session.scalars(select(CollectingUnit).where(CollectingUnit.code == code)).one()
        # The example registers 2026's (and 2027's) series; a later run of this test registers its own year's.
        if not session.scalars(select(ReceiptSeries).where(ReceiptSeries.unit_id == unit.id,
                                                           ReceiptSeries.year == year)).first():
            register_series(session, unit, "EBL01", f"{year % 100:02d}T", year, registered_on=date(year, 1, 1))
        set_signing_pkcs12(session, settings, unit, unit_pkcs12(unit.name, f"Ký biên lai {code}"), b"pw")
    centre = session.scalars(select(Centre).where(Centre.code == "PVHCC-KB")).one()
    _client, key = create_api_client(session, centre, "Hệ thống một cửa phường Kinh Bắc", ["cashier"])
    session.commit()
    return key


def test_a_payment_for_two_units_paid_through_vnpay_yields_each_unit_its_signed_receipt(
        live_server, province, session, tmp_path):
    key = province
    created = requests.post(f"{live_server}/api/v1/payments", headers=bearer(key), timeout=10, json={
        "dossier_code": "000.00.24.H06-261202-0007",
        "payer": {"name": "Nguyễn Thị Hoa", "phone": "0912345678",
                  "address": "Số 8 đường Ngô Gia Tự, phường Kinh Bắc, tỉnh Bắc Ninh"},
        "items": [{"fee_code": "CT-BANSAO", "quantity": 3}, {"fee_code": "DD-LP-GCN", "quantity": 1}]})
    assert created.status_code == 201, created.text
    payment = created.json()
    assert payment["amount"] == 3 * 2_000 + 100_000
    # SNNMT has a bank account of its own and UBND-KB none: a transfer cannot go to both, so VietQR is
    # withdrawn; VNPAY, MoMo and ZaloPay go through the deployment's merchant for both.
    assert payment["allowed_channels"] == ["vnpay", "momo", "zalopay"] and payment["vietqr"] is None

    http = requests.Session()
    start = http.post(f"{live_server}/pay/{payment['code']}/vnpay", allow_redirects=False, timeout=10)
    assert start.status_code == 302, start.text
    query = urlsplit(start.headers["Location"]).query
    done = http.post(f"{live_server}/sandbox/vnpay/paymentv2/pay", data={"query": query, "action": "pay"}, timeout=30)
    assert done.status_code == 200 and "Đã thanh toán" in done.text

    got = requests.get(f"{live_server}/api/v1/payments/{payment['id']}", headers=bearer(key), timeout=10).json()
    assert got["status"] == "paid"
    receipts = sorted(got["receipts"], key=lambda r: r["unit_code"])
    assert [r["unit_code"] for r in receipts] == ["SNNMT", "UBND-KB"]
    year = local_day().year
    for entry in receipts:
        assert entry["status"] == "issued" and entry["number"] == "0000001"
        assert entry["symbol"] == f"{year % 100:02d}T"
        receipt = requests.get(f"{live_server}/api/v1/receipts/{entry['id']}", headers=bearer(key), timeout=10).json()
        unit = session.scalars(select(CollectingUnit).where(CollectingUnit.code == entry["unit_code"])).one()
        assert receipt["unit"] == {"code": unit.code, "name": unit.name, "tax_code": unit.tax_code}
        pdf = requests.get(f"{live_server}/api/v1/receipts/{entry['id']}/pdf", headers=bearer(key), timeout=10)
        assert pdf.status_code == 200 and pdf.headers["Content-Type"].startswith("application/pdf")
        path = tmp_path / f"{unit.code}.pdf"
        path.write_bytes(pdf.content)
        text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, timeout=60).stdout
        assert unit.tax_code in text and unit.name.upper() in text.upper()
        signature = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60).stdout
        assert "Signature is Valid." in signature
        assert f"Signer Certificate Common Name: Ký biên lai {unit.code}" in signature
