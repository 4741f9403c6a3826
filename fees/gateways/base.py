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


class OutcomeUnknown(RetryableGatewayError):
    """Raised when the gateway's answer does not say whether the request went through (VNPAY refund 94 "a
    duplicate request within the API's window" or 99, MoMo 40/41/43/7000/7002/1081, an answer lost on the
    way): only a query of the transaction may tell. Never read as success, never as failure."""

    def __init__(self, message: str, raw_status: str | None = None):
        super().__init__(message)
        self.raw_status = raw_status


class GatewayNotConfigured(PermanentGatewayError):
    """Raised in production when a setting the gateway needs is unset (the start-up check should have said so)."""

    def __init__(self, gateway: str, setting: str):
        super().__init__(f"{setting} is not set; the {gateway} gateway cannot be used")
        self.gateway, self.setting = gateway, setting


class NotSupported(PermanentGatewayError):
    """Raised by the base class for an operation a gateway does not offer."""


@dataclass(frozen=True)
class MerchantAccount:
    """Who the money goes to at one gateway: the deployment's default account or a collecting unit's own.

    Only the fields of `gateway` are filled: vnpay (tmn_code, hash_secret), momo (partner_code,
    access_key, secret_key), vietqr (bank_bin, account_number, account_name). `owner` says whose it is
    ("default" or "unit:<code>"), for logs and messages; secrets never appear in a repr.
    """

    gateway: str
    owner: str = "default"
    tmn_code: str = ""
    hash_secret: str = field(default="", repr=False)
    partner_code: str = ""
    access_key: str = field(default="", repr=False)
    secret_key: str = field(default="", repr=False)
    bank_bin: str = ""
    account_number: str = ""
    account_name: str = ""

    @property
    def merchant_id(self) -> str:
        """The id a callback carries to say which account it is for (VNPAY vnp_TmnCode, MoMo partnerCode,
        the bank's credited account number)."""
        return {"vnpay": self.tmn_code, "momo": self.partner_code, "vietqr": self.account_number}.get(self.gateway, "")

    def same_account(self, other: MerchantAccount | None) -> bool:
        """The same merchant account whoever owns it: two units may share one (then their fees may share a
        payment), but an id with other secrets is another account."""
        if other is None or other.gateway != self.gateway:
            return False
        if self.gateway == "vietqr":
            return (self.bank_bin, self.account_number) == (other.bank_bin, other.account_number)
        return (self.tmn_code, self.hash_secret, self.partner_code, self.access_key, self.secret_key) == \
            (other.tmn_code, other.hash_secret, other.partner_code, other.access_key, other.secret_key)


# One gateway order per checkout attempt (a gateway refuses a reused vnp_TxnRef / orderId): the first
# attempt keeps the payment code (what the citizen sees), later ones add "L" and the attempt number.
# Letters and digits only, as VNPAY's vnp_TxnRef is alphanumeric and MoMo's orderId regex allows it; "L" is
# not in the payment code alphabet (core.security.CODE_ALPHABET), so the code is what comes before it.
ATTEMPT_MARK = "L"


def order_ref_for(code: str, seq: int) -> str:
    """The gateway order reference of a payment's `seq`-th checkout attempt (1, 2, ...)."""
    return code if seq <= 1 else f"{code}{ATTEMPT_MARK}{seq}"


def code_from_order_ref(order_ref: str) -> str:
    """The payment code an order reference was made from (CODE, CODEL2; MoMo's older CODE-2 too).

    Only for orders with no row in fees.models.GatewayAttempt (opened before it existed): the table is
    what maps an order to its payment."""
    return order_ref.split("-", 1)[0].split(ATTEMPT_MARK, 1)[0]


@dataclass(frozen=True)
class GatewayOrder:
    """One order at the gateway, as a query or refund must name it: its reference, and for VNPAY the
    vnp_CreateDate candidates of its pay request (newest first), since querydr/refund find it by both."""

    order_ref: str
    transaction_dates: tuple[str, ...] = ()
    transaction_ref: str | None = None
    amount: int | None = None


@dataclass(frozen=True)
class RefundStatus:
    """What a query of the transaction says about one refund.

    state: succeeded | failed | pending (the gateway has it, not final) | absent (no trace of it) |
    unknown (the query itself could not tell)."""

    state: str
    reference: str | None = None
    raw_status: str | None = None
    message: str | None = None


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
    order_ref: str | None = None  # which of the payment's orders the answer is about


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

    def __init__(self, settings: Settings, account: MerchantAccount | None = None):
        self.settings = settings
        self._account = account

    @property
    def account(self) -> MerchantAccount:
        """The merchant account this instance works for: the one given, else the deployment's default."""
        if self._account is None:
            self._account = self.default_account()
        return self._account

    def default_account(self) -> MerchantAccount:
        """The deployment's own account, from settings (the sandbox's in the embedded default)."""
        return MerchantAccount(gateway=self.name)

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

    def query(self, payment, orders: list[GatewayOrder] | None = None) -> QueryResult:
        raise NotSupported(f"{self.name} cannot be queried")

    def refund(self, payment, refund, order: GatewayOrder | None = None) -> RefundResult:
        """Send a refund of `order` (the one that took the money). Raises OutcomeUnknown when the answer
        does not say whether it went through: then only `refund_status` may end it."""
        raise NotSupported(f"{self.name} cannot refund through the gateway")

    def refund_status(self, payment, refund, order: GatewayOrder | None = None) -> RefundStatus:
        """Ask the gateway what became of `refund` (by querying the original transaction)."""
        raise NotSupported(f"{self.name} cannot query a refund")


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


def get_gateway(name: str, settings: Settings, account: MerchantAccount | None = None) -> PaymentGateway:
    """The gateway `name` working for `account` (a collecting unit's, found by fees.merchants), or for the
    deployment's default account from settings when None."""
    return gateway_class(name)(settings, account)
