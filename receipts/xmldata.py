"""The receipt's machine-readable form: XML of its legal content, signed with XML-DSig (enveloped)."""

from __future__ import annotations

from lxml import etree
from signxml import XMLSigner, XMLVerifier
from signxml.exceptions import InvalidInput, InvalidSignature

NS = "urn:hcc:bienlai:1"
XML_FILENAME = "bienlai.xml"


class XmlReceiptError(Exception):
    """Raised when an embedded receipt XML is missing, malformed or its signature does not verify."""


def _el(parent, tag: str, text=None, **attrs):
    e = etree.SubElement(parent, f"{{{NS}}}{tag}", **{k: str(v) for k, v in attrs.items()})
    if text is not None:
        e.text = str(text)
    return e


def build_xml(content: dict) -> etree._Element:
    root = etree.Element(f"{{{NS}}}BienLai", nsmap={None: NS}, Id="bienlai")
    head = _el(root, "ThongTinChung")
    _el(head, "LoaiBienLai", content["type"])
    _el(head, "KyHieuMau", content["template"])
    _el(head, "KyHieu", content["symbol"])
    _el(head, "So", content["number"])
    _el(head, "MaTraCuu", content["lookup_code"])
    _el(head, "DuongDanTraCuu", content["lookup_url"])
    _el(head, "NgayThu", content["collected_at"])
    if content.get("replaces"):
        r = content["replaces"]
        _el(head, "ThayTheBienLai", KyHieuMau=r["template"], KyHieu=r["symbol"], So=r["number"])
    org = _el(root, "DonViThu")
    _el(org, "Ten", content["organisation"]["name"])
    _el(org, "MaSoThue", content["organisation"]["tax_code"])
    _el(org, "DiaChi", content["organisation"]["address"])
    payer = _el(root, "NguoiNop")
    _el(payer, "HoTen", content["payer"]["name"])
    _el(payer, "DiaChi", content["payer"]["address"])
    lines = _el(root, "CacKhoanThu")
    for line in content["lines"]:
        item = _el(lines, "KhoanThu", Loai=line["kind"])
        _el(item, "MaPhi", line["fee_code"])
        _el(item, "Ten", line["name"])
        _el(item, "SoLuong", line["quantity"])
        _el(item, "DonGia", line["unit_amount"])
        _el(item, "SoTien", line["amount"])
    pay = _el(root, "ThanhToan")
    _el(pay, "MaThanhToan", content["payment_code"])
    _el(pay, "MaHoSo", content["dossier_code"])
    _el(pay, "HinhThuc", content["channel"])
    _el(pay, "MaGiaoDich", content["channel_ref"])
    _el(root, "TongTien", content["total"], DonVi="VND")
    _el(root, "TongTienBangChu", content["total_words"])
    return root


def sign_xml(content: dict, key, cert_pems: list[bytes]) -> bytes:
    """The signed XML document (UTF-8 bytes) for a receipt's content."""
    signer = XMLSigner(signature_algorithm="rsa-sha256", digest_algorithm="sha256")
    signed = signer.sign(build_xml(content), key=key, cert=[p.decode() for p in cert_pems])
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


def verify_xml(data: bytes, cert_pem: bytes) -> etree._Element:
    """Verify the XML-DSig against the given certificate; return the signed receipt element."""
    try:
        result = XMLVerifier().verify(data, x509_cert=cert_pem.decode())
    except (InvalidSignature, InvalidInput, etree.XMLSyntaxError, ValueError) as e:
        raise XmlReceiptError(str(e)) from e
    return result.signed_xml


def read_fields(element: etree._Element) -> dict:
    """The identifying fields of a verified receipt XML."""
    def text(path: str) -> str | None:
        found = element.find(path, namespaces={"b": NS})
        return None if found is None else found.text

    return {"template": text("b:ThongTinChung/b:KyHieuMau"), "symbol": text("b:ThongTinChung/b:KyHieu"),
            "number": text("b:ThongTinChung/b:So"), "lookup_code": text("b:ThongTinChung/b:MaTraCuu"),
            "total": text("b:TongTien")}
