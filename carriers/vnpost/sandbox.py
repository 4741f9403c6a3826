"""VNPost's side of the MyVNPost partner API, for the embedded default and tests (served under
/sandbox/vnpost): GetAccessToken and the `token` header, ServicesCharge, CreateOrder, getOrder,
GetListOrder, orderCancel, GetStatusHistoryOrder, exportListReport, the three- and two-level address
catalogues, and webhooks signed with the sandbox's own RSA key (made on first use in the instance
folder, never committed). Codes in the catalogue are the sandbox's own numbering (see the assumption
block of carriers/vnpost/payloads.py), never the official codes, so an order carrying ours is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import sqlite3
import threading
import time
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

import requests

from carriers.sandbox import (
    Call,
    ParcelExists,
    Reply,
    SandboxStore,
    account_credentials,
    current_units,
    legacy_units,
    new_tracking_code,
    post_webhooks,
    render_label,
    sandbox_fee,
)
from carriers.vnpost.payloads import (
    CANCEL_ACCEPTED,
    CANCEL_REFUSED,
    CODE_TYPE_ITEM,
    DATE_FORMAT,
    SERVICES,
    SERVICES_WITHOUT_COD,
    STATUS_CODES,
    STATUS_NAMES,
    TWO_LEVEL_DISTRICT,
    cod_of,
    format_vn_time,
    signed_text,
)
from core.clock import VN_TZ
from core.settings import Settings

CARRIER = "vnpost"
# The services this sandbox opens to every account, their price against the shared tariff, and
# the item code prefix (express codes start with E, e-commerce parcels with C) with the first digit
# of the orderHdrID the sandbox derives from the item code.
OFFERED = {"CTN001": -3_000, "CTN009": 0, "ETN011": 12_000}
PREFIX = {"E": ("EB", "1"), "C": ("CT", "2")}
MUST_HAVE = ("senderName", "senderPhone", "senderAddress", "receiverName", "receiverPhone", "receiverAddress",
             "serviceCode", "contentNote", "weight", "sendType")

_key_lock = threading.Lock()
_keys: dict[str, object] = {}


# -- ids: the sandbox's own numbering of the official units ---------------------------------------------
def province_id(gso: str) -> str:
    return str(100 + int(gso))


def district_id(gso: str) -> str:
    return str(1000 + int(gso))


def commune_id(gso: str) -> str:
    return str(1_000_000 + int(gso))


def catalogue_new() -> tuple[list[dict], list[dict]]:
    """getNewProvinceAll and getNewCommuneAll rows (the commune's province under `districtCode`)."""
    units = current_units()
    provinces = [{"provinceCode": province_id(u.code), "provinceName": u.name} for u in units if u.level == "province"]
    communes = [{"communeCode": commune_id(u.code), "communeName": u.name, "districtCode": province_id(u.parent_code)}
                for u in units if u.level == "ward" and u.parent_code]
    return provinces, communes


def catalogue_legacy() -> tuple[list[dict], list[dict], list[dict]]:
    units = legacy_units()
    provinces = [{"provinceCode": province_id(u.code), "provinceName": u.name} for u in units if u.level == "province"]
    districts = [{"districtCode": district_id(u.code), "districtName": u.name, "provinceCode": province_id(u.parent_code)}
                 for u in units if u.level == "district" and u.parent_code]
    communes = [{"communeCode": commune_id(u.code), "communeName": u.name, "districtCode": district_id(u.parent_code)}
                for u in units if u.level == "ward" and u.parent_code]
    return provinces, districts, communes


_index: dict[str, object] = {}


def _valid_address(province: str | None, district: str | None, commune: str | None) -> bool:
    """A party's codes, when given, name a commune of that province in VNPost's catalogue: the two-level
    one with the district constant, else the three-level one."""
    if not (province or district or commune):
        return True  # VNPost reads the address line
    if "new" not in _index:
        _, communes = catalogue_new()
        _index["new"] = {c["communeCode"]: c["districtCode"] for c in communes}
        _, districts, old_communes = catalogue_legacy()
        _index["districts"] = {d["districtCode"]: d["provinceCode"] for d in districts}
        _index["old"] = {c["communeCode"]: c["districtCode"] for c in old_communes}
    if district == TWO_LEVEL_DISTRICT:
        return bool(commune) and _index["new"].get(commune) == province  # type: ignore[union-attr]
    return bool(commune) and _index["old"].get(commune) == district and \
        _index["districts"].get(district) == province  # type: ignore[union-attr]


# -- credentials ----------------------------------------------------------------------------------------
def _logins(settings: Settings) -> list[tuple[str, str, str]]:
    """(username, password, customerCode) the sandbox accepts: the deployment's account, and each
    centre's VNPost account (its token as the password, under its own customer code or the deployment's)."""
    user = settings.get("HCC_VNPOST_CLIENT_ID") or "hcc-sandbox"
    pw = settings.get("HCC_VNPOST_CLIENT_SECRET") or "sandbox-vnpost"
    code = settings.get("HCC_VNPOST_CUSTOMER_CODE") or "HCC0001"
    return [(user, pw, code), *((user, t, c or code) for c, t in account_credentials(settings, CARRIER))]


def _token_of(user: str, pw: str, code: str) -> str:
    return base64.b64encode(hashlib.sha256(f"{user}\n{code}\n{pw}".encode()).digest()).decode()


def _customer_of(settings: Settings, token: str) -> str | None:
    for user, pw, code in _logins(settings):
        if token and hmac.compare_digest(token, _token_of(user, pw, code)):
            return code
    return None


# -- webhook key ----------------------------------------------------------------------------------------
def _private_key(settings: Settings):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    path = Path(settings.instance_dir) / "sandbox" / "vnpost-webhook-key.pem"
    with _key_lock:
        key = _keys.get(str(path))
        if key is not None and path.exists():
            return key
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
            path.chmod(0o600)
        _keys[str(path)] = key
        return key


def public_key_pem(settings: Settings) -> str:
    """The sandbox's public key, as VNPost publishes its own (what a deployment configures)."""
    from cryptography.hazmat.primitives import serialization

    return _private_key(settings).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def sign(settings: Settings, text: bytes) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return base64.b64encode(_private_key(settings).sign(text, padding.PKCS1v15(), hashes.SHA256())).decode()


# -- orders ---------------------------------------------------------------------------------------------
def _refuse(status: int, message: str) -> Reply:
    return Reply(status, {"success": False, "message": message})


def _hdr_id(tracking_code: str) -> str:
    prefix = tracking_code[:2]
    first = next((d for p, d in PREFIX.values() if p == prefix), "9")
    return first + tracking_code[2:-2]


def _item_code(original_id: str) -> str | None:
    prefix = next((p for p, d in PREFIX.values() if original_id[:1] == d), None)
    return f"{prefix}{original_id[1:]}VN" if prefix and original_id[1:].isdigit() else None


def _current(store: SandboxStore, parcel) -> tuple[str, int | None]:
    events = store.events_of(CARRIER, parcel.tracking_code)
    collected = next((e.cod_collected for e in reversed(events) if e.cod_collected is not None), None)
    return STATUS_CODES[events[-1].status] if events else "1", collected


def _record(store: SandboxStore, parcel) -> dict:
    info = parcel.payload.get("informationOrder") or {}
    code, _ = _current(store, parcel)
    return {"orderHdrID": _hdr_id(parcel.tracking_code), "itemCode": parcel.tracking_code,
            "saleOrderCode": parcel.order_number, "customerCode": parcel.payload.get("customerCode"),
            "serviceCode": info.get("serviceCode"), "status": code, "statusName": STATUS_NAMES.get(code, ""),
            "senderName": info.get("senderName"), "receiverName": info.get("receiverName"),
            "receiverAddress": info.get("receiverAddress"), "weight": info.get("weight"),
            "codAmount": parcel.cod_amount, "totalFee": parcel.fee,
            "createdDate": format_vn_time(parcel.created_at)[0]}


def _tracking_codes(store: SandboxStore) -> list[str]:
    with closing(sqlite3.connect(store.path, timeout=30)) as conn:
        return [r[0] for r in conn.execute("SELECT tracking_code FROM parcel WHERE carrier=? ORDER BY created_at",
                                           (CARRIER,))]


def _fee(weight: int, cod: int, service: str) -> int:
    return sandbox_fee(weight, cod) + OFFERED[service]


def _weight(value) -> int | None:
    try:
        weight = int(str(value))
    except (TypeError, ValueError):
        return None
    return weight if weight > 0 else None


def handle(store: SandboxStore, settings: Settings, call: Call) -> Reply:
    if store.take_down(CARRIER):
        return Reply(503, {"success": False, "message": "Hệ thống đang bảo trì"})
    path = call.path.rstrip("/")
    body = call.json
    if path == "/GetAccessToken" and call.method == "POST":
        data = body if isinstance(body, dict) else {}
        given = (str(data.get("username") or ""), str(data.get("password") or ""), str(data.get("customerCode") or ""))
        if not any(given[0] == u and hmac.compare_digest(given[1], p) and given[2] == c for u, p, c in _logins(settings)):
            return Reply(200, {"success": False, "errorMessage": "Tài khoản, mật khẩu hoặc mã khách hàng không đúng",
                               "token": None})
        return Reply(200, {"success": True, "errorMessage": None, "token": _token_of(*given)})
    customer = _customer_of(settings, call.headers.get("token", "") or call.headers.get("Token", ""))
    if customer is None:
        return Reply(401, {"success": False, "message": "Token không hợp lệ hoặc đã hết hạn"})
    if call.method == "GET" and path in ("/getAllProvince", "/getAllDistrict", "/getAllCommune"):
        provinces, districts, communes = catalogue_legacy()
        return Reply(200, {"/getAllProvince": provinces, "/getAllDistrict": districts, "/getAllCommune": communes}[path])
    if call.method == "GET" and path in ("/getNewProvinceAll", "/getNewCommuneAll"):
        provinces, communes = catalogue_new()
        return Reply(200, provinces if path == "/getNewProvinceAll" else communes)
    if path == "/ServicesCharge" and call.method == "POST":
        data = (body or {}).get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or _weight(data.get("weight")) is None:
            return _refuse(400, "Thiếu khối lượng (weight)")
        if body.get("customerCode") != customer:
            return _refuse(400, "customerCode không thuộc tài khoản")
        for side in ("sender", "receiver"):
            if not _valid_address(data.get(f"{side}ProvinceCode"), data.get(f"{side}DistrictCode"),
                                  data.get(f"{side}CommuneCode")):
                return _refuse(400, f"Mã địa chỉ {side} không có trong danh mục VNPost")
        weight, cod = _weight(data["weight"]), cod_of(data.get("addonService"))
        wanted = data.get("serviceCode")
        rows = [{"serviceCode": code, "serviceName": name, "mainFee": _fee(weight, 0, code),
                 "vasFee": _fee(weight, cod, code) - _fee(weight, 0, code), "totalFee": _fee(weight, cod, code),
                 "priceWeight": weight, "weightConvert": weight, "addonService": data.get("addonService") or []}
                for code, name in ((c, SERVICES[c]) for c in OFFERED)
                if (not wanted or wanted == code) and not (cod and code in SERVICES_WITHOUT_COD)]
        if wanted and not rows:
            return _refuse(400, f"Dịch vụ {wanted} không mở cho tài khoản hoặc không nhận dịch vụ cộng thêm đã chọn")
        return Reply(200, rows)
    if path == "/CreateOrder" and call.method == "POST":
        data = body if isinstance(body, dict) else {}
        info = data.get("informationOrder")
        if not isinstance(info, dict):
            return _refuse(400, "Thiếu informationOrder")
        if data.get("customerCode") != customer:
            return _refuse(400, "customerCode không thuộc tài khoản")
        missing = [f for f in MUST_HAVE if not str(info.get(f) or "").strip()]
        if missing:
            return _refuse(400, f"Thiếu thông tin bắt buộc: {', '.join(missing)}")
        if info["serviceCode"] not in OFFERED or _weight(info["weight"]) is None:
            return _refuse(400, "Dịch vụ hoặc khối lượng không hợp lệ")
        cod = cod_of(info.get("addonService"))
        if cod and info["serviceCode"] in SERVICES_WITHOUT_COD:
            return _refuse(400, f"Dịch vụ {info['serviceCode']} không đi kèm dịch vụ cộng thêm GTG021")
        for side in ("sender", "receiver"):
            if not _valid_address(info.get(f"{side}ProvinceCode"), info.get(f"{side}DistrictCode"),
                                  info.get(f"{side}CommuneCode")):
                return _refuse(400, f"Mã địa chỉ {side} không có trong danh mục VNPost")
        reference = str(info.get("saleOrderCode") or "") or new_tracking_code("VNP")
        prefix, _ = PREFIX[info["serviceCode"][0]]
        try:
            parcel = store.create(CARRIER, new_tracking_code(prefix, "VN"), reference, data,
                                  note=str(info.get("deliveryInstruction") or ""), cod_amount=cod,
                                  fee=_fee(_weight(info["weight"]), cod, info["serviceCode"]))
        except ParcelExists:
            # One parcel per order number is all the sandbox's store can hold.
            return _refuse(400, "saleOrderCode đã được dùng cho một đơn khác")
        slow = store.fault(CARRIER, "slow_create")
        if slow:
            # The order exists, but the answer comes too late for the caller (a lost response).
            time.sleep(slow)
        return Reply(200, _record(store, parcel))
    if path == "/getOrder" and call.method == "GET":
        parcel = store.get(CARRIER, call.query.get("code", "")) if call.query.get("type") == CODE_TYPE_ITEM else None
        return Reply(200, [{"results": [_record(store, parcel)] if parcel else []}])
    if path == "/GetListOrder" and call.method == "GET":
        try:
            start = datetime.strptime(call.query.get("lastUpdateFrom", ""), DATE_FORMAT).date()
            end = datetime.strptime(call.query.get("lastUpdateTo", ""), DATE_FORMAT).date()
            size = min(500, max(1, int(call.query.get("size") or 500)))
            page = max(0, int(call.query.get("page") or 0))
        except ValueError:
            return _refuse(400, "lastUpdateFrom/lastUpdateTo phải theo dạng dd-MM-yyyy")
        rows = []
        for code in _tracking_codes(store):
            parcel = store.get(CARRIER, code)
            if parcel is None or parcel.payload.get("customerCode") != customer:
                continue
            events = store.events_of(CARRIER, code)
            updated = (events[-1].at if events else parcel.created_at).astimezone(VN_TZ).date()
            if start <= updated <= end + timedelta(days=1):
                rows.append(_record(store, parcel))
        return Reply(200, {"results": rows[page * size:(page + 1) * size], "totalRecord": len(rows)})
    if path == "/orderCancel" and call.method == "POST":
        original = str((body or {}).get("OriginalId") or "") if isinstance(body, dict) else ""
        code = _item_code(original)
        parcel = store.get(CARRIER, code) if code else None
        if parcel is None:
            return Reply(200, {"Type": CANCEL_REFUSED, "Message": "Không tìm thấy đơn hàng", "OriginalId": original})
        if parcel.cancelled_at or store.cancel(CARRIER, parcel.tracking_code):
            return Reply(200, {"Type": CANCEL_ACCEPTED, "Message": "Huỷ đơn hàng thành công", "OriginalId": original,
                               "CaseId": f"C{original}"})
        return Reply(200, {"Type": CANCEL_REFUSED, "Message": "Bưu gửi đã được thu gom, không thể huỷ",
                           "OriginalId": original})
    if path == "/GetStatusHistoryOrder" and call.method == "GET":
        parcel = store.get(CARRIER, call.query.get("code", "")) if call.query.get("type") == CODE_TYPE_ITEM else None
        if parcel is None:
            return Reply(200, {"data": None, "message": "Không tìm thấy bưu gửi"})
        events = store.events_of(CARRIER, parcel.tracking_code)
        _, collected = _current(store, parcel)
        history = []
        for e in events:
            day, hour = format_vn_time(e.at)
            code = STATUS_CODES[e.status]
            history.append({"createdDate": day, "createdHour": hour, "statusCode": code,
                            "statusName": STATUS_NAMES.get(code, ""), "locateName": "Bưu cục sandbox"})
        return Reply(200, {"data": {"itemCode": parcel.tracking_code, "saleOrderCode": parcel.order_number,
                                    "codAmount": collected if collected is not None else parcel.cod_amount,
                                    "statusHistory": history}})
    if path == "/exportListReport" and call.method == "POST":
        codes = body if isinstance(body, list) else []
        if not codes or len(codes) > 100:
            return _refuse(400, "Danh sách số hiệu bưu gửi phải có từ 1 đến 100 mã")
        files = []
        for code in codes:
            parcel = store.get(CARRIER, str(code))
            if parcel is None:
                continue
            info = parcel.payload.get("informationOrder") or {}
            pdf = render_label("VNPost - Bưu điện Việt Nam", parcel.tracking_code, order_number=parcel.order_number,
                               receiver=str(info.get("receiverName") or ""), phone=str(info.get("receiverPhone") or ""),
                               address=str(info.get("receiverAddress") or ""), cod_amount=parcel.cod_amount,
                               weight_grams=_weight(info.get("weight")) or 0)
            files.append(base64.b64encode(pdf).decode())
        return Reply(200, files)
    return _refuse(404, "Không có chức năng này")


def webhook_body(store: SandboxStore, settings: Settings, event) -> dict:
    """What VNPost posts for one status change: `{data: [order], sendDate, signature}`."""
    parcel = store.get(CARRIER, event.tracking_code)
    code = STATUS_CODES[event.status]
    day, hour = format_vn_time(event.at)
    send_date = f"{day} {hour}"
    record = {"itemCode": event.tracking_code, "saleOrderCode": event.order_number, "status": code,
              "statusName": STATUS_NAMES.get(code, ""),
              "orderHdrID": _hdr_id(event.tracking_code),
              "senderCode": parcel.payload.get("customerCode") if parcel else None,
              "codAmount": event.cod_collected if event.cod_collected is not None else
              (parcel.cod_amount if parcel else 0),
              "totalFee": parcel.fee if parcel else 0}
    return {"data": [record], "sendDate": send_date, "signature": sign(settings, signed_text(send_date, record))}


def deliver_webhooks(store: SandboxStore, settings: Settings, http: requests.Session | None = None) -> int:
    """Send the webhooks of every event not yet delivered (what VNPost does to a registered URL)."""
    url = settings.get("HCC_VNPOST_SANDBOX_WEBHOOK_URL") or f"{settings.public_url}/callbacks/vnpost"
    return post_webhooks(store, CARRIER, url, lambda e: webhook_body(store, settings, e), http)
