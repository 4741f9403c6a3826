"""Labels as carriers print them: the carrier's own label where it gives one, else ours, A6 with the
tracking code as a Code 128 barcode a 203 dpi thermal printer prints and a scanner reads back.

The barcode is read by an independent decoder (ZXing C++, `zxing-cpp`) from the page rendered by
Poppler's `pdftoppm` at the printer's 203 dpi, not by our own code.
"""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest
from pypdf import PdfReader

from core.clock import utcnow
from postal import documents
from postal.shipments import create_batch
from tests.factories import bearer, make_api_key
from tests.postal.factories import STAFF, make_shipment

zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp (pip install zxing-cpp) decodes the barcodes")
PIL_Image = pytest.importorskip("PIL.Image")

if shutil.which("pdftoppm") is None:  # pragma: no cover - Poppler is installed by scripts/setup.sh
    pytest.skip("pdftoppm (Poppler) is needed to render labels", allow_module_level=True)


@pytest.fixture
def hcc_settings(app):
    return app.extensions["hcc"].settings


def _render(pdf: bytes, tmp_path, dpi: int = 203):
    (tmp_path / "label.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", "-singlefile", "-mono", str(tmp_path / "label.pdf"),
                    str(tmp_path / "label")], check=True, timeout=60)
    return PIL_Image.open(tmp_path / "label.png")


def _text(pdf: bytes) -> str:
    """The page's words on one line (a long name wraps inside its block)."""
    return " ".join(PdfReader(io.BytesIO(pdf)).pages[0].extract_text().split())


def _decoded(image) -> list[tuple[str, str]]:
    return [(r.format.name, r.text) for r in zxingcpp.read_barcodes(image)]


def _without_carrier_label(session, settings, **kwargs):
    s = make_shipment(session, settings, **kwargs)
    s.label_fetched_at, s.flags = utcnow(), ["label_unavailable"]  # asked; the carrier has none
    session.commit()
    return s


def test_our_label_is_a6_and_its_barcode_reads_back_as_the_tracking_code(session, hcc_settings, tmp_path):
    s = _without_carrier_label(session, hcc_settings, tracking_code="EB123456789VN")
    pdf = documents.shipment_label(s)
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    width_mm, height_mm = (float(x) * 25.4 / 72 for x in (page.mediabox.width, page.mediabox.height))
    assert round(width_mm) == 100 and round(height_mm) == 150
    assert _decoded(_render(pdf, tmp_path)) == [("Code128", "EB123456789VN")]


def test_the_barcode_is_sized_for_a_203_dpi_printer(session, hcc_settings, tmp_path):
    s = _without_carrier_label(session, hcc_settings, tracking_code="GHNX7K9P2Q")
    image = _render(documents.shipment_label(s), tmp_path).convert("L")
    (result,) = zxingcpp.read_barcodes(image)
    pos = result.position
    left, right = min(pos.top_left.x, pos.bottom_left.x), max(pos.top_right.x, pos.bottom_right.x)
    # At 203 dpi a module of 2 dots or more: the narrowest bar is at least 2 pixels wide.
    row = [image.getpixel((x, (pos.top_left.y + pos.bottom_left.y) // 2)) < 128 for x in range(left, right + 1)]
    runs, count = [], 1
    for a, b in zip(row, row[1:], strict=False):
        if a == b:
            count += 1
        else:
            runs.append(count)
            count = 1
    assert min(runs) >= 2
    # Bars at least 15 mm high (120 dots), quiet zones of at least 10 modules of white on each side.
    column = [image.getpixel((left + 1, y)) < 128 for y in range(image.height)]
    assert sum(column) >= 15 * 203 / 25.4
    y = (pos.top_left.y + pos.bottom_left.y) // 2
    module = min(runs)
    assert all(image.getpixel((x, y)) >= 128 for x in range(left - 10 * module, left))
    assert all(image.getpixel((x, y)) >= 128 for x in range(right + 1, right + 1 + 10 * module))


def test_a_long_tracking_code_still_fits_and_reads(session, hcc_settings, tmp_path):
    code = "VTP" + "1234567890" * 2 + "ABCD"
    s = _without_carrier_label(session, hcc_settings, tracking_code=code)
    assert _decoded(_render(documents.shipment_label(s), tmp_path)) == [("Code128", code)]


def test_our_label_names_sender_and_recipient_and_escapes_what_they_typed(session, hcc_settings, tmp_path):
    s = _without_carrier_label(session, hcc_settings, tracking_code="G000000077", cod_amount=45_000)
    s.recipient_name = "Trần <b>Thị</b> & Bình"
    session.commit()
    text = _text(documents.shipment_label(s))
    assert "NGƯỜI GỬI — ĐỊA CHỈ HOÀN TRẢ" in text and s.centre.name in text
    assert "NGƯỜI NHẬN" in text and "Trần <b>Thị</b> & Bình" in text and "Nguyễn Trãi" in text
    assert "45.000" in text and s.dossier_code in text


def test_a_dossier_pickup_label_sends_the_parcel_to_the_centre(session, hcc_settings, tmp_path):
    s = _without_carrier_label(session, hcc_settings, tracking_code="G000000078", direction="inbound")
    text = _text(documents.shipment_label(s))
    assert text.index("NGƯỜI GỬI (người dân)") < text.index("Trần Thị Bình")
    assert text.index("NƠI NHẬN HỒ SƠ") < text.rindex(s.centre.name)


def test_the_carriers_own_label_is_printed_as_it_gave_it(session, hcc_settings, client):
    s = make_shipment(session, hcc_settings, tracking_code="G000000079")
    own = documents.own_label_pdf(s)  # any PDF stands in for the carrier's
    s.label_pdf, s.label_fetched_at = b"%PDF-1.4 carrier label", utcnow()
    session.commit()
    assert documents.shipment_label(s) == b"%PDF-1.4 carrier label" != own
    resp = client.get(f"/api/v1/shipments/{s.id}/label", headers=bearer(make_api_key(session)))
    assert resp.status_code == 200 and resp.data == b"%PDF-1.4 carrier label"


def test_no_label_is_printed_while_the_carriers_is_awaited(session, hcc_settings, client):
    s = make_shipment(session, hcc_settings, tracking_code="G000000080")
    key = make_api_key(session)
    assert documents.shipment_label(s) is None
    assert client.get(f"/api/v1/shipments/{s.id}/label", headers=bearer(key)).status_code == 404
    s.label_fetched_at = utcnow()  # asked: the carrier has none, so ours is printed
    session.commit()
    resp = client.get(f"/api/v1/shipments/{s.id}/label", headers=bearer(key))
    assert resp.status_code == 200 and resp.data.startswith(b"%PDF")
    assert client.get(f"/api/v1/shipments/{s.id}", headers=bearer(key)).get_json()["has_label"] is True


def test_a_batch_prints_carrier_labels_and_ours_in_one_file(session, hcc_settings, tmp_path):
    first = _without_carrier_label(session, hcc_settings, tracking_code="G000000081")
    second = make_shipment(session, hcc_settings, tracking_code="G000000082", dossier_code="H26-2")
    second.label_pdf, second.label_fetched_at = documents.own_label_pdf(second), utcnow()
    session.commit()
    batch = create_batch(session, first.centre, [first.id, second.id], actor=STAFF)
    session.commit()
    pdf = documents.labels_pdf(batch.shipments)
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 2
    assert {t for _f, t in _decoded(_render(pdf, tmp_path))} == {"G000000081"}  # -singlefile: first page
