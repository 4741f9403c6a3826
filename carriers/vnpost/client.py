"""VNPost over HTTP (the MyVNPost partner API): GetAccessToken and the `token` header, ServicesCharge,
CreateOrder (a collection order for a dossier pickup), GetListOrder look-up, orderCancel,
GetStatusHistoryOrder, exportListReport labels, the two-level address catalogue and signed webhooks."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from dataclasses import replace

from carriers import base
from carriers.base import (
    Carrier,
    CarrierConfig,
    CarrierUnit,
    CreatedShipment,
    DuplicateOrderError,
    PermanentCarrierError,
    Rate,
    ShipmentRequest,
    TrackingEvent,
    WebhookRejected,
)
from carriers.vnpost import payloads
from core.clock import local_day
from core.settings import Setting, Settings, register_settings

register_settings(
    Setting("HCC_VNPOST_BASE_URL", "<public url>/sandbox/vnpost",
            "MyVNPost API base URL (https://connect-my.vnpost.vn/customer-partner; UAT https://my-uat.vnpost.vn/MYVNP_API)."),
    Setting("HCC_VNPOST_CLIENT_ID", "hcc-sandbox", "MyVNPost account name (username of GetAccessToken)."),
    Setting("HCC_VNPOST_CLIENT_SECRET", "sandbox-vnpost", "MyVNPost account password (password of GetAccessToken)."),
    Setting("HCC_VNPOST_CUSTOMER_CODE", "HCC0001", "The VNPost customer code (mã khách hàng CMS, customerCode)."),
    Setting("HCC_VNPOST_CONTRACT_CODE", "(none)",
            "The deployment account's VNPost contract (contractCode of orders); a centre's own account may name its own."),
    Setting("HCC_VNPOST_WEBHOOK_PUBLIC_KEY", "the sandbox's own key",
            "VNPost's RSA public key (PEM or base64 DER) that webhook signatures are checked with."),
)

log = logging.getLogger(__name__)

# (base_url, username, customer code, password digest) -> (token, monotonic expiry); shared in the process.
_tokens: dict[tuple[str, str, str, str], tuple[str, float]] = {}
_token_lock = threading.Lock()


def config_from(settings: Settings) -> CarrierConfig:
    key = settings.get("HCC_VNPOST_WEBHOOK_PUBLIC_KEY")
    if not key and not settings.production and not settings.get("HCC_VNPOST_BASE_URL"):
        # Talking to the sandbox: its webhooks are signed with its own key.
        from carriers.vnpost.sandbox import public_key_pem

        key = public_key_pem(settings)
    return CarrierConfig(
        base_url=(settings.get("HCC_VNPOST_BASE_URL") or base.sandbox_base(settings, "vnpost")).rstrip("/"),
        username=base.credential(settings, "HCC_VNPOST_CLIENT_ID", "hcc-sandbox"),
        password=base.credential(settings, "HCC_VNPOST_CLIENT_SECRET", "sandbox-vnpost"),
        webhook_token=key or "",
        timeout=base.timeout_of(settings),
        extra={"customer_code": settings.get("HCC_VNPOST_CUSTOMER_CODE") or "HCC0001",
               "contract_number": settings.get("HCC_VNPOST_CONTRACT_CODE") or ""},
    )


def with_account(config: CarrierConfig, account: base.CarrierAccountConfig) -> CarrierConfig:
    """A centre's VNPost account: its customer code (customerCode of GetAccessToken, prices and
    orders), its contract (contractCode of orders, contractNumber of prices) and its token as the
    password GetAccessToken takes with the deployment's account name."""
    return base.merge_account(config, account, customer_key="customer_code")


def _verifier(public_key: str):
    """verify(text, signature) with VNPost's RSA public key (PEM, or the base64 DER its documents print)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    if not public_key:
        raise WebhookRejected("no VNPost public key configured")
    try:
        if "-----BEGIN" in public_key:
            key = serialization.load_pem_public_key(public_key.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode("".join(public_key.split())))
    except ValueError as e:
        raise WebhookRejected("the VNPost public key cannot be read") from e
    if not isinstance(key, rsa.RSAPublicKey):
        raise WebhookRejected("the VNPost public key is not RSA")

    def verify(text: bytes, signature: bytes) -> bool:
        try:
            key.verify(signature, text, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return False
        return True

    return verify


@base.register("vnpost", config_from, required_settings=(
    "HCC_VNPOST_BASE_URL", "HCC_VNPOST_CLIENT_ID",
    "HCC_VNPOST_CLIENT_SECRET", "HCC_VNPOST_CUSTOMER_CODE"), with_account=with_account)
class VnpostCarrier(Carrier):
    # VNPost pushes webhooks only to a URL registered by hand and whitelisted: until then every
    # moving parcel is asked about (GetStatusHistoryOrder); a webhook that does come is taken too.
    has_webhooks = False
    has_feed = False
    has_pickup = True
    # A pickup's fee goes on the collection order for the postman to take from the citizen.
    collects_fee_on_pickup = payloads.PICKUP_FEE_AS_COD

    @property
    def customer_code(self) -> str:
        return self.config.extra.get("customer_code", "")

    @property
    def contract(self) -> str:
        return self.config.extra.get("contract_number", "")

    def _token(self, refresh: bool = False) -> str:
        # Keyed by customer code and the password's digest: two centres' accounts never share a token.
        key = (self.config.base_url, self.config.username, self.customer_code,
               base.secret_digest(self.config.password))
        with _token_lock:
            cached = _tokens.get(key)
            if cached and not refresh and cached[1] > time.monotonic():
                return cached[0]
        resp = self._send("POST", f"{self.config.base_url}/GetAccessToken",
                          json=payloads.token_request(self.config.username, self.config.password, self.customer_code))
        try:
            body = resp.json()
        except ValueError:
            body = None
        token = payloads.parse_token(body) if resp.status_code == 200 else None
        if token is None:
            raise PermanentCarrierError(
                f"vnpost GetAccessToken refused ({resp.status_code}): {payloads.token_error(body)[:200]}")
        with _token_lock:
            _tokens[key] = (token, time.monotonic() + payloads.TOKEN_TTL)
        return token

    def _call(self, method: str, path: str, **kwargs):
        for attempt in (1, 2):
            headers = {"token": self._token(refresh=attempt == 2)}
            resp = self._send(method, f"{self.config.base_url}{path}", headers=headers, **kwargs)
            if resp.status_code not in (401, 403):
                return resp
        raise PermanentCarrierError("vnpost refused our token twice")

    @staticmethod
    def _json(resp, what: str):
        try:
            body = resp.json()
        except ValueError as e:
            raise PermanentCarrierError(f"vnpost {what}: not JSON ({resp.status_code})") from e
        if resp.status_code >= 400:
            raise PermanentCarrierError(f"vnpost {what}: {resp.status_code} {payloads.error_message(body)}")
        return body

    def quote(self, request: ShipmentRequest) -> list[Rate]:
        body = self._json(self._call("POST", "/ServicesCharge",
                                     json=payloads.price_request(self.customer_code, self.contract, request)),
                          "ServicesCharge")
        return payloads.parse_prices(body)

    def create(self, request: ShipmentRequest) -> CreatedShipment:
        return self._create(request, payloads.order_request(self.customer_code, self.contract, request))

    def request_pickup(self, request: ShipmentRequest) -> CreatedShipment:
        # VNPost's own way: a collection order (sendType 1, thu gom tận nơi) whose sender is the
        # citizen; the postman comes within VNPost's collection round for that commune.
        created = self._create(request, payloads.pickup_request(self.customer_code, self.contract, request))
        return replace(created, pickup_window="bưu tá VNPost thu gom tận nơi trong ca thu gom kế tiếp")

    def _create(self, request: ShipmentRequest, payload: dict) -> CreatedShipment:
        # VNPost does not say it refuses a reused saleOrderCode: ask first, so a retry never makes
        # a second parcel. A look-up VNPost refuses does not stop the order (postal looks it up
        # again before any retry); one it cannot answer now does.
        try:
            existing = self.find_by_order_number(request.order_number)
        except PermanentCarrierError as e:
            log.warning("vnpost look-up before create refused", extra={"carrier": "vnpost", "error": type(e).__name__})
            existing = None
        if existing is not None:
            raise DuplicateOrderError(f"vnpost: order {request.order_number} exists",
                                      tracking_code=existing.tracking_code)
        body = self._json(self._call("POST", "/CreateOrder", json=payload), "CreateOrder")
        created = payloads.parse_order(body)
        if created is None:
            raise PermanentCarrierError(f"vnpost CreateOrder: {payloads.error_message(body) or 'no itemCode'}")
        return created

    def _list(self, page: int = 0) -> list[dict]:
        body = self._json(self._call("GET", "/GetListOrder", params=payloads.list_query(local_day(), page)),
                          "GetListOrder")
        return payloads.flatten_results(body)

    def find_by_order_number(self, order_number: str) -> CreatedShipment | None:
        for page in range(10):
            records = self._list(page)
            found = payloads.find_order(records, order_number)
            if found is not None or len(records) < payloads.LIST_PAGE_SIZE:
                return found
        return None

    def _order(self, tracking_code: str) -> list[dict]:
        body = self._json(self._call("GET", "/getOrder", params={"type": payloads.CODE_TYPE_ITEM,
                                                                 "code": tracking_code}), "getOrder")
        return payloads.flatten_results(body)

    def get_label(self, tracking_code: str) -> bytes:
        # VNPost prints its own label: exportListReport answers one base64 PDF per itemCode.
        body = self._json(self._call("POST", "/exportListReport", json=[tracking_code]), "exportListReport")
        pdf = payloads.parse_labels(body)
        if pdf is None:
            raise PermanentCarrierError("vnpost exportListReport: no PDF")
        return pdf

    def cancel(self, tracking_code: str) -> None:
        original = payloads.original_id(self._order(tracking_code), tracking_code)
        if original is None:
            raise PermanentCarrierError(f"vnpost getOrder: no order {tracking_code}")
        body = self._json(self._call("POST", "/orderCancel", json=payloads.cancel_request(original)), "orderCancel")
        kind, message = payloads.cancel_result(body)
        if kind == payloads.CANCEL_ACCEPTED:
            return
        if kind == payloads.CANCEL_PENDING:
            raise PermanentCarrierError(f"vnpost orderCancel: chờ VNPost duyệt ({message[:200]})")
        raise PermanentCarrierError(f"vnpost orderCancel refused ({kind}): {message[:200]}")

    def track(self, tracking_code: str, order_number: str | None = None) -> list[TrackingEvent]:
        body = self._json(self._call("GET", "/GetStatusHistoryOrder",
                                     params={"type": payloads.CODE_TYPE_ITEM, "code": tracking_code}),
                          "GetStatusHistoryOrder")
        return payloads.parse_history(body, tracking_code, order_number)

    def units(self) -> list[CarrierUnit]:
        """VNPost's two-level catalogue (in force since 1 July 2025): provinces and communes with its own codes."""
        provinces = self._json(self._call("GET", "/getNewProvinceAll"), "getNewProvinceAll")
        communes = self._json(self._call("GET", "/getNewCommuneAll"), "getNewCommuneAll")
        return payloads.parse_units(provinces, communes)

    def parse_webhook(self, headers: dict[str, str], query: dict[str, str], body: bytes) -> list[TrackingEvent]:
        try:
            data = json.loads(body or b"{}")
        except ValueError as e:
            raise WebhookRejected("not JSON") from e
        return payloads.parse_webhook(data, _verifier(self.config.webhook_token))


def reset_token_cache() -> None:
    with _token_lock:
        _tokens.clear()
