"""The receipt register (sổ biên lai): filtered listing and its CSV export for a day or a month, with each receipt's
correction (replacement, adjustment and its difference) and refunds (a refunded receipt stays valid)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import object_session

from core import search
from core.clock import day_bounds_utc, format_local
from fees.models import Payment
from receipts.content import CHANNEL_LABELS
from receipts.models import Receipt, ReceiptRefund

STATUS_LABELS = {"pending": "Đang phát hành", "issued": "Đã phát hành", "cancelled": "Đã huỷ",
                 "replaced": "Đã bị thay thế"}


@dataclass(frozen=True)
class RegisterFilter:
    centre_id: int
    start: date | None = None
    end: date | None = None
    status: str | None = None
    fee_code: str | None = None
    channel: str | None = None
    unit_id: int | None = None
    # Free text: receipt number, payer name (with or without diacritics), phone, dossier or payment code.
    text: str | None = None


def register_query(f: RegisterFilter) -> Select:
    """Receipts of a centre by Vietnamese issue day, status, fee type, channel and unit; per unit, in number order."""
    stmt = select(Receipt).where(Receipt.centre_id == f.centre_id)
    if f.start is not None:
        stmt = stmt.where(Receipt.created_at >= day_bounds_utc(f.start)[0])
    if f.end is not None:
        stmt = stmt.where(Receipt.created_at < day_bounds_utc(f.end)[1])
    if f.status:
        stmt = stmt.where(Receipt.status == f.status)
    if f.channel:
        stmt = stmt.where(Receipt.channel == f.channel)
    if f.unit_id is not None:
        stmt = stmt.where(Receipt.unit_id == f.unit_id)
    if f.fee_code:
        # fee_codes is the sorted comma-joined list of the receipt's fee codes.
        code = f.fee_code
        stmt = stmt.where((Receipt.fee_codes == code) | Receipt.fee_codes.like(f"{code},%")
                          | Receipt.fee_codes.like(f"%,{code}") | Receipt.fee_codes.like(f"%,{code},%"))
    if f.text and search.words(f.text):
        # The receipt's own folded column, or its payment's (which carries the payer's phone).
        paid_by = select(Payment.id).where(Payment.centre_id == f.centre_id, search.matches(Payment.search_text, f.text))
        stmt = stmt.where(or_(search.matches(Receipt.search_text, f.text), Receipt.payment_id.in_(paid_by)))
    # Two units served at a centre may both number EBL01/26T: each unit's series is listed on its own.
    return stmt.order_by(Receipt.unit_id, Receipt.template, Receipt.symbol, Receipt.number)


COLUMNS = ["Ký hiệu mẫu", "Ký hiệu", "Số", "Ngày lập", "Ngày thu", "Người nộp", "Mã hồ sơ", "Khoản thu",
           "Loại", "Số tiền", "Hình thức thanh toán", "Mã giao dịch", "Trạng thái", "Lý do huỷ/thay thế",
           "Thay thế cho số", "Mã tra cứu", "SHA-256", "Đơn vị thu", "Mã số thuế đơn vị thu",
           "Thay thế/điều chỉnh", "Chênh lệch điều chỉnh", "Đã hoàn trả", "Mã hoàn trả"]
CORRECTION_LABELS = {"replace": "Thay thế", "adjust": "Điều chỉnh"}


def register_csv(receipts) -> str:
    """CSV (UTF-8 with BOM so spreadsheet programs keep the diacritics), one row per receipt."""
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out)
    w.writerow(COLUMNS)
    rows = list(receipts)
    refunds: dict[int, list] = {}
    session = object_session(rows[0]) if rows else None
    if session is not None:
        for doc in session.scalars(select(ReceiptRefund).where(ReceiptRefund.receipt_id.in_([r.id for r in rows]))
                                   .order_by(ReceiptRefund.id)):
            refunds.setdefault(doc.receipt_id, []).append(doc)
    for r in rows:
        c = r.content
        replaced = c.get("replaces") or {}
        w.writerow([r.template, r.symbol, r.number_text, format_local(r.created_at), format_local(r.collected_at),
                    c["payer"]["name"], c["dossier_code"], "; ".join(x["name"] for x in c["lines"]),
                    "; ".join(x["kind_label"] for x in c["lines"]), r.amount,
                    CHANNEL_LABELS.get(r.channel or "", r.channel or ""), r.channel_ref or "",
                    STATUS_LABELS.get(r.status, r.status), r.cancel_reason or "", replaced.get("number", ""),
                    r.lookup_code, r.sha256 or "", c["organisation"]["name"], c["organisation"]["tax_code"],
                    CORRECTION_LABELS.get(r.correction or "", ""), r.delta if r.correction == "adjust" else "",
                    sum(d.amount for d in refunds.get(r.id, [])) or "",
                    "; ".join(d.reference for d in refunds.get(r.id, []))])
    return out.getvalue()
