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
    DuplicateError,
    MerchantAccount,
    PaymentGateway,
    PermanentGatewayError,
    QueryResult,
    RefundResult,
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

    def checkout(self, payment, *, return_url: str, client_ip: str = "127.0.0.1") -> Checkout:
        now = utcnow()
        expire = payment.expires_at if payment.expires_at and payment.expires_at > now else None
        from datetime import timedelta

        params = build_pay_params(tmn_code=self.tmn_code, txn_ref=payment.code, amount=payment.amount,
                                  order_info=f"Thanh toan phi le phi ho so {payment.dossier_code}",
                                  return_url=return_url, ip_addr=client_ip, create_date=now,
                                  expire_date=expire or now + timedelta(minutes=15))
        return Checkout(channel=self.name, redirect_url=pay_url(self.pay_base, params, self.secret),
                        reference=payment.code, extra={"create_date": params["vnp_CreateDate"]})

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

    def query(self, payment) -> QueryResult:
        for transaction_date in transaction_dates(payment):
            body = build_querydr(tmn_code=self.tmn_code, txn_ref=payment.code, transaction_date=transaction_date,
                                 ip_addr="127.0.0.1", secret=self.secret)
            answer = self._post(body)
            if not verify_pipe_response(answer, QUERYDR_RESPONSE_FIELDS, self.secret):
                raise RetryableGatewayError("VNPAY querydr answer has a bad checksum")
            code = answer.get("vnp_ResponseCode")
            if code == "91":
                continue  # not under this create date: try the pay request before it
            if code != "00":
                raise RetryableGatewayError(f"VNPAY querydr answered {code}")
            status = answer.get("vnp_TransactionStatus")
            amount_x100 = int(answer.get("vnp_Amount") or 0)
            return QueryResult(found=True, success=status == "00", pending=status == "01",
                               amount=amount_x100 // 100 if amount_x100 % 100 == 0 else -1,
                               transaction_ref=answer.get("vnp_TransactionNo"), raw_status=status)
        return QueryResult(found=False, raw_status="91")

    def refund(self, payment, refund) -> RefundResult:
        code, answer = "91", {}
        for i, transaction_date in enumerate(transaction_dates(payment)):
            # vnp_RequestId must not repeat within the day: each candidate date is its own request.
            body = build_refund(tmn_code=self.tmn_code, txn_ref=payment.code, amount=refund.amount,
                                full=refund.amount == payment.paid_amount and payment.refunded_amount == 0,
                                transaction_no=payment.channel_ref or "", transaction_date=transaction_date,
                                create_by=(refund.approved_by or refund.requested_by)[:64], ip_addr="127.0.0.1",
                                secret=self.secret, request_id=refund.reference if i == 0 else f"{refund.reference}-{i}")
            answer = self._post(body)
            if not verify_pipe_response(answer, REFUND_RESPONSE_FIELDS, self.secret):
                raise RetryableGatewayError("VNPAY refund answer has a bad checksum")
            code = answer.get("vnp_ResponseCode")
            if code != "91":
                break  # 91: no original under this date, no money moved; any other answer is the answer
        if code == "00":
            return RefundResult(success=True, reference=answer.get("vnp_TransactionNo"), raw_status=code,
                                message=answer.get("vnp_Message"))
        if code == "94":
            raise DuplicateError("VNPAY: a refund with this request id is already being processed")
        if code in ("99", "75"):
            raise RetryableGatewayError(f"VNPAY refund answered {code}")
        raise PermanentGatewayError(f"VNPAY refused the refund ({code}: {answer.get('vnp_Message')})")
