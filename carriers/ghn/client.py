"""GHN over HTTP: services and fees, create by client_order_code, detail, cancel, A5 label, webhooks."""

from __future__ import annotations

import json
from dataclasses import replace

from carriers import base
from carriers.base import (
    Carrier,
    CarrierConfig,
    CreatedShipment,
    DuplicateOrderError,
    PermanentCarrierError,
    Rate,
    ShipmentRequest,
    TrackingEvent,
    WebhookRejected,
)
from carriers.ghn import payloads
from core.settings import Setting, Settings, register_settings

register_settings(
    Setting("HCC_GHN_BASE_URL", "<public url>/sandbox/ghn", "GHN base URL (…/shiip/public-api below it)."),
    Setting("HCC_GHN_TOKEN", "sandbox-ghn-token", "GHN API token (header `Token`)."),
    Setting("HCC_GHN_SHOP_ID", "885", "GHN shop id of the centre (header `ShopId`)."),
    Setting("HCC_GHN_WEBHOOK_SECRET", "sandbox-ghn-webhook", "Secret `token` query parameter of the webhook URL registered with GHN."),
)

API = "/shiip/public-api"


def config_from(settings: Settings) -> CarrierConfig:
    return CarrierConfig(
        base_url=(settings.get("HCC_GHN_BASE_URL") or base.sandbox_base(settings, "ghn")).rstrip("/"),
        password=base.credential(settings, "HCC_GHN_TOKEN", "sandbox-ghn-token"),
        webhook_token=base.credential(settings, "HCC_GHN_WEBHOOK_SECRET", "sandbox-ghn-webhook"),
        timeout=base.timeout_of(settings),
        extra={"shop_id": settings.get("HCC_GHN_SHOP_ID") or "885"},
    )


def with_account(config: CarrierConfig, account: base.CarrierAccountConfig) -> CarrierConfig:
    """A centre's GHN shop: its shop id (the account's customer code, header `ShopId`) and its API token
    (header `Token`). GHN takes no contract number."""
    return base.merge_account(config, account, customer_key="shop_id")


@base.register("ghn", config_from, required_settings=(
    "HCC_GHN_BASE_URL", "HCC_GHN_TOKEN",
    "HCC_GHN_SHOP_ID", "HCC_GHN_WEBHOOK_SECRET"), with_account=with_account)
class GhnCarrier(Carrier):
    has_webhooks = True
    has_pickup = True

    def _post(self, path: str, payload: dict) -> dict:
        resp = self._send("POST", f"{self.config.base_url}{API}{path}", json=payload,
                          headers={"Token": self.config.password, "ShopId": self.config.extra["shop_id"]})
        try:
            body = resp.json()
        except ValueError as e:
            raise PermanentCarrierError(f"ghn {path}: not JSON ({resp.status_code})") from e
        if resp.status_code == 401:
            raise PermanentCarrierError("ghn refused our token")
        return body

    def _get(self, path: str) -> dict:
        resp = self._send("GET", f"{self.config.base_url}{API}{path}",
                          headers={"Token": self.config.password, "ShopId": self.config.extra["shop_id"]})
        if resp.status_code == 401:
            raise PermanentCarrierError("ghn refused our token")
        try:
            body = resp.json()
        except ValueError as e:
            raise PermanentCarrierError(f"ghn {path}: not JSON ({resp.status_code})") from e
        return body if isinstance(body, dict) else {}

    def quote(self, request: ShipmentRequest) -> list[Rate]:
        body = self._post("/v2/shipping-order/available-services",
                          payloads.services_request(self.config.extra["shop_id"], request))
        if not payloads.ok(body):
            raise PermanentCarrierError(f"ghn services: {body.get('message')}")
        rates = []
        for service_type_id, name in payloads.parse_services(body):
            fee = self._post("/v2/shipping-order/fee", payloads.fee_request(request, service_type_id))
            if payloads.ok(fee):
                rates.append(payloads.parse_fee(fee, service_type_id, name))
        return rates

    def create(self, request: ShipmentRequest) -> CreatedShipment:
        return self._create(payloads.create_request(request))

    def request_pickup(self, request: ShipmentRequest) -> CreatedShipment:
        # GHN collects every order at its sender; a pickup is an order with the shift the postman comes in.
        shifts = self._get("/v2/shift/date")
        if not payloads.ok(shifts) or not payloads.parse_shifts(shifts):
            raise PermanentCarrierError(f"ghn pickup shifts: {shifts.get('message')}")
        shift_id, title = payloads.parse_shifts(shifts)[0]
        created = self._create(payloads.pickup_request(request, shift_id))
        return replace(created, pickup_window=title)

    def _create(self, payload: dict) -> CreatedShipment:
        body = self._post("/v2/shipping-order/create", payload)
        if payloads.ok(body):
            return payloads.parse_create(body)
        if payloads.is_duplicate(body):
            raise DuplicateOrderError(f"ghn: {body.get('message')}")
        raise PermanentCarrierError(f"ghn create: {body.get('code_message') or ''} {body.get('message')}")

    def find_by_order_number(self, order_number: str) -> CreatedShipment | None:
        body = self._post("/v2/shipping-order/detail-by-client-code", {"client_order_code": order_number})
        if payloads.ok(body):
            return payloads.parse_detail(body)
        if body.get("code_message") == "ORDER_NOT_FOUND":
            return None
        raise PermanentCarrierError(f"ghn detail: {body.get('message')}")

    def get_label(self, tracking_code: str) -> bytes:
        body = self._post("/v2/a5/gen-token", {"order_codes": [tracking_code]})
        if not payloads.ok(body):
            raise PermanentCarrierError(f"ghn label token: {body.get('message')}")
        resp = self._send("GET", f"{self.config.base_url}/a5/public-api/printA5",
                          params={"token": body["data"]["token"]})
        if resp.status_code != 200 or not resp.content.startswith(b"%PDF"):
            raise PermanentCarrierError(f"ghn label: {resp.status_code}")
        return resp.content

    def cancel(self, tracking_code: str) -> None:
        body = self._post("/v2/switch-status/cancel", {"order_codes": [tracking_code]})
        results = (body.get("data") or []) if payloads.ok(body) else []
        if not results or not all(r.get("result") for r in results):
            message = results[0].get("message") if results else body.get("message")
            raise PermanentCarrierError(f"ghn cancel: {message}")

    def track(self, tracking_code: str, order_number: str | None = None) -> list[TrackingEvent]:
        body = self._post("/v2/shipping-order/detail", {"order_code": tracking_code})
        if not payloads.ok(body):
            raise PermanentCarrierError(f"ghn detail: {body.get('message')}")
        return payloads.parse_detail_log(body)

    def units(self) -> list[base.CarrierUnit]:
        """GHN's master data: every province, every district, then each district's wards."""
        provinces = self._get("/master-data/province")
        districts = self._get("/master-data/district")
        if not payloads.ok(provinces) or not payloads.ok(districts):
            raise PermanentCarrierError(f"ghn master data: {provinces.get('message') or districts.get('message')}")
        wards: dict[int, dict] = {}
        for d in districts.get("data") or []:
            district_id = int(d["DistrictID"])
            body = self._get(f"/master-data/ward?district_id={district_id}")
            if not payloads.ok(body):
                raise PermanentCarrierError(f"ghn wards of {district_id}: {body.get('message')}")
            wards[district_id] = body
        return payloads.parse_units(provinces, districts, wards)

    def parse_webhook(self, headers: dict[str, str], query: dict[str, str], body: bytes) -> list[TrackingEvent]:
        try:
            data = json.loads(body or b"{}")
        except ValueError as e:
            raise WebhookRejected("not JSON") from e
        return payloads.parse_webhook(data, query.get("token", ""), self.config.webhook_token)
