"""Viettel Post over HTTP: login token, prices, createOrder, UpdateOrder TYPE=4, label via printing token."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime

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
)
from carriers.viettelpost import payloads
from core.settings import Setting, Settings, register_settings

register_settings(
    Setting("HCC_VIETTELPOST_BASE_URL", "<public url>/sandbox/viettelpost", "Viettel Post API base URL (…/v2 paths below it)."),
    Setting("HCC_VIETTELPOST_PRINT_URL", "same as the base URL", "Where Viettel Post labels are printed from a printing token."),
    Setting("HCC_VIETTELPOST_USERNAME", "hcc-sandbox", "Viettel Post partner account."),
    Setting("HCC_VIETTELPOST_PASSWORD", "sandbox-viettelpost", "Viettel Post partner password."),
    Setting("HCC_VIETTELPOST_WEBHOOK_SECRET", "sandbox-vtp-webhook", "The TOKEN Viettel Post puts in every webhook."),
)

TOKEN_TTL = 12 * 3600
_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
_lock = threading.Lock()


def config_from(settings: Settings) -> CarrierConfig:
    base_url = (settings.get("HCC_VIETTELPOST_BASE_URL") or base.sandbox_base(settings, "viettelpost")).rstrip("/")
    return CarrierConfig(
        base_url=base_url,
        username=base.credential(settings, "HCC_VIETTELPOST_USERNAME", "hcc-sandbox"),
        password=base.credential(settings, "HCC_VIETTELPOST_PASSWORD", "sandbox-viettelpost"),
        webhook_token=base.credential(settings, "HCC_VIETTELPOST_WEBHOOK_SECRET", "sandbox-vtp-webhook"),
        timeout=base.timeout_of(settings),
        extra={"print_url": (settings.get("HCC_VIETTELPOST_PRINT_URL") or base_url).rstrip("/")},
    )


def with_account(config: CarrierConfig, account: base.CarrierAccountConfig) -> CarrierConfig:
    """A centre's Viettel Post account: its customer code is the account name it logs in with
    (USERNAME) and its token the password (PASSWORD) that `/v2/user/Login` exchanges for the `Token`
    header. Viettel Post orders take no contract number."""
    return base.merge_account(config, account, customer_field="username")


@base.register("viettelpost", config_from, required_settings=(
    "HCC_VIETTELPOST_BASE_URL", "HCC_VIETTELPOST_USERNAME",
    "HCC_VIETTELPOST_PASSWORD", "HCC_VIETTELPOST_WEBHOOK_SECRET"), with_account=with_account)
class ViettelpostCarrier(Carrier):
    has_webhooks = True
    has_pickup = True

    def _token(self, refresh: bool = False) -> str:
        # Keyed by the password's digest too: two centres' accounts never share a login token.
        key = (self.config.base_url, self.config.username, base.secret_digest(self.config.password))
        with _lock:
            cached = _tokens.get(key)
            if cached and not refresh and cached[1] > time.monotonic():
                return cached[0]
        resp = self._send("POST", f"{self.config.base_url}/v2/user/Login",
                          json=payloads.login_request(self.config.username, self.config.password))
        body = resp.json() if resp.status_code == 200 else {}
        if not payloads.ok(body):
            raise PermanentCarrierError(f"viettelpost login refused: {body.get('message', resp.status_code)}")
        token = payloads.parse_login(body)
        with _lock:
            _tokens[key] = (token, time.monotonic() + TOKEN_TTL)
        return token

    def _post(self, path: str, payload: dict):
        for attempt in (1, 2):
            resp = self._send("POST", f"{self.config.base_url}{path}", json=payload,
                              headers={"Token": self._token(refresh=attempt == 2)})
            if resp.status_code == 401:
                continue
            try:
                body = resp.json()
            except ValueError as e:
                raise PermanentCarrierError(f"viettelpost {path}: not JSON ({resp.status_code})") from e
            if isinstance(body, dict) and int(body.get("status", 200) or 200) == 401:
                continue
            return body
        raise PermanentCarrierError("viettelpost refused our token twice")

    def _category(self, path: str) -> dict:
        """A GET of Viettel Post's public categories (`/v2/categories/...`): no token needed."""
        resp = self._send("GET", f"{self.config.base_url}{path}")
        try:
            body = resp.json()
        except ValueError as e:
            raise PermanentCarrierError(f"viettelpost {path}: not JSON ({resp.status_code})") from e
        if not payloads.ok(body):
            raise PermanentCarrierError(f"viettelpost {path}: {body.get('message') if isinstance(body, dict) else ''}")
        return body

    def units(self) -> list[base.CarrierUnit]:
        """Viettel Post's categories: every province, each province's districts, each district's wards."""
        provinces = self._category("/v2/categories/listProvinceById?provinceId=-1")
        districts: dict[str, dict] = {}
        wards: dict[str, dict] = {}
        for p in provinces.get("data") or []:
            pid = str(int(p["PROVINCE_ID"]))
            districts[pid] = self._category(f"/v2/categories/listDistrict?provinceId={pid}")
            for d in districts[pid].get("data") or []:
                did = str(int(d["DISTRICT_ID"]))
                wards[did] = self._category(f"/v2/categories/listWards?districtId={did}")
        return payloads.parse_units(provinces, districts, wards)

    def quote(self, request: ShipmentRequest) -> list[Rate]:
        body = self._post("/v2/order/getPriceAll", payloads.price_request(request))
        if isinstance(body, dict) and body.get("error"):
            raise PermanentCarrierError(f"viettelpost prices: {body.get('message')}")
        return payloads.parse_prices(body)

    def create(self, request: ShipmentRequest) -> CreatedShipment:
        return self._create(payloads.order_request(request))

    def request_pickup(self, request: ShipmentRequest) -> CreatedShipment:
        # Viettel Post has no separate pickup call: an order with the sender's own address and a
        # DELIVERY_DATE sends a postman there from that time.
        at = payloads.pickup_time(datetime.now(UTC))
        created = self._create(payloads.pickup_request(request, at))
        return replace(created, pickup_window=f"từ {payloads.format_time(at)[:-3]}")

    def _create(self, payload: dict) -> CreatedShipment:
        body = self._post("/v2/order/createOrder", payload)
        if payloads.ok(body):
            return payloads.parse_order(body)
        existing = payloads.duplicate_code(body)
        if existing is not None:
            raise DuplicateOrderError(f"viettelpost: {body.get('message')}", tracking_code=existing or None)
        raise PermanentCarrierError(f"viettelpost create: {body.get('message')}")

    def get_label(self, tracking_code: str) -> bytes:
        expiry = int((time.time() + 3600) * 1000)
        body = self._post("/v2/order/printing-code", payloads.printing_request(tracking_code, expiry))
        if not payloads.ok(body):
            raise PermanentCarrierError(f"viettelpost printing token: {body.get('message')}")
        resp = self._send("GET", f"{self.config.extra['print_url']}/DigitalizePrint/report.do",
                          params={"type": 1, "bill": body["message"], "showPostage": 1})
        if resp.status_code != 200 or not resp.content.startswith(b"%PDF"):
            raise PermanentCarrierError(f"viettelpost label: {resp.status_code}")
        return resp.content

    def cancel(self, tracking_code: str) -> None:
        body = self._post("/v2/order/UpdateOrder", payloads.cancel_request(tracking_code))
        if not payloads.ok(body):
            raise PermanentCarrierError(f"viettelpost cancel: {body.get('message')}")

    def parse_webhook(self, headers: dict[str, str], query: dict[str, str], body: bytes) -> list[TrackingEvent]:
        import json

        try:
            data = json.loads(body or b"{}")
        except ValueError as e:
            raise base.WebhookRejected("not JSON") from e
        return payloads.parse_webhook(data, self.config.webhook_token)


def reset_token_cache() -> None:
    with _lock:
        _tokens.clear()
