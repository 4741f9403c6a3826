"""The staff search page: payments, receipts and shipments by code, receipt number, payer name, phone or
dossier code, on the folded search columns (core.search), limited to the centres the user may see."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import current_user
from sqlalchemy import select

from api.auth import require_roles
from api.context import db_session
from api.i18n import register_messages
from core import search
from fees.models import Payment
from postal.models import Shipment
from receipts.models import Receipt

bp = Blueprint("search_pages", __name__, url_prefix="/staff/search")

ROLES = ("cashier", "finance", "dispatcher")
LIMIT = 50

register_messages({
    "nav.search": {"vi": "Tìm kiếm", "en": "Search"},
    "search.title": {"vi": "Tìm kiếm", "en": "Search"},
    "search.label": {"vi": "Mã thanh toán, số biên lai, mã vận đơn, tên người nộp, số điện thoại hoặc mã hồ sơ",
                     "en": "Payment code, receipt number, shipment code, payer name, phone or dossier code"},
    "search.help": {"vi": "Gõ không dấu cũng được: “nguyen van an” tìm thấy “Nguyễn Văn An”.",
                    "en": "Diacritics are optional: “nguyen van an” finds “Nguyễn Văn An”."},
    "search.submit": {"vi": "Tìm", "en": "Search"},
    "search.payments": {"vi": "Khoản thanh toán", "en": "Payments"},
    "search.receipts": {"vi": "Biên lai", "en": "Receipts"},
    "search.shipments": {"vi": "Bưu gửi", "en": "Shipments"},
    "search.none": {"vi": "Không tìm thấy kết quả nào cho “{q}”.", "en": "Nothing found for “{q}”."},
    "search.more": {"vi": "Chỉ hiện {n} kết quả đầu tiên; hãy gõ cụ thể hơn.",
                    "en": "Only the first {n} are shown; be more specific."},
    "search.payer": {"vi": "Người nộp", "en": "Payer"},
    "search.phone": {"vi": "Điện thoại", "en": "Phone"},
    "search.recipient": {"vi": "Người nhận", "en": "Recipient"},
    "search.number": {"vi": "Số biên lai", "en": "Receipt no."},
    "search.code": {"vi": "Mã", "en": "Code"},
    "search.dossier": {"vi": "Mã hồ sơ", "en": "Dossier"},
    "search.amount": {"vi": "Số tiền", "en": "Amount"},
    "search.status": {"vi": "Trạng thái", "en": "Status"},
    "search.tracking": {"vi": "Mã vận đơn", "en": "Tracking code"},
})


def register_navigation() -> None:
    from api.pages import NAV

    entry = ("search_pages.page", "nav.search", ROLES)
    if entry not in NAV:
        NAV.append(entry)


def find(session, q: str, limit: int = LIMIT) -> dict[str, list]:
    """Payments, receipts and shipments matching every word of `q`, of the user's centres only, newest first."""
    if not search.words(q):
        return {"payments": [], "receipts": [], "shipments": []}

    def rows(model):
        stmt = current_user.scope(select(model), model.centre_id).where(search.matches(model.search_text, q))
        return list(session.scalars(stmt.order_by(model.id.desc()).limit(limit + 1)))

    return {"payments": rows(Payment), "receipts": rows(Receipt), "shipments": rows(Shipment)}


@bp.get("/")
@require_roles(*ROLES)
def page():
    q = (request.args.get("q") or "").strip()[:200]
    found = find(db_session(), q)
    return render_template("search/page.html", q=q, found=found, limit=LIMIT,
                           empty=bool(q) and not any(found.values()))
