"""Centres, staff users and API clients: creation, sign-in checks and the embedded demo centre."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit
from core.clock import local_day, utcnow
from core.models import ROLES, ApiClient, Centre, User
from core.security import check_password, hash_password, new_api_key, split_api_key, verify_api_key

DEMO_CENTRE_CODE = "DEMO-HN"
# The demo collecting unit: same code and name as the demo centre (as migration 0007 turns a centre into a
# unit). Its tax code is made up but valid by the check digit (province.taxcode); it belongs to no one.
DEMO_UNIT_CODE = DEMO_CENTRE_CODE
DEMO_UNIT_TAX_CODE = "0101234565"
DEMO_SERIES_TEMPLATE = "EBL01"


class AccountError(ValueError):
    """Raised when a user or API client cannot be created as asked (duplicate name, unknown role)."""


def _check_roles(roles: list[str]) -> list[str]:
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise AccountError(f"unknown role(s): {', '.join(unknown)}; choose from {', '.join(ROLES)}")
    if not roles:
        raise AccountError("at least one role is needed")
    return sorted(set(roles))


def ensure_demo_centre(session: Session) -> Centre:
    """The embedded default's centre, so every flow can be walked without configuration.

    It serves one demo collecting unit (`ensure_demo_unit`) whose receipt series for this Vietnamese year
    and the next are registered.
    """
    centre = session.scalar(select(Centre).where(Centre.code == DEMO_CENTRE_CODE))
    if centre is None:
        centre = Centre(
            code=DEMO_CENTRE_CODE,
            name="Trung tâm Phục vụ hành chính công thành phố Hà Nội (bản thử nghiệm)",
            tax_code="0100000000-999",
            address="Số 258 Võ Chí Công, phường Phú Thượng, thành phố Hà Nội",
            province_code="01",
            phone="024 0000 0000",
            email="demo@hcc.example",
            # Series belong to the demo unit now (ensure_demo_unit); these columns are from the
            # single-centre era and read only by migration 0007.
            receipt_template="",
            receipt_symbol="",
            receipt_number_width=7,
            is_demo=True,
        )
        session.add(centre)
        session.flush()
    ensure_demo_unit(session, centre)
    return centre


def ensure_demo_unit(session: Session, centre: Centre):
    """The demo centre's collecting unit, served there, with registered series (Circular 32 shape: EBL01,
    `<yy>T`) for this Vietnamese year and the next (prepared ahead, as a province does in December)."""
    from province.models import CentreUnit, CollectingUnit, ReceiptSeries
    from province.series import register_series

    unit = session.scalar(select(CollectingUnit).where(CollectingUnit.code == DEMO_UNIT_CODE))
    if unit is None:
        unit = CollectingUnit(code=DEMO_UNIT_CODE, name=centre.name, tax_code=DEMO_UNIT_TAX_CODE,
                              address=centre.address, phone=centre.phone, email=centre.email, gateway={}, active=True)
        session.add(unit)
        session.flush()
    if session.scalar(select(CentreUnit.id).where(CentreUnit.centre_id == centre.id,
                                                  CentreUnit.unit_id == unit.id)) is None:
        session.add(CentreUnit(centre_id=centre.id, unit_id=unit.id))
        session.flush()
    today = local_day()
    for year in (today.year, today.year + 1):
        symbol = f"{year % 100:02d}T"
        if session.scalar(select(ReceiptSeries.id).where(ReceiptSeries.unit_id == unit.id,
                                                         ReceiptSeries.template == DEMO_SERIES_TEMPLATE,
                                                         ReceiptSeries.symbol == symbol)) is None:
            register_series(session, unit, DEMO_SERIES_TEMPLATE, symbol, year,
                            registered_on=date(today.year, 1, 1) if year == today.year else today)
    return unit


def get_centre(session: Session, code: str | None) -> Centre:
    if code:
        centre = session.scalar(select(Centre).where(Centre.code == code))
        if centre is None:
            raise AccountError(f"no centre with code {code!r}")
        return centre
    centre = session.scalar(select(Centre).where(Centre.code == DEMO_CENTRE_CODE))
    if centre is None:
        centres = list(session.scalars(select(Centre).limit(2)))
        if len(centres) != 1:
            raise AccountError("say which centre with --centre CODE")
        centre = centres[0]
    return centre


def create_user(session: Session, centre: Centre, username: str, password: str, roles: list[str],
                full_name: str | None = None, email: str | None = None, *,
                actor: audit.Actor = audit.SYSTEM) -> User:
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise AccountError(f"user {username!r} already exists")
    if len(password) < 8:
        raise AccountError("password must have at least 8 characters")
    user = User(centre_id=centre.id, username=username, full_name=full_name or username, email=email,
                password_hash=hash_password(password), roles=_check_roles(roles))
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.created", entity_type="user", entity_id=user.id,
                 after={"username": username, "roles": user.roles}, centre_id=centre.id)
    return user


# Consecutive failed sign-ins that lock an account (`HCC_LOGIN_MAX_FAILURES` in api.security overrides it).
MAX_FAILED_LOGINS = 10

_dummy_hash: str | None = None


def _burn_password_check(password: str) -> None:
    """Spend the time of a real check, so an unknown name answers as slowly as a known one."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_password("not-a-password")
    check_password(_dummy_hash, password)


def authenticate_user(session: Session, username: str, password: str, *, max_failures: int = MAX_FAILED_LOGINS,
                      ip: str | None = None) -> User | None:
    """The user if the password is right and the account active and unlocked; else None.

    Failures on a known account are counted; the `max_failures`-th in a row locks it (audited), and a locked
    account is refused even with the right password until `unlock_user`. The caller cannot tell a locked
    account from a wrong password, so neither can someone guessing.
    """
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        _burn_password_check(password)
        return None
    right = check_password(user.password_hash, password)
    if right and user.active and user.locked_at is None:
        user.failed_logins = 0
        user.last_login_at = utcnow()
        return user
    # An UPDATE ... SET n = n + 1, so parallel guesses cannot overwrite each other's count.
    user.failed_logins = User.failed_logins + 1
    session.flush()
    session.refresh(user, ["failed_logins", "locked_at"])
    if user.locked_at is None and user.failed_logins >= max_failures:
        user.locked_at = utcnow()
        audit.record(session, audit.Actor(type="anonymous", ip=ip), "user.locked", entity_type="user",
                     entity_id=user.id, centre_id=user.centre_id,
                     detail=f"{user.failed_logins} failed sign-ins in a row")
    return None


def unlock_user(session: Session, user: User, actor: audit.Actor) -> None:
    """Let a locked account sign in again (its failure count starts over); audited."""
    before = {"locked_at": user.locked_at.isoformat() if user.locked_at else None,
              "failed_logins": user.failed_logins}
    user.locked_at = None
    user.failed_logins = 0
    audit.record(session, actor, "user.unlocked", entity_type="user", entity_id=user.id, before=before,
                 centre_id=user.centre_id)


def revoke_sessions(session: Session, user: User) -> None:
    """End every session the user has open (signed-out cookies, other browsers) by bumping its version."""
    user.session_version = User.session_version + 1
    session.flush()
    session.refresh(user, ["session_version"])


def set_password(session: Session, user: User, password: str, actor: audit.Actor) -> None:
    """A new password; every session opened under the old one ends. Audited (without the password)."""
    if len(password) < 8:
        raise AccountError("password must have at least 8 characters")
    user.password_hash = hash_password(password)
    revoke_sessions(session, user)
    audit.record(session, actor, "user.password_changed", entity_type="user", entity_id=user.id,
                 centre_id=user.centre_id)


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise AccountError(f"no user {username!r}")
    return user


def create_api_client(session: Session, centre: Centre, name: str, roles: list[str] | None = None, *,
                      actor: audit.Actor = audit.SYSTEM) -> tuple[ApiClient, str]:
    """A new API client and its key (shown once; only a hash is kept)."""
    key, prefix, key_hash = new_api_key()
    # An integrating system creates payments and shipments and reads receipts by default.
    client = ApiClient(centre_id=centre.id, name=name, key_prefix=prefix, key_hash=key_hash,
                       roles=_check_roles(roles or ["cashier", "dispatcher"]))
    session.add(client)
    session.flush()
    audit.record(session, actor, "api_client.created", entity_type="api_client", entity_id=client.id,
                 after={"name": name, "roles": client.roles}, centre_id=centre.id)
    return client, key


def authenticate_api_key(session: Session, key: str) -> ApiClient | None:
    prefix = split_api_key(key)
    if prefix is None:
        return None
    client = session.scalar(select(ApiClient).where(ApiClient.key_prefix == prefix))
    if client is None or not client.active or not verify_api_key(key, client.key_hash):
        return None
    return client


# What an administrator may change on a user (never the password: `set_password`).
USER_FIELDS = ("roles", "active", "full_name", "email", "centre_id")


def update_user(session: Session, user: User, changes: dict, actor: audit.Actor) -> bool:
    """Change a user's roles, active flag, name, e-mail or home centre; audited (before and after, never a
    secret). Deactivating ends the user's open sessions. False when nothing changed."""
    unknown = set(changes) - set(USER_FIELDS)
    if unknown:
        raise AccountError(f"cannot change {', '.join(sorted(unknown))}")
    if "roles" in changes:
        changes = {**changes, "roles": _check_roles(list(changes["roles"]))}
    before = {k: getattr(user, k) for k in changes if getattr(user, k) != changes[k]}
    if not before:
        return False
    for key in before:
        setattr(user, key, changes[key])
    if before.get("active") is True:
        revoke_sessions(session, user)
    audit.record(session, actor, "user.updated", entity_type="user", entity_id=user.id, before=before,
                 after={k: changes[k] for k in before}, centre_id=user.centre_id)
    return True


def revoke_api_client(session: Session, client: ApiClient, actor: audit.Actor) -> bool:
    """Stop a key for good (it answers 401 from now on); audited. False if it was already revoked."""
    if not client.active:
        return False
    client.active = False
    audit.record(session, actor, "api_client.revoked", entity_type="api_client", entity_id=client.id,
                 before={"active": True}, after={"active": False}, centre_id=client.centre_id)
    return True
