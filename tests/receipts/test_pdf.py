"""The receipt file as outside tools see it: Poppler, qpdf, the embedded signed XML; and forged files."""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from core.devcert import make_ca, make_signing_cert
from receipts.issuance import produce_pdf, read_pdf, receipt_id_for_payment
from receipts.models import Receipt
from receipts.signing import clear_cache, load_signer
from receipts.verify import _embedded_xml, verify_pdf
from receipts.xmldata import read_fields, verify_xml
from tests.receipts.factories import paid_payment

needs = pytest.mark.skipif(not all(shutil.which(x) for x in ("pdfsig", "pdftotext", "qpdf")),
                           reason="poppler-utils and qpdf are installed by scripts/setup.sh")


@pytest.fixture
def issued(session, settings, tmp_path):
    p = paid_payment(session, payer_name="Trần Thị Thu Hương",
                     payer_address="Số 5 ngõ 18 phố Huỳnh Thúc Kháng, phường Láng, thành phố Hà Nội")
    r = session.get(Receipt, receipt_id_for_payment(session, p.id))
    path = tmp_path / "bien-lai.pdf"
    path.write_bytes(read_pdf(settings, r))
    return r, path


def _run(*args) -> str:
    return subprocess.run(args, capture_output=True, text=True, timeout=60).stdout


@needs
def test_pdfsig_says_valid_and_whole_document_signed(issued):
    _r, path = issued
    out = _run("pdfsig", str(path))
    assert "Signature is Valid." in out
    assert "Total document signed" in out
    assert "ETSI.CAdES.detached" in out  # PAdES


@needs
def test_pdftotext_recovers_every_legal_field_with_diacritics(issued):
    r, path = issued
    layout = _run("pdftotext", "-layout", str(path), "-")
    text = " ".join(layout.split())
    # In reading order (no -layout) the organisation's block is not interleaved with the series block.
    reading = " ".join(_run("pdftotext", str(path), "-").split())
    c = r.content
    for expected in (c["organisation"]["name"].upper(), f"Địa chỉ: {c['organisation']['address']}",
                     f"Địa chỉ: {c['payer']['address']}"):
        assert expected in reading, expected
    # Each fee line on its own row: number, name, phí or lệ phí, amount with Vietnamese grouping.
    rows = [" ".join(line.split()) for line in layout.splitlines()]
    assert "1 Lệ phí cấp bản sao trích lục hộ tịch (x2) Lệ phí 16.000" in rows
    assert "2 Phí thẩm định hồ sơ đăng ký kinh doanh Phí 184.000" in rows
    assert "Tổng cộng 200.000" in rows
    for expected in ("BIÊN LAI THU PHÍ, LỆ PHÍ", f"Ký hiệu mẫu: {r.template}", f"Ký hiệu: {r.symbol}",
                     f"Số: {r.number_text}", "TRUNG TÂM PHỤC VỤ HÀNH CHÍNH CÔNG", f"Mã số thuế: {c['organisation']['tax_code']}",
                     "Họ và tên người nộp: Trần Thị Thu Hương", "phường Láng", "Lệ phí cấp bản sao trích lục hộ tịch",
                     "Phí thẩm định hồ sơ đăng ký kinh doanh", "Lệ phí", "16.000", "184.000", "200.000",
                     "Số tiền bằng chữ: Hai trăm nghìn đồng", f"Ngày thu: {c['collected_local']}",
                     "Hình thức thanh toán: Cổng thanh toán VNPAY", f"Mã giao dịch: {r.channel_ref}",
                     f"Mã tra cứu: {r.lookup_code}", f"/r/{r.lookup_code}"):
        assert expected in text, expected
    # Under the signature, as the sample form: the Vietnamese date and the collector (paid online: the unit).
    yyyy, mm, dd = c["collected_day"].split("-")
    for expected in (f"Ngày {dd} tháng {mm} năm {yyyy}", "NGƯỜI THU TIỀN", "(Ký bằng chữ ký số)"):
        assert expected in text, expected
    assert c["collector"] == c["organisation"]["name"]
    # Circular 32/2025 shape: template EBL01, symbol the year's two digits and T (the demo unit's series).
    assert (r.template, r.symbol) == ("EBL01", f"{r.year % 100:02d}T")


@needs
def test_qpdf_finds_no_errors(issued):
    _r, path = issued
    res = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "No syntax or stream encoding errors" in res.stdout


def test_the_embedded_xml_is_extractable_and_its_signature_validates(issued, settings):
    from pyhanko.pdf_utils.reader import PdfFileReader

    r, path = issued
    with path.open("rb") as f:
        xml = _embedded_xml(PdfFileReader(io.BytesIO(f.read())))
    assert xml is not None and "Trần Thị Thu Hương".encode() in xml
    fields = read_fields(verify_xml(xml, load_signer(settings).cert_pem()))
    assert fields == {"template": r.template, "symbol": r.symbol, "number": r.number_text,
                      "lookup_code": r.lookup_code, "total": "200000"}
    tampered = xml.replace(b"<TgTTTBSo>200000</TgTTTBSo>", b"<TgTTTBSo>900000</TgTTTBSo>")
    assert tampered != xml
    from receipts.xmldata import XmlReceiptError

    with pytest.raises(XmlReceiptError):
        verify_xml(tampered, load_signer(settings).cert_pem())


def test_a_genuine_receipt_verifies(session, settings, issued):
    _r, path = issued
    result = verify_pdf(session, settings, path.read_bytes())
    assert result.valid and result.reasons == []


def test_a_receipt_signed_by_another_key_is_invalid(session, settings, issued, tmp_path):
    """A forger with their own CA re-issues our exact content: the signature is not ours."""
    r, _path = issued
    ca_key, ca_cert = make_ca("Forged CA", development=False)
    key, cert = make_signing_cert(ca_key, ca_cert, "Đơn vị giả mạo", "Ký giả", development=False)
    p12 = tmp_path / "forged.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(b"x", key, cert, [ca_cert],
                                                          serialization.BestAvailableEncryption(b"pw")))
    forged_settings = type(settings).from_env(environ={}, instance_dir=tmp_path / "f", signing_pkcs12=p12,
                                              signing_pkcs12_password="pw")
    forged = produce_pdf(forged_settings, r.content).data
    clear_cache()
    result = verify_pdf(session, settings, forged)
    assert not result.valid
    assert "untrusted-signer" in result.codes
    assert "not-our-record" in result.codes


def test_a_pdf_without_signature_or_not_a_pdf_is_invalid(session, settings, issued):
    from receipts.render import render_pdf

    r, _ = issued
    assert verify_pdf(session, settings, render_pdf(r.content)).codes == ["no-signature"]
    assert verify_pdf(session, settings, b"hello").codes == ["not-a-pdf"]


def test_content_appended_after_signing_is_reported(session, settings, issued):
    _r, path = issued
    data = path.read_bytes() + b"\n% appended\n1 0 obj\n<<>>\nendobj\n"
    result = verify_pdf(session, settings, data)
    assert not result.valid
    assert "not-whole-document" in result.codes, result.reasons



def test_containers_built_from_the_template_validate_like_pyhankos_own(session, settings):
    """The first signature goes through pyHanko in full; later ones reuse its container as a template."""
    clear_cache()
    first = paid_payment(session)
    signer = load_signer(settings)
    assert signer.cms_template is not None
    second = paid_payment(session)
    for p in (first, second):
        r = session.get(Receipt, receipt_id_for_payment(session, p.id))
        assert verify_pdf(session, settings, read_pdf(settings, r)).valid


@needs
def test_a_name_outside_the_vietnamese_alphabet_still_renders(issued, tmp_path):
    """The font subset is fixed (ASCII and Vietnamese); any other character extends it for that file."""
    from receipts.render import render_pdf

    r, _ = issued
    for name in ("Ñúñez Øster Æbelø", "Đỗ Thị Quỳnh Như"):
        content = {**r.content, "payer": {"name": name, "address": "Ấp Mỹ Phước, xã Tân Hưng"}}
        path = tmp_path / "x.pdf"
        path.write_bytes(render_pdf(content))
        text = " ".join(_run("pdftotext", str(path), "-").split())
        assert f"Họ và tên người nộp: {name}" in text
        assert "Địa chỉ: Ấp Mỹ Phước, xã Tân Hưng" in text


def _forge(settings, content: dict, tmp_path) -> bytes:
    """Our exact content, signed by a forger's own CA and key."""
    ca_key, ca_cert = make_ca("Forged CA 2", development=False)
    key, cert = make_signing_cert(ca_key, ca_cert, "Đơn vị giả mạo", "Ký giả", development=False)
    p12 = tmp_path / "forged2.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(b"x", key, cert, [ca_cert],
                                                          serialization.BestAvailableEncryption(b"pw")))
    forged = produce_pdf(type(settings).from_env(environ={}, instance_dir=tmp_path / "f2", signing_pkcs12=p12,
                                                 signing_pkcs12_password="pw"), content).data
    clear_cache()
    return forged


def test_a_changed_byte_and_another_key_are_refused_by_page_api_and_cli_with_the_reason(
        client, runner, session, settings, issued, tmp_path):
    """Acceptance: the lookup page, the API and the CLI each reject both forgeries and say why."""
    from api.cli import main
    from receipts.verify import MESSAGES

    r, path = issued
    changed = bytearray(path.read_bytes())
    changed[changed.index(b"/Title") + 8] ^= 0x01  # inside the signed range; the file still parses
    cases = {"document-modified": bytes(changed), "untrusted-signer": _forge(settings, r.content, tmp_path)}
    for code, data in cases.items():
        api = client.post("/api/v1/receipts/verify", data={"file": (io.BytesIO(data), "b.pdf")},
                          content_type="multipart/form-data").get_json()
        assert api["valid"] is False and any(x.startswith(code) for x in api["reasons"]), (code, api)
        page = client.post(f"/r/{r.lookup_code}", data={"file": (io.BytesIO(data), "b.pdf")},
                           content_type="multipart/form-data").get_data(as_text=True)
        assert "KHÔNG hợp lệ" in page and MESSAGES[code].split(" (")[0] in page, code
        f = tmp_path / f"{code}.pdf"
        f.write_bytes(data)
        res = runner.invoke(main, ["receipts", "verify", str(f)])
        assert res.exit_code == 1 and code in res.output and "valid: NO" in res.output, res.output
