"""The human view of a receipt: an A5 page drawn with reportlab in a Vietnamese-capable font.

The font ships in receipts/fonts (DejaVu Sans, freely redistributable, LICENSE beside it) and is
registered once per process; parsing a TrueType file is the slow part of a first render.

Every receipt embeds the same font subset: printable ASCII and the whole Vietnamese alphabet, in a
fixed order (see ReceiptFont), rather than the characters that receipt happens to use. The subset
and its ToUnicode map are then the same bytes every time, so they are built and compressed once per
process instead of once per receipt (about a sixth of a receipt's time), for a file some ten
kilobytes larger. A receipt with a character outside that set still gets it (the subset grows and
is built afresh for that file).
"""

from __future__ import annotations

import io
import threading
import unicodedata
import zlib
from pathlib import Path

import segno
from PIL import Image

try:  # zxing-cpp's encoder (C++): a fifth of segno's time for the receipt's QR code
    import zxingcpp
except ImportError:  # pragma: no cover - segno, pure Python, is the fallback
    zxingcpp = None
from reportlab.lib.pagesizes import A5
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from core.text import printable
from receipts.content import format_amount

FONT_DIR = Path(__file__).parent / "fonts"
FONT = "HccDejaVuSans"
_fonts_lock = threading.Lock()

_VOWELS = "aăâeêioôơuưy"
_TONES = ("", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323")  # huyền, sắc, hỏi, ngã, nặng
# The Vietnamese letters (precomposed, both cases) and the punctuation our text uses, in a fixed order.
REPERTOIRE = "".join(dict.fromkeys(
    c for c in ([unicodedata.normalize("NFC", v + t) for v in _VOWELS + _VOWELS.upper() for t in _TONES]
                + list("đĐ—–…“”‘’·")) if ord(c) > 127))
_CACHE_ENTRIES = 16


class _CachedFlate:
    """FlateDecode that keeps its output for recent inputs (the font subset and its map repeat)."""

    pdfname = "FlateDecode"

    def __init__(self):
        self._done: dict[bytes, bytes] = {}

    def encode(self, text) -> bytes:
        if isinstance(text, str):
            text = text.encode("utf8")
        out = self._done.get(text)
        if out is None:
            out = zlib.compress(text)  # as reportlab's own filter: same bytes
            if len(self._done) >= _CACHE_ENTRIES:
                self._done.clear()
            self._done[text] = out
        return out

    def decode(self, encoded: bytes) -> bytes:
        return zlib.decompress(encoded)


class ReceiptFont(TTFont):
    """A TrueType font whose codes are assigned in one fixed order in every document (see above)."""

    def __init__(self, name: str, filename: str):
        super().__init__(name, filename)
        self._flate = _CachedFlate()
        self._subsets: dict[tuple, bytes] = {}
        make_subset = self.face.makeSubset

        def cached_subset(subset):
            key = tuple(subset)
            out = self._subsets.get(key)
            if out is None:
                out = make_subset(subset)
                if len(self._subsets) >= _CACHE_ENTRIES:
                    self._subsets.clear()
                self._subsets[key] = out
            return out

        self.face.makeSubset = cached_subset

    def splitString(self, text, doc, encoding="utf-8"):
        if doc not in self.state:  # a new document: the fixed assignment first
            super().splitString(REPERTOIRE, doc, encoding)
        return super().splitString(text, doc, encoding)

    def addObjects(self, doc):
        before = set(doc.idToObject)
        super().addObjects(doc)
        for name in set(doc.idToObject) - before:
            obj = doc.idToObject[name]
            if isinstance(obj, pdfdoc.PDFStream) and obj.filters == [pdfdoc.PDFZCompress]:
                obj.filters = [self._flate]


def register_fonts() -> None:
    with _fonts_lock:
        if FONT not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(ReceiptFont(FONT, str(FONT_DIR / "DejaVuSans.ttf")))


def _qr(c: canvas.Canvas, url: str, x: float, y: float, size: float) -> None:
    """Draw the QR code as a one-bit image, one pixel a module (viewers scale it without smoothing)."""
    border = 2
    if zxingcpp is not None and hasattr(zxingcpp, "create_barcode"):
        # Error correction M as with segno; zxing-cpp picks the version and scores the masks itself.
        img = zxingcpp.create_barcode(url, zxingcpp.BarcodeFormat.QRCode, ec_level="M").to_image(
            scale=1, add_quiet_zones=False)
        side = img.shape[1]
        modules = bytes(memoryview(img))  # one byte a module: 0 dark, 255 light
        rows = [modules[i:i + side] for i in range(0, len(modules), side)]
    else:
        # A fixed mask skips segno's scoring of all eight (most of the QR time); any mask scans.
        rows = [bytes(0 if m else 255 for m in row) for row in segno.make(url, error="m", mask=0, micro=False).matrix]
    n = len(rows) + 2 * border
    # One byte a module (0 dark, 255 light), then to one bit: a bulk conversion instead of a Python test
    # per pixel.
    pad, blank = b"\xff" * border, b"\xff" * (n * border)
    data = blank + b"".join(pad + row + pad for row in rows) + blank
    img = Image.frombytes("L", (n, n), data).convert("1", dither=Image.Dither.NONE)
    if hasattr(c, "draw_bitmap"):  # receipts.leanpdf's canvas takes the bits as PDF wants them (1 = white)
        c.draw_bitmap(n, n, img.tobytes(), x, y, size, size)
        return
    c.drawImage(ImageReader(img), x, y, width=size, height=size)


def render_pdf(content: dict, *, title_note: str | None = None, font: str | None = None) -> bytes:
    """One A5 page with every legal field; returns unsigned PDF bytes.

    `font` names a registered reportlab font; the default is ours, registered once per process.
    Bold is the regular font filled and stroked (PDF text render mode 2): one embedded font subset
    instead of two halves the render time, and text extraction is unchanged.
    """
    if font is None:
        register_fonts()
        font = FONT
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A5, pageCompression=1, invariant=0)
    draw_page(c, content, title_note=title_note, font=font)
    c.showPage()
    c.save()
    return buf.getvalue()


def draw_page(c, content: dict, *, title_note: str | None, font: str) -> None:
    """Draw the receipt on `c`: a reportlab canvas, or receipts.leanpdf's, which records the same calls."""
    width, height = A5
    c.setTitle(printable(f"Biên lai {content['symbol']} số {content['number']}"))
    c.setAuthor(printable(content["organisation"]["name"]))
    c.setSubject(printable(content["type"]))
    left, right = 12 * mm, width - 12 * mm
    y = height - 14 * mm

    # Text is drawn with canvas calls, which parse no markup: "<b>" in a payer's name is printed as
    # typed. Controls and lone surrogates (stored before input was cleaned) are dropped here.
    def put(x, yy, s, size=8.5, bold=False, align="left"):
        s = printable(s)
        c.setFont(font, size)
        mode = None
        if bold:
            c.setLineWidth(size * 0.045)
            mode = 2
        draw = {"left": c.drawString, "right": c.drawRightString, "centre": c.drawCentredString}[align]
        draw(x, yy, s, mode=mode)
        if bold:
            c.setLineWidth(0.5)

    def wrapped(x, yy, s, max_w, size=8.5, bold=False, leading=None):
        leading = leading or size * 1.3
        for line in simpleSplit(printable(s), font, size, max_w) or [""]:
            put(x, yy, line, size, bold)
            yy -= leading
        return yy

    org = content["organisation"]
    y = wrapped(left, y, org["name"].upper(), 80 * mm, 8.5, bold=True)
    y = wrapped(left, y, f"Mã số thuế: {org['tax_code']}", 80 * mm)
    y = wrapped(left, y, f"Địa chỉ: {org['address']}", 80 * mm)
    if org.get("phone"):
        y = wrapped(left, y, f"Điện thoại: {org['phone']}", 80 * mm)
    if org.get("bank_account"):
        holder = f" ({org['bank_account_name']})" if org.get("bank_account_name") else ""
        y = wrapped(left, y, f"Số tài khoản: {org['bank_account']}{holder}", 80 * mm)
    centre = content.get("collected_at_centre")
    if centre and centre != org["name"]:
        y = wrapped(left, y, f"Thu hộ tại: {centre}", 80 * mm, 7.5)
    top = height - 14 * mm
    # As the sample form of Circular 32/2025 (Appendix II.B): template symbol (EBL01), serial symbol (26T), number.
    put(right - 38 * mm, top, f"Ký hiệu mẫu: {content['template']}", 8)
    put(right - 38 * mm, top - 11, f"Ký hiệu: {content['symbol']}", 8)
    put(right - 38 * mm, top - 22, "Số: ", 8)
    put(right - 38 * mm + c.stringWidth("Số: ", font, 8), top - 22, content["number"], 9, bold=True)

    y = min(y, top - 30) - 8 * mm
    put(width / 2, y, content["type"], 13, bold=True, align="centre")
    y -= 5 * mm
    put(width / 2, y, "(Biên lai điện tử)", 8, align="centre")
    y -= 4 * mm
    if title_note:
        put(width / 2, y, title_note, 8.5, bold=True, align="centre")
        y -= 4 * mm
    y -= 4 * mm

    payer = content["payer"]
    y = wrapped(left, y, f"Họ và tên người nộp: {payer['name']}", right - left, 9)
    if payer.get("tax_code"):
        y = wrapped(left, y, f"Mã số thuế: {payer['tax_code']}", right - left, 9)
    if payer.get("id_number"):
        y = wrapped(left, y, f"Số định danh cá nhân: {payer['id_number']}", right - left, 9)
    y = wrapped(left, y, f"Địa chỉ: {payer['address'] or '—'}", right - left, 9)
    if payer.get("bank_account"):
        y = wrapped(left, y, f"Số tài khoản: {payer['bank_account']}", right - left, 9)
    # Two lines: wrapping joins words with single spaces, so one line read "X-0000 Mã thanh toán".
    y = wrapped(left, y, f"Mã hồ sơ: {content['dossier_code']}", right - left, 9)
    y = wrapped(left, y, f"Mã thanh toán: {content['payment_code']}", right - left, 9)
    y -= 3 * mm

    # Fee lines
    col_no, col_name, col_kind, col_amount = left, left + 8 * mm, right - 48 * mm, right
    c.setLineWidth(0.5)
    c.line(left, y + 3 * mm, right, y + 3 * mm)
    put(col_no, y, "STT", 8, bold=True)
    put(col_name, y, "Tên khoản thu", 8, bold=True)
    put(col_kind, y, "Loại", 8, bold=True)
    put(col_amount, y, "Số tiền (đồng)", 8, bold=True, align="right")
    y -= 2 * mm
    c.line(left, y, right, y)
    y -= 4 * mm
    for i, line in enumerate(content["lines"], 1):
        put(col_no, y, str(i), 8.5)
        name = line["name"] + (f" (x{line['quantity']})" if line["quantity"] > 1 else "")
        put(col_kind, y, line["kind_label"], 8.5)
        put(col_amount, y, format_amount(line["amount"]), 8.5, align="right")
        y = wrapped(col_name, y, name, col_kind - col_name - 3 * mm, 8.5)
        y -= 1 * mm
    c.line(left, y + 2 * mm, right, y + 2 * mm)
    y -= 2 * mm
    put(col_name, y, "Tổng cộng", 9, bold=True)
    put(col_amount, y, format_amount(content["total"]), 9, bold=True, align="right")
    y -= 5 * mm
    y = wrapped(left, y, f"Số tiền bằng chữ: {content['total_words']}", right - left, 9)
    y -= 2 * mm
    y = wrapped(left, y, f"Hình thức thanh toán: {content['channel_label']}", right - left, 8.5)
    if content["channel_ref"]:
        y = wrapped(left, y, f"Mã giao dịch: {content['channel_ref']}", right - left, 8.5)
    y = wrapped(left, y, f"Ngày thu: {content['collected_local']}", right - left, 8.5)
    if content.get("replaces"):
        r = content["replaces"]
        what = "Điều chỉnh cho" if r.get("kind") == "adjust" else "Thay thế"
        day = "/".join(reversed(r["date"].split("-"))) if r.get("date") else ""
        y = wrapped(left, y, f"{what} biên lai ký hiệu mẫu {r['template']}, ký hiệu {r['symbol']}, số {r['number']}"
                             + (f", ngày {day}" if day else ""), right - left, 8.5, bold=True)

    # Lookup, QR and signature block at the bottom.
    qr_size = 26 * mm
    base = 14 * mm
    _qr(c, content["lookup_url"], left, base, qr_size)
    tx = left + qr_size + 4 * mm
    ty = base + qr_size - 3 * mm
    put(tx, ty, "Tra cứu và kiểm tra biên lai:", 8)
    ty = wrapped(tx, ty - 10, content["lookup_url"], right - tx, 7.5)
    put(tx, ty - 2, f"Mã tra cứu: {content['lookup_code']}", 8.5, bold=True)
    day = content.get("collected_day")  # YYYY-MM-DD, the Vietnamese day of collection
    if day:
        yyyy, mm_, dd = day.split("-")
        put(right, base + 16 * mm, f"Ngày {dd} tháng {mm_} năm {yyyy}", 7.5, align="right")
    put(right, base + 12 * mm, "NGƯỜI THU TIỀN", 8.5, bold=True, align="right")
    put(right, base + 8 * mm, "(Ký bằng chữ ký số)", 7.5, align="right")
    # The collector's name on up to two lines (a unit's name is long); beyond that it is shortened.
    lines = simpleSplit(printable(content.get("collector") or org["name"]), font, 8, 62 * mm) or [""]
    if len(lines) > 2:
        lines = [lines[0], lines[1]]
        while c.stringWidth(lines[1] + "…", font, 8) > 62 * mm:
            lines[1] = lines[1][:-1]
        lines[1] += "…"
    for i, line in enumerate(lines):
        put(right, base + 4 * mm - i * 3.3 * mm, line, 8, align="right")
    put(width / 2, 7 * mm, "Biên lai điện tử có giá trị pháp lý khi chữ ký số hợp lệ; "
                           "tệp XML đính kèm là dữ liệu của biên lai.", 6.5, align="centre")
