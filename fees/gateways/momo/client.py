"""The MoMo gateway (API v2): the one class that talks to MoMo (create, IPN, query, refund), and its settings.

Everything it sends and reads is built and checked by `payloads` (pure functions). MoMo takes whole đồng.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import requests

from core.settings import Setting, register_settings
from fees.gateways.base import (
    BAD_SIGNATURE,
    MALFORMED,
    UNKNOWN_MERCHANT,
    Checkout,
    DuplicateError,
    GatewayOrder,
    InboundRequest,
    MerchantAccount,
    Notification,
    OutcomeUnknown,
    PaymentGateway,
    PermanentGatewayError,
    QueryResult,
    RefundResult,
    RefundStatus,
    RetryableGatewayError,
    Verdict,
    WireAnswer,
    register_gateway,
    whole_dong,
)
from fees.gateways.momo.payloads import (
    IPN_FIELDS,
    PAID_CODES,
    PENDING_CODES,
    REFUND_RETRY,
    REFUND_UNKNOWN,
    build_create,
    build_query,
    build_refund,
    order_id_for,
    verify,
)

SANDBOX_PARTNER_CODE = "MOMOHCCSBX"
SANDBOX_ACCESS_KEY = "SANDBOXMOMOACCESS"
SANDBOX_SECRET_KEY = "SANDBOXMOMOSECRETKEYHCC"  # noqa: S105 (the sandbox's own, refused in production)

register_settings(
    Setting("HCC_MOMO_PARTNER_CODE", SANDBOX_PARTNER_CODE, "MoMo partner code."),
    Setting("HCC_MOMO_ACCESS_KEY", SANDBOX_ACCESS_KEY, "MoMo access key."),
    Setting("HCC_MOMO_SECRET_KEY", SANDBOX_SECRET_KEY, "MoMo secret key (HMAC-SHA256 key)."),
    Setting("HCC_MOMO_API_URL", "`<public_url>/sandbox/momo`",
            "MoMo API base (…/v2/gateway/api/create); production: https://payment.momo.vn."),
)


@register_gateway
class MomoGateway(PaymentGateway):
    name = "momo"
    display_name = "MoMo"
    checkout_kind = "redirect"
    notifications = {"ipn": "POST"}
    unit_id_key = "momo_partner_code"
    unit_secrets = {"access_key": "momo_access_key", "secret_key": "momo_secret_key"}
    merchant_id_field = "partner_code"
    required_settings = ("HCC_MOMO_PARTNER_CODE", "HCC_MOMO_ACCESS_KEY", "HCC_MOMO_SECRET_KEY", "HCC_MOMO_API_URL")
    checkout_url_settings = ("HCC_MOMO_API_URL",)

    def default_account(self) -> MerchantAccount:
        return MerchantAccount(gateway=self.name, partner_code=self.setting("HCC_MOMO_PARTNER_CODE", SANDBOX_PARTNER_CODE),
                               access_key=self.setting("HCC_MOMO_ACCESS_KEY", SANDBOX_ACCESS_KEY),
                               secret_key=self.setting("HCC_MOMO_SECRET_KEY", SANDBOX_SECRET_KEY))

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

    def parse_notification(self, kind: str, request: InboundRequest,
                           find_account: Callable[[str | None], MerchantAccount | None]) -> Notification:
        """MoMo's IPN (JSON POST): the signature over the documented fields with the keys of the partner it
        names (a partner none of our accounts is: checked with the default keys, as before units had
        accounts)."""
        base = dict(gateway=self.name, kind=kind, raw=request.body, actor_id="momo", actor_name="MoMo IPN",
                    merchant_label="partner")
        try:
            data = json.loads(request.body)
            if not isinstance(data, dict):
                raise ValueError
        except ValueError:
            return Notification(signature_valid=False, problem=MALFORMED, detail="body is not a JSON object", **base)
        partner = data.get("partnerCode")
        partner = partner if isinstance(partner, str) else None
        account = find_account(partner)
        keys = account or self.account
        if not verify(data, IPN_FIELDS, keys.access_key, keys.secret_key):
            return Notification(signature_valid=False, problem=BAD_SIGNATURE, merchant_id=partner or "",
                                detail="bad signature", **base)
        if account is None:
            return Notification(signature_valid=True, problem=UNKNOWN_MERCHANT, merchant_id=partner or "",
                                detail="not our partner code", **base)
        try:
            amount, result_code = whole_dong(data["amount"]), data["resultCode"]
            if not isinstance(result_code, int) or isinstance(result_code, bool):
                raise TypeError("resultCode must be an integer")
        except (KeyError, ValueError, TypeError):
            return Notification(signature_valid=True, problem=MALFORMED, account=account, merchant_id=partner or "",
                                detail="malformed amount or resultCode", **base)
        order_id = str(data.get("orderId") or "")
        trans_id = str(data.get("transId") or "")
        # 0, or 9000 (authorised) with the one-step capture of captureWallet: MoMo says it may be taken as paid.
        paid = result_code in PAID_CODES
        return Notification(signature_valid=True, account=account, merchant_id=partner or "", order_ref=order_id,
                            amount=amount, success=paid, pending=result_code in PENDING_CODES,
                            transaction_ref=trans_id or None, raw_status=str(result_code),
                            dedup_key=f"{trans_id}:{result_code}" if trans_id else None,
                            paid_extra={"momo_order_id": order_id}, **base)

    def answer(self, notification: Notification | None, verdict: Verdict) -> WireAnswer:
        """MoMo expects HTTP 204 with no body once we have it; 500 makes it retry; a bad signature is 400."""
        if verdict.outcome == "error":
            return WireAnswer(status=500)
        if verdict.result == BAD_SIGNATURE:
            return WireAnswer(status=400)
        return WireAnswer(status=204)

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
