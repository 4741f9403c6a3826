"""The PaymentGateway interface, its result dataclasses, classified errors and the registry."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from core.errors import InvalidInput
from core.settings import Settings


class GatewayError(Exception):
    """Base of errors a gateway adapter raises; callers branch on the subclass."""


class RetryableGatewayError(GatewayError):
    """Raised when the gateway is unreachable or answered a temporary failure: try again later."""


class PermanentGatewayError(GatewayError):
    """Raised when the gateway refused the request for good (bad data, rule broken): do not retry."""


class DuplicateError(GatewayError):
    """Raised when the gateway says the same request was already made (an earlier attempt got through)."""


class GatewayNotConfigured(PermanentGatewayError):
    """Raised in production when a setting the gateway needs is unset (the start-up check should have said so)."""

    def __init__(self, gateway: str, setting: str):
        super().__init__(f"{setting} is not set; the {gateway} gateway cannot be used")
        self.gateway, self.setting = gateway, setting


class NotSupported(PermanentGatewayError):
    """Raised by the base class for an operation a gateway does not offer."""


@dataclass(frozen=True)
class Checkout:
    """Where to send the citizen to pay (a redirect URL) and/or what to show (a QR payload)."""

    channel: str
    redirect_url: str | None = None
    qr_payload: str | None = None
    reference: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Notification:
    """A verified gateway notification (IPN, bank credit) as plain data."""

    channel: str
    order_ref: str  # our payment code
    amount: int  # đồng
    success: bool
    transaction_ref: str | None  # the gateway's own transaction number (dedup key)
    raw_status: str | None = None
    paid_at: Any = None


@dataclass(frozen=True)
class QueryResult:
    """A gateway's answer about one order (to settle requests stuck in pending)."""

    found: bool
    success: bool = False
    pending: bool = False
    amount: int = 0
    transaction_ref: str | None = None
    raw_status: str | None = None


@dataclass(frozen=True)
class RefundResult:
    """A gateway's answer to a refund."""

    success: bool
    reference: str | None = None
    raw_status: str | None = None
    message: str | None = None


class PaymentGateway:
    """What every channel offers; the base raises NotSupported for what a channel cannot do."""

    name: str = ""
    online: bool = True
    # Settings whose sandbox values serve the embedded default only: production must set every one
    # (checked at start-up by fees.config, and by `setting` at use).
    required_settings: tuple[str, ...] = ()

    def __init__(self, settings: Settings):
        self.settings = settings

    def setting(self, name: str, sandbox_default: str) -> str:
        """A gateway setting; the sandbox value serves the embedded default only, never production."""
        value = self.settings.get(name)
        if value:
            return value
        if self.settings.production:
            raise GatewayNotConfigured(self.name, name)
        return sandbox_default

    def checkout(self, payment, *, return_url: str, client_ip: str = "127.0.0.1") -> Checkout:
        raise NotSupported(f"{self.name} has no online checkout")

    def query(self, payment) -> QueryResult:
        raise NotSupported(f"{self.name} cannot be queried")

    def refund(self, payment, refund) -> RefundResult:
        raise NotSupported(f"{self.name} cannot refund through the gateway")


_REGISTRY: dict[str, str] = {
    "vnpay": "fees.gateways.vnpay:VnpayGateway",
    "momo": "fees.gateways.momo:MomoGateway",
    "vietqr": "fees.gateways.vietqr:VietqrGateway",
    "counter": "fees.gateways.counter:CounterGateway",
    "cod": "fees.gateways.cod:CodGateway",
}


def register_gateway(name: str, target: str) -> None:
    """Add a gateway: `target` is 'module:Class'. One line per new gateway."""
    _REGISTRY[name] = target


def gateway_names() -> list[str]:
    return list(_REGISTRY)


def gateway_class(name: str) -> type[PaymentGateway]:
    target = _REGISTRY.get(name)
    if target is None:
        raise InvalidInput(f"unknown payment channel {name!r}", errors={"channel": [f"Không hỗ trợ kênh {name}."]})
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


def get_gateway(name: str, settings: Settings) -> PaymentGateway:
    return gateway_class(name)(settings)
