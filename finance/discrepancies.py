"""The discrepancy list: filters to SQL, a page and its total, and resolving every row a filter matches at once.

A month of real statements leaves tens of thousands of discrepancies (a 20,000-line bank file of transfers
nobody announced); finance works them a page at a time, narrowed by type, day, channel and import, and
closes the ones that share a cause together, with one note. `bulk_resolve` is one UPDATE over the matching
rows (no row is loaded), so resolving 20,000 rows is one statement, not 20,000 round trips.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from core import audit
from core.clock import utcnow
from core.errors import Conflict, InvalidInput, NotFound
from core.text import clean_text
from finance.models import DISCREPANCY_TYPES, RESOLUTION_ACTIONS, SOURCES, ClosedDay, Discrepancy, StatementImport

PER_PAGE = 100
STATUSES = ("open", "resolved", "all")
# The channels a discrepancy can be of: those whose files are imported (counter money is never reconciled).
CHANNELS = tuple(dict.fromkeys(channel for _label, channel in SOURCES.values()))
# Linking says "this money is that payment's": it is one row's decision, never a bulk one.
BULK_ACTIONS = tuple(a for a in RESOLUTION_ACTIONS if a != "link")
NOTE_LENGTH = 1000
MAX_SELECTED = 500  # a page holds 100; more ids than a few pages is not a person's selection
# The most rows resolved inside the request. One UPDATE writes every index of the table for each row: measured
# 17–24 µs a row on SQLite and 37–160 µs on PostgreSQL on a loaded 2-core machine (docs/finance/discrepancy-list.md),
# so 2,000 rows stay well under a second; a larger confirmed action is stored and done by a job in batches
# (finance.discrepancy_jobs).
INLINE_MAX = 2_000


@dataclass(frozen=True)
class Filters:
    """What the list shows: one centre's discrepancies, narrowed by each filter that is set."""

    centre_id: int
    type: str | None = None
    day_from: date | None = None
    day_to: date | None = None
    channel: str | None = None
    status: str = "open"
    import_id: int | None = None

    def as_args(self) -> dict[str, str]:
        """The filters as the list's query arguments (what a link or a hidden field carries)."""
        args = {"type": self.type, "channel": self.channel, "import": self.import_id,
                "status": self.status if self.status != "open" else None}
        if self.day_from is not None and self.day_from == self.day_to:
            args["day"] = self.day_from.isoformat()
        else:
            args["from"] = self.day_from.isoformat() if self.day_from else None
            args["to"] = self.day_to.isoformat() if self.day_to else None
        return {k: str(v) for k, v in args.items() if v is not None}


@dataclass
class Page:
    rows: list[Discrepancy]
    total: int
    number: int
    pages: int
    per_page: int = PER_PAGE

    @property
    def first_row(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.rows else 0


@dataclass
class BulkPlan:
    """What a bulk resolve would do: `count` rows, none newer than `max_id`; `closed` open rows of the filter
    lie on closed days and are left alone (a closed day's records do not change)."""

    count: int
    max_id: int
    closed: int
    ids: list[int] | None = None  # the rows chosen one by one, or None for every row the filter matches
    link_id: int | None = None  # the one row a link would resolve
    errors: dict[str, list[str]] = field(default_factory=dict)


def _date(value: str, name: str, errors: dict[str, list[str]]) -> date | None:
    try:
        d = date.fromisoformat(value)
    except ValueError:
        errors[name] = ["Ngày không hợp lệ (định dạng năm-tháng-ngày, ví dụ 2026-11-30)."]
        return None
    if not 2000 <= d.year <= 2100:
        errors[name] = ["Ngày phải trong khoảng năm 2000–2100."]
        return None
    return d


def _int(value: str, name: str, errors: dict[str, list[str]], message: str) -> int | None:
    text = value.strip().lstrip("#")
    if not text.isdigit() or not 0 < int(text) < 2**31:
        errors[name] = [message]
        return None
    return int(text)


def parse_filters(args: Mapping[str, str], centre_id: int) -> tuple[Filters, int, dict[str, list[str]]]:
    """Filters and the page number from query arguments; every bad value is named in the errors (by argument)
    and left unset, so the caller can refuse or show the rest."""
    errors: dict[str, list[str]] = {}

    def arg(name: str) -> str:
        return (args.get(name) or "").strip()

    type_ = arg("type") or None
    if type_ is not None and type_ not in DISCREPANCY_TYPES:
        errors["type"], type_ = ["Loại chênh lệch không có trong danh sách."], None
    channel = arg("channel") or None
    if channel is not None and channel not in CHANNELS:
        errors["channel"], channel = ["Kênh thanh toán không có trong danh sách."], None
    status = arg("status") or "open"
    if status not in STATUSES:
        errors["status"], status = ["Trạng thái chỉ là: chưa xử lý, đã xử lý hoặc tất cả."], "open"
    day_from = day_to = None
    if arg("day"):
        day_from = day_to = _date(arg("day"), "day", errors)
    else:
        if arg("from"):
            day_from = _date(arg("from"), "from", errors)
        if arg("to"):
            day_to = _date(arg("to"), "to", errors)
        if day_from and day_to and day_from > day_to:
            errors["to"] = ["“Đến ngày” phải sau hoặc bằng “Từ ngày”."]
    import_id = _int(arg("import"), "import", errors, "Mã tệp nhập là một số (ví dụ 12).") if arg("import") else None
    page = _int(arg("page"), "page", errors, "Số trang là một số từ 1.") if arg("page") else 1
    return (Filters(centre_id=centre_id, type=type_, day_from=day_from, day_to=day_to, channel=channel,
                    status=status, import_id=import_id), page or 1, errors)


def import_of(session: Session, filters: Filters) -> StatementImport | None:
    """The statement import the filters name, if it is the centre's; another centre's import does not exist."""
    if filters.import_id is None:
        return None
    found = session.get(StatementImport, filters.import_id)
    if found is None or found.centre_id != filters.centre_id:
        raise NotFound("statement import not found", errors={"import": ["Không có tệp nhập này ở trung tâm."]})
    return found


def _where(f: Filters) -> list[ColumnElement[bool]]:
    conditions = [Discrepancy.centre_id == f.centre_id]
    if f.status != "all":
        conditions.append(Discrepancy.status == f.status)
    if f.import_id is not None:
        conditions.append(Discrepancy.import_id == f.import_id)
    if f.type is not None:
        conditions.append(Discrepancy.type == f.type)
    if f.channel is not None:
        conditions.append(Discrepancy.channel == f.channel)
    if f.day_from is not None:
        conditions.append(Discrepancy.day >= f.day_from)
    if f.day_to is not None:
        conditions.append(Discrepancy.day <= f.day_to)
    return conditions


def count(session: Session, f: Filters) -> int:
    return session.scalar(select(func.count()).select_from(Discrepancy).where(*_where(f))) or 0


def page_of(session: Session, f: Filters, number: int = 1, per_page: int = PER_PAGE) -> Page:
    """One page, newest day first; a page past the last shows the last."""
    total = count(session, f)
    pages = max(1, -(-total // per_page))
    number = min(max(1, number), pages)
    # The page's ids first, from the index alone, then only those rows: an offset deep into 20,000 rows
    # walks index entries, not table rows.
    ids = session.scalars(select(Discrepancy.id).where(*_where(f))
                          .order_by(Discrepancy.day.desc(), Discrepancy.id.desc())
                          .offset((number - 1) * per_page).limit(per_page)).all()
    rows = session.scalars(select(Discrepancy).where(Discrepancy.id.in_(ids))
                           .order_by(Discrepancy.day.desc(), Discrepancy.id.desc())).all() if ids else []
    return Page(rows=list(rows), total=total, number=number, pages=pages, per_page=per_page)


def bulk_where(f: Filters, ids: list[int] | None, max_id: int | None) -> list[ColumnElement[bool]]:
    """The rows a bulk resolve changes: the filter's open rows (`ids` among them, if chosen one by one), none
    newer than `max_id` (what the user saw), none of a closed day."""
    closed_days = select(ClosedDay.day).where(ClosedDay.centre_id == f.centre_id)
    # Whatever the list showed, only open rows are resolved, and never one of a closed day.
    conditions = [*_where(f), Discrepancy.status == "open", Discrepancy.day.not_in(closed_days)]
    if ids is not None:
        conditions.append(Discrepancy.id.in_(ids))
    if max_id is not None:
        conditions.append(Discrepancy.id <= max_id)
    return conditions


def parse_selection(ids: list[Any] | None) -> tuple[list[int] | None, dict[str, list[str]]]:
    """Row ids as posted (strings) to sorted ints; None stays None (every row the filter matches)."""
    if ids is None:
        return None, {}
    chosen: set[int] = set()
    for raw in ids:
        text = str(raw).strip()
        if not text.isdigit() or not 0 < int(text) < 2**31:
            return None, {"ids": ["Danh sách dòng đã chọn không hợp lệ."]}
        chosen.add(int(text))
    if not chosen:
        return None, {"ids": ["Chọn ít nhất một chênh lệch, hoặc chọn “tất cả kết quả theo bộ lọc”."]}
    if len(chosen) > MAX_SELECTED:
        return None, {"ids": [f"Chọn tối đa {MAX_SELECTED} dòng; để xử lý nhiều hơn, dùng “tất cả kết quả theo bộ lọc”."]}
    return sorted(chosen), {}


def check_resolution(action: str, note: str | None, payment_code: str | None,
                     errors: dict[str, list[str]]) -> str | None:
    """The cleaned note; problems with the action, note or payment code are added to `errors`."""
    if action not in RESOLUTION_ACTIONS:
        errors["action"] = ["Chọn cách xử lý."]
    cleaned = clean_text(note, NOTE_LENGTH, field="note", multiline=True, required=True, errors=errors)
    if "note" in errors:
        errors["note"] = ["Cần ghi chú lý do xử lý (tối đa 1.000 ký tự)."]
    if action == "link" and not (payment_code or "").strip():
        errors["payment_code"] = ["Nhập mã khoản thu cần liên kết."]
    return cleaned


def plan_bulk(session: Session, f: Filters, *, ids: list[Any] | None, action: str, note: str | None,
              payment_code: str | None = None) -> BulkPlan:
    """What resolving `ids` (or, with None, every row the filter matches) would do; nothing is changed.

    Problems (no note, no rows, a link of several rows) are in the plan's `errors`, for the form to show."""
    chosen, errors = parse_selection(ids)
    check_resolution(action, note, payment_code, errors)
    max_id = session.scalar(select(func.max(Discrepancy.id)).where(*_where(f))) or 0
    n = session.scalar(select(func.count()).select_from(Discrepancy).where(*bulk_where(f, chosen, max_id))) or 0
    open_rows = session.scalar(select(func.count()).select_from(Discrepancy).where(
        *_where(f), Discrepancy.status == "open", *([Discrepancy.id.in_(chosen)] if chosen else []))) or 0
    if not errors and n == 0:
        errors["ids"] = ["Không có chênh lệch nào chưa xử lý trong lựa chọn này."]
    link_id = None
    if action == "link":
        if n > 1:
            errors["action"] = ["Liên kết với khoản thu chỉ áp dụng cho từng chênh lệch một: chọn đúng một dòng."]
        else:
            link_id = session.scalar(select(Discrepancy.id).where(*bulk_where(f, chosen, max_id)))
    return BulkPlan(count=n, max_id=max_id, closed=open_rows - n, ids=chosen, link_id=link_id, errors=errors)


def check_unchanged(session: Session, f: Filters, ids: list[int] | None, max_id: int, expected: int) -> None:
    """Refuse (Conflict) when the rows a bulk resolve would change are no longer the confirmed number."""
    n = session.scalar(select(func.count()).select_from(Discrepancy).where(*bulk_where(f, ids, max_id))) or 0
    if n != expected:
        raise _changed(n, expected)


def _changed(now: int, expected: int) -> Conflict:
    return Conflict(f"Danh sách đã thay đổi: nay có {now:,} chênh lệch phù hợp (khi xác nhận là {expected:,}). "
                    "Không có gì được thay đổi; hãy xem lại và xác nhận lần nữa.".replace(",", "."),
                    code="discrepancies-changed")


def bulk_resolve(session: Session, f: Filters, *, ids: list[Any] | None, action: str, note: str | None,
                 actor: audit.Actor, expected: int, max_id: int, payment_code: str | None = None) -> int:
    """Resolve what `plan_bulk` showed and the user confirmed: `expected` rows, none newer than `max_id`.

    One UPDATE stamps every row with the action, the note, who and when; one audit row records the whole.
    If the rows that match are no longer the `expected` number (another officer resolved some, an import
    added some), nothing is kept: the caller rolls back and the user reviews the list again.
    """
    chosen, errors = parse_selection(ids)
    cleaned = check_resolution(action, note, payment_code, errors)
    if not 0 < expected <= INLINE_MAX:
        errors["ids"] = [f"Trong một lần bấm xử lý ngay được từ 1 đến {INLINE_MAX:,} chênh lệch; nhiều hơn được "
                         "xử lý trong nền.".replace(",", ".")]
    if errors:
        raise InvalidInput("bulk resolution incomplete", errors=errors)
    if action == "link":
        # One row's decision, with the amount and single-match checks of the one-row resolve.
        from finance.reconcile import resolve_discrepancy

        targets = session.scalars(select(Discrepancy.id).where(*bulk_where(f, chosen, max_id))).all()
        if len(targets) != 1 or expected != 1:
            raise InvalidInput("link resolves one discrepancy", errors={"action": [
                "Liên kết với khoản thu chỉ áp dụng cho từng chênh lệch một: chọn đúng một dòng."]})
        resolve_discrepancy(session, targets[0], f.centre_id, action=action, note=cleaned or "", actor=actor,
                            payment_code=payment_code)
        return 1
    now, who = utcnow(), f"{actor.type}:{actor.id or actor.name}"
    result = session.execute(
        update(Discrepancy).where(*bulk_where(f, chosen, max_id))
        .values(status="resolved", action=action, note=cleaned, resolved_by=who, resolved_at=now)
        .execution_options(synchronize_session=False))
    done = result.rowcount
    if done != expected:
        raise _changed(done, expected)
    audit.record(session, actor, "discrepancy.bulk_resolved", entity_type="discrepancy",
                 entity_id=chosen[0] if chosen and len(chosen) == 1 else None,
                 after={"status": "resolved", "action": action, "count": done, "ids": chosen, "max_id": max_id,
                        "filters": f.as_args()},
                 detail=cleaned, centre_id=f.centre_id)
    return done
