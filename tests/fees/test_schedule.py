"""`hcc fees import`: a centre's schedule loads whole, or not at all with an error per bad line."""

from sqlalchemy import func, select

from fees.models import FeeType
from fees.payments import fee_in_force
from fees.schedule import DEFAULT_SCHEDULE, parse_schedule

HEADER = "code,name,procedure_code,kind,amount,legal_basis,effective_from,effective_to\n"


def test_the_shipped_schedule_has_twenty_real_fees_and_both_kinds():
    rows = parse_schedule(DEFAULT_SCHEDULE.read_text(encoding="utf-8"))
    assert len(rows) >= 20
    lltp = next(r for r in rows if r.code == "LLTP")
    assert (lltp.amount, lltp.kind, lltp.legal_basis) == (200_000, "phi", "Thông tư 244/2016/TT-BTC")
    assert {r.kind for r in rows} == {"phi", "le_phi"}


def test_import_loads_the_file(runner, session, tmp_path, centre):
    path = tmp_path / "phi.csv"
    path.write_text(HEADER + "LLTP,Phí cung cấp thông tin lý lịch tư pháp,2.001417,phí,200.000,"
                    "Thông tư 244/2016/TT-BTC,01/01/2017,\n"
                    "GPLX,Lệ phí cấp giấy phép lái xe,,lệ phí,135000,Thông tư 37/2023/TT-BTC,2023-07-01,\n",
                    encoding="utf-8")
    result = runner.invoke(args=["fees", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "imported 2 fee line(s)" in result.output
    assert fee_in_force(session, centre.id, "GPLX").amount == 135_000


def test_a_bad_line_is_named_and_nothing_is_imported(runner, session, tmp_path, centre):
    from fees.schedule import seed_default

    seed_default(session, centre)
    session.commit()
    before = session.scalar(select(func.count()).select_from(FeeType))
    path = tmp_path / "phi.csv"
    path.write_text(HEADER + "A,Phí A,,phi,1000,,2024-01-01,\n"
                    "B,Phí B,,thuế,-5,,2024-13-01,\n", encoding="utf-8")
    result = runner.invoke(args=["fees", "import", str(path)])
    assert result.exit_code != 0
    assert "line 3" in result.output and "kind" in result.output and "amount" in result.output
    assert session.scalar(select(func.count()).select_from(FeeType)) == before


def test_a_later_schedule_applies_from_its_date_and_old_days_keep_the_old_fee(session, centre):
    from datetime import date

    from core import audit
    from fees.schedule import import_schedule

    rows = parse_schedule(HEADER + "X,Phí X,,phi,100000,,2020-01-01,\nX,Phí X,,phi,150000,,2026-01-01,\n")
    import_schedule(session, centre, rows, audit.SYSTEM)
    session.commit()
    assert fee_in_force(session, centre.id, "X", on=date(2025, 6, 1)).amount == 100_000
    assert fee_in_force(session, centre.id, "X", on=date(2026, 6, 1)).amount == 150_000


def test_dots_are_thousands_separators_only_and_a_decimal_amount_is_refused():
    import pytest

    from core.errors import InvalidInput

    rows = parse_schedule(HEADER + "A,Phí A,,phi,200.000,,2024-01-01,\nB,Phí B,,phi,1 500 000,,2024-01-01,\n")
    assert [r.amount for r in rows] == [200_000, 1_500_000]
    for amount in ("200000.50", "1.5", "2.00.000", "²", "1e6"):
        with pytest.raises(InvalidInput) as bad:
            parse_schedule(HEADER + f"A,Phí A,,phi,{amount},,2024-01-01,\n")
        assert any("amount" in m for msgs in bad.value.errors.values() for m in msgs), amount
