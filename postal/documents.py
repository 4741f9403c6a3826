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


def labels_pdf(shipments: list[Shipment]) -> bytes:
    """Every stored label, in order, as one PDF for one print job."""
    writer = PdfWriter()
    for s in shipments:
        if s.label_pdf:
            for page in PdfReader(io.BytesIO(s.label_pdf)).pages:
                writer.add_page(page)
    buf = io.BytesIO()
    writer.write(buf)
    writer.close()
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
