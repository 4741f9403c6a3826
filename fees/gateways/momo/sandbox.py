"""MoMo's side: create, the IPN it sends, query and refund, signed as MoMo signs them.

A refund is MoMo's own order (a new orderId): the query of the purchase lists it in refundTrans. A test
forces an answer once with fees.gateways.ledger.inject("momo", "refund" | "query" | "create", ...).
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlencode

from core.clock import VN_TZ, utcnow
from core.settings import Settings
from fees.gateways import ledger
from fees.gateways.base import Checkout, SandboxRequest, SandboxResponse, SandboxRoute
from fees.gateways.momo import payloads as wire


def create(body: dict, *, partner_code: str, access_key: str, secret_key: str, pay_base: str) -> dict:
    base = {"partnerCode": body.get("partnerCode"), "requestId": body.get("requestId"),
            "orderId": body.get("orderId"), "amount": body.get("amount"), "responseTime": int(time.time() * 1000)}
    if not wire.verify(body, wire.CREATE_FIELDS, access_key, secret_key) or body.get("partnerCode") != partner_code:
        return {**base, "resultCode": 11, "message": "Truy cập bị từ chối (chữ ký không hợp lệ)."}
    try:
        amount = int(body["amount"])
    except (KeyError, ValueError, TypeError):
        return {**base, "resultCode": 20, "message": "Yêu cầu sai định dạng."}
    if amount < 1000 or amount > 50_000_000:
        return {**base, "resultCode": 22, "message": "Số tiền giao dịch không hợp lệ."}
    fault = ledger.next_fault("momo", "create")
    if fault is not None:
        return {**base, "resultCode": int(fault.answer), "message": "Injected answer."}
    if ledger.exists("momo", body["orderId"]):
        return {**base, "resultCode": 41, "message": "OrderId bị trùng."}
    ledger.put(ledger.SandboxTxn("momo", body["orderId"], amount, data={
        "requestId": body["requestId"], "orderInfo": body.get("orderInfo", ""), "ipnUrl": body["ipnUrl"],
        "redirectUrl": body["redirectUrl"], "extraData": body.get("extraData", "")}))
    pay_url = f"{pay_base}/pay/{body['orderId']}"
    answer = {**base, "resultCode": 0, "message": "Thành công.", "payUrl": pay_url,
              "deeplink": f"momo://app?action=payWithApp&orderId={body['orderId']}", "qrCodeUrl": pay_url}
    answer["signature"] = wire.sign(answer, wire.CREATE_RESPONSE_FIELDS, access_key, secret_key)
    return answer


def complete(order_id: str, *, success: bool, partner_code: str, access_key: str, secret_key: str) -> dict | None:
    """The citizen confirmed (or cancelled) in the MoMo app: the signed IPN/redirect parameters."""
    txn = ledger.get("momo", order_id)
    if txn is None:
        return None
    trans_id = int(f"4{secrets.randbelow(10**9):09d}")
    if txn.status != "pending":
        return None  # a MoMo order is paid or cancelled once
    if success:
        txn.status, txn.transaction_no = "paid", str(trans_id)
        txn.pay_date = utcnow().astimezone(VN_TZ).strftime("%Y%m%d%H%M%S")  # for the day's settlement report
    else:
        txn.status = "cancelled"
    result = {"partnerCode": partner_code, "orderId": order_id, "requestId": txn.data["requestId"],
              "amount": txn.amount, "orderInfo": txn.data["orderInfo"], "orderType": "momo_wallet",
              "transId": trans_id, "resultCode": 0 if success else 1006,
              "message": "Thành công." if success else "Người dùng đã từ chối xác nhận thanh toán.",
              "payType": "qr", "responseTime": int(time.time() * 1000), "extraData": txn.data["extraData"]}
    result["signature"] = wire.sign(result, wire.IPN_FIELDS, access_key, secret_key)
    return result


def _refund_trans(txn: ledger.SandboxTxn) -> list[dict]:
    return [{"orderId": r["request_id"], "amount": r["amount"], "resultCode": r["status"], "transId": r["trans_id"],
             "createdTime": r["at"]} for r in txn.refunds]


def query(body: dict, *, access_key: str, secret_key: str) -> dict:
    base = {"partnerCode": body.get("partnerCode"), "orderId": body.get("orderId"),
            "requestId": body.get("requestId"), "responseTime": int(time.time() * 1000)}
    if not wire.verify(body, wire.QUERY_FIELDS, access_key, secret_key):
        return {**base, "resultCode": 11, "message": "Chữ ký không hợp lệ."}
    fault = ledger.next_fault("momo", "query")
    if fault is not None:
        if fault.answer == "lost":
            raise ledger.AnswerLost
        return {**base, "resultCode": int(fault.answer), "message": "Injected answer."}
    txn = ledger.get("momo", body.get("orderId", ""))
    if txn is None:
        return {**base, "resultCode": 42, "message": "Không tìm thấy giao dịch."}
    code = {"paid": 0, "pending": 1000, "authorized": wire.AUTHORIZED}.get(txn.status, 1006)
    return {**base, "resultCode": code, "message": "Thành công." if code == 0 else "Đang chờ.",
            "amount": txn.amount, "transId": int(txn.transaction_no or 0), "payType": "qr", "extraData": "",
            "refundTrans": _refund_trans(txn)}


def _take_refund(original: ledger.SandboxTxn, body: dict, status: int = 0) -> int:
    trans_id = int(f"5{secrets.randbelow(10**9):09d}")
    original.refund_requests.add(body["orderId"])
    if status == 0:
        original.refunded += int(body["amount"])
    original.refunds.append({"request_id": body["orderId"], "amount": int(body["amount"]), "status": status,
                             "trans_id": trans_id, "at": int(time.time() * 1000)})
    return trans_id


def refund(body: dict, *, access_key: str, secret_key: str) -> dict:
    base = {"partnerCode": body.get("partnerCode"), "orderId": body.get("orderId"),
            "requestId": body.get("requestId"), "amount": body.get("amount"), "transId": body.get("transId"),
            "responseTime": int(time.time() * 1000)}
    if not wire.verify(body, wire.REFUND_FIELDS, access_key, secret_key):
        return {**base, "resultCode": 11, "message": "Chữ ký không hợp lệ."}
    original = ledger.find("momo", transaction_no=str(body.get("transId")))
    fault = ledger.next_fault("momo", "refund")
    if fault is not None:
        if fault.apply and original is not None and original.status == "paid":
            _take_refund(original, body, int(fault.refund_status or 0))
        if fault.answer == "lost":
            raise ledger.AnswerLost
        return {**base, "resultCode": int(fault.answer), "message": "Injected answer."}
    if original is None or original.status != "paid":
        return {**base, "resultCode": 42, "message": "Không tìm thấy giao dịch."}
    if body["orderId"] in original.refund_requests or ledger.exists("momo", body["orderId"]):
        return {**base, "resultCode": 41, "message": "OrderId bị trùng."}
    amount = int(body["amount"])
    if amount < 1000:
        return {**base, "resultCode": 21, "message": "Số tiền giao dịch không hợp lệ."}
    if amount > original.amount - original.refunded:
        return {**base, "resultCode": 22, "message": "Số tiền hoàn vượt quá số tiền giao dịch."}
    return {**base, "resultCode": 0, "message": "Thành công.", "transId": _take_refund(original, body)}


def settle_refund(order_id: str, refund_order_id: str, status: int = 0) -> None:
    """MoMo finishes processing a refund it had answered as pending (7000 ...): 0 done, or another code."""
    txn = ledger.get("momo", order_id)
    for r in txn.refunds if txn is not None else []:
        if r["request_id"] == refund_order_id:
            if status == 0 and r["status"] != 0:
                txn.refunded += r["amount"]
            r["status"] = status


# --- The routes, mounted under /sandbox/momo by api/fees/sandbox.py -----------------------------------

def _keys(req: SandboxRequest, partner_code) -> dict:
    account = req.merchant(partner_code if isinstance(partner_code, str) else None)
    return {"partner_code": account.partner_code, "access_key": account.access_key, "secret_key": account.secret_key}


def _body(req: SandboxRequest) -> dict:
    return req.json if isinstance(req.json, dict) else {}


def create_order(req: SandboxRequest) -> SandboxResponse:
    body = _body(req)
    answer = create(body, **_keys(req, body.get("partnerCode")), pay_base=f"{req.settings.public_url}/sandbox/momo")
    if answer.get("resultCode") == 0:
        # The order is the partner's: its IPN is signed with that partner's keys.
        ledger.get("momo", body["orderId"]).data["partnerCode"] = body["partnerCode"]
    return SandboxResponse(json=answer)


def query_order(req: SandboxRequest) -> SandboxResponse:
    body = _body(req)
    keys = _keys(req, body.get("partnerCode"))
    try:
        return SandboxResponse(json=query(body, access_key=keys["access_key"], secret_key=keys["secret_key"]))
    except ledger.AnswerLost:
        return SandboxResponse(status=504, body=b"upstream timed out")


def refund_order(req: SandboxRequest) -> SandboxResponse:
    body = _body(req)
    keys = _keys(req, body.get("partnerCode"))
    try:
        return SandboxResponse(json=refund(body, access_key=keys["access_key"], secret_key=keys["secret_key"]))
    except ledger.AnswerLost:
        return SandboxResponse(status=504, body=b"upstream timed out")  # handled, but the answer never arrives


def pay_page(req: SandboxRequest) -> SandboxResponse:
    txn = ledger.get("momo", req.path_args["order_id"])
    if txn is None:
        return SandboxResponse(status=404, body=b"no such order")
    return SandboxResponse(template="fees/sandbox_momo.html", context={"txn": txn})


def pay(req: SandboxRequest) -> SandboxResponse:
    """The citizen confirms or cancels in the MoMo app: MoMo sends the IPN, then the browser back."""
    order_id = req.path_args["order_id"]
    txn = ledger.get("momo", order_id)
    if txn is None:
        return SandboxResponse(status=404, body=b"no such order")
    result = complete(order_id, success=req.form.get("action") == "pay", **_keys(req, txn.data.get("partnerCode")))
    if result is None:
        return SandboxResponse(status=400, body=b"paid or cancelled already")
    req.notify("POST", txn.data["ipnUrl"], json=result)
    target = txn.data["redirectUrl"]
    return SandboxResponse(redirect=f"{target}{'&' if '?' in target else '?'}{urlencode(result)}")


ROUTES = [
    SandboxRoute("/v2/gateway/api/create", ("POST",), create_order),
    SandboxRoute("/v2/gateway/api/query", ("POST",), query_order),
    SandboxRoute("/v2/gateway/api/refund", ("POST",), refund_order),
    SandboxRoute("/pay/<order_id>", ("GET",), pay_page),
    SandboxRoute("/pay/<order_id>", ("POST",), pay),
]


def citizen_pays(checkout: Checkout, *, amount: int, settings: Settings, success: bool = True) -> list[tuple[str, str, dict]]:
    """The browser's requests that pay (or cancel) `checkout` at this sandbox: confirm in the MoMo app."""
    return [("POST", checkout.redirect_url, {"action": "pay" if success else "cancel"})]
