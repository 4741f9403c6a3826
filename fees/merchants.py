"""Whose merchant account a payment is paid into, and which account a gateway's callback speaks for.

A collecting unit may have its own merchant accounts: its VNPAY terminal code and MoMo partner code in
`CollectingUnit.gateway` (with the hash secret, access key and secret key as encrypted credentials of the
unit: 'vnpay_hash_secret', 'momo_access_key', 'momo_secret_key'), and its bank account for VietQR in the
`bank_*` columns. A unit without one uses the deployment's default account (HCC_* settings; the
sandboxes' in the embedded default).

Money routing: a payment is one gateway order, so all of it lands in one account. Fees of several units
may share a payment only when they are paid into the same account at that gateway (units without their
own accounts all share the default one, and the per-unit split is recorded for remittance by the
receipts). When they differ, the channel is refused for that payment: `check_single_merchant` says so at
creation, so the integrating system learns it at once and creates one payment per unit.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Conflict, InvalidInput
from core.settings import Settings
from fees.gateways.base import MerchantAccount, PaymentGateway, gateway_class, gateway_names, get_gateway
from fees.models import FeeType, Payment
from province import secrets
from province.models import CollectingUnit

log = logging.getLogger(__name__)



def merchant_gateways() -> list[str]:
    """Gateways whose money goes into a merchant account: the online ones (counter and COD are paid to the
    centre's staff)."""
    return gateway_names(online=True)


def _label(gateway: str) -> str:
    try:
        return gateway_class(gateway).display_name or gateway
    except InvalidInput:
        return gateway


# Where a checkout and a verified notification record the merchant id they went through, so a later query
# or refund goes to the account that holds the money even if the unit's accounts change meanwhile.
CHECKOUT_MERCHANT = "checkout_merchant_id"
PAID_MERCHANT = "paid_merchant_id"


class MixedMerchantAccounts(Conflict):
    """Raised when a payment's fees belong to units paid into different accounts at one gateway."""

    code = "mixed-merchant-accounts"

    def __init__(self, gateway: str, owners: list[str]):
        label = _label(gateway)
        message = ("Các khoản phí thuộc các đơn vị có tài khoản thu khác nhau; hãy tạo yêu cầu thanh toán riêng "
                   f"cho từng đơn vị ({label}: {', '.join(owners)})")
        super().__init__(message, errors={"items": [message]})
        self.gateway, self.owners = gateway, owners


class IncompleteMerchantAccount(Conflict):
    """Raised when a unit names its own merchant id at a gateway but a secret of that account is not set."""

    code = "incomplete-merchant-account"

    def __init__(self, gateway: str, unit_code: str, missing: list[str]):
        label = _label(gateway)
        message = (f"Tài khoản {label} của đơn vị {unit_code} chưa đủ thông tin ({', '.join(missing)}); "
                   "chưa thể thu qua kênh này")
        super().__init__(message, errors={"channels": [message]})
        self.gateway, self.unit_code, self.missing = gateway, unit_code, missing


def default_account(settings: Settings, gateway_name: str) -> MerchantAccount:
    """The deployment's own account at a gateway (from settings)."""
    return gateway_class(gateway_name)(settings).default_account()


def unit_account(session: Session, settings: Settings, unit: CollectingUnit,
                 gateway_name: str) -> MerchantAccount | None:
    """The unit's own account at a gateway, or None when it has none (it then uses the default)."""
    owner = f"unit:{unit.code}"
    gateway = gateway_class(gateway_name)
    if gateway_name == "vietqr":
        if not (unit.bank_bin and unit.bank_account_number):
            return None
        return MerchantAccount(gateway="vietqr", owner=owner, bank_bin=unit.bank_bin,
                               account_number=unit.bank_account_number,
                               account_name=unit.bank_account_name or unit.name)
    # The gateway declares where a unit's account is: its merchant id's key in CollectingUnit.gateway (see
    # province.importer.GATEWAY_KEYS) and MerchantAccount field -> credential name (province.secrets.NAMES).
    id_key = gateway.unit_id_key
    merchant_id = (unit.gateway or {}).get(id_key) if id_key else None
    if not merchant_id:
        return None
    values, missing = {}, []
    for field_name, credential in gateway.unit_secrets.items():
        secret = secrets.get_secret(session, settings, "unit", unit.id, credential)
        if secret is None:
            missing.append(credential)
        else:
            values[field_name] = secret.decode("utf-8")
    if missing:
        raise IncompleteMerchantAccount(gateway_name, unit.code, missing)
    return gateway(settings).unit_account(owner, str(merchant_id), values)


def payment_unit_ids(session: Session, payment: Payment) -> list[int | None]:
    """The collecting unit of each fee line, in line order, without repeats; None for a line no unit owns
    (a line priced outright by another system, a row from before units existed)."""
    out: list[int | None] = []
    for item in payment.items:
        unit_id = getattr(item, "unit_id", None)
        if unit_id is None and item.fee_type_id is not None:
            unit_id = session.scalar(select(FeeType.unit_id).where(FeeType.id == item.fee_type_id))
        if unit_id not in out:
            out.append(unit_id)
    return out


def account_for_payment(session: Session, settings: Settings, payment: Payment, gateway_name: str) -> MerchantAccount:
    """The one account the payment is paid into at this gateway.

    Every unit with its own account there → that account, if it is the same for all; no unit with one →
    the default. Units paid into different accounts (or one with its own and one without, unless its own
    is the default) → MixedMerchantAccounts.
    """
    accounts: list[MerchantAccount | None] = []
    for unit_id in payment_unit_ids(session, payment):
        unit = session.get(CollectingUnit, unit_id) if unit_id is not None else None
        accounts.append(unit_account(session, settings, unit, gateway_name) if unit is not None else None)
    own = [a for a in accounts if a is not None]
    if not own:
        return default_account(settings, gateway_name)
    first = own[0]
    if None in accounts:
        # A line on the default account: only possible if that unit's own account is the default one.
        fallback = default_account(settings, gateway_name)
        candidates = [fallback if a is None else a for a in accounts]
    else:
        candidates = own
    if all(first.same_account(a) for a in candidates):
        return first
    owners = list(dict.fromkeys("mặc định" if a.owner == "default" else a.owner for a in candidates))
    raise MixedMerchantAccounts(gateway_name, owners)


def check_single_merchant(session: Session, settings: Settings, payment: Payment) -> None:
    """Refuse a payment whose fees would go to different accounts through one of its online channels.

    Raises MixedMerchantAccounts (or IncompleteMerchantAccount) with a Vietnamese message for the
    integrating system. `keep_single_merchant_channels` is the gentler form used at creation.
    """
    for gateway_name in merchant_gateways():
        if gateway_name in (payment.allowed_channels or []):
            account_for_payment(session, settings, payment, gateway_name)


def keep_single_merchant_channels(session: Session, settings: Settings, payment: Payment) -> list[str]:
    """Drop the online channels through which the payment's fees would go to different (or incomplete)
    accounts, and return the channels dropped; refuse the payment when none of its online channels is left.

    A citizen paying for units that share a VNPAY merchant but not a bank account can still pay by VNPAY:
    only the VietQR transfer is withdrawn. Counter and COD do not go through a merchant account.
    """
    channels = list(payment.allowed_channels or [])
    online = [c for c in channels if c in merchant_gateways()]
    dropped: list[str] = []
    first_problem: Conflict | None = None
    for gateway_name in online:
        try:
            account_for_payment(session, settings, payment, gateway_name)
        except (MixedMerchantAccounts, IncompleteMerchantAccount) as e:
            dropped.append(gateway_name)
            first_problem = first_problem or e
    if online and len(dropped) == len(online) and first_problem is not None:
        raise first_problem
    if dropped:
        payment.allowed_channels = [c for c in channels if c not in dropped]
    return dropped


def _units_with_id(session: Session, gateway_name: str, merchant_id: str) -> list[CollectingUnit]:
    if gateway_name == "vietqr":
        return list(session.scalars(select(CollectingUnit).where(CollectingUnit.bank_account_number == merchant_id)
                                    .order_by(CollectingUnit.id)))
    id_key = gateway_class(gateway_name).unit_id_key
    if not id_key:
        return []
    # The JSON column is queried in Python: portable between SQLite and PostgreSQL, and a province has
    # dozens of units, not thousands.
    units = session.scalars(select(CollectingUnit).order_by(CollectingUnit.id))
    return [u for u in units if str((u.gateway or {}).get(id_key) or "") == merchant_id]


def account_for_callback(session: Session, settings: Settings, gateway_name: str,
                         merchant_id: str | None) -> MerchantAccount | None:
    """The account a callback speaks for, by the id it carries (VNPAY vnp_TmnCode, MoMo partnerCode, the
    credited bank account number): the default account or a unit's; None when no account has that id.

    A unit whose account is incomplete is skipped (nothing can be verified with it).
    """
    if not merchant_id:
        return None
    default = default_account(settings, gateway_name)
    if default.merchant_id == merchant_id:
        return default
    for unit in _units_with_id(session, gateway_name, merchant_id):
        try:
            account = unit_account(session, settings, unit, gateway_name)
        except IncompleteMerchantAccount:
            log.warning("callback for an incomplete merchant account",
                        extra={"unit_id": unit.id, "gateway": gateway_name})
            continue
        if account is not None:
            return account
    return None


def account_holding_money(session: Session, settings: Settings, payment: Payment,
                          gateway_name: str) -> MerchantAccount:
    """The account to query or refund through: the one a verified notification said was paid (or, before
    that, the one the last checkout went to), else the payment's account as configured now."""
    extra = payment.extra or {}
    recorded = None
    if payment.channel == gateway_name and extra.get(PAID_MERCHANT):
        recorded = extra[PAID_MERCHANT]
    elif extra.get("checkout_channel") == gateway_name:
        recorded = extra.get(CHECKOUT_MERCHANT)
    account = account_for_callback(session, settings, gateway_name, str(recorded)) if recorded else None
    return account or account_for_payment(session, settings, payment, gateway_name)


def gateway_for_payment(session: Session, settings: Settings, payment: Payment, gateway_name: str) -> PaymentGateway:
    """The gateway adapter to query or refund a payment through (the account holding its money)."""
    if gateway_name not in merchant_gateways():
        return get_gateway(gateway_name, settings)
    return get_gateway(gateway_name, settings, account_holding_money(session, settings, payment, gateway_name))


def vietqr_payload(session: Session, settings: Settings, payment: Payment) -> str | None:
    """The payment's VietQR code for its one bank account (a unit's own or the default), or None when its
    fees would go to different accounts (then there is no one QR to show)."""
    try:
        account = account_for_payment(session, settings, payment, "vietqr")
    except MixedMerchantAccounts:
        return None
    return get_gateway("vietqr", settings, account).qr_payload(payment)
