"""The receipt's XML as the tax authority would read it: valid against the XSD, signed so that xmlsec1 agrees.

Every scenario starts from a receipt issued through the real pipeline (payment paid, job run, PDF signed)
and reads the XML embedded in the PDF, the file a citizen or the tax authority gets.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import UTC, datetime

import pytest
from lxml import etree
from sqlalchemy import update

from core import audit
from core.clock import local_day
from fees.models import Payment
from fees.payments import lock_payment, transition
from receipts.issuance import read_pdf, receipts_for_payment
from receipts.verify import _embedded_xml
from receipts.xmldata import SCHEMA_PATH, read_fields, validate, verify_xml
from tests.factories import make_user
from tests.receipts.factories import paid_payment, pending_payment

needs_xmlsec1 = pytest.mark.skipif(shutil.which("xmlsec1") is None, reason="xmlsec1 is installed by scripts/setup.sh")


def _xml_of(session, settings, payment_id: int) -> tuple:
    from pyhanko.pdf_utils.reader import PdfFileReader

    [receipt] = receipts_for_payment(session, payment_id)
    assert receipt.status == "issued"
    xml = _embedded_xml(PdfFileReader(io.BytesIO(read_pdf(settings, receipt))))
    assert xml is not None
    return receipt, xml


def _xmlsec1(tmp_path, xml: bytes, ca_pem: bytes) -> subprocess.CompletedProcess:
    doc, ca = tmp_path / "bienlai.xml", tmp_path / "ca.pem"
    doc.write_bytes(xml)
    ca.write_bytes(ca_pem)
    return subprocess.run(["xmlsec1", "--verify", "--trusted-pem", str(ca), "--id-attr:Id", "DLBLai", str(doc)],
                          capture_output=True, text=True, timeout=60)


def _field(root, path: str) -> str | None:
    return root.findtext(path)


def _extension(root) -> dict:
    return {t.findtext("TTruong"): t.findtext("DLieu") for t in root.iterfind("DLBLai/TTChung/TTKhac/TTin")}


def test_an_online_receipt_is_valid_and_carries_the_formats_fields(session, settings):
    p = paid_payment(session, payer_name="Trần Thị Thu Hương", channel="vnpay")
    receipt, xml = _xml_of(session, settings, p.id)
    assert validate(xml) == []
    root = etree.fromstring(xml)
    assert root.tag == "BLai" and root.nsmap == {}  # no private namespace
    assert _field(root, "DLBLai/TTChung/MSBLai") == "EBL01"
    assert _field(root, "DLBLai/TTChung/KHBLai") == f"{receipt.year % 100:02d}T"
    assert _field(root, "DLBLai/TTChung/SBLai") == receipt.number_text
    assert _field(root, "DLBLai/TTChung/DVTTe") == "VND"
    assert _field(root, "DLBLai/TTChung/HTTToan") == "Cổng thanh toán VNPAY"
    unit = root.find("DLBLai/NDBLai/DVThu")
    assert unit.findtext("Ten") == receipt.content["organisation"]["name"]
    assert unit.findtext("MST") == receipt.content["organisation"]["tax_code"]
    # Paid online: the unit's system collected, and the unit is named as collector.
    assert unit.findtext("HVTNThu") == receipt.content["organisation"]["name"]
    assert _field(root, "DLBLai/NDBLai/NNop/Ten") == "Trần Thị Thu Hương"
    assert _field(root, "DLBLai/NDBLai/NNop/MST") is None  # none given: none shown
    assert [k.findtext("ThTien") for k in root.iterfind("DLBLai/NDBLai/DSKThu/KThu")] == ["16000", "184000"]
    assert _field(root, "DLBLai/NDBLai/TToan/TgTTTBSo") == "200000"
    assert _field(root, "DLBLai/NDBLai/TToan/TgTTTBChu") == "Hai trăm nghìn đồng"
    ext = _extension(root)
    assert ext["MaTraCuu"] == receipt.lookup_code and ext["MaThanhToan"] == p.code
    assert ext["MaHoSo"] == p.dossier_code and ext["MaGiaoDich"] == p.channel_ref
    sig = root.find("DSCKS/DVThu/{http://www.w3.org/2000/09/xmldsig#}Signature")
    assert sig is not None
    assert sig.findtext(".//{http://www.w3.org/2000/09/xmldsig#}X509SubjectName")
    assert sig.findtext("{http://www.w3.org/2000/09/xmldsig#}Object/SignatureProperties/SignatureProperty/SigningTime")


@needs_xmlsec1
def test_xmlsec1_verifies_the_signature_against_the_issuing_ca_and_rejects_a_tampered_copy(
        session, settings, signing_files, tmp_path):
    p = paid_payment(session)
    _receipt, xml = _xml_of(session, settings, p.id)
    ca = signing_files.ca_cert.read_bytes()
    ok = _xmlsec1(tmp_path, xml, ca)
    assert ok.returncode == 0 and "OK" in ok.stdout + ok.stderr, ok.stderr
    assert "References (ok/all): 2/2" in ok.stdout + ok.stderr  # the data and the signing time
    for before, after in ((b"<TgTTTBSo>200000</TgTTTBSo>", b"<TgTTTBSo>900000</TgTTTBSo>"),
                          ("Nguyễn Thị Hồng Nhung".encode(), "Nguyễn Thị Hồng Nhunh".encode())):
        tampered = xml.replace(before, after)
        assert tampered != xml
        bad = _xmlsec1(tmp_path, tampered, ca)
        assert bad.returncode != 0, bad.stdout + bad.stderr
        assert validate(tampered) == []  # still well-formed and valid: only the signature tells
    # The signing time is signed too.
    moved = xml.replace(b"<SigningTime>", b"<SigningTime>1").replace(b"</SigningTime>", b"</SigningTime>")
    assert _xmlsec1(tmp_path, moved, ca).returncode != 0


def test_the_date_is_the_vietnamese_day_of_collection(session, settings):
    p = pending_payment(session)
    year = local_day().year
    paid_at = datetime(year, 1, 14, 23, 30, tzinfo=UTC)  # 06:30 on the 15th in Hà Nội
    locked = lock_payment(session, payment_id=p.id)
    transition(session, locked, "paid", actor=audit.SYSTEM, channel="vietqr", channel_ref="FT0001",
               paid_amount=locked.amount, paid_at=paid_at)
    session.commit()
    receipt, xml = _xml_of(session, settings, p.id)
    root = etree.fromstring(xml)
    assert _field(root, "DLBLai/TTChung/NLap") == f"{year}-01-15"
    assert _extension(root)["ThoiDiemThu"] == f"{year}-01-15T06:30:00+07:00"
    assert validate(xml) == []


def test_markup_and_control_characters_in_the_payer_name_survive_as_text(session, settings):
    name = "<b>Lê</b> & \"Văn\" <script>x</script>"
    p = pending_payment(session, payer_name="Người nộp tạm")
    session.commit()
    # As a row written before names were cleaned would hold it.
    session.execute(update(Payment).where(Payment.id == p.id).values(payer_name=name + "\x07\x1b"))
    session.commit()
    session.expire_all()
    locked = lock_payment(session, payment_id=p.id)
    transition(session, locked, "paid", actor=audit.SYSTEM, channel="vnpay", channel_ref="99", paid_amount=locked.amount)
    session.commit()
    _receipt, xml = _xml_of(session, settings, p.id)
    assert validate(xml) == []
    root = etree.fromstring(xml)
    assert _field(root, "DLBLai/NDBLai/NNop/Ten") == name
    assert root.find(".//script") is None and b"&lt;b&gt;L\xc3\xaa&lt;/b&gt; &amp;" in xml


def test_a_counter_payment_names_the_cashier_and_the_method(session, settings):
    from fees.gateways.counter import record_counter_payment

    cashier = make_user(session, roles=("cashier",), username="thungan1")
    cashier.full_name = "Phạm Thị Thu Ngân"
    session.commit()
    p = pending_payment(session)
    session.commit()
    actor = audit.Actor(type="user", id=str(cashier.id), name=cashier.username, centre_id=cashier.centre_id)
    record_counter_payment(session, p.id, method="cash", actor=actor)
    session.commit()
    receipt, xml = _xml_of(session, settings, p.id)
    root = etree.fromstring(xml)
    assert _field(root, "DLBLai/NDBLai/DVThu/HVTNThu") == "Phạm Thị Thu Ngân"
    assert _field(root, "DLBLai/TTChung/HTTToan") == "Nộp tại quầy (tiền mặt)"
    assert validate(xml) == []


def test_the_payers_tax_code_and_identity_number_are_carried_when_the_payment_has_them(session, settings):
    p = pending_payment(session)
    p.extra = {**(p.extra or {}), "payer_tax_code": "0101234565", "payer_id_number": "001090012345"}
    session.commit()
    locked = lock_payment(session, payment_id=p.id)
    transition(session, locked, "paid", actor=audit.SYSTEM, channel="momo", channel_ref="M1", paid_amount=locked.amount)
    session.commit()
    _receipt, xml = _xml_of(session, settings, p.id)
    root = etree.fromstring(xml)
    assert _field(root, "DLBLai/NDBLai/NNop/MST") == "0101234565"
    assert _field(root, "DLBLai/NDBLai/NNop/CCCDan") == "001090012345"
    assert validate(xml) == []


def test_a_replacement_and_an_adjustment_name_the_original_receipt(session, settings):
    from receipts.issuance import adjust_receipt, replace_receipt

    p = paid_payment(session)
    [old] = receipts_for_payment(session, p.id)
    actor = audit.Actor(type="user", id="1", name="kiemsoat")
    new = replace_receipt(session, old.id, reason="Sai địa chỉ người nộp", actor=actor,
                          corrections={"address": "Số 3 phố Hàng Bài, phường Hoàn Kiếm, thành phố Hà Nội"})
    session.commit()
    from pyhanko.pdf_utils.reader import PdfFileReader

    xml = _embedded_xml(PdfFileReader(io.BytesIO(read_pdf(settings, new))))
    assert validate(xml) == []
    related = etree.fromstring(xml).find("DLBLai/TTChung/TTBLLQuan")
    assert [related.findtext(t) for t in ("TCBLai", "KHMSBLCLQuan", "KHBLCLQuan", "SBLCLQuan")] == \
        ["1", old.template, old.symbol, old.number_text]
    lines = [{k: x[k] for k in ("fee_code", "name", "kind", "quantity", "unit_amount")} for x in new.content["lines"]]
    lines[0]["quantity"] = 1  # one copy fewer: 8.000 đồng less
    adj = adjust_receipt(session, new.id, reason="Thu thừa một bản sao", lines=lines, actor=actor)
    session.commit()
    xml = _embedded_xml(PdfFileReader(io.BytesIO(read_pdf(settings, adj))))
    assert validate(xml) == []
    root = etree.fromstring(xml)
    assert _field(root, "DLBLai/TTChung/TTBLLQuan/TCBLai") == "2"
    assert _field(root, "DLBLai/NDBLai/TToan/TgTTTBSo") == "-8000"


def test_our_verifier_reads_the_signed_fields_and_refuses_what_the_signature_does_not_cover(session, settings):
    from receipts.signing import load_signer
    from receipts.xmldata import XmlReceiptError

    p = paid_payment(session)
    receipt, xml = _xml_of(session, settings, p.id)
    cert = load_signer(settings).cert_pem()
    assert read_fields(verify_xml(xml, cert))["lookup_code"] == receipt.lookup_code
    # A second, unsigned DLBLai put first (signature wrapping) is not what verify_xml returns.
    root = etree.fromstring(xml)
    fake = etree.fromstring(etree.tostring(root.find("DLBLai")))
    fake.set("Id", "fake")
    fake.find("NDBLai/TToan/TgTTTBSo").text = "1"
    root.insert(0, fake)
    wrapped = etree.tostring(root)
    assert read_fields(verify_xml(wrapped, cert))["total"] == "200000"  # what the signature covers
    assert validate(wrapped) != []
    with pytest.raises(XmlReceiptError):
        verify_xml(xml.replace(b'Id="data"', b'Id="other"'), cert)


def test_the_schema_imports_the_signature_schema_from_beside_it():
    xs = "{http://www.w3.org/2001/XMLSchema}"
    imports = etree.parse(str(SCHEMA_PATH)).getroot().findall(f"{xs}import") + \
        etree.parse(str(SCHEMA_PATH.parent / "xmldsig-core-schema.xsd")).getroot().findall(f"{xs}import")
    assert [i.get("schemaLocation") for i in imports] == ["xmldsig-core-schema.xsd"]
    assert (SCHEMA_PATH.parent / "xmldsig-core-schema.xsd").exists()
    assert validate(b"<BLai/>") and validate(b"not xml")


def test_a_payer_tax_code_of_the_wrong_shape_is_left_off_and_the_xml_stays_valid(session, settings):
    p = pending_payment(session)
    p.extra = {**(p.extra or {}), "payer_tax_code": "MST-123", "payer_id_number": "001 090 012 345"}
    session.commit()
    locked = lock_payment(session, payment_id=p.id)
    transition(session, locked, "paid", actor=audit.SYSTEM, channel="vnpay", channel_ref="V1", paid_amount=locked.amount)
    session.commit()
    receipt, xml = _xml_of(session, settings, p.id)
    assert "tax_code" not in receipt.content["payer"] and receipt.content["payer"]["id_number"] == "001090012345"
    assert validate(xml) == []


@needs_xmlsec1
def test_core_xmldsig_signs_any_element_so_that_xmlsec1_agrees(tmp_path):
    """The signing helper other messages use: enveloped in the element, or in a container beside it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from core import xmldsig
    from core.devcert import make_ca, make_signing_cert

    ca_key, ca_cert = make_ca("Thử nghiệm CA")
    key, cert = make_signing_cert(ca_key, ca_cert, "Đơn vị <thử> & nghiệm", "Ký thông điệp")
    pem = cert.public_bytes(serialization.Encoding.PEM)
    ca = ca_cert.public_bytes(serialization.Encoding.PEM)
    when = datetime(2026, 3, 1, 17, 5, tzinfo=UTC)
    for parent_path in (None, "DSCKS/NNT"):
        root = etree.fromstring("<TKhai><DLTKhai Id=\"tk\"><Ten>Bảng kê &amp; tờ khai</Ten></DLTKhai>"
                                "<DSCKS><NNT/></DSCKS></TKhai>".encode())
        xmldsig.sign(root, key, [pem, ca], reference_id="tk", signing_time=when,
                     parent=root.find(parent_path) if parent_path else None)
        data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        doc, cafile = tmp_path / "m.xml", tmp_path / "ca.pem"
        doc.write_bytes(data)
        cafile.write_bytes(ca)
        res = subprocess.run(["xmlsec1", "--verify", "--trusted-pem", str(cafile), "--id-attr:Id", "DLTKhai", str(doc)],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert xmldsig.verify(data, pem).tag == "DLTKhai"
        sig = root.find(".//{http://www.w3.org/2000/09/xmldsig#}Signature")
        assert xmldsig.signing_time(sig) == "2026-03-02T00:05:00"  # Vietnamese local time
        assert sig.findtext(".//{http://www.w3.org/2000/09/xmldsig#}X509SubjectName") == \
            x509.load_pem_x509_certificate(pem).subject.rfc4514_string()
        with pytest.raises(xmldsig.XmlSignatureError):
            xmldsig.verify(data.replace("tờ khai".encode(), "tờ khai sửa".encode()), pem)
        # Put inside an envelope whose root declares namespaces, the signature still holds (exclusive C14N).
        wrapper = etree.fromstring(b'<TDiep xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                                   b'xmlns:x="urn:example"><DLieu/></TDiep>')
        wrapper.find("DLieu").append(etree.fromstring(data))
        doc.write_bytes(etree.tostring(wrapper, xml_declaration=True, encoding="UTF-8"))
        res = subprocess.run(["xmlsec1", "--verify", "--trusted-pem", str(cafile), "--id-attr:Id", "DLTKhai", str(doc)],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
