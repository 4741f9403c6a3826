"""ZNS requests and answers as plain dicts (no HTTP): the send body, the token refresh form, error classes.

Sources (docs/notifications.md has the addresses): the ZNS send call and its fields as used by published
clients (@warriorteam/redai-zalo-sdk `zns.service.js`: POST https://business.openapi.zalo.me/message/template
with header `access_token`; body `phone`, `template_id`, `template_data`, `tracking_id`); the OA token refresh
(POST https://oauth.zaloapp.com/v4/oa/access_token, header `secret_key`, form `app_id`, `refresh_token`,
`grant_type=refresh_token`); the error codes below, each with where it was found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SEND_PATH = "/message/template"
REFRESH_PATH = "/v4/oa/access_token"

# What an answer's `error` means for us. kind: token (refresh, then try once more), no_zalo / refused /
# template (this citizen will not get it by Zalo: fall back to SMS), retry (later), permanent (our set-up).
ERRORS: dict[int, tuple[str, str]] = {
    -124: ("token", "Access token invalid"),                 # published clients refresh on it
    -220: ("token", "access_token is expired or removed"),   # a published Java client refreshes on it
    -118: ("no_zalo", "Zalo account not existed"),
    -108: ("no_zalo", "Phone number invalid"),               # ASSUMED code number, see ASSUMPTIONS
    -141: ("refused", "User refused to receive ZNS"),        # Zalo's ZBS docs on opting out of ZNS
    -114: ("refused", "User is inactive, or reject the message, or using an outdated Zalo version, "
                      "or other internal errors"),           # eSMS callback sample carrying Zalo's answer
    -107: ("template", "Template ID invalid"),
    -112: ("template", "Parameter invalid"),
    -113: ("template", "Template data invalid"),
    -106: ("template", "Template ID not exists"),             # ASSUMED, see ASSUMPTIONS
    -110: ("permanent", "Out of quota"),                      # ASSUMED, see ASSUMPTIONS
}

# ASSUMPTIONS (the one place for ZNS; docs/notifications.md repeats them with their sources):
# - The numbers -108, -106, -110 and -112/-113 come from third-party clients whose tables disagree (one
#   lists -108 as "Template data empty"); Zalo renumbered its table when ZNS became "ZBS Template Message".
#   Every answer is therefore also classified by its English `message` (MESSAGE_KINDS), which is stable.
# - tracking_id is Zalo's echo of our reference (webhooks and reports), not an idempotency key: Zalo does
#   not refuse a second send with the same tracking_id. A send whose outcome is unknown is never repeated
#   (core.notify marks it `unconfirmed`); ZNS has no look-up by tracking_id.
# - The refresh answer carries `access_token`, `refresh_token` (a new one each time) and `expires_in`
#   (seconds, sent as a string); any answer without `access_token` is a refusal.
MESSAGE_KINDS = [
    (re.compile(r"access.?token", re.I), "token"),
    (re.compile(r"zalo account not exist", re.I), "no_zalo"),
    (re.compile(r"phone number (is )?invalid|invalid phone", re.I), "no_zalo"),
    (re.compile(r"refuse|reject", re.I), "refused"),
    (re.compile(r"template", re.I), "template"),
]


@dataclass(frozen=True)
class ZnsAnswer:
    kind: str  # sent, token, no_zalo, refused, template, retry, permanent
    error: int
    message: str
    msg_id: str | None = None

    @property
    def falls_back(self) -> bool:
        """True when the citizen cannot get this message by Zalo, so SMS carries it instead."""
        return self.kind in ("no_zalo", "refused", "template")


def zalo_phone(phone: str) -> str:
    """84… form that ZNS expects ("0912 345 678", "+84912345678" → "84912345678")."""
    digits = re.sub(r"\D", "", phone or "")
    if digits.startswith("0"):
        digits = "84" + digits[1:]
    elif not digits.startswith("84") and len(digits) == 9:
        digits = "84" + digits
    return digits


def send_body(phone: str, template_id: str, data: dict[str, object], tracking_id: str) -> dict:
    """The JSON body of POST /message/template; ZNS template parameters are strings."""
    return {"phone": zalo_phone(phone), "template_id": str(template_id),
            "template_data": {k: "" if v is None else str(v) for k, v in data.items()},
            "tracking_id": tracking_id}


def refresh_form(app_id: str, refresh_token: str) -> dict[str, str]:
    return {"app_id": app_id, "refresh_token": refresh_token, "grant_type": "refresh_token"}


def parse_send(body: object) -> ZnsAnswer:
    if not isinstance(body, dict) or "error" not in body:
        return ZnsAnswer("retry", 0, "not a ZNS answer")
    try:
        error = int(body.get("error"))
    except (TypeError, ValueError):
        return ZnsAnswer("retry", 0, "not a ZNS answer")
    message = str(body.get("message") or "")
    if error == 0:
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        return ZnsAnswer("sent", 0, message or "Success", str(data.get("msg_id") or "") or None)
    kind = ERRORS.get(error, (None, ""))[0]
    if kind is None:
        kind = next((k for rx, k in MESSAGE_KINDS if rx.search(message)), None)
    if kind is None:
        # Unknown negative codes are Zalo-side or our set-up; retrying later is the safe reading.
        kind = "retry"
    return ZnsAnswer(kind, error, message)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def parse_refresh(body: object) -> TokenPair | None:
    if not isinstance(body, dict) or not body.get("access_token") or not body.get("refresh_token"):
        return None
    try:
        expires = int(body.get("expires_in") or 90000)
    except (TypeError, ValueError):
        expires = 90000
    return TokenPair(str(body["access_token"]), str(body["refresh_token"]), expires)
