"""ZaloPay merchant API v2 on the wire: MACs, the requests we send, and the answers and callbacks we read.

Pure functions on plain dicts and strings (no HTTP): `client.ZalopayGateway` sends what these build, the
sandbox answers with them. Every MAC is HMAC-SHA256, hex, over fields joined by "|": key1 signs what the
merchant sends (create, query, refund, query_refund), key2 signs what ZaloPay sends (callback, redirect).
ZaloPay takes whole đồng (amount is an integer VND), so no conversion happens here.

Sources (fees/gateways/zalopay/README.md lists them with what each confirmed):
ZaloPay's OpenAPI spec in its SDK zalopay-oss/zalopay-nodejs (specs/zlp.yaml: /v2/create, /v2/query,
/v2/refund, /v2/query_refund, their fields, MAC inputs and return codes), the SDK's OrderProvider.ts,
ZaloPay's samples zalopay-samples/quickstart-payment-gateway (create, embed_data.redirecturl, the callback
handler and its answers), docs.zalopay.vn/docs/specs/callback-api (the callback body and a signed
example, the known vector of tests/fees/test_zalopay.py), docs.zalopay.vn/docs/webtoapp/api.html (the
redirect and its checksum) and docs.zalopay.vn/general/overview.html (app_trans_id starts with today's
yymmdd in GMT+7).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import datetime

from core.clock import VN_TZ

CREATE_PATH, QUERY_PATH = "/v2/create", "/v2/query"
REFUND_PATH, QUERY_REFUND_PATH = "/v2/refund", "/v2/query_refund"
SANDBOX_BASE = "https://sb-openapi.zalopay.vn"      # ZaloPay's own sandbox (not ours: ours is /sandbox/zalopay)
PRODUCTION_BASE = "https://openapi.zalopay.vn"

# return_code of create, query, refund and query_refund (specs/zlp.yaml).
SUCCESS, FAIL, PROCESSING = 1, 2, 3
# Errors of the request itself (not an answer about the order): retry later for the first two.
SYSTEM_ERROR, LIMIT_REACHED = -500, -429
ILLEGAL_SIGNATURE, ILLEGAL_APP, ILLEGAL_DATA = -403, -402, -401
# sub_return_code of create (specs/zlp.yaml): -68 the app_trans_id is taken; -33 app maintenance; -500 system.
ORDER_EXISTS, APP_MAINTENANCE = -68, -33
CREATE_RETRY_SUBCODES = {APP_MAINTENANCE, SYSTEM_ERROR}

# Our answer to a callback (the return_code ZaloPay reads): 1 received; 2 this zp_trans_id was already
# handled; 0 ZaloPay calls back again (at most 3 times, per its quickstart's callback handler); -1 refused
# (the quickstart's answer to a MAC that does not match). Any other value: not called back again.
CALLBACK_OK, CALLBACK_ALREADY, CALLBACK_RETRY, CALLBACK_REFUSED = 1, 2, 0, -1
CALLBACK_TYPE_ORDER = 1   # "type" of the callback body: 1 an order, 2 an agreement (tokenization)

# The redirect's status (query parameter "status"): 1 paid; anything else not paid.
REDIRECT_PAID = 1

# --- ASSUMED (the one place for ZaloPay in code; fees/gateways/zalopay/README.md says the same) ---------
# 1. Callback answer 2 means "already handled (duplicate zp_trans_id)": recalled from docs.zalopay.vn's
#    callback page, whose answer table we could not read in full; ZaloPay's samples confirm only 1, 0 (call
#    back again, at most 3 times) and -1 (mac not equal). Either reading is safe: any answer but 0 stops
#    ZaloPay calling back, and a repeat changes nothing here whatever we answer.
# 2. What the redirect's status is for a payment not made: the docs say only "status: error code"; the
#    sandbox sends REDIRECT_CANCELLED (-49). We never decide anything on the redirect (the callback and the
#    query do). Its fields and checksum are confirmed (docs.zalopay.vn/docs/webtoapp/api.html).
# 3. /v2/refund's return_code follows the table of /v2/query_refund (1 refunded, 2 refused, 3 processing:
#    confirm with query_refund); the spec lists the codes only for query_refund.
# 4. m_refund_id is "yymmdd_appid_<ours>" (spec) with yymmdd the Vietnamese day the refund was created and
#    <ours> our refund's request reference (letters, digits and "-"); a query_refund of an m_refund_id
#    ZaloPay never had answers 2 like a refused refund, so such a refund is failed (a person pays it back),
#    never sent again automatically.
# 5. A query of an order ZaloPay does not know answers return_code 2 (no documented "not found" code).
# 6. ZaloPay's pay pages (order_url) are on CHECKOUT_ORIGINS: sbgateway (its sandbox) and qcgateway are in
#    the docs' examples of order_url; gateway.zalopay.vn is the production host of its gateway API
#    (specs/zlp.yaml, /api/getlistmerchantbanks), taken to serve the production pay pages too.
CHECKOUT_ORIGINS = ("https://gateway.zalopay.vn", "https://sbgateway.zalopay.vn", "https://qcgateway.zalopay.vn")
REDIRECT_CANCELLED = -49

APP_TRANS_ID = re.compile(r"^(\d{6})_([A-Za-z0-9-]{1,33})$")  # max 40 characters in all (spec)
# The callback data's fields (docs.zalopay.vn/docs/specs/callback-api).
CALLBACK_FIELDS = ("app_id", "app_trans_id", "app_time", "app_user", "amount", "embed_data", "item",
                   "zp_trans_id", "server_time", "channel", "merchant_user_id", "user_fee_amount",
                   "discount_amount")
REDIRECT_FIELDS = ("appid", "apptransid", "pmcid", "bankcode", "amount", "discountamount", "status")


def mac(key: str, data: str) -> str:
    """HMAC-SHA256 of `data` under `key`, lowercase hex (every ZaloPay MAC)."""
    return hmac.new(key.encode("utf-8"), data.encode("utf-8"), hashlib.sha256).hexdigest()


def same_mac(given: object, expected: str) -> bool:
    return isinstance(given, str) and bool(given) and hmac.compare_digest(given.lower(), expected)


def _joined(*values: object) -> str:
    return "|".join("" if v is None else str(v) for v in values)


# --- Order references -----------------------------------------------------------------------------

def day_prefix(when: datetime) -> str:
    """yyMMdd of `when` in Vietnam (GMT+7): ZaloPay wants the app_trans_id to start with the day it is made."""
    return when.astimezone(VN_TZ).strftime("%y%m%d")


def app_trans_id(order_ref: str, day: str) -> str:
    """ZaloPay's order id for our order `order_ref` (fees.gateways.attempts), made on Vietnamese day `day`."""
    return f"{day}_{order_ref}"


def order_ref_of(trans_id: object) -> str | None:
    """Our order reference in an app_trans_id (None when it is not one of ours)."""
    m = APP_TRANS_ID.match(trans_id) if isinstance(trans_id, str) else None
    return m.group(2) if m else None


def m_refund_id(app_id: str, reference: str, day: str) -> str:
    """A refund's id at ZaloPay: yymmdd_appid_xxx (spec)."""
    return f"{day}_{app_id}_{reference}"


# --- Create order (/v2/create) ------------------------------------------------------------------------

def create_mac_input(order: dict) -> str:
    """app_id|app_trans_id|app_user|amount|app_time|embed_data|item (spec OrderCreateRequest.mac)."""
    return _joined(order.get("app_id"), order.get("app_trans_id"), order.get("app_user"), order.get("amount"),
                   order.get("app_time"), order.get("embed_data"), order.get("item"))


def build_create(*, app_id: str, key1: str, app_trans_id: str, app_user: str, amount: int, app_time: int,
                 description: str, redirect_url: str, callback_url: str, bank_code: str = "",
                 item: str = "[]") -> dict[str, str]:
    """The create-order form. embed_data carries the redirect (`redirecturl`, as ZaloPay's quickstart sends
    it); bank_code "" lets the citizen choose on ZaloPay's page (wallet, ATM, card)."""
    order = {
        "app_id": str(app_id),
        "app_user": app_user,
        "app_trans_id": app_trans_id,
        "app_time": str(app_time),
        "amount": str(amount),
        "item": item,
        "embed_data": json.dumps({"redirecturl": redirect_url}, separators=(",", ":")),
        "description": description,
        "bank_code": bank_code,
        "callback_url": callback_url,
    }
    order["mac"] = mac(key1, create_mac_input(order))
    return order


def verify_create(order: dict, key1: str) -> bool:
    return same_mac(order.get("mac"), mac(key1, create_mac_input(order)))


# --- Callback (ZaloPay -> us) -------------------------------------------------------------------------

def sign_callback(data: dict, key2: str) -> dict:
    """The callback body ZaloPay POSTs: data (a JSON string), its MAC under key2, and type 1 (order)."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return {"data": text, "mac": mac(key2, text), "type": CALLBACK_TYPE_ORDER}


def verify_callback(body: dict, key2: str) -> bool:
    """The MAC is over the data string exactly as sent (never over a re-serialised copy)."""
    data = body.get("data")
    return isinstance(data, str) and same_mac(body.get("mac"), mac(key2, data))


def callback_data(body: dict) -> dict | None:
    """The callback's data as a dict (None when it is not a JSON object)."""
    try:
        data = json.loads(body["data"])
    except (KeyError, TypeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def callback_answer(return_code: int, message: str) -> dict:
    return {"return_code": return_code, "return_message": message}


# --- Redirect (ZaloPay -> the citizen's browser -> us) --------------------------------------------------

def redirect_checksum(params: dict, key2: str) -> str:
    return mac(key2, _joined(*(params.get(f) for f in REDIRECT_FIELDS)))


def verify_redirect(params: dict, key2: str) -> bool:
    return same_mac(params.get("checksum"), redirect_checksum(params, key2))


# --- Query order (/v2/query) ----------------------------------------------------------------------------

def query_mac_input(app_id: str, trans_id: str, key1: str) -> str:
    """app_id|app_trans_id|key1 (spec OrderQueryRequest.mac; key1 is both in the input and the key)."""
    return _joined(app_id, trans_id, key1)


def build_query(*, app_id: str, key1: str, app_trans_id: str) -> dict[str, str]:
    return {"app_id": str(app_id), "app_trans_id": app_trans_id,
            "mac": mac(key1, query_mac_input(app_id, app_trans_id, key1))}


def verify_query(body: dict, key1: str) -> bool:
    return same_mac(body.get("mac"), mac(key1, query_mac_input(body.get("app_id"), body.get("app_trans_id"), key1)))


# --- Refund (/v2/refund) and its status (/v2/query_refund) ----------------------------------------------

def refund_mac_input(body: dict) -> str:
    """app_id|zp_trans_id|amount|description|timestamp (spec RefundCreateRequest.mac)."""
    return _joined(body.get("app_id"), body.get("zp_trans_id"), body.get("amount"), body.get("description"),
                   body.get("timestamp"))


def build_refund(*, app_id: str, key1: str, refund_id: str, zp_trans_id: str, amount: int, description: str,
                 timestamp: int) -> dict[str, str]:
    body = {"app_id": str(app_id), "m_refund_id": refund_id, "zp_trans_id": str(zp_trans_id),
            "amount": str(amount), "timestamp": str(timestamp), "description": description}
    body["mac"] = mac(key1, refund_mac_input(body))
    return body


def verify_refund(body: dict, key1: str) -> bool:
    return same_mac(body.get("mac"), mac(key1, refund_mac_input(body)))


def query_refund_mac_input(body: dict) -> str:
    """app_id|m_refund_id|timestamp (spec RefundQueryRequest.mac)."""
    return _joined(body.get("app_id"), body.get("m_refund_id"), body.get("timestamp"))


def build_query_refund(*, app_id: str, key1: str, refund_id: str, timestamp: int) -> dict[str, str]:
    body = {"app_id": str(app_id), "m_refund_id": refund_id, "timestamp": str(timestamp)}
    body["mac"] = mac(key1, query_refund_mac_input(body))
    return body


def verify_query_refund(body: dict, key1: str) -> bool:
    return same_mac(body.get("mac"), mac(key1, query_refund_mac_input(body)))


def return_code(answer: dict) -> int | None:
    """An answer's return_code as an int (None when absent or not an integer)."""
    code = answer.get("return_code") if isinstance(answer, dict) else None
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str) and re.fullmatch(r"-?\d+", code):
        return int(code)
    return None
