"""Postal PDFs: labels of a batch as one file, the handover list (bảng kê) and the letter of apology."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

from pypdf import PdfReader, PdfWriter
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from core.clock import format_local, local_day
from core.models import Centre
from core.money import format_vnd
from core.text import markup, printable
from postal.models import DispatchBatch, Shipment

_OWN_FONTS = Path(__file__).resolve().parents[1] / "receipts" / "fonts"
_SYSTEM_FONTS = Path("/usr/share/fonts/truetype/dejavu")
STATUS_VI = {"pending": "Chờ lấy hàng", "picked_up": "Đã lấy hàng", "in_transit": "Đang vận chuyển",
             "out_for_delivery": "Đang phát", "delivery_failed": "Phát không thành công", "on_hold": "Tạm giữ",
             "ready_for_pickup": "Chờ nhận tại bưu cục", "delivered": "Đã phát thành công",
             "return_to_sender": "Đang chuyển hoàn", "returned": "Đã chuyển hoàn", "cancelled": "Đã huỷ",
             "unknown": "Không xác định"}


def _fonts() -> tuple[str, str]:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if "PostalSans" not in pdfmetrics.getRegisteredFontNames():
        regular = _font_file("DejaVuSans.ttf")
        if regular is None:
            raise RuntimeError("DejaVu Sans is missing: run scripts/setup.sh (fonts-dejavu-core)")
        bold = _font_file("DejaVuSans-Bold.ttf") or regular
        pdfmetrics.registerFont(TTFont("PostalSans", str(regular)))
        pdfmetrics.registerFont(TTFont("PostalSans-Bold", str(bold)))
    return "PostalSans", "PostalSans-Bold"


def _font_file(name: str) -> Path | None:
    for folder in (_OWN_FONTS, _SYSTEM_FONTS):
        if (folder / name).is_file():
            return folder / name
    return None


def _styles():
    regular, bold = _fonts()
    return {
        "title": ParagraphStyle("title", fontName=bold, fontSize=14, leading=18, alignment=1),
        "centre": ParagraphStyle("centre", fontName=regular, fontSize=10, leading=13, alignment=1),
        "body": ParagraphStyle("body", fontName=regular, fontSize=10.5, leading=15),
        "small": ParagraphStyle("small", fontName=regular, fontSize=8.5, leading=11),
        "bold": ParagraphStyle("bold", fontName=bold, fontSize=10.5, leading=15),
    }


# Our own label, for a carrier that gives none: A6 portrait (100 × 150 mm), the size of the thermal
# label stock carriers use, drawn for a 203 dpi (8 dots/mm) printer: every barcode module a whole
# number of dots (3 when the code fits, never under 2 = 0.25 mm), bars 18 mm high, quiet zones of
# 10 modules each side (ISO/IEC 15417 asks for 10).
LABEL_SIZE = (100 * mm, 150 * mm)
DOT = 25.4 / 203 * mm  # one printer dot, in points
LABEL_MARGIN = 4 * mm
BARCODE_HEIGHT = 18 * mm
QUIET_MODULES = 10
CARRIER_TITLES = {"vnpost": "VNPost", "viettelpost": "Viettel Post", "ghn": "GHN - Giao Hàng Nhanh"}


def label_available(s: Shipment) -> bool:
    """A label can be printed once the carrier was asked for its own (`label_fetched_at`, set by
    `postal.jobs.fetch_label` whether it stored one or the carrier has none); read without loading
    the deferred PDF, so a list of parcels does not fetch every label."""
    return bool(s.tracking_code) and s.label_fetched_at is not None


def shipment_label(s: Shipment) -> bytes | None:
    """The label to print: the carrier's own as it returned it (stored when the parcel was created),
    else ours with the tracking code as a Code 128 barcode; None while the carrier's is still awaited."""
    if not label_available(s):
        return None
    return s.label_pdf or own_label_pdf(s)


def labels_pdf(shipments: list[Shipment]) -> bytes:
    """Every label (the carrier's, else ours), in order, as one PDF for one print job."""
    writer = PdfWriter()
    for s in shipments:
        data = shipment_label(s)
        if data:
            for page in PdfReader(io.BytesIO(data)).pages:
                writer.add_page(page)
    buf = io.BytesIO()
    writer.write(buf)
    writer.close()
    return buf.getvalue()


def _barcode_value(tracking_code: str) -> str:
    """Code 128 carries ASCII only: what a carrier's code holds besides is dropped, not sent to reportlab."""
    return "".join(ch for ch in printable(tracking_code) if 32 <= ord(ch) < 127).strip()


def tracking_barcode(tracking_code: str, width: float):
    """A Code 128 drawing of the tracking code as wide as it can be within `width` points, with modules
    of whole printer dots (3, else 2) and the quiet zones included in the width."""
    from reportlab.graphics.barcode.code128 import Code128

    value = _barcode_value(tracking_code)
    for dots in (3, 2):
        module = dots * DOT
        code = Code128(value, barWidth=module, barHeight=BARCODE_HEIGHT, quiet=1, lquiet=QUIET_MODULES * module,
                       rquiet=QUIET_MODULES * module, humanReadable=0)
        if code.width <= width:
            return code
    return code  # a code too long for the label still prints at 2 dots: the carrier's code is never cut


def own_label_pdf(s: Shipment) -> bytes:
    """Nhãn bưu gửi: A6 for a 203 dpi thermal printer; sender (the return address) and recipient
    blocks, the tracking code as Code 128, dossier, weight and the amount to collect."""
    from reportlab.pdfgen import canvas

    regular, bold = _fonts()
    st = {
        "head": ParagraphStyle("head", fontName=bold, fontSize=13, leading=16),
        "box_title": ParagraphStyle("box_title", fontName=bold, fontSize=8, leading=10),
        "box": ParagraphStyle("box", fontName=regular, fontSize=9, leading=11.5),
        "box_big": ParagraphStyle("box_big", fontName=bold, fontSize=11, leading=14),
        "small": ParagraphStyle("small", fontName=regular, fontSize=8, leading=10),
    }
    width, height = LABEL_SIZE
    inner = width - 2 * LABEL_MARGIN
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=LABEL_SIZE)
    c.setTitle(printable(f"Nhãn {s.tracking_code or s.code}"))
    centre = s.centre
    citizen_lines = [s.recipient_name, s.recipient_phone, s.address]
    centre_lines = [centre.name, centre.phone or "", centre.address or ""]
    if s.direction == "inbound":
        sender, recipient = citizen_lines, centre_lines
        sender_title, recipient_title = "NGƯỜI GỬI (người dân)", "NGƯỜI NHẬN — NƠI NHẬN HỒ SƠ"
    else:
        sender, recipient = centre_lines, citizen_lines
        sender_title, recipient_title = "NGƯỜI GỬI — ĐỊA CHỈ HOÀN TRẢ", "NGƯỜI NHẬN"

    y = height - LABEL_MARGIN

    def para(text: str, style, top: float, w: float = inner, x: float = LABEL_MARGIN) -> float:
        p = Paragraph(text, style)
        _w, h = p.wrapOn(c, w, height)
        p.drawOn(c, x, top - h)
        return top - h

    y = para(markup(CARRIER_TITLES.get(s.carrier, s.carrier) + (f" — {s.service}" if s.service else "")),
             st["head"], y)
    y = para(markup(f"Mã bưu gửi: {s.code}") + (" — THU GOM HỒ SƠ" if s.direction == "inbound" else ""),
             st["small"], y - 1 * mm)
    # The barcode, centred, with its human-readable code below it.
    code = tracking_barcode(s.tracking_code or s.code, inner)
    y -= 2 * mm + code.height
    code.drawOn(c, (width - code.width) / 2, y)
    c.setFont(bold, 12)
    c.drawCentredString(width / 2, y - 5 * mm, printable(s.tracking_code or s.code))
    y -= 8 * mm
    c.setLineWidth(0.8)

    def block(title: str, lines: list[str], top: float, big: bool) -> float:
        bottom = para(markup(title), st["box_title"], top - 1.5 * mm, inner - 3 * mm, LABEL_MARGIN + 1.5 * mm)
        first, rest = lines[0], [x for x in lines[1:] if x]
        bottom = para(markup(first), st["box_big"] if big else st["box"], bottom, inner - 3 * mm,
                      LABEL_MARGIN + 1.5 * mm)
        bottom = para("<br/>".join(markup(x) for x in rest), st["box_big"] if big else st["box"], bottom,
                      inner - 3 * mm, LABEL_MARGIN + 1.5 * mm) if rest else bottom
        bottom -= 1.5 * mm
        c.rect(LABEL_MARGIN, bottom, inner, top - bottom)
        return bottom

    y = block(sender_title, sender, y, big=False) - 2 * mm
    y = block(recipient_title, recipient, y, big=True) - 2 * mm
    money = (f"Thu hộ: {format_vnd(s.cod_amount)}" if s.cod_amount else "Không thu tiền người nhận") \
        if s.direction == "outbound" else (f"Thu phí khi lấy hồ sơ: {format_vnd(s.cod_amount)}" if s.cod_amount
                                           else "Không thu tiền")
    details = [f"Hồ sơ: {s.dossier_code}", f"Khối lượng: {s.weight_grams} g — {money}"]
    if s.direction == "inbound" and s.pickup_window:
        details.append(f"Lấy hồ sơ: {s.pickup_window}")
    details.append("Nội dung: " + ("Hồ sơ thủ tục hành chính" if s.direction == "inbound"
                                   else "Kết quả giải quyết thủ tục hành chính"))
    y = para("<br/>".join(markup(x) for x in details), st["box"], y)
    c.setFont(regular, 7)
    c.drawString(LABEL_MARGIN, LABEL_MARGIN, printable(f"Tạo lúc {format_local(s.created_at)}"))
    c.showPage()
    c.save()
    return buf.getvalue()


def handover_pdf(batch: DispatchBatch, centre: Centre, carrier_title: str) -> bytes:
    """Bảng kê bàn giao bưu gửi: every parcel with its tracking code and COD, and signature boxes."""
    st = _styles()
    regular, bold = _fonts()
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=landscape(A4), leftMargin=12 * mm, rightMargin=12 * mm,
                            topMargin=12 * mm, bottomMargin=12 * mm, title=printable(f"Bảng kê {batch.code}"))
    story = [Paragraph(markup(centre.name), st["centre"]),
             Spacer(1, 3 * mm),
             Paragraph("BẢNG KÊ BÀN GIAO BƯU GỬI", st["title"]),
             Paragraph(markup(f"Số: {batch.code} — Đơn vị vận chuyển: {carrier_title} — "
                              f"Ngày {format_local(batch.created_at)}"), st["centre"]),
             Spacer(1, 5 * mm)]
    rows = [["STT", "Mã vận đơn", "Mã bưu gửi", "Hồ sơ", "Người nhận", "Địa chỉ", "KL (g)", "Thu hộ (COD)"]]
    total = 0
    for i, s in enumerate(batch.shipments, start=1):
        total += s.cod_amount
        # Plain cells are drawn as is; Paragraph cells are parsed as markup, so their text is escaped.
        rows.append([str(i), printable(s.tracking_code), printable(s.code),
                     Paragraph(markup(s.dossier_code), st["small"]), Paragraph(markup(s.recipient_name), st["small"]),
                     Paragraph(markup(s.address), st["small"]), str(s.weight_grams), format_vnd(s.cod_amount)])
    rows.append(["", "", "", "", "", Paragraph(f"Tổng cộng: {len(batch.shipments)} bưu gửi", st["small"]), "",
                 format_vnd(total)])
    table = Table(rows, colWidths=[10 * mm, 32 * mm, 30 * mm, 38 * mm, 36 * mm, 84 * mm, 14 * mm, 27 * mm],
                  repeatRows=1)
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), regular, 8.5),
        ("FONT", (0, 0), (-1, 0), bold, 8.5),
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("ALIGN", (6, 1), (7, -1), "RIGHT"),
    ]))
    story += [table, Spacer(1, 10 * mm)]
    signatures = Table([["ĐẠI DIỆN TRUNG TÂM (BÊN GIAO)", "BƯU TÁ / NHÂN VIÊN VẬN CHUYỂN (BÊN NHẬN)"],
                        ["(Ký, ghi rõ họ tên)", "(Ký, ghi rõ họ tên)"], ["\n\n\n\n", "\n\n\n\n"]],
                       colWidths=[130 * mm, 130 * mm])
    signatures.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, 0), bold, 10), ("FONT", (0, 1), (-1, -1), regular, 9),
        ("ALIGN", (0, 0), (-1, -1), "CENTER"), ("BOX", (0, 0), (0, -1), 0.5, colors.black),
        ("BOX", (1, 0), (1, -1), 0.5, colors.black),
    ]))
    story.append(signatures)
    doc.build(story)
    return buf.getvalue()


def apology_pdf(shipment: Shipment, centre: Centre, today: date | None = None) -> bytes:
    """Thư xin lỗi: the centre apologises for a result returned after the promised date."""
    st = _styles()
    today = today or local_day()
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=25 * mm, rightMargin=20 * mm, topMargin=20 * mm,
                            bottomMargin=20 * mm, title=printable(f"Thư xin lỗi - hồ sơ {shipment.dossier_code}"))
    promised = shipment.promised_date.strftime("%d/%m/%Y") if shipment.promised_date else ""
    story = [
        Paragraph(markup(centre.name.upper()), st["bold"]),
        Paragraph("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM<br/>Độc lập - Tự do - Hạnh phúc", st["centre"]),
        Spacer(1, 6 * mm),
        Paragraph(f"Ngày {today.day:02d} tháng {today.month:02d} năm {today.year}", st["centre"]),
        Spacer(1, 6 * mm),
        Paragraph("THƯ XIN LỖI", st["title"]),
        Paragraph("Về việc trả kết quả giải quyết thủ tục hành chính quá hạn", st["centre"]),
        Spacer(1, 8 * mm),
        Paragraph(f"Kính gửi: Ông/Bà <b>{markup(shipment.recipient_name)}</b>", st["body"]),
        Paragraph(f"Địa chỉ: {markup(shipment.address)}", st["body"]),
        Spacer(1, 4 * mm),
        Paragraph(f"{markup(centre.name)} đã tiếp nhận và giải quyết hồ sơ số <b>{markup(shipment.dossier_code)}</b> "
                  f"của Ông/Bà, với ngày hẹn trả kết quả là <b>{promised}</b>. Do kết quả được chuyển qua dịch vụ "
                  f"bưu chính (mã vận đơn {markup(shipment.tracking_code or shipment.code)}) nhưng chưa đến tay "
                  "Ông/Bà đúng hẹn, "
                  "việc trả kết quả đã bị chậm so với thời hạn đã hẹn.", st["body"]),
        Spacer(1, 3 * mm),
        Paragraph("Trung tâm chân thành xin lỗi Ông/Bà vì sự chậm trễ này và những bất tiện đã gây ra. Trung tâm đang "
                  "phối hợp với đơn vị bưu chính để kết quả được chuyển đến Ông/Bà trong thời gian sớm nhất; "
                  "Ông/Bà có thể theo dõi bưu gửi hoặc liên hệ Trung tâm để được hỗ trợ.", st["body"]),
        Spacer(1, 3 * mm),
        Paragraph(markup(f"Mọi thắc mắc xin liên hệ: {centre.phone or ''} — {centre.email or ''}."), st["body"]),
        Spacer(1, 12 * mm),
        Table([["", "GIÁM ĐỐC"], ["", "(Ký, ghi rõ họ tên, đóng dấu)"]], colWidths=[80 * mm, 85 * mm],
              style=TableStyle([("FONT", (0, 0), (-1, 0), _fonts()[1], 10.5), ("FONT", (0, 1), (-1, 1), _fonts()[0], 9),
                                ("ALIGN", (1, 0), (1, -1), "CENTER")])),
    ]
    doc.build(story)
    return buf.getvalue()
