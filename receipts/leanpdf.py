"""The signed receipt file in one pass: the page, the XML attached and the PAdES signature, no re-parsing.

The naive way (and ours for PAdES B-LTA, receipts.pdf) renders the page with reportlab, then lets
pyHanko read that file back, add the XML and the signature field in an incremental update and write
it again: two writers and one parser per receipt, most of a receipt's time. Here the page is drawn
by receipts.render's own layout code (`draw_page`) onto `LeanCanvas`, which records the content
stream; then this module writes one small PDF holding the page, the XML attachment, the signature
field and the signature dictionary with a zero-filled /Contents, digests the /ByteRange around it and
puts the CMS container in place. The file is a single revision whose signature covers all of it.

What is the same for every receipt is built once per process: the font subset (the fixed Vietnamese
repertoire of receipts.render.ReceiptFont, and its ToUnicode map), compressed. Everything that
differs between receipts (every drawn field, the QR code, the XML, the dates, the digest, the RSA
signature) is made per receipt. The CMS container is pyHanko's (`Signer.async_sign`, PAdES signed
attributes) for the first receipt of a key, then receipts.pdf.CmsTemplate with the new digest and a
fresh signature, as before. Only PAdES B-B goes this way: with a time-stamp authority (B-LTA) the
receipt takes receipts.pdf's pyHanko path unchanged.
"""

from __future__ import annotations

import hashlib
import threading
import zlib
from datetime import UTC, datetime

from reportlab.lib.pagesizes import A5
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import SUBSETN, makeToUnicodeCMap

from receipts.pdf import SIGNATURE_FIELD, CmsTemplate
from receipts.render import FONT, draw_page, register_fonts
from receipts.signing import ReceiptSigner, run_async
from receipts.xmldata import XML_FILENAME


def _num(v: float) -> str:
    s = f"{v:.3f}".rstrip("0").rstrip(".")
    return "0" if s in ("", "-0") else s


def _text(s: str) -> str:
    """A PDF text string that keeps Vietnamese: UTF-16BE with its byte order mark, in hex (no escaping to get wrong)."""
    return "<FEFF" + s.encode("utf-16-be").hex().upper() + ">"


class _DocKey:
    """Stands for the document in the font's per-document state (a weak-key dictionary)."""


class LeanCanvas:
    """The few reportlab canvas calls receipts.render.draw_page makes, recorded as a PDF content stream."""

    def __init__(self, font_name: str = FONT):
        self.font = pdfmetrics.getFont(font_name)
        self.font_name = font_name
        self.key = _DocKey()  # this document's code assignment in the font (see ReceiptFont.splitString)
        self.ops: list[str] = []
        self.info: dict[str, str] = {}
        self.images: list[tuple[int, int, bytes]] = []
        self._size = 10.0
        self._line_width = 1.0

    def setTitle(self, s):  # noqa: N802 (reportlab's names)
        self.info["Title"] = s

    def setAuthor(self, s):  # noqa: N802
        self.info["Author"] = s

    def setSubject(self, s):  # noqa: N802
        self.info["Subject"] = s

    def setFont(self, name, size):  # noqa: N802
        self._size = size

    def setLineWidth(self, w):  # noqa: N802
        if w != self._line_width:
            self.ops.append(f"{_num(w)} w")
            self._line_width = w

    def stringWidth(self, s, font, size):  # noqa: N802
        return pdfmetrics.stringWidth(s, font, size)

    def line(self, x1, y1, x2, y2):
        self.ops.append(f"{_num(x1)} {_num(y1)} m {_num(x2)} {_num(y2)} l S")

    def _split(self, s: str) -> list[tuple[int, bytes]]:
        """(subset, codes) runs of `s`, as the font's splitString gives them for this document."""
        if self.key not in self.font.state:
            codes = _fixed_codes(self.font)[0]
            try:
                ns = list(map(codes.__getitem__, s))
            except KeyError:
                pass  # a character outside the fixed repertoire: the font assigns it a code in this document
            else:
                if not ns:
                    return []
                if max(ns) >> 8 == min(ns) >> 8:  # the usual case: one subset
                    return [(ns[0] >> 8, bytes(map((0xFF).__and__, ns)))]
                runs: list[tuple[int, bytes]] = []
                start = 0
                for i in range(1, len(ns) + 1):
                    if i == len(ns) or ns[i] >> 8 != ns[start] >> 8:
                        runs.append((ns[start] >> 8, bytes(n & 0xFF for n in ns[start:i])))
                        start = i
                return runs
        return self.font.splitString(s, self.key)

    def drawString(self, x, y, s, mode=None):  # noqa: N802
        parts = [f"BT {_num(x)} {_num(y)} Td {mode or 0} Tr"]
        size = _num(self._size)
        for subset, data in self._split(s):
            parts.append(f"/F{subset} {size} Tf <{data.hex()}> Tj")
        parts.append("ET")
        self.ops.append(" ".join(parts))

    def drawRightString(self, x, y, s, mode=None):  # noqa: N802
        self.drawString(x - pdfmetrics.stringWidth(s, self.font_name, self._size), y, s, mode=mode)

    def drawCentredString(self, x, y, s, mode=None):  # noqa: N802
        self.drawString(x - pdfmetrics.stringWidth(s, self.font_name, self._size) / 2, y, s, mode=mode)

    def draw_bitmap(self, width: int, height: int, packed_rows: bytes, x, y, w, h):
        """A one-bit grey image (1 = white, rows padded to a byte), drawn at (x, y) sized w × h."""
        self.images.append((width, height, packed_rows))
        self.ops.append(f"q {_num(w)} 0 0 {_num(h)} {_num(x)} {_num(y)} cm /Im{len(self.images) - 1} Do Q")

    def subsets(self) -> list[list[int]]:
        state = self.font.state.pop(self.key, None)
        return state.subsets if state is not None else _fixed_codes(self.font)[1]


_fixed: dict[str, tuple[dict[str, int], list[list[int]]]] = {}


def _fixed_codes(font) -> tuple[dict[str, int], list[list[int]]]:
    """The codes every document of this font gives ASCII and the Vietnamese repertoire (receipts.render.ReceiptFont
    assigns them first, in a fixed order), and the subsets they make: worked out once per process."""
    fixed = _fixed.get(font.fontName)
    if fixed is None:
        key = _DocKey()
        font.splitString("", key)  # assigns the fixed repertoire, nothing else
        state = font.state.pop(key)
        codes = {chr(u): n for u, n in state.assignments.items()}
        codes.pop("\xa0", None)  # the font maps a no-break space to a space; splitString does that
        fixed = _fixed[font.fontName] = (codes, [list(s) for s in state.subsets])
    return fixed


_font_objects: dict[tuple, tuple[bytes, bytes, bytes, bytes]] = {}
_font_lock = threading.Lock()


def _font_parts(font, n: int, subset: list[int]) -> tuple[bytes, bytes, bytes, bytes]:
    """(font dict body without its references, descriptor body, font file stream, ToUnicode stream) of one
    subset. The same subset gives the same bytes, so they are built once per process."""
    key = (font.fontName, n, tuple(subset))
    parts = _font_objects.get(key)
    if parts is not None:
        return parts
    face = font.face
    base = (SUBSETN(n) + b"+" + face.name + face.subfontNameX).decode("latin-1")
    widths = " ".join(str(round(face.getCharWidth(c), 3)).removesuffix(".0") for c in subset)
    fdict = (f"/Type /Font /Subtype /TrueType /BaseFont /{base} /FirstChar 0 /LastChar {len(subset) - 1} "
             f"/Widths [{widths}]").encode("latin-1")
    flags = (face.flags & ~32) | 4
    desc = (f"/Type /FontDescriptor /FontName /{base} /Ascent {face.ascent} /CapHeight {face.capHeight} "
            f"/Descent {face.descent} /Flags {flags} /FontBBox [{' '.join(str(v) for v in face.bbox)}] "
            f"/ItalicAngle {face.italicAngle} /StemV {face.stemV} /MissingWidth {face.defaultWidth}").encode("latin-1")
    raw = face.makeSubset(subset)
    fontfile = _stream(f"/Length1 {len(raw)}".encode(), zlib.compress(raw))
    tounicode = _stream(b"", zlib.compress(makeToUnicodeCMap(base, subset).encode("latin-1")))
    parts = (fdict, desc, fontfile, tounicode)
    with _font_lock:
        if len(_font_objects) >= 32:
            _font_objects.clear()  # only receipts with unusual characters make new subsets
        _font_objects[key] = parts
    return parts


def _stream(extra: bytes, compressed: bytes) -> bytes:
    return b"<< " + extra + b" /Filter /FlateDecode /Length " + str(len(compressed)).encode() + b" >>\nstream\n" \
        + compressed + b"\nendstream"


def _pdf_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("D:%Y%m%d%H%M%S+00'00'")


def _cms(signer: ReceiptSigner, digest: bytes) -> bytes:
    """The CMS SignedData for the document digest: pyHanko's, or the key's template filled (receipts.pdf)."""
    template = signer.cms_template
    if template is not None:
        return template.fill(digest, signer.signer_sign_raw)
    from asn1crypto import cms
    from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes

    info: cms.ContentInfo = run_async(signer.signer.async_sign(
        digest, "sha256", use_pades=True, signed_attr_settings=PdfCMSSignedAttributes()))
    der = info.dump()
    if not signer.cms_template_tried:
        signer.cms_template_tried = True
        try:
            signer.cms_template = CmsTemplate(der)
        except (ValueError, KeyError, StopIteration):
            pass  # every receipt of this key then asks pyHanko for its container
    return der


def signed_receipt_pdf(content: dict, xml: bytes, signer: ReceiptSigner, *, title_note: str | None = None,
                       reason: str = "Biên lai điện tử", location: str | None = None,
                       now: datetime | None = None) -> bytes:
    """The final receipt file, PAdES B-B: the page, the XML attached and one signature over the whole file."""
    if signer.tsa_url:
        raise ValueError("with a time-stamp authority the receipt is signed by receipts.pdf (B-LTA)")
    register_fonts()
    c = LeanCanvas()
    draw_page(c, content, title_note=title_note, font=FONT)
    subsets = c.subsets()
    now = now or datetime.now(UTC)
    width, height = A5

    objs: list[bytes] = []

    def add(body: bytes) -> int:
        objs.append(body)
        return len(objs)

    # Fixed numbers first, so the page and the catalog can name what follows.
    catalog, pages, page, widget, sigdict = 1, 2, 3, 4, 5
    objs.extend([b""] * 5)
    contents = add(_stream(b"", zlib.compress(("\n".join(c.ops)).encode("latin-1"))))
    font_refs = []
    for n, subset in enumerate(subsets):
        fdict, desc, fontfile, tounicode = _font_parts(c.font, n, subset)
        ff = add(fontfile)
        fd = add(b"<< " + desc + f" /FontFile2 {ff} 0 R >>".encode())
        tu = add(tounicode)
        font_refs.append(f"/F{n} " + str(add(b"<< " + fdict + f" /FontDescriptor {fd} 0 R /ToUnicode {tu} 0 R >>"
                                                .encode())) + " 0 R")
    image_refs = []
    for i, (w, h, data) in enumerate(c.images):
        im = add(_stream(f"/Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceGray "
                         f"/BitsPerComponent 1".encode(), zlib.compress(data)))
        image_refs.append(f"/Im{i} {im} 0 R")
    xml_z = zlib.compress(xml)
    date = _pdf_date(now)
    ef = add(_stream(f"/Type /EmbeddedFile /Subtype /application#2Fxml /Params << /Size {len(xml)} "
                     f"/ModDate ({date}) /CheckSum <{hashlib.md5(xml).hexdigest()}> >>".encode(), xml_z))  # noqa: S324 (the PDF format's checksum)
    spec = add(f"<< /Type /Filespec /F ({XML_FILENAME}) /UF ({XML_FILENAME}) /EF << /F {ef} 0 R /UF {ef} 0 R >> "
               f"/Desc {_text('Dữ liệu biên lai điện tử (XML, ký số XML-DSig)')} /AFRelationship /Data >>".encode())
    info = add(("<< " + " ".join(f"/{k} {_text(v)}" for k, v in c.info.items())
                + f" /Producer {_text('HCC receipts')} /CreationDate ({date}) /ModDate ({date}) >>").encode())

    objs[catalog - 1] = (f"<< /Type /Catalog /Pages {pages} 0 R /AcroForm << /Fields [{widget} 0 R] /SigFlags 3 >> "
                         f"/Names << /EmbeddedFiles << /Names [({XML_FILENAME}) {spec} 0 R] >> >> "
                         f"/AF [{spec} 0 R] >>").encode()
    objs[pages - 1] = f"<< /Type /Pages /Kids [{page} 0 R] /Count 1 >>".encode()
    objs[page - 1] = (f"<< /Type /Page /Parent {pages} 0 R /MediaBox [0 0 {_num(width)} {_num(height)}] "
                      f"/Resources << /Font << {' '.join(font_refs)} >> /XObject << {' '.join(image_refs)} >> "
                      f"/ProcSet [/PDF /Text /ImageB] >> /Contents {contents} 0 R /Annots [{widget} 0 R] >>").encode()
    objs[widget - 1] = (f"<< /Type /Annot /Subtype /Widget /FT /Sig /T ({SIGNATURE_FIELD}) /V {sigdict} 0 R "
                        f"/P {page} 0 R /Rect [0 0 0 0] /F 132 >>").encode()
    reserved = signer.bytes_reserved
    placeholder_range = b"/ByteRange [0 0000000000 0000000000 0000000000]"
    objs[sigdict - 1] = (b"<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached "
                         + f"/M ({date}) /Reason {_text(reason)} ".encode()
                         + (f"/Location {_text(location)} ".encode() if location else b"")
                         + placeholder_range + b" /Contents <" + b"0" * (2 * reserved) + b"> >>")

    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    file_id = hashlib.sha256(bytes(out[:xref]) + date.encode()).hexdigest()[:32]
    out += (f"trailer\n<< /Size {len(objs) + 1} /Root {catalog} 0 R /Info {info} 0 R /ID [<{file_id}> <{file_id}>] >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()

    # The signature's place: /Contents <...> of the signature dictionary, known by construction.
    sig_start = offsets[sigdict - 1]
    hole_start = out.index(b"/Contents <", sig_start) + len(b"/Contents ")
    hole_end = hole_start + 2 * reserved + 2
    ranges = f"/ByteRange [0 {hole_start} {hole_end} {len(out) - hole_end}]".encode()
    at = out.index(placeholder_range, sig_start)
    out[at:at + len(placeholder_range)] = ranges.ljust(len(placeholder_range))
    view = memoryview(out)
    digest = hashlib.sha256(view[:hole_start])
    digest.update(view[hole_end:])
    del view
    with signer._lock:  # the PKCS#11 session is shared; see ReceiptSigner.sign_raw
        cms_der = _cms(signer, digest.digest())
    if 2 * len(cms_der) > 2 * reserved:
        raise ValueError("the CMS signature does not fit the room reserved for it")
    out[hole_start + 1:hole_start + 1 + 2 * len(cms_der)] = cms_der.hex().encode()
    return bytes(out)
