"""Registration of e-receipt use (01/ĐKTĐ-CTĐT): signed by the unit, sent as a TDiep; a series is registered only
when the tax authority accepts."""

from __future__ import annotations

import subprocess

import requests
from sqlalchemy import select

from tests.tax.conftest import make_unit, received


def _series(session, unit):
    from province.models import ReceiptSeries

    session.expire_all()
    return session.scalar(select(ReceiptSeries).where(ReceiptSeries.unit_id == unit.id))


def test_hcc_tax_register_sends_the_signed_form_and_the_accepted_series_becomes_registered(
        live_server, runner, session, centre, tmp_path):
    from core.clock import local_day
    from tax.sandbox import TaxSandbox

    unit = make_unit(session, centre, registered=False)
    assert _series(session, unit).state == "draft"
    result = runner.invoke(args=["tax", "register", "--unit", unit.code])
    assert result.exit_code == 0, result.output
    series = _series(session, unit)
    assert series.state == "registered" and series.registered_on == local_day()
    [taken] = received(live_server, 109)
    assert taken["mst"] == unit.tax_code and taken["accepted"] is True
    # The form as the tax authority got it: the unit's signature verifies with xmlsec1, and the centre that issues
    # receipts on the unit's behalf is named in the authorisation section.
    sandbox = TaxSandbox(runner.app.extensions["hcc"].settings.instance_dir / "sandbox" / "tax.sqlite3")
    from lxml import etree

    from tax.envelope import parse

    form = parse(sandbox.message(taken["mtdiep"])).dlieu[0]
    assert form.findtext("DLTKhai/TTChung/MSo") == "01/ĐKTĐ-CTĐT"
    assert form.findtext("DLTKhai/NDTKhai/LHSDung/BLaiDTu") == "1"
    assert form.findtext("DLTKhai/NDTKhai/DSUNhiem/UNhiem/MST") == centre.tax_code
    assert form.findtext("DLTKhai/NDTKhai/DSCKS/CKS/SSCKS")
    path = tmp_path / "form.xml"
    path.write_bytes(etree.tostring(form, xml_declaration=True, encoding="UTF-8"))
    check = subprocess.run(["xmlsec1", "--verify", "--insecure", "--id-attr:Id", "DLTKhai", str(path)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr


def test_a_registration_the_tax_authority_rejects_sends_the_series_back_to_draft_with_the_reason(
        live_server, runner, session, centre):
    from tax.registration import registration_state

    unit = make_unit(session, centre, registered=False)
    requests.post(f"{live_server}/sandbox/tax/_taxpayers", json={"unknown": [unit.tax_code]}, timeout=10)
    result = runner.invoke(args=["tax", "register", "--unit", unit.code])
    assert result.exit_code == 0, result.output
    assert _series(session, unit).state == "draft"
    state = registration_state(session, unit.id)
    assert state["status"] == "rejected" and state["reasons"][0].startswith("30001")


def test_a_series_waits_submitted_while_the_channel_is_down_and_issues_nothing(live_server, runner, session, centre):
    from province.series import NoSeriesError, series_for_issue

    unit = make_unit(session, centre, registered=False)
    requests.post(f"{live_server}/sandbox/tax/_faults", json={"fail_every": 1}, timeout=10)
    assert runner.invoke(args=["tax", "register", "--unit", unit.code]).exit_code == 0
    assert _series(session, unit).state == "submitted"
    try:
        series_for_issue(session, unit.id)
        raise AssertionError("a submitted series must not number receipts")
    except NoSeriesError:
        session.rollback()
    requests.post(f"{live_server}/sandbox/tax/_faults", json={"fail_every": 0}, timeout=10)
    sent = runner.invoke(args=["tax", "send"])  # what the minute's sweep does, asked for now
    assert sent.exit_code == 0 and "1 message(s)" in sent.output, sent.output
    assert _series(session, unit).state == "registered"
    assert len(received(live_server, 109)) == 1
