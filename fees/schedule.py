"""The fee schedule: parsing a centre's CSV, importing it all or nothing, seeding the embedded default.

A centre's CSV goes to one collecting unit's catalogue: the unit named, or the centre's only unit
(province.fees imports a unit's catalogue with its full history rules; this is the older, simpler path).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit
from core.errors import InvalidInput
from core.models import Centre
from fees.models import FEE_KINDS, FeeType

DEFAULT_SCHEDULE = Path(__file__).parent / "data" / "default_fees.csv"
_WHOLE_DONG = re.compile(r"[0-9]+|[0-9]{1,3}(\.[0-9]{3})+")


def parse_whole_dong(text: str) -> int | None:
    """An amount typed by a person: whole đồng, dots or spaces only as thousands separators.

    "200.000" and "1 500 000" are read; "200000.50" or "1.5" give None rather than 20000050 or 15.
    """
    compact = (text or "").strip().replace(" ", "")
    return int(compact.replace(".", "")) if _WHOLE_DONG.fullmatch(compact) else None


COLUMNS = ["code", "name", "procedure_code", "kind", "amount", "legal_basis", "effective_from", "effective_to"]
KIND_ALIASES = {"phi": "phi", "phí": "phi", "le_phi": "le_phi", "lệ phí": "le_phi", "le phi": "le_phi",
                "lệ_phí": "le_phi"}


@dataclass(frozen=True)
class FeeRow:
    line: int
    code: str
    name: str
    procedure_code: str | None
    kind: str
    amount: int
    legal_basis: str | None
    effective_from: date
    effective_to: date | None


def _date(value: str, field: str, errors: list[str]) -> date | None:
    value = value.strip()
    if not value:
        return None
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            from datetime import datetime

            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    errors.append(f"{field}: '{value}' không phải ngày (YYYY-MM-DD hoặc DD/MM/YYYY)")
    return None


def _getter(raw: dict):
    return lambda k: (raw.get(k) or "").strip()


def parse_schedule(text: str) -> list[FeeRow]:
    """Every row checked; raises InvalidInput naming each bad line, so nothing is half-imported."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in ("code", "name", "kind", "amount", "effective_from") if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInput(f"missing columns: {', '.join(missing)}",
                           errors={"header": [f"Thiếu cột: {', '.join(missing)}"]})
    rows: list[FeeRow] = []
    problems: dict[str, list[str]] = {}
    seen: dict[tuple[str, date], int] = {}
    for number, raw in enumerate(reader, start=2):
        errors: list[str] = []
        get = _getter(raw)
        code, name = get("code"), get("name")
        if not code or len(code) > 32:
            errors.append("code: bắt buộc, tối đa 32 ký tự")
        if not name or len(name) > 255:
            errors.append("name: bắt buộc, tối đa 255 ký tự")
        kind = KIND_ALIASES.get(get("kind").lower())
        if kind not in FEE_KINDS:
            errors.append(f"kind: '{get('kind')}' phải là 'phi' (phí) hoặc 'le_phi' (lệ phí)")
        amount = parse_whole_dong(get("amount"))
        if amount is None:
            errors.append(f"amount: '{get('amount')}' phải là số nguyên đồng, không âm")
        start = _date(get("effective_from"), "effective_from", errors)
        if start is None and not any(e.startswith("effective_from") for e in errors):
            errors.append("effective_from: bắt buộc")
        end = _date(get("effective_to"), "effective_to", errors)
        if start and end and end < start:
            errors.append("effective_to: trước effective_from")
        if code and start:
            if (code, start) in seen:
                errors.append(f"trùng mã {code} cùng ngày hiệu lực với dòng {seen[(code, start)]}")
            seen[(code, start)] = number
        if errors:
            problems[f"line {number}"] = errors
            continue
        rows.append(FeeRow(number, code, name, get("procedure_code") or None, kind, amount,
                           get("legal_basis") or None, start, end))
    if problems:
        raise InvalidInput(f"{len(problems)} bad line(s); nothing was imported", errors=problems)
    if not rows:
        raise InvalidInput("the file has no fee lines", errors={"file": ["Tệp không có dòng phí nào."]})
    return rows


def _unit_id_for(session: Session, centre: Centre, unit_id: int | None) -> int | None:
    if unit_id is not None:
        return unit_id
    from province.units import units_served_at

    served = units_served_at(session, centre.id)
    return served[0].id if len(served) == 1 else None


def import_schedule(session: Session, centre: Centre, rows: list[FeeRow], actor: audit.Actor, *,
                    unit_id: int | None = None) -> tuple[int, int]:
    """Insert new (code, effective_from) entries and update existing ones; returns (added, updated).

    The fees belong to `unit_id`, by default the centre's only unit (none when it serves several or none).
    """
    unit_id = _unit_id_for(session, centre, unit_id)
    added = updated = 0
    for row in rows:
        fee = session.scalars(select(FeeType).where(FeeType.centre_id == centre.id, FeeType.code == row.code,
                                                    FeeType.effective_from == row.effective_from)).first()
        values = dict(name=row.name, procedure_code=row.procedure_code, kind=row.kind, amount=row.amount,
                      legal_basis=row.legal_basis, effective_to=row.effective_to, active=True)
        if unit_id is not None:
            values["unit_id"] = unit_id
        if fee is None:
            session.add(FeeType(centre_id=centre.id, code=row.code, effective_from=row.effective_from, **values))
            added += 1
        else:
            for k, v in values.items():
                setattr(fee, k, v)
            updated += 1
    session.flush()
    audit.record(session, actor, "fees.imported", entity_type="centre", entity_id=centre.id,
                 after={"added": added, "updated": updated}, centre_id=centre.id)
    return added, updated


def seed_default(session: Session, centre: Centre) -> int:
    """The embedded default's schedule, loaded once into a centre that has none, as its (demo) unit's fees."""
    if session.scalars(select(FeeType.id).where(FeeType.centre_id == centre.id).limit(1)).first():
        return 0
    rows = parse_schedule(DEFAULT_SCHEDULE.read_text(encoding="utf-8"))
    added, _ = import_schedule(session, centre, rows, audit.SYSTEM)
    return added
