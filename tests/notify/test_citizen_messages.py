"""A citizen hears of each event once: by Zalo, or by one SMS when the phone has no Zalo; never both, never
twice, also when the worker dies mid-send; nothing at night; nothing after opting out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from core import notify
from core.models import OutboundMessage
from messaging.models import CitizenDelivery, ZaloToken
from messaging.sms import sandbox as esms_sandbox
from messaging.zalo import sandbox as zalo_sandbox
from tests.notify.conftest import KilledWorker
from tests.receipts.factories import paid_payment

ZALO_PHONE = "0912345678"
NO_ZALO_PHONE = "0912345679"  # the sandbox's phones ending in 9 have no Zalo


def _receipt_text(session, centre, phone, entity_id=1):
    """What receipts queue when a payment is paid (receipts/jobs.py queue_delivery)."""
    return notify.queue_message(session, channel="sms", recipient=phone, centre_id=centre.id,
                                body="Bien lai so 0000001 ky hieu 1-26-HCC: 50.000 dong. Tra cuu: http://localhost/r/ABC123",
                                entity_type="receipt", entity_id=entity_id, purpose="receipt-issued")


def test_a_paid_payment_sends_exactly_one_zalo_message(session, by_zalo):
    p = paid_payment(session, payer_phone=ZALO_PHONE, payer_email=None)
    # Two events, one Zalo message each: the request with its pay link, then the receipt.
    zalo = zalo_sandbox.received(by_zalo)
    assert len(zalo) == 2 and {z["phone"] for z in zalo} == {"84912345678"}
    assert zalo[0]["template_data"]["link"] == f"http://localhost/pay/{p.code}"
    assert zalo[1]["template_data"]["link"].startswith("http://localhost/r/")
    assert esms_sandbox.received(by_zalo) == []
    msg = session.scalars(select(OutboundMessage).where(OutboundMessage.recipient == ZALO_PHONE,
                                                        OutboundMessage.purpose == "receipt-issued")).one()
    assert (msg.status, msg.channel) == ("sent", "zalo")


def test_a_phone_without_zalo_gets_exactly_one_sms_instead(session, by_zalo):
    paid_payment(session, payer_phone=NO_ZALO_PHONE, payer_email=None)
    assert zalo_sandbox.received(by_zalo) == []
    sms = esms_sandbox.received(by_zalo)
    # The request and the receipt: one SMS each, never a Zalo message as well.
    assert len(sms) == 2 and {s["phone"] for s in sms} == {NO_ZALO_PHONE}
    assert "/pay/" in sms[0]["content"] and "Tra cuu: http://localhost/" in sms[1]["content"]
    deliveries = session.scalars(select(CitizenDelivery)).all()
    assert [(d.zalo_state, d.zalo_error, d.channel) for d in deliveries] == [("refused", -118, "sms")] * 2


def test_the_same_event_queued_again_or_on_the_other_channel_is_one_message(session, by_zalo, centre):
    _receipt_text(session, centre, ZALO_PHONE)
    session.commit()
    _receipt_text(session, centre, ZALO_PHONE)
    notify.queue_message(session, channel="zalo", recipient=ZALO_PHONE, centre_id=centre.id, body="x",
                         entity_type="receipt", entity_id=1, purpose="receipt-issued")
    session.commit()
    notify.send_message(session.scalars(select(OutboundMessage)).first().id)
    assert len(zalo_sandbox.received(by_zalo)) == 1
    assert esms_sandbox.received(by_zalo) == []
    assert session.query(OutboundMessage).count() == 1


def test_a_worker_killed_after_zalo_took_the_message_sends_nothing_more(session, by_zalo, transport, centre):
    transport.kill_after = "zalo"
    msg = _receipt_text(session, centre, ZALO_PHONE)
    with pytest.raises(KilledWorker):
        session.commit()  # jobs immediate: the send runs after commit, reaches Zalo, and the worker dies
    session.close()
    assert len(zalo_sandbox.received(by_zalo)) == 1
    notify.send_message(msg.id)  # the retry (or the sweep) runs it again
    notify.send_message(msg.id)
    assert len(zalo_sandbox.received(by_zalo)) == 1
    assert esms_sandbox.received(by_zalo) == []
    session.expire_all()
    assert session.get(OutboundMessage, msg.id).status == "sent"
    assert session.scalars(select(CitizenDelivery)).one().zalo_state == "unconfirmed"


def test_a_worker_killed_after_esms_took_the_sms_does_not_send_it_twice(session, by_zalo, transport, centre):
    transport.kill_after = "sms"
    msg = _receipt_text(session, centre, NO_ZALO_PHONE)
    with pytest.raises(KilledWorker):
        session.commit()
    session.close()
    assert len(esms_sandbox.received(by_zalo)) == 1
    notify.send_message(msg.id)  # same RequestId: eSMS answers 124, the first SMS stands
    assert len(esms_sandbox.received(by_zalo)) == 1
    assert zalo_sandbox.received(by_zalo) == []
    session.expire_all()
    m = session.get(OutboundMessage, msg.id)
    assert (m.status, m.channel) == ("sent", "sms")
    assert session.scalars(select(CitizenDelivery)).one().sms_code == "124"


def test_at_night_the_message_waits_for_the_morning(session, by_zalo, centre, monkeypatch):
    by_zalo.extra["HCC_QUIET_HOURS"] = "21:00-07:00"
    night = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)  # 22:30 in Hà Nội
    monkeypatch.setattr(notify, "utcnow", lambda: night)
    msg = _receipt_text(session, centre, ZALO_PHONE)
    session.commit()
    assert zalo_sandbox.received(by_zalo) == [] and esms_sandbox.received(by_zalo) == []
    session.expire_all()
    m = session.get(OutboundMessage, msg.id)
    assert m.status == "pending"
    assert notify.to_local(m.next_attempt_at).strftime("%d/%m %H:%M") == "03/12 07:00"
    morning = datetime(2026, 12, 3, 0, 1, tzinfo=UTC)  # 07:01
    monkeypatch.setattr(notify, "utcnow", lambda: morning)
    assert notify.redrive_messages(session) == 1
    session.commit()
    assert len(zalo_sandbox.received(by_zalo)) == 1


def test_an_opted_out_phone_gets_nothing(session, by_zalo, centre, client):
    link = notify.optout_link(by_zalo, NO_ZALO_PHONE)
    assert client.get(link.replace("http://localhost", "")).status_code == 200  # a link preview opts nobody out
    assert client.post(link.replace("http://localhost", "")).status_code == 200
    msg = _receipt_text(session, centre, NO_ZALO_PHONE)
    session.commit()
    assert zalo_sandbox.received(by_zalo) == [] and esms_sandbox.received(by_zalo) == []
    session.expire_all()
    assert session.get(OutboundMessage, msg.id).status == "skipped"


def test_a_forged_opt_out_link_is_refused(client):
    assert client.post("/tin-nhan/tu-choi/84912345678/" + "0" * 24).status_code == 404


def test_an_invalid_access_token_is_refreshed_and_the_refresh_token_rotates(session, by_zalo, centre):
    _receipt_text(session, centre, ZALO_PHONE, entity_id=1)
    session.commit()
    first = session.scalars(select(ZaloToken)).one().refresh_token
    zalo_sandbox.set_faults(by_zalo, expire_token=True)  # Zalo now answers -124 to the token we hold
    _receipt_text(session, centre, ZALO_PHONE, entity_id=2)
    session.commit()
    assert len(zalo_sandbox.received(by_zalo)) == 2
    session.expire_all()
    second = session.scalars(select(ZaloToken)).one().refresh_token
    assert second != first and first != "sandbox-zalo-refresh"


def test_a_refused_template_falls_back_to_sms(session, by_zalo, centre):
    zalo_sandbox.set_faults(by_zalo, refuse_template="sbx-paid")
    _receipt_text(session, centre, ZALO_PHONE)
    session.commit()
    assert zalo_sandbox.received(by_zalo) == []
    assert len(esms_sandbox.received(by_zalo)) == 1


def test_zalo_down_is_retried_later_not_sent_by_sms(session, by_zalo, centre):
    zalo_sandbox.set_faults(by_zalo, down=1)
    msg = _receipt_text(session, centre, ZALO_PHONE)
    session.commit()
    assert esms_sandbox.received(by_zalo) == []
    session.expire_all()
    assert session.get(OutboundMessage, msg.id).status == "pending"
    notify.send_message(msg.id)
    assert len(zalo_sandbox.received(by_zalo)) == 1


def test_a_centre_text_in_vietnamese_is_what_the_sms_says(session, by_zalo, centre):
    from messaging.models import MessageTemplate

    session.add(MessageTemplate(centre_id=centre.id, event="payment_requested",
                                body="Hồ sơ {dossier}: mời ông/bà nộp {amount} đồng tại {link}"))
    session.commit()
    notify.notify_citizen(session, event="payment_requested", phone=NO_ZALO_PHONE, centre_id=centre.id,
                          entity_type="payment", entity_id=7,
                          params={"dossier": "000.00.01.H26-1", "amount": "50.000", "link": "http://localhost/p/7"})
    session.commit()
    (sms,) = esms_sandbox.received(by_zalo)
    assert sms["content"].startswith("Hồ sơ 000.00.01.H26-1: mời ông/bà nộp 50.000 đồng tại http://localhost/p/7")
    assert "Từ chối nhận tin: http://localhost/tin-nhan/tu-choi/84912345679/" in sms["content"]
    assert sms["unicode"] == "1"


def test_a_centre_text_replaces_the_callers_text_and_the_sms_ends_with_the_opt_out_link(session, by_zalo, centre):
    from messaging.models import MessageTemplate

    session.add(MessageTemplate(centre_id=centre.id, event="paid", body="{centre}: đã thu phí. Biên lai: {link}"))
    session.commit()
    _receipt_text(session, centre, NO_ZALO_PHONE)
    session.commit()
    (sms,) = esms_sandbox.received(by_zalo)
    assert sms["content"].startswith(f"{centre.name}: đã thu phí. Biên lai: http://localhost/r/ABC123 Từ chối nhận tin: ")


def test_the_esms_status_query_records_the_delivery(session, by_zalo, centre):
    _receipt_text(session, centre, NO_ZALO_PHONE)
    session.commit()
    assert notify.refresh_delivery_status(session) == 1
    session.commit()
    assert session.scalars(select(CitizenDelivery)).one().delivery_status == "sent"


def test_the_sandboxes_answer_over_http_in_their_protocols(client, settings):
    wrong = client.post("/sandbox/sms/MainService.svc/json/SendMultipleMessage_V4_post_json/",
                        json={"ApiKey": "nope", "SecretKey": "x"})
    assert wrong.get_json()["CodeResult"] == "101"
    refused = client.post("/sandbox/zalo/message/template", headers={"access_token": "stale"},
                          json={"phone": "84912345678", "template_id": "1", "template_data": {"a": "b"}})
    assert refused.get_json() == {"error": -124, "message": "Access token invalid"}
    token = client.post("/sandbox/zalo/oauth/v4/oa/access_token", headers={"secret_key": "sandbox-zalo-secret"},
                        data={"app_id": "sandbox-app", "refresh_token": "sandbox-zalo-refresh",
                              "grant_type": "refresh_token"}).get_json()
    assert token["access_token"] and token["refresh_token"] != "sandbox-zalo-refresh"
    again = client.post("/sandbox/zalo/oauth/v4/oa/access_token", headers={"secret_key": "sandbox-zalo-secret"},
                        data={"app_id": "sandbox-app", "refresh_token": "sandbox-zalo-refresh",
                              "grant_type": "refresh_token"}).get_json()
    assert again["error"] == -14014  # a spent refresh token does not work twice


def test_a_result_sent_by_post_goes_as_the_result_sent_zalo_template_with_its_tracking(session, by_zalo, centre):
    notify.queue_message(session, channel="sms", recipient=ZALO_PHONE, centre_id=centre.id,
                         body="Kết quả hồ sơ 000.00.01.H26-7 đã được gửi qua bưu chính (VNPost, mã vận đơn EE123VN). "
                              "Theo dõi: http://localhost/t/ABC",
                         entity_type="shipment", entity_id=3, purpose="shipment-picked_up-1")
    session.commit()
    (zns,) = zalo_sandbox.received(by_zalo)
    assert zns["template_id"] == "sbx-result_sent"
    assert zns["template_data"] == {"link": "http://localhost/t/ABC", "dossier": "000.00.01.H26-7",
                                    "new_date": "", "tracking": "EE123VN"}
