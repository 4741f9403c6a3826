"""MoMo's side: create, the IPN it sends, query and refund, signed as MoMo signs them."""

from __future__ import annotations

import secrets
import time

from fees.gateways import momo as wire
from fees.sandbox import ledger


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
    if success:
        txn.status, txn.transaction_no = "paid", str(trans_id)
    result = {"partnerCode": partner_code, "orderId": order_id, "requestId": txn.data["requestId"],
              "amount": txn.amount, "orderInfo": txn.data["orderInfo"], "orderType": "momo_wallet",
              "transId": trans_id, "resultCode": 0 if success else 1006,
              "message": "Thành công." if success else "Người dùng đã từ chối xác nhận thanh toán.",
              "payType": "qr", "responseTime": int(time.time() * 1000), "extraData": txn.data["extraData"]}
    result["signature"] = wire.sign(result, wire.IPN_FIELDS, access_key, secret_key)
    return result


def query(body: dict, *, access_key: str, secret_key: str) -> dict:
    base = {"partnerCode": body.get("partnerCode"), "orderId": body.get("orderId"),
            "requestId": body.get("requestId"), "responseTime": int(time.time() * 1000)}
    if not wire.verify(body, wire.QUERY_FIELDS, access_key, secret_key):
        return {**base, "resultCode": 11, "message": "Chữ ký không hợp lệ."}
    txn = ledger.get("momo", body.get("orderId", ""))
    if txn is None:
        return {**base, "resultCode": 42, "message": "Không tìm thấy giao dịch."}
    code = {"paid": 0, "pending": 1000}.get(txn.status, 1006)
    return {**base, "resultCode": code, "message": "Thành công." if code == 0 else "Đang chờ.",
            "amount": txn.amount, "transId": int(txn.transaction_no or 0), "payType": "qr", "extraData": "",
            "refundTrans": []}


def refund(body: dict, *, access_key: str, secret_key: str) -> dict:
    base = {"partnerCode": body.get("partnerCode"), "orderId": body.get("orderId"),
            "requestId": body.get("requestId"), "amount": body.get("amount"), "transId": body.get("transId"),
            "responseTime": int(time.time() * 1000)}
    if not wire.verify(body, wire.REFUND_FIELDS, access_key, secret_key):
        return {**base, "resultCode": 11, "message": "Chữ ký không hợp lệ."}
    original = next((t for t in list(ledger._txns.values())
                     if t.gateway == "momo" and t.transaction_no == str(body.get("transId"))), None)
    if original is None or original.status != "paid":
        return {**base, "resultCode": 42, "message": "Không tìm thấy giao dịch."}
    if body["orderId"] in original.refund_requests:
        return {**base, "resultCode": 41, "message": "OrderId bị trùng."}
    amount = int(body["amount"])
    if amount > original.amount - original.refunded:
        return {**base, "resultCode": 22, "message": "Số tiền hoàn vượt quá số tiền giao dịch."}
    original.refund_requests.add(body["orderId"])
    original.refunded += amount
    return {**base, "resultCode": 0, "message": "Thành công.", "transId": int(f"5{secrets.randbelow(10**9):09d}")}
