"""VNPAY's side: checking a pay URL, the IPN and return parameters it sends, querydr and refund answers.

Like VNPAY it refuses a vnp_TxnRef it already has (pay error "01: Giao dịch đã tồn tại"), answers a refund
with the documented codes (00, 02, 03, 04, 91, 93, 94, 95, 97, 99), and shows a refund through querydr
(vnp_TransactionType 02/03, vnp_TransactionStatus 05/06/09). A test forces an answer once with
fees.gateways.ledger.inject("vnpay", "refund" | "querydr", ...).
"""

from __future__ import annotations

import secrets
from urllib.parse import parse_qsl, urlencode

from core.clock import utcnow
from core.settings import Settings
from fees.gateways import ledger
from fees.gateways.base import Checkout, SandboxRequest, SandboxResponse, SandboxRoute
from fees.gateways.vnpay import payloads as wire


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
    known = ledger.get("vnpay", params["vnp_TxnRef"])
    if known is not None and (known.status != "pending" or known.data.get("create_date") != params["vnp_CreateDate"]
                              or known.data.get("tmn_code", tmn_code) != tmn_code):
        # The merchant's reference must be unique: a second pay request under it is refused, even after a
        # cancel. The same URL opened again (same create date, still unpaid) is the same request.
        return f"{wire.TXN_REF_EXISTS}: Giao dịch đã tồn tại (vnp_TxnRef đã được sử dụng)"
    if expire < utcnow():
        return "11: Đã hết hạn chờ thanh toán"
    return None


def open_order(params: dict[str, str]) -> ledger.SandboxTxn:
    """VNPAY registers the order when its pay page is opened with an acceptable request."""
    txn = ledger.get("vnpay", params["vnp_TxnRef"])
    if txn is None:
        txn = ledger.put(ledger.SandboxTxn("vnpay", params["vnp_TxnRef"], int(params["vnp_Amount"]) // 100))
        txn.data.update(create_date=params.get("vnp_CreateDate"), order_info=params.get("vnp_OrderInfo"),
                        tmn_code=params.get("vnp_TmnCode"))
    return txn


def complete(params: dict[str, str], secret: str, *, success: bool) -> dict[str, str]:
    """The citizen paid (or cancelled): record it and build the signed result VNPAY sends to IPN and return URL."""
    txn_ref, amount = params["vnp_TxnRef"], int(params["vnp_Amount"]) // 100
    txn = open_order(params)
    txn.amount = amount
    pay_date = wire.vn_time(utcnow())
    transaction_no = str(14000000 + secrets.randbelow(9_000_000)) if success else "0"
    if success:
        txn.status, txn.transaction_no, txn.pay_date = "paid", transaction_no, pay_date
    else:
        txn.status = "cancelled"
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


def _querydr(body: dict, secret: str, tmn_code: str, response_id: str) -> dict[str, str]:
    command = "querydr"
    if not wire.verify_pipe_response(body, wire.QUERYDR_REQUEST_FIELDS, secret):
        return _answer(wire.QUERYDR_RESPONSE_FIELDS, {"vnp_ResponseId": response_id, "vnp_Command": command,
                                                      "vnp_ResponseCode": "97", "vnp_Message": "Invalid checksum",
                                                      "vnp_TmnCode": body.get("vnp_TmnCode", "")}, secret)
    fault = ledger.next_fault("vnpay", "querydr")
    if fault is not None:
        if fault.answer == "lost":
            raise ledger.AnswerLost
        return _answer(wire.QUERYDR_RESPONSE_FIELDS, {"vnp_ResponseId": response_id, "vnp_Command": command,
                                                      "vnp_ResponseCode": str(fault.answer),
                                                      "vnp_Message": "Injected answer", "vnp_TmnCode": tmn_code,
                                                      "vnp_TxnRef": body.get("vnp_TxnRef", "")}, secret)
    txn = _original(body)
    if txn is None:
        return _answer(wire.QUERYDR_RESPONSE_FIELDS, {"vnp_ResponseId": response_id, "vnp_Command": command,
                                                      "vnp_ResponseCode": "91", "vnp_Message": "Not found",
                                                      "vnp_TmnCode": tmn_code, "vnp_TxnRef": body.get("vnp_TxnRef", "")},
                       secret)
    kind, amount = "01", txn.amount
    status = {"paid": "00", "pending": "01"}.get(txn.status, "02")
    if txn.refunds:
        # The latest refund of the order: its type (02 full, 03 partial), amount and state (05/06/09).
        latest = txn.refunds[-1]
        kind, amount, status = latest["type"], latest["amount"], latest["status"]
    return _answer(wire.QUERYDR_RESPONSE_FIELDS, {
        "vnp_ResponseId": response_id, "vnp_Command": command, "vnp_ResponseCode": "00",
        "vnp_Message": "QueryDR Success", "vnp_TmnCode": tmn_code, "vnp_TxnRef": txn.order_id,
        "vnp_Amount": str(amount * 100), "vnp_BankCode": "NCB", "vnp_PayDate": txn.pay_date or "",
        "vnp_TransactionNo": txn.transaction_no or "0", "vnp_TransactionType": kind,
        "vnp_TransactionStatus": status, "vnp_OrderInfo": txn.data.get("order_info", ""),
        "vnp_PromotionCode": "", "vnp_PromotionAmount": ""}, secret)


def _take_refund(txn: ledger.SandboxTxn, body: dict, status: str = "06") -> None:
    amount = int(body["vnp_Amount"]) // 100
    txn.refund_requests.add(body["vnp_RequestId"])
    txn.refunded += amount
    txn.refunds.append({"request_id": body["vnp_RequestId"], "amount": amount, "type": body["vnp_TransactionType"],
                        "status": status, "at": wire.vn_time(utcnow())})


def _refund(body: dict, secret: str, tmn_code: str, response_id: str) -> dict[str, str]:
    command = "refund"
    base = {"vnp_ResponseId": response_id, "vnp_Command": command, "vnp_TmnCode": tmn_code,
            "vnp_TxnRef": body.get("vnp_TxnRef", ""), "vnp_Amount": body.get("vnp_Amount", ""),
            "vnp_OrderInfo": body.get("vnp_OrderInfo", ""), "vnp_TransactionType": body.get("vnp_TransactionType", "")}

    def answer(code: str, message: str, **more) -> dict[str, str]:
        return _answer(wire.REFUND_RESPONSE_FIELDS, {**base, "vnp_ResponseCode": code, "vnp_Message": message,
                                                     **more}, secret)

    if not wire.verify_pipe_response(body, wire.REFUND_REQUEST_FIELDS, secret):
        return answer("97", "Invalid checksum")
    if body.get("vnp_TmnCode") != tmn_code:
        return answer("02", "Invalid TmnCode")
    txn = _original(body)
    fault = ledger.next_fault("vnpay", "refund")
    if fault is not None:
        if fault.apply and txn is not None and txn.status == "paid":
            _take_refund(txn, body, str(fault.refund_status or "06"))
        if fault.answer == "lost":
            raise ledger.AnswerLost
        return answer(str(fault.answer), "Injected answer")
    if txn is None:
        return answer("91", "Transaction not found")
    if txn.status != "paid":
        return answer("95", "Transaction is not successful at VNPAY; refund refused")
    if body["vnp_RequestId"] in txn.refund_requests:
        return answer("94", "Duplicate request")
    try:
        amount_x100 = int(body["vnp_Amount"])
    except (KeyError, ValueError):
        return answer("03", "Invalid data format")
    amount, kind = amount_x100 // 100, body.get("vnp_TransactionType")
    if kind not in ("02", "03") or amount_x100 % 100 or amount <= 0:
        return answer("03", "Invalid data format")
    if kind == "02" and txn.refunded:
        return answer("04", "Full refund not allowed after a partial refund")
    if (kind == "02" and amount != txn.amount) or amount > txn.amount - txn.refunded:
        # 02 is the whole original amount, once; no refund beyond what is left.
        return answer("93", "Invalid refund amount")
    _take_refund(txn, body)
    return answer("00", "Refund success", vnp_BankCode="NCB", vnp_PayDate=wire.vn_time(utcnow()),
                  vnp_TransactionNo=txn.transaction_no or "", vnp_TransactionStatus="06")


def api(body: dict, secret: str, tmn_code: str) -> dict[str, str]:
    """The merchant_webapi endpoint: querydr and refund, with their '|'-joined checksums.

    Raises ledger.AnswerLost when a fault says the answer never reaches the merchant."""
    command = body.get("vnp_Command")
    response_id = secrets.token_hex(16)
    if command == "querydr":
        return _querydr(body, secret, tmn_code, response_id)
    if command == "refund":
        return _refund(body, secret, tmn_code, response_id)
    return {"vnp_ResponseId": response_id, "vnp_ResponseCode": "99", "vnp_Message": "Unknown command"}


def settle_refund(txn_ref: str, status: str = "06") -> None:
    """VNPAY finishes processing the latest refund of an order (05 -> 06 sent to the bank, or 09 refused)."""
    txn = ledger.get("vnpay", txn_ref)
    if txn is not None and txn.refunds:
        txn.refunds[-1]["status"] = status
        if status == "09":
            txn.refunded -= txn.refunds[-1]["amount"]


# --- The routes, mounted under /sandbox/vnpay by api/fees/sandbox.py ----------------------------------

def pay_page(req: SandboxRequest) -> SandboxResponse:
    """VNPAY's pay page: checks the signed pay URL, takes the vnp_TxnRef, shows the order."""
    params = dict(req.args)
    account = req.merchant(params.get("vnp_TmnCode"))
    error = check_pay_request(params, account.hash_secret, account.tmn_code)
    if not error:
        open_order(params)  # VNPAY has the order from here: its vnp_TxnRef is taken
    amount = int(params.get("vnp_Amount", "0") or 0) // 100 if not error else 0
    return SandboxResponse(status=400 if error else 200, template="fees/sandbox_vnpay.html",
                           context={"error": error, "params": params, "amount": amount, "query": req.query_string,
                                    "pay_action": "/sandbox/vnpay/paymentv2/pay"})


def pay(req: SandboxRequest) -> SandboxResponse:
    """The citizen confirms or cancels: VNPAY sends the IPN, then sends the browser to the return URL."""
    params = dict(parse_qsl(req.form.get("query", ""), keep_blank_values=True))
    account = req.merchant(params.get("vnp_TmnCode"))
    if check_pay_request(params, account.hash_secret, account.tmn_code):
        return SandboxResponse(status=400, body=b"bad pay request")
    result = complete(params, account.hash_secret, success=req.form.get("action") == "pay")
    ipn_url = req.settings.get("HCC_VNPAY_SANDBOX_IPN_URL") or f"{req.settings.public_url}/callbacks/vnpay/ipn"
    req.notify("GET", ipn_url, params=result)
    back = params["vnp_ReturnUrl"]
    return SandboxResponse(redirect=f"{back}{'&' if '?' in back else '?'}{urlencode(result)}")


def transaction_api(req: SandboxRequest) -> SandboxResponse:
    """merchant_webapi/api/transaction: querydr and refund."""
    if not isinstance(req.json, dict):
        return SandboxResponse(json={"vnp_ResponseCode": "03", "vnp_Message": "Invalid request format"})
    account = req.merchant(req.json.get("vnp_TmnCode"))
    try:
        return SandboxResponse(json=api(req.json, account.hash_secret, account.tmn_code))
    except ledger.AnswerLost:
        return SandboxResponse(status=504, body=b"upstream timed out")  # handled, but the answer never arrives


ROUTES = [
    SandboxRoute("/paymentv2/vpcpay.html", ("GET",), pay_page),
    SandboxRoute("/paymentv2/pay", ("POST",), pay),
    SandboxRoute("/merchant_webapi/api/transaction", ("POST",), transaction_api),
]


def citizen_pays(checkout: Checkout, *, amount: int, settings: Settings, success: bool = True) -> list[tuple[str, str, dict]]:
    """The browser's requests that pay (or cancel) `checkout` at this sandbox: open VNPAY's page, confirm."""
    base, _, query = checkout.redirect_url.partition("?")
    return [("GET", checkout.redirect_url, {}),
            ("POST", base.rsplit("/", 1)[0] + "/pay", {"query": query, "action": "pay" if success else "cancel"})]
