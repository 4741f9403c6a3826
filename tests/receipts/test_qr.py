"""The QR code printed on a receipt takes the citizen to its lookup page.

The page is rendered by Poppler (`pdftoppm`) and the code read by an independent decoder (ZXing C++), so
the test holds whichever encoder drew it (receipts.render: zxing-cpp when installed, segno otherwise).
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from receipts import render
from receipts.issuance import read_pdf, receipt_id_for_payment
from receipts.models import Receipt
from tests.receipts.factories import paid_payment

zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp (pip install zxing-cpp) decodes the QR code")
PIL_Image = pytest.importorskip("PIL.Image")

if shutil.which("pdftoppm") is None:  # pragma: no cover - Poppler is installed by scripts/setup.sh
    pytest.skip("pdftoppm (Poppler) is needed to render the receipt", allow_module_level=True)


def _scanned(pdf: bytes, tmp_path) -> list[str]:
    (tmp_path / "bien-lai.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", str(tmp_path / "bien-lai.pdf"),
                    str(tmp_path / "bien-lai")], check=True, timeout=60)
    image = PIL_Image.open(tmp_path / "bien-lai.png")
    return [r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode]


def test_the_receipts_qr_code_scans_to_its_lookup_address(session, settings, tmp_path):
    p = paid_payment(session, payer_name="Lê Văn Đức")
    r = session.get(Receipt, receipt_id_for_payment(session, p.id))
    assert _scanned(read_pdf(settings, r), tmp_path) == [r.content["lookup_url"]]
    assert r.content["lookup_url"].endswith(f"/r/{r.lookup_code}")


def test_without_zxing_cpp_the_qr_code_drawn_by_segno_scans_the_same(session, settings, tmp_path, monkeypatch):
    monkeypatch.setattr(render, "zxingcpp", None)
    p = paid_payment(session, payer_name="Phạm Thị Ngọc Ánh")
    r = session.get(Receipt, receipt_id_for_payment(session, p.id))
    assert _scanned(read_pdf(settings, r), tmp_path) == [r.content["lookup_url"]]
