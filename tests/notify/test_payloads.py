"""The ZNS and eSMS payloads, built and read as their published docs show them (no HTTP)."""

from __future__ import annotations

from messaging import templates
from messaging.sms import payloads as esms
from messaging.zalo import payloads as zns


def test_the_zns_body_carries_phone_in_84_form_and_string_parameters():
    body = zns.send_body("0912 345 678", 231677, {"amount": 50000, "link": "https://x/r/1"}, "hcc-msg-1")
    assert body == {"phone": "84912345678", "template_id": "231677",
                    "template_data": {"amount": "50000", "link": "https://x/r/1"}, "tracking_id": "hcc-msg-1"}
    assert zns.zalo_phone("+84 912 345 678") == "84912345678"


def test_zns_answers_are_sorted_into_what_we_do_next():
    ok = zns.parse_send({"error": 0, "message": "Success", "data": {"msg_id": "a1b2", "sent_time": "1"}})
    assert (ok.kind, ok.msg_id) == ("sent", "a1b2")
    assert zns.parse_send({"error": -124, "message": "Access token invalid"}).kind == "token"
    assert zns.parse_send({"error": -118, "message": "Zalo account not existed"}).falls_back
    assert zns.parse_send({"error": -141, "message": "User refused to receive ZNS"}).falls_back
    assert zns.parse_send({"error": -107, "message": "Template ID invalid"}).falls_back
    # A renumbered code is still read by its message.
    assert zns.parse_send({"error": -1999, "message": "Zalo account not existed"}).kind == "no_zalo"
    assert zns.parse_send({"error": -1999, "message": "Something new"}).kind == "retry"
    assert zns.parse_send("<html>").kind == "retry"


def test_the_refresh_answer_gives_a_new_refresh_token_or_nothing():
    pair = zns.parse_refresh({"access_token": "at", "refresh_token": "rt2", "expires_in": "90000"})
    assert (pair.access_token, pair.refresh_token, pair.expires_in) == ("at", "rt2", 90000)
    assert zns.parse_refresh({"error": -14014, "error_name": "Invalid refresh token"}) is None
    assert zns.refresh_form("app", "rt") == {"app_id": "app", "refresh_token": "rt", "grant_type": "refresh_token"}


def test_the_esms_body_is_a_customer_care_unicode_sms_with_a_request_id():
    body = esms.send_body(api_key="k", secret_key="s", brandname="HCC", phone="84912345678",
                          content="Biên lai điện tử", request_id="hcc-msg-3")
    assert body["SmsType"] == "2" and body["IsUnicode"] == "1" and body["Phone"] == "0912345678"
    assert body["RequestId"] == "hcc-msg-3" and body["Sandbox"] == "0" and "CallbackUrl" not in body


def test_esms_codes():
    assert esms.parse_send({"CodeResult": "100", "CountRegenerate": 0, "SMSID": "x"}).kind == "accepted"
    assert esms.parse_send({"CodeResult": "124", "ErrorMessage": "Request exist 1", "SendStatus": "5"}).kind == "duplicate"
    assert esms.parse_send({"CodeResult": "101", "ErrorMessage": "Authorize Failed"}).kind == "permanent"
    assert esms.parse_send({"error": "Invalid request"}).kind == "retry"
    assert esms.parse_status({"CodeResponse": "100", "SendStatus": 5}) == "sent"
    assert esms.parse_status({"CodeResponse": "101"}) is None


def test_a_centre_text_may_use_only_the_event_fields():
    assert templates.check("paid", "Đã thu phí hồ sơ {dossier}: {link}")
    for bad in ("{secret}", "{link.__class__}", "{link!r}", "{dossier", ""):
        try:
            templates.check("paid", bad)
        except templates.TemplateError:
            continue
        raise AssertionError(bad)
    assert templates.render("{carrier} ({tracking}) {dossier}", {"dossier": "A"}) == "A"
