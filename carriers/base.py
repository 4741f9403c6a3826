"""The Carrier interface every adapter implements, its result dataclasses, classified errors and registry."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from core import adapters
from core.adapters import Registry
from core.settings import Setting, Settings, register_settings

register_settings(
    Setting("HCC_CARRIER_TIMEOUT", "15", "Seconds before a call to a carrier times out (then it is retried)."),
)

# The unified status vocabulary. Each adapter maps its carrier's codes onto these.
STATUSES = ("pending", "picked_up", "in_transit", "out_for_delivery", "delivery_failed", "on_hold",
            "ready_for_pickup", "delivered", "return_to_sender", "returned", "cancelled", "unknown")
FINAL_STATUSES = ("delivered", "returned", "cancelled")

# How far along a parcel is. An event never moves a shipment to a lower rank; within one rank (a
# failed delivery followed by a new delivery attempt) only a later event wins.
RANK = {"pending": 0, "picked_up": 1, "in_transit": 2, "out_for_delivery": 3, "delivery_failed": 3, "on_hold": 3,
        "ready_for_pickup": 3, "return_to_sender": 4, "delivered": 9, "returned": 9, "cancelled": 9}


class CarrierError(Exception):
    """Base of every carrier failure."""


class RetryableCarrierError(CarrierError):
    """Raised when the carrier is unreachable, slow or busy: the same call may succeed later."""


class CarrierTimeout(RetryableCarrierError):
    """Raised when the carrier did not answer in time: the call may or may not have taken effect."""


class PermanentCarrierError(CarrierError):
    """Raised when the carrier refused the request as it is (bad address, bad credentials, bad data)."""


class DuplicateOrderError(CarrierError):
    """Raised when the carrier already has an order with our order number; carries its tracking code."""

    def __init__(self, message: str, tracking_code: str | None = None):
        super().__init__(message)
        self.tracking_code = tracking_code


class NotSupported(CarrierError):
    """Raised when a carrier does not offer an operation (no pickup request, no tracking feed...)."""


class WebhookRejected(CarrierError):
    """Raised when a webhook fails authentication or cannot be read; nothing may change."""


@dataclass(frozen=True)
class Party:
    """A sender or receiver, with the two-level address codes (ward, province) of our reference data."""

    name: str
    phone: str
    street: str
    ward_code: str
    ward_name: str
    province_code: str
    province_name: str
    # This carrier's own ids for the address, {"province": id, "district": id, "ward": id}, filled by
    # postal (from the carrier's synced catalogue) before the call. An adapter sends these, never our
    # codes, in the fields meant for its own ids.
    carrier_ids: dict[str, str] = field(default_factory=dict)

    @property
    def full_address(self) -> str:
        return ", ".join(x for x in (self.street, self.ward_name, self.province_name) if x)


@dataclass(frozen=True)
class CarrierUnit:
    """One entry of a carrier's own address catalogue (province, district or ward), as it gives it."""

    level: str                # "province" | "district" | "ward"
    id: str                   # the carrier's own id, as text
    name: str                 # as the carrier spells it
    parent_id: str | None = None
    code: str | None = None   # the official (GSO) code when the carrier gives it


UNIT_LEVELS = ("province", "district", "ward")


@dataclass(frozen=True)
class ShipmentRequest:
    """What a carrier needs to create (or price) a parcel; `order_number` is our own id for it."""

    order_number: str
    sender: Party
    receiver: Party
    weight_grams: int
    cod_amount: int = 0
    service: str | None = None
    content: str = "Kết quả giải quyết thủ tục hành chính"
    note: str = ""


@dataclass(frozen=True)
class Rate:
    carrier: str
    service: str
    fee: int
    service_name: str = ""
    eta_hours: int | None = None


@dataclass(frozen=True)
class CreatedShipment:
    tracking_code: str
    fee: int | None = None
    order_number: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    # For a pickup: when the carrier's postman is to come to the sender, as the carrier put it.
    pickup_window: str = ""


@dataclass(frozen=True)
class TrackingEvent:
    """One status change reported by a carrier, in our vocabulary, with the carrier's own code and data."""

    tracking_code: str | None
    order_number: str | None
    status: str
    carrier_status: str
    occurred_at: datetime
    description: str = ""
    cod_collected: int | None = None
    # What identifies this event at the carrier, for deduplication.
    event_id: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FeedPage:
    events: list[TrackingEvent]
    cursor: str


@dataclass
class CarrierConfig:
    """A carrier's settings for one centre; `extra` holds carrier-specific values (customer code, shop id)."""

    base_url: str
    username: str = ""
    # Secrets stay out of repr: a config in a log line or a traceback must not show them.
    password: str = field(default="", repr=False)
    webhook_token: str = field(default="", repr=False)
    timeout: float = 15.0
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CarrierAccountConfig:
    """A centre's own account at a carrier, laid over the deployment's settings by `get_carrier(account=...)`.

    Plain values only (carriers never read the database): the caller looks the account up. An empty
    field keeps the deployment's value. Each carrier says where each field goes (`register(with_account=)`):
    the customer code is its customer or shop id, the token the credential it authenticates with.
    """

    customer_code: str = ""
    contract_number: str = ""
    token: str = field(default="", repr=False)
    pickup_address: str = ""


def merge_account(config: CarrierConfig, account: CarrierAccountConfig, *, customer_key: str = "customer_code",
                  customer_field: str | None = None) -> CarrierConfig:
    """The deployment's config with a centre's account laid over it: the customer code into
    `extra[customer_key]` (or the config field `customer_field`), the token into `password` (where every
    carrier keeps the credential it authenticates with), and the contract number and pickup address
    into `extra` for the carriers that send them."""
    extra = dict(config.extra)
    changes: dict[str, Any] = {}
    if account.customer_code:
        if customer_field:
            changes[customer_field] = account.customer_code
        else:
            extra[customer_key] = account.customer_code
    if account.token:
        changes["password"] = account.token
    if account.contract_number:
        extra["contract_number"] = account.contract_number
    if account.pickup_address:
        extra["pickup_address"] = account.pickup_address
    return replace(config, extra=extra, **changes)


class Carrier:
    """One carrier. Every operation a carrier does not offer raises NotSupported."""

    name: str = ""
    has_webhooks: bool = False
    has_feed: bool = False
    # Whether `request_pickup` can send a postman to a citizen's address (a dossier pickup).
    has_pickup: bool = False

    def __init__(self, config: CarrierConfig, http: requests.Session | None = None):
        self.config = config
        self.http = http or requests.Session()

    def _send(self, method: str, url: str, **kwargs) -> requests.Response:
        return send(self.http, method, url, timeout=self.config.timeout,
                    breaker_key=f"{self.name} {self.config.base_url}", **kwargs)

    def quote(self, request: ShipmentRequest) -> list[Rate]:
        raise NotSupported(f"{self.name}: quote")

    def create(self, request: ShipmentRequest) -> CreatedShipment:
        raise NotSupported(f"{self.name}: create")

    def find_by_order_number(self, order_number: str) -> CreatedShipment | None:
        raise NotSupported(f"{self.name}: find by order number")

    def get_label(self, tracking_code: str) -> bytes:
        raise NotSupported(f"{self.name}: label")

    def cancel(self, tracking_code: str) -> None:
        raise NotSupported(f"{self.name}: cancel")

    def track(self, tracking_code: str, order_number: str | None = None) -> list[TrackingEvent]:
        raise NotSupported(f"{self.name}: track")

    def feed(self, cursor: str | None) -> FeedPage:
        raise NotSupported(f"{self.name}: tracking feed")

    def request_pickup(self, request: ShipmentRequest) -> CreatedShipment:
        """Order a parcel collected at the sender's address (a citizen's dossier) and carried to the
        receiver (the centre). Our order number goes to the carrier as for `create`, so the same
        look-up and duplicate handling keep a pickup from being ordered twice."""
        raise NotSupported(f"{self.name}: pickup")

    def parse_webhook(self, headers: dict[str, str], query: dict[str, str], body: bytes) -> list[TrackingEvent]:
        raise NotSupported(f"{self.name}: webhook")

    def units(self) -> list[CarrierUnit]:
        """The carrier's own address catalogue (provinces, districts, wards with its own ids), read
        from its catalogue endpoints; postal matches it to our wards and fills `Party.carrier_ids`."""
        raise NotSupported(f"{self.name}: address catalogue")


# One registry mechanism for every adapter kind (core.adapters); the carrier packages register themselves
# when core.registry.ADAPTER_MODULES imports them, so this module imports none of them.
CARRIERS: Registry[Carrier] = Registry("carrier")
_REGISTRY = CARRIERS.entries  # name -> Entry (unpacks as (cls, config_from_settings)); tests pop their fakes


def register(name: str, config_from_settings: Callable[[Settings], CarrierConfig],
             required_settings: tuple[str, ...] = (),
             with_account: Callable[[CarrierConfig, CarrierAccountConfig], CarrierConfig] | None = None):
    """Class decorator: make a carrier available by name, with how it reads its settings, which of
    them production must set (their defaults serve the sandbox only), and how a centre's own account
    is laid over them (`merge_account` with its defaults when not given)."""

    def decorate(cls: type[Carrier]) -> type[Carrier]:
        cls.name = name
        return CARRIERS.register(name, cls, required_settings=tuple(required_settings), config=config_from_settings,
                                 with_account=with_account or merge_account)

    return decorate


def required_settings(name: str) -> tuple[str, ...]:
    """The settings production must set for the carrier registered under `name`."""
    return CARRIERS.required(name) if name in CARRIERS else ()


def carrier_names() -> list[str]:
    return sorted(CARRIERS.names())


def supports_pickup(name: str) -> bool:
    """Whether the carrier registered under `name` can collect a parcel at a citizen's address."""
    return name in CARRIERS and CARRIERS.get_class(name).has_pickup


def get_carrier(name: str, settings: Settings, http: requests.Session | None = None,
                account: CarrierAccountConfig | None = None) -> Carrier:
    """The carrier registered under `name`, configured from the deployment's settings, or from a
    centre's own `account` laid over them."""
    if name not in CARRIERS:
        raise PermanentCarrierError(f"unknown carrier {name!r}")
    entry = CARRIERS.entry(name)
    config = entry.extra["config"](settings)
    if account is not None:
        config = entry.extra.get("with_account", merge_account)(config, account)
    return entry.cls(config, http=http)


def timeout_of(settings: Settings) -> float:
    raw = settings.get("HCC_CARRIER_TIMEOUT") or "15"
    try:
        return float(raw)
    except ValueError:
        return 15.0


def sandbox_base(settings: Settings, carrier: str) -> str:
    return f"{settings.public_url}/sandbox/{carrier}"


class CircuitOpen(RetryableCarrierError):
    """Raised without calling when a carrier failed several times in a row: give it time to recover."""


class CircuitBreaker:
    """After `failures` failures in a row, calls to that carrier fail at once for `cooldown` seconds;
    then one call is let through, and its outcome closes or reopens the circuit."""

    def __init__(self, failures: int = 5, cooldown: float = 30.0):
        self.failures, self.cooldown = failures, cooldown
        self._state: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        with self._lock:
            count, until = self._state.get(key, (0, 0.0))
            if count >= self.failures and until > time.monotonic():
                raise CircuitOpen(f"{key}: {count} failures in a row; waiting before calling again")

    def record(self, key: str, ok: bool) -> None:
        with self._lock:
            if ok:
                self._state.pop(key, None)
                return
            count = self._state.get(key, (0, 0.0))[0] + 1
            self._state[key] = (count, time.monotonic() + self.cooldown if count >= self.failures else 0.0)

    def reset(self) -> None:
        with self._lock:
            self._state.clear()


breaker = CircuitBreaker()


def send(http: requests.Session, method: str, url: str, *, timeout: float, breaker_key: str | None = None,
         **kwargs) -> requests.Response:
    """One HTTP call, with transport failures sorted into our error classes and a circuit breaker."""
    key = breaker_key or urlsplit(url).netloc
    breaker.check(key)
    try:
        resp = http.request(method, url, timeout=timeout, **kwargs)
    except requests.Timeout as e:
        breaker.record(key, ok=False)
        raise CarrierTimeout(f"timeout calling {url}") from e
    except requests.RequestException as e:
        breaker.record(key, ok=False)
        raise RetryableCarrierError(f"cannot reach {url}: {type(e).__name__}") from e
    if resp.status_code in (429,) or resp.status_code >= 500:
        breaker.record(key, ok=False)
        raise RetryableCarrierError(f"{url} answered {resp.status_code}")
    breaker.record(key, ok=True)
    return resp


def secret_digest(value: str) -> str:
    """A short digest standing for a secret in cache keys, so the secret itself is not kept as one."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def credential(settings: Settings, name: str, sandbox_value: str) -> str:
    """A credential setting; the sandbox's value stands in only outside production, so a production
    service never accepts or sends a sandbox secret. In production an unset one is "" here (the carrier's
    config is read for every carrier, used or not); the start-up check (core.adapters.Registry, the rule
    gateways follow) refuses to start with a carrier in use whose settings are unset."""
    try:
        return adapters.credential(settings, "a carrier", name, sandbox_value)
    except adapters.NotConfigured:
        return ""
