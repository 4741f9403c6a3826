"""Receipts per collecting unit: a payment with fees of two units yields two receipts, each the unit's own.

Scenario: the centre collects for the Department of Justice (STP) and for a ward People's Committee
(UBND-KB); each unit has its own certificate (its own CA), its own registered series and its own fees.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from datetime import date, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlalchemy import select

from core import audit, jobs
from core.accounts import ensure_demo_centre
from core.clock import local_day, utcnow
from core.devcert import make_ca, make_signing_cert
from core.errors import InvalidInput
from fees.models import FeeType
from fees.payments import ItemRequest, Payer, UnitNotReadyError, create_payment
from province.models import CentreUnit, CollectingUnit
from province.series import register_series
from province.units import set_signing_pkcs12
from receipts.issuance import (
    BLOCKED,
    ReceiptError,
    issue_receipt,
    read_pdf,
    receipt_id_for_payment,
    receipts_for_payment,
)
from receipts.models import Receipt
from receipts.verify import verify_pdf
from tests.receipts.factories import pay

UNITS = {
    "STP": ("Sở Tư pháp thành phố Hà Nội", "2300245389", "Số 1 Tôn Thất Thuyết, phường Cầu Giấy, thành phố Hà Nội",
            "LLTP-HN", "Phí cung cấp thông tin lý lịch tư pháp", "phi", 200_000),
    "UBND-KB": ("Ủy ban nhân dân phường Kinh Bắc", "0108888888", "Số 5 Lý Thái Tổ, phường Kinh Bắc, tỉnh Bắc Ninh",
                "KS-KB", "Lệ phí đăng ký khai sinh", "le_phi", 8_000),
}


@pytest.fixture(scope="module")
def unit_keys():
    """One PKCS#12 per unit, each under its own CA (key generation is slow: once per module)."""
    out = {}
    for code, (name, *_rest) in UNITS.items():
        ca_key, ca_cert = make_ca(f"CA thử nghiệm {code}")
        key, cert = make_signing_cert(ca_key, ca_cert, name, f"Khóa ký {code}")
        out[code] = pkcs12.serialize_key_and_certificates(b"k", key, cert, [ca_cert],
                                                          serialization.BestAvailableEncryption(b"pw"))
    return out


def make_unit(session, settings, code, keys, *, series=True, key=True):
    name, tax_code, address, fee_code, fee_name, kind, amount = UNITS[code]
    centre = ensure_demo_centre(session)
    unit = CollectingUnit(code=code, name=name, tax_code=tax_code, address=address, gateway={}, active=True)
    session.add(unit)
    session.flush()
    session.add(CentreUnit(centre_id=centre.id, unit_id=unit.id))
    session.add(FeeType(unit_id=unit.id, centre_id=centre.id, code=fee_code, name=fee_name, kind=kind, amount=amount,
                        effective_from=date(2020, 1, 1), active=True))
    if series:
        year = local_day().year
        register_series(session, unit, "EBL01", f"{year % 100:02d}T", year, registered_on=date(year, 1, 1))
    if key:
        set_signing_pkcs12(session, settings, unit, keys[code], b"pw")
    session.commit()
    return unit


def two_unit_payment(session):
    centre = ensure_demo_centre(session)
    p = create_payment(session, centre, dossier_code="000.00.01.H26-251201-0001",
                       payer=Payer("Nguyễn Văn Bình", address="Số 9 Trần Phú, phường Ba Đình, thành phố Hà Nội"),
                       items=[ItemRequest("LLTP-HN"), ItemRequest("KS-KB", 2)], actor=audit.SYSTEM,
                       channels=["vnpay", "counter"])
    session.commit()
    return p


def _run(*cmd) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout


def test_lines_carry_the_unit_of_their_fee(session, settings, unit_keys):
    stp = make_unit(session, settings, "STP", unit_keys)
    kb = make_unit(session, settings, "UBND-KB", unit_keys)
    p = two_unit_payment(session)
    assert [(i.fee_code, i.unit_id, i.amount) for i in p.items] == [("LLTP-HN", stp.id, 200_000),
                                                                    ("KS-KB", kb.id, 16_000)]
    assert p.amount == 216_000  # the citizen pays once, into the centre's collecting account


@pytest.mark.skipif(not all(shutil.which(x) for x in ("pdfsig", "pdftotext")), reason="poppler-utils")
def test_a_payment_for_two_units_yields_two_receipts_each_the_units_own(session, settings, unit_keys, tmp_path):
    units = {code: make_unit(session, settings, code, unit_keys) for code in UNITS}
    p = two_unit_payment(session)
    pay(session, p, channel="vnpay")
    session.commit()  # jobs run at once: every unit's receipt is issued

    receipts = receipts_for_payment(session, p.id)
    assert [r.unit.code for r in receipts] == ["STP", "UBND-KB"]
    assert receipt_id_for_payment(session, p.id) == receipts[0].id
    year = local_day().year
    for r in receipts:
        name, tax_code, _address, fee_code, _fee_name, _kind, _amount = UNITS[r.unit.code]
        assert r.status == "issued"
        assert (r.template, r.symbol, r.number_text) == ("EBL01", f"{year % 100:02d}T", "0000001")
        assert r.series_id is not None and r.unit_id == units[r.unit.code].id
        assert [line["fee_code"] for line in r.content["lines"]] == [fee_code]
        assert r.amount == {"STP": 200_000, "UBND-KB": 16_000}[r.unit.code]
        assert r.content["collected_at_centre"] == ensure_demo_centre(session).name
        path = tmp_path / f"{r.unit.code}.pdf"
        path.write_bytes(read_pdf(settings, r))
        text = _run("pdftotext", str(path), "-")
        assert name.upper() in text and f"Mã số thuế: {tax_code}" in text
        other = next(u for u in UNITS if u != r.unit.code)
        assert UNITS[other][1] not in text and UNITS[other][3] not in text
        sig = _run("pdfsig", str(path))
        assert "Signature is Valid." in sig
        assert f"Signer Certificate Common Name: Khóa ký {r.unit.code}" in sig
        assert f"Khóa ký {r.unit.code}" in r.signer_subject
        # Our own verification trusts each unit's CA.
        result = verify_pdf(session, settings, path.read_bytes())
        assert result.valid, result.reasons


def test_an_unregistered_series_issues_no_receipt_and_says_why_until_it_is_registered(session, settings, unit_keys):
    make_unit(session, settings, "STP", unit_keys)
    kb = make_unit(session, settings, "UBND-KB", unit_keys, series=False)
    p = two_unit_payment(session)
    pay(session, p)
    session.commit()

    assert [r.unit.code for r in receipts_for_payment(session, p.id)] == ["STP"]
    session.refresh(p)
    assert p.status == "paid"
    assert BLOCKED in p.flags
    assert "chưa có ký hiệu biên lai đã đăng ký" in p.extra[BLOCKED]["UBND-KB"]
    assert session.scalar(select(Receipt.id).where(Receipt.unit_id == kb.id)) is None

    year = local_day().year
    register_series(session, kb, "EBL01", f"{year % 100:02d}T", year, registered_on=date(year, 1, 1))
    session.commit()
    jobs.sweep()
    session.expire_all()
    assert [(r.unit.code, r.number_text, r.status) for r in receipts_for_payment(session, p.id)] == [
        ("STP", "0000001", "issued"), ("UBND-KB", "0000001", "issued")]
    p = session.get(type(p), p.id)
    assert BLOCKED not in p.flags and p.extra[BLOCKED] == {}


def test_an_expired_certificate_stops_the_units_receipts_with_the_reason(session, settings, unit_keys):
    stp = make_unit(session, settings, "STP", unit_keys)
    stp.cert_not_after = utcnow() - timedelta(days=1)
    session.commit()
    centre = ensure_demo_centre(session)
    p = create_payment(session, centre, dossier_code="HS-HETHAN", payer=Payer("Lê Văn Cường"),
                       items=[ItemRequest("LLTP-HN")], actor=audit.SYSTEM)
    session.commit()
    pay(session, p)
    session.commit()
    assert receipts_for_payment(session, p.id) == []
    with pytest.raises(ReceiptError, match=r"Chứng thư số của đơn vị STP .* đã hết hạn ngày"):
        issue_receipt(session, p.id)
    session.rollback()
    session.refresh(p)
    assert "đã hết hạn ngày" in p.extra[BLOCKED]["STP"]


def test_a_line_given_outright_names_its_unit_when_the_centre_serves_several(session, settings, unit_keys):
    stp = make_unit(session, settings, "STP", unit_keys)
    centre = ensure_demo_centre(session)
    line = dict(name="Phí COD hồ sơ", kind="phi", unit_amount=50_000)
    with pytest.raises(InvalidInput) as e:
        create_payment(session, centre, dossier_code="HS-1", payer=Payer("A"),
                       items=[ItemRequest("X", **line)], actor=audit.SYSTEM)
    assert "items.0.unit_code" in e.value.errors
    p = create_payment(session, centre, dossier_code="HS-1", payer=Payer("A"),
                       items=[ItemRequest("X", unit_code="STP", **line)], actor=audit.SYSTEM)
    assert p.items[0].unit_id == stp.id


def test_production_refuses_a_payment_for_a_unit_that_is_not_ready(session, settings, unit_keys, monkeypatch):
    make_unit(session, settings, "UBND-KB", unit_keys, series=False)
    monkeypatch.setattr(jobs, "settings", lambda: dataclasses.replace(settings, env="production"))
    with pytest.raises(UnitNotReadyError) as e:
        create_payment(session, ensure_demo_centre(session), dossier_code="HS-2", payer=Payer("A"),
                       items=[ItemRequest("KS-KB")], actor=audit.SYSTEM)
    assert e.value.unit_code == "UBND-KB"
    assert "UBND-KB" in str(e.value) and "ký hiệu biên lai" in str(e.value)
