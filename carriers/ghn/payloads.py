"""GHN requests and responses as plain dicts: pure functions, no HTTP.

Answers are `{"code": 200, "message": "Success", "data": ...}`; refusals are HTTP 400 with
`code_message`. Webhooks carry `Type` (create, switch_status, update_weight, update_cod, update_fee),
`OrderCode`, `ClientOrderCode`, `Status`, `CODAmount`, `Time`. GHN does not sign webhooks, so the
URL registered with GHN carries a secret `token` query parameter, which we check.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

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

STATUS_MAP = {
    "ready_to_pick": "pending", "picking": "pending", "money_collect_picking": "pending",
    "picked": "picked_up",
    "storing": "in_transit", "transporting": "in_transit", "sorting": "in_transit",
    "delivering": "out_for_delivery", "money_collect_delivering": "out_for_delivery",
    "delivery_fail": "delivery_failed",
    "waiting_to_return": "on_hold",
    "delivered": "delivered",
    "return": "return_to_sender", "return_transporting": "return_to_sender", "return_sorting": "return_to_sender",
    "returning": "return_to_sender", "return_fail": "return_to_sender",
    "returned": "returned",
    "cancel": "cancelled",
    "exception": "unknown", "damage": "unknown", "lost": "unknown",
}
STATUS_CODES = {"pending": "ready_to_pick", "picked_up": "picked", "in_transit": "transporting",
                "out_for_delivery": "delivering", "delivery_failed": "delivery_fail", "on_hold": "waiting_to_return",
                "delivered": "delivered", "return_to_sender": "return", "returned": "returned",
                "cancelled": "cancel", "ready_for_pickup": "storing"}

SERVICE_TYPES = {"2": "Hàng nhẹ (E-commerce)", "5": "Hàng nặng (Traditional)"}
DEFAULT_SERVICE = "2"


def ok(body: dict) -> bool:
    return isinstance(body, dict) and int(body.get("code", 0)) == 200


def ids_of(party: Party) -> tuple[int, str]:
    """GHN's own DistrictID and WardCode of a party (`Party.carrier_ids`, filled by postal from GHN's
    master data). Our two-level codes are never sent in their place: without GHN's ids, no request."""
    ids = party.carrier_ids or {}
    try:
        return int(ids["district"]), str(ids["ward"])
    except (KeyError, TypeError, ValueError) as e:
        raise PermanentCarrierError(f"ghn: no GHN district/ward id for ward {party.ward_code} "
                                    f"({party.ward_name}); sync GHN's address catalogue") from e


def services_request(shop_id: str, req: ShipmentRequest) -> dict:
    return {"shop_id": int(shop_id), "from_district": ids_of(req.sender)[0], "to_district": ids_of(req.receiver)[0]}


def parse_services(body: dict) -> list[tuple[str, str]]:
    return [(str(x["service_type_id"]), x.get("short_name", "")) for x in body.get("data") or []]


def fee_request(req: ShipmentRequest, service_type_id: str) -> dict:
    to_district, to_ward = ids_of(req.receiver)
    from_district, from_ward = ids_of(req.sender)
    return {"service_type_id": int(service_type_id), "from_district_id": from_district, "from_ward_code": from_ward,
            "to_district_id": to_district, "to_ward_code": to_ward, "weight": req.weight_grams,
            "insurance_value": 0, "cod_value": req.cod_amount}


def parse_fee(body: dict, service_type_id: str, name: str = "") -> Rate:
    return Rate(carrier="ghn", service=service_type_id, fee=int(body["data"]["total"]),
                service_name=name or SERVICE_TYPES.get(service_type_id, ""))


def create_request(req: ShipmentRequest) -> dict:
    r, s = req.receiver, req.sender
    (to_district, to_ward), (from_district, from_ward) = ids_of(r), ids_of(s)
    return {
        "payment_type_id": 1,  # the shop (the centre) pays the postage
        "note": req.note, "required_note": "CHOXEMHANGKHONGTHU",
        "client_order_code": req.order_number,
        "from_name": s.name, "from_phone": s.phone, "from_address": s.full_address,
        "from_ward_code": from_ward, "from_district_id": from_district,
        "to_name": r.name, "to_phone": r.phone, "to_address": r.full_address,
        "to_ward_code": to_ward, "to_district_id": to_district,
        "cod_amount": req.cod_amount, "content": req.content, "weight": req.weight_grams,
        "length": 30, "width": 22, "height": 2, "insurance_value": 0,
        "service_type_id": int(req.service or DEFAULT_SERVICE),
        "items": [{"name": req.content, "quantity": 1, "weight": req.weight_grams}],
    }


def parse_shifts(body: dict) -> list[tuple[int, str]]:
    """GHN's pickup shifts (`/v2/shift/date`): id and title ("Ca lấy 25-11-2026 (12h00 - 18h00)"), soonest first."""
    shifts = []
    for x in (body.get("data") or []) if isinstance(body, dict) else []:
        if isinstance(x, dict) and isinstance(x.get("id"), int):
            shifts.append((x["id"], str(x.get("title") or "")))
    return shifts


def pickup_request(req: ShipmentRequest, shift_id: int) -> dict:
    """An order whose postman collects at the sender (the citizen) in the given shift; `cod_amount` is
    what the postman collects there (the dossier's fee), 0 when nothing is."""
    return {**create_request(req), "pick_shift": [shift_id], "required_note": "CHOXEMHANGKHONGTHU"}


def parse_create(body: dict) -> CreatedShipment:
    data = body["data"]
    return CreatedShipment(tracking_code=data["order_code"], fee=data.get("total_fee"), raw=data)


def is_duplicate(body: dict) -> bool:
    return isinstance(body, dict) and body.get("code_message") == "DUPLICATE_CLIENT_ORDER_CODE"


def parse_detail(body: dict) -> CreatedShipment:
    data = body["data"]
    return CreatedShipment(tracking_code=data["order_code"], fee=data.get("total_fee"),
                           order_number=data.get("client_order_code"), raw=data)


def _time(value: str) -> datetime:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def parse_detail_log(body: dict) -> list[TrackingEvent]:
    data = body["data"]
    events = []
    for entry in data.get("log") or []:
        status = entry["status"]
        events.append(TrackingEvent(
            tracking_code=data["order_code"], order_number=data.get("client_order_code"),
            status=STATUS_MAP.get(status, "unknown"), carrier_status=status, occurred_at=_time(entry["updated_date"]),
            cod_collected=int(data.get("cod_amount") or 0) if status == "delivered" else None,
            event_id=f"{data['order_code']}:{status}:{entry['updated_date']}", raw=entry))
    return events


def parse_webhook(body: dict, query_token: str, expected_token: str) -> list[TrackingEvent]:
    if not expected_token or not hmac.compare_digest((query_token or "").encode(), expected_token.encode()):
        raise WebhookRejected("bad token")
    if not isinstance(body, dict) or "OrderCode" not in body or "Type" not in body:
        raise WebhookRejected("not a GHN webhook")
    order_code, client_code = _text(body["OrderCode"]), _text(body.get("ClientOrderCode"))
    if not order_code:
        raise WebhookRejected("bad OrderCode")
    kind = str(body["Type"]).lower()
    status = _text(body.get("Status")) or ""
    try:
        at = _time(body["Time"])
    except (KeyError, ValueError, AttributeError) as e:
        raise WebhookRejected("bad Time") from e
    # Only create and switch_status report a status; the others adjust weight, COD or fee.
    unified = STATUS_MAP.get(status, "unknown") if kind in ("create", "switch_status") else "unknown"
    cod = _amount(body.get("CODAmount"))
    return [TrackingEvent(tracking_code=order_code, order_number=client_code, status=unified,
                          carrier_status=f"{kind}:{status}" if kind != "switch_status" else status, occurred_at=at,
                          description=str(body.get("Description") or body.get("Reason") or "")[:255],
                          cod_collected=cod if cod is not None and status == "delivered" else None,
                          event_id=f"{order_code}:{kind}:{status}:{body['Time']}", raw=body)]


def _text(value) -> str | None:
    """A code from a webhook: text or a number, anything else is a forged or broken body."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise WebhookRejected("a code is not text")
    return str(value)[:64]


def _amount(value) -> int | None:
    if value is None or value == "":
        return None
    try:
        amount = int(value)
    except (TypeError, ValueError) as e:
        raise WebhookRejected("CODAmount is not a number") from e
    if amount < 0:
        raise WebhookRejected("CODAmount is negative")
    return amount


def parse_units(provinces: dict, districts: dict, wards_by_district: dict[int, dict]) -> list:
    """GHN master data (`/master-data/province`, `/district`, `/ward?district_id=`) as CarrierUnits:
    ProvinceID/ProvinceName, DistrictID/DistrictName/ProvinceID, WardCode/WardName/DistrictID."""
    units = [CarrierUnit("province", str(p["ProvinceID"]), str(p["ProvinceName"]))
             for p in provinces.get("data") or [] if isinstance(p, dict) and "ProvinceID" in p]
    units += [CarrierUnit("district", str(d["DistrictID"]), str(d["DistrictName"]), str(d["ProvinceID"]))
              for d in districts.get("data") or [] if isinstance(d, dict) and "DistrictID" in d]
    for district_id, body in wards_by_district.items():
        units += [CarrierUnit("ward", str(w["WardCode"]), str(w["WardName"]), str(w.get("DistrictID") or district_id))
                  for w in body.get("data") or [] if isinstance(w, dict) and w.get("WardCode")]
    return units
