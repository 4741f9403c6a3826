"""eSMS's side (served under /sandbox/sms): SendMultipleMessage_V4_post_json with RequestId dedupe,
GetSendStatus, and a fault switch. What it accepted is kept for tests and the sandbox pages."""

from __future__ import annotations

import hmac
import secrets

from core.clock import utcnow
from core.settings import Settings
from messaging import sandbox_store
from messaging.sandbox_store import Reply
from messaging.sms.payloads import SEND_PATH, STATUS_PATH

PROVIDER = "esms"


def _credentials_ok(settings: Settings, api_key: str, secret_key: str) -> bool:
    return (hmac.compare_digest(str(api_key or ""), settings.get("HCC_ESMS_API_KEY") or "sandbox-esms-key")
            and hmac.compare_digest(str(secret_key or ""), settings.get("HCC_ESMS_SECRET_KEY") or "sandbox-esms-secret"))


def handle(settings: Settings, method: str, path: str, query: dict, json_body: dict | None) -> Reply:
    with sandbox_store.state(settings, PROVIDER) as st:
        st.setdefault("messages", [])
        faults = st.setdefault("faults", {})
        if method == "POST" and path == SEND_PATH:
            if faults.get("down", 0) > 0:
                faults["down"] -= 1
                return Reply(503, {"error": "Service unavailable"})
            body = json_body or {}
            if not _credentials_ok(settings, body.get("ApiKey"), body.get("SecretKey")):
                return Reply(200, {"CodeResult": "101", "CountRegenerate": 0, "ErrorMessage": "Authorize Failed"})
            if str(body.get("Brandname") or "") != (settings.get("HCC_ESMS_BRANDNAME") or "HCC"):
                return Reply(200, {"CodeResult": "104", "CountRegenerate": 0,
                                   "ErrorMessage": "Brand name code is not exist"})
            if str(body.get("SmsType")) != "2" or not body.get("Phone") or not body.get("Content"):
                return Reply(200, {"error": "Invalid request"})
            request_id = str(body.get("RequestId") or "")
            if request_id and any(m["request_id"] == request_id for m in st["messages"]):
                return Reply(200, {"CodeResult": "124", "CountRegenerate": 0, "ErrorMessage": "Request exist 1",
                                   "SendStatus": "5"})
            sms_id = secrets.token_hex(16)
            st["messages"].append({"sms_id": sms_id, "phone": str(body["Phone"]), "content": str(body["Content"]),
                                   "request_id": request_id, "unicode": str(body.get("IsUnicode")),
                                   "callback_url": body.get("CallbackUrl"), "at": utcnow().isoformat()})
            return Reply(200, {"CodeResult": "100", "CountRegenerate": 0, "SMSID": sms_id})
        if method == "GET" and path == STATUS_PATH:
            if not _credentials_ok(settings, query.get("ApiKey"), query.get("SecretKey")):
                return Reply(200, {"CodeResponse": "101", "SMSID": query.get("RefId")})
            found = next((m for m in st["messages"] if m["sms_id"] == query.get("RefId")), None)
            if found is None:
                return Reply(200, {"CodeResponse": "105", "SMSID": query.get("RefId")})
            return Reply(200, {"CodeResponse": "100", "SMSID": found["sms_id"], "SendFailed": 0, "SendStatus": 5,
                               "SendSuccess": 1, "TotalPrice": 850.0, "TotalReceiver": 1, "TotalSent": 1})
        return Reply(404, {"error": "Invalid request"})


def set_faults(settings: Settings, *, down: int | None = None) -> dict:
    with sandbox_store.state(settings, PROVIDER) as st:
        faults = st.setdefault("faults", {})
        if down is not None:
            faults["down"] = int(down)
        return dict(faults)


def received(settings: Settings) -> list[dict]:
    return sandbox_store.read(settings, PROVIDER).get("messages", [])
