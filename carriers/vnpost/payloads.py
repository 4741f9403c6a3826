"""VNPost (MyVNPost partner API) requests and responses as plain dicts: pure functions, no HTTP.

Protocol (REST, JSON, all paths under one host: UAT https://my-uat.vnpost.vn/MYVNP_API, production
https://connect-my.vnpost.vn/customer-partner): `POST /GetAccessToken` with `{username, password,
customerCode}` answers `{success, errorMessage, token}`; every other call carries that token in a
`token` header (not `Authorization: Bearer`). `POST /ServicesCharge` prices (one row per service),
`POST /CreateOrder` creates (`orderCreationStatus` 1, `informationOrder` with sender, receiver,
service, add-on services such as COD `GTG021`/`PROP0018:<amount>`), `GET /getOrder?type=1&code=` and
`GET /GetListOrder` read orders, `POST /orderCancel {OriginalId}` cancels (`{Type, Message, CaseId}`,
Type "00" accepted), `GET /GetStatusHistoryOrder?type=1&code=` gives the status history, `POST
/exportListReport [itemCode…]` the labels as base64 PDFs. The address catalogue after 1 July 2025 is
two-level (`getNewProvinceAll`, `getNewCommuneAll`; the district field of an order is then the
constant "VNPOST"). Webhooks: `{data: [order…], sendDate, signature}` signed RSA-SHA256 over
"MYVNP" + sendDate + itemCode + status of the first order. Amounts are whole đồng. Sources and what
is assumed: docs/carriers/vnpost.md; every assumption is in the one block below.
"""

from __future__ import annotations

import base64
import binascii
import unicodedata
from datetime import date, datetime, timedelta

from carriers.base import (
    CarrierUnit,
    CreatedShipment,
    Party,
    Rate,
    ShipmentRequest,
    TrackingEvent,
    WebhookRejected,
)
from core.clock import VN_TZ
from core.text import printable

# Documented (see docs/carriers/vnpost.md).
COD_ADDON = "GTG021"            # phát hàng thu tiền hộ
COD_PROP = "PROP0018"           # its amount property: "PROP0018:<amount>"
TWO_LEVEL_DISTRICT = "VNPOST"   # the district code of an address in the two-level catalogue
SCOPE_DOMESTIC = 1              # ServicesCharge: domestic
ORDER_TYPE_SEND = "GUI"         # CreateOrder / GetListOrder `type`: an order we send
CODE_TYPE_ITEM = "1"            # getOrder / GetStatusHistoryOrder `type`: `code` is the itemCode
VEHICLE_ROAD = "BO"             # đường bộ
SIGNATURE_PREFIX = "MYVNP"
CANCEL_ACCEPTED, CANCEL_PENDING = "00", "02"
LIST_PAGE_SIZE = 500            # GetListOrder: at most 500 a page
DATE_FORMAT = "%d-%m-%Y"        # GetListOrder lastUpdateFrom / lastUpdateTo
SEND_TYPE_COLLECT = "1"         # sendType: thu gom tận nơi (the postman collects at the sender)
SEND_TYPE_POST_OFFICE = "2"     # sendType: gửi hàng tại bưu cục

# ---------------------------------------------------------------------------------------------------
# ASSUMPTIONS — everything below is not in the material we could read (docs/carriers/vnpost.md says
# what each rests on); confirm with VNPost before go-live and change it here only.
#
# Status codes. MyVNPost's own order statuses are 0–22, in groups its portal shows: 1–5 "Đang lấy
# hàng", 6, 7, 10–13, 15 "Đang thực hiện", 14 and 21 "Thành công", 20 "Thành công một phần", 16–19
# "Chuyển hoàn" (0 is a draft). Which status within a group is which, and 8 as cancelled, are ours.
# Another public integration reads 50, 70, 80, 90 and 100 (names as below): read too.
STATUS_MAP = {
    "0": "pending", "1": "pending", "2": "pending", "3": "pending", "4": "pending", "5": "pending",
    "6": "picked_up",           # Đã thu gom                                   [assumed in group]
    "7": "in_transit", "15": "in_transit",
    "10": "out_for_delivery",   # Đang phát                                    [assumed in group]
    "11": "delivery_failed",    # Phát không thành công                        [assumed in group]
    "12": "on_hold",            # Chờ phát lại                                 [assumed in group]
    "13": "ready_for_pickup",   # Chờ nhận tại bưu cục                         [assumed in group]
    "14": "delivered", "21": "delivered", "20": "delivered",
    "16": "return_to_sender", "17": "return_to_sender", "18": "return_to_sender",
    "19": "returned",           # Đã phát hoàn cho người gửi                   [assumed in group]
    "8": "cancelled",           # Đã huỷ                                       [assumed]
    "50": "picked_up", "70": "in_transit", "80": "out_for_delivery", "90": "delivered",
    "100": "return_to_sender",
}
# An unknown code is read from its Vietnamese name, first match wins (refusals and returns before
# successes: "Phát không thành công", "Phát hoàn thành công").
STATUS_WORDS = (
    (("huỷ", "hủy"), "cancelled"),
    (("không thành công", "thất bại", "không phát được"), "delivery_failed"),
    (("đã phát hoàn", "hoàn thành công", "đã hoàn trả"), "returned"),
    (("chuyển hoàn", "phát hoàn", "hoàn trả", "hoàn hàng"), "return_to_sender"),
    (("phát thành công", "giao thành công"), "delivered"),
    (("đang phát", "đi phát", "giao bưu tá"), "out_for_delivery"),
    (("chờ nhận tại bưu cục",), "ready_for_pickup"),
    (("chờ phát lại", "lưu kho"), "on_hold"),
    (("đã thu gom", "thu gom thành công", "đã nhận hàng", "đã lấy hàng", "nhận gửi"), "picked_up"),
    (("vận chuyển", "khai thác", "chuyển tiếp", "đến bưu cục", "đi bưu cục"), "in_transit"),
    (("chờ", "tạo đơn", "nháp", "duyệt", "đang lấy hàng"), "pending"),
)
# A dossier pickup whose fee the postman collects from the citizen: the amount goes as the COD
# add-on of the collection order (documented COD is collected at delivery; collection at pickup
# is what the BCCI contract is to say).
PICKUP_FEE_AS_COD = True
# GetAccessToken gives no lifetime: the token is kept this long, and renewed at once on 401/403.
TOKEN_TTL = 3600
# find_by_order_number reads GetListOrder over the last days (by last update) and matches our
# order number in `saleOrderCode`.
LOOKUP_DAYS = 7
# Time formats: history rows `createdDate` "dd/MM/yyyy" + `createdHour` "HH:mm:ss" (dashes also
# read); webhook `sendDate` "dd/MM/yyyy HH:mm:ss"; all Vietnam time.
# Field names not seen in public code: the history block's `codAmount` (amount collected), the
# order record's `codAmount` and `totalFee`, a refusal's `{success: false, message}` body, and
# orderCancel's refusal Type "01".
CANCEL_REFUSED = "01"
# The service when a request names none: results of a procedure are papers, sent as documents,
# express, COD allowed (VNPost's public-service contract may name another).
DEFAULT_SERVICE = "ETN011"
# VNPost's own code tables were not available: the sandbox numbers the official units itself
# (province 100 + GSO code, old district 1000 + GSO, commune 1000000 + GSO), so that no official
# code is ever a valid VNPost code there.
# ---------------------------------------------------------------------------------------------------

# What the sandbox reports for each of our statuses (MyVNPost's own codes), and their names.
STATUS_CODES = {"pending": "1", "picked_up": "6", "in_transit": "7", "out_for_delivery": "10",
                "delivery_failed": "11", "on_hold": "12", "ready_for_pickup": "13", "delivered": "14",
                "return_to_sender": "16", "returned": "19", "cancelled": "8"}
STATUS_NAMES = {"0": "Lưu nháp", "1": "Chờ thu gom", "6": "Đã thu gom", "7": "Đang vận chuyển", "10": "Đang phát",
                "11": "Phát không thành công", "12": "Chờ phát lại", "13": "Chờ nhận tại bưu cục",
                "14": "Phát thành công", "16": "Chuyển hoàn", "19": "Đã phát hoàn cho người gửi", "8": "Đã huỷ"}


def status_of(code, name: str = "") -> str:
    """Our status for a VNPost status: by its code, else by its Vietnamese name, else "unknown"."""
    known = STATUS_MAP.get(str(code).strip())
    if known:
        return known
    folded = " ".join(unicodedata.normalize("NFC", str(name or "")).lower().split())
    for words, status in STATUS_WORDS:
        if any(w in folded for w in words):
            return status
    return "unknown"


# MyVNPost's domestic services (serviceCode) and whether they take the COD add-on GTG021: CTN…
# e-commerce parcels (CTN009 "Tiêu chuẩn" takes no COD), ETN… express (ETN011 "Nhanh", documents
# and goods, the EMS of MyVNPost; ETN013 "Hỏa tốc").
SERVICES = {"CTN001": "Tiết kiệm (Thương mại điện tử)", "CTN007": "Tiết kiệm (Thương mại điện tử)",
            "CTN009": "Tiêu chuẩn (Thương mại điện tử)", "ETN011": "Nhanh (Tài liệu hàng hóa)",
            "ETN013": "Hỏa tốc", "ETN031": "Nhanh (Tài liệu hàng hóa)", "ETN037": "Nhanh (Thương mại điện tử)",
            "PTN001": "Logistic (trên 30 kg)"}
SERVICES_WITHOUT_COD = frozenset({"CTN009"})


# -- token ------------------------------------------------------------------------------------------
def token_request(username: str, password: str, customer_code: str) -> dict:
    return {"username": username, "password": password, "customerCode": customer_code}


def parse_token(body) -> str | None:
    """The token, or None when VNPost refused (`success` false, with `errorMessage`)."""
    if not isinstance(body, dict) or not body.get("success") or not body.get("token"):
        return None
    return str(body["token"])


def token_error(body) -> str:
    return printable(body.get("errorMessage") or body.get("message") or "")[:200] if isinstance(body, dict) else ""


# -- addresses --------------------------------------------------------------------------------------
def _codes(p: Party) -> tuple[str | None, str | None, str | None]:
    """(province, district, commune) in VNPost's own ids, from `carrier_ids` only: never our codes.
    Two-level ids take the district constant; without ids VNPost reads the address line."""
    ids = p.carrier_ids or {}
    province, ward = ids.get("province") or None, ids.get("ward") or None
    district = ids.get("district") or (TWO_LEVEL_DISTRICT if province and ward else None)
    return province, district, ward


def _addons(cod_amount: int) -> list[dict]:
    return [{"code": COD_ADDON, "propValue": f"{COD_PROP}:{int(cod_amount)}"}] if cod_amount else []


def cod_of(addons) -> int:
    """The COD amount of an `addonService` list (0 without the COD add-on); a `propValue` holds
    every property of the add-on as "CODE:value;CODE:null"."""
    for a in addons or []:
        if isinstance(a, dict) and a.get("code") == COD_ADDON:
            for pair in str(a.get("propValue") or "").split(";"):
                prop, _, value = pair.partition(":")
                if prop.strip() == COD_PROP:
                    try:
                        return int(value)
                    except ValueError:
                        return 0
    return 0


# -- price ------------------------------------------------------------------------------------------
def price_request(customer_code: str, contract: str, req: ShipmentRequest) -> dict:
    sp, sd, sc = _codes(req.sender)
    rp, rd, rc = _codes(req.receiver)
    return {"scope": SCOPE_DOMESTIC, "customerCode": customer_code, "contractNumber": contract or None,
            "data": {"senderProvinceCode": sp, "senderDistrictCode": sd, "senderCommuneCode": sc,
                     "receiverProvinceCode": rp, "receiverDistrictCode": rd, "receiverCommuneCode": rc,
                     "receiverNational": "VN", "receiverCity": None, "receiverPostCode": "",
                     "orgCodeAccept": None, "weight": req.weight_grams, "width": None, "length": None,
                     "height": None, "serviceCode": req.service or None, "addonService": _addons(req.cod_amount),
                     "additionRequest": [], "vehicle": VEHICLE_ROAD}}


def parse_prices(body) -> list[Rate]:
    rows = body.get("data") if isinstance(body, dict) else body
    rows = rows if isinstance(rows, list) else [rows] if isinstance(rows, dict) else []
    return [Rate(carrier="vnpost", service=str(r["serviceCode"]), fee=int(r["totalFee"]),
                 service_name=str(r.get("serviceName") or "")) for r in rows if isinstance(r, dict)
            and r.get("serviceCode") and r.get("totalFee") is not None]


# -- orders -----------------------------------------------------------------------------------------
def order_request(customer_code: str, contract: str, req: ShipmentRequest, *, collect: bool = True) -> dict:
    """CreateOrder: our order number as `saleOrderCode`, the COD add-on when there is money to collect,
    `sendType` 1 (the postman collects at the sender: the centre, or the citizen for a pickup)."""
    s, r = req.sender, req.receiver
    sp, sd, sc = _codes(s)
    rp, rd, rc = _codes(r)
    return {"orderCreationStatus": 1, "type": ORDER_TYPE_SEND, "customerCode": customer_code,
            "contractCode": contract or None,
            "informationOrder": {
                "senderName": s.name, "senderPhone": s.phone, "senderEmail": None, "senderAddress": s.full_address,
                "senderProvinceCode": sp, "senderDistrictCode": sd, "senderCommuneCode": sc,
                "receiverName": r.name, "receiverPhone": r.phone, "receiverEmail": None,
                "receiverAddress": r.full_address,
                "receiverProvinceCode": rp, "receiverDistrictCode": rd, "receiverCommuneCode": rc,
                "serviceCode": req.service or DEFAULT_SERVICE, "addonService": _addons(req.cod_amount),
                "additionRequest": [], "orgCodeCollect": None, "orgCodeAccept": None,
                "saleOrderCode": req.order_number, "contentNote": req.content, "weight": str(req.weight_grams),
                "width": None, "length": None, "height": None, "vehicle": VEHICLE_ROAD,
                "sendType": SEND_TYPE_COLLECT if collect else SEND_TYPE_POST_OFFICE, "isBroken": "0", "deliveryTime": None,
                "deliveryRequire": None, "deliveryInstruction": req.note or None}}


def pickup_request(customer_code: str, contract: str, req: ShipmentRequest) -> dict:
    """A dossier collection: an order whose sender is the citizen, collected at the citizen's address
    (sendType 1) and delivered to the centre; its fee, if any, collected as the COD add-on."""
    amount = req.cod_amount if PICKUP_FEE_AS_COD else 0
    body = order_request(customer_code, contract, req, collect=True)
    body["informationOrder"]["addonService"] = _addons(amount)
    return body


def _record(body) -> dict | None:
    """The order record of a CreateOrder answer: at the root, or wrapped in `data`."""
    if not isinstance(body, dict):
        return None
    if body.get("itemCode") or body.get("orderHdrID"):
        return body
    data = body.get("data")
    return data if isinstance(data, dict) and (data.get("itemCode") or data.get("orderHdrID")) else None


def parse_order(body) -> CreatedShipment | None:
    rec = _record(body)
    if rec is None or not rec.get("itemCode"):
        return None
    fee = rec.get("totalFee")
    return CreatedShipment(tracking_code=str(rec["itemCode"]), fee=int(fee) if fee is not None else None,
                           order_number=rec.get("saleOrderCode"), raw=rec)


def error_message(body) -> str:
    """VNPost's reason, as one line without control characters (it ends up in errors staff read)."""
    if isinstance(body, dict):
        return printable(body.get("errorMessage") or body.get("message") or body.get("Message") or "")[:300]
    return ""


def flatten_results(body) -> list[dict]:
    """Order records from `{results: [...]}` (GetListOrder) or `[{results: [...]}]` (getOrder)."""
    if isinstance(body, dict):
        if isinstance(body.get("results"), list):
            return [r for r in body["results"] if isinstance(r, dict)]
        return flatten_results(body.get("data")) if "data" in body else []
    if isinstance(body, list):
        return [r for item in body for r in flatten_results(item)]
    return []


def list_query(today: date, page: int = 0) -> dict:
    return {"lastUpdateFrom": (today - timedelta(days=LOOKUP_DAYS)).strftime(DATE_FORMAT),
            "lastUpdateTo": today.strftime(DATE_FORMAT), "type": ORDER_TYPE_SEND, "size": LIST_PAGE_SIZE,
            "isInternational": "false", "page": page}


def find_order(records: list[dict], order_number: str) -> CreatedShipment | None:
    for rec in records:
        if rec.get("saleOrderCode") == order_number and rec.get("itemCode") \
                and status_of(rec.get("status"), str(rec.get("statusName") or "")) != "cancelled":
            fee = rec.get("totalFee")
            return CreatedShipment(tracking_code=str(rec["itemCode"]), fee=int(fee) if fee is not None else None,
                                   order_number=order_number, raw=rec)
    return None


def original_id(records: list[dict], item_code: str) -> str | None:
    for rec in records:
        if rec.get("itemCode") == item_code and rec.get("orderHdrID") not in (None, ""):
            return str(rec["orderHdrID"])
    return None


def cancel_request(original: str) -> dict:
    return {"OriginalId": original}


def cancel_result(body) -> tuple[str, str]:
    """(Type, Message) of an orderCancel answer (keys capitalised, or not, by endpoint)."""
    if not isinstance(body, dict):
        return "", ""
    return (printable(body.get("Type") or body.get("type") or "")[:8],
            printable(body.get("Message") or body.get("message") or "")[:300])


def parse_labels(body) -> bytes | None:
    """The first PDF of an exportListReport answer (a list of base64 strings)."""
    items = body if isinstance(body, list) else [body]
    for item in items:
        if isinstance(item, str) and item:
            try:
                pdf = base64.b64decode(item, validate=True)
            except (binascii.Error, ValueError):
                continue
            if pdf.startswith(b"%PDF"):
                return pdf
    return None


# -- tracking ---------------------------------------------------------------------------------------
def parse_vn_time(day: str, hour: str = "") -> datetime:
    text = f"{day.strip().replace('-', '/')} {hour.strip() or '00:00:00'}"
    for fmt in ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=VN_TZ)
        except ValueError:
            continue
    raise ValueError(f"not a VNPost time: {text!r}")


def format_vn_time(value: datetime) -> tuple[str, str]:
    local = value.astimezone(VN_TZ)
    return local.strftime("%d/%m/%Y"), local.strftime("%H:%M:%S")


def parse_history(body, item_code: str, order_number: str | None = None) -> list[TrackingEvent]:
    data = body.get("data", body) if isinstance(body, dict) else body
    if isinstance(data, list):
        data = data[0] if data and isinstance(data[0], dict) else {}
    if not isinstance(data, dict):
        return []
    collected = data.get("codAmount")
    order_number = order_number or data.get("saleOrderCode")
    events = []
    for row in data.get("statusHistory") or []:
        if not isinstance(row, dict):
            continue
        code = str(row.get("statusCode", ""))
        try:
            at = parse_vn_time(str(row.get("createdDate") or ""), str(row.get("createdHour") or ""))
        except ValueError:
            continue
        status = status_of(code, str(row.get("statusName") or ""))
        events.append(TrackingEvent(
            tracking_code=item_code, order_number=order_number, status=status, carrier_status=code,
            occurred_at=at, description=printable(row.get("statusName"))[:255],
            cod_collected=int(collected) if status == "delivered" and collected is not None else None,
            event_id=f"{item_code}:{code}:{row.get('createdDate')} {row.get('createdHour')}", raw=row))
    return events


# -- catalogue --------------------------------------------------------------------------------------
def parse_units(provinces, communes) -> list[CarrierUnit]:
    """The two-level catalogue (getNewProvinceAll, getNewCommuneAll). A commune's parent province is
    under `provinceCode`, or under `districtCode` where VNPost kept the old key."""
    units = [CarrierUnit(level="province", id=str(p["provinceCode"]), name=printable(p.get("provinceName")))
             for p in provinces or [] if isinstance(p, dict) and p.get("provinceCode")]
    units += [CarrierUnit(level="ward", id=str(c["communeCode"]), name=printable(c.get("communeName")),
                          parent_id=str(c.get("provinceCode") or c.get("districtCode") or "") or None)
              for c in communes or [] if isinstance(c, dict) and c.get("communeCode")]
    return units


# -- webhooks ---------------------------------------------------------------------------------------
def signed_text(send_date: str, first: dict) -> bytes:
    return f"{SIGNATURE_PREFIX}{send_date}{first.get('itemCode', '')}{first.get('status', '')}".encode()


def parse_webhook(body, verify) -> list[TrackingEvent]:
    """Events of a webhook `{data, sendDate, signature}`; `verify(text, signature_bytes)` checks the
    RSA-SHA256 signature with VNPost's public key. Anything unsigned, forged or malformed is refused."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list) or not body["data"]:
        raise WebhookRejected("not a VNPost webhook")
    records = body["data"]
    send_date, signature = body.get("sendDate"), body.get("signature")
    if not isinstance(send_date, str) or not isinstance(signature, str) or not signature:
        raise WebhookRejected("no signature")
    if not all(isinstance(r, dict) for r in records):
        raise WebhookRejected("malformed data")
    try:
        raw_sig = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError) as e:
        raise WebhookRejected("signature is not base64") from e
    if not verify(signed_text(send_date, records[0]), raw_sig):
        raise WebhookRejected("bad signature")
    try:
        day, _, hour = send_date.partition(" ")
        at = parse_vn_time(day, hour)
    except ValueError as e:
        raise WebhookRejected("malformed sendDate") from e
    events = []
    for rec in records:
        item, ref = _text(rec.get("itemCode")), _text(rec.get("saleOrderCode"))
        if not item and not ref:
            raise WebhookRejected("an order without itemCode or saleOrderCode")
        code = str(rec.get("status", ""))
        status = status_of(code, str(rec.get("statusName") or ""))
        cod = rec.get("codAmount")
        try:
            cod = int(cod) if cod not in (None, "") and status == "delivered" else None
        except (TypeError, ValueError) as e:
            raise WebhookRejected("malformed codAmount") from e
        events.append(TrackingEvent(tracking_code=item, order_number=ref, status=status, carrier_status=code,
                                    occurred_at=at, description=printable(rec.get("statusName"))[:255],
                                    cod_collected=cod, event_id=f"{item or ref}:{code}:{send_date}", raw=rec))
    return events


def _text(value) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise WebhookRejected("an order code is not text")
    return str(value)[:64]
