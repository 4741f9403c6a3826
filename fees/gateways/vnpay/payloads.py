"""VNPAY 2.1.0 messages: pay URL, IPN verification, querydr and refund, as pure functions.

Tested on plain dicts; `client.VnpayGateway` is the thin client that sends them. Amounts cross the wire
×100 (VNPAY's convention); everything else here is whole đồng.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from urllib.parse import quote_plus, urlencode

from core.clock import VN_TZ, to_local, utcnow

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
