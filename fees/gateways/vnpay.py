"""VNPAY 2.1.0: pay URL, IPN verification, querydr and refund.

Payloads and signatures are pure functions (tested on plain dicts); `VnpayGateway` is the thin client.
Amounts cross the wire ×100 (VNPAY's convention); everything else here is whole đồng.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from urllib.parse import quote_plus, urlencode

import requests

from core.clock import VN_TZ, to_local, utcnow
from fees.gateways.base import (
    Checkout,
    GatewayOrder,
    MerchantAccount,
    OutcomeUnknown,
    PaymentGateway,
    PermanentGatewayError,
    QueryResult,
    RefundResult,
    RefundStatus,
    RetryableGatewayError,
)

VERSION = "2.1.0"
DATE_FORMAT = "%Y%m%d%H%M%S"

# IPN answers, as VNPAY expects them.
IPN_ANSWERS = {
    "00": "Confirm Success",
    "01": "Order not found",
    "02": "Order already confirmed",
    "04": "Invalid amount",
    "97": "Invalid signature",
    "99": "Unknow error",
}

QUERYDR_RESPONSE_FIELDS = ["vnp_ResponseId", "vnp_Command", "vnp_ResponseCode", "vnp_Message", "vnp_TmnCode",
                           "vnp_TxnRef", "vnp_Amount", "vnp_BankCode", "vnp_PayDate", "vnp_TransactionNo",
                           "vnp_TransactionType", "vnp_TransactionStatus", "vnp_OrderInfo", "vnp_PromotionCode",
                           "vnp_PromotionAmount"]
QUERYDR_REQUEST_FIELDS = ["vnp_RequestId", "vnp_Version", "vnp_Command", "vnp_TmnCode", "vnp_TxnRef",
                          "vnp_TransactionDate", "vnp_CreateDate", "vnp_IpAddr", "vnp_OrderInfo"]
REFUND_REQUEST_FIELDS = ["vnp_RequestId", "vnp_Version", "vnp_Command", "vnp_TmnCode", "vnp_TransactionType",
                         "vnp_TxnRef", "vnp_Amount", "vnp_TransactionNo", "vnp_TransactionDate", "vnp_CreateBy",
                         "vnp_CreateDate", "vnp_IpAddr", "vnp_OrderInfo"]
REFUND_RESPONSE_FIELDS = ["vnp_ResponseId", "vnp_Command", "vnp_ResponseCode", "vnp_Message", "vnp_TmnCode",
                          "vnp_TxnRef", "vnp_Amount", "vnp_BankCode", "vnp_PayDate", "vnp_TransactionNo",
                          "vnp_TransactionType", "vnp_TransactionStatus", "vnp_OrderInfo"]


# --- What VNPAY's codes mean here ----------------------------------------------------------------------
# Sources (docs/payments/attempts-and-refunds.md): VNPAY's API pages sandbox.vnpayment.vn/apis/docs/
# (thanh-toan-pay/pay.html, truy-van-hoan-tien/querydr&refund.html), as transcribed by the published SDK
# lehuygiang28/vnpay (src/constants/response-map.constant.ts) and by several integrations' code tables.

# The refund API's vnp_ResponseCode -> what it says about the refund.
REFUND_ANSWERS = {
    "00": "succeeded",  # Yêu cầu thành công: VNPAY took the refund
    "02": "failed",     # Merchant không hợp lệ / tổng số tiền hoàn trả lớn hơn số tiền gốc
    "03": "failed",     # Dữ liệu gửi sang không đúng định dạng
    "04": "failed",     # Không cho phép hoàn trả toàn phần sau khi hoàn trả một phần
    "13": "failed",     # Chỉ cho phép hoàn trả một phần
    "91": "failed",     # Không tìm thấy giao dịch yêu cầu hoàn trả (after every candidate create date)
    "93": "failed",     # Số tiền hoàn trả không hợp lệ
    "94": "unknown",    # Yêu cầu trùng lặp trong thời gian giới hạn của API: an earlier one is being processed
    "95": "failed",     # Giao dịch này không thành công bên VNPAY. VNPAY từ chối xử lý yêu cầu
    "97": "failed",     # Checksum không hợp lệ: VNPAY did nothing; the secret must be fixed by a person
    "98": "unknown",    # Timeout Exception (in some transcriptions of the table): it may have been taken
    "99": "unknown",    # Các lỗi khác: it may or may not have been taken
}
# querydr's vnp_TransactionType: 01 payment, 02 full refund, 03 partial refund; vnp_TransactionStatus of a
# refund: 05 VNPAY is processing it, 06 VNPAY sent it to the bank, 09 refused.
REFUND_TYPES = ("02", "03")
REFUND_STATUS = {"05": "pending", "06": "succeeded", "09": "failed", "00": "succeeded"}
# The pay page's answer to a reused vnp_TxnRef (VNPAY's pay error table: "01 Giao dịch đã tồn tại").
TXN_REF_EXISTS = "01"
# ASSUMED (the one place for VNPAY; docs/payments/attempts-and-refunds.md#assumed): (1) querydr on the
# original vnp_TxnRef/vnp_TransactionDate reports the latest refund of it as vnp_TransactionType 02/03
# with that refund's vnp_Amount and its vnp_TransactionStatus (05/06/09), and a never-refunded payment as
# 01/00; VNPAY publishes no sample of such an answer. (2) VNPAY's duplicate window for refund is 5 minutes
# (the SDK tables' "Giới hạn trong 5 phút"); fees.refunds waits longer before sending again.
# (3) A reused vnp_TxnRef is refused whatever the day, and reloading the same pay URL is not a reuse.
DUPLICATE_WINDOW_MINUTES = 5


def hmac_sha512(secret: str, data: str) -> str:
    return hmac.new(secret.encode(), data.encode("utf-8"), hashlib.sha512).hexdigest()


def hash_data(params: dict[str, str]) -> str:
    """The string VNPAY signs: vnp_* fields sorted by name, values URL-encoded (spaces as '+')."""
    items = sorted((k, str(v)) for k, v in params.items()
                   if k.startswith("vnp_") and k not in ("vnp_SecureHash", "vnp_SecureHashType") and v != "")
    return "&".join(f"{k}={quote_plus(v)}" for k, v in items)


def sign_params(params: dict[str, str], secret: str) -> str:
    return hmac_sha512(secret, hash_data(params))


def verify_params(params: dict[str, str], secret: str) -> bool:
    given = (params.get("vnp_SecureHash") or "").lower()
    return bool(given) and hmac.compare_digest(given, sign_params(params, secret))


def sign_pipe(values: list[str], secret: str) -> str:
    """querydr/refund: the listed fields' values joined with '|' (in the documented order)."""
    return hmac_sha512(secret, "|".join(values))


def vn_time(value: datetime | None = None) -> str:
    return to_local(value or utcnow()).strftime(DATE_FORMAT)


def parse_vn_time(value: str) -> datetime:
    return datetime.strptime(value, DATE_FORMAT).replace(tzinfo=VN_TZ)


def build_pay_params(*, tmn_code: str, txn_ref: str, amount: int, order_info: str, return_url: str,
                     ip_addr: str, create_date: datetime, expire_date: datetime, locale: str = "vn",
                     bank_code: str | None = None) -> dict[str, str]:
    params = {
        "vnp_Version": VERSION,
        "vnp_Command": "pay",
        "vnp_TmnCode": tmn_code,
        "vnp_Amount": str(amount * 100),
        "vnp_CurrCode": "VND",
        "vnp_TxnRef": txn_ref,
        "vnp_OrderInfo": order_info,
        "vnp_OrderType": "billpayment",
        "vnp_Locale": locale,
        "vnp_ReturnUrl": return_url,
        "vnp_IpAddr": ip_addr,
        "vnp_CreateDate": vn_time(create_date),
        "vnp_ExpireDate": vn_time(expire_date),
    }
    if bank_code:
        params["vnp_BankCode"] = bank_code
    return params


def pay_url(base_url: str, params: dict[str, str], secret: str) -> str:
    query = hash_data(params)
    return f"{base_url}?{query}&vnp_SecureHash={hmac_sha512(secret, query)}"


def signed_query(params: dict[str, str], secret: str) -> str:
    """A query string with its vnp_SecureHash (what the sandbox sends to IPN and return URLs)."""
    return urlencode({**params, "vnp_SecureHash": sign_params(params, secret)})


def build_querydr(*, tmn_code: str, txn_ref: str, transaction_date: str, ip_addr: str, secret: str,
                  request_id: str | None = None, now: datetime | None = None) -> dict[str, str]:
    body = {
        "vnp_RequestId": request_id or secrets.token_hex(16),
        "vnp_Version": VERSION,
        "vnp_Command": "querydr",
        "vnp_TmnCode": tmn_code,
        "vnp_TxnRef": txn_ref,
        "vnp_OrderInfo": f"Truy van giao dich {txn_ref}",
        "vnp_TransactionDate": transaction_date,
        "vnp_CreateDate": vn_time(now),
        "vnp_IpAddr": ip_addr,
    }
    body["vnp_SecureHash"] = sign_pipe([body[k] for k in QUERYDR_REQUEST_FIELDS], secret)
    return body


def build_refund(*, tmn_code: str, txn_ref: str, amount: int, full: bool, transaction_no: str,
                 transaction_date: str, create_by: str, ip_addr: str, secret: str, request_id: str,
                 now: datetime | None = None) -> dict[str, str]:
    body = {
        "vnp_RequestId": request_id,
        "vnp_Version": VERSION,
        "vnp_Command": "refund",
        "vnp_TmnCode": tmn_code,
        "vnp_TransactionType": "02" if full else "03",
        "vnp_TxnRef": txn_ref,
        "vnp_Amount": str(amount * 100),
        "vnp_TransactionNo": transaction_no or "",
        "vnp_TransactionDate": transaction_date,
        "vnp_CreateBy": create_by,
        "vnp_CreateDate": vn_time(now),
        "vnp_IpAddr": ip_addr,
        "vnp_OrderInfo": f"Hoan tien giao dich {txn_ref}",
    }
    body["vnp_SecureHash"] = sign_pipe([body[k] for k in REFUND_REQUEST_FIELDS], secret)
    return body


def verify_pipe_response(body: dict, fields: list[str], secret: str) -> bool:
    given = str(body.get("vnp_SecureHash") or "").lower()
    expected = sign_pipe([str(body.get(k) or "") for k in fields], secret)
    return bool(given) and hmac.compare_digest(given, expected)


def transaction_dates(payment) -> list[str]:
    """querydr's and refund's vnp_TransactionDate candidates, newest first.

    VNPAY finds the original by vnp_TxnRef and the vnp_CreateDate of the pay request that was paid (not
    vnp_PayDate). A citizen may open VNPAY twice and pay in the first tab, and the IPN does not say which
    pay request it was, so the checkout keeps every create date and the calls try them in turn.
    """
    extra = payment.extra or {}
    dates = [d for d in extra.get("vnpay_create_dates") or [] if d]
    if extra.get("vnpay_create_date") and extra["vnpay_create_date"] not in dates:
        dates.append(extra["vnpay_create_date"])
    return list(reversed(dates)) or [vn_time(payment.created_at)]


def transaction_date(payment) -> str:
    return transaction_dates(payment)[0]


class VnpayGateway(PaymentGateway):
    name = "vnpay"
    required_settings = ("HCC_VNPAY_TMN_CODE", "HCC_VNPAY_HASH_SECRET", "HCC_VNPAY_PAY_URL", "HCC_VNPAY_API_URL")

    def default_account(self) -> MerchantAccount:
        return MerchantAccount(gateway=self.name, tmn_code=self.setting("HCC_VNPAY_TMN_CODE", "HCCSBX01"),
                               hash_secret=self.setting("HCC_VNPAY_HASH_SECRET", "SANDBOXVNPAYSECRETHCC0000000000"))

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
        from datetime import timedelta

        now = utcnow()
        expire = payment.expires_at if payment.expires_at and payment.expires_at > now else None
        txn_ref = order_ref or payment.code
        params = build_pay_params(tmn_code=self.tmn_code, txn_ref=txn_ref, amount=payment.amount,
                                  order_info=f"Thanh toan phi le phi ho so {payment.dossier_code}",
                                  return_url=return_url, ip_addr=client_ip, create_date=now,
                                  expire_date=expire or now + timedelta(minutes=15))
        return Checkout(channel=self.name, redirect_url=pay_url(self.pay_base, params, self.secret),
                        reference=txn_ref, extra={"create_date": params["vnp_CreateDate"]})

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
