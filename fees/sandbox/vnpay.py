"""VNPAY's side: checking a pay URL, the IPN and return parameters it sends, querydr and refund answers."""

from __future__ import annotations

import secrets

from core.clock import utcnow
from fees.gateways import vnpay as wire
from fees.sandbox import ledger


def check_pay_request(params: dict[str, str], secret: str, tmn_code: str) -> str | None:
    """None when the pay URL is acceptable, else VNPAY's error text."""
    if not wire.verify_params(params, secret):
        return "70: Sai chữ ký (invalid signature)"
    if params.get("vnp_TmnCode") != tmn_code:
        return "02: Merchant không hợp lệ (invalid TmnCode)"
    if params.get("vnp_Version") != wire.VERSION or params.get("vnp_Command") != "pay":
        return "03: Dữ liệu gửi sang không đúng định dạng"
    try:
        created = wire.parse_vn_time(params["vnp_CreateDate"])
        expire = wire.parse_vn_time(params["vnp_ExpireDate"])
        amount_x100 = int(params["vnp_Amount"])
        missing = [k for k in ("vnp_TxnRef", "vnp_OrderInfo", "vnp_ReturnUrl", "vnp_IpAddr", "vnp_Locale")
                   if not params.get(k)]
    except (KeyError, ValueError):
        return "03: Dữ liệu gửi sang không đúng định dạng"
    if missing or params.get("vnp_CurrCode") != "VND" or amount_x100 <= 0 or amount_x100 % 100 \
            or expire <= created:
        return "03: Dữ liệu gửi sang không đúng định dạng"
    if expire < utcnow():
        return "11: Đã hết hạn chờ thanh toán"
    return None


def complete(params: dict[str, str], secret: str, *, success: bool) -> dict[str, str]:
    """The citizen paid (or cancelled): record it and build the signed result VNPAY sends to IPN and return URL."""
    txn_ref, amount = params["vnp_TxnRef"], int(params["vnp_Amount"]) // 100
    txn = ledger.get("vnpay", txn_ref) or ledger.put(ledger.SandboxTxn("vnpay", txn_ref, amount))
    txn.amount = amount
    txn.data["create_date"] = params.get("vnp_CreateDate")
    txn.data["order_info"] = params.get("vnp_OrderInfo")
    pay_date = wire.vn_time(utcnow())
    transaction_no = str(14000000 + secrets.randbelow(9_000_000)) if success else "0"
    if success:
        txn.status, txn.transaction_no, txn.pay_date = "paid", transaction_no, pay_date
    result = {
        "vnp_Amount": params["vnp_Amount"],
        "vnp_BankCode": "NCB",
        "vnp_CardType": "ATM",
        "vnp_OrderInfo": params.get("vnp_OrderInfo", ""),
        "vnp_PayDate": pay_date,
        "vnp_ResponseCode": "00" if success else "24",
        "vnp_TmnCode": params["vnp_TmnCode"],
        "vnp_TransactionNo": transaction_no,
        "vnp_TransactionStatus": "00" if success else "02",
        "vnp_TxnRef": txn_ref,
    }
    if success:
        result["vnp_BankTranNo"] = f"VNP{transaction_no}"
    result["vnp_SecureHash"] = wire.sign_params(result, secret)
    return result


def _answer(fields: list[str], body: dict[str, str], secret: str) -> dict[str, str]:
    body["vnp_SecureHash"] = wire.sign_pipe([str(body.get(k) or "") for k in fields], secret)
    return body


def _original(body: dict) -> ledger.SandboxTxn | None:
    """VNPAY finds the original payment by vnp_TxnRef and vnp_TransactionDate (the pay's vnp_CreateDate)."""
    txn = ledger.get("vnpay", body.get("vnp_TxnRef", ""))
    if txn is None or body.get("vnp_TransactionDate") != txn.data.get("create_date"):
        return None
    return txn


def api(body: dict, secret: str, tmn_code: str) -> dict[str, str]:
    """The merchant_webapi endpoint: querydr and refund, with their '|'-joined checksums."""
    command = body.get("vnp_Command")
    response_id = secrets.token_hex(16)
    if command == "querydr":
        if not wire.verify_pipe_response(body, wire.QUERYDR_REQUEST_FIELDS, secret):
            return _answer(wire.QUERYDR_RESPONSE_FIELDS, {"vnp_ResponseId": response_id, "vnp_Command": command,
                                                          "vnp_ResponseCode": "97", "vnp_Message": "Invalid checksum",
                                                          "vnp_TmnCode": body.get("vnp_TmnCode", "")}, secret)
        txn = _original(body)
        if txn is None:
            return _answer(wire.QUERYDR_RESPONSE_FIELDS, {"vnp_ResponseId": response_id, "vnp_Command": command,
                                                          "vnp_ResponseCode": "91", "vnp_Message": "Not found",
                                                          "vnp_TmnCode": tmn_code, "vnp_TxnRef": body.get("vnp_TxnRef", "")},
                           secret)
        status = {"paid": "00", "pending": "01"}.get(txn.status, "02")
        if txn.status == "paid" and txn.refunded:
            status = "05" if txn.refunded < txn.amount else "06"
        return _answer(wire.QUERYDR_RESPONSE_FIELDS, {
            "vnp_ResponseId": response_id, "vnp_Command": command, "vnp_ResponseCode": "00",
            "vnp_Message": "QueryDR Success", "vnp_TmnCode": tmn_code, "vnp_TxnRef": txn.order_id,
            "vnp_Amount": str(txn.amount * 100), "vnp_BankCode": "NCB", "vnp_PayDate": txn.pay_date or "",
            "vnp_TransactionNo": txn.transaction_no or "0", "vnp_TransactionType": "01",
            "vnp_TransactionStatus": status, "vnp_OrderInfo": txn.data.get("order_info", ""),
            "vnp_PromotionCode": "", "vnp_PromotionAmount": ""}, secret)
    if command == "refund":
        base = {"vnp_ResponseId": response_id, "vnp_Command": command, "vnp_TmnCode": tmn_code,
                "vnp_TxnRef": body.get("vnp_TxnRef", ""), "vnp_Amount": body.get("vnp_Amount", ""),
                "vnp_OrderInfo": body.get("vnp_OrderInfo", ""), "vnp_TransactionType": body.get("vnp_TransactionType", "")}
        if not wire.verify_pipe_response(body, wire.REFUND_REQUEST_FIELDS, secret):
            return _answer(wire.REFUND_RESPONSE_FIELDS, {**base, "vnp_ResponseCode": "97",
                                                         "vnp_Message": "Invalid checksum"}, secret)
        txn = _original(body)
        if txn is None or txn.status != "paid":
            return _answer(wire.REFUND_RESPONSE_FIELDS, {**base, "vnp_ResponseCode": "91",
                                                         "vnp_Message": "Transaction not found"}, secret)
        if body["vnp_RequestId"] in txn.refund_requests:
            return _answer(wire.REFUND_RESPONSE_FIELDS, {**base, "vnp_ResponseCode": "94",
                                                         "vnp_Message": "Duplicate request"}, secret)
        amount = int(body["vnp_Amount"]) // 100
        full = body.get("vnp_TransactionType") == "02"
        if body.get("vnp_TransactionType") not in ("02", "03") or (full and (amount != txn.amount or txn.refunded)):
            # 02 is the whole original amount, once; anything less is 03 (partial).
            return _answer(wire.REFUND_RESPONSE_FIELDS, {**base, "vnp_ResponseCode": "03",
                                                         "vnp_Message": "Invalid refund type or amount"}, secret)
        if amount > txn.amount - txn.refunded:
            return _answer(wire.REFUND_RESPONSE_FIELDS, {**base, "vnp_ResponseCode": "03",
                                                         "vnp_Message": "Refund amount exceeds"}, secret)
        txn.refund_requests.add(body["vnp_RequestId"])
        txn.refunded += amount
        return _answer(wire.REFUND_RESPONSE_FIELDS, {
            **base, "vnp_ResponseCode": "00", "vnp_Message": "Refund success", "vnp_BankCode": "NCB",
            "vnp_PayDate": wire.vn_time(utcnow()), "vnp_TransactionNo": txn.transaction_no or "",
            "vnp_TransactionStatus": "05" if txn.refunded < txn.amount else "06"}, secret)
    return {"vnp_ResponseId": response_id, "vnp_ResponseCode": "99", "vnp_Message": "Unknown command"}
