"""The ZaloPay gateway (merchant API v2): the one class that talks to ZaloPay (create, callback, query, refund,
query_refund), and its settings.

Everything it sends and reads is built and checked by `payloads` (pure functions). ZaloPay takes whole đồng.
Our order reference (fees.gateways.attempts) travels inside ZaloPay's app_trans_id, "yyMMdd_<ref>", the
day being the Vietnamese day the order was opened (kept on the attempt as its `create_date`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import requests

from core.clock import as_utc, utcnow
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
from fees.gateways.zalopay import payloads as wire

SANDBOX_APP_ID = "2553"
SANDBOX_KEY1 = "SANDBOXZALOPAYKEY1HCC00000000000"  # noqa: S105 (the sandbox's own, refused in production)
SANDBOX_KEY2 = "SANDBOXZALOPAYKEY2HCC00000000000"  # noqa: S105

register_settings(
    Setting("HCC_ZALOPAY_APP_ID", SANDBOX_APP_ID, "ZaloPay app_id (the merchant's application id)."),
    Setting("HCC_ZALOPAY_KEY1", SANDBOX_KEY1, "ZaloPay key1 (MAC key: signs our create, query and refund requests)."),
    Setting("HCC_ZALOPAY_KEY2", SANDBOX_KEY2, "ZaloPay key2 (callback key: checks ZaloPay's callbacks and redirects)."),
    Setting("HCC_ZALOPAY_API_URL", "`<public_url>/sandbox/zalopay`",
            "ZaloPay API base (…/v2/create); ZaloPay's sandbox https://sb-openapi.zalopay.vn, "
            "production https://openapi.zalopay.vn."),
)

# What each verdict of fees.ipn.judge is answered (the return_code ZaloPay reads; payloads.CALLBACK_*).
CALLBACK_ANSWERS = {
    "paid": (wire.CALLBACK_OK, "success"),
    "paid_twice": (wire.CALLBACK_OK, "success"),        # recorded: the second payment goes to the refund flow
    "flagged": (wire.CALLBACK_OK, "success"),           # recorded for a person to look at
    "failed_recorded": (wire.CALLBACK_OK, "success"),
    "pending": (wire.CALLBACK_OK, "success"),
    "already": (wire.CALLBACK_ALREADY, "already processed"),
    "duplicate": (wire.CALLBACK_ALREADY, "already processed"),
    BAD_SIGNATURE: (wire.CALLBACK_REFUSED, "mac not equal"),
    MALFORMED: (wire.CALLBACK_REFUSED, "malformed callback"),
    UNKNOWN_MERCHANT: (wire.CALLBACK_REFUSED, "unknown app_id"),
    "other_merchant": (wire.CALLBACK_REFUSED, "order of another app_id"),
    "not_found": (wire.CALLBACK_REFUSED, "order not found"),
    "amount_mismatch": (wire.CALLBACK_REFUSED, "amount mismatch"),
}


@register_gateway
class ZalopayGateway(PaymentGateway):
    name = "zalopay"
    display_name = "ZaloPay"
    checkout_kind = "redirect"
    notifications = {"callback": "POST"}
    unit_id_key = "zalopay_app_id"
    unit_secrets = {"key1": "zalopay_key1", "key2": "zalopay_key2"}
    merchant_id_field = "merchant_ref"
    required_settings = ("HCC_ZALOPAY_APP_ID", "HCC_ZALOPAY_KEY1", "HCC_ZALOPAY_KEY2", "HCC_ZALOPAY_API_URL")
    # Where ZaloPay's order_url takes the citizen (not the API host): the pay page's CSP form-action must
    # allow it, since the browser follows our 302 from the pay form there (payloads.CHECKOUT_ORIGINS).
    checkout_origins = wire.CHECKOUT_ORIGINS

    def default_account(self) -> MerchantAccount:
        return MerchantAccount(gateway=self.name, merchant_ref=self.setting("HCC_ZALOPAY_APP_ID", SANDBOX_APP_ID),
                               values={"key1": self.setting("HCC_ZALOPAY_KEY1", SANDBOX_KEY1),
                                       "key2": self.setting("HCC_ZALOPAY_KEY2", SANDBOX_KEY2)})

    @property
    def app_id(self) -> str:
        return self.account.merchant_ref

    @property
    def api_url(self) -> str:
        return self.setting("HCC_ZALOPAY_API_URL", f"{self.settings.public_url}/sandbox/zalopay").rstrip("/")

    @property
    def callback_url(self) -> str:
        return f"{self.settings.public_url}/callbacks/zalopay/callback"

    # --- Calls out --------------------------------------------------------------------------------------

    def _post(self, path: str, body: dict) -> dict:
        try:
            resp = requests.post(self.api_url + path, data=body,
                                 timeout=self.settings.get_int("HCC_GATEWAY_TIMEOUT", 15))
        except requests.RequestException as e:
            raise RetryableGatewayError(f"ZaloPay API unreachable: {e.__class__.__name__}") from e
        if resp.status_code >= 500:
            raise RetryableGatewayError(f"ZaloPay API answered {resp.status_code}")
        try:
            answer = resp.json()
        except ValueError as e:
            raise RetryableGatewayError("ZaloPay API answered something that is not JSON") from e
        if not isinstance(answer, dict):
            raise RetryableGatewayError("ZaloPay API answered JSON that is not an object")
        return answer

    def checkout(self, payment, *, return_url: str, client_ip: str = "127.0.0.1",
                 order_ref: str | None = None) -> Checkout:
        """One ZaloPay order for one attempt: app_trans_id "yyMMdd_<order_ref>" (today in Vietnam)."""
        order_ref = order_ref or payment.code
        day = wire.day_prefix(utcnow())
        trans_id = wire.app_trans_id(order_ref, day)
        body = wire.build_create(app_id=self.app_id, key1=self.account.value("key1"), app_trans_id=trans_id,
                                 app_user=f"hcc-centre-{payment.centre_id}", amount=payment.amount,
                                 app_time=int(time.time() * 1000),
                                 description=f"Thanh toán phí, lệ phí hồ sơ {payment.dossier_code}"[:256],
                                 redirect_url=return_url, callback_url=self.callback_url)
        answer = self._post(wire.CREATE_PATH, body)
        code, sub = wire.return_code(answer), answer.get("sub_return_code")
        if code == wire.SUCCESS and answer.get("order_url"):
            return Checkout(channel=self.name, redirect_url=answer["order_url"], qr_payload=answer.get("qr_code"),
                            reference=order_ref, extra={"create_date": day, "app_trans_id": trans_id})
        if sub == wire.ORDER_EXISTS:
            raise DuplicateError(f"ZaloPay: app_trans_id {trans_id} already exists")
        if code in (wire.SYSTEM_ERROR, wire.LIMIT_REACHED) or sub in wire.CREATE_RETRY_SUBCODES:
            raise RetryableGatewayError(f"ZaloPay create answered {code}/{sub}")
        raise PermanentGatewayError(f"ZaloPay refused the order ({code}/{sub}: {answer.get('return_message')})")

    # --- The callback -----------------------------------------------------------------------------------

    def parse_notification(self, kind: str, request: InboundRequest,
                           find_account: Callable[[str | None], MerchantAccount | None]) -> Notification:
        """ZaloPay's callback: JSON {data, mac, type}, mac = HMAC-SHA256(key2, data) with the key2 of the
        app_id the data names (the default's when none of ours has it)."""
        base = dict(gateway=self.name, kind=kind, raw=request.body, actor_id="zalopay",
                    actor_name="ZaloPay callback", merchant_label="app_id")
        try:
            body = json.loads(request.body)
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("data"), str):
            return Notification(signature_valid=False, problem=MALFORMED, detail="body is not a callback", **base)
        data = wire.callback_data(body)
        app_id = data.get("app_id") if data is not None else None
        app_id = str(app_id) if isinstance(app_id, int | str) and not isinstance(app_id, bool) else ""
        account = find_account(app_id or None)
        keys = account or self.account
        if not wire.verify_callback(body, keys.value("key2")):
            return Notification(signature_valid=False, problem=BAD_SIGNATURE, merchant_id=app_id,
                                detail="bad signature", **base)
        if data is None:
            return Notification(signature_valid=True, problem=MALFORMED, detail="data is not a JSON object", **base)
        if account is None:
            return Notification(signature_valid=True, problem=UNKNOWN_MERCHANT, merchant_id=app_id,
                                detail="not our app_id", **base)
        trans_id = data.get("app_trans_id")
        order_ref = wire.order_ref_of(trans_id)
        zp_trans_id = data.get("zp_trans_id")
        try:
            amount = whole_dong(data["amount"])
            if order_ref is None or not isinstance(zp_trans_id, int | str) or isinstance(zp_trans_id, bool) \
                    or not str(zp_trans_id).isdigit():
                raise ValueError
        except (KeyError, ValueError):
            return Notification(signature_valid=True, problem=MALFORMED, account=account, merchant_id=app_id,
                                detail="malformed amount, app_trans_id or zp_trans_id", **base)
        if body.get("type", wire.CALLBACK_TYPE_ORDER) != wire.CALLBACK_TYPE_ORDER:
            return Notification(signature_valid=True, problem=MALFORMED, account=account, merchant_id=app_id,
                                detail="not an order callback", **base)
        # ZaloPay calls back only for money it took: a callback is a payment.
        return Notification(signature_valid=True, account=account, merchant_id=app_id, order_ref=order_ref,
                            amount=amount, success=True, pending=False, transaction_ref=str(zp_trans_id),
                            raw_status=str(wire.SUCCESS), dedup_key=f"{zp_trans_id}:{wire.SUCCESS}",
                            paid_extra={"zalopay_app_trans_id": trans_id}, **base)

    def answer(self, notification: Notification | None, verdict: Verdict) -> WireAnswer:
        """HTTP 200 with {return_code, return_message}: 1 received, 2 already handled, 0 (call back again)
        when judging failed, -1 refused."""
        if verdict.outcome == "error":
            return WireAnswer(json=wire.callback_answer(wire.CALLBACK_RETRY, "please call back again"))
        code, message = CALLBACK_ANSWERS.get(verdict.result, (wire.CALLBACK_REFUSED, verdict.result))
        return WireAnswer(json=wire.callback_answer(code, message))

    # --- Query ------------------------------------------------------------------------------------------

    def _trans_id(self, payment, order: GatewayOrder) -> str:
        day = order.transaction_dates[0] if order.transaction_dates else wire.day_prefix(as_utc(payment.created_at))
        return wire.app_trans_id(order.order_ref, day)

    def query(self, payment, orders: list[GatewayOrder] | None = None) -> QueryResult:
        """Each checkout attempt is its own ZaloPay order: ask about each, newest first; the first paid wins."""
        results = []
        for order in orders or [GatewayOrder(order_ref=payment.code)]:
            answer = self._post(wire.QUERY_PATH, wire.build_query(app_id=self.app_id, key1=self.account.value("key1"),
                                                                  app_trans_id=self._trans_id(payment, order)))
            code = wire.return_code(answer)
            if code not in (wire.SUCCESS, wire.FAIL, wire.PROCESSING):
                raise RetryableGatewayError(f"ZaloPay query answered {code}")
            amount = answer.get("amount")
            result = QueryResult(found=code != wire.FAIL, success=code == wire.SUCCESS,
                                 pending=code == wire.PROCESSING and bool(answer.get("is_processing")),
                                 amount=amount if isinstance(amount, int) and not isinstance(amount, bool) else -1,
                                 transaction_ref=str(answer.get("zp_trans_id") or "") or None, raw_status=str(code),
                                 order_ref=order.order_ref)
            if result.success:
                return result
            results.append(result)
        return next((r for r in results if r.pending), next((r for r in results if r.found), results[0]))

    # --- Refund -----------------------------------------------------------------------------------------

    def _refund_ids(self, refund) -> list[str]:
        """Every m_refund_id this refund was sent under, newest first (sent again only under a new one)."""
        day = wire.day_prefix(as_utc(refund.created_at) if refund.created_at else utcnow())
        seq = int(getattr(refund, "request_seq", 0) or 0)
        refs = [refund.reference] + [f"{refund.reference}-{n}" for n in range(1, seq + 1)]
        return [wire.m_refund_id(self.app_id, ref, day) for ref in reversed(refs)]

    def refund(self, payment, refund, order: GatewayOrder | None = None) -> RefundResult:
        """A refund of the order's zp_trans_id. Answer 3 (processing) or a lost answer: OutcomeUnknown, and
        only query_refund may end it."""
        zp_trans_id = (order.transaction_ref if order else None) or payment.channel_ref
        order_ref = order.order_ref if order else payment.code
        refund_id = self._refund_ids(refund)[0]
        body = wire.build_refund(app_id=self.app_id, key1=self.account.value("key1"), refund_id=refund_id,
                                 zp_trans_id=str(zp_trans_id), amount=refund.amount,
                                 description=f"Hoàn tiền {order_ref}", timestamp=int(time.time() * 1000))
        try:
            answer = self._post(wire.REFUND_PATH, body)
        except RetryableGatewayError as e:
            raise OutcomeUnknown(f"ZaloPay refund: {e}", raw_status="lost") from e
        code = wire.return_code(answer)
        if code == wire.SUCCESS:
            return RefundResult(success=True, reference=str(answer.get("refund_id") or "") or None,
                                raw_status=str(code), message=answer.get("return_message"))
        if code == wire.PROCESSING:
            raise OutcomeUnknown("ZaloPay refund is processing: to be confirmed by query_refund", raw_status="3")
        if code == wire.LIMIT_REACHED:
            raise RetryableGatewayError("ZaloPay refund: request limit reached")
        if code == wire.SYSTEM_ERROR or code is None:
            raise OutcomeUnknown(f"ZaloPay refund answered {code}: to be confirmed by query_refund",
                                 raw_status=str(code))
        raise PermanentGatewayError(f"ZaloPay refused the refund ({code}/{answer.get('sub_return_code')}: "
                                    f"{answer.get('return_message')})")

    def refund_status(self, payment, refund, order: GatewayOrder | None = None) -> RefundStatus:
        """query_refund of each m_refund_id the refund was sent under: 1 refunded, 3 processing, 2 refused."""
        states = []
        for refund_id in self._refund_ids(refund):
            answer = self._post(wire.QUERY_REFUND_PATH, wire.build_query_refund(
                app_id=self.app_id, key1=self.account.value("key1"), refund_id=refund_id,
                timestamp=int(time.time() * 1000)))
            code = wire.return_code(answer)
            if code == wire.SUCCESS:
                return RefundStatus("succeeded", reference=str(answer.get("refund_id") or "") or None,
                                    raw_status="1", message=answer.get("return_message"))
            states.append((code, answer.get("return_message")))
        if any(code == wire.PROCESSING for code, _ in states):
            return RefundStatus("pending", raw_status="3")
        code, message = states[0]
        if code == wire.FAIL:
            return RefundStatus("failed", raw_status="2", message=str(message or ""))
        return RefundStatus("unknown", raw_status=str(code), message=str(message or ""))
