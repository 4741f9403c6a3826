"""MoMo payment gateway v2: create, IPN verification, query and refund, HMAC-SHA256 over raw key=value strings.

Payloads and signatures are pure functions; `MomoGateway` is the thin client. MoMo takes whole đồng.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets

import requests

from fees.gateways.base import (
    Checkout,
    DuplicateError,
    GatewayOrder,
    MerchantAccount,
    OutcomeUnknown,
    PaymentGateway,
    PermanentGatewayError,
    QueryResult,
    RefundResult,
    RefundStatus,
    RetryableGatewayError,
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


class MomoGateway(PaymentGateway):
    name = "momo"
    required_settings = ("HCC_MOMO_PARTNER_CODE", "HCC_MOMO_ACCESS_KEY", "HCC_MOMO_SECRET_KEY", "HCC_MOMO_API_URL")

    def default_account(self) -> MerchantAccount:
        return MerchantAccount(gateway=self.name, partner_code=self.setting("HCC_MOMO_PARTNER_CODE", "MOMOHCCSBX"),
                               access_key=self.setting("HCC_MOMO_ACCESS_KEY", "SANDBOXMOMOACCESS"),
                               secret_key=self.setting("HCC_MOMO_SECRET_KEY", "SANDBOXMOMOSECRETKEYHCC"))

    @property
    def partner_code(self) -> str:
        return self.account.partner_code

    @property
    def access_key(self) -> str:
        return self.account.access_key

    @property
    def secret_key(self) -> str:
        return self.account.secret_key

    @property
    def api_url(self) -> str:
        return self.setting("HCC_MOMO_API_URL", f"{self.settings.public_url}/sandbox/momo").rstrip("/")

    @property
    def ipn_url(self) -> str:
        return f"{self.settings.public_url}/callbacks/momo/ipn"

    def _post(self, path: str, body: dict) -> dict:
        try:
            resp = requests.post(self.api_url + path, json=body,
                                 timeout=self.settings.get_int("HCC_GATEWAY_TIMEOUT", 15))
        except requests.RequestException as e:
            raise RetryableGatewayError(f"MoMo API unreachable: {e.__class__.__name__}") from e
        if resp.status_code >= 500:
            raise RetryableGatewayError(f"MoMo API answered {resp.status_code}")
        try:
            return resp.json()
        except ValueError as e:
            raise RetryableGatewayError("MoMo API answered something that is not JSON") from e

    def checkout(self, payment, *, return_url: str, client_ip: str = "127.0.0.1",
                 attempt: int = 1, order_ref: str | None = None) -> Checkout:
        """A MoMo order for one attempt: `order_ref` is its orderId (fees.gateways.attempts); each request
        has its own requestId, returned in the checkout's extra."""
        order_id = order_ref or order_id_for(payment.code, attempt)
        body = build_create(partner_code=self.partner_code, access_key=self.access_key, secret_key=self.secret_key,
                            order_id=order_id, amount=payment.amount,
                            order_info=f"Thanh toán phí, lệ phí hồ sơ {payment.dossier_code}",
                            redirect_url=return_url, ipn_url=self.ipn_url)
        answer = self._post("/v2/gateway/api/create", body)
        code = int(answer.get("resultCode", -1))
        if code in (40, 41):
            raise DuplicateError(f"MoMo: {'requestId' if code == 40 else 'orderId'} already used")
        if code != 0 or not answer.get("payUrl"):
            raise PermanentGatewayError(f"MoMo refused the order ({code}: {answer.get('message')})")
        return Checkout(channel=self.name, redirect_url=answer["payUrl"], qr_payload=answer.get("qrCodeUrl"),
                        reference=order_id, extra={"request_id": body["requestId"]})

    def _query(self, order_id: str) -> dict:
        return self._post("/v2/gateway/api/query", build_query(
            partner_code=self.partner_code, access_key=self.access_key, secret_key=self.secret_key, order_id=order_id))

    @staticmethod
    def _legacy_orders(payment) -> list[GatewayOrder]:
        attempts = max(1, int((payment.extra or {}).get("momo_attempts") or 1))
        return [GatewayOrder(order_ref=payment.code if n == 1 else f"{payment.code}-{n}")
                for n in range(attempts, 0, -1)]

    def query(self, payment, orders: list[GatewayOrder] | None = None) -> QueryResult:
        """Each checkout attempt is its own MoMo order: the citizen may have paid any of them, so ask about
        each, newest first, and take the first that was paid (0, or 9000 authorized: one-step capture)."""
        results = []
        for order in orders or self._legacy_orders(payment):
            answer = self._query(order.order_ref)
            code = int(answer.get("resultCode", -1))
            if code == 42:
                results.append(QueryResult(found=False, raw_status=str(code), order_ref=order.order_ref))
                continue
            amount = answer.get("amount")
            result = QueryResult(found=True, success=code in PAID_CODES, pending=code in PENDING_CODES,
                                 amount=amount if isinstance(amount, int) and not isinstance(amount, bool) else -1,
                                 transaction_ref=str(answer.get("transId") or ""), raw_status=str(code),
                                 order_ref=order.order_ref)
            if result.success:
                return result
            results.append(result)
        return next((r for r in results if r.pending), next((r for r in results if r.found), results[0]))

    def refund(self, payment, refund, order: GatewayOrder | None = None) -> RefundResult:
        """A refund is MoMo's own order (a new orderId, never the purchase's) on the purchase's transId.
        Raises OutcomeUnknown when the answer does not say whether it went through."""
        order = order or GatewayOrder(order_ref=(payment.extra or {}).get("momo_order_id") or payment.code,
                                      transaction_ref=payment.channel_ref, amount=payment.paid_amount)
        request_id = getattr(refund, "request_reference", refund.reference)
        body = build_refund(partner_code=self.partner_code, access_key=self.access_key, secret_key=self.secret_key,
                            order_id=request_id, amount=refund.amount,
                            trans_id=order.transaction_ref or payment.channel_ref, request_id=request_id,
                            description=f"Hoàn tiền {order.order_ref}")
        try:
            answer = self._post("/v2/gateway/api/refund", body)
        except RetryableGatewayError as e:
            raise OutcomeUnknown(f"MoMo refund: {e}", raw_status="lost") from e
        code = int(answer.get("resultCode", -1))
        if code == 0:
            return RefundResult(success=True, reference=str(answer.get("transId")), raw_status=str(code),
                                message=answer.get("message"))
        if code in REFUND_UNKNOWN:
            raise OutcomeUnknown(f"MoMo refund answered {code} ({answer.get('message')}): to be confirmed by query",
                                 raw_status=str(code))
        if code in REFUND_RETRY:
            raise RetryableGatewayError(f"MoMo refund answered {code}")
        raise PermanentGatewayError(f"MoMo refused the refund ({code}: {answer.get('message')})")

    def refund_status(self, payment, refund, order: GatewayOrder | None = None) -> RefundStatus:
        """The query API on the purchase's orderId lists its refunds (refundTrans): ours is the one with our
        refund orderId."""
        order = order or GatewayOrder(order_ref=(payment.extra or {}).get("momo_order_id") or payment.code)
        answer = self._query(order.order_ref)
        code = int(answer.get("resultCode", -1))
        trans = answer.get("refundTrans")
        if not isinstance(trans, list):
            return RefundStatus("unknown", raw_status=f"query {code}", message="no refundTrans in the answer")
        # Every orderId this refund was sent under (it is sent again under a new one only after the query
        # showed none of them): whichever MoMo took is ours.
        sent = {refund.reference, *(f"{refund.reference}-{n}" for n in range(1, getattr(refund, "request_seq", 0) + 1))}
        ours = [t for t in trans if isinstance(t, dict) and t.get("orderId") in sent]
        done = [t for t in ours if t.get("resultCode") == 0]
        ours = done or ours
        if not ours:
            return RefundStatus("absent", raw_status=f"query {code}")
        result = int(ours[-1].get("resultCode", -1))
        if result == 0:
            if ours[-1].get("amount") != refund.amount:
                return RefundStatus("unknown", raw_status="0", message="refund of another amount under our orderId")
            return RefundStatus("succeeded", reference=str(ours[-1].get("transId") or ""), raw_status="0")
        if result in PENDING_CODES or result in REFUND_UNKNOWN:
            return RefundStatus("pending", raw_status=str(result))
        return RefundStatus("failed", raw_status=str(result), message=str(ours[-1].get("message") or ""))
