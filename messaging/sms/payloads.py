"""eSMS.vn requests and answers as plain dicts: the customer-care send (SmsType 2), status, callback.

Source: eSMS's published developer docs, repository devesms/gitbook_esms_for_develop_v2_en:
`esms-api/send-sms-api/send-otp-customer-care-message.md` (POST
https://rest.esms.vn/MainService.svc/json/SendMultipleMessage_V4_post_json/ with ApiKey, SecretKey, Phone,
Content, Brandname, SmsType "2", IsUnicode, Sandbox, RequestId, CallbackUrl; answer CodeResult, SMSID,
ErrorMessage), `esms-api/table-of-error-codes.md` (devesms/gitbook_esms_for_develop `esms-api/bang-ma-loi.md`),
`esms-api/retrive-and-register-functions/get-sms-by-smsid.md` (GET …/GetSendStatus?RefId=&ApiKey=&SecretKey=)
and `esms-api/callback-url.md` (HTTP GET to our CallbackUrl with SMSID, SendStatus, RequestId, …).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SEND_PATH = "/MainService.svc/json/SendMultipleMessage_V4_post_json/"
STATUS_PATH = "/MainService.svc/json/GetSendStatus"
SMS_TYPE_CUSTOMER_CARE = "2"

# CodeResult → kind: accepted, duplicate (this RequestId was already accepted: the message went), retry,
# permanent.
CODES: dict[str, tuple[str, str]] = {
    "100": ("accepted", "Request được gửi thành công"),
    "101": ("permanent", "Sai thông tin ApiKey hoặc SecretKey"),
    "102": ("permanent", "Không có bảng giá"),
    "103": ("retry", "Không đủ số dư để gửi tin"),
    "104": ("permanent", "Brandname không tồn tại"),
    "124": ("duplicate", "Trùng RequestId khi gửi tin"),
    "146": ("permanent", "Sai template chăm sóc khách hàng"),
    "177": ("permanent", "Nhà mạng chưa được đăng ký"),
    "99": ("retry", "Lỗi kết nối"),
}
# SendStatus of GetSendStatus and of the callback.
SEND_STATUS = {"1": "pending_approval", "2": "waiting", "4": "rejected", "5": "sent", "7": "sent_to_telco"}

# ASSUMPTIONS (the one place for eSMS; docs/notifications.md repeats them):
# - CodeResult 124 answers a RequestId eSMS already accepted, so the earlier send stands and nothing is
#   sent twice (the docs: "Trùng RequestId"; sample answer "Request exist 1"). We treat it as sent.
# - 103 (balance) is retried later rather than failed: a centre tops up its account.
# - Phones are sent in 0… national form, as in the docs' samples ("0901888484").


@dataclass(frozen=True)
class SmsAnswer:
    kind: str  # accepted, duplicate, retry, permanent
    code: str
    message: str
    sms_id: str | None = None


def national_phone(phone: str) -> str:
    digits = re.sub(r"\D", "", phone or "")
    if digits.startswith("84") and len(digits) >= 11:
        digits = "0" + digits[2:]
    return digits


def send_body(*, api_key: str, secret_key: str, brandname: str, phone: str, content: str, request_id: str,
              callback_url: str | None = None, sandbox: bool = False) -> dict[str, object]:
    body: dict[str, object] = {
        "ApiKey": api_key, "SecretKey": secret_key, "Phone": national_phone(phone), "Content": content,
        "Brandname": brandname, "SmsType": SMS_TYPE_CUSTOMER_CARE, "IsUnicode": "1", "Sandbox": "1" if sandbox else "0",
        "RequestId": request_id,
    }
    if callback_url:
        body["CallbackUrl"] = callback_url
    return body


def parse_send(body: object) -> SmsAnswer:
    if not isinstance(body, dict) or "CodeResult" not in body:
        return SmsAnswer("retry", "", "not an eSMS answer")
    code = str(body.get("CodeResult"))
    kind, text = CODES.get(code, ("permanent", "mã lỗi khác"))
    return SmsAnswer(kind, code, str(body.get("ErrorMessage") or text), str(body.get("SMSID") or "") or None)


def parse_status(body: object) -> str | None:
    """SendStatus of a GetSendStatus answer or a callback's query, as one of SEND_STATUS's names."""
    if not isinstance(body, dict):
        return None
    if "CodeResponse" in body and str(body.get("CodeResponse")) != "100":
        return None
    return SEND_STATUS.get(str(body.get("SendStatus")))
