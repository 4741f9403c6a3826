"""Zalo's side of ZNS (served under /sandbox/zalo): token refresh that rotates, template sends, faults.

Phones whose last digit is in HCC_SANDBOX_ZALO_NO_ZALO_DIGITS answer -118 "Zalo account not existed";
`_faults` can make the next sends fail (HTTP 503), refuse the template (-107) or expire the token (-124).
"""

from __future__ import annotations

import hmac
import secrets

from core.clock import utcnow
from core.settings import Settings
from messaging import sandbox_store
from messaging.sandbox_store import Reply
from messaging.zalo.payloads import REFRESH_PATH, SEND_PATH

PROVIDER = "zalo"
OAUTH_PREFIX = "/oauth"


def _err(error: int, message: str) -> Reply:
    return Reply(200, {"error": error, "message": message})


def _no_zalo_digits(settings: Settings) -> str:
    return settings.get("HCC_SANDBOX_ZALO_NO_ZALO_DIGITS") or "9"


def handle(settings: Settings, method: str, path: str, headers: dict, form: dict | None, json_body: dict | None
           ) -> Reply:
    # A WSGI server reads `secret_key` back as `Secret-Key`: compare header names with - and _ alike.
    headers = {k.lower().replace("-", "_"): v for k, v in headers.items()}
    with sandbox_store.state(settings, PROVIDER) as st:
        st.setdefault("refresh_token", settings.get("HCC_ZALO_REFRESH_TOKEN") or "sandbox-zalo-refresh")
        st.setdefault("messages", [])
        faults = st.setdefault("faults", {})
        if method == "POST" and path == OAUTH_PREFIX + REFRESH_PATH:
            form = form or {}
            secret = settings.get("HCC_ZALO_SECRET_KEY") or "sandbox-zalo-secret"
            if not hmac.compare_digest(headers.get("secret_key", ""), secret):
                return Reply(200, {"error": -14002, "error_name": "Invalid secret key",
                                   "error_description": "secret_key is invalid"})
            if form.get("grant_type") != "refresh_token" or form.get("app_id") != (
                    settings.get("HCC_ZALO_APP_ID") or "sandbox-app"):
                return Reply(200, {"error": -14003, "error_name": "Invalid parameter"})
            if not hmac.compare_digest(form.get("refresh_token", ""), st["refresh_token"]):
                return Reply(200, {"error": -14014, "error_name": "Invalid refresh token",
                                   "error_description": "refresh_token is invalid"})
            st["access_token"] = "sbx-at-" + secrets.token_hex(12)
            st["refresh_token"] = "sbx-rt-" + secrets.token_hex(12)  # rotates: the old one is spent
            st["refreshes"] = st.get("refreshes", 0) + 1
            return Reply(200, {"access_token": st["access_token"], "refresh_token": st["refresh_token"],
                               "expires_in": "90000"})
        if method == "POST" and path == SEND_PATH:
            if faults.get("down", 0) > 0:
                faults["down"] -= 1
                return Reply(503, {"error": -1, "message": "Service unavailable"})
            token = headers.get("access_token", "")
            if not st.get("access_token") or not hmac.compare_digest(token, st["access_token"]):
                return _err(-124, "Access token invalid")
            body = json_body or {}
            phone, template_id = str(body.get("phone") or ""), str(body.get("template_id") or "")
            if not phone.isdigit() or not phone.startswith("84") or len(phone) not in (11, 12):
                return _err(-108, "Phone number invalid")
            if not template_id or template_id in faults.get("refused_templates", []):
                return _err(-107, "Template ID invalid")
            if not isinstance(body.get("template_data"), dict) or not body["template_data"]:
                return _err(-113, "Template data invalid")
            if phone[-1] in _no_zalo_digits(settings):
                return _err(-118, "Zalo account not existed")
            msg_id = secrets.token_hex(10)
            st["messages"].append({"msg_id": msg_id, "phone": phone, "template_id": template_id,
                                   "template_data": body["template_data"],
                                   "tracking_id": str(body.get("tracking_id") or ""),
                                   "at": utcnow().isoformat()})
            return Reply(200, {"error": 0, "message": "Success", "data": {
                "msg_id": msg_id, "sent_time": str(int(utcnow().timestamp() * 1000)),
                "quota": {"dailyQuota": "500", "remainingQuota": str(500 - len(st["messages"]))}}})
        return Reply(404, {"error": -201, "message": "Method unsupported"})


def set_faults(settings: Settings, *, down: int | None = None, refuse_template: str | None = None,
               expire_token: bool = False) -> dict:
    with sandbox_store.state(settings, PROVIDER) as st:
        faults = st.setdefault("faults", {})
        if down is not None:
            faults["down"] = int(down)
        if refuse_template:
            faults.setdefault("refused_templates", []).append(str(refuse_template))
        if expire_token:
            st["access_token"] = None
        return dict(faults)


def received(settings: Settings) -> list[dict]:
    return sandbox_store.read(settings, PROVIDER).get("messages", [])
