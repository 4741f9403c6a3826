"""A unit's fee catalogue as CSV/XLSX: line errors, all or nothing, history, the fee a payment uses."""

import io
from datetime import date

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from core.errors import InvalidInput
from fees.models import FeeType
from province.fees import (
    AmbiguousFeeError,
    export_fee_csv,
    export_fee_xlsx,
    fee_in_force,
    import_fee_file,
    parse_fee,
)
from tests.province.conftest import make_centre, make_unit

TODAY = date(2026, 3, 1)
CSV = """code,procedure,name,kind,amount,online_amount,retained_percent,valid_from,valid_to
LLTP-BN,2.000488,Phí cung cấp thông tin lý lịch tư pháp,phí,200.000,,30,2025-07-01,
LLTP-SV,2.000488,Phí cung cấp thông tin lý lịch tư pháp (sinh viên),phi,100000,,30,01/07/2025,
CT-BANSAO,2.000815,Lệ phí chứng thực,lệ phí,2000,1000,100,,
"""


def fees(session):
    return session.scalar(select(func.count()).select_from(FeeType))


def test_csv_import_reads_vietnamese_kinds_and_amounts(session):
    centre = make_centre(session)
    unit = make_unit(session, centres=[centre])
    report = import_fee_file(session, unit, "phi.csv", CSV.encode("utf-8-sig"), today=TODAY)
    assert len(report.created) == 3 and report.changed
    rows = {r.code: r for r in session.scalars(select(FeeType))}
    assert rows["LLTP-BN"].amount == 200000 and rows["LLTP-BN"].kind == "phi"
    assert rows["CT-BANSAO"].kind == "le_phi" and rows["CT-BANSAO"].online_amount == 1000
    assert rows["CT-BANSAO"].effective_from == TODAY
    assert all(r.unit_id == unit.id and r.centre_id == centre.id for r in rows.values())
    again = import_fee_file(session, unit, "phi.csv", CSV.encode(), today=date(2026, 5, 1))
    assert not again.changed


def test_bad_lines_are_all_named_and_nothing_is_imported(session):
    unit = make_unit(session, centres=[make_centre(session)])
    bad = CSV.replace("2.000815", "2.815").replace("1000,100", "1000,120") + \
        "LLTP-X,2.000488,Phí,phi,12.5,,,,\n"
    with pytest.raises(InvalidInput) as e:
        import_fee_file(session, unit, "phi.csv", bad.encode(), today=TODAY)
    assert set(e.value.errors) == {"line 4", "line 5"}
    assert any("Mã TTHC" in m for m in e.value.errors["line 4"])
    assert any("retained_percent" in m for m in e.value.errors["line 4"])
    assert fees(session) == 0


def test_a_bad_header_is_line_one(session):
    unit = make_unit(session, centres=[make_centre(session)])
    with pytest.raises(InvalidInput) as e:
        import_fee_file(session, unit, "phi.csv", b"code,name,amount,price\nA,B,1,2\n", today=TODAY)
    assert list(e.value.errors) == ["line 1"]


def test_xlsx_import_and_export_round_trip(session):
    unit = make_unit(session, centres=[make_centre(session)])
    book = Workbook()
    sheet = book.active
    sheet.append(["Mã", "Mã TTHC", "Tên", "Loại", "Mức thu", "Tỷ lệ để lại", "Từ ngày"])
    sheet.append(["LLTP-BN", 2.000488, "Phí lý lịch tư pháp", "phí", 200000, 30, date(2025, 7, 1)])
    sheet.append([None, None, None, None, None, None, None])
    sheet.append(["LLTP-SV", "2.000488", "Phí lý lịch tư pháp (sinh viên)", "phí", 100000.0, "30%", "2025-07-01"])
    out = io.BytesIO()
    book.save(out)
    report = import_fee_file(session, unit, "phi.xlsx", out.getvalue(), today=TODAY)
    assert report.created == ["LLTP-BN@2025-07-01", "LLTP-SV@2025-07-01"]
    exported = export_fee_xlsx(session, unit)
    rows = list(load_workbook(io.BytesIO(exported)).active.iter_rows(values_only=True))
    assert rows[0][:5] == ("code", "procedure", "name", "kind", "amount") and rows[1][1] == "2.000488"
    assert not import_fee_file(session, unit, "phi.xlsx", exported, today=TODAY).changed
    assert not import_fee_file(session, unit, "phi.csv", export_fee_csv(session, unit), today=TODAY).changed


def test_an_xlsx_row_error_names_its_row(session):
    unit = make_unit(session, centres=[make_centre(session)])
    book = Workbook()
    book.active.append(["code", "name", "kind", "amount"])
    book.active.append(["A-1", "Phí A", "phí", 1000])
    book.active.append(["A-2", "Phí B", "thuế", 1000])
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(InvalidInput) as e:
        import_fee_file(session, unit, "phi.xlsx", out.getvalue(), today=TODAY)
    assert list(e.value.errors) == ["line 3"]
    assert fees(session) == 0


def test_a_payment_uses_the_fee_in_force_on_its_day(session):
    unit = make_unit(session, centres=[make_centre(session)])
    import_fee_file(session, unit, "a.csv", b"code,name,kind,amount,valid_from\nLLTP-BN,Phi,phi,200000,2025-07-01\n",
                    today=TODAY)
    import_fee_file(session, unit, "b.csv", b"code,name,kind,amount,valid_from\nLLTP-BN,Phi,phi,150000,2026-07-01\n",
                    today=TODAY)
    assert fee_in_force(session, [unit.id], "LLTP-BN", date(2026, 6, 30)).amount == 200000
    assert fee_in_force(session, [unit.id], "LLTP-BN", date(2026, 7, 1)).amount == 150000
    assert fee_in_force(session, [unit.id], "LLTP-BN", date(2025, 6, 30)) is None
    assert fee_in_force(session, [], "LLTP-BN", date(2026, 7, 1)) is None
    # History is not rewritten: a day before the latest version that matches none is refused.
    with pytest.raises(InvalidInput):
        import_fee_file(session, unit, "c.csv", b"code,name,kind,amount,valid_from\nLLTP-BN,Phi,phi,1,2026-01-01\n",
                        today=TODAY)


def test_a_change_without_a_day_starts_today(session):
    unit = make_unit(session, centres=[make_centre(session)])
    import_fee_file(session, unit, "a.csv", b"code,name,kind,amount,valid_from\nX-1,Phi,phi,1000,2025-01-01\n",
                    today=TODAY)
    import_fee_file(session, unit, "b.csv", b"code,name,kind,amount\nX-1,Phi,phi,2000\n", today=TODAY)
    rows = session.scalars(select(FeeType).order_by(FeeType.effective_from)).all()
    assert [(r.amount, r.effective_from, r.effective_to) for r in rows] == [
        (1000, date(2025, 1, 1), date(2026, 2, 28)), (2000, TODAY, None)]


def test_fee_codes_are_unique_across_units(session):
    centre = make_centre(session)
    a = make_unit(session, "STP", centres=[centre])
    b = make_unit(session, "SNNMT", tax_code="2300246128", centres=[centre])
    line = b"code,name,kind,amount,valid_from\nX-1,Phi,phi,1000,2025-01-01\n"
    import_fee_file(session, a, "a.csv", line, today=TODAY)
    with pytest.raises(InvalidInput) as e:
        import_fee_file(session, b, "b.csv", line, today=TODAY)
    assert "STP" in e.value.errors["line 2"][0]
    # Rows written another way (legacy data) still cannot make a lookup pick one silently.
    other = make_centre(session, "PVHCC-KB")
    session.add(FeeType(unit_id=b.id, centre_id=other.id, code="X-1", name="Phi", kind="phi", amount=5,
                        effective_from=date(2025, 1, 1), active=True))
    with pytest.raises(AmbiguousFeeError):
        fee_in_force(session, [a.id, b.id], "X-1", TODAY)


@pytest.mark.parametrize("procedure,ok", [("1.004227", True), ("2.000488", True), ("1.004227.000.00.00.H06", True),
                                          ("1004227", False), ("1.04227", False), ("BTP-BNI-277", False)])
def test_procedure_codes_of_the_national_catalogue(procedure, ok):
    spec, errors = parse_fee({"code": "A", "name": "B", "kind": "phi", "amount": 1, "procedure": procedure})
    assert (spec is not None) is ok and (("procedure" in errors) is not ok)
