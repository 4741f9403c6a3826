"""The usage report of receipts, form BC26/BLĐT ("Báo cáo tình hình sử dụng biên lai"), from the register.

One report per collecting unit and period: quarterly by default, monthly for a unit registered to report
monthly (`HCC_BC26_MONTHLY_UNITS`). One row per template and symbol the unit used in the period:

- `SLuong`, receipts used: every number taken in the period (by the Vietnamese day the receipt was made),
  whatever became of it: valid, cancelled, replaced, or an adjusting receipt. A receipt number, once taken,
  is used; a cancelled one is reported as used and cancelled, never as unused (the "used, cancelled, lost"
  reading of the regulation's usage reports).
- `TgTien`, total fees and charges: what the receipts numbered in the period stand for when the report is
  made: valid receipts' amounts and adjusting receipts' signed differences; a cancelled or replaced
  receipt adds nothing (its replacement carries the amount).

The XML (`BCTHSDBLai/DLBCTHSDBLai`) is signed with the unit's key and put in its TDiep; the spreadsheet has
the same rows and, beside them, how many of the used receipts were cancelled, replaced or adjusting.
Codes and what is assumed: tax.corrections (the one constants block), docs/tax/corrections.md.
"""

from __future__ import annotations

import calendar
import io
import re
from dataclasses import dataclass, field
from datetime import date

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import day_bounds_utc, local_day, utcnow
from core.errors import InvalidInput, NotFound
from core.settings import Setting, Settings, register_settings
from province.models import CollectingUnit
from receipts.models import Receipt
from receipts.signing import load_unit_signer
from tax.corrections import (
    MESSAGE_KINDS,
    PERIOD_KINDS,
    REPORT_FORM,
    REPORT_ID,
    REPORT_NAME,
    REPORT_PBAN,
    TLOAI_NO_FACE_VALUE,
    _sub,
    _submit,
    issuer_of,
    sign_form,
)

register_settings(
    Setting("HCC_BC26_MONTHLY_UNITS", "", "Codes of collecting units registered to report receipt usage (BC26/BLĐT) "
            "monthly, comma-separated; every other unit reports quarterly."),
)


@dataclass(frozen=True)
class Period:
    kind: str  # quarter | month
    year: int
    index: int  # quarter 1-4 or month 1-12
    start: date
    end: date

    @property
    def label(self) -> str:
        """KBCao: "4/2026" (quarter 4) or "11/2026" (month 11)."""
        return f"{self.index}/{self.year}"

    @property
    def text(self) -> str:
        return f"Quý {self.index} năm {self.year}" if self.kind == "quarter" else f"Tháng {self.index} năm {self.year}"


def parse_period(value: str) -> Period:
    """`2026Q4` (a quarter) or `2026-11` (a month)."""
    value = (value or "").strip().upper()
    if m := re.fullmatch(r"(\d{4})Q([1-4])", value):
        year, q = int(m[1]), int(m[2])
        start = date(year, 3 * q - 2, 1)
        end_month = 3 * q
        return Period("quarter", year, q, start, date(year, end_month, calendar.monthrange(year, end_month)[1]))
    if m := re.fullmatch(r"(\d{4})-(0[1-9]|1[0-2])", value):
        year, month = int(m[1]), int(m[2])
        return Period("month", year, month, date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]))
    raise InvalidInput(f"bad period {value!r}", errors={"period": ["Kỳ báo cáo có dạng 2026Q4 (quý) hoặc 2026-11 (tháng)."]})


def frequency(settings: Settings, unit: CollectingUnit) -> str:
    monthly = {c.strip().upper() for c in (settings.get("HCC_BC26_MONTHLY_UNITS") or "").split(",") if c.strip()}
    return "month" if unit.code.upper() in monthly else "quarter"


def last_period(settings: Settings, unit: CollectingUnit, today: date | None = None) -> Period:
    """The last complete period of the unit's frequency."""
    today = today or local_day()
    if frequency(settings, unit) == "month":
        y, m = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
        return parse_period(f"{y}-{m:02d}")
    q = (today.month - 1) // 3
    return parse_period(f"{today.year}Q{q}" if q else f"{today.year - 1}Q4")


@dataclass
class Row:
    template: str
    symbol: str
    used: int = 0
    total: int = 0
    cancelled: int = 0
    replaced: int = 0
    adjusting: int = 0
    first: int | None = None
    last: int | None = None


@dataclass
class Report:
    unit: CollectingUnit
    period: Period
    rows: list[Row] = field(default_factory=list)

    @property
    def used(self) -> int:
        return sum(r.used for r in self.rows)

    @property
    def total(self) -> int:
        return sum(r.total for r in self.rows)


def counts(receipt: Receipt) -> int:
    """What one receipt adds to TgTien (see the module's docstring)."""
    if receipt.status in ("cancelled", "replaced"):
        return 0
    return receipt.signed_amount


def compute(session: Session, unit: CollectingUnit, period: Period) -> Report:
    """The report's rows from the receipt register: per template and symbol, receipts numbered in the period."""
    start, end = day_bounds_utc(period.start)[0], day_bounds_utc(period.end)[1]
    receipts = session.scalars(select(Receipt).where(Receipt.unit_id == unit.id, Receipt.created_at >= start,
                                                     Receipt.created_at < end)
                               .order_by(Receipt.template, Receipt.symbol, Receipt.number))
    rows: dict[tuple[str, str], Row] = {}
    for r in receipts:
        row = rows.setdefault((r.template, r.symbol), Row(r.template, r.symbol))
        row.used += 1
        row.total += counts(r)
        row.cancelled += r.status == "cancelled"
        row.replaced += r.status == "replaced"
        row.adjusting += r.correction == "adjust"
        row.first = r.number if row.first is None else min(row.first, r.number)
        row.last = r.number if row.last is None else max(row.last, r.number)
    return Report(unit, period, list(rows.values()))


def build_xml(report: Report, issuer, *, made_on: date) -> etree._Element:
    """The unsigned `BCTHSDBLai`."""
    root = etree.Element("BCTHSDBLai")
    data = _sub(root, "DLBCTHSDBLai")
    data.set("Id", REPORT_ID)
    head = _sub(data, "TTChung")
    _sub(head, "PBan", REPORT_PBAN)
    _sub(head, "MSo", REPORT_FORM)
    _sub(head, "Ten", REPORT_NAME)
    _sub(head, "TNNT", issuer.name)
    _sub(head, "MST", issuer.tax_code)
    _sub(head, "DDanh", issuer.place)
    _sub(head, "LKBCao", PERIOD_KINDS[report.period.kind])
    _sub(head, "KBCao", report.period.label)
    _sub(head, "TNgay", report.period.start.isoformat())
    _sub(head, "DNgay", report.period.end.isoformat())
    _sub(head, "NLap", made_on.isoformat())
    body = _sub(data, "NDBCTHSDBLai")
    for i, row in enumerate(report.rows, 1):
        item = _sub(body, "DLieu")
        _sub(item, "STT", i)
        _sub(item, "TLoai", TLOAI_NO_FACE_VALUE)
        _sub(item, "KHMCTu", row.template)
        _sub(item, "KHCTu", row.symbol)
        _sub(item, "SLuong", row.used)
        _sub(item, "TgTien", row.total)
    return root


def signed_xml(session: Session, settings: Settings, report: Report) -> etree._Element:
    now = utcnow()
    root = build_xml(report, issuer_of(session, settings, report.unit), made_on=local_day(now))
    return sign_form(root, load_unit_signer(session, settings, report.unit), reference_id=REPORT_ID, when=now)


def envelope(settings: Settings, unit: CollectingUnit, signed: etree._Element) -> bytes:
    """The signed report in its TDiep (tax.envelope), as the channel sends it."""
    from tax import codes
    from tax import envelope as tdiep

    return tdiep.build(mngui=settings.get("HCC_TAX_SENDER_CODE") or "HCCTVAN", mltdiep=codes.USAGE_REPORT,
                       mst=unit.tax_code, dlieu=signed)


COLUMNS = ["STT", "Tên loại biên lai", "Ký hiệu mẫu biên lai", "Ký hiệu biên lai", "Số biên lai sử dụng trong kỳ",
           "Tổng tiền phí, lệ phí trong kỳ (đồng)", "Từ số", "Đến số", "Trong đó: đã huỷ", "Đã bị thay thế",
           "Biên lai điều chỉnh"]


def xlsx(report: Report, issuer) -> bytes:
    """The same report as a spreadsheet (openpyxl), amounts as whole đồng."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "BC26-BLĐT"
    ws.append([f"{REPORT_NAME.upper()} ({REPORT_FORM})"])
    ws["A1"].font = Font(bold=True)
    ws.append([f"Kỳ báo cáo: {report.period.text} (từ {report.period.start:%d/%m/%Y} đến {report.period.end:%d/%m/%Y})"])
    ws.append([f"Tên đơn vị: {issuer.name}"])
    ws.append([f"Mã số thuế: {issuer.tax_code}"])
    ws.append(["Đơn vị tính: Việt Nam đồng"])
    ws.append(COLUMNS)
    for cell in ws[6]:
        cell.font = Font(bold=True)
    for i, row in enumerate(report.rows, 1):
        ws.append([i, "Biên lai thu phí, lệ phí không có mệnh giá", row.template, row.symbol, row.used, row.total,
                   row.first, row.last, row.cancelled, row.replaced, row.adjusting])
    ws.append(["", "Tổng cộng", "", "", report.used, report.total])
    ws.cell(ws.max_row, 2).font = Font(bold=True)
    for col, width in zip("ABCDEFGHIJK", (6, 40, 18, 14, 16, 22, 10, 10, 12, 12, 14), strict=True):
        ws.column_dimensions[col].width = width
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


@dataclass(frozen=True)
class Written:
    report: Report
    xml: bytes
    xlsx: bytes
    message_id: str | None


def make(session: Session, settings: Settings, *, unit_code: str, period: str | None = None,
         submit: bool = False) -> Written:
    """Compute, sign and wrap the unit's report for `period` (its last complete one when None); with
    `submit`, hand it to the tax channel (the caller commits). Raises InvalidInput when the period's kind is
    not the unit's reporting frequency."""
    unit = session.scalar(select(CollectingUnit).where(CollectingUnit.code == unit_code))
    if unit is None:
        raise NotFound(f"collecting unit {unit_code} not found")
    p = parse_period(period) if period else last_period(settings, unit)
    expected = frequency(settings, unit)
    if p.kind != expected:
        what = "tháng" if expected == "month" else "quý"
        raise InvalidInput(f"unit {unit.code} reports by {expected}", errors={"period": [
            f"Đơn vị {unit.code} đăng ký báo cáo theo {what}: kỳ báo cáo phải là "
            f"{'YYYY-MM' if expected == 'month' else 'YYYYQn'}."]})
    report = compute(session, unit, p)
    signed = signed_xml(session, settings, report)
    message_id = None
    data = envelope(settings, unit, signed)
    if submit:
        message = _submit(session, unit=unit, mltdiep_name="USAGE_REPORT", dlieu=signed, kind=MESSAGE_KINDS["report"])
        body = getattr(message, "body", None)
        data = body if isinstance(body, bytes) else data
        message_id = getattr(message, "mtdiep", None)
    return Written(report, data, xlsx(report, issuer_of(session, settings, unit)), message_id)
