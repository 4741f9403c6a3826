"""One file brings a province up: `import_province` creates or updates centres, units, the centres each unit
is served at, fees, series and carrier accounts from a dict (the parsed YAML); `export_province` writes the
current state back in the same shape. Secrets are never in the file (see province.secrets).

The file's shape (docs/province-example.yaml is complete):

    units:
      - code, name, tax_code, address            (required)
        phone, email, active
        bank: {bin, account_number, account_name}
        gateway: {vnpay_tmn_code, momo_partner_code, …: each gateway's unit_id_key}
        signing: {kind: pkcs12 | pkcs11, module, slot, token_label, key_label, cert_label}
        series: [{template, symbol, year, width, registered_on, closed}]
        fees: [{code, procedure, name, kind, amount, online_amount, retained_percent, valid_from, valid_to,
                legal_basis}]
    centres:
      - code, name, address                      (required)
        phone, email, province_code, return_address, units: [unit codes]
        carrier_accounts: [{carrier, customer_code, contract_number, pickup_address, active}]

Rules: everything is checked before anything is written (InvalidInput naming each bad path, e.g.
`units[0].tax_code`); a key left out of an existing unit or centre leaves that field as it is (write
`null` to clear it); a centre's `units` list is the whole set it serves; fees follow province.fees'
history rules; a series is never reopened or renumbered. A second run of the same file changes nothing
and says so (`ImportReport.changed` is False).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit
from core.clock import local_day
from core.errors import InvalidInput
from core.models import Centre
from province import fees as fee_catalogue
from province import secrets
from province.models import CARRIERS, SIGNING_KINDS, CarrierAccount, CentreUnit, CollectingUnit, ReceiptSeries
from province.series import close_series, mark_registered, series_shape_errors
from province.taxcode import TaxCodeError, normalise_tax_code

KINDS = ("centres", "units", "centre_units", "series", "fees", "carrier_accounts")
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^[0-9 +().\-]{6,32}$")
UNIT_KEYS = {"code", "name", "tax_code", "address", "phone", "email", "active", "bank", "gateway", "signing",
             "series", "fees"}
CENTRE_KEYS = {"code", "name", "address", "phone", "email", "province_code", "return_address", "units",
               "carrier_accounts"}
SERIES_KEYS = {"template", "symbol", "year", "width", "number_width", "registered_on", "closed"}
ACCOUNT_KEYS = {"carrier", "customer_code", "contract_number", "pickup_address", "active"}
BANK_KEYS = {"bin": "bank_bin", "account_number": "bank_account_number", "account_name": "bank_account_name"}


def gateway_keys() -> tuple[str, ...]:
    """A unit's merchant ids the file may give, one per gateway that takes a unit's own account (each
    gateway declares its key: `unit_id_key` in fees/gateways/<name>/client.py)."""
    return tuple(key for key, _ in secrets.gateway_unit_fields().values() if key)


SIGNING_KEYS = {"kind": "signing_kind", "module": "pkcs11_module", "slot": "pkcs11_slot",
                "token_label": "pkcs11_token_label", "key_label": "pkcs11_key_label", "cert_label": "pkcs11_cert_label"}
# Keys that look like secrets: refused with a pointer to the right place instead of "unknown key".
SECRET_HINT = re.compile(r"(password|passwd|pin|secret|token|access_key|hash|pkcs12_file|private)", re.I)
SECRETS_ELSEWHERE = "Bí mật (mật khẩu, PIN, khóa, token) không ghi trong tệp tỉnh; đặt bằng `hcc credentials set`"
MISSING = object()


@dataclass
class ImportReport:
    """What an import did, per kind: codes created, updated, unchanged and removed (links only)."""

    items: dict[str, dict[str, list[str]]] = field(
        default_factory=lambda: {k: {"created": [], "updated": [], "unchanged": [], "removed": []} for k in KINDS})
    warnings: list[str] = field(default_factory=list)

    def add(self, kind: str, outcome: str, label: str) -> None:
        self.items[kind][outcome].append(label)

    @property
    def changed(self) -> bool:
        return any(v["created"] or v["updated"] or v["removed"] for v in self.items.values())

    def counts(self) -> dict[str, dict[str, int]]:
        return {k: {o: len(v) for o, v in outcomes.items()} for k, outcomes in self.items.items()}

    def summary(self) -> list[str]:
        """Vietnamese lines for the CLI: one per kind, then warnings; says so when nothing changed."""
        labels = {"centres": "Trung tâm", "units": "Đơn vị thu", "centre_units": "Phục vụ tại trung tâm",
                  "series": "Ký hiệu biên lai", "fees": "Phí, lệ phí", "carrier_accounts": "Tài khoản vận chuyển"}
        lines = []
        for kind in KINDS:
            c = self.counts()[kind]
            lines.append(f"{labels[kind]}: tạo mới {c['created']}, cập nhật {c['updated']}, "
                         f"không đổi {c['unchanged']}" + (f", bỏ {c['removed']}" if c["removed"] else ""))
        if not self.changed:
            lines.append("Không có thay đổi nào.")
        return lines + [f"Lưu ý: {w}" for w in self.warnings]


class _Errors:
    def __init__(self) -> None:
        self.by_path: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.by_path.setdefault(path, []).append(message)


# ---- validation -----------------------------------------------------------------------------------------


def _str(errors: _Errors, path: str, value: Any, *, required: bool = False, max_len: int = 255,
         pattern: re.Pattern[str] | None = None, what: str = "Giá trị") -> Any:
    """A checked string; MISSING stays MISSING, None stays None (clear), errors are recorded."""
    if value is MISSING or value is None:
        if required:
            errors.add(path, "Bắt buộc")
        return value
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors.add(path, f"{what} phải là chuỗi ký tự")
        return None
    text = str(value).strip()
    if not text:
        if required:
            errors.add(path, "Bắt buộc")
        return None
    if len(text) > max_len:
        errors.add(path, f"Dài quá {max_len} ký tự")
    if pattern is not None and not pattern.match(text):
        errors.add(path, f"{what} {text!r} không hợp lệ")
    return text


def _bool(errors: _Errors, path: str, value: Any) -> Any:
    if value is MISSING:
        return value
    if not isinstance(value, bool):
        errors.add(path, "Phải là true hoặc false")
        return MISSING
    return value


def _mapping(errors: _Errors, path: str, value: Any, allowed: set[str] | tuple[str, ...] | dict) -> dict | None:
    if not isinstance(value, dict):
        errors.add(path, "Phải là một bảng khóa: giá trị")
        return None
    for key in value:
        if key not in allowed:
            errors.add(f"{path}.{key}", SECRETS_ELSEWHERE if SECRET_HINT.search(str(key)) else f"Khóa {key!r} không được hỗ trợ")
    return value


def _list(errors: _Errors, path: str, value: Any) -> list:
    if value is MISSING or value is None:
        return []
    if not isinstance(value, list):
        errors.add(path, "Phải là một danh sách")
        return []
    return value


@dataclass
class _UnitSpec:
    path: str
    code: str
    fields: dict[str, Any]
    series: list[tuple[str, dict]]
    fees: list[tuple[str, fee_catalogue.FeeSpec]]


@dataclass
class _CentreSpec:
    path: str
    code: str
    fields: dict[str, Any]
    units: list[str] | None
    accounts: list[tuple[str, dict]]
    return_address: str | None


def _check_unit(errors: _Errors, path: str, raw: Any) -> _UnitSpec | None:
    if _mapping(errors, path, raw, UNIT_KEYS) is None:
        return None
    g = raw.get
    code = _str(errors, f"{path}.code", g("code", MISSING), required=True, max_len=32, pattern=CODE, what="Mã")
    fields: dict[str, Any] = {
        "name": _str(errors, f"{path}.name", g("name", MISSING), required=True),
        "address": _str(errors, f"{path}.address", g("address", MISSING), required=True, max_len=500),
        "phone": _str(errors, f"{path}.phone", g("phone", MISSING), max_len=32, pattern=PHONE, what="Số điện thoại"),
        "email": _str(errors, f"{path}.email", g("email", MISSING), pattern=EMAIL, what="Thư điện tử"),
        "active": _bool(errors, f"{path}.active", g("active", MISSING)),
    }
    tax = g("tax_code", MISSING)
    if tax is MISSING or tax is None or tax == "":
        errors.add(f"{path}.tax_code", "Bắt buộc")
    else:
        try:
            fields["tax_code"] = normalise_tax_code(tax)
        except TaxCodeError as e:
            hint = " (viết mã số thuế trong dấu nháy, ví dụ \"0100109106\")" if isinstance(tax, int) else ""
            errors.add(f"{path}.tax_code", str(e) + hint)
    bank = g("bank", MISSING)
    if bank is None:
        fields.update({col: None for col in BANK_KEYS.values()})
    elif bank is not MISSING and _mapping(errors, f"{path}.bank", bank, BANK_KEYS) is not None:
        patterns = {"bin": re.compile(r"^\d{6}$"), "account_number": re.compile(r"^[0-9A-Za-z]{4,19}$"), "account_name": None}
        for key, col in BANK_KEYS.items():
            fields[col] = _str(errors, f"{path}.bank.{key}", bank.get(key), required=True, pattern=patterns[key],
                               what=key)
    gateway = g("gateway", MISSING)
    if gateway is None:
        fields["gateway"] = {}
    elif gateway is not MISSING and _mapping(errors, f"{path}.gateway", gateway, gateway_keys()) is not None:
        ids = {k: _str(errors, f"{path}.gateway.{k}", gateway.get(k), max_len=64) for k in gateway_keys()}
        fields["gateway"] = {k: v for k, v in ids.items() if v}
    signing = g("signing", MISSING)
    if signing is None:
        fields.update({col: None for col in SIGNING_KEYS.values()})
    elif signing is not MISSING and _mapping(errors, f"{path}.signing", signing, SIGNING_KEYS) is not None:
        kind = signing.get("kind")
        if kind not in SIGNING_KINDS:
            errors.add(f"{path}.signing.kind", f"Phải là một trong: {', '.join(SIGNING_KINDS)}")
        slot = signing.get("slot")
        if slot is not None and (isinstance(slot, bool) or not isinstance(slot, int) or slot < 0):
            errors.add(f"{path}.signing.slot", "Phải là số nguyên không âm")
        fields["signing_kind"], fields["pkcs11_slot"] = kind, slot
        for key in ("module", "token_label", "key_label", "cert_label"):
            fields[SIGNING_KEYS[key]] = _str(errors, f"{path}.signing.{key}", signing.get(key), max_len=500)
        if kind == "pkcs11" and not fields["pkcs11_module"]:
            errors.add(f"{path}.signing.module", "Bắt buộc với pkcs11")
    series = []
    for i, item in enumerate(_list(errors, f"{path}.series", g("series", MISSING))):
        spec = _check_series(errors, f"{path}.series[{i}]", item)
        if spec is not None:
            series.append((f"{path}.series[{i}]", spec))
    fee_lines = []
    for i, item in enumerate(_list(errors, f"{path}.fees", g("fees", MISSING))):
        fpath = f"{path}.fees[{i}]"
        if not isinstance(item, dict):
            errors.add(fpath, "Phải là một bảng khóa: giá trị")
            continue
        spec, field_errors = fee_catalogue.parse_fee(item)
        for key, messages in field_errors.items():
            for message in messages:
                errors.add(f"{fpath}.{key}", SECRETS_ELSEWHERE if SECRET_HINT.search(key) else message)
        if spec is not None:
            fee_lines.append((fpath, spec))
    if not isinstance(code, str):
        return None
    return _UnitSpec(path, code, {k: v for k, v in fields.items() if v is not MISSING}, series, fee_lines)


def _check_series(errors: _Errors, path: str, raw: Any) -> dict | None:
    if _mapping(errors, path, raw, SERIES_KEYS) is None:
        return None
    template, symbol, year = raw.get("template"), raw.get("symbol"), raw.get("year")
    width = raw.get("width", raw.get("number_width", 7))
    ok = True
    if not isinstance(template, str) or not isinstance(symbol, str):
        errors.add(path, "Cần template (ký hiệu mẫu) và symbol (ký hiệu)")
        ok = False
    if isinstance(year, bool) or not isinstance(year, int):
        errors.add(f"{path}.year", "Năm phải là số nguyên")
        ok = False
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= 12:
        errors.add(f"{path}.width", "Độ dài số biên lai phải từ 1 đến 12")
        ok = False
    registered_on = raw.get("registered_on")
    if registered_on is not None:
        try:
            registered_on = fee_catalogue.parse_date(registered_on, "Ngày đăng ký")
        except ValueError as e:
            errors.add(f"{path}.registered_on", str(e))
            ok = False
    closed = raw.get("closed", False)
    if not isinstance(closed, bool):
        errors.add(f"{path}.closed", "Phải là true hoặc false")
        ok = False
    if not ok:
        return None
    return {"template": template.strip(), "symbol": symbol.strip(), "year": year, "number_width": width,
            "registered_on": registered_on, "closed": closed}


def _check_centre(errors: _Errors, path: str, raw: Any) -> _CentreSpec | None:
    if _mapping(errors, path, raw, CENTRE_KEYS) is None:
        return None
    g = raw.get
    code = _str(errors, f"{path}.code", g("code", MISSING), required=True, max_len=32, pattern=CODE, what="Mã")
    fields = {
        "name": _str(errors, f"{path}.name", g("name", MISSING), required=True),
        "address": _str(errors, f"{path}.address", g("address", MISSING), required=True, max_len=500),
        "phone": _str(errors, f"{path}.phone", g("phone", MISSING), max_len=32, pattern=PHONE, what="Số điện thoại"),
        "email": _str(errors, f"{path}.email", g("email", MISSING), pattern=EMAIL, what="Thư điện tử"),
        "province_code": _str(errors, f"{path}.province_code", g("province_code", MISSING), max_len=8),
    }
    return_address = _str(errors, f"{path}.return_address", g("return_address", MISSING), max_len=500)
    units = None
    if g("units", MISSING) is not MISSING:
        units = []
        for i, item in enumerate(_list(errors, f"{path}.units", g("units"))):
            unit_code = _str(errors, f"{path}.units[{i}]", item, required=True, max_len=32, pattern=CODE, what="Mã")
            if isinstance(unit_code, str):
                if unit_code in units:
                    errors.add(f"{path}.units[{i}]", f"Đơn vị {unit_code} ghi hai lần")
                units.append(unit_code)
    accounts = []
    seen: set[str] = set()
    for i, item in enumerate(_list(errors, f"{path}.carrier_accounts", g("carrier_accounts", MISSING))):
        apath = f"{path}.carrier_accounts[{i}]"
        if _mapping(errors, apath, item, ACCOUNT_KEYS) is None:
            continue
        carrier = item.get("carrier")
        if carrier not in CARRIERS:
            errors.add(f"{apath}.carrier", f"Phải là một trong: {', '.join(CARRIERS)}")
            continue
        if carrier in seen:
            errors.add(f"{apath}.carrier", f"Đơn vị vận chuyển {carrier} ghi hai lần")
        seen.add(carrier)
        values = {
            "customer_code": _str(errors, f"{apath}.customer_code", item.get("customer_code"), max_len=64),
            "contract_number": _str(errors, f"{apath}.contract_number", item.get("contract_number"), max_len=64),
            "pickup_address": _str(errors, f"{apath}.pickup_address", item.get("pickup_address"), max_len=500),
        }
        active = _bool(errors, f"{apath}.active", item.get("active", True))
        values["active"] = True if active is MISSING else active
        accounts.append((carrier, values))
    if not isinstance(code, str):
        return None
    return _CentreSpec(path, code, {k: v for k, v in fields.items() if v is not MISSING}, units, accounts,
                       None if return_address is MISSING else return_address)


# ---- import ---------------------------------------------------------------------------------------------


def _changes(obj: Any, fields: dict[str, Any]) -> tuple[dict, dict]:
    before, after = {}, {}
    for key, value in fields.items():
        current = getattr(obj, key)
        if current != value:
            before[key], after[key] = current, value
    return before, after


def _json(values: dict) -> dict:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in values.items()}


def import_province(session: Session, data: Any, actor: audit.Actor = audit.SYSTEM, *,
                    today: date | None = None) -> ImportReport:
    """Bring the database to what `data` (the parsed province YAML) says; all or nothing.

    Raises InvalidInput with `errors` keyed by path (`units[0].tax_code`, `units[1].fees[2].amount`,
    `centres[0].units[1]`) when anything is wrong; nothing is written then. The caller commits.
    """
    today = today or local_day()
    errors = _Errors()
    if not isinstance(data, dict):
        raise InvalidInput("Tệp tỉnh phải là một bảng với các khóa units và centres", errors={"": ["Sai cấu trúc"]})
    for key in data:
        if key not in ("units", "centres"):
            errors.add(str(key), f"Khóa {key!r} không được hỗ trợ (chỉ units và centres)")

    units: list[_UnitSpec] = []
    for i, raw in enumerate(_list(errors, "units", data.get("units", MISSING))):
        spec = _check_unit(errors, f"units[{i}]", raw)
        if spec is not None:
            units.append(spec)
    centres: list[_CentreSpec] = []
    for i, raw in enumerate(_list(errors, "centres", data.get("centres", MISSING))):
        spec = _check_centre(errors, f"centres[{i}]", raw)
        if spec is not None:
            centres.append(spec)

    for specs in (units, centres):
        seen: dict[str, str] = {}
        for spec in specs:
            if spec.code in seen:
                errors.add(f"{spec.path}.code", f"Mã {spec.code} trùng với {seen[spec.code]}")
            seen.setdefault(spec.code, spec.path)

    stored_units = {u.code: u for u in session.scalars(select(CollectingUnit))}
    stored_centres = {c.code: c for c in session.scalars(select(Centre))}
    file_units = {u.code: u for u in units}
    for centre in centres:
        for i, code in enumerate(centre.units or []):
            if code not in file_units and code not in stored_units:
                errors.add(f"{centre.path}.units[{i}]", f"Không có đơn vị thu mã {code}")

    # Fee codes are unique across the province: across units in the file and units already stored.
    owners: dict[str, str] = {}
    for unit in units:
        for fpath, spec in unit.fees:
            owner = owners.setdefault(spec.code, unit.code)
            if owner != unit.code:
                errors.add(f"{fpath}.code", f"Mã phí {spec.code} đã thuộc đơn vị {owner} trong tệp")
    plans = {}
    for unit in units:
        stored = stored_units.get(unit.code)
        taken = {c: o for c, o in fee_catalogue.codes_of_other_units(session, stored.id if stored else None).items()
                 if o != unit.code}
        taken.update({c: o for c, o in owners.items() if o != unit.code})
        plan, plan_errors = fee_catalogue.plan_fees(session, stored.id if stored else None, unit.fees, today=today,
                                                    taken_codes=taken)
        for path, messages in plan_errors.items():
            for message in messages:
                errors.add(path, message)
        plans[unit.code] = plan
        _check_series_against_stored(session, errors, unit, stored)

    home_centre: dict[str, str] = {}
    for centre in centres:
        for code in centre.units or []:
            home_centre.setdefault(code, centre.code)
    for unit in units:
        stored = stored_units.get(unit.code)
        if plans[unit.code].report.created and unit.code not in home_centre and not (
                stored and _serving_centre_id(session, stored.id)):
            errors.add(f"{unit.path}.fees", f"Đơn vị {unit.code} có phí nhưng chưa được trung tâm nào phục vụ")

    if errors.by_path:
        raise InvalidInput(f"Tệp tỉnh có {len(errors.by_path)} chỗ sai; chưa ghi gì", errors=errors.by_path)

    report = ImportReport()
    unit_rows = _apply_units(session, units, stored_units, report, actor)
    centre_rows = _apply_centres(session, centres, stored_centres, file_units, unit_rows, report, actor)
    _apply_links(session, centres, centre_rows, unit_rows, report, actor)
    for unit in units:
        row = unit_rows[unit.code]
        _apply_series(session, unit, row, report, actor)
        centre_id = centre_rows[home_centre[unit.code]].id if unit.code in home_centre else _serving_centre_id(
            session, row.id)
        plan = plans[unit.code]
        fee_catalogue.apply_fee_plan(session, plan, row, centre_id or 0, actor=actor)
        for outcome in ("created", "updated", "unchanged"):
            for label in getattr(plan.report, outcome):
                report.add("fees", outcome, f"{unit.code}:{label}")
    _apply_accounts(session, centres, centre_rows, report, actor)
    for centre in centres:
        if centre.return_address:
            report.warnings.append(f"Địa chỉ nhận trả hồ sơ của trung tâm {centre.code} chưa được lưu "
                                   f"(chưa có cột return_address)")
    if report.changed:
        audit.record(session, actor, "province.imported", detail="; ".join(report.summary()))
    return report


def _serving_centre_id(session: Session, unit_id: int) -> int | None:
    return session.scalar(select(CentreUnit.centre_id).where(CentreUnit.unit_id == unit_id).order_by(CentreUnit.id))


def _check_series_against_stored(session: Session, errors: _Errors, unit: _UnitSpec,
                                 stored: CollectingUnit | None) -> None:
    existing = {}
    if stored is not None:
        existing = {(s.template, s.symbol): s for s in session.scalars(
            select(ReceiptSeries).where(ReceiptSeries.unit_id == stored.id))}
    seen: set[tuple[str, str]] = set()
    for path, spec in unit.series:
        key = (spec["template"], spec["symbol"])
        if key in seen:
            errors.add(path, f"Ký hiệu {key[0]} {key[1]} ghi hai lần")
        seen.add(key)
        row = existing.get(key)
        if row is None:
            for field_name, messages in series_shape_errors(spec["template"], spec["symbol"], spec["year"]).items():
                for message in messages:
                    errors.add(f"{path}.{field_name}", message)
            continue
        if row.year != spec["year"]:
            errors.add(f"{path}.year", f"Ký hiệu {key[0]} {key[1]} đã đăng ký cho năm {row.year}")
        if row.number_width != spec["number_width"] and row.state in ("in_use", "closed"):
            errors.add(f"{path}.width", f"Ký hiệu đã dùng với số {row.number_width} chữ số; không đổi được")
        if (spec["registered_on"] is not None and row.registered_on != spec["registered_on"]
                and row.state in ("in_use", "closed")):
            errors.add(f"{path}.registered_on", f"Ký hiệu đã dùng, đăng ký ngày {row.registered_on}; không đổi được")


def _apply_units(session: Session, units: list[_UnitSpec], stored: dict[str, CollectingUnit],
                 report: ImportReport, actor: audit.Actor) -> dict[str, CollectingUnit]:
    rows = dict(stored)
    for spec in units:
        row = stored.get(spec.code)
        if row is None:
            values = {"gateway": {}, "active": True, **spec.fields}
            row = CollectingUnit(code=spec.code, **values)
            session.add(row)
            session.flush()
            report.add("units", "created", spec.code)
            audit.record(session, actor, "unit.created", entity_type="collecting_unit", entity_id=row.id,
                         after=_json({"code": spec.code, **values}))
        else:
            before, after = _changes(row, spec.fields)
            if after:
                for key, value in after.items():
                    setattr(row, key, value)
                session.flush()
                report.add("units", "updated", spec.code)
                audit.record(session, actor, "unit.updated", entity_type="collecting_unit", entity_id=row.id,
                             before=_json(before), after=_json(after))
            else:
                report.add("units", "unchanged", spec.code)
        rows[spec.code] = row
    return rows


def _apply_centres(session: Session, centres: list[_CentreSpec], stored: dict[str, Centre],
                   file_units: dict[str, _UnitSpec], unit_rows: dict[str, CollectingUnit], report: ImportReport,
                   actor: audit.Actor) -> dict[str, Centre]:
    rows = dict(stored)
    for spec in centres:
        row = stored.get(spec.code)
        if row is None:
            # Centre.tax_code/receipt_template/receipt_symbol are NOT NULL and belong to the single-centre era:
            # receipts are now the units'. Filled with the first unit's tax code and blanks until they go.
            first = (spec.units or [None])[0]
            tax_code = unit_rows[first].tax_code if first in unit_rows else ""
            values = {"phone": None, "email": None, "province_code": None, **spec.fields}
            row = Centre(code=spec.code, tax_code=tax_code, receipt_template="", receipt_symbol="",
                         receipt_number_width=7, is_demo=False, **values)
            session.add(row)
            session.flush()
            report.add("centres", "created", spec.code)
            audit.record(session, actor, "centre.created", entity_type="centre", entity_id=row.id,
                         after={"code": spec.code, **values}, centre_id=row.id)
        else:
            before, after = _changes(row, spec.fields)
            if after:
                for key, value in after.items():
                    setattr(row, key, value)
                session.flush()
                report.add("centres", "updated", spec.code)
                audit.record(session, actor, "centre.updated", entity_type="centre", entity_id=row.id,
                             before=before, after=after, centre_id=row.id)
            else:
                report.add("centres", "unchanged", spec.code)
        rows[spec.code] = row
    return rows


def _apply_links(session: Session, centres: list[_CentreSpec], centre_rows: dict[str, Centre],
                 unit_rows: dict[str, CollectingUnit], report: ImportReport, actor: audit.Actor) -> None:
    by_id = {u.id: u for u in unit_rows.values()}
    for spec in centres:
        if spec.units is None:
            continue
        centre = centre_rows[spec.code]
        links = {link.unit_id: link for link in session.scalars(select(CentreUnit).where(CentreUnit.centre_id == centre.id))}
        wanted = [unit_rows[code] for code in spec.units]
        for unit in wanted:
            label = f"{centre.code}/{unit.code}"
            if unit.id in links:
                report.add("centre_units", "unchanged", label)
                continue
            session.add(CentreUnit(centre_id=centre.id, unit_id=unit.id))
            session.flush()
            report.add("centre_units", "created", label)
            audit.record(session, actor, "centre_unit.created", entity_type="centre", entity_id=centre.id,
                         after={"unit": unit.code}, centre_id=centre.id)
        wanted_ids = {u.id for u in wanted}
        for unit_id, link in links.items():
            if unit_id in wanted_ids:
                continue
            code = by_id[unit_id].code if unit_id in by_id else str(unit_id)
            session.delete(link)
            session.flush()
            report.add("centre_units", "removed", f"{centre.code}/{code}")
            audit.record(session, actor, "centre_unit.removed", entity_type="centre", entity_id=centre.id,
                         before={"unit": code}, centre_id=centre.id)


def _apply_series(session: Session, unit: _UnitSpec, row: CollectingUnit, report: ImportReport,
                  actor: audit.Actor) -> None:
    existing = {(s.template, s.symbol): s for s in session.scalars(
        select(ReceiptSeries).where(ReceiptSeries.unit_id == row.id))}
    for _path, spec in unit.series:
        label = f"{row.code} {spec['template']} {spec['symbol']}"
        series = existing.get((spec["template"], spec["symbol"]))
        if series is None:
            series = ReceiptSeries(unit_id=row.id, template=spec["template"], symbol=spec["symbol"], year=spec["year"],
                                   number_width=spec["number_width"],
                                   state="registered" if spec["registered_on"] else "draft",
                                   registered_on=spec["registered_on"])
            session.add(series)
            session.flush()
            audit.record(session, actor, "series.created", entity_type="receipt_series", entity_id=series.id,
                         after={"unit": row.code, "template": series.template, "symbol": series.symbol,
                                "year": series.year, "number_width": series.number_width, "state": series.state,
                                "registered_on": _json({"d": series.registered_on})["d"]})
            if spec["closed"]:
                close_series(session, series, actor=actor)
            report.add("series", "created", label)
            continue
        changed = False
        if series.number_width != spec["number_width"]:
            before = series.number_width
            series.number_width = spec["number_width"]
            session.flush()
            audit.record(session, actor, "series.updated", entity_type="receipt_series", entity_id=series.id,
                         before={"number_width": before}, after={"number_width": series.number_width})
            changed = True
        if spec["registered_on"] is not None and series.registered_on != spec["registered_on"]:
            if series.state == "draft":
                mark_registered(session, series, spec["registered_on"], actor=actor)
            else:
                before = series.registered_on
                series.registered_on = spec["registered_on"]
                session.flush()
                audit.record(session, actor, "series.updated", entity_type="receipt_series", entity_id=series.id,
                             before=_json({"registered_on": before}),
                             after=_json({"registered_on": series.registered_on}))
            changed = True
        if spec["closed"] and series.state != "closed":
            close_series(session, series, actor=actor)
            changed = True
        report.add("series", "updated" if changed else "unchanged", label)


def _apply_accounts(session: Session, centres: list[_CentreSpec], centre_rows: dict[str, Centre],
                    report: ImportReport, actor: audit.Actor) -> None:
    for spec in centres:
        centre = centre_rows[spec.code]
        for carrier, values in spec.accounts:
            label = f"{centre.code}/{carrier}"
            row = session.scalar(select(CarrierAccount).where(CarrierAccount.centre_id == centre.id,
                                                              CarrierAccount.carrier == carrier))
            if row is None:
                row = CarrierAccount(centre_id=centre.id, carrier=carrier, **values)
                session.add(row)
                session.flush()
                report.add("carrier_accounts", "created", label)
                audit.record(session, actor, "carrier_account.created", entity_type="carrier_account",
                             entity_id=row.id, after={"carrier": carrier, **values}, centre_id=centre.id)
                continue
            before, after = _changes(row, values)
            if not after:
                report.add("carrier_accounts", "unchanged", label)
                continue
            for key, value in after.items():
                setattr(row, key, value)
            session.flush()
            report.add("carrier_accounts", "updated", label)
            audit.record(session, actor, "carrier_account.updated", entity_type="carrier_account", entity_id=row.id,
                         before=before, after=after, centre_id=centre.id)


# ---- export ---------------------------------------------------------------------------------------------


def _put(target: dict, key: str, value: Any) -> None:
    if value not in (None, "", {}, []):
        target[key] = value


def export_province(session: Session) -> dict:
    """The current state in the import format (no secrets); importing it back changes nothing."""
    units_out = []
    for unit in session.scalars(select(CollectingUnit).order_by(CollectingUnit.code)):
        item: dict[str, Any] = {"code": unit.code, "name": unit.name, "tax_code": unit.tax_code,
                                "address": unit.address}
        _put(item, "phone", unit.phone)
        _put(item, "email", unit.email)
        if not unit.active:
            item["active"] = False
        if unit.bank_bin or unit.bank_account_number or unit.bank_account_name:
            item["bank"] = {"bin": unit.bank_bin, "account_number": unit.bank_account_number,
                            "account_name": unit.bank_account_name}
        _put(item, "gateway", {k: v for k, v in (unit.gateway or {}).items() if k in gateway_keys() and v})
        if unit.signing_kind:
            signing = {"kind": unit.signing_kind}
            for key, col in SIGNING_KEYS.items():
                if key != "kind":
                    _put(signing, key, getattr(unit, col))
            item["signing"] = signing
        series_out = []
        for s in session.scalars(select(ReceiptSeries).where(ReceiptSeries.unit_id == unit.id)
                                 .order_by(ReceiptSeries.year, ReceiptSeries.template, ReceiptSeries.symbol)):
            entry: dict[str, Any] = {"template": s.template, "symbol": s.symbol, "year": s.year,
                                     "width": s.number_width}
            _put(entry, "registered_on", s.registered_on)
            if s.state == "closed":
                entry["closed"] = True
            series_out.append(entry)
        _put(item, "series", series_out)
        fees_out = []
        for fee in fee_catalogue.fees_of_unit(session, unit.id):
            entry = {"code": fee.code}
            _put(entry, "procedure", fee.procedure_code)
            entry.update({"name": fee.name, "kind": fee.kind, "amount": fee.amount})
            _put(entry, "online_amount", fee.online_amount)
            _put(entry, "retained_percent", fee.retained_percent)
            entry["valid_from"] = fee.effective_from
            _put(entry, "valid_to", fee.effective_to)
            _put(entry, "legal_basis", fee.legal_basis)
            fees_out.append(entry)
        _put(item, "fees", fees_out)
        units_out.append(item)
    centres_out = []
    for centre in session.scalars(select(Centre).order_by(Centre.code)):
        item = {"code": centre.code, "name": centre.name, "address": centre.address}
        _put(item, "phone", centre.phone)
        _put(item, "email", centre.email)
        _put(item, "province_code", centre.province_code)
        item["units"] = list(session.scalars(
            select(CollectingUnit.code).join(CentreUnit, CentreUnit.unit_id == CollectingUnit.id)
            .where(CentreUnit.centre_id == centre.id).order_by(CollectingUnit.code)))
        accounts = []
        for a in session.scalars(select(CarrierAccount).where(CarrierAccount.centre_id == centre.id)
                                 .order_by(CarrierAccount.carrier)):
            entry = {"carrier": a.carrier}
            for key in ("customer_code", "contract_number", "pickup_address"):
                _put(entry, key, getattr(a, key))
            if not a.active:
                entry["active"] = False
            accounts.append(entry)
        _put(item, "carrier_accounts", accounts)
        centres_out.append(item)
    return {"units": units_out, "centres": centres_out}
