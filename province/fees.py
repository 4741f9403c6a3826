"""A unit's fee catalogue: reading and writing it as CSV or XLSX, importing it with history, the fee in force.

A fee is identified by its code, unique across the province (a key's payment names fees by code only).
Its history is a list of versions (fee_type rows) with `effective_from`/`effective_to`; a payment copies
the version in force when it is created, so later changes never alter it.

Import rules, per line (CSV/XLSX line or YAML entry):
- same code and `valid_from` as a stored version: unchanged if equal, otherwise that version is corrected;
- a later `valid_from` with different values: a new version; the previous one ends the day before;
- no `valid_from`: compared with the latest version; a difference starts a new version today (or corrects
  the latest if it starts today or later);
- an earlier `valid_from` than the latest version that matches none: refused (history is not rewritten).
Every line is checked first; one bad line and nothing is written (InvalidInput with errors per line).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit
from core.clock import local_day
from core.errors import Conflict, InvalidInput
from core.models import Centre
from fees.models import FeeType
from province.models import CentreUnit, CollectingUnit
from province.units import centre_ids_serving

COLUMNS = ("code", "procedure", "name", "kind", "amount", "online_amount", "retained_percent", "valid_from",
           "valid_to", "legal_basis")
REQUIRED = ("code", "name", "kind", "amount")
# Headers a finance office may type in Vietnamese, mapped to ours.
HEADER_ALIASES = {
    "mã": "code", "mã phí": "code", "mã tthc": "procedure", "mã thủ tục": "procedure", "tên": "name",
    "tên phí": "name", "loại": "kind", "mức thu": "amount", "số tiền": "amount",
    "mức thu trực tuyến": "online_amount", "tỷ lệ để lại": "retained_percent", "từ ngày": "valid_from",
    "đến ngày": "valid_to", "căn cứ": "legal_basis",
}
# Procedure codes of the national catalogue (mã TTHC): "1.004227", "2.000488"; the national portal also
# shows them with a province suffix, "1.004227.000.00.00.H06". Shape as read from published catalogues; assumed.
PROCEDURE_CODE = re.compile(r"^\d\.\d{6}(\.\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2})?$")
FEE_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$")
KINDS = {"phi": "phi", "phí": "phi", "le_phi": "le_phi", "lệ phí": "le_phi", "le phi": "le_phi",
         "lệ_phí": "le_phi", "lephi": "le_phi"}
MAX_AMOUNT = 10**15


@dataclass(frozen=True)
class FeeSpec:
    """One fee line as read and checked: what the version in force from `valid_from` says."""

    code: str
    name: str
    kind: str
    amount: int
    procedure: str | None = None
    online_amount: int | None = None
    retained_percent: int | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    legal_basis: str | None = None


@dataclass
class FeeImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


# ---- reading values -------------------------------------------------------------------------------------


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = unicodedata.normalize("NFC", str(value)).strip()
    return text or None


def parse_amount(value: object, label: str = "Số tiền") -> int:
    """Whole đồng: 200000, "200000", "200.000" or "200,000"; never a fraction."""
    if isinstance(value, bool):
        raise ValueError(f"{label} phải là số đồng")
    if isinstance(value, int):
        amount = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{label} phải là số đồng nguyên, không có phần lẻ")
        amount = int(value)
    else:
        text = (_text(value) or "").replace(" ", "")
        if re.fullmatch(r"\d{1,3}([.,]\d{3})+", text):
            text = re.sub(r"[.,]", "", text)
        if not re.fullmatch(r"\d+", text):
            raise ValueError(f"{label} {value!r} không phải số đồng nguyên")
        amount = int(text)
    if amount < 0 or amount > MAX_AMOUNT:
        raise ValueError(f"{label} {amount} nằm ngoài khoảng cho phép")
    return amount


def parse_date(value: object, label: str = "Ngày") -> date:
    """A day: a date, "2026-01-05" or "05/01/2026"."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value) or ""
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"{label} {value!r} không đúng dạng YYYY-MM-DD hoặc DD/MM/YYYY")


def parse_kind(value: object) -> str:
    text = (_text(value) or "").lower()
    if text not in KINDS:
        raise ValueError(f"Loại {value!r} không hợp lệ: phí (phi) hoặc lệ phí (le_phi)")
    return KINDS[text]


def parse_fee(raw: dict) -> tuple[FeeSpec | None, dict[str, list[str]]]:
    """Check one fee line (keys as in COLUMNS; blanks are absent). Returns the spec or field errors."""
    errors: dict[str, list[str]] = {}
    values: dict[str, object] = {}
    unknown = sorted(set(raw) - set(COLUMNS))
    for key in unknown:
        errors[str(key)] = [f"Cột/khóa {key!r} không được hỗ trợ"]

    def given(key: str) -> object:
        v = raw.get(key)
        return None if v is None or (isinstance(v, str) and not v.strip()) else v

    for key in REQUIRED:
        if given(key) is None:
            errors[key] = ["Bắt buộc"]
    code = _text(given("code"))
    if code is not None:
        if FEE_CODE.match(code):
            values["code"] = code
        else:
            errors["code"] = [f"Mã phí {code!r} không hợp lệ (chữ, số, '-', '_', '.', tối đa 32 ký tự)"]
    name = _text(given("name"))
    if name is not None:
        if len(name) > 255:
            errors["name"] = ["Tên dài quá 255 ký tự"]
        values["name"] = name
    procedure = given("procedure")
    if isinstance(procedure, float) and 0 < procedure < 10:
        # Typed as a number (a spreadsheet cell, an unquoted YAML value): 1.00422 was 1.004220.
        procedure = f"{procedure:.6f}"
    procedure = _text(procedure)
    if procedure is not None:
        if PROCEDURE_CODE.match(procedure):
            values["procedure"] = procedure
        else:
            errors["procedure"] = [f"Mã TTHC {procedure!r} không đúng dạng (ví dụ 1.004227 hoặc 2.000488)"]
    checks = {
        "kind": parse_kind,
        "amount": lambda v: parse_amount(v, "Mức thu"),
        "online_amount": lambda v: parse_amount(v, "Mức thu trực tuyến"),
        "retained_percent": _parse_percent,
        "valid_from": lambda v: parse_date(v, "Ngày hiệu lực"),
        "valid_to": lambda v: parse_date(v, "Ngày hết hiệu lực"),
    }
    for key, check in checks.items():
        if given(key) is None:
            continue
        try:
            values[key] = check(given(key))
        except ValueError as e:
            errors[key] = [str(e)]
    legal = _text(given("legal_basis"))
    if legal is not None:
        values["legal_basis"] = legal[:500]
    if "online_amount" in values and "amount" in values and values["online_amount"] > values["amount"]:
        errors.setdefault("online_amount", []).append("Mức thu trực tuyến không được lớn hơn mức thu")
    if "valid_from" in values and "valid_to" in values and values["valid_to"] < values["valid_from"]:
        errors.setdefault("valid_to", []).append("Ngày hết hiệu lực trước ngày hiệu lực")
    if errors:
        return None, errors
    return FeeSpec(**values), {}


def _parse_percent(value: object) -> int:
    text = _text(value) or ""
    text = text.rstrip("%").strip()
    if not re.fullmatch(r"\d{1,3}", text) or not 0 <= int(text) <= 100:
        raise ValueError(f"Tỷ lệ để lại {value!r} phải là số nguyên từ 0 đến 100")
    return int(text)


# ---- files ----------------------------------------------------------------------------------------------


def _header(cells: list[object]) -> tuple[list[str | None], list[str]]:
    names: list[str | None] = []
    errors = []
    for cell in cells:
        text = (_text(cell) or "").lower()
        if not text:
            names.append(None)
            continue
        key = HEADER_ALIASES.get(text, text)
        if key not in COLUMNS:
            errors.append(f"Cột {cell!r} không được hỗ trợ; các cột: {', '.join(COLUMNS)}")
        names.append(key)
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        errors.append(f"Thiếu cột: {', '.join(missing)}")
    return names, errors


def _rows_from_table(table: list[tuple[int, list[object]]]) -> list[tuple[int, dict]]:
    if not table:
        raise InvalidInput("Tệp không có dòng nào", errors={"line 1": ["Tệp trống"]})
    header_line, header_cells = table[0]
    names, errors = _header(header_cells)
    if errors:
        raise InvalidInput("Dòng tiêu đề không hợp lệ", errors={f"line {header_line}": errors})
    rows = []
    for line, cells in table[1:]:
        if all(_text(c) is None for c in cells):
            continue
        extra = cells[len(names):]
        row = {n: c for n, c in zip(names, cells, strict=False) if n is not None}
        if any(_text(c) is not None for c in extra):
            row["(cột thừa)"] = extra
        rows.append((line, row))
    if not rows:
        raise InvalidInput("Tệp không có dòng phí nào", errors={f"line {header_line}": ["Không có dòng phí"]})
    return rows


def read_fee_csv(data: bytes) -> list[tuple[int, dict]]:
    """(line number, raw fields) for each fee line of a UTF-8 CSV (a BOM is fine); the header is line 1."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InvalidInput("Tệp CSV phải mã hóa UTF-8", errors={"line 1": ["Không phải UTF-8"]}) from e
    if "\x00" in text:
        raise InvalidInput("Tệp CSV chứa ký tự NUL", errors={"line 1": ["Ký tự NUL"]})
    reader = csv.reader(io.StringIO(text, newline=""))
    table = []
    for cells in reader:
        table.append((reader.line_num, list(cells)))
    return _rows_from_table(table)


def read_fee_xlsx(data: bytes) -> list[tuple[int, dict]]:
    """(row number, raw fields) for each fee row of the first sheet of an XLSX; the header is row 1."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many kinds (zip, xml, key errors) for a file that is not XLSX
        raise InvalidInput("Không đọc được tệp XLSX", errors={"line 1": ["Không phải tệp XLSX"]}) from e
    try:
        sheet = book.worksheets[0]
        table = [(i, list(row)) for i, row in enumerate(sheet.iter_rows(values_only=True), start=1)]
    finally:
        book.close()
    return _rows_from_table(table)


def _export_rows(session: Session, unit: CollectingUnit) -> list[list[object]]:
    rows = []
    for fee in fees_of_unit(session, unit.id):
        rows.append([fee.code, fee.procedure_code, fee.name, fee.kind, fee.amount, fee.online_amount,
                     fee.retained_percent, fee.effective_from, fee.effective_to, fee.legal_basis])
    return rows


def export_fee_csv(session: Session, unit: CollectingUnit) -> bytes:
    """Every version of the unit's fees, in the import format (UTF-8 with BOM so spreadsheet programs read it)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in _export_rows(session, unit):
        writer.writerow(["" if v is None else v.isoformat() if isinstance(v, date) else v for v in row])
    return out.getvalue().encode("utf-8-sig")


def export_fee_xlsx(session: Session, unit: CollectingUnit) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Phí"
    sheet.append(list(COLUMNS))
    for row in _export_rows(session, unit):
        sheet.append(row)
    for cell in sheet["H"][1:] + sheet["I"][1:]:
        cell.number_format = "yyyy-mm-dd"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# ---- history --------------------------------------------------------------------------------------------


def fees_of_unit(session: Session, unit_id: int) -> list[FeeType]:
    return list(session.scalars(select(FeeType).where(FeeType.unit_id == unit_id)
                                .order_by(FeeType.code, FeeType.effective_from)))


def _values(spec: FeeSpec) -> dict:
    return {"name": spec.name, "procedure_code": spec.procedure, "kind": spec.kind, "amount": spec.amount,
            "online_amount": spec.online_amount, "retained_percent": spec.retained_percent,
            "legal_basis": spec.legal_basis}


@dataclass
class _Version:
    """A fee version while a file is planned: a stored row (maybe to change) or a row to create."""

    effective_from: date
    effective_to: date | None
    values: dict
    row: FeeType | None = None
    dirty: bool = False

    def matches(self, values: dict, valid_to: date | None, check_to: bool) -> bool:
        return self.values == values and (not check_to or self.effective_to == valid_to)


@dataclass
class FeePlan:
    """What applying a checked set of fee lines will do to one unit's catalogue."""

    unit_id: int
    versions: dict[str, list[_Version]]
    report: FeeImportReport


def _stored(row: FeeType) -> _Version:
    return _Version(row.effective_from, row.effective_to,
                    {"name": row.name, "procedure_code": row.procedure_code, "kind": row.kind, "amount": row.amount,
                     "online_amount": row.online_amount, "retained_percent": row.retained_percent,
                     "legal_basis": row.legal_basis}, row=row)


def plan_fees(session: Session, unit_id: int | None, lines: list[tuple[str, FeeSpec]], *,
              today: date | None = None, taken_codes: dict[str, str] | None = None) -> tuple[FeePlan, dict]:
    """Plan lines (label, spec) against the unit's stored history; returns the plan and errors by label.

    `unit_id` None is a unit not created yet. `taken_codes` maps codes owned by other units (also ones
    in the same file) to those units' codes.
    """
    today = today or local_day()
    versions: dict[str, list[_Version]] = {}
    if unit_id is not None:
        for row in fees_of_unit(session, unit_id):
            versions.setdefault(row.code, []).append(_stored(row))
    report = FeeImportReport()
    errors: dict[str, list[str]] = {}
    for label, spec in lines:
        owner = (taken_codes or {}).get(spec.code)
        if owner is not None:
            errors[label] = [f"Mã phí {spec.code} đã thuộc đơn vị {owner}; mã phí phải duy nhất trong tỉnh"]
            continue
        history = versions.setdefault(spec.code, [])
        values = _values(spec)
        tag = f"{spec.code}@{(spec.valid_from or today).isoformat()}"
        if not history:
            history.append(_Version(spec.valid_from or today, spec.valid_to, values, dirty=True))
            report.created.append(tag)
            continue
        latest = history[-1]
        if spec.valid_from is None:
            target = latest
        else:
            target = next((v for v in history if v.effective_from == spec.valid_from), None)
        if target is not None:
            # A line without valid_to leaves the version's end as it is (a later version may have set it).
            if target.matches(values, spec.valid_to, spec.valid_to is not None):
                report.unchanged.append(f"{spec.code}@{target.effective_from.isoformat()}")
                continue
            if spec.valid_from is not None or target.effective_from >= today or target.values == values:
                target.values, target.dirty = values, True
                if spec.valid_to is not None:
                    target.effective_to = spec.valid_to
                report.updated.append(f"{spec.code}@{target.effective_from.isoformat()}")
                continue
        start = spec.valid_from or today
        if start <= latest.effective_from:
            errors[label] = [f"Ngày hiệu lực {start.isoformat()} không sau phiên bản mới nhất của phí {spec.code} "
                             f"(từ {latest.effective_from.isoformat()}); không sửa lùi lịch sử"]
            continue
        if latest.effective_to is None or latest.effective_to >= start:
            latest.effective_to, latest.dirty = start - timedelta(days=1), True
            if latest.row is not None:
                report.updated.append(f"{spec.code}@{latest.effective_from.isoformat()}")
        history.append(_Version(start, spec.valid_to, values, dirty=True))
        report.created.append(tag)
    return FeePlan(unit_id or 0, versions, report), errors


def apply_fee_plan(session: Session, plan: FeePlan, unit: CollectingUnit, centre_id: int, *,
                   actor: audit.Actor = audit.SYSTEM) -> FeeImportReport:
    """Write a plan that had no errors; every created or changed version is audited."""
    for code, history in plan.versions.items():
        for v in history:
            if not v.dirty:
                continue
            if v.row is None:
                row = FeeType(unit_id=unit.id, centre_id=centre_id, code=code, effective_from=v.effective_from,
                              effective_to=v.effective_to, active=True, **v.values)
                session.add(row)
                session.flush()
                audit.record(session, actor, "fee.created", entity_type="fee_type", entity_id=row.id,
                             after=_fee_snapshot(row), centre_id=centre_id)
            else:
                row = v.row
                before = _fee_snapshot(row)
                for key, value in v.values.items():
                    setattr(row, key, value)
                row.effective_to = v.effective_to
                session.flush()
                audit.record(session, actor, "fee.updated", entity_type="fee_type", entity_id=row.id,
                             before=before, after=_fee_snapshot(row), centre_id=row.centre_id)
    return plan.report


def _fee_snapshot(row: FeeType) -> dict:
    return {"unit_id": row.unit_id, "code": row.code, "name": row.name, "procedure_code": row.procedure_code,
            "kind": row.kind, "amount": row.amount, "online_amount": row.online_amount,
            "retained_percent": row.retained_percent, "effective_from": row.effective_from.isoformat(),
            "effective_to": row.effective_to.isoformat() if row.effective_to else None}


def codes_of_other_units(session: Session, unit_id: int | None) -> dict[str, str]:
    """Fee codes already owned by other units, mapped to those units' codes.

    The embedded default's demo unit (served at the demo centre) does not count: its demo fees must not
    stop a province's real catalogue from using the same codes, and no real centre serves it.
    """
    demo_units = (select(CentreUnit.unit_id).join(Centre, Centre.id == CentreUnit.centre_id)
                  .where(Centre.is_demo.is_(True)))
    stmt = (select(FeeType.code, CollectingUnit.code).join(CollectingUnit, CollectingUnit.id == FeeType.unit_id)
            .where(CollectingUnit.id.not_in(demo_units)).distinct())
    if unit_id is not None:
        stmt = stmt.where(FeeType.unit_id != unit_id)
    return {fee_code: unit_code for fee_code, unit_code in session.execute(stmt)}


def import_fee_rows(session: Session, unit: CollectingUnit, rows: list[tuple[int, dict]], *,
                    centre_id: int | None = None, today: date | None = None,
                    actor: audit.Actor = audit.SYSTEM) -> FeeImportReport:
    """Import lines from `read_fee_csv`/`read_fee_xlsx` into a unit's catalogue, all or nothing.

    New versions are filed under `centre_id` (default: the first centre serving the unit). Raises
    InvalidInput with errors {"line N": [...]} naming every bad line; nothing is written then.
    """
    errors: dict[str, list[str]] = {}
    lines: list[tuple[str, FeeSpec]] = []
    for line, raw in rows:
        spec, field_errors = parse_fee(raw)
        if spec is None:
            errors[f"line {line}"] = [f"{k}: {m}" for k, msgs in field_errors.items() for m in msgs]
        else:
            lines.append((f"line {line}", spec))
    plan, plan_errors = plan_fees(session, unit.id, lines, today=today,
                                  taken_codes=codes_of_other_units(session, unit.id))
    errors.update(plan_errors)
    if centre_id is None:
        serving = centre_ids_serving(session, unit.id)
        if not serving and plan.report.created:
            errors.setdefault("unit", []).append(f"Đơn vị {unit.code} chưa được phục vụ tại trung tâm nào")
        centre_id = serving[0] if serving else 0
    if errors:
        raise InvalidInput(f"Danh mục phí của đơn vị {unit.code} có {len(errors)} dòng lỗi; chưa ghi gì",
                           errors=dict(sorted(errors.items(), key=lambda kv: _line_key(kv[0]))))
    return apply_fee_plan(session, plan, unit, centre_id, actor=actor)


def _line_key(label: str) -> tuple[int, str]:
    m = re.search(r"\d+", label)
    return (int(m.group()) if m else 0, label)


def import_fee_file(session: Session, unit: CollectingUnit, filename: str, data: bytes, **kwargs) -> FeeImportReport:
    """CSV or XLSX by the file's extension (an XLSX is a zip: its first bytes say so too)."""
    if filename.lower().endswith(".xlsx") or data[:2] == b"PK":
        return import_fee_rows(session, unit, read_fee_xlsx(data), **kwargs)
    return import_fee_rows(session, unit, read_fee_csv(data), **kwargs)


# ---- lookup ---------------------------------------------------------------------------------------------


class AmbiguousFeeError(Conflict):
    """Raised when two units visible to the caller have a fee in force under the same code."""

    code = "ambiguous-fee"


def fee_in_force(session: Session, unit_ids, code: str, on_day: date) -> FeeType | None:
    """The version of fee `code` of one of `unit_ids` in force on `on_day` (a Vietnamese day), or None.

    A payment passes the units served at its centre and the day it is created (core.clock.local_day).
    """
    ids = list(unit_ids)
    if not ids:
        return None
    stmt = (select(FeeType).where(FeeType.unit_id.in_(ids), FeeType.code == code, FeeType.active.is_(True),
                                  FeeType.effective_from <= on_day,
                                  (FeeType.effective_to.is_(None)) | (FeeType.effective_to >= on_day))
            .order_by(FeeType.effective_from.desc(), FeeType.id.desc()))
    rows = list(session.scalars(stmt))
    if len({r.unit_id for r in rows}) > 1:
        raise AmbiguousFeeError(f"Mã phí {code} có ở nhiều đơn vị thu; cần sửa danh mục phí")
    return rows[0] if rows else None
