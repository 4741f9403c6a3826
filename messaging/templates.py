"""Default Vietnamese texts of each citizen event, a centre's own wording, and rendering them safely.

The SMS text is rendered from the centre's template (or the default) with the event's parameters; the
same parameters are the ZNS template_data of the event's approved Zalo template.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from messaging.models import MessageTemplate


@dataclass(frozen=True)
class EventText:
    title: str
    body: str


EVENTS: dict[str, EventText] = {
    "payment_requested": EventText(
        "Yêu cầu thanh toán phí, lệ phí",
        "{centre}: hồ sơ {dossier} cần thanh toán {amount} đồng phí, lệ phí. Thanh toán trực tuyến: {link}"),
    "paid": EventText(
        "Đã thanh toán, có biên lai điện tử",
        "{centre}: đã nhận thanh toán phí, lệ phí hồ sơ {dossier}. Biên lai điện tử: {link}"),
    "result_sent": EventText(
        "Kết quả đã gửi qua bưu chính",
        "{centre}: kết quả hồ sơ {dossier} đã được gửi qua bưu chính ({carrier}, mã vận đơn {tracking}). "
        "Theo dõi: {link}"),
    "delivery_failed": EventText(
        "Bưu tá chưa phát được kết quả",
        "{centre}: bưu tá chưa phát được kết quả hồ sơ {dossier}. Vui lòng liên hệ trung tâm hoặc theo dõi: {link}"),
    "apology_issued": EventText(
        "Thư xin lỗi và hẹn lại ngày trả kết quả",
        "{centre} xin lỗi ông/bà vì hồ sơ {dossier} chưa có kết quả đúng hẹn. Ngày hẹn trả mới: {new_date}. "
        "Phiếu xin lỗi: {link}"),
    "pickup_scheduled": EventText(
        "Hẹn bưu tá đến nhận hồ sơ",
        "{carrier} sẽ đến nhận hồ sơ {dossier} tại địa chỉ của ông/bà{window}. Theo dõi: {link}"),
}
OPT_OUT_SUFFIX = " Từ chối nhận tin: {optout}"
MAX_BODY = 1000


class TemplateError(ValueError):
    """Raised when a centre's text names a field the event does not have, or is empty."""


def fields_of(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def allowed_fields(event: str) -> set[str]:
    return fields_of(EVENTS[event].body) | {"centre", "dossier", "link"}


def check(event: str, text: str) -> str:
    """A centre's text for `event`, validated: only the event's fields, in {braces}, no format tricks."""
    text = (text or "").strip()
    if event not in EVENTS:
        raise TemplateError(f"sự kiện không có: {event}")
    if not text or len(text) > MAX_BODY:
        raise TemplateError("nội dung trống hoặc quá dài")
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as e:
        raise TemplateError("dấu ngoặc { } không khớp") from e
    for _, name, spec, conv in parsed:
        if name is None:
            continue
        if not re.fullmatch(r"[a-z_]+", name) or spec or conv:
            raise TemplateError(f"trường không hợp lệ: {{{name}}}")
        if name not in allowed_fields(event):
            raise TemplateError(f"sự kiện này không có trường {{{name}}}")
    return text


class _Blank(dict):
    def __missing__(self, key):
        return ""


def render(text: str, params: dict[str, object]) -> str:
    values = _Blank({k: "" if v is None else str(v) for k, v in params.items()})
    out = text.format_map(values)
    # A missing optional field must not leave "( , mã vận đơn )" artefacts behind.
    out = re.sub(r"\(\s*,?\s*(mã vận đơn)?\s*\)", "", out)
    return re.sub(r"[ \t]{2,}", " ", out).strip()


def text_for(session: Session, centre_id: int | None, event: str) -> tuple[str, str | None]:
    """(SMS text, the centre's own ZNS template id or None) for the event."""
    if centre_id is not None:
        row = session.scalar(select(MessageTemplate).where(MessageTemplate.centre_id == centre_id,
                                                           MessageTemplate.event == event))
        if row is not None:
            return row.body, row.zns_template_id
    return EVENTS[event].body, None
