"""Which account a centre's shipments go through at a carrier: the centre's own, else the deployment's.

A centre may hold an account at a carrier (`province.models.CarrierAccount`: customer code, contract
number, pickup address; its API token an encrypted credential 'carrier_token' of owner type
'carrier_account', set with `hcc credentials set --centre C --carrier X carrier-token`). Every carrier
call made for a shipment (quotes, creation, label, cancel, tracking) goes through the shipment's
centre's active account at that carrier when there is one, and through the deployment's HCC_* settings
otherwise (the sandboxes' in the embedded default). Another centre's account is never used: the look-up
is by the shipment's own centre.

The carriers never read the database (DESIGN §3): the account is read here and handed to
`get_carrier(account=...)` as a plain `CarrierAccountConfig`. The token is decrypted only into that
object (kept out of its repr) and is never logged or written to the shipment.
"""

from __future__ import annotations

import logging

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from carriers import sandbox
from carriers.base import Carrier, CarrierAccountConfig, PermanentCarrierError, get_carrier
from core import jobs
from core.settings import Settings
from province import secrets
from province.models import CarrierAccount

log = logging.getLogger(__name__)

OWNER_TYPE = "carrier_account"
CREDENTIAL_NAME = "carrier_token"


class IncompleteCarrierAccount(PermanentCarrierError):
    """Raised when a centre's carrier account cannot be used as it is (its token not set or unreadable):
    the parcel must not go through another account instead."""


def active_account(session: Session, carrier_name: str, centre_id: int | None) -> CarrierAccount | None:
    """The centre's active account at `carrier_name`, or None (the deployment's is used)."""
    if centre_id is None:
        return None
    return session.scalar(select(CarrierAccount).where(CarrierAccount.centre_id == centre_id,
                                                       CarrierAccount.carrier == carrier_name,
                                                       CarrierAccount.active.is_(True)))


def account_config(session: Session, settings: Settings, carrier_name: str,
                   centre_id: int | None) -> CarrierAccountConfig | None:
    """The centre's active account at the carrier as the carriers take it, or None when it has none."""
    account = active_account(session, carrier_name, centre_id)
    if account is None:
        return None
    where = f"the {carrier_name} account of centre {account.centre_id}"
    try:
        token = secrets.get_secret(session, settings, OWNER_TYPE, account.id, CREDENTIAL_NAME)
    except secrets.SecretsError as e:
        raise IncompleteCarrierAccount(f"{where}: its token cannot be decrypted") from e
    if not token:
        raise IncompleteCarrierAccount(f"{where} has no token: set it with `hcc credentials set --centre CODE "
                                       f"--carrier {carrier_name} carrier-token`")
    return CarrierAccountConfig(customer_code=account.customer_code or "",
                                contract_number=account.contract_number or "",
                                token=token.decode("utf-8"),
                                pickup_address=account.pickup_address or "")


def carrier_for_centre(session: Session, settings: Settings, carrier_name: str, centre_id: int | None,
                       http: requests.Session | None = None) -> Carrier:
    """The carrier as the centre holds it: through its own account there when it has one, else through
    the deployment's settings. Raises IncompleteCarrierAccount for an account without a usable token."""
    return get_carrier(carrier_name, settings, http=http,
                       account=account_config(session, settings, carrier_name, centre_id))


def _sandbox_accounts(settings: Settings, carrier_name: str) -> list[tuple[str, str]]:
    """(customer code, token) of every centre's active account at the carrier, for the in-process
    sandboxes to accept as they accept the deployment's credentials (sandbox mode only)."""
    if not settings.sandbox or settings.production:
        return []
    if jobs.settings() is not settings:
        # A sandbox driven outside the app that configured the jobs' database (a carrier's own tests):
        # that database is not this deployment's, so there is no account to learn from it.
        return []
    pairs = []
    with jobs.session_scope() as session:
        for account in session.scalars(select(CarrierAccount).where(CarrierAccount.carrier == carrier_name,
                                                                    CarrierAccount.active.is_(True))):
            try:
                token = secrets.get_secret(session, settings, OWNER_TYPE, account.id, CREDENTIAL_NAME)
            except secrets.SecretsError:
                continue
            if token:
                pairs.append((account.customer_code or "", token.decode("utf-8")))
    return pairs


# The sandboxes check credentials as the carriers do; they learn the centres' accounts from here.
sandbox.set_account_source(_sandbox_accounts)
