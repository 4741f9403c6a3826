"""`hcc province import`: the README's example brings up a province; a second run changes nothing."""

import copy
from datetime import date

import pytest
import yaml
from sqlalchemy import func, select

from core.audit import Actor
from core.errors import InvalidInput
from core.models import AuditLog, Centre
from fees.models import FeeType
from province.importer import export_province, import_province
from province.models import CarrierAccount, CentreUnit, CollectingUnit, ReceiptSeries

ADMIN = Actor(type="user", id="1", name="admin")
TODAY = date(2026, 3, 1)


def count(session, model):
    return session.scalar(select(func.count()).select_from(model))


def test_the_example_creates_two_centres_three_units_and_everything_they_hold(session, example):
    report = import_province(session, example, ADMIN, today=TODAY)
    session.commit()
    assert report.changed
    assert sorted(report.items["centres"]["created"]) == ["PVHCC-KB", "TTPVHCC"]
    assert sorted(report.items["units"]["created"]) == ["SNNMT", "STP", "UBND-KB"]
    assert count(session, Centre) == 2 and count(session, CollectingUnit) == 3
    assert count(session, CentreUnit) == 4 and count(session, CarrierAccount) == 2
    stp = session.scalar(select(CollectingUnit).where(CollectingUnit.code == "STP"))
    assert stp.tax_code == "2300245389" and stp.bank_bin == "970415" and stp.gateway == {"vnpay_tmn_code": "STPBN001"}
    series = session.scalars(select(ReceiptSeries).where(ReceiptSeries.unit_id == stp.id)
                             .order_by(ReceiptSeries.year)).all()
    assert [(s.symbol, s.state, s.registered_on) for s in series] == [
        ("26T", "registered", date(2026, 1, 5)), ("27T", "registered", date(2026, 11, 20))]
    fee = session.scalar(select(FeeType).where(FeeType.code == "DD-TDHS-GCN"))
    assert (fee.amount, fee.online_amount, fee.retained_percent, fee.procedure_code) == (500000, 400000, 80, "1.004227")
    centre = session.scalar(select(Centre).where(Centre.code == "TTPVHCC"))
    assert centre.tax_code == "2300245389"  # its first unit's, until Centre loses the column
    assert session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "unit.created")) == 3


def test_a_second_run_reports_no_change_and_writes_nothing(session, example):
    import_province(session, example, ADMIN, today=TODAY)
    session.commit()
    audits = count(session, AuditLog)
    report = import_province(session, example, ADMIN, today=date(2026, 4, 2))
    assert report.changed is False
    assert "Không có thay đổi nào." in report.summary()
    assert report.counts()["fees"]["unchanged"] == 6
    session.flush()
    assert count(session, AuditLog) == audits


def test_one_bad_tax_code_and_one_bad_fee_line_write_nothing_and_are_both_named(session, example):
    bad = copy.deepcopy(example)
    bad["units"][1]["tax_code"] = "2300246129"
    bad["units"][2]["fees"][1]["amount"] = "mười nghìn"
    with pytest.raises(InvalidInput) as e:
        import_province(session, bad, ADMIN, today=TODAY)
    assert set(e.value.errors) == {"units[1].tax_code", "units[2].fees[1].amount"}
    assert "chữ số kiểm tra" in e.value.errors["units[1].tax_code"][0]
    session.rollback()
    assert count(session, CollectingUnit) == 0 and count(session, Centre) == 0 and count(session, FeeType) == 0


def test_paths_name_unknown_units_secrets_and_duplicate_fee_codes(session, example):
    bad = copy.deepcopy(example)
    bad["centres"][0]["units"].append("SXD")
    bad["units"][0]["vnpay_hash_secret"] = "abc"
    bad["units"][2]["fees"][0]["code"] = "LLTP-BN"
    bad["units"][0]["series"][0]["symbol"] = "25T"
    with pytest.raises(InvalidInput) as e:
        import_province(session, bad, ADMIN, today=TODAY)
    errors = e.value.errors
    assert "centres[0].units[2]" in errors
    assert "hcc credentials set" in errors["units[0].vnpay_hash_secret"][0]
    assert "units[2].fees[0].code" in errors
    assert "units[0].series[0].symbol" in errors


def test_export_then_import_is_a_no_change_round_trip(session, example):
    import_province(session, example, ADMIN, today=TODAY)
    session.commit()
    exported = export_province(session)
    text = yaml.safe_dump(exported, allow_unicode=True, sort_keys=False)
    assert "secret" not in text.lower()
    report = import_province(session, yaml.safe_load(text), ADMIN, today=TODAY)
    assert report.changed is False, report.summary()


def test_a_changed_amount_from_a_new_day_keeps_history(session, example):
    import_province(session, example, ADMIN, today=TODAY)
    changed = copy.deepcopy(example)
    fee = changed["units"][0]["fees"][0]
    fee.update(amount=150000, valid_from=date(2026, 7, 1))
    report = import_province(session, changed, ADMIN, today=TODAY)
    assert report.items["fees"]["created"] == ["STP:LLTP-BN@2026-07-01"]
    assert report.items["fees"]["updated"] == ["STP:LLTP-BN@2025-07-01"]
    rows = session.scalars(select(FeeType).where(FeeType.code == "LLTP-BN").order_by(FeeType.effective_from)).all()
    assert [(r.amount, r.effective_from, r.effective_to) for r in rows] == [
        (200000, date(2025, 7, 1), date(2026, 6, 30)), (150000, date(2026, 7, 1), None)]
    # The original file, run again, changes nothing: it states the first version, which still holds.
    assert import_province(session, example, ADMIN, today=TODAY).changed is False


def test_a_centre_list_is_the_whole_set_and_fields_left_out_stay(session, example):
    import_province(session, example, ADMIN, today=TODAY)
    changed = copy.deepcopy(example)
    changed["centres"][1]["units"] = ["UBND-KB"]
    del changed["units"][0]["phone"]
    report = import_province(session, changed, ADMIN, today=TODAY)
    assert report.items["centre_units"]["removed"] == ["PVHCC-KB/SNNMT"]
    assert report.items["units"]["updated"] == []
    stp = session.scalar(select(CollectingUnit).where(CollectingUnit.code == "STP"))
    assert stp.phone == "0222 3822 565"
