"""The PaymentGateway interface, its result dataclasses, classified errors and the registry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.adapters import NotConfigured, Registry, UnknownAdapter, credential
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


class GatewayNotConfigured(PermanentGatewayError, NotConfigured):
    """Raised in production when a setting the gateway needs is unset (the start-up check should have said so)."""

    def __init__(self, gateway: str, setting: str):
        NotConfigured.__init__(self, f"the {gateway} gateway", setting)
        self.gateway = gateway


class NotSupported(PermanentGatewayError):
    """Raised by the base class for an operation a gateway does not offer."""


@dataclass(frozen=True)
class MerchantAccount:
    """Who the money goes to at one gateway: the deployment's default account or a collecting unit's own.

    The three first gateways have named fields: vnpay (tmn_code, hash_secret), momo (partner_code,
    access_key, secret_key), vietqr (bank_bin, account_number, account_name). Any other gateway keeps its
    merchant id in `merchant_ref` and its other fields (keys included) in `values`. `owner` says whose it
    is ("default" or "unit:<code>"), for logs and messages; secrets never appear in a repr.
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
    merchant_ref: str = ""
    values: dict[str, str] = field(default_factory=dict, repr=False, hash=False)

    @property
    def merchant_id(self) -> str:
        """The id a callback carries to say which account it is for (VNPAY vnp_TmnCode, MoMo partnerCode,
        the bank's credited account number, another gateway's `merchant_ref`)."""
        return {"vnpay": self.tmn_code, "momo": self.partner_code,
                "vietqr": self.account_number}.get(self.gateway, self.merchant_ref)

    def value(self, name: str) -> str:
        """A field by name, named or in `values` ("" when absent)."""
        if name in self.__dataclass_fields__ and name not in ("values",):
            return str(getattr(self, name))
        return self.values.get(name, "")

    def same_account(self, other: MerchantAccount | None) -> bool:
        """The same merchant account whoever owns it: two units may share one (then their fees may share a
        payment), but an id with other secrets is another account."""
        if other is None or other.gateway != self.gateway:
            return False
        if self.gateway == "vietqr":
            return (self.bank_bin, self.account_number) == (other.bank_bin, other.account_number)
        return (self.tmn_code, self.hash_secret, self.partner_code, self.access_key, self.secret_key,
                self.merchant_ref, sorted(self.values.items())) == \
            (other.tmn_code, other.hash_secret, other.partner_code, other.access_key, other.secret_key,
             other.merchant_ref, sorted(other.values.items()))


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


def whole_dong(value) -> int:
    """A gateway's amount as whole đồng: an int, or a string of digits; anything else is refused (ValueError).

    int() alone would turn 200000.9 into 200000 and accept "20_000", so a float or a stray format
    from a gateway would change money silently.
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not an amount")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise ValueError(f"not a whole number of đồng: {value!r}")


@dataclass(frozen=True)
class InboundRequest:
    """An inbound notification as the HTTP layer received it (plain data: gateways never see Flask)."""

    method: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    remote_addr: str | None = None
    query_string: str = ""

    def header(self, name: str) -> str:
        lower = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lower), "")


# What a notification is about, for `fees.ipn.judge`:
#   "order": one gateway order (VNPAY vnp_TxnRef, MoMo orderId), mapped to its payment through the
#            attempts table and settled once (fees.settlement.settle_gateway_payment);
#   "transfer": a bank credit naming the payment's code in its description; credits add up.
MATCH_ORDER, MATCH_TRANSFER = "order", "transfer"

# Why a notification cannot be acted on (Notification.problem); each adapter answers each in its own terms.
BAD_SIGNATURE = "bad_signature"
MALFORMED = "malformed"
UNKNOWN_MERCHANT = "unknown_merchant"


@dataclass(frozen=True)
class Notification:
    """One gateway notification (IPN, bank credit), parsed and verified by its adapter, as plain data.

    `problem` is None when it can be judged: the signature was verified with the keys of the merchant it
    names (`account`), and the fields the judge needs are there. Otherwise nothing is to change and only
    the answer matters (BAD_SIGNATURE, MALFORMED, UNKNOWN_MERCHANT)."""

    gateway: str
    kind: str                       # the notification kind, as in /callbacks/<gateway>/<kind>
    raw: bytes                      # what was received (the body, or the query string of a GET)
    signature_valid: bool
    problem: str | None = None
    match: str = MATCH_ORDER
    order_ref: str = ""             # the gateway order (MATCH_ORDER) or the transfer description (MATCH_TRANSFER)
    amount: int = 0                 # whole đồng; -1 when the gateway's amount is not whole đồng
    success: bool = False           # the money was taken
    pending: bool = False           # not final yet: nothing to record, answer "received"
    transaction_ref: str | None = None  # the gateway's own transaction number (bank: the credit's reference)
    raw_status: str | None = None   # the gateway's own result code
    merchant_id: str = ""           # the merchant the notification names
    account: MerchantAccount | None = None  # the account it was verified with (None: unknown, or none named)
    dedup_key: str | None = None    # the same notification delivered again has the same key
    paid_extra: dict[str, Any] = field(default_factory=dict)  # kept on the payment when it is paid
    actor_id: str = ""              # who the audit log says acted ("vnpay", "bank")
    actor_name: str = ""
    detail: str = ""                # why it has its problem, in the gateway's words (recorded with the callback)
    merchant_label: str = "merchant"  # what the gateway calls a merchant ("partner" at MoMo), for details

    # Older name of the field.
    @property
    def channel(self) -> str:
        return self.gateway


@dataclass(frozen=True)
class Verdict:
    """What `fees.ipn.judge` decided about a notification.

    outcome is what core.callbacks records: accepted, duplicate, rejected, flagged, error. result is the
    common vocabulary each adapter's `answer` turns into its wire answer: the notification's problem
    (bad_signature, malformed, unknown_merchant), other_merchant, pending, a settlement's result (paid,
    failed_recorded, flagged, already, paid_twice, not_found, amount_mismatch) or a transfer's
    (no_code, unknown_code, duplicate, other_account, underpaid, flagged, paid)."""

    outcome: str
    result: str
    detail: str = ""
    payment_id: int | None = None
    dedup_key: str | None = None

    # The name callers used before the wire answer moved to the adapters.
    @property
    def answer(self) -> str:
        return self.result


@dataclass(frozen=True)
class WireAnswer:
    """The HTTP answer a gateway expects to a notification."""

    status: int = 200
    json: Any = None
    body: bytes = b""
    content_type: str | None = None


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
    """What every channel offers; the base raises NotSupported for what a channel cannot do.

    An online gateway (VNPAY, MoMo, VietQR, ...) lives in its own folder `fees/gateways/<name>/`
    (README.md there): `payloads.py` builds, signs and parses its messages (pure), `client.py` holds this
    class (the only code that calls out), `sandbox.py` plays the gateway's side in the embedded default.
    """

    name: str = ""
    display_name: str = ""        # what the citizen sees on the pay page ("VNPAY", "Ví MoMo")
    online: bool = True           # paid by the citizen through the gateway (not the counter, not COD)
    # How the citizen pays: "redirect" (checkout() gives a URL to send the browser to) or "qr" (the pay
    # page shows checkout().qr_payload). Empty for channels the citizen does not choose.
    checkout_kind: str = ""
    # Settings whose sandbox values serve the embedded default only: production must set every one
    # (checked at start-up for every registered gateway, and by `setting` at use).
    required_settings: tuple[str, ...] = ()
    # The inbound notifications it sends us: kind -> HTTP method, served at /callbacks/<name>/<kind>.
    notifications: dict[str, str] = {}
    # A collecting unit's own account at this gateway (fees.merchants): the key of its merchant id in
    # CollectingUnit.gateway, and MerchantAccount field -> the unit's credential name (province.secrets).
    unit_id_key: str = ""
    unit_secrets: dict[str, str] = {}
    # The MerchantAccount field holding the merchant id a notification names ("merchant_ref" for a
    # gateway without a named field).
    merchant_id_field: str = "merchant_ref"
    # Where checkout sends the citizen's browser (the pay page's CSP form-action must allow it, since the
    # browser follows our redirect from the pay form): fixed pay-page origins, and settings holding a URL.
    checkout_origins: tuple[str, ...] = ()
    checkout_url_settings: tuple[str, ...] = ()

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

    def unit_account(self, owner: str, merchant_id: str, secrets: dict[str, str]) -> MerchantAccount:
        """A collecting unit's own account from its merchant id and credentials (named as in unit_secrets)."""
        values = {self.merchant_id_field: merchant_id, **secrets}
        known = {f for f in MerchantAccount.__dataclass_fields__ if f not in ("gateway", "owner", "values")}
        return MerchantAccount(gateway=self.name, owner=owner, **{k: v for k, v in values.items() if k in known},
                               values={k: v for k, v in values.items() if k not in known})

    def setting(self, name: str, sandbox_default: str) -> str:
        """A gateway setting; the sandbox value serves the embedded default only, never production
        (the one rule of core.adapters.credential, raising GatewayNotConfigured)."""
        try:
            return credential(self.settings, f"the {self.name} gateway", name, sandbox_default)
        except NotConfigured as e:
            raise GatewayNotConfigured(self.name, name) from e

    # --- Citizen's checkout ---------------------------------------------------------------------

    def checkout(self, payment, *, return_url: str, client_ip: str = "127.0.0.1",
                 order_ref: str | None = None) -> Checkout:
        """Open one order at the gateway for `payment` (its `order_ref`, from fees.gateways.attempts)."""
        raise NotSupported(f"{self.name} has no online checkout")

    # --- Inbound notifications ------------------------------------------------------------------

    def parse_notification(self, kind: str, request: InboundRequest,
                           find_account: Callable[[str | None], MerchantAccount | None]) -> Notification:
        """Read and verify one inbound notification of `kind`. `find_account(merchant_id)` gives the
        account (the default or a unit's) that has that merchant id, or None; the signature is checked
        with its keys. Never raises for bad input: a bad one comes back with `problem` set."""
        raise NotSupported(f"{self.name} sends no notifications")

    def answer(self, notification: Notification | None, verdict: Verdict) -> WireAnswer:
        """The gateway's own answer to a judged notification (`notification` is None when judging
        failed: verdict.outcome "error")."""
        raise NotSupported(f"{self.name} sends no notifications")

    # --- Server-to-server calls -----------------------------------------------------------------

    def query(self, payment, orders: list[GatewayOrder] | None = None) -> QueryResult:
        raise NotSupported(f"{self.name} cannot be queried")

    def refund(self, payment, refund, order: GatewayOrder | None = None) -> RefundResult:
        """Send a refund of `order` (the one that took the money). Raises OutcomeUnknown when the answer
        does not say whether it went through: then only `refund_status` may end it."""
        raise NotSupported(f"{self.name} cannot refund through the gateway")

    def refund_status(self, payment, refund, order: GatewayOrder | None = None) -> RefundStatus:
        """Ask the gateway what became of `refund` (by querying the original transaction)."""
        raise NotSupported(f"{self.name} cannot query a refund")

    @property
    def can_query(self) -> bool:
        return type(self).query is not PaymentGateway.query

    @property
    def can_refund(self) -> bool:
        return type(self).refund is not PaymentGateway.refund


# --- The sandbox mount contract (fees/gateways/<name>/sandbox.py) ------------------------------------
# A sandbox plays the gateway's side in the embedded default. It knows no Flask: it lists its routes, and
# api/fees/sandbox.py mounts every registered gateway's list under /sandbox/<PREFIX>.

@dataclass(frozen=True)
class SandboxRequest:
    """One request to a sandbox route, as plain data, with what a sandbox may use of the service."""

    method: str
    path_args: dict[str, str]
    args: dict[str, str]
    form: dict[str, str]
    json: Any
    body: bytes
    settings: Settings
    # The account a request names by merchant id (an unknown id gets the default's keys, which then
    # fail the gateway's checks, as at the real gateway).
    merchant: Callable[[str | None], MerchantAccount]
    # Send a notification to the service as the gateway would: (method, url, **requests kwargs) -> status.
    notify: Callable[..., int | None]
    query_string: str = ""


@dataclass(frozen=True)
class SandboxResponse:
    """What a sandbox route answers: JSON, a redirect, a page (a template of api/templates with its
    context; a new gateway may use the generic "fees/sandbox_checkout.html") or raw bytes."""

    status: int = 200
    json: Any = None
    redirect: str | None = None
    template: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    body: bytes | None = None
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class SandboxRoute:
    """One route of a sandbox: a Flask-style rule under /sandbox/<PREFIX> ("/pay/<order_id>")."""

    rule: str
    methods: tuple[str, ...]
    handler: Callable[[SandboxRequest], SandboxResponse]


# --- The registry ----------------------------------------------------------------------------------

GATEWAYS: Registry[PaymentGateway] = Registry("gateway")


def register_gateway(cls: type[PaymentGateway]) -> type[PaymentGateway]:
    """Class decorator: make a gateway available under its `name`, with its `required_settings`. The
    module is imported from core.registry.ADAPTER_MODULES (one line per gateway)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    return GATEWAYS.register(cls.name, cls, required_settings=cls.required_settings)


def gateway_names(*, online: bool | None = None) -> list[str]:
    """Registered gateways in core.registry.ADAPTER_MODULES order; online=True: the citizen's channels."""
    names = GATEWAYS.names()
    if online is None:
        return names
    return [n for n in names if GATEWAYS.get_class(n).online is online]


def gateway_class(name: str) -> type[PaymentGateway]:
    try:
        return GATEWAYS.get_class(name)
    except UnknownAdapter as e:
        raise InvalidInput(f"unknown payment channel {name!r}",
                           errors={"channel": [f"Không hỗ trợ kênh {name}."]}) from e


def get_gateway(name: str, settings: Settings, account: MerchantAccount | None = None) -> PaymentGateway:
    """The gateway `name` working for `account` (a collecting unit's, found by fees.merchants), or for the
    deployment's default account from settings when None."""
    return gateway_class(name)(settings, account)


class GatewaySet(Sequence[str]):
    """The names of the registered gateways whose class passes `test`, read from the registry at each use
    (so a gateway registered by its one line is in every such set). Iterable and concatenable like a tuple."""

    def __init__(self, test: Callable[[type[PaymentGateway]], bool], label: str):
        self._test, self._label = test, label

    def _names(self) -> tuple[str, ...]:
        return tuple(n for n in GATEWAYS.names() if self._test(GATEWAYS.get_class(n)))

    def __getitem__(self, index):  # type: ignore[override]
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self):
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __repr__(self) -> str:
        return f"<{self._label}: {', '.join(self._names())}>"


# Every payment channel; those a citizen pays online; those that refund and can be queried through the
# gateway (the others are refunded by hand, and settle only by their notifications).
ALL_CHANNELS = GatewaySet(lambda cls: True, "payment channels")
ONLINE_GATEWAYS = GatewaySet(lambda cls: cls.online, "online gateways")
REFUNDING_GATEWAYS = GatewaySet(lambda cls: cls.refund is not PaymentGateway.refund, "gateways that refund")
QUERYABLE_GATEWAYS = GatewaySet(lambda cls: cls.query is not PaymentGateway.query, "gateways that can be queried")


# Channels whose payments end in a receipt with no cashier: every online gateway, and collection on delivery.
AUTOMATIC_CHANNELS = GatewaySet(lambda cls: cls.online or cls.name == "cod", "channels settled without a cashier")


def checkout_urls(settings: Settings) -> list[str]:
    """Every URL (or origin) a registered online gateway's checkout may send the citizen's browser to."""
    out: list[str] = []
    for name in ONLINE_GATEWAYS:
        cls = GATEWAYS.get_class(name)
        out += list(cls.checkout_origins)
        out += [u for u in (settings.get(s) for s in cls.checkout_url_settings) if u]
    return out


class ChannelLabels(dict):
    """Labels of payment channels for one kind of page or document; a channel it does not name (a gateway
    added by its one registration line) is labelled by its gateway's display_name, else by its name."""

    def __missing__(self, key: str) -> str:
        try:
            return GATEWAYS.get_class(key).display_name or key
        except UnknownAdapter:
            return key

    def get(self, key, default=None):  # type: ignore[override]
        if key in self:
            return dict.__getitem__(self, key)
        label = self.__missing__(key)
        return default if label == key and default is not None else label


def sandbox_module_name(name: str) -> str:
    """Where gateway `name`'s sandbox is: `sandbox` beside the module its class is defined in."""
    module = gateway_class(name).__module__
    package = module.rsplit(".", 1)[0] if module.endswith((".client", ".gateway")) else module
    return f"{package}.sandbox"
