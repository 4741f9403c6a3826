"""Receipts made in error: cancel, replace with corrected data, adjust; each notified on 04/SS-CTĐT.

The notice is checked against a schema written from the tax authority's own viewer of the form (the
elements it reads, in order), its signature by xmlsec1 and core.xmldsig, and it goes through the tax
sandbox over HTTP, whose answer is shown on the staff page.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from lxml import etree
from sqlalchemy import select

from receipts.issuance import read_pdf
from receipts.models import Receipt, ReceiptCorrection
from tests.factories import csrf_token, make_user, sign_in
from tests.tax.conftest import make_unit, pay_at_counter, receipt_ids, received

# 04/SS-CTĐT as the tax authority's viewer style sheet (TBao/DLTBao/DSCTu/CTu) and providers' builders
# write it; the signature container is checked separately.
NOTICE_XSD = """<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">
  <xs:simpleType name="s"><xs:restriction base="xs:string"><xs:minLength value="1"/></xs:restriction></xs:simpleType>
  <xs:element name="TBao">
    <xs:complexType><xs:sequence>
      <xs:element name="DLTBao">
        <xs:complexType><xs:sequence>
          <xs:element name="PBan" type="s"/>
          <xs:element name="MSo" type="s" fixed="04/SS-CTĐT"/>
          <xs:element name="Ten" type="s"/>
          <xs:element name="Loai"><xs:simpleType><xs:restriction base="xs:string">
            <xs:enumeration value="1"/><xs:enumeration value="2"/></xs:restriction></xs:simpleType></xs:element>
          <xs:element name="So" type="xs:string" minOccurs="0"/>
          <xs:element name="NTBCCQT" type="xs:date" minOccurs="0"/>
          <xs:element name="MCQT" type="xs:string"/>
          <xs:element name="TCQT" type="xs:string"/>
          <xs:element name="TNNT" type="s"/>
          <xs:element name="MST"><xs:simpleType><xs:restriction base="xs:string">
            <xs:pattern value="[0-9]{10}(-[0-9]{3})?"/></xs:restriction></xs:simpleType></xs:element>
          <xs:element name="DDanh" type="xs:string"/>
          <xs:element name="NTBao" type="xs:date"/>
          <xs:element name="DSCTu"><xs:complexType><xs:sequence>
            <xs:element name="CTu" maxOccurs="unbounded"><xs:complexType><xs:sequence>
              <xs:element name="STT" type="xs:positiveInteger"/>
              <xs:element name="KHMSCTu" type="s"/>
              <xs:element name="KHCTu" type="s"/>
              <xs:element name="SCTu" type="s"/>
              <xs:element name="NLap" type="xs:date"/>
              <xs:element name="LCTDT"><xs:simpleType><xs:restriction base="xs:string">
                <xs:enumeration value="3"/><xs:enumeration value="4"/></xs:restriction></xs:simpleType></xs:element>
              <xs:element name="LDo"><xs:simpleType><xs:restriction base="xs:string">
                <xs:minLength value="1"/><xs:maxLength value="255"/></xs:restriction></xs:simpleType></xs:element>
            </xs:sequence></xs:complexType></xs:element>
          </xs:sequence></xs:complexType></xs:element>
        </xs:sequence><xs:attribute name="Id" type="xs:ID" use="required"/></xs:complexType>
      </xs:element>
      <xs:element name="DSCKS"><xs:complexType><xs:sequence>
        <xs:element name="NNT"><xs:complexType><xs:sequence>
          <xs:any namespace="http://www.w3.org/2000/09/xmldsig#" processContents="skip"/>
        </xs:sequence></xs:complexType></xs:element>
      </xs:sequence></xs:complexType></xs:element>
    </xs:sequence></xs:complexType>
  </xs:element>
</xs:schema>""".encode()


def _schema_errors(xml: bytes) -> list[str]:
    schema = etree.XMLSchema(etree.fromstring(NOTICE_XSD))
    ok = schema.validate(etree.fromstring(xml))
    return [] if ok else [str(e) for e in schema.error_log]


def _check_notice(correction: ReceiptCorrection, old: Receipt, *, nature: str, signing_files, tmp_path) -> etree._Element:
    from core import xmldsig

    assert correction.notice_xml, correction.notice_reasons
    xml = correction.notice_xml.encode()
    assert _schema_errors(xml) == []
    root = etree.fromstring(xml)
    [row] = root.findall("DLTBao/DSCTu/CTu")
    assert (row.findtext("KHMSCTu"), row.findtext("KHCTu"), row.findtext("SCTu")) == (old.template, old.symbol,
                                                                                      old.number_text)
    assert row.findtext("LDo").startswith(f"{nature}: ")
    assert root.findtext("DLTBao/MST") == old.content["organisation"]["tax_code"]
    # Signed by the unit over DLTBao (and the signing time): core.xmldsig and, independently, xmlsec1.
    signed = xmldsig.verify(xml, _unit_cert(root))
    assert signed.tag == "DLTBao"
    if shutil.which("xmlsec1"):
        doc, ca = tmp_path / "tbao.xml", tmp_path / "ca.pem"
        doc.write_bytes(xml)
        ca.write_bytes(signing_files.ca_cert.read_bytes())
        out = subprocess.run(["xmlsec1", "--verify", "--trusted-pem", str(ca), "--id-attr:Id", "DLTBao", str(doc)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
    return root


def _unit_cert(root) -> bytes:
    import textwrap

    b64 = root.findtext(".//{http://www.w3.org/2000/09/xmldsig#}X509Certificate")
    body = "\n".join(textwrap.wrap(b64.strip(), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n".encode()


def _pdf_text(settings, receipt, tmp_path) -> str:
    path = tmp_path / f"{receipt.number_text}.pdf"
    path.write_bytes(read_pdf(settings, receipt))
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True,
                          timeout=60).stdout


@pytest.fixture
def finance(client, session):
    sign_in(client, make_user(session, roles=("finance",)).username)
    return client


def test_replacing_with_a_corrected_payer_name_issues_a_receipt_naming_the_old_one_and_notifies_04ss(
        live_server, client, key, session, centre, settings, signing_files, tmp_path, finance):
    unit = make_unit(session, centre)
    payment = pay_at_counter(client, key, unit.code)
    [rid] = receipt_ids(session, payment["id"])
    old = session.get(Receipt, rid)
    form = finance.get(f"/staff/receipts/{rid}/replace").get_data(as_text=True)
    assert 'value="Lê Văn Cường"' in form  # pre-filled with the receipt's data
    token = csrf_token(finance, f"/staff/receipts/{rid}/replace")
    res = finance.post(f"/staff/receipts/{rid}/replace", data={
        "csrf_token": token, "reason": "Sai họ tên người nộp", "confirm": "1", "payer_name": "Lê Văn Cương",
        "payer_address": "12 Tràng Tiền, Hà Nội", "payer_tax_code": "8012345677", "payer_id_number": ""},
        follow_redirects=True)
    assert res.status_code == 200
    session.expire_all()
    old = session.get(Receipt, rid)
    new = session.get(Receipt, old.replaced_by_id)
    assert old.status == "replaced" and new.status == "issued" and new.correction == "replace"
    assert new.content["payer"]["name"] == "Lê Văn Cương" and new.content["payer"]["tax_code"] == "8012345677"
    assert new.content["replaces"] == {"id": old.id, "template": old.template, "symbol": old.symbol,
                                       "number": old.number_text, "date": new.content["replaces"]["date"],
                                       "kind": "replace"}
    text = " ".join(_pdf_text(settings, new, tmp_path).split())
    assert "Lê Văn Cương" in text and "Lê Văn Cường" not in text
    assert f"Thay thế biên lai số {old.number_text}, ký hiệu mẫu {old.template}, ký hiệu {old.symbol}" in text
    assert new.amount == old.amount

    correction = session.scalars(select(ReceiptCorrection).where(ReceiptCorrection.receipt_id == rid)).one()
    assert correction.kind == "replace" and correction.new_receipt_id == new.id
    assert correction.changes["payer"]["name"] == ["Lê Văn Cường", "Lê Văn Cương"]
    _check_notice(correction, old, nature="Thay thế", signing_files=signing_files, tmp_path=tmp_path)
    # Through the channel: the sandbox took one 04/SS-CTĐT (304) from the unit and accepted it.
    from tax import codes

    notices = received(live_server, codes.ERROR_NOTICE)
    assert [(m["mst"], m["accepted"]) for m in notices] == [(unit.tax_code, True)]
    assert correction.notice_status == "accepted" and correction.notice_message_id == notices[0]["mtdiep"]
    page = finance.get(f"/staff/receipts/{rid}").get_data(as_text=True)
    assert "Cơ quan thuế đã tiếp nhận" in page and f"{new.symbol} {new.number_text}" in page
    new_page = finance.get(f"/staff/receipts/{new.id}").get_data(as_text=True)
    assert f"thay thế biên lai số {old.number_text}" in new_page


def test_cancel_without_confirmation_is_refused_and_with_it_notifies_04ss(
        live_server, client, key, session, centre, signing_files, tmp_path, finance):
    unit = make_unit(session, centre)
    [rid] = receipt_ids(session, pay_at_counter(client, key, unit.code)["id"])
    detail = finance.get(f"/staff/receipts/{rid}").get_data(as_text=True)
    assert 'name="confirm"' in detail and "sẽ bị HỦY" in detail  # the form names what will happen
    token = csrf_token(finance, f"/staff/receipts/{rid}")
    refused = finance.post(f"/staff/receipts/{rid}/cancel", data={"csrf_token": token, "reason": "Lập trùng"},
                           follow_redirects=True).get_data(as_text=True)
    assert "Hãy đánh dấu ô xác nhận" in refused
    session.expire_all()
    assert session.get(Receipt, rid).status == "issued"
    assert session.scalars(select(ReceiptCorrection)).all() == []

    finance.post(f"/staff/receipts/{rid}/cancel", data={"csrf_token": token, "reason": "Lập trùng", "confirm": "1"})
    session.expire_all()
    old = session.get(Receipt, rid)
    assert old.status == "cancelled"
    correction = session.scalars(select(ReceiptCorrection)).one()
    assert correction.kind == "cancel" and correction.new_receipt_id is None
    _check_notice(correction, old, nature="Hủy", signing_files=signing_files, tmp_path=tmp_path)
    assert correction.notice_status == "accepted"


def test_a_rejected_notice_shows_rejected_with_the_reason(
        live_server, client, key, session, centre, finance):
    import requests

    unit = make_unit(session, centre)
    [rid] = receipt_ids(session, pay_at_counter(client, key, unit.code)["id"])
    requests.post(f"{live_server}/sandbox/tax/_taxpayers", json={"unknown": [unit.tax_code]}, timeout=10)
    token = csrf_token(finance, f"/staff/receipts/{rid}")
    finance.post(f"/staff/receipts/{rid}/cancel", data={"csrf_token": token, "reason": "Lập trùng", "confirm": "1"})
    session.expire_all()
    correction = session.scalars(select(ReceiptCorrection)).one()
    assert correction.notice_status == "rejected"
    assert any(r.startswith("30001") for r in correction.notice_reasons), correction.notice_reasons
    page = finance.get(f"/staff/receipts/{rid}").get_data(as_text=True)
    assert "Cơ quan thuế không tiếp nhận" in page and "30001" in page
    register = finance.get("/staff/receipts/").get_data(as_text=True)
    assert "04/SS-CTĐT: Cơ quan thuế không tiếp nhận" in register and "30001" in register


def test_the_register_shows_a_receipt_the_tax_authority_rejected_with_the_reason(
        live_server, client, key, session, centre, finance):
    import requests

    unit = make_unit(session, centre)
    requests.post(f"{live_server}/sandbox/tax/_taxpayers", json={"unknown": [unit.tax_code]}, timeout=10)
    pay_at_counter(client, key, unit.code)
    register = finance.get("/staff/receipts/").get_data(as_text=True)
    assert "Không tiếp nhận" in register and "30001" in register and unit.tax_code in register


def test_an_adjusting_receipt_carries_the_difference_and_is_notified(
        session, settings, signing_files, tmp_path, client, finance):
    from tests.receipts.factories import paid_payment

    payment = paid_payment(session, channel="counter")
    old = session.scalars(select(Receipt).where(Receipt.payment_id == payment.id)).one()
    lines = old.content["lines"]
    token = csrf_token(finance, f"/staff/receipts/{old.id}/adjust")
    data = {"csrf_token": token, "reason": "Thu nhầm số bản trích lục", "confirm": "1"}
    for i, line in enumerate(lines):
        for k in ("fee_code", "name", "kind", "quantity", "unit_amount"):
            data[f"line-{i}-{k}"] = str(line[k])
    data["line-0-quantity"] = "1"  # two copies were written; one was asked for: 8.000 đ less
    res = finance.post(f"/staff/receipts/{old.id}/adjust", data=data)
    assert res.status_code == 302, res.get_data(as_text=True)
    session.expire_all()
    adj = session.scalars(select(Receipt).where(Receipt.replaces_id == old.id)).one()
    assert adj.correction == "adjust" and adj.delta == -8_000 and adj.amount == 8_000 and adj.signed_amount == -8_000
    assert session.get(Receipt, old.id).status == "issued"  # the adjusted receipt stays valid
    assert [(x["fee_code"], x["quantity"], x["amount"]) for x in adj.content["lines"]] == [("LP-TL", -1, -8_000)]
    text = " ".join(_pdf_text(settings, adj, tmp_path).split())
    assert f"Điều chỉnh cho biên lai số {old.number_text}" in text and "Điều chỉnh giảm" in text
    correction = session.scalars(select(ReceiptCorrection)).one()
    assert correction.kind == "adjust" and correction.new_receipt_id == adj.id
    _check_notice(correction, old, nature="Điều chỉnh", signing_files=signing_files, tmp_path=tmp_path)
    # The same lines again: nothing to adjust, refused.
    same = {**data, "line-0-quantity": str(lines[0]["quantity"]),
            "csrf_token": csrf_token(finance, f"/staff/receipts/{old.id}/adjust")}
    assert finance.post(f"/staff/receipts/{old.id}/adjust", data=same).status_code == 422


def test_a_replacement_keeps_the_amount_collected(session, client, finance):
    from core.errors import InvalidInput
    from receipts.issuance import replace_receipt
    from tests.receipts.factories import paid_payment
    from tests.tax.test_refunds import FINANCE

    payment = paid_payment(session, channel="counter")
    old = session.scalars(select(Receipt).where(Receipt.payment_id == payment.id)).one()
    lines = [dict(x) for x in old.content["lines"]]
    lines[0]["quantity"] = 1
    with pytest.raises(InvalidInput) as e:
        replace_receipt(session, old.id, reason="Sai số lượng", actor=FINANCE, corrections={"lines": lines})
    assert "điều chỉnh" in " ".join(e.value.errors["lines"])
    session.rollback()
    assert session.get(Receipt, old.id).status == "issued"
