"""ZaloPay's side in the embedded default: /v2/create, its pay page, the callback, /v2/query, /v2/refund and
/v2/query_refund, signed and coded as ZaloPay does (fees.gateways.zalopay.payloads).

Orders are kept in the shared sandbox ledger under their app_trans_id. A test forces an answer once with
fees.gateways.ledger.inject("zalopay", "create" | "query" | "refund" | "query_refund", code, ...): e.g. a
refund answered 3 (processing) that `settle_refund` later finishes.
"""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import urlencode

from core.clock import VN_TZ, utcnow
from core.money import format_vnd
from core.settings import Settings
from core.text import markup
from fees.gateways import ledger
from fees.gateways.base import Checkout, MerchantAccount, SandboxRequest, SandboxResponse, SandboxRoute
from fees.gateways.zalopay import payloads as wire

GATEWAY = "zalopay"
PREFIX = "zalopay"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _fields(req: SandboxRequest) -> dict:
    """ZaloPay takes form fields (its SDK and samples) or JSON (its spec lists both)."""
    if req.form:
        return dict(req.form)
    if isinstance(req.json, dict):
        return {k: v if isinstance(v, str) else str(v) for k, v in req.json.items()}
    return dict(req.args)


def _account(req: SandboxRequest, app_id) -> MerchantAccount:
    return req.merchant(app_id if isinstance(app_id, str) else None)


def _refused(code: int, message: str, sub: int | None = None) -> SandboxResponse:
    return SandboxResponse(json={"return_code": code, "return_message": message,
                                 "sub_return_code": sub if sub is not None else code,
                                 "sub_return_message": message})


def create(req: SandboxRequest) -> SandboxResponse:
    order = _fields(req)
    account = _account(req, order.get("app_id"))
    if order.get("app_id") != account.merchant_ref or not wire.verify_create(order, account.value("key1")):
        return _refused(wire.FAIL, "Thông tin xác thực không hợp lệ.", wire.ILLEGAL_APP)
    trans_id = order.get("app_trans_id", "")
    try:
        amount = int(order["amount"])
        int(order["app_time"])
    except (KeyError, ValueError):
        return _refused(wire.FAIL, "Dữ liệu không hợp lệ.", wire.ILLEGAL_DATA)
    if wire.order_ref_of(trans_id) is None or amount < 1:
        return _refused(wire.FAIL, "Dữ liệu không hợp lệ.", wire.ILLEGAL_DATA)
    fault = ledger.next_fault(GATEWAY, "create")
    if fault is not None:
        return _refused(wire.FAIL, "Injected answer.", int(fault.answer))
    if ledger.exists(GATEWAY, trans_id):
        return _refused(wire.FAIL, "Mã giao dịch đã tồn tại.", wire.ORDER_EXISTS)
    try:
        redirect_url = str(json.loads(order.get("embed_data") or "{}").get("redirecturl") or "")
    except (ValueError, AttributeError):
        return _refused(wire.FAIL, "Dữ liệu không hợp lệ.", wire.ILLEGAL_DATA)
    token = secrets.token_urlsafe(18)
    ledger.put(ledger.SandboxTxn(GATEWAY, trans_id, amount, data={
        "app_id": order["app_id"], "app_user": order.get("app_user", ""), "app_time": int(order["app_time"]),
        "embed_data": order.get("embed_data", ""), "item": order.get("item", ""),
        "description": order.get("description", ""), "callback_url": order.get("callback_url", ""),
        "redirect_url": redirect_url, "zp_trans_token": token}))
    order_url = f"{req.settings.public_url}/sandbox/{PREFIX}/pay/{trans_id}"
    return SandboxResponse(json={"return_code": wire.SUCCESS, "return_message": "Giao dịch thành công",
                                 "sub_return_code": 1, "sub_return_message": "Giao dịch thành công",
                                 "order_url": order_url, "zp_trans_token": token, "order_token": token,
                                 "qr_code": order_url})


_PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>ZaloPay Sandbox</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main class="card sandbox zalopay">
<p class="sandbox-tag">ZaloPay · Cổng thanh toán thử nghiệm / sandbox</p>
<h1>Xác nhận thanh toán</h1>
<dl class="facts">
<dt>Mã giao dịch</dt><dd id="zalopay-order">{order}</dd>
<dt>Nội dung</dt><dd>{description}</dd>
<dt>Số tiền</dt><dd id="zalopay-amount">{amount}</dd>
</dl>
{form}
</main></body></html>
"""

_FORM = """<form method="post">
<button type="submit" name="action" value="pay" id="zalopay-confirm">Thanh toán</button>
<button type="submit" name="action" value="cancel" id="zalopay-cancel">Hủy</button>
</form>"""


def pay_page(req: SandboxRequest) -> SandboxResponse:
    txn = ledger.get(GATEWAY, req.path_args["order_id"])
    if txn is None:
        return SandboxResponse(status=404, body="Không tìm thấy giao dịch.".encode())
    # Every value shown came from a request: escaped (core.text.markup) before it is put in the page.
    page = _PAGE.format(order=markup(txn.order_id), description=markup(txn.data["description"]),
                        amount=markup(format_vnd(txn.amount)),
                        form=_FORM if txn.status == "pending" else "<p>Giao dịch đã được xử lý.</p>")
    return SandboxResponse(body=page.encode(), content_type="text/html; charset=utf-8")


def complete(trans_id: str, *, success: bool, key2: str) -> tuple[dict | None, dict] | None:
    """The citizen paid (or cancelled) on ZaloPay's page: the callback body (only when paid: ZaloPay calls
    back only for money it took) and the redirect's query parameters. None when not pending."""
    txn = ledger.get(GATEWAY, trans_id)
    if txn is None or txn.status != "pending":
        return None
    callback = None
    if success:
        zp_trans_id = int(utcnow().astimezone(VN_TZ).strftime("%y%m%d") + f"{secrets.randbelow(10**9):09d}")
        txn.status, txn.transaction_no = "paid", str(zp_trans_id)
        txn.pay_date = utcnow().astimezone(VN_TZ).strftime("%Y%m%d%H%M%S")
        data = {"app_id": int(txn.data["app_id"]), "app_trans_id": trans_id, "app_time": txn.data["app_time"],
                "app_user": txn.data["app_user"], "amount": txn.amount, "embed_data": txn.data["embed_data"],
                "item": txn.data["item"], "zp_trans_id": zp_trans_id, "server_time": _now_ms(), "channel": 38,
                "merchant_user_id": "sandbox-" + secrets.token_hex(8), "user_fee_amount": 0, "discount_amount": 0}
        callback = wire.sign_callback(data, key2)
    else:
        txn.status = "cancelled"
    params = {"appid": txn.data["app_id"], "apptransid": trans_id, "pmcid": "38", "bankcode": "",
              "amount": str(txn.amount), "discountamount": "0",
              "status": str(wire.REDIRECT_PAID if success else wire.REDIRECT_CANCELLED)}
    params["checksum"] = wire.redirect_checksum(params, key2)
    return callback, params


def pay(req: SandboxRequest) -> SandboxResponse:
    """The citizen confirms or cancels: ZaloPay POSTs the callback (when paid), then sends the browser back."""
    trans_id = req.path_args["order_id"]
    txn = ledger.get(GATEWAY, trans_id)
    if txn is None:
        return SandboxResponse(status=404, body="Không tìm thấy giao dịch.".encode())
    done = complete(trans_id, success=req.form.get("action") == "pay",
                    key2=_account(req, txn.data["app_id"]).value("key2"))
    if done is None:
        return SandboxResponse(status=400, body="Giao dịch đã được xử lý.".encode())
    callback, params = done
    if callback is not None and txn.data["callback_url"]:
        req.notify("POST", txn.data["callback_url"], json=callback)
    target = txn.data["redirect_url"]
    if not target:
        return SandboxResponse(body="Đã xử lý.".encode())
    return SandboxResponse(redirect=f"{target}{'&' if '?' in target else '?'}{urlencode(params)}")


def query(req: SandboxRequest) -> SandboxResponse:
    body = _fields(req)
    account = _account(req, body.get("app_id"))
    if not wire.verify_query(body, account.value("key1")):
        return _refused(wire.ILLEGAL_SIGNATURE, "Chữ ký không hợp lệ.")
    fault = ledger.next_fault(GATEWAY, "query")
    if fault is not None:
        if fault.answer == "lost":
            return SandboxResponse(status=504, body=b"upstream timed out")
        return _refused(int(fault.answer), "Injected answer.")
    txn = ledger.get(GATEWAY, body.get("app_trans_id", ""))
    if txn is None or txn.data.get("app_id") != body.get("app_id"):
        return SandboxResponse(json={"return_code": wire.FAIL, "return_message": "Giao dịch không tồn tại",
                                     "sub_return_code": wire.ILLEGAL_DATA, "sub_return_message": "Giao dịch không tồn tại",
                                     "is_processing": False, "amount": 0, "zp_trans_id": 0})
    code = {"paid": wire.SUCCESS, "pending": wire.PROCESSING}.get(txn.status, wire.FAIL)
    message = {wire.SUCCESS: "Giao dịch thành công", wire.PROCESSING: "Giao dịch chưa được thanh toán"}.get(
        code, "User huỷ giao dịch thanh toán.")
    return SandboxResponse(json={"return_code": code, "return_message": message,
                                 "sub_return_code": 1 if code == wire.SUCCESS else (-329 if code == wire.FAIL else 3),
                                 "sub_return_message": message, "is_processing": False, "amount": txn.amount,
                                 "zp_trans_id": int(txn.transaction_no or 0)})


def _refund_entry(txn: ledger.SandboxTxn, refund_id: str) -> dict | None:
    return next((r for r in txn.refunds if r["request_id"] == refund_id), None)


def _take_refund(original: ledger.SandboxTxn, body: dict, status: int) -> int:
    refund_id = int(f"7{secrets.randbelow(10**11):011d}")
    if status == wire.SUCCESS:
        original.refunded += int(body["amount"])
    original.refund_requests.add(body["m_refund_id"])
    original.refunds.append({"request_id": body["m_refund_id"], "amount": int(body["amount"]), "status": status,
                             "trans_id": refund_id, "at": _now_ms()})
    return refund_id


def refund(req: SandboxRequest) -> SandboxResponse:
    body = _fields(req)
    account = _account(req, body.get("app_id"))
    if not wire.verify_refund(body, account.value("key1")):
        return _refused(wire.ILLEGAL_SIGNATURE, "Chữ ký không hợp lệ.")
    try:
        amount = int(body["amount"])
    except (KeyError, ValueError):
        return _refused(wire.FAIL, "Dữ liệu không hợp lệ.", wire.ILLEGAL_DATA)
    original = ledger.find(GATEWAY, transaction_no=str(body.get("zp_trans_id")))
    fault = ledger.next_fault(GATEWAY, "refund")
    if fault is not None:
        refund_id = None
        if fault.apply and original is not None and original.status == "paid":
            refund_id = _take_refund(original, body, int(fault.refund_status or wire.SUCCESS))
        if fault.answer == "lost":
            return SandboxResponse(status=504, body=b"upstream timed out")
        return SandboxResponse(json={"return_code": int(fault.answer), "return_message": "Injected answer.",
                                     "sub_return_code": int(fault.answer), "sub_return_message": "Injected answer.",
                                     "refund_id": refund_id or 0})
    if original is None or original.status != "paid" or original.data.get("app_id") != body.get("app_id"):
        return _refused(wire.FAIL, "Giao dịch không tồn tại.", wire.ILLEGAL_DATA)
    taken = _refund_entry(original, body["m_refund_id"])
    if taken is not None:  # the same m_refund_id again: the same refund, answered as it stands
        return SandboxResponse(json={"return_code": taken["status"], "return_message": "Yêu cầu đã được ghi nhận.",
                                     "sub_return_code": taken["status"], "sub_return_message": "",
                                     "refund_id": taken["trans_id"]})
    if amount < 1 or amount > original.amount - original.refunded:
        return _refused(wire.FAIL, "Số tiền hoàn không hợp lệ.", wire.ILLEGAL_DATA)
    refund_id = _take_refund(original, body, wire.SUCCESS)
    return SandboxResponse(json={"return_code": wire.SUCCESS, "return_message": "Hoàn tiền thành công",
                                 "sub_return_code": 1, "sub_return_message": "Hoàn tiền thành công",
                                 "refund_id": refund_id})


def query_refund(req: SandboxRequest) -> SandboxResponse:
    body = _fields(req)
    account = _account(req, body.get("app_id"))
    if not wire.verify_query_refund(body, account.value("key1")):
        return _refused(wire.ILLEGAL_SIGNATURE, "Chữ ký không hợp lệ.")
    fault = ledger.next_fault(GATEWAY, "query_refund")
    if fault is not None:
        if fault.answer == "lost":
            return SandboxResponse(status=504, body=b"upstream timed out")
        return _refused(int(fault.answer), "Injected answer.")
    refund_id = body.get("m_refund_id", "")
    entry = next((e for t in ledger.all_of(GATEWAY) if (e := _refund_entry(t, refund_id)) is not None), None)
    if entry is None:
        return _refused(wire.FAIL, "Không tìm thấy yêu cầu hoàn tiền.", wire.ILLEGAL_DATA)
    message = {wire.SUCCESS: "Hoàn tiền thành công", wire.PROCESSING: "Đang xử lý hoàn tiền"}.get(
        entry["status"], "Hoàn tiền thất bại")
    return SandboxResponse(json={"return_code": entry["status"], "return_message": message,
                                 "sub_return_code": entry["status"], "sub_return_message": message,
                                 "refund_id": entry["trans_id"]})


def settle_refund(refund_id: str, status: int = wire.SUCCESS) -> None:
    """ZaloPay finishes a refund it had answered 3 (processing): 1 refunded, 2 refused."""
    for txn in ledger.all_of(GATEWAY):
        entry = _refund_entry(txn, refund_id)
        if entry is not None:
            if status == wire.SUCCESS and entry["status"] != wire.SUCCESS:
                txn.refunded += entry["amount"]
            entry["status"] = status


ROUTES = [
    SandboxRoute(wire.CREATE_PATH, ("POST",), create),
    SandboxRoute(wire.QUERY_PATH, ("POST",), query),
    SandboxRoute(wire.REFUND_PATH, ("POST",), refund),
    SandboxRoute(wire.QUERY_REFUND_PATH, ("POST",), query_refund),
    SandboxRoute("/pay/<order_id>", ("GET",), pay_page),
    SandboxRoute("/pay/<order_id>", ("POST",), pay),
]


def citizen_pays(checkout: Checkout, *, amount: int, settings: Settings, success: bool = True) -> list[tuple[str, str, dict]]:
    """The browser's requests that pay (or cancel) `checkout` at this sandbox: open ZaloPay's page, confirm."""
    return [("GET", checkout.redirect_url, {}),
            ("POST", checkout.redirect_url, {"action": "pay" if success else "cancel"})]
