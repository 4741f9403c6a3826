"""VNPost's side of the protocol, for the embedded default and tests (served under /sandbox/vnpost)."""

from __future__ import annotations

import hashlib
import hmac
import time

from carriers.sandbox import (
    Call,
    ParcelExists,
    Reply,
    SandboxStore,
    account_credentials,
    new_tracking_code,
    render_label,
    sandbox_fee,
)
from carriers.vnpost.payloads import STATUS_CODES, STATUS_NAMES
from core.settings import Settings

CARRIER = "vnpost"


def _client_id(settings: Settings) -> str:
    return settings.get("HCC_VNPOST_CLIENT_ID") or "hcc-sandbox"


def _secrets(settings: Settings) -> list[str]:
    """The client secrets the sandbox accepts with the deployment's client id: the deployment's own,
    and each centre's VNPost token (a centre's account is its own secret under that client)."""
    return [settings.get("HCC_VNPOST_CLIENT_SECRET") or "sandbox-vnpost",
            *(t for _code, t in account_credentials(settings, CARRIER))]


def _bearer(client: str, secret: str) -> str:
    return "vnp-" + hashlib.sha256(f"{client}:{secret}".encode()).hexdigest()[:40]



def _error(status: int, code: str, message: str, **more) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message, **more}})


def _order(parcel) -> dict:
    return {"itemCode": parcel.tracking_code, "orderNumber": parcel.order_number, "totalFee": parcel.fee,
            "codAmount": parcel.cod_amount, "status": "CANCELLED" if parcel.cancelled_at else "ACTIVE"}


def _event(e) -> dict:
    code = STATUS_CODES[e.status]
    item = {"id": e.id, "itemCode": e.tracking_code, "orderNumber": e.order_number, "statusCode": code,
            "statusName": STATUS_NAMES[code], "eventTime": e.at.isoformat()}
    if e.cod_collected is not None:
        item["codAmount"] = e.cod_collected
    return item


def handle(store: SandboxStore, settings: Settings, call: Call) -> Reply:
    if store.take_down(CARRIER):
        return Reply(503, {"error": {"code": "SERVICE_UNAVAILABLE", "message": "Hệ thống đang bảo trì"}})
    path = call.path.rstrip("/")
    if path == "/oauth/token" and call.method == "POST":
        client = call.form.get("client_id", "")
        secret = call.form.get("client_secret", "")
        if call.form.get("grant_type") != "client_credentials" or client != _client_id(settings) or \
                not any(hmac.compare_digest(secret, s) for s in _secrets(settings)):
            return Reply(401, {"error": "invalid_client"})
        return Reply(200, {"access_token": _bearer(client, secret), "token_type": "Bearer", "expires_in": 3600})
    given = call.headers.get("Authorization", "")
    if not any(hmac.compare_digest(given, f"Bearer {_bearer(_client_id(settings), s)}") for s in _secrets(settings)):
        return Reply(401, {"error": {"code": "UNAUTHORIZED", "message": "invalid token"}})
    body = call.json if isinstance(call.json, dict) else {}
    if path == "/api/v1/prices" and call.method == "POST":
        weight, cod = int(body.get("weight", 0)), int(body.get("codAmount", 0))
        fee = sandbox_fee(weight, cod)
        return Reply(200, {"data": [
            {"serviceCode": "BK", "serviceName": "Bưu kiện thường", "totalFee": fee, "deliveryHours": 72},
            {"serviceCode": "EMS", "serviceName": "Chuyển phát nhanh EMS", "totalFee": fee + 12_000,
             "deliveryHours": 24}]})
    if path == "/api/v1/orders" and call.method == "POST":
        missing = [f for f in ("customerCode", "orderNumber", "sender", "receiver", "weight") if not body.get(f)]
        if missing:
            return _error(400, "INVALID_REQUEST", f"missing: {', '.join(missing)}")
        receiver = body["receiver"]
        if not receiver.get("wardCode") or not receiver.get("provinceCode"):
            return _error(400, "INVALID_ADDRESS", "wardCode and provinceCode are required")
        cod = int(body.get("codAmount") or 0)
        fee = sandbox_fee(int(body["weight"]), cod) + (12_000 if body.get("serviceCode") == "EMS" else 0)
        try:
            parcel = store.create(CARRIER, new_tracking_code("EB", "VN"), body["orderNumber"], body,
                                  note=body.get("note", ""), cod_amount=cod, fee=fee)
        except ParcelExists as e:
            return _error(409, "DUPLICATE_ORDER_NUMBER", "orderNumber đã tồn tại", itemCode=e.parcel.tracking_code)
        slow = store.fault(CARRIER, "slow_create")
        if slow:
            # The order exists, but the answer comes too late for the caller (a lost response).
            time.sleep(slow)
        return Reply(201, {"data": _order(parcel)})
    if path == "/api/v1/orders" and call.method == "GET":
        parcel = store.by_order(CARRIER, call.query.get("orderNumber", ""))
        return Reply(200, {"data": [_order(parcel)] if parcel else []})
    parts = path.split("/")
    if len(parts) == 6 and parts[1:4] == ["api", "v1", "orders"]:
        parcel = store.get(CARRIER, parts[4])
        if parcel is None:
            return _error(404, "NOT_FOUND", "itemCode không tồn tại")
        action = parts[5]
        if action == "label" and call.method == "GET":
            p = parcel.payload
            r = p["receiver"]
            pdf = render_label("VNPost - Bưu điện Việt Nam", parcel.tracking_code, order_number=parcel.order_number,
                               receiver=r.get("fullName", ""), phone=r.get("phone", ""), address=r.get("address", ""),
                               cod_amount=parcel.cod_amount, weight_grams=int(p.get("weight", 0)))
            return Reply(200, pdf, "application/pdf")
        if action == "cancel" and call.method == "POST":
            if parcel.cancelled_at or store.cancel(CARRIER, parcel.tracking_code):
                return Reply(200, {"data": {"itemCode": parcel.tracking_code, "status": "CANCELLED"}})
            return _error(409, "CANNOT_CANCEL", "Bưu gửi đã được nhận, không thể huỷ")
        if action == "tracking" and call.method == "GET":
            return Reply(200, {"data": [_event(e) for e in store.events_of(CARRIER, parcel.tracking_code)]})
    if path == "/api/v1/tracking" and call.method == "GET":
        last_id = int(call.query.get("lastId") or 0)
        limit = min(500, int(call.query.get("limit") or 100))
        events = store.feed(CARRIER, last_id, limit)
        return Reply(200, {"data": [_event(e) for e in events], "lastId": events[-1].id if events else last_id})
    return _error(404, "NOT_FOUND", "no such endpoint")
