"""The receipt's machine-readable form: the tax authority's e-receipt data message, signed with XML-DSig.

The format follows the tax authority's technical rules for e-invoice/e-receipt data (Decision 1450/QĐ-TCT,
now Decision 1271/QĐ-CT of 30 May 2025 under Circular 32/2025/TT-BTC and Decree 123/2020/NĐ-CP as amended
by Decree 70/2025/NĐ-CP): a container holding the data (`DLBLai`, with `Id`) made of general information
(`TTChung`) and content (`NDBLai`: the collecting unit, the payer, the lines, the totals), then the signatures
(`DSCKS`). Elements have no namespace, as in the tax authority's formats; what the format has no field for
(lookup code and address, payment and dossier codes, the channel's reference) goes in the format's extension
element `TTKhac/TTin` (`TTruong` name, `KDLieu` type, `DLieu` value). Sources, element by element, and what
is assumed: docs/tax/receipt-xml.md; the XSD we validate against: receipts/schema/bienlai.xsd.

Receipts issued before this format (root `{urn:hcc:bienlai:1}BienLai`, one enveloped signature) still
verify and read: `verify_xml` and `read_fields` recognise them.
"""

from __future__ import annotations

import copy
import threading
from pathlib import Path

from lxml import etree

from core import xmldsig
from core.clock import utcnow
from core.text import printable

XML_FILENAME = "bienlai.xml"
SCHEMA_PATH = Path(__file__).parent / "schema" / "bienlai.xsd"

# ---- ASSUMED: names and values the published texts available to us do not settle (docs/tax/receipt-xml.md).
# Decision 1271/QĐ-CT's receipt component could not be read. These follow its predecessor 1450/QĐ-TCT (as amended
# by 1510/QĐ-TCT): the invoice (HDon/DLHDon/TTChung/NDHDon/NBan/NMua/DSHHDVu/TToan/DSCKS, TTHDLQuan, TTKhac/TTin)
# and the withholding-tax voucher (CTu/DLCTu/TTChung{TCTu, MSCTu, KHCTu, SCTu}/NDCTu, TTCTLQuan{TCCTu, ...},
# DSCKS/<issuer's element>), "chứng từ" (CTu) becoming "biên lai" (BLai); a vendor's receipt API mirrors the same
# names in lower case (tblai, msblai, khblai, sblai, tlkthu). TTChung's TBLai/MSBLai/KHBLai/SBLai follow that
# evidence; every other receipt-specific name below is ours, by the same convention.
FORMAT_VERSION = "2.1.0"   # PBan: the version 1510/QĐ-TCT gave the 1450 formats; 1271's own number unknown
ROOT = "BLai"              # as HDon
DATA = "DLBLai"            # as DLHDon; carries Id=DATA_ID, the element the unit signs
DATA_ID = "data"
CONTENT = "NDBLai"         # as NDHDon
UNIT = "DVThu"             # đơn vị thu (the collecting organisation), in place of NBan
PAYER = "NNop"             # người nộp (the payer), in place of NMua
COLLECTOR = "HVTNThu"      # họ và tên người thu tiền, as NMua/HVTNMHang
ITEMS, ITEM = "DSKThu", "KThu"  # danh sách khoản thu / khoản thu, as DSHHDVu/HHDVu
ITEM_CODE, ITEM_NAME, ITEM_KIND = "MKThu", "TKThu", "TLKThu"  # as MHHDVu/THHDVu; tên loại khoản thu
RELATED = "TTBLLQuan"      # thông tin biên lai liên quan, as TTHDLQuan with its fields below
RELATED_FIELDS = ("TCBLai", "KHMSBLCLQuan", "KHBLCLQuan", "SBLCLQuan", "NLBLCLQuan", "GChu")
RELATED_KIND = {"replace": "1", "adjust": "2"}  # TCHDon's values: 1 thay thế, 2 điều chỉnh
SIGNATURE_ID = "DVThu-sig"
# Our own fields, in TTChung/TTKhac: content key -> TTruong (KDLieu "string" unless said).
EXTENSION_FIELDS = (("lookup_code", "MaTraCuu"), ("lookup_url", "URLTraCuu"), ("payment_code", "MaThanhToan"),
                    ("dossier_code", "MaHoSo"), ("channel", "KenhThanhToan"), ("channel_ref", "MaGiaoDich"),
                    ("collected_at_centre", "NoiThu"), ("unit_code", "MaDonViThu"))
# ---- end of ASSUMED

LEGACY_NS = "urn:hcc:bienlai:1"


class XmlReceiptError(Exception):
    """Raised when an embedded receipt XML is missing, malformed or its signature does not verify."""


def _text(value) -> str:
    # Controls and lone surrogates (in rows stored before input was cleaned) cannot be in XML at all.
    return printable("" if value is None else str(value))


def _el(parent, tag: str, value=None, **attrs):
    e = etree.SubElement(parent, tag, **{k: str(v) for k, v in attrs.items()})
    if value is not None:
        e.text = _text(value)
    return e


def _opt(parent, tag: str, value) -> None:
    """An optional element: written only when there is something to say."""
    if value not in (None, "") and _text(value).strip():
        _el(parent, tag, _text(value).strip())


def _extension(parent, fields: list[tuple[str, str, str]]) -> None:
    fields = [(name, kind, value) for name, kind, value in fields if value not in (None, "")]
    if not fields:
        return
    box = _el(parent, "TTKhac")
    for name, kind, value in fields:
        t = _el(box, "TTin")
        _el(t, "TTruong", name)
        _el(t, "KDLieu", kind)
        _el(t, "DLieu", value)


def build_xml(content: dict) -> etree._Element:
    """The unsigned receipt message (`BLai`) for a receipt's content, with an empty `DSCKS/DVThu`."""
    root = etree.Element(ROOT)
    data = _el(root, DATA, Id=DATA_ID)

    head = _el(data, "TTChung")
    _el(head, "PBan", FORMAT_VERSION)
    _el(head, "TBLai", content["type"])
    _el(head, "MSBLai", content["template"])
    _el(head, "KHBLai", content["symbol"])
    _el(head, "SBLai", content["number"])
    _el(head, "NLap", content.get("collected_day") or content["collected_at"][:10])
    _el(head, "DVTTe", content.get("currency") or "VND")
    _opt(head, "HTTToan", content.get("channel_label"))
    if content.get("replaces"):
        r = content["replaces"]
        related = _el(head, RELATED)
        kind, template, symbol, number, day, _note = RELATED_FIELDS
        _el(related, kind, RELATED_KIND.get(r.get("kind") or "replace", "1"))
        _el(related, template, r["template"])
        _el(related, symbol, r["symbol"])
        _el(related, number, r["number"])
        _opt(related, day, r.get("date"))
    ext = [(name, "string", content.get(key)) for key, name in EXTENSION_FIELDS]
    if content.get("collected_local_iso"):
        ext.append(("ThoiDiemThu", "dateTime", content["collected_local_iso"]))
    adjustment = content.get("adjustment") or {}
    for key, name in (("original_total", "TongTienTruocDieuChinh"), ("corrected_total", "TongTienSauDieuChinh")):
        if adjustment.get(key) is not None:
            ext.append((name, "numeric", str(adjustment[key])))
    _extension(head, ext)

    body = _el(data, CONTENT)
    org = content["organisation"]
    unit = _el(body, UNIT)
    _el(unit, "Ten", org["name"])
    _el(unit, "MST", org["tax_code"])
    _el(unit, "DChi", org["address"])
    _opt(unit, "SDThoai", org.get("phone"))
    _opt(unit, "STKNHang", org.get("bank_account"))
    _opt(unit, COLLECTOR, content.get("collector"))

    payer = content["payer"]
    person = _el(body, PAYER)
    _el(person, "Ten", payer["name"])
    _opt(person, "MST", payer.get("tax_code"))
    _opt(person, "CCCDan", payer.get("id_number"))
    _opt(person, "DChi", payer.get("address"))
    _opt(person, "STKNHang", payer.get("bank_account"))

    items = _el(body, ITEMS)
    for i, line in enumerate(content["lines"], 1):
        item = _el(items, ITEM)
        _el(item, "STT", i)
        _opt(item, ITEM_CODE, line.get("fee_code"))
        _el(item, ITEM_NAME, line["name"])
        _opt(item, ITEM_KIND, line.get("kind_label"))
        _el(item, "SLuong", line["quantity"])
        _el(item, "DGia", line["unit_amount"])
        _el(item, "ThTien", line["amount"])

    total = _el(body, "TToan")
    _el(total, "TgTTTBSo", content["total"])
    _el(total, "TgTTTBChu", content["total_words"])

    _el(_el(root, "DSCKS"), UNIT)
    return root


def sign_xml(content: dict, key, cert_pems: list[bytes]) -> bytes:
    """The signed XML document (UTF-8 bytes) for a receipt's content: the unit's signature in DSCKS/DVThu."""
    root = build_xml(content)
    xmldsig.sign(root, key, cert_pems, reference_id=DATA_ID, signing_time=utcnow(),
                 parent=root.find(f"DSCKS/{UNIT}"), signature_id=SIGNATURE_ID)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def verify_xml(data: bytes, cert_pem: bytes) -> etree._Element:
    """Verify the unit's signature against the given certificate; return the signed `DLBLai` element.

    A receipt of the earlier format returns its signed `BienLai` element.
    """
    try:
        root = etree.fromstring(data, xmldsig.parser())
    except (etree.XMLSyntaxError, ValueError) as e:
        raise XmlReceiptError(f"not well-formed XML: {e}") from e
    if root.tag == f"{{{LEGACY_NS}}}BienLai":
        return _verify_legacy(data, cert_pem)
    try:
        signed = xmldsig.verify(data, cert_pem, signature_id=SIGNATURE_ID)
    except xmldsig.XmlSignatureError as e:
        raise XmlReceiptError(str(e)) from e
    if signed.tag != DATA or root.tag != ROOT:
        raise XmlReceiptError(f"the signature covers {signed.tag}, not the receipt data {DATA}")
    return signed


def _verify_legacy(data: bytes, cert_pem: bytes) -> etree._Element:
    from signxml import XMLVerifier
    from signxml.exceptions import InvalidInput, InvalidSignature

    try:
        return XMLVerifier().verify(data, x509_cert=cert_pem.decode()).signed_xml
    except (InvalidSignature, InvalidInput, etree.XMLSyntaxError, ValueError) as e:
        raise XmlReceiptError(str(e)) from e


def read_fields(element: etree._Element) -> dict:
    """The identifying fields of a verified receipt XML (its `DLBLai`, or the whole `BLai`)."""
    if element.tag == f"{{{LEGACY_NS}}}BienLai":
        return _read_legacy(element)
    data = element if element.tag == DATA else element.find(DATA)
    if data is None:
        raise XmlReceiptError(f"no {DATA} element")

    def text(path: str) -> str | None:
        found = data.find(path)
        return None if found is None else found.text

    lookup = None
    for t in data.iterfind("TTChung/TTKhac/TTin"):
        if t.findtext("TTruong") == "MaTraCuu":
            lookup = t.findtext("DLieu")
    return {"template": text("TTChung/MSBLai"), "symbol": text("TTChung/KHBLai"), "number": text("TTChung/SBLai"),
            "lookup_code": lookup, "total": text(f"{CONTENT}/TToan/TgTTTBSo")}


def _read_legacy(element: etree._Element) -> dict:
    def text(path: str) -> str | None:
        found = element.find(path, namespaces={"b": LEGACY_NS})
        return None if found is None else found.text

    return {"template": text("b:ThongTinChung/b:KyHieuMau"), "symbol": text("b:ThongTinChung/b:KyHieu"),
            "number": text("b:ThongTinChung/b:So"), "lookup_code": text("b:ThongTinChung/b:MaTraCuu"),
            "total": text("b:TongTien")}


_schema: etree.XMLSchema | None = None
_schema_lock = threading.Lock()


def schema() -> etree.XMLSchema:
    """The XSD of receipts/schema, loaded once; it imports the W3C signature schema beside it (no network)."""
    global _schema
    if _schema is None:
        with _schema_lock:
            if _schema is None:
                _schema = etree.XMLSchema(etree.parse(str(SCHEMA_PATH), xmldsig.parser()))
    return _schema


def validate(xml: bytes | etree._Element) -> list[str]:
    """What makes a receipt message invalid against the XSD (line: message), empty when it is valid.

    `xml` is the document's bytes or its `BLai` element (also one inside another message, such as the
    tax authority's envelope).
    """
    if isinstance(xml, bytes | bytearray):
        try:
            doc = etree.ElementTree(etree.fromstring(bytes(xml), xmldsig.parser()))
        except (etree.XMLSyntaxError, ValueError) as e:
            return [f"not well-formed XML: {e}"]
    elif xml.getparent() is None:
        doc = xml.getroottree()
    else:
        doc = etree.ElementTree(copy.deepcopy(xml))
    s = schema()
    if s.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in s.error_log]
