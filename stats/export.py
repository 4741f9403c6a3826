"""The statistics as CSV and XLSX, with the same numbers as the page and `GET /api/v1/stats`."""

from __future__ import annotations

import csv
import io

from fees.gateways.base import ChannelLabels
from fees.models import CHANNELS
from stats.queries import FIGURE_LABELS, GROUP_LABELS, Row, Stats

COLUMNS = ("received", "resolved", "early", "on_time", "late_resolved", "late_open", "late", "by_post_received", "by_post_returned",
           "fees_collected", "fees_phi", "fees_le_phi", "fees_online", "online_share", "receipts_issued",
           "receipts_automatic", "receipts_automatic_share")
SHARES = ("online_share", "receipts_automatic_share")
CHANNEL_LABELS = ChannelLabels({"vnpay": "VNPAY", "momo": "MoMo", "vietqr": "Chuyển khoản VietQR",
                                "counter": "Tại quầy", "cod": "Thu hộ khi phát (COD)"})


def header(s: Stats) -> list[str]:
    return ["Mã", GROUP_LABELS[s.group_by], *(FIGURE_LABELS[c] for c in COLUMNS),
            *(f"Thu qua {CHANNEL_LABELS[c]} (đồng)" for c in CHANNELS)]


def values(r: Row) -> list:
    """A row's cells: counts and đồng as integers, shares as percent with one decimal (empty when undefined)."""
    out: list = [r.key or "", r.label]
    for c in COLUMNS:
        v = getattr(r, c)
        out.append(("" if v is None else round(100 * v, 1)) if c in SHARES else v)
    return out + [r.fees_by_channel.get(c, 0) for c in CHANNELS]


def table(s: Stats) -> list[list]:
    return [header(s), *(values(r) for r in s.rows), values(s.total)]


def to_csv(s: Stats) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([f"Thống kê từ {s.start:%d/%m/%Y} đến {s.end:%d/%m/%Y}, theo {GROUP_LABELS[s.group_by].lower()}"])
    w.writerows(table(s))
    return buf.getvalue().encode("utf-8-sig")  # BOM so Excel reads Vietnamese correctly


def to_xlsx(s: Stats) -> bytes:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "Thống kê"
    ws.append([f"Thống kê từ {s.start:%d/%m/%Y} đến {s.end:%d/%m/%Y}, theo {GROUP_LABELS[s.group_by].lower()}"])
    ws["A1"].font = Font(bold=True)
    for line in table(s):
        ws.append(line)
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    ws.column_dimensions["A"].width = 16
    ws.column_dimensions["B"].width = 48
    for row in ws.iter_rows(min_row=3, min_col=3):
        for cell in row:
            share = cell.column - 3 < len(COLUMNS) and COLUMNS[cell.column - 3] in SHARES
            cell.number_format = "#,##0.0" if share else "#,##0"
    if s.rows:
        chart = BarChart()
        chart.title = "Hồ sơ tiếp nhận và đã trả kết quả"
        last = 2 + len(s.rows)
        chart.add_data(Reference(ws, min_col=3, max_col=4, min_row=2, max_row=last), titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=2, min_row=3, max_row=last))
        ws.add_chart(chart, f"B{last + 3}")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
