"""The VNPAY gateway: the one class that talks to VNPAY (pay URL, IPN, querydr, refund), and its settings.

Everything it sends and reads is built and checked by `payloads` (pure functions).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import requests

from core.clock import utcnow
from core.settings import Setting, register_settings
from fees.gateways.base import (
    BAD_SIGNATURE,
    MALFORMED,
    UNKNOWN_MERCHANT,
    Checkout,
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
from fees.gateways.vnpay.payloads import (
    IPN_ANSWERS,
    QUERYDR_RESPONSE_FIELDS,
    REFUND_ANSWERS,
    REFUND_RESPONSE_FIELDS,
    REFUND_STATUS,
    REFUND_TYPES,
    build_pay_params,
    build_querydr,
    build_refund,
    pay_url,
    transaction_dates,
    verify_params,
    verify_pipe_response,
    vn_time,
)

SANDBOX_TMN_CODE = "HCCSBX01"
SANDBOX_HASH_SECRET = "SANDBOXVNPAYSECRETHCC0000000000"  # noqa: S105 (the sandbox's own, refused in production)

# The deployment's default merchant account (a collecting unit with its own is paid into that one instead:
# fees.merchants). The defaults serve the sandbox in the embedded default; production must set each.
register_settings(
    Setting("HCC_VNPAY_TMN_CODE", SANDBOX_TMN_CODE, "VNPAY merchant (terminal) code."),
    Setting("HCC_VNPAY_HASH_SECRET", SANDBOX_HASH_SECRET, "VNPAY hash secret (HMAC-SHA512 key)."),
    Setting("HCC_VNPAY_PAY_URL", "`<public_url>/sandbox/vnpay/paymentv2/vpcpay.html`",
            "VNPAY payment page; production: https://pay.vnpay.vn/vpcpay.html."),
    Setting("HCC_VNPAY_API_URL", "`<public_url>/sandbox/vnpay/merchant_webapi/api/transaction`",
            "VNPAY querydr/refund API; production: https://merchant.vnpay.vn/merchant_webapi/api/transaction."),
    Setting("HCC_VNPAY_SANDBOX_IPN_URL", "`<public_url>/callbacks/vnpay/ipn`",
            "Where the VNPAY sandbox sends IPNs (VNPAY itself takes the IPN URL from the merchant registration)."),
)

# The judge's result -> VNPAY's IPN RspCode (VNPAY checks: checksum 97, order 01, amount 04, state 02).
# A second payment (an older vnp_TxnRef paid after a newer one) is an order VNPAY had not had confirmed:
# it is confirmed (00) once recorded and sent to the refund flow; its replays are 02 like any other.
RSP_CODES = {BAD_SIGNATURE: "97", UNKNOWN_MERCHANT: "01", "other_merchant": "01", MALFORMED: "99",
             "paid": "00", "failed_recorded": "00", "flagged": "00", "paid_twice": "00", "already": "02",
             "not_found": "01", "amount_mismatch": "04"}


@register_gateway
class VnpayGateway(PaymentGateway):
    name = "vnpay"
    display_name = "VNPAY"
    checkout_kind = "redirect"
    notifications = {"ipn": "GET"}
    unit_id_key = "vnpay_tmn_code"
    unit_secrets = {"hash_secret": "vnpay_hash_secret"}
    merchant_id_field = "tmn_code"
    required_settings = ("HCC_VNPAY_TMN_CODE", "HCC_VNPAY_HASH_SECRET", "HCC_VNPAY_PAY_URL", "HCC_VNPAY_API_URL")
    checkout_url_settings = ("HCC_VNPAY_PAY_URL",)

    def default_account(self) -> MerchantAccount:
        return MerchantAccount(gateway=self.name, tmn_code=self.setting("HCC_VNPAY_TMN_CODE", SANDBOX_TMN_CODE),
                               hash_secret=self.setting("HCC_VNPAY_HASH_SECRET", SANDBOX_HASH_SECRET))

    @property
    def tmn_code(self) -> str:
        return self.account.tmn_code

    @property
    def secret(self) -> str:
        return self.account.hash_secret

    @property
    def pay_base(self) -> str:
        return self.setting("HCC_VNPAY_PAY_URL", f"{self.settings.public_url}/sandbox/vnpay/paymentv2/vpcpay.html")

    @property
    def api_url(self) -> str:
        return self.setting("HCC_VNPAY_API_URL", f"{self.settings.public_url}/sandbox/vnpay/merchant_webapi/api/transaction")

    @property
    def timeout(self) -> int:
        return self.settings.get_int("HCC_GATEWAY_TIMEOUT", 15)

    def checkout(self, payment, *, return_url: str, client_ip: str = "127.0.0.1",
                 order_ref: str | None = None) -> Checkout:
        """A pay URL for one order: `order_ref` is this attempt's vnp_TxnRef (fees.gateways.attempts), the
        payment code when not given."""
        now = utcnow()
        expire = payment.expires_at if payment.expires_at and payment.expires_at > now else None
        txn_ref = order_ref or payment.code
        params = build_pay_params(tmn_code=self.tmn_code, txn_ref=txn_ref, amount=payment.amount,
                                  order_info=f"Thanh toan phi le phi ho so {payment.dossier_code}",
                                  return_url=return_url, ip_addr=client_ip, create_date=now,
                                  expire_date=expire or now + timedelta(minutes=15))
        return Checkout(channel=self.name, redirect_url=pay_url(self.pay_base, params, self.secret),
                        reference=txn_ref, extra={"create_date": params["vnp_CreateDate"]})

    def parse_notification(self, kind: str, request: InboundRequest,
                           find_account: Callable[[str | None], MerchantAccount | None]) -> Notification:
        """VNPAY's IPN (GET, signed query string). The checksum is verified with the secret of the merchant
        the IPN names; a code none of our accounts has is checked with the default secret (97 if bad, 01 if
        good, as VNPAY's own order lookup would answer)."""
        raw = request.query_string.encode() or request.body
        params = dict(request.query)
        base = dict(gateway=self.name, kind=kind, raw=raw, actor_id="vnpay", actor_name="VNPAY IPN",
                    merchant_id=str(params.get("vnp_TmnCode") or ""))
        account = find_account(params.get("vnp_TmnCode"))
        if not verify_params(params, (account or self.account).hash_secret):
            return Notification(signature_valid=False, problem=BAD_SIGNATURE, detail="bad checksum", **base)
        if account is None:
            return Notification(signature_valid=True, problem=UNKNOWN_MERCHANT, detail="not our merchant code", **base)
        try:
            amount_x100 = whole_dong(params["vnp_Amount"])
            txn_ref = params["vnp_TxnRef"]
        except (KeyError, ValueError):
            return Notification(signature_valid=True, problem=MALFORMED, account=account,
                                detail="malformed amount or order", **base)
        success = params.get("vnp_ResponseCode") == "00" and params.get("vnp_TransactionStatus", "00") == "00"
        txn = params.get("vnp_TransactionNo")
        return Notification(
            signature_valid=True, account=account, order_ref=txn_ref,
            # Not whole đồng cannot match any request; -1 (amounts are never negative) lets the order be
            # looked up first, so the answer keeps VNPAY's order: unknown order 01 before wrong amount 04.
            amount=amount_x100 // 100 if amount_x100 % 100 == 0 else -1,
            success=success, transaction_ref=txn, raw_status=params.get("vnp_ResponseCode"),
            dedup_key=f"{txn}:{params.get('vnp_ResponseCode')}" if txn else None,
            paid_extra={"vnpay_pay_date": params.get("vnp_PayDate"), "vnpay_bank_code": params.get("vnp_BankCode")},
            **base)

    def answer(self, notification: Notification | None, verdict: Verdict) -> WireAnswer:
        """{"RspCode", "Message"} with HTTP 200, whatever the verdict (99 when judging failed)."""
        code = RSP_CODES.get(verdict.result, "99") if verdict.outcome != "error" else "99"
        return WireAnswer(json={"RspCode": code, "Message": IPN_ANSWERS[code]})

    def _post(self, body: dict) -> dict:
        try:
            resp = requests.post(self.api_url, json=body, timeout=self.timeout)
        except requests.RequestException as e:
            raise RetryableGatewayError(f"VNPAY API unreachable: {e.__class__.__name__}") from e
        if resp.status_code >= 500:
            raise RetryableGatewayError(f"VNPAY API answered {resp.status_code}")
        try:
            return resp.json()
        except ValueError as e:
            raise RetryableGatewayError("VNPAY API answered something that is not JSON") from e

    def _querydr(self, txn_ref: str, transaction_date: str) -> dict:
        answer = self._post(build_querydr(tmn_code=self.tmn_code, txn_ref=txn_ref, transaction_date=transaction_date,
                                          ip_addr="127.0.0.1", secret=self.secret))
        if not verify_pipe_response(answer, QUERYDR_RESPONSE_FIELDS, self.secret):
            raise RetryableGatewayError("VNPAY querydr answer has a bad checksum")
        return answer

    @staticmethod
    def _legacy_orders(payment) -> list[GatewayOrder]:
        return [GatewayOrder(order_ref=payment.code, transaction_dates=tuple(transaction_dates(payment)))]

    def query(self, payment, orders: list[GatewayOrder] | None = None) -> QueryResult:
        """querydr for each of the payment's orders (newest first), each under its pay request's create
        date(s); the first that was paid answers, else the first still pending, else the first found."""
        results: list[QueryResult] = []
        for order in orders or self._legacy_orders(payment):
            for transaction_date in order.transaction_dates or (vn_time(payment.created_at),):
                answer = self._querydr(order.order_ref, transaction_date)
                code = answer.get("vnp_ResponseCode")
                if code == "91":
                    continue  # not under this create date: try the pay request before it
                if code != "00":
                    raise RetryableGatewayError(f"VNPAY querydr answered {code}")
                status = answer.get("vnp_TransactionStatus")
                kind = answer.get("vnp_TransactionType") or "01"
                amount_x100 = int(answer.get("vnp_Amount") or 0)
                result = QueryResult(found=True, success=status == "00" and kind == "01", pending=status == "01",
                                     amount=amount_x100 // 100 if amount_x100 % 100 == 0 else -1,
                                     transaction_ref=answer.get("vnp_TransactionNo"), raw_status=status,
                                     order_ref=order.order_ref)
                if result.success:
                    return result
                results.append(result)
                break
        return next((r for r in results if r.pending), results[0] if results else QueryResult(found=False,
                                                                                                raw_status="91"))

    def refund(self, payment, refund, order: GatewayOrder | None = None) -> RefundResult:
        """Refund part or all of `order` (the one that took the money; the payment code's order when not
        given). Raises OutcomeUnknown on 94/99 or a lost answer: only querydr may then tell."""
        order = order or GatewayOrder(payment.code, tuple(transaction_dates(payment)), payment.channel_ref,
                                      payment.paid_amount)
        already = payment.refunded_amount if getattr(refund, "kind", "payment") == "payment" else 0
        full = refund.amount == (order.amount if order.amount is not None else payment.paid_amount) and already == 0
        request_id = getattr(refund, "request_reference", refund.reference)
        code, answer = "91", {}
        for i, transaction_date in enumerate(order.transaction_dates or (vn_time(payment.created_at),)):
            # vnp_RequestId must not repeat within the day: each candidate date is its own request.
            body = build_refund(tmn_code=self.tmn_code, txn_ref=order.order_ref, amount=refund.amount, full=full,
                                transaction_no=order.transaction_ref or payment.channel_ref or "",
                                transaction_date=transaction_date,
                                create_by=(refund.approved_by or refund.requested_by)[:64], ip_addr="127.0.0.1",
                                secret=self.secret, request_id=request_id if i == 0 else f"{request_id}-{i}")
            try:
                answer = self._post(body)
            except RetryableGatewayError as e:
                # Sent, but no answer we can read: VNPAY may have taken it. Never send it blind again.
                raise OutcomeUnknown(f"VNPAY refund: {e}", raw_status="lost") from e
            if not verify_pipe_response(answer, REFUND_RESPONSE_FIELDS, self.secret):
                raise OutcomeUnknown("VNPAY refund answer has a bad checksum", raw_status="checksum")
            code = answer.get("vnp_ResponseCode")
            if code != "91":
                break  # 91: no original under this date, no money moved; any other answer is the answer
        meaning = REFUND_ANSWERS.get(code, "unknown")
        if meaning == "succeeded":
            return RefundResult(success=True, reference=answer.get("vnp_TransactionNo"), raw_status=code,
                                message=answer.get("vnp_Message"))
        if meaning == "unknown":
            raise OutcomeUnknown(f"VNPAY refund answered {code} ({answer.get('vnp_Message')}): "
                                 "to be confirmed by querydr", raw_status=code)
        raise PermanentGatewayError(f"VNPAY refused the refund ({code}: {answer.get('vnp_Message')})")

    def refund_status(self, payment, refund, order: GatewayOrder | None = None) -> RefundStatus:
        """querydr on the refunded order: its vnp_TransactionType/vnp_TransactionStatus say what became of
        the refund (see the assumption above)."""
        order = order or GatewayOrder(payment.code, tuple(transaction_dates(payment)), payment.channel_ref,
                                      payment.paid_amount)
        for transaction_date in order.transaction_dates or (vn_time(payment.created_at),):
            answer = self._querydr(order.order_ref, transaction_date)
            code = answer.get("vnp_ResponseCode")
            if code == "91":
                continue
            if code != "00":
                return RefundStatus("unknown", raw_status=f"querydr {code}", message=answer.get("vnp_Message"))
            kind, status = answer.get("vnp_TransactionType") or "01", answer.get("vnp_TransactionStatus")
            if kind in REFUND_TYPES:
                if str(answer.get("vnp_Amount") or "") != str(refund.amount * 100):
                    return RefundStatus("unknown", raw_status=f"{kind}/{status}",
                                        message="the latest refund of the order is another amount")
                return RefundStatus(REFUND_STATUS.get(status, "pending"), reference=answer.get("vnp_TransactionNo"),
                                    raw_status=f"{kind}/{status}", message=answer.get("vnp_Message"))
            if status == "00":
                return RefundStatus("absent", raw_status=f"{kind}/{status}")  # paid, and no refund on it
            return RefundStatus("unknown", raw_status=f"{kind}/{status}")
        return RefundStatus("unknown", raw_status="91", message="querydr does not find the order")
