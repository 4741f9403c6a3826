"""GHN's side of the protocol (served under /sandbox/ghn): services, fees, orders, labels, webhooks."""

from __future__ import annotations

import hashlib
import hmac
import time

import requests

from carriers.ghn.payloads import STATUS_CODES
from carriers.sandbox import (
    AdminUnit,
    Call,
    ParcelExists,
    Reply,
    SandboxStore,
    account_credentials,
    legacy_units,
    new_tracking_code,
    post_webhooks,
    render_label,
    sandbox_fee,
)
from core.settings import Settings

CARRIER = "ghn"
API = "/shiip/public-api"


def _refuse(message: str, code_message: str, status: int = 400) -> Reply:
    return Reply(status, {"code": status, "message": message, "data": None, "code_message": code_message})


def _ok(data) -> Reply:
    return Reply(200, {"code": 200, "message": "Success", "data": data})


def _detail(store: SandboxStore, parcel) -> dict:
    events = store.events_of(CARRIER, parcel.tracking_code)
    last = events[-1].status if events else "pending"
    return {"order_code": parcel.tracking_code, "client_order_code": parcel.order_number,
            "status": STATUS_CODES[last], "cod_amount": parcel.cod_amount, "total_fee": parcel.fee,
            "log": [{"status": STATUS_CODES[e.status], "updated_date": e.at.isoformat()} for e in events]}


def _token_accepted(settings: Settings, token: str, shop_id: str) -> bool:
    """The deployment's token, or a centre's own GHN token sent with its shop id (or with the
    deployment's shop id when the account names none)."""
    if not token:
        return False
    if hmac.compare_digest(token, settings.get("HCC_GHN_TOKEN") or "sandbox-ghn-token"):
        return True
    default_shop = settings.get("HCC_GHN_SHOP_ID") or "885"
    return any(hmac.compare_digest(token, t) and (code or default_shop) == shop_id
               for code, t in account_credentials(settings, CARRIER))


def handle(store: SandboxStore, settings: Settings, call: Call) -> Reply:
    if store.take_down(CARRIER):
        return Reply(503, {"code": 503, "message": "Service Unavailable"})
    path = call.path.rstrip("/")
    if path == "/a5/public-api/printA5" and call.method == "GET":
        code = store.fault(CARRIER, f"print:{call.query.get('token', '')}")
        parcel = store.get(CARRIER, _code_from_number(int(code))) if code else None
        if parcel is None:
            return Reply(404, b"token not found", "text/plain")
        p = parcel.payload
        pdf = render_label("GHN - Giao Hàng Nhanh", parcel.tracking_code, order_number=parcel.order_number,
                           receiver=p.get("to_name", ""), phone=p.get("to_phone", ""), address=p.get("to_address", ""),
                           cod_amount=parcel.cod_amount, weight_grams=int(p.get("weight", 0)))
        return Reply(200, pdf, "application/pdf")
    if not _token_accepted(settings, call.headers.get("Token", ""), call.headers.get("ShopId", "")):
        return Reply(401, {"code": 401, "message": "Token is not valid", "code_message": "USER_ERR_COMMON"})
    if not path.startswith(API):
        return _refuse("Not found", "NOT_FOUND", 404)
    path = path[len(API):]
    body = call.json if isinstance(call.json, dict) else {}
    if path.startswith("/master-data/"):
        return _master_data(path, call, body)
    if path == "/v2/shipping-order/available-services":
        return _ok([{"service_id": 53320, "short_name": "Hàng nhẹ", "service_type_id": 2},
                    {"service_id": 100039, "short_name": "Hàng nặng", "service_type_id": 5}])
    if path == "/v2/shipping-order/fee":
        fee = sandbox_fee(int(body.get("weight") or 0), int(body.get("cod_value") or 0))
        fee += 15_000 if int(body.get("service_type_id") or 2) == 5 else 0
        return _ok({"total": fee, "service_fee": fee, "insurance_fee": 0, "cod_fee": 0})
    if path == "/v2/shift/date" and call.method == "GET":
        return _ok(_shifts(store))
    if path == "/v2/shipping-order/create":
        missing = [f for f in ("client_order_code", "to_name", "to_phone", "to_address", "to_ward_code",
                               "to_district_id", "weight") if not body.get(f)]
        if missing:
            return _refuse(f"Thiếu {', '.join(missing)}", "INVALID_INPUT")
        for side in ("to", "from"):
            if (side == "to" or body.get("from_district_id")) and not _ward_in_district(
                    body.get(f"{side}_ward_code"), body.get(f"{side}_district_id")):
                return _refuse(f"{side}_ward_code không thuộc {side}_district_id", "INVALID_ADDRESS")
        shift = body.get("pick_shift")
        if shift is not None:
            known = {x["id"] for x in _shifts(store)}
            if not isinstance(shift, list) or len(shift) != 1 or shift[0] not in known:
                return _refuse("Ca lấy hàng không hợp lệ", "INVALID_PICK_SHIFT")
            if not all(body.get(f) for f in ("from_name", "from_phone", "from_address")):
                return _refuse("Thiếu địa chỉ lấy hàng", "INVALID_INPUT")
        cod = int(body.get("cod_amount") or 0)
        fee = sandbox_fee(int(body["weight"]), cod)
        code = _new_code()
        try:
            parcel = store.create(CARRIER, code, body["client_order_code"], body, note=body.get("note", ""),
                                  cod_amount=cod, fee=fee)
        except ParcelExists:
            return _refuse("Mã đơn hàng của shop đã tồn tại", "DUPLICATE_CLIENT_ORDER_CODE")
        slow = store.fault(CARRIER, "slow_create")
        if slow:
            time.sleep(slow)
        return _ok({"order_code": parcel.tracking_code, "sort_code": "SBX-01", "trans_type": "truck",
                    "total_fee": fee, "expected_delivery_time": "", "fee": {"main_service": fee}})
    if path == "/v2/shipping-order/detail-by-client-code":
        parcel = store.by_order(CARRIER, str(body.get("client_order_code", "")))
        if parcel is None:
            return _refuse("Không tìm thấy đơn hàng", "ORDER_NOT_FOUND")
        return _ok(_detail(store, parcel))
    if path == "/v2/shipping-order/detail":
        parcel = store.get(CARRIER, str(body.get("order_code", "")))
        if parcel is None:
            return _refuse("Không tìm thấy đơn hàng", "ORDER_NOT_FOUND")
        return _ok(_detail(store, parcel))
    if path == "/v2/switch-status/cancel":
        results = []
        for code in body.get("order_codes") or []:
            parcel = store.get(CARRIER, code)
            done = parcel is not None and (parcel.cancelled_at is not None or store.cancel(CARRIER, code))
            results.append({"order_code": code, "result": done,
                            "message": "OK" if done else "Đơn hàng không thể huỷ ở trạng thái hiện tại"})
        return _ok(results)
    if path == "/v2/a5/gen-token":
        codes = body.get("order_codes") or []
        if len(codes) != 1 or store.get(CARRIER, codes[0]) is None:
            return _refuse("Không tìm thấy đơn hàng", "ORDER_NOT_FOUND")
        token = hashlib.sha256(f"{codes[0]}:{time.time()}".encode()).hexdigest()[:36]
        store.set_fault(CARRIER, f"print:{token}", float(_number_of(codes[0])))
        return _ok({"token": token})
    return _refuse("Not found", "NOT_FOUND", 404)


def _shifts(store: SandboxStore) -> list[dict]:
    """GHN's pickup shifts from the sandbox's (accelerated) now: the rest of today's, then tomorrow's."""
    from datetime import timedelta

    from core.clock import VN_TZ

    now = store.now().astimezone(VN_TZ)
    shifts = []
    for day in (0, 1):
        d = (now + timedelta(days=day)).date()
        for sid, start, end in ((2, 7, 12), (3, 12, 18)):
            if day == 0 and now.hour >= end - 1:
                continue
            shifts.append({"id": sid + 10 * day, "title": f"Ca lấy {d:%d-%m-%Y} ({start}h00 - {end}h00)",
                           "from_time": start * 3600, "to_time": end * 3600})
    return shifts


def _new_code() -> str:
    # GHN codes look like 'GHN' + 5 letters/digits; the sandbox uses digits so they map to a number.
    return new_tracking_code("G")


def _number_of(code: str) -> int:
    return int(code[1:])


def _code_from_number(number: int) -> str:
    return f"G{number:09d}"


def webhook_body(store: SandboxStore, settings: Settings, event) -> dict:
    parcel = store.get(CARRIER, event.tracking_code)
    return {"Type": "create" if event.status == "pending" else "switch_status",
            "OrderCode": event.tracking_code, "ClientOrderCode": event.order_number,
            "Status": STATUS_CODES[event.status], "Time": event.at.isoformat(),
            "CODAmount": event.cod_collected if event.cod_collected is not None else (parcel.cod_amount if parcel else 0),
            "CODTransferDate": None, "Description": "", "Reason": "", "ReasonCode": "",
            "ShopID": int(settings.get("HCC_GHN_SHOP_ID") or 885), "TotalFee": parcel.fee if parcel else 0,
            "Fee": {"MainService": parcel.fee if parcel else 0}, "PaymentType": 1, "Weight": 0,
            "ConvertedWeight": 0, "IsPartialReturn": False, "PartialReturnCode": "", "Warehouse": ""}


def deliver_webhooks(store: SandboxStore, settings: Settings, http: requests.Session | None = None) -> int:
    """POST the webhooks GHN would send to the URL registered for the shop (with its secret token)."""
    secret = settings.get("HCC_GHN_WEBHOOK_SECRET") or "sandbox-ghn-webhook"
    url = settings.get("HCC_GHN_SANDBOX_WEBHOOK_URL") or f"{settings.public_url}/callbacks/ghn?token={secret}"
    return post_webhooks(store, CARRIER, url, lambda e: webhook_body(store, settings, e), http)


# -- master data: GHN's own address catalogue ----------------------------------------------------------
# GHN keys addresses by the three-level units in force before 1 July 2025, with its own ids: ProvinceID
# (201, 202, ...), DistrictID (from 1442), WardCode (text). Names as GHN writes them: provinces without
# 'Tỉnh'/'Thành phố' ('Hà Nội'), numbered wards with two digits ('Phường 01'). Built from the official
# pre-reform units (`carriers.sandbox.legacy_units`), so every id is stable between runs.

_catalogue: dict[str, object] = {}


def _ghn_name(unit: AdminUnit) -> str:
    import re

    if unit.level == "province":
        return re.sub(r"^(Tỉnh|Thành phố) ", "", unit.name)
    if unit.level == "ward":
        return re.sub(r"^(Phường|Xã|Thị trấn) (\d)$", r"\1 0\2", unit.name)
    return unit.name


def catalogue() -> dict[str, list[dict]]:
    """GHN's provinces, districts and wards, each as the master-data endpoints answer them."""
    if not _catalogue:
        from carriers.catalogue import fold

        units = legacy_units()
        provinces, districts, wards = [], [], []
        province_ids: dict[str, int] = {}
        district_ids: dict[str, int] = {}
        for u in units:
            if u.level == "province":
                province_ids[u.code] = 201 + len(province_ids)
                name = _ghn_name(u)
                provinces.append({"ProvinceID": province_ids[u.code], "ProvinceName": name, "CountryID": 1,
                                  "Code": str(province_ids[u.code] - 200), "NameExtension": [name, fold(name)],
                                  "IsEnable": 1, "RegionID": 1, "Status": 1})
        for u in units:
            if u.level == "district":
                district_ids[u.code] = 1442 + len(district_ids)
                districts.append({"DistrictID": district_ids[u.code], "ProvinceID": province_ids[u.parent_code],
                                  "DistrictName": u.name, "Code": f"{district_ids[u.code]:04d}", "Type": 1,
                                  "SupportType": 3, "NameExtension": [u.name, fold(u.name)],
                                  "CanUpdateCOD": True, "Status": 1})
        per_district: dict[str, int] = {}
        for u in units:
            if u.level == "ward":
                per_district[u.parent_code] = per_district.get(u.parent_code, 0) + 1
                district_id = district_ids[u.parent_code]
                name = _ghn_name(u)
                wards.append({"WardCode": f"{district_id}{per_district[u.parent_code]:03d}", "DistrictID": district_id,
                              "WardName": name, "NameExtension": [name, fold(name)], "CanUpdateCOD": True,
                              "SupportType": 3, "Status": 1})
        _catalogue.update(provinces=provinces, districts=districts, wards=wards,
                          ward_district={w["WardCode"]: w["DistrictID"] for w in wards}, by_district={})
        for w in wards:
            _catalogue["by_district"].setdefault(w["DistrictID"], []).append(w)  # type: ignore[union-attr]
    return _catalogue  # type: ignore[return-value]


def _ward_in_district(ward_code, district_id) -> bool:
    try:
        return catalogue()["ward_district"].get(str(ward_code)) == int(district_id)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return False


def _master_data(path: str, call: Call, body: dict) -> Reply:
    data = catalogue()
    if path == "/master-data/province":
        return _ok(data["provinces"])
    if path == "/master-data/district":
        wanted = call.query.get("province_id") or body.get("province_id")
        rows = data["districts"]
        if wanted not in (None, ""):
            try:
                rows = [d for d in rows if d["ProvinceID"] == int(wanted)]
            except (TypeError, ValueError):
                return _refuse("province_id không hợp lệ", "INVALID_INPUT")
        return _ok(rows)
    if path == "/master-data/ward":
        wanted = call.query.get("district_id") or body.get("district_id")
        try:
            district_id = int(wanted)
        except (TypeError, ValueError):
            return _refuse("Thiếu district_id", "INVALID_INPUT")
        return _ok(data["by_district"].get(district_id, []))
    return _refuse("Not found", "NOT_FOUND", 404)
