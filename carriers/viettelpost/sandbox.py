"""Viettel Post's side of the protocol (served under /sandbox/viettelpost): orders, labels, webhooks."""

from __future__ import annotations

import hashlib
import hmac
import time

import requests

from carriers.sandbox import (
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
from carriers.viettelpost.payloads import STATUS_CODES, STATUS_NAMES, format_time, parse_time
from core.settings import Settings

CARRIER = "viettelpost"


def _logins(settings: Settings) -> list[tuple[str, str]]:
    """(USERNAME, PASSWORD) the sandbox accepts: the deployment's, and each centre's Viettel Post
    account (its customer code as the user, the deployment's user when it names none; its token as
    the password)."""
    user = settings.get("HCC_VIETTELPOST_USERNAME") or "hcc-sandbox"
    pw = settings.get("HCC_VIETTELPOST_PASSWORD") or "sandbox-viettelpost"
    return [(user, pw), *((code or user, t) for code, t in account_credentials(settings, CARRIER))]


def _token_of(user: str, pw: str) -> str:
    return "vtp-" + hashlib.sha256(f"{user}:{pw}".encode()).hexdigest()[:48]



def _refuse(message: str, status: int = 204, data=None) -> Reply:
    return Reply(200, {"status": status, "error": True, "message": message, "data": data})


def _ok(data, message: str = "OK") -> Reply:
    return Reply(200, {"status": 200, "error": False, "message": message, "data": data})


def handle(store: SandboxStore, settings: Settings, call: Call) -> Reply:
    if store.take_down(CARRIER):
        return Reply(503, {"status": 503, "error": True, "message": "Service Unavailable"})
    body = call.json if isinstance(call.json, dict) else {}
    path = call.path.rstrip("/")
    if path == "/v2/user/Login" and call.method == "POST":
        user, pw = str(body.get("USERNAME") or ""), str(body.get("PASSWORD") or "")
        if not any(user == u and hmac.compare_digest(pw, p) for u, p in _logins(settings)):
            return _refuse("Sai tên đăng nhập hoặc mật khẩu", 205)
        return _ok({"userId": 1, "token": _token_of(user, pw), "partner": 1, "phone": "0900000000"})
    if path == "/DigitalizePrint/report.do" and call.method == "GET":
        code = store.fault(CARRIER, f"print:{call.query.get('bill', '')}")
        parcel = None
        if code:
            parcel = store.get(CARRIER, str(int(code)))
        if parcel is None:
            return Reply(404, b"not found", "text/plain")
        r = parcel.payload
        pdf = render_label("Viettel Post", parcel.tracking_code, order_number=parcel.order_number,
                           receiver=r.get("RECEIVER_FULLNAME", ""), phone=r.get("RECEIVER_PHONE", ""),
                           address=r.get("RECEIVER_ADDRESS", ""), cod_amount=parcel.cod_amount,
                           weight_grams=int(r.get("PRODUCT_WEIGHT", 0)))
        return Reply(200, pdf, "application/pdf")
    if path.startswith("/v2/categories/") and call.method == "GET":
        return _categories(path, call)
    given = call.headers.get("Token", "")
    if not any(hmac.compare_digest(given, _token_of(u, p)) for u, p in _logins(settings)):
        return Reply(401, {"status": 401, "error": True, "message": "Token không hợp lệ"})
    if path == "/v2/order/getPriceAll" and call.method == "POST":
        fee = sandbox_fee(int(body.get("PRODUCT_WEIGHT") or 0), int(body.get("MONEY_COLLECTION") or 0))
        return Reply(200, [{"MA_DV_CHINH": "VCN", "TEN_DICHVU": "Chuyển phát nhanh", "GIA_CUOC": fee + 3_000,
                            "THOI_GIAN": "24 giờ"},
                           {"MA_DV_CHINH": "VTK", "TEN_DICHVU": "Tiết kiệm", "GIA_CUOC": fee - 2_000,
                            "THOI_GIAN": "72 giờ"}])
    if path == "/v2/order/createOrder" and call.method == "POST":
        missing = [f for f in ("ORDER_NUMBER", "RECEIVER_FULLNAME", "RECEIVER_PHONE", "RECEIVER_ADDRESS",
                               "RECEIVER_WARD", "RECEIVER_PROVINCE", "PRODUCT_WEIGHT") if not body.get(f)]
        if missing:
            return _refuse(f"Thiếu thông tin: {', '.join(missing)}")
        for side in ("RECEIVER", "SENDER"):
            if (side == "RECEIVER" or body.get(f"{side}_WARD")) and not _address_ok(
                    body.get(f"{side}_PROVINCE"), body.get(f"{side}_DISTRICT"), body.get(f"{side}_WARD")):
                return _refuse(f"{side}_WARD, {side}_DISTRICT, {side}_PROVINCE không khớp danh mục địa chỉ")
        if not body.get("GROUPADDRESS_ID"):
            # Collected at the sender's own address: Viettel Post needs it in full, and a valid date.
            lacking = [f for f in ("SENDER_FULLNAME", "SENDER_PHONE", "SENDER_ADDRESS", "SENDER_PROVINCE")
                       if not body.get(f)]
            if lacking:
                return _refuse(f"Thiếu địa chỉ lấy hàng: {', '.join(lacking)}")
            if body.get("DELIVERY_DATE"):
                try:
                    parse_time(str(body["DELIVERY_DATE"]))
                except ValueError:
                    return _refuse("DELIVERY_DATE không đúng định dạng dd/MM/yyyy HH:mm:ss")
        cod = int(body.get("MONEY_COLLECTION") or 0)
        fee = sandbox_fee(int(body["PRODUCT_WEIGHT"]), cod)
        try:
            # Viettel Post codes are digits only.
            parcel = store.create(CARRIER, new_tracking_code("1"), body["ORDER_NUMBER"], body,
                                  note=body.get("ORDER_NOTE", ""), cod_amount=cod, fee=fee)
        except ParcelExists as e:
            return _refuse("ORDER_NUMBER đã tồn tại", data={"ORDER_NUMBER": e.parcel.tracking_code})
        slow = store.fault(CARRIER, "slow_create")
        if slow:
            time.sleep(slow)
        return _ok({"ORDER_NUMBER": parcel.tracking_code, "MONEY_COLLECTION": cod, "EXCHANGE_WEIGHT":
                    int(body["PRODUCT_WEIGHT"]), "MONEY_TOTAL": fee, "MONEY_TOTAL_FEE": fee, "MONEY_FEE": fee,
                    "MONEY_COLLECTION_FEE": 0, "MONEY_FEE_VAT": 0, "KPI_HT": 24,
                    "RECEIVER_PROVINCE": int(body["RECEIVER_PROVINCE"]),
                    "RECEIVER_DISTRICT": int(body.get("RECEIVER_DISTRICT") or 0),
                    "RECEIVER_WARDS": int(body["RECEIVER_WARD"])})
    if path == "/v2/order/UpdateOrder" and call.method == "POST":
        parcel = store.get(CARRIER, str(body.get("ORDER_NUMBER", "")))
        if parcel is None:
            return _refuse("Không tìm thấy vận đơn")
        if int(body.get("TYPE", 0)) != 4:
            return _refuse("Sandbox chỉ hỗ trợ TYPE=4 (huỷ đơn)")
        if parcel.cancelled_at or store.cancel(CARRIER, parcel.tracking_code):
            return _ok(None, "Huỷ đơn thành công")
        return _refuse("Đơn hàng đã được lấy, không thể huỷ")
    if path == "/v2/order/printing-code" and call.method == "POST":
        codes = body.get("ORDER_ARRAY") or []
        if len(codes) != 1 or store.get(CARRIER, str(codes[0])) is None:
            return _refuse("Không tìm thấy vận đơn")
        print_token = hashlib.sha256(f"{codes[0]}:{body.get('EXPIRY_TIME')}".encode()).hexdigest()[:32]
        store.set_fault(CARRIER, f"print:{print_token}", float(codes[0]))
        return Reply(200, {"status": 200, "error": False, "message": print_token})
    return Reply(404, {"status": 404, "error": True, "message": "Not found"})


def webhook_body(store: SandboxStore, settings: Settings, event) -> dict:
    parcel = store.get(CARRIER, event.tracking_code)
    code = STATUS_CODES[event.status]
    payload = parcel.payload if parcel else {}
    return {"DATA": {
        "ORDER_NUMBER": event.tracking_code, "ORDER_REFERENCE": event.order_number,
        "ORDER_STATUSDATE": format_time(event.at), "ORDER_STATUS": code, "STATUS_NAME": STATUS_NAMES.get(code, ""),
        "LOCALION_CURRENTLY": "Bưu cục sandbox", "NOTE": "",
        "MONEY_COLLECTION": event.cod_collected if event.cod_collected is not None else (parcel.cod_amount if parcel else 0),
        "MONEY_FEECOD": 0, "MONEY_TOTAL": parcel.fee if parcel else 0, "EXPECTED_DELIVERY": "Trong ngày",
        "PRODUCT_WEIGHT": int(payload.get("PRODUCT_WEIGHT") or 0), "ORDER_SERVICE": payload.get("ORDER_SERVICE", "VCN"),
    }, "TOKEN": settings.get("HCC_VIETTELPOST_WEBHOOK_SECRET") or "sandbox-vtp-webhook"}


def deliver_webhooks(store: SandboxStore, settings: Settings, http: requests.Session | None = None) -> int:
    """Send the webhooks of every event not yet delivered (what Viettel Post does on each status change)."""
    url = settings.get("HCC_VIETTELPOST_SANDBOX_WEBHOOK_URL") or f"{settings.public_url}/callbacks/viettelpost"
    return post_webhooks(store, CARRIER, url, lambda e: webhook_body(store, settings, e), http)


# -- categories: Viettel Post's own address catalogue ----------------------------------------------------
# Viettel Post keys addresses by the three-level units in force before 1 July 2025, with its own
# sequential ids (PROVINCE_ID, DISTRICT_ID, WARDS_ID), a letter PROVINCE_CODE, the official district
# code as DISTRICT_VALUE, and names as it writes them: provinces without 'Tỉnh'/'Thành phố', districts
# and wards in capitals ('QUẬN BA ĐÌNH', 'PHƯỜNG PHÚC XÁ'). Built from the official pre-reform units.

_catalogue: dict[str, dict] = {}


def catalogue() -> dict[str, dict]:
    if not _catalogue:
        import re

        from carriers.catalogue import fold

        provinces: list[dict] = []
        districts: dict[int, list[dict]] = {}
        wards: dict[int, list[dict]] = {}
        province_ids: dict[str, int] = {}
        district_ids: dict[str, int] = {}
        parent: dict[int, int] = {}
        ward_parent: dict[int, int] = {}
        units = legacy_units()
        for u in units:
            if u.level == "province":
                pid = province_ids[u.code] = len(province_ids) + 1
                name = re.sub(r"^(Tỉnh|Thành phố) ", "", u.name)
                letters = "".join(w[0] for w in fold(name).upper().split())
                provinces.append({"PROVINCE_ID": pid, "PROVINCE_CODE": (letters + "XXX")[:3], "PROVINCE_NAME": name})
        for u in units:
            if u.level == "district":
                did = district_ids[u.code] = len(district_ids) + 1
                pid = province_ids[u.parent_code]
                parent[did] = pid
                districts.setdefault(pid, []).append({"DISTRICT_ID": did, "DISTRICT_VALUE": u.code,
                                                      "DISTRICT_NAME": u.name.upper(), "PROVINCE_ID": pid})
        for u in units:
            if u.level == "ward":
                did = district_ids[u.parent_code]
                wid = len(ward_parent) + 1
                ward_parent[wid] = did
                wards.setdefault(did, []).append({"WARDS_ID": wid, "WARDS_NAME": u.name.upper(), "DISTRICT_ID": did})
        _catalogue.update(provinces={"all": provinces}, districts=districts, wards=wards,
                          district_parent=parent, ward_parent=ward_parent)
    return _catalogue


def _address_ok(province, district, ward) -> bool:
    data = catalogue()
    try:
        ward_id, district_id, province_id = int(ward), int(district), int(province)
    except (TypeError, ValueError):
        return False
    return (data["ward_parent"].get(ward_id) == district_id
            and data["district_parent"].get(district_id) == province_id)


def _categories(path: str, call: Call) -> Reply:
    data = catalogue()
    try:
        if path == "/v2/categories/listProvinceById":
            wanted = int(call.query.get("provinceId", "-1"))
            rows = data["provinces"]["all"]
            return _ok(rows if wanted == -1 else [p for p in rows if p["PROVINCE_ID"] == wanted])
        if path == "/v2/categories/listDistrict":
            wanted = int(call.query.get("provinceId", "-1"))
            if wanted == -1:
                return _ok([d for rows in data["districts"].values() for d in rows])
            return _ok(data["districts"].get(wanted, []))
        if path == "/v2/categories/listWards":
            wanted = int(call.query.get("districtId", "-1"))
            if wanted == -1:
                return _ok([w for rows in data["wards"].values() for w in rows])
            return _ok(data["wards"].get(wanted, []))
    except ValueError:
        return _refuse("Tham số không hợp lệ")
    return Reply(404, {"status": 404, "error": True, "message": "Not found"})
