"""MoMo payment gateway v2: create, IPN verification, query and refund, HMAC-SHA256 over raw key=value strings.

Payloads and signatures are pure functions; `MomoGateway` is the thin client. MoMo takes whole đồng.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets

from fees.gateways.base import (
    code_from_order_ref,
    order_ref_for,
)

# The fields each raw signature string is built from, in MoMo's documented (alphabetical) order;
# accessKey comes from the merchant's credentials, not from the message.
CREATE_FIELDS = ["accessKey", "amount", "extraData", "ipnUrl", "orderId", "orderInfo", "partnerCode",
                 "redirectUrl", "requestId", "requestType"]
IPN_FIELDS = ["accessKey", "amount", "extraData", "message", "orderId", "orderInfo", "orderType", "partnerCode",
              "payType", "requestId", "responseTime", "resultCode", "transId"]
QUERY_FIELDS = ["accessKey", "orderId", "partnerCode", "requestId"]
REFUND_FIELDS = ["accessKey", "amount", "description", "orderId", "partnerCode", "requestId", "transId"]
CREATE_RESPONSE_FIELDS = ["accessKey", "amount", "message", "orderId", "partnerCode", "payUrl", "requestId",
                          "responseTime", "resultCode"]

# --- What MoMo's resultCodes mean here --------------------------------------------------------------
# Source: MoMo's "List Result Codes" (developers.momo.vn/v3/docs/payment/api/result-handling/resultcode)
# and its refund and query pages (.../payment-api/refund, .../payment-api/query); docs/payments/
# attempts-and-refunds.md lists each.
# Not final yet: 1000 initiated, waiting for the user; 7000 being processed; 7002 being processed by the
# provider; 8000 waiting for the user to confirm again.
PENDING_CODES = {1000, 7000, 7002, 8000}
# 9000 "authorized": MoMo documents that for a one-step payment (autoCapture=1, the default of
# requestType captureWallet, which is what we send) it may be taken as paid; two-step would need capture.
AUTHORIZED = 9000
PAID_CODES = {0, AUTHORIZED}
# A refund's answers. 40 duplicated requestId, 41 duplicated orderId, 43 a similar transaction is being
# processed, 7000/7002 processing, 99 unknown error, 1081 refund rejected as the original may already be
# refunded: none says whether money went back, so the query decides.
REFUND_UNKNOWN = {40, 41, 43, 99, 1000, 7000, 7002, 1081}
# Not taken, try again later (nothing happened): 10 maintenance, 1080 refund attempt failed while processing
# (MoMo: retry later, with a new orderId/requestId).
REFUND_RETRY = {10, 1080}
# Anything else (11 access denied, 12 API version, 13 merchant authentication, 20 bad format, 21/22 amount,
# 42 not found, 1088 not refundable ...) is a refusal: a person must pay it back.
# ASSUMED (the one place for MoMo; docs/payments/attempts-and-refunds.md#assumed): the query answer's
# refundTrans lists each refund of the order as {orderId, amount, resultCode, transId, createdTime}, the
# orderId being the refund's own; how long MoMo's duplicate window lasts is not published, so a refund the
# query does not show is sent again (with a new orderId) only after fees.refunds.RESEND_AFTER.


def raw_signature(data: dict, fields: list[str], access_key: str) -> str:
    values = {**data, "accessKey": access_key}
    return "&".join(f"{k}={'' if values.get(k) is None else values.get(k)}" for k in fields)


def sign(data: dict, fields: list[str], access_key: str, secret_key: str) -> str:
    raw = raw_signature(data, fields, access_key)
    return hmac.new(secret_key.encode(), raw.encode("utf-8"), hashlib.sha256).hexdigest()


def verify(data: dict, fields: list[str], access_key: str, secret_key: str) -> bool:
    given = str(data.get("signature") or "").lower()
    return bool(given) and hmac.compare_digest(given, sign(data, fields, access_key, secret_key))


def order_id_for(code: str, attempt: int) -> str:
    """MoMo refuses a reused orderId (41), so each checkout attempt is its own order: the one mechanism of
    fees.gateways.base.order_ref_for (CODE, CODEL2, CODEL3 ...)."""
    return order_ref_for(code, attempt)


def code_from_order_id(order_id: str) -> str:
    return code_from_order_ref(order_id)


def build_create(*, partner_code: str, access_key: str, secret_key: str, order_id: str, amount: int,
                 order_info: str, redirect_url: str, ipn_url: str, request_id: str | None = None,
                 extra_data: dict | None = None, lang: str = "vi") -> dict:
    body = {
        "partnerCode": partner_code,
        "requestId": request_id or secrets.token_hex(16),
        "amount": amount,
        "orderId": order_id,
        "orderInfo": order_info,
        "redirectUrl": redirect_url,
        "ipnUrl": ipn_url,
        "requestType": "captureWallet",
        "extraData": base64.b64encode(json.dumps(extra_data or {}).encode()).decode() if extra_data else "",
        "lang": lang,
    }
    body["signature"] = sign(body, CREATE_FIELDS, access_key, secret_key)
    return body


def build_query(*, partner_code: str, access_key: str, secret_key: str, order_id: str,
                request_id: str | None = None) -> dict:
    body = {"partnerCode": partner_code, "requestId": request_id or secrets.token_hex(16), "orderId": order_id,
            "lang": "vi"}
    body["signature"] = sign(body, QUERY_FIELDS, access_key, secret_key)
    return body


def build_refund(*, partner_code: str, access_key: str, secret_key: str, order_id: str, amount: int,
                 trans_id: int | str, request_id: str, description: str) -> dict:
    body = {"partnerCode": partner_code, "orderId": order_id, "requestId": request_id, "amount": amount,
            "transId": int(trans_id), "lang": "vi", "description": description}
    body["signature"] = sign(body, REFUND_FIELDS, access_key, secret_key)
    return body
