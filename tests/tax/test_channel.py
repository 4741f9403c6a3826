"""The tax channel: each issued receipt reaches the tax authority (sandbox) once, its answers are kept and shown."""

from __future__ import annotations

import time

import pytest
import requests
from sqlalchemy import select

from tests.factories import bearer
from tests.tax.conftest import make_unit, pay_at_counter, receipt_ids, received


def test_a_counter_payment_yields_a_receipt_the_tax_authority_accepts(live_server, client, key, session, centre,
                                                                       app, tmp_path):
    import subprocess

    from lxml import etree

    from tax.envelope import parse
    from tax.sandbox import sandbox_for

    unit = make_unit(session, centre)
    payment = pay_at_counter(client, key, unit.code)
    [rid] = receipt_ids(session, payment["id"])
    body = client.get(f"/api/v1/receipts/{rid}", headers=bearer(key)).get_json()
    assert body["tax_status"] == "accepted", body
    kinds = [(m["direction"], m["mltdiep"]) for m in body["tax_messages"]]
    assert kinds == [("out", 211), ("in", 999), ("in", 212)]
    [taken] = received(live_server)
    assert taken["mst"] == unit.tax_code
    # The receipt's data as the tax authority got it: its unit's signature verifies with xmlsec1.
    data = parse(sandbox_for(app.extensions["hcc"].settings).message(taken["mtdiep"])).dlieu[0]
    path = tmp_path / "receipt.xml"
    path.write_bytes(etree.tostring(data, xml_declaration=True, encoding="UTF-8"))
    check = subprocess.run(["xmlsec1", "--verify", "--insecure", "--id-attr:Id", data[0].tag, str(path)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr


def test_a_payment_paid_through_the_vnpay_sandbox_yields_a_receipt_accepted_by_the_tax_authority(
        live_server, client, key, session, centre):
    from urllib.parse import urlsplit

    from tests.tax.conftest import BODY

    unit = make_unit(session, centre)
    created = client.post("/api/v1/payments", json={**BODY, "items": [{"fee_code": f"F-{unit.code}"}],
                                                    "channels": ["vnpay"]}, headers=bearer(key)).get_json()
    http = requests.Session()
    gateway_url = http.post(f"{live_server}/pay/{created['code']}/vnpay", allow_redirects=False,
                            timeout=10).headers["Location"]
    http.post(f"{live_server}/sandbox/vnpay/paymentv2/pay", data={"query": urlsplit(gateway_url).query,
                                                                  "action": "pay"}, timeout=30)
    assert client.get(f"/api/v1/payments/{created['id']}", headers=bearer(key)).get_json()["status"] == "paid"
    [rid] = receipt_ids(session, created["id"])
    body = client.get(f"/api/v1/receipts/{rid}", headers=bearer(key)).get_json()
    assert body["tax_status"] == "accepted" and body["tax_reasons"] == []
    taken = received(live_server)
    assert len(taken) == 1 and taken[0]["accepted"] is True
    assert taken[0]["reference"] == f"{body['template']} {body['symbol']} {body['number']}"


def test_a_receipt_of_a_tax_code_the_tax_authority_does_not_know_shows_rejected_with_the_reason(
        live_server, client, key, session, centre):
    unit = make_unit(session, centre)
    requests.post(f"{live_server}/sandbox/tax/_taxpayers", json={"unknown": [unit.tax_code]}, timeout=10)
    payment = pay_at_counter(client, key, unit.code)
    [rid] = receipt_ids(session, payment["id"])
    body = client.get(f"/api/v1/receipts/{rid}", headers=bearer(key)).get_json()
    assert body["tax_status"] == "rejected"
    assert any(r.startswith("30001") and unit.tax_code in r for r in body["tax_reasons"]), body["tax_reasons"]
    # Acknowledged first (the message itself was well-formed), then rejected by the tax authority's check.
    assert [(m["mltdiep"], m["status"]) for m in body["tax_messages"]][0] == (211, "rejected")


def test_a_worker_killed_after_sending_and_a_channel_failing_one_request_in_three_send_each_receipt_once(
        live_server, client, key, session, centre, monkeypatch):
    from core import jobs
    from tax import jobs as tax_jobs
    from tax.models import TaxMessage
    from tax.status import for_receipts

    unit = make_unit(session, centre)
    requests.post(f"{live_server}/sandbox/tax/_faults", json={"fail_every": 3}, timeout=10)
    real, killed = tax_jobs.record_answers, []

    def killed_before_storing_the_answer(message_id, answers):
        if not killed:  # the first message reached the tax authority; the worker dies before noting its answer
            killed.append(message_id)
            raise SystemExit("worker killed")
        return real(message_id, answers)

    monkeypatch.setattr(tax_jobs, "record_answers", killed_before_storing_the_answer)
    ids = []
    for _ in range(4):
        try:
            ids += receipt_ids(session, pay_at_counter(client, key, unit.code)["id"])
        except SystemExit:
            pytest.fail("the killed worker took the request down with it")
    for _ in range(15):  # the periodic sweep, run by hand: it re-drives whatever is unfinished
        session.expire_all()
        if all(s.status == "accepted" for s in for_receipts(session, ids).values()):
            break
        jobs.sweep()
    states = for_receipts(session, ids)
    assert killed and {s.status for s in states.values()} == {"accepted"}, states
    taken = received(live_server)
    # Once each at the tax authority, though some were delivered more than once (recognised by their MTDiep).
    assert len(taken) == len(ids) == len({t["reference"] for t in taken})
    assert any(t["deliveries"] > 1 for t in taken)
    session.expire_all()
    sent = session.scalars(select(TaxMessage).where(TaxMessage.direction == "out")).all()
    assert sorted(m.receipt_id for m in sent) == sorted(ids)


def test_mtdiep_is_the_sender_code_and_32_hex_digits_unique_and_a_receipt_has_one_data_message(session, centre,
                                                                                              app):
    from sqlalchemy.exc import IntegrityError

    from tax.envelope import is_mtdiep, new_mtdiep
    from tax.models import TaxMessage

    ids = {new_mtdiep("HCCTVAN") for _ in range(1000)}
    assert len(ids) == 1000 and all(is_mtdiep(i) and len(i) == 7 + 32 and i[7:].isupper() for i in ids)
    unit = make_unit(session, centre)
    row = dict(mltdiep=211, direction="out", kind="usage_report", status="queued", mst=unit.tax_code, unit_id=unit.id,
               body=b"<TDiep/>", attempts=0, reasons=[])
    session.add(TaxMessage(mtdiep="HCCTVAN" + "A" * 32, **row))
    session.commit()
    session.add(TaxMessage(mtdiep="HCCTVAN" + "A" * 32, **row))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_one_receipt_cannot_get_a_second_data_message(live_server, client, key, session, centre):
    from sqlalchemy.exc import IntegrityError

    from province.models import CollectingUnit
    from tax.jobs import submit
    from tax.models import TaxMessage

    unit = make_unit(session, centre)
    [rid] = receipt_ids(session, pay_at_counter(client, key, unit.code)["id"])
    unit = session.get(CollectingUnit, unit.id)
    from lxml import etree

    with pytest.raises(IntegrityError):
        submit(session, unit=unit, mltdiep=211, dlieu=etree.Element("BLai"), receipt_id=rid, kind="receipt")
    session.rollback()
    assert session.scalar(select(TaxMessage.id).where(TaxMessage.receipt_id == rid)) is not None


def test_the_sandbox_acknowledges_a_malformed_message_with_tttnhan_1_and_the_error(live_server, app):
    from tax import envelope

    auth = ("hcc-sandbox", "sandbox-tax")
    url = f"{live_server}/sandbox/tax/tiep-nhan-thong-diep"
    from lxml import etree

    to_someone_else = envelope.build(mngui="HCCTVAN", mltdiep=211, mst="2300245389", dlieu=etree.Element("BLai"),
                                     mnnhan="XYZ")
    answer = envelope.read_answer(envelope.parse(requests.post(url, data=to_someone_else, auth=auth, timeout=10).content))
    assert answer.mltdiep == 999 and not answer.accepted and answer.reasons[0].code == "10005"
    garbage = envelope.read_answer(envelope.parse(requests.post(url, data=b"<not xml", auth=auth, timeout=10).content))
    assert not garbage.accepted and garbage.reasons[0].code == "10001"
    assert requests.post(url, data=to_someone_else, auth=("hcc-sandbox", "wrong"), timeout=10).status_code == 401
    with pytest.raises(envelope.EnvelopeError) as too_big:
        envelope.build(mngui="HCCTVAN", mltdiep=211, mst="2300245389",
                       dlieu=etree.fromstring(b"<BLai>" + b"x" * (2 * 1024 * 1024) + b"</BLai>"))
    assert too_big.value.code == "10004"


def test_an_answer_slower_than_our_timeout_is_sent_again_with_the_same_mtdiep_and_taken_once(
        live_server, client, key, session, centre, settings):
    from core import jobs
    from tax.status import for_receipts

    unit = make_unit(session, centre)
    settings.extra["HCC_TAX_TIMEOUT"] = "0.5"
    requests.post(f"{live_server}/sandbox/tax/_faults", json={"slow": 1.5}, timeout=10)
    [rid] = receipt_ids(session, pay_at_counter(client, key, unit.code)["id"])
    assert for_receipts(session, [rid])[rid].status == "pending"  # we never heard back
    requests.post(f"{live_server}/sandbox/tax/_faults", json={"slow": 0}, timeout=10)
    for _ in range(100):  # the tax authority took it after all, once its slow answer was on its way
        if received(live_server):
            break
        time.sleep(0.1)
    for _ in range(5):
        jobs.sweep()
        session.expire_all()
        if for_receipts(session, [rid])[rid].status == "accepted":
            break
    state = for_receipts(session, [rid])[rid]
    assert state.status == "accepted"
    [taken] = received(live_server)
    assert taken["deliveries"] == 2 and taken["mtdiep"] == state.messages[0].mtdiep
