"""BC26/BLĐT: per template and symbol, the receipts used in the period and their total, equal to the register.

The figures are computed here again from the receipt rows, independently of tax.bc26, and compared with
the signed XML (in its TDiep) and with the spreadsheet read back with openpyxl.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections import defaultdict
from datetime import timedelta

from lxml import etree
from openpyxl import load_workbook
from sqlalchemy import select, update

from api.cli import main
from core.clock import local_day
from receipts.issuance import adjust_receipt, cancel_receipt, replace_receipt
from receipts.models import Receipt
from tests.receipts.factories import paid_payment
from tests.tax.test_refunds import FINANCE


def _quarter(day) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def _expected(session, unit_id, start, end) -> dict:
    """Independently: every number taken in the period counts as used; the total is what valid receipts stand
    for (an adjusting receipt its signed difference; cancelled and replaced ones nothing)."""
    from core.clock import to_local

    out: dict = defaultdict(lambda: [0, 0])
    for r in session.scalars(select(Receipt).where(Receipt.unit_id == unit_id)):
        if not start <= to_local(r.created_at).date() <= end:
            continue
        row = out[(r.template, r.symbol)]
        row[0] += 1
        if r.status == "issued":
            row[1] += r.delta if r.correction == "adjust" else r.amount
    return {k: tuple(v) for k, v in out.items()}


def _register(session):
    """Nine receipts in this quarter (one cancelled, one replaced by a tenth, one adjusted by an eleventh) and one
    moved to the previous quarter, which the report must leave out."""
    payments = [paid_payment(session, channel="counter") for _ in range(10)]
    receipts = [session.scalars(select(Receipt).where(Receipt.payment_id == p.id)).one() for p in payments]
    cancel_receipt(session, receipts[1].id, reason="Lập trùng hồ sơ", actor=FINANCE)
    replace_receipt(session, receipts[2].id, reason="Sai tên người nộp", actor=FINANCE,
                    corrections={"name": "Nguyễn Thị Hồng Nhung (sửa)"})
    lines = [dict(x) for x in receipts[3].content["lines"]]
    lines[1]["unit_amount"] = 150_000
    adjust_receipt(session, receipts[3].id, reason="Sai mức phí thẩm định", lines=lines, actor=FINANCE)
    session.commit()
    earlier = local_day().replace(day=1) - timedelta(days=100)
    session.execute(update(Receipt).where(Receipt.id == receipts[9].id)
                    .values(created_at=receipts[9].created_at - (local_day() - earlier)))
    session.commit()
    return receipts


def test_bc26_of_a_quarter_equals_the_register_in_xml_and_xlsx(runner, session, tmp_path, signing_files):
    receipts = _register(session)
    unit = receipts[0].unit
    today = local_day()
    q = (today.month - 1) // 3
    start = today.replace(month=3 * q + 1, day=1)
    end = (start.replace(month=start.month + 2, day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    expected = _expected(session, unit.id, start, end)
    assert sum(v[0] for v in expected.values()) == 11  # 9 this quarter + the replacement + the adjustment
    assert sum(v[1] for v in expected.values()) == 8 * 200_000 - 34_000

    res = runner.invoke(main, ["tax", "report", "bc26", "--unit", unit.code, "--period", _quarter(today),
                               "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    envelope = etree.fromstring((tmp_path / "bc26.xml").read_bytes())
    assert envelope.tag == "TDiep" and envelope.findtext("TTChung/MST") == unit.tax_code
    report = envelope.find("DLieu/BCTHSDBLai")
    data = report.find("DLBCTHSDBLai")
    assert data.findtext("TTChung/MSo") == "BC26/BLĐT" and data.findtext("TTChung/KBCao") == f"{q + 1}/{today.year}"
    assert (data.findtext("TTChung/TNgay"), data.findtext("TTChung/DNgay")) == (start.isoformat(), end.isoformat())
    rows = {(d.findtext("KHMCTu"), d.findtext("KHCTu")): (int(d.findtext("SLuong")), int(d.findtext("TgTien")))
            for d in data.iterfind("NDBCTHSDBLai/DLieu")}
    assert rows == expected
    assert {d.findtext("TLoai") for d in data.iterfind("NDBCTHSDBLai/DLieu")} == {"1"}
    # Signed by the unit over DLBCTHSDBLai.
    from core import xmldsig
    from tests.tax.test_corrections import _unit_cert

    assert xmldsig.verify(etree.tostring(report), _unit_cert(report)).tag == "DLBCTHSDBLai"
    if shutil.which("xmlsec1"):  # and independently, against the CA that issued the unit's certificate
        (tmp_path / "report.xml").write_bytes(etree.tostring(report))
        (tmp_path / "ca.pem").write_bytes(signing_files.ca_cert.read_bytes())
        out = subprocess.run(["xmlsec1", "--verify", "--trusted-pem", str(tmp_path / "ca.pem"), "--id-attr:Id",
                              "DLBCTHSDBLai", str(tmp_path / "report.xml")], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr

    ws = load_workbook(io.BytesIO((tmp_path / "bc26.xlsx").read_bytes())).active
    values = list(ws.iter_rows(values_only=True))
    header = values.index(next(v for v in values if v and v[0] == "STT"))
    body = [v for v in values[header + 1:] if isinstance(v[0], int)]
    assert {(v[2], v[3]): (v[4], v[5]) for v in body} == expected
    total = next(v for v in values if v and v[1] == "Tổng cộng")
    assert (total[4], total[5]) == (sum(v[0] for v in expected.values()), sum(v[1] for v in expected.values()))
    assert sum(v[8] for v in body) == 1 and sum(v[9] for v in body) == 1 and sum(v[10] for v in body) == 1


def test_a_monthly_unit_reports_by_month_and_a_quarter_is_refused(app, runner, session, tmp_path):
    receipts = _register(session)
    unit = receipts[0].unit
    settings = app.extensions["hcc"].settings
    settings.extra["HCC_BC26_MONTHLY_UNITS"] = unit.code
    today = local_day()
    refused = runner.invoke(main, ["tax", "report", "bc26", "--unit", unit.code, "--period", _quarter(today),
                                   "--out", str(tmp_path / "q")])
    assert refused.exit_code == 2 and "theo tháng" in refused.output
    res = runner.invoke(main, ["tax", "report", "bc26", "--unit", unit.code, "--period", f"{today:%Y-%m}",
                               "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    data = etree.fromstring((tmp_path / "bc26.xml").read_bytes()).find("DLieu/BCTHSDBLai/DLBCTHSDBLai")
    assert data.findtext("TTChung/LKBCao") == "T" and data.findtext("TTChung/KBCao") == f"{today.month}/{today.year}"
    start = today.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    rows = {(d.findtext("KHMCTu"), d.findtext("KHCTu")): (int(d.findtext("SLuong")), int(d.findtext("TgTien")))
            for d in data.iterfind("NDBCTHSDBLai/DLieu")}
    assert rows == _expected(session, unit.id, start, end)


def test_submit_sends_the_report_to_the_tax_authority(live_server, runner, session, tmp_path):
    from tax import codes
    from tests.tax.conftest import received

    receipts = _register(session)
    unit = receipts[0].unit
    res = runner.invoke(main, ["tax", "report", "bc26", "--unit", unit.code, "--period", _quarter(local_day()),
                               "--out", str(tmp_path), "--submit"])
    assert res.exit_code == 0, res.output
    taken = received(live_server, codes.USAGE_REPORT)
    assert [(m["mst"], m["accepted"]) for m in taken] == [(unit.tax_code, True)]
    # The file is the very message sent.
    assert etree.fromstring((tmp_path / "bc26.xml").read_bytes()).findtext("TTChung/MTDiep") == taken[0]["mtdiep"]
