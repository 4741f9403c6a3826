"""Viettel Post requests and responses as plain dicts: pure functions, no HTTP.

Answers carry `{"status": 200, "error": false, "message": ..., "data": ...}`; the HTTP status is 200
even for refusals, so the body decides. Webhooks arrive as `{"DATA": {...}, "TOKEN": "..."}`, the
token being the secret agreed with Viettel Post; times are `dd/MM/yyyy HH:mm:ss` in Vietnam time.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta

from carriers.base import (
    CarrierUnit,
    CreatedShipment,
    Party,
    PermanentCarrierError,
    Rate,
    ShipmentRequest,
    TrackingEvent,
    WebhookRejected,
)
from core.clock import VN_TZ

# Viettel Post ORDER_STATUS codes in our vocabulary.
STATUS_MAP = {
    -100: "pending", -108: "pending", -109: "pending", -110: "pending",
    100: "pending", 101: "cancelled", 102: "pending", 103: "pending", 104: "pending",
    105: "picked_up", 106: "pending", 107: "cancelled",
    200: "picked_up", 201: "cancelled", 202: "picked_up",
    300: "in_transit", 301: "in_transit", 302: "in_transit", 303: "in_transit", 400: "in_transit",
    401: "in_transit", 402: "in_transit", 403: "in_transit",
    # 505-507 are Viettel Post's "Tồn" (held after an attempt): 506 is the postman finding nobody in,
    # our failed delivery; 550 is the sender asking for another attempt, so the parcel waits for it.
    500: "out_for_delivery", 506: "delivery_failed", 507: "ready_for_pickup", 508: "out_for_delivery",
    509: "in_transit", 510: "on_hold", 550: "on_hold",
    501: "delivered",
    502: "return_to_sender", 505: "return_to_sender", 515: "return_to_sender",
    503: "cancelled",
    504: "returned",
}
# What the sandbox reports for each of our statuses.
STATUS_CODES = {"pending": 100, "picked_up": 105, "in_transit": 300, "out_for_delivery": 500,
                "delivery_failed": 506, "on_hold": 550, "ready_for_pickup": 507, "delivered": 501,
                "return_to_sender": 502, "returned": 504, "cancelled": 107}
STATUS_NAMES = {100: "Tiếp nhận đơn hàng", 105: "Bưu tá đã nhận hàng", 300: "Đang vận chuyển",
                500: "Giao bưu tá đi phát", 506: "Tồn - Khách hàng nghỉ, không có nhà", 550: "Đơn vị yêu cầu phát tiếp", 507: "Khách đến nhận tại bưu cục",
                501: "Phát thành công", 502: "Chuyển hoàn bưu cục gốc", 504: "Hoàn thành công - Chuyển trả người gửi",
                107: "Đối tác yêu cầu huỷ qua API"}

DEFAULT_SERVICE = "VCN"
TIME_FORMAT = "%d/%m/%Y %H:%M:%S"


def login_request(username: str, password: str) -> dict:
    return {"USERNAME": username, "PASSWORD": password}


def ok(body: dict) -> bool:
    return isinstance(body, dict) and not body.get("error") and int(body.get("status", 0)) == 200


def parse_login(body: dict) -> str:
    return body["data"]["token"]


def ids_of(party: Party) -> tuple[int, int, int]:
    """Viettel Post's own PROVINCE_ID, DISTRICT_ID and WARDS_ID of a party (`Party.carrier_ids`, filled
    by postal from Viettel Post's categories). Our codes are never sent in their place."""
    ids = party.carrier_ids or {}
    try:
        return int(ids["province"]), int(ids["district"]), int(ids["ward"])
    except (KeyError, TypeError, ValueError) as e:
        raise PermanentCarrierError(f"viettelpost: no Viettel Post province/district/ward id for ward "
                                    f"{party.ward_code} ({party.ward_name}); sync its address catalogue") from e


def price_request(req: ShipmentRequest) -> dict:
    (sp, sd, _), (rp, rd, _) = ids_of(req.sender), ids_of(req.receiver)
    return {"SENDER_PROVINCE": sp, "SENDER_DISTRICT": sd, "RECEIVER_PROVINCE": rp, "RECEIVER_DISTRICT": rd,
            "PRODUCT_TYPE": "HH", "PRODUCT_WEIGHT": req.weight_grams, "PRODUCT_PRICE": 0,
            "MONEY_COLLECTION": req.cod_amount, "TYPE": 1}


def parse_prices(body) -> list[Rate]:
    items = body if isinstance(body, list) else (body.get("data") or [])
    return [Rate(carrier="viettelpost", service=x["MA_DV_CHINH"], fee=int(x["GIA_CUOC"]),
                 service_name=x.get("TEN_DICHVU", "")) for x in items]


def _party(prefix: str, p: Party) -> dict:
    province, district, ward = ids_of(p)
    return {f"{prefix}_FULLNAME": p.name, f"{prefix}_PHONE": p.phone, f"{prefix}_ADDRESS": p.full_address,
            f"{prefix}_PROVINCE": province, f"{prefix}_DISTRICT": district, f"{prefix}_WARD": ward}


def order_request(req: ShipmentRequest) -> dict:
    return {
        "ORDER_NUMBER": req.order_number,
        **_party("SENDER", req.sender),
        **_party("RECEIVER", req.receiver),
        "PRODUCT_NAME": req.content, "PRODUCT_QUANTITY": 1, "PRODUCT_PRICE": 0,
        "PRODUCT_WEIGHT": req.weight_grams, "PRODUCT_TYPE": "HH",
        # 3: collect the goods' money (the fees) only; 1: collect nothing. The centre pays postage.
        "ORDER_PAYMENT": 3 if req.cod_amount else 1,
        "ORDER_SERVICE": req.service or DEFAULT_SERVICE,
        "ORDER_NOTE": req.note,
        "MONEY_COLLECTION": req.cod_amount,
    }


def pickup_time(now: datetime) -> datetime:
    """When to ask the postman to come: two hours from now in working hours (7:30-17:00, Vietnam time),
    else 8:00 the next morning."""
    local = now.astimezone(VN_TZ) + timedelta(hours=2)
    if local.hour >= 17:
        local = (local + timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
    elif local.hour < 8:
        local = local.replace(hour=8, minute=0, second=0, microsecond=0)
    return local.replace(microsecond=0)


def pickup_request(req: ShipmentRequest, at: datetime) -> dict:
    """An order collected at the sender's own address (GROUPADDRESS_ID 0: not one of our registered
    warehouses) from DELIVERY_DATE on; the centre pays the postage, and the postman collects
    MONEY_COLLECTION there (the dossier's fee) when there is one."""
    return {**order_request(req), "GROUPADDRESS_ID": 0, "DELIVERY_DATE": format_time(at)}


def parse_order(body: dict) -> CreatedShipment:
    data = body["data"]
    return CreatedShipment(tracking_code=str(data["ORDER_NUMBER"]), fee=data.get("MONEY_TOTAL"), raw=data)


def duplicate_code(body: dict) -> str | None:
    """The existing order's code when createOrder refused a reused ORDER_NUMBER."""
    if body.get("error") and "tồn tại" in (body.get("message") or ""):
        data = body.get("data") or {}
        return str(data.get("ORDER_NUMBER")) if data.get("ORDER_NUMBER") else ""
    return None


def cancel_request(tracking_code: str, note: str = "Huỷ đơn") -> dict:
    return {"TYPE": 4, "ORDER_NUMBER": tracking_code, "NOTE": note}


def printing_request(tracking_code: str, expiry_ms: int) -> dict:
    return {"EXPIRY_TIME": expiry_ms, "ORDER_ARRAY": [tracking_code]}


def parse_time(value: str) -> datetime:
    return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=VN_TZ).astimezone(UTC)


def format_time(value: datetime) -> str:
    return value.astimezone(VN_TZ).strftime(TIME_FORMAT)


def parse_webhook(body: dict, expected_token: str) -> list[TrackingEvent]:
    if not isinstance(body, dict) or "DATA" not in body:
        raise WebhookRejected("not a Viettel Post webhook")
    token = body.get("TOKEN")
    token = token if isinstance(token, str) else ""
    if not expected_token or not hmac.compare_digest(token.encode(), expected_token.encode()):
        raise WebhookRejected("bad token")
    data = body["DATA"]
    if not isinstance(data, dict):
        raise WebhookRejected("malformed DATA")
    try:
        code = int(data["ORDER_STATUS"])
        at = parse_time(data["ORDER_STATUSDATE"])
        cod = data.get("MONEY_COLLECTION")
        cod = int(cod) if cod not in (None, "") else None
    except (KeyError, ValueError, TypeError) as e:
        raise WebhookRejected("malformed DATA") from e
    tracking, reference = _text(data.get("ORDER_NUMBER")), _text(data.get("ORDER_REFERENCE"))
    if not tracking and not reference:
        raise WebhookRejected("no order in DATA")
    return [TrackingEvent(tracking_code=tracking, order_number=reference, status=STATUS_MAP.get(code, "unknown"),
                          carrier_status=str(code), occurred_at=at, description=str(data.get("STATUS_NAME") or "")[:255],
                          cod_collected=cod if code == 501 else None,
                          event_id=f"{tracking}:{code}:{data['ORDER_STATUSDATE']}", raw=data)]


def _text(value) -> str | None:
    """An order code from a webhook: text or a number, anything else is a forged or broken body."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise WebhookRejected("an order code is not text")
    return str(value)[:64]


def parse_units(provinces: dict, districts: dict[str, dict], wards: dict[str, dict]) -> list:
    """Viettel Post's categories (`listProvinceById?provinceId=-1`, `listDistrict?provinceId=`,
    `listWards?districtId=`) as CarrierUnits: PROVINCE_ID/PROVINCE_NAME, DISTRICT_ID/DISTRICT_NAME/
    PROVINCE_ID (DISTRICT_VALUE, the official district code), WARDS_ID/WARDS_NAME/DISTRICT_ID."""
    units = [CarrierUnit("province", str(p["PROVINCE_ID"]), str(p["PROVINCE_NAME"]))
             for p in provinces.get("data") or [] if isinstance(p, dict) and "PROVINCE_ID" in p]
    for province_id, body in districts.items():
        units += [CarrierUnit("district", str(d["DISTRICT_ID"]), str(d["DISTRICT_NAME"]),
                              str(d.get("PROVINCE_ID") or province_id), str(d.get("DISTRICT_VALUE") or "") or None)
                  for d in body.get("data") or [] if isinstance(d, dict) and "DISTRICT_ID" in d]
    for district_id, body in wards.items():
        units += [CarrierUnit("ward", str(w["WARDS_ID"]), str(w["WARDS_NAME"]), str(w.get("DISTRICT_ID") or district_id))
                  for w in body.get("data") or [] if isinstance(w, dict) and "WARDS_ID" in w]
    return units
