"""VNPost over HTTP: OAuth2 token (cached until it expires), orders, labels, cancel, tracking feed."""

from __future__ import annotations

import threading
import time

from carriers import base
from carriers.base import (
    Carrier,
    CarrierConfig,
    CreatedShipment,
    DuplicateOrderError,
    FeedPage,
    PermanentCarrierError,
    Rate,
    RetryableCarrierError,
    ShipmentRequest,
    TrackingEvent,
)
from carriers.vnpost import payloads
from core.settings import Setting, Settings, register_settings

register_settings(
    Setting("HCC_VNPOST_BASE_URL", "<public url>/sandbox/vnpost", "VNPost API base URL."),
    Setting("HCC_VNPOST_CLIENT_ID", "hcc-sandbox", "VNPost OAuth2 client id."),
    Setting("HCC_VNPOST_CLIENT_SECRET", "sandbox-vnpost", "VNPost OAuth2 client secret."),
    Setting("HCC_VNPOST_CUSTOMER_CODE", "HCC0001", "The centre's VNPost customer code (mã khách hàng)."),
)

# (base_url, client_id, secret digest) -> (token, monotonic expiry); shared by every instance in the process.
_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
_token_lock = threading.Lock()


def config_from(settings: Settings) -> CarrierConfig:
    return CarrierConfig(
        base_url=(settings.get("HCC_VNPOST_BASE_URL") or base.sandbox_base(settings, "vnpost")).rstrip("/"),
        username=base.credential(settings, "HCC_VNPOST_CLIENT_ID", "hcc-sandbox"),
        password=base.credential(settings, "HCC_VNPOST_CLIENT_SECRET", "sandbox-vnpost"),
        timeout=base.timeout_of(settings),
        extra={"customer_code": settings.get("HCC_VNPOST_CUSTOMER_CODE") or "HCC0001"},
    )


def with_account(config: CarrierConfig, account: base.CarrierAccountConfig) -> CarrierConfig:
    """A centre's VNPost account: its customer code (mã khách hàng, `customerCode` of prices, orders and
    look-ups), its contract number (`contractNumber` beside it) and its token as the OAuth2 client
    secret, exchanged with the deployment's client id for the bearer token."""
    return base.merge_account(config, account, customer_key="customer_code")


@base.register("vnpost", config_from, required_settings=(
    "HCC_VNPOST_BASE_URL", "HCC_VNPOST_CLIENT_ID",
    "HCC_VNPOST_CLIENT_SECRET", "HCC_VNPOST_CUSTOMER_CODE"), with_account=with_account)
class VnpostCarrier(Carrier):
    has_feed = True

    @property
    def customer_code(self) -> str:
        return self.config.extra.get("customer_code", "")

    def _token(self, refresh: bool = False) -> str:
        # Keyed by the secret's digest too: two centres' accounts never share a bearer token.
        key = (self.config.base_url, self.config.username, base.secret_digest(self.config.password))
        with _token_lock:
            cached = _tokens.get(key)
            if cached and not refresh and cached[1] > time.monotonic():
                return cached[0]
        resp = self._send("POST", f"{self.config.base_url}/oauth/token",
                          data=payloads.token_request(self.config.username, self.config.password))
        if resp.status_code != 200:
            raise PermanentCarrierError(f"vnpost token refused ({resp.status_code})")
        token, expires_in = payloads.parse_token(resp.json())
        with _token_lock:
            # Renew a minute early so a token never expires in flight.
            _tokens[key] = (token, time.monotonic() + max(0, expires_in - 60))
        return token

    def _call(self, method: str, path: str, **kwargs):
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self._token(refresh=attempt == 2)}"}
            resp = self._send(method, f"{self.config.base_url}{path}", headers=headers, **kwargs)
            if resp.status_code != 401:
                return resp
        raise PermanentCarrierError("vnpost refused our token twice")

    def _with_contract(self, payload: dict) -> dict:
        contract = self.config.extra.get("contract_number")
        return {**payload, "contractNumber": contract} if contract else payload

    @staticmethod
    def _fail(resp, what: str):
        try:
            code, message, item_code = payloads.parse_error(resp.json())
        except ValueError:
            code, message, item_code = "", resp.text[:200], None
        if code == "DUPLICATE_ORDER_NUMBER":
            raise DuplicateOrderError(f"vnpost: {message}", tracking_code=item_code)
        raise PermanentCarrierError(f"vnpost {what}: {resp.status_code} {code} {message}")

    def quote(self, request: ShipmentRequest) -> list[Rate]:
        resp = self._call("POST", "/api/v1/prices", json=self._with_contract(payloads.price_request(self.customer_code, request)))
        if resp.status_code != 200:
            self._fail(resp, "prices")
        return payloads.parse_prices(resp.json())

    def create(self, request: ShipmentRequest) -> CreatedShipment:
        resp = self._call("POST", "/api/v1/orders",
                          json=self._with_contract(payloads.order_request(self.customer_code, request)))
        if resp.status_code not in (200, 201):
            self._fail(resp, "create")
        return payloads.parse_order(resp.json())

    def find_by_order_number(self, order_number: str) -> CreatedShipment | None:
        resp = self._call("GET", "/api/v1/orders", params={"customerCode": self.customer_code,
                                                          "orderNumber": order_number})
        if resp.status_code != 200:
            self._fail(resp, "find")
        return payloads.parse_order_list(resp.json())

    def get_label(self, tracking_code: str) -> bytes:
        resp = self._call("GET", f"/api/v1/orders/{tracking_code}/label")
        if resp.status_code != 200 or not resp.content.startswith(b"%PDF"):
            self._fail(resp, "label")
        return resp.content

    def cancel(self, tracking_code: str) -> None:
        resp = self._call("POST", f"/api/v1/orders/{tracking_code}/cancel")
        if resp.status_code != 200:
            self._fail(resp, "cancel")

    def track(self, tracking_code: str, order_number: str | None = None) -> list[TrackingEvent]:
        resp = self._call("GET", f"/api/v1/orders/{tracking_code}/tracking")
        if resp.status_code != 200:
            self._fail(resp, "track")
        return payloads.parse_feed(resp.json())[0]

    def feed(self, cursor: str | None) -> FeedPage:
        resp = self._call("GET", "/api/v1/tracking", params={"lastId": cursor or "0", "limit": 200})
        if resp.status_code != 200:
            if resp.status_code >= 500:
                raise RetryableCarrierError("vnpost feed unavailable")
            self._fail(resp, "feed")
        events, last_id = payloads.parse_feed(resp.json())
        return FeedPage(events=events, cursor=last_id or (cursor or "0"))


def reset_token_cache() -> None:
    with _token_lock:
        _tokens.clear()
