"""The human view of a receipt: an A5 page drawn with reportlab in a Vietnamese-capable font.

The fonts ship in receipts/fonts (DejaVu Sans, freely redistributable) and are registered once per
process; parsing a TrueType file is the slow part of a first render.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import segno
from PIL import Image
from reportlab.lib.pagesizes import A5
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from receipts.content import format_amount

FONT_DIR = Path(__file__).parent / "fonts"
FONT, FONT_BOLD = "HccDejaVuSans", "HccDejaVuSans-Bold"
_fonts_lock = threading.Lock()


def register_fonts() -> None:
    with _fonts_lock:
        if FONT not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(FONT, str(FONT_DIR / "DejaVuSans.ttf")))
            pdfmetrics.registerFont(TTFont(FONT_BOLD, str(FONT_DIR / "DejaVuSans-Bold.ttf")))


def _qr(c: canvas.Canvas, url: str, x: float, y: float, size: float) -> None:
    """Draw the QR code as a one-bit image, one pixel a module (viewers scale it without smoothing)."""
    # A fixed mask skips segno's scoring of all eight (most of the QR time); any mask scans.
    qr = segno.make(url, error="m", mask=0, micro=False)
    border = 2
    rows = qr.matrix
    n = len(rows) + 2 * border
    img = Image.new("1", (n, n), 1)
    img.putdata([0 if (border <= r < n - border and border <= col < n - border and rows[r - border][col - border])
                 else 1 for r in range(n) for col in range(n)])
    c.drawImage(ImageReader(img), x, y, width=size, height=size)


def render_pdf(content: dict, *, title_note: str | None = None, fonts: tuple[str, str] | None = None) -> bytes:
    """One A5 page with every legal field; returns unsigned PDF bytes.

    `fonts` names registered reportlab fonts (regular, bold); the default is ours, registered once.
    """
    if fonts is None:
        register_fonts()
        fonts = (FONT, FONT_BOLD)
    f, fb = fonts
    buf = io.BytesIO()
    width, height = A5
    c = canvas.Canvas(buf, pagesize=A5, pageCompression=1, invariant=0)
    c.setTitle(f"Biên lai {content['symbol']} số {content['number']}")
    c.setAuthor(content["organisation"]["name"])
    c.setSubject(content["type"])
    left, right = 12 * mm, width - 12 * mm
    y = height - 14 * mm

    def text(x, yy, s, size=8.5, bold=False):
        c.setFont(fb if bold else f, size)
        c.drawString(x, yy, s)

    def wrapped(x, yy, s, max_w, size=8.5, bold=False, leading=None):
        leading = leading or size * 1.3
        for line in simpleSplit(s, fb if bold else f, size, max_w) or [""]:
            text(x, yy, line, size, bold)
            yy -= leading
        return yy

    org = content["organisation"]
    y = wrapped(left, y, org["name"].upper(), 80 * mm, 8.5, bold=True)
    y = wrapped(left, y, f"Mã số thuế: {org['tax_code']}", 80 * mm)
    y = wrapped(left, y, f"Địa chỉ: {org['address']}", 80 * mm)
    top = height - 14 * mm
    text(right - 38 * mm, top, f"Ký hiệu mẫu: {content['template']}", 8)
    text(right - 38 * mm, top - 11, f"Ký hiệu: {content['symbol']}", 8)
    text(right - 38 * mm, top - 22, "Số: ", 8)
    text(right - 38 * mm + c.stringWidth("Số: ", f, 8), top - 22, content["number"], 9, bold=True)

    y = min(y, top - 30) - 8 * mm
    c.setFont(fb, 13)
    c.drawCentredString(width / 2, y, content["type"])
    y -= 5 * mm
    c.setFont(f, 8)
    c.drawCentredString(width / 2, y, "(Biên lai điện tử)")
    y -= 4 * mm
    if title_note:
        c.setFont(fb, 8.5)
        c.drawCentredString(width / 2, y, title_note)
        y -= 4 * mm
    y -= 4 * mm

    payer = content["payer"]
    y = wrapped(left, y, f"Họ và tên người nộp: {payer['name']}", right - left, 9)
    y = wrapped(left, y, f"Địa chỉ: {payer['address'] or '—'}", right - left, 9)
    y = wrapped(left, y, f"Mã hồ sơ: {content['dossier_code']}    Mã thanh toán: {content['payment_code']}",
                right - left, 9)
    y -= 3 * mm

    # Fee lines
    col_no, col_name, col_kind, col_amount = left, left + 8 * mm, right - 48 * mm, right
    c.setLineWidth(0.5)
    c.line(left, y + 3 * mm, right, y + 3 * mm)
    text(col_no, y, "STT", 8, bold=True)
    text(col_name, y, "Tên khoản thu", 8, bold=True)
    text(col_kind, y, "Loại", 8, bold=True)
    c.setFont(fb, 8)
    c.drawRightString(col_amount, y, "Số tiền (đồng)")
    y -= 2 * mm
    c.line(left, y, right, y)
    y -= 4 * mm
    for i, line in enumerate(content["lines"], 1):
        text(col_no, y, str(i), 8.5)
        name = line["name"] + (f" (x{line['quantity']})" if line["quantity"] > 1 else "")
        text(col_kind, y, line["kind_label"], 8.5)
        c.setFont(f, 8.5)
        c.drawRightString(col_amount, y, format_amount(line["amount"]))
        y = wrapped(col_name, y, name, col_kind - col_name - 3 * mm, 8.5)
        y -= 1 * mm
    c.line(left, y + 2 * mm, right, y + 2 * mm)
    y -= 2 * mm
    text(col_name, y, "Tổng cộng", 9, bold=True)
    c.setFont(fb, 9)
    c.drawRightString(col_amount, y, format_amount(content["total"]))
    y -= 5 * mm
    y = wrapped(left, y, f"Số tiền bằng chữ: {content['total_words']}", right - left, 9)
    y -= 2 * mm
    y = wrapped(left, y, f"Hình thức thanh toán: {content['channel_label']}", right - left, 8.5)
    if content["channel_ref"]:
        y = wrapped(left, y, f"Mã giao dịch: {content['channel_ref']}", right - left, 8.5)
    y = wrapped(left, y, f"Ngày thu: {content['collected_local']}", right - left, 8.5)
    if content.get("replaces"):
        r = content["replaces"]
        y = wrapped(left, y, f"Thay thế biên lai ký hiệu {r['symbol']} số {r['number']} (mẫu {r['template']})",
                    right - left, 8.5, bold=True)

    # Lookup, QR and signature block at the bottom.
    qr_size = 26 * mm
    base = 14 * mm
    _qr(c, content["lookup_url"], left, base, qr_size)
    tx = left + qr_size + 4 * mm
    ty = base + qr_size - 3 * mm
    text(tx, ty, "Tra cứu và kiểm tra biên lai:", 8)
    ty = wrapped(tx, ty - 10, content["lookup_url"], right - tx, 7.5)
    text(tx, ty - 2, f"Mã tra cứu: {content['lookup_code']}", 8.5, bold=True)
    c.setFont(fb, 8.5)
    c.drawRightString(right, base + 8 * mm, "ĐƠN VỊ THU")
    c.setFont(f, 7.5)
    c.drawRightString(right, base + 4 * mm, "(Ký bằng chữ ký số)")
    c.setFont(f, 6.5)
    c.drawCentredString(width / 2, 7 * mm, "Biên lai điện tử có giá trị pháp lý khi chữ ký số hợp lệ; "
                                           "tệp XML đính kèm là dữ liệu của biên lai.")
    c.showPage()
    c.save()
    return buf.getvalue()
