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
    MerchantAccount,
    PaymentGateway,
    PermanentGatewayError,
    QueryResult,
    RefundResult,
    RetryableGatewayError,
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

# resultCode values that mean "not final yet".
PENDING_CODES = {1000, 7000, 7002, 9000}


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
    """MoMo refuses a reused orderId, so each checkout attempt gets its own: CODE or CODE-2, CODE-3 ..."""
    return code if attempt <= 1 else f"{code}-{attempt}"


def code_from_order_id(order_id: str) -> str:
    return order_id.split("-", 1)[0]


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
                 attempt: int = 1) -> Checkout:
        order_id = order_id_for(payment.code, attempt)
        body = build_create(partner_code=self.partner_code, access_key=self.access_key, secret_key=self.secret_key,
                            order_id=order_id, amount=payment.amount,
                            order_info=f"Thanh toán phí, lệ phí hồ sơ {payment.dossier_code}",
                            redirect_url=return_url, ipn_url=self.ipn_url)
        answer = self._post("/v2/gateway/api/create", body)
        code = int(answer.get("resultCode", -1))
        if code == 41:
            raise DuplicateError("MoMo: orderId already used")
        if code != 0 or not answer.get("payUrl"):
            raise PermanentGatewayError(f"MoMo refused the order ({code}: {answer.get('message')})")
        return Checkout(channel=self.name, redirect_url=answer["payUrl"], qr_payload=answer.get("qrCodeUrl"),
                        reference=order_id)

    def query(self, payment) -> QueryResult:
        """Each checkout attempt is its own MoMo order (CODE, CODE-2, ...): the citizen may have paid any
        of them, so ask about each, newest first, and take the first that was paid."""
        attempts = max(1, int((payment.extra or {}).get("momo_attempts") or 1))
        results = []
        for attempt in range(attempts, 0, -1):
            answer = self._post("/v2/gateway/api/query", build_query(
                partner_code=self.partner_code, access_key=self.access_key, secret_key=self.secret_key,
                order_id=order_id_for(payment.code, attempt)))
            code = int(answer.get("resultCode", -1))
            if code == 42:
                results.append(QueryResult(found=False, raw_status=str(code)))
                continue
            amount = answer.get("amount")
            result = QueryResult(found=True, success=code == 0, pending=code in PENDING_CODES,
                                 amount=amount if isinstance(amount, int) and not isinstance(amount, bool) else -1,
                                 transaction_ref=str(answer.get("transId") or ""), raw_status=str(code))
            if result.success:
                return result
            results.append(result)
        return next((r for r in results if r.pending), next((r for r in results if r.found), results[0]))

    def refund(self, payment, refund) -> RefundResult:
        order_id = (payment.extra or {}).get("momo_order_id") or payment.code
        body = build_refund(partner_code=self.partner_code, access_key=self.access_key, secret_key=self.secret_key,
                            order_id=refund.reference, amount=refund.amount, trans_id=payment.channel_ref,
                            request_id=refund.reference, description=f"Hoàn tiền {order_id}")
        answer = self._post("/v2/gateway/api/refund", body)
        code = int(answer.get("resultCode", -1))
        if code == 0:
            return RefundResult(success=True, reference=str(answer.get("transId")), raw_status=str(code),
                                message=answer.get("message"))
        if code == 41:
            raise DuplicateError("MoMo: this refund was already requested")
        if code in PENDING_CODES or code in (10, 11, 12, 99):
            raise RetryableGatewayError(f"MoMo refund answered {code}")
        raise PermanentGatewayError(f"MoMo refused the refund ({code}: {answer.get('message')})")
