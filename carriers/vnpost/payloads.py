"""VNPost requests and responses as plain dicts: pure functions, no HTTP.

Protocol (REST, JSON): OAuth2 client-credentials token at `/oauth/token`; `/api/v1/prices`,
`/api/v1/orders` (create, look up by `orderNumber`), `/api/v1/orders/<itemCode>/label|cancel|tracking`,
and the cursor-based tracking feed `/api/v1/tracking?lastId=N`. Amounts are whole đồng.
"""

from __future__ import annotations

from datetime import UTC, datetime

from carriers.base import CreatedShipment, Party, Rate, ShipmentRequest, TrackingEvent

# VNPost's status codes in our vocabulary.
STATUS_MAP = {
    "100": "pending",           # Tiếp nhận đơn hàng
    "200": "picked_up",         # Đã nhận hàng (bưu tá đã lấy)
    "300": "in_transit",        # Đang vận chuyển
    "400": "out_for_delivery",  # Đang phát
    "401": "delivery_failed",   # Phát không thành công
    "402": "on_hold",           # Lưu kho chờ phát lại
    "403": "ready_for_pickup",  # Chờ nhận tại bưu cục
    "500": "delivered",         # Phát thành công
    "600": "return_to_sender",  # Chuyển hoàn
    "601": "returned",          # Đã hoàn trả người gửi
    "700": "cancelled",         # Đã huỷ
}
STATUS_CODES = {v: k for k, v in reversed(list(STATUS_MAP.items()))}
STATUS_NAMES = {"100": "Tiếp nhận đơn hàng", "200": "Đã nhận hàng", "300": "Đang vận chuyển", "400": "Đang phát",
                "401": "Phát không thành công", "402": "Lưu kho chờ phát lại", "403": "Chờ nhận tại bưu cục",
                "500": "Phát thành công", "600": "Chuyển hoàn", "601": "Đã hoàn trả người gửi", "700": "Đã huỷ"}

# Our two-level unit codes to VNPost's, where they differ (identity otherwise).
PROVINCE_CODES: dict[str, str] = {}
WARD_CODES: dict[str, str] = {}

DEFAULT_SERVICE = "BK"  # bưu kiện


def token_request(client_id: str, client_secret: str) -> dict:
    return {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}


def parse_token(body: dict) -> tuple[str, int]:
    return body["access_token"], int(body.get("expires_in", 3600))


def _party(p: Party) -> dict:
    # The address line is what the postman reads and the label prints: street, ward and province in
    # words, as GHN and Viettel Post get it; the codes beside it are for routing.
    return {"fullName": p.name, "phone": p.phone, "address": p.full_address,
            "wardCode": WARD_CODES.get(p.ward_code, p.ward_code),
            "provinceCode": PROVINCE_CODES.get(p.province_code, p.province_code)}


def price_request(customer_code: str, req: ShipmentRequest) -> dict:
    return {"customerCode": customer_code, "sender": _party(req.sender), "receiver": _party(req.receiver),
            "weight": req.weight_grams, "codAmount": req.cod_amount}


def parse_prices(body: dict) -> list[Rate]:
    return [Rate(carrier="vnpost", service=x["serviceCode"], fee=int(x["totalFee"]), service_name=x.get("serviceName", ""),
                 eta_hours=x.get("deliveryHours")) for x in body.get("data", [])]


def order_request(customer_code: str, req: ShipmentRequest) -> dict:
    return {"customerCode": customer_code, "orderNumber": req.order_number,
            "serviceCode": req.service or DEFAULT_SERVICE, "sender": _party(req.sender),
            "receiver": _party(req.receiver), "weight": req.weight_grams, "codAmount": req.cod_amount,
            "content": req.content, "note": req.note}


def parse_order(body: dict) -> CreatedShipment:
    data = body["data"]
    return CreatedShipment(tracking_code=data["itemCode"], fee=data.get("totalFee"),
                           order_number=data.get("orderNumber"), raw=data)


def parse_order_list(body: dict) -> CreatedShipment | None:
    items = body.get("data") or []
    if not items:
        return None
    data = items[0]
    return CreatedShipment(tracking_code=data["itemCode"], fee=data.get("totalFee"),
                           order_number=data.get("orderNumber"), raw=data)


def parse_error(body: dict) -> tuple[str, str, str | None]:
    """(code, message, itemCode of an existing order) from an error answer."""
    err = body.get("error") or {}
    return err.get("code", ""), err.get("message", ""), err.get("itemCode")


def _time(value: str) -> datetime:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def parse_event(item: dict) -> TrackingEvent:
    code = str(item.get("statusCode", ""))
    cod = item.get("codAmount")
    return TrackingEvent(tracking_code=item.get("itemCode"), order_number=item.get("orderNumber"),
                         status=STATUS_MAP.get(code, "unknown"), carrier_status=code,
                         occurred_at=_time(item["eventTime"]), description=item.get("statusName", ""),
                         cod_collected=int(cod) if cod is not None and code == "500" else None,
                         event_id=f"vnpost:{item.get('id')}", raw=item)


def parse_feed(body: dict) -> tuple[list[TrackingEvent], str]:
    return [parse_event(x) for x in body.get("data", [])], str(body.get("lastId", ""))
