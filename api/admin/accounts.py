"""Staff users and API keys as an administrator manages them (API and pages alike), within the admin's scope.

An admin manages a user or key only when every centre it belongs to is one of the admin's (a province
admin manages all); any other is answered as if it did not exist (404). Granting a centre the admin does
not see, or the whole province when the admin is not province-wide, is refused as invalid input (422,
naming the field): an unknown centre and another centre's answer alike, so nothing leaks.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.admin.scope import AdminScope
from core import audit
from core.accounts import AccountError, create_api_client, create_user, revoke_api_client, unlock_user, update_user
from core.errors import Conflict, InvalidInput, NotFound
from core.models import ApiClient, Centre, User
from province.access import grant_centre, revoke_centre
from province.models import PrincipalCentre

# As `hcc users create` and core.accounts require.
MIN_PASSWORD = 8


@dataclass(frozen=True)
class Membership:
    """The centres a user or key belongs to: its home centre, the extra ones, or the whole province."""

    home_id: int
    extra_ids: frozenset[int]
    province_wide: bool

    @property
    def centre_ids(self) -> frozenset[int]:
        return self.extra_ids | {self.home_id}


@dataclass(frozen=True)
class Caller:
    """Who is administering: to refuse removing one's own admin role, deactivating or revoking oneself."""

    kind: str
    id: int
    home_centre_id: int
    actor: audit.Actor


def memberships(session: Session, kind: str, homes: dict[int, int]) -> dict[int, Membership]:
    """The membership of each principal of `kind` in `homes` (id -> home centre id), in one query."""
    extra: dict[int, set[int]] = {pid: set() for pid in homes}
    wide: set[int] = set()
    rows = session.execute(select(PrincipalCentre.principal_id, PrincipalCentre.centre_id)
                           .where(PrincipalCentre.principal_type == kind,
                                  PrincipalCentre.principal_id.in_(list(homes))))
    for pid, centre_id in rows:
        if centre_id is None:
            wide.add(pid)
        else:
            extra[pid].add(centre_id)
    return {pid: Membership(home, frozenset(extra[pid] - {home}), pid in wide) for pid, home in homes.items()}


def manages(scope: AdminScope, m: Membership) -> bool:
    return scope.province_wide or (not m.province_wide and m.centre_ids <= scope.centre_ids)


def centre_codes(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Centre.id, Centre.code)).all())


def codes_of(m: Membership, codes: dict[int, str]) -> list[str]:
    """The member's centre codes, home centre first."""
    return [codes[m.home_id]] + sorted(codes[i] for i in m.extra_ids)


# ---- lookups --------------------------------------------------------------------------------------------


def users(session: Session, scope: AdminScope) -> list[tuple[User, Membership]]:
    rows = list(session.scalars(select(User).order_by(User.username)))
    ms = memberships(session, "user", {u.id: u.centre_id for u in rows})
    return [(u, ms[u.id]) for u in rows if manages(scope, ms[u.id])]


def user(session: Session, scope: AdminScope, user_id: int) -> tuple[User, Membership]:
    row = session.get(User, user_id)
    m = row and memberships(session, "user", {row.id: row.centre_id})[row.id]
    if row is None or not manages(scope, m):
        raise NotFound("Không có người dùng này")
    return row, m


def api_keys(session: Session, scope: AdminScope) -> list[tuple[ApiClient, Membership]]:
    rows = list(session.scalars(select(ApiClient).order_by(ApiClient.name, ApiClient.id)))
    ms = memberships(session, "api_client", {c.id: c.centre_id for c in rows})
    return [(c, ms[c.id]) for c in rows if manages(scope, ms[c.id])]


def api_key(session: Session, scope: AdminScope, key_id: int) -> tuple[ApiClient, Membership]:
    row = session.get(ApiClient, key_id)
    m = row and memberships(session, "api_client", {row.id: row.centre_id})[row.id]
    if row is None or not manages(scope, m):
        raise NotFound("Không có khoá API này")
    return row, m


# ---- granting -------------------------------------------------------------------------------------------


def wanted_membership(session: Session, scope: AdminScope, codes: list[str], province_wide: bool,
                      fallback_home_id: int) -> Membership:
    """The membership asked for, checked against the admin's scope (InvalidInput naming the field)."""
    errors: dict[str, list[str]] = {}
    if province_wide and not scope.province_wide:
        errors["province_wide"] = ["Chỉ quản trị viên cấp tỉnh được cấp phạm vi toàn tỉnh."]
    ids: list[int] = []
    for code in dict.fromkeys(codes):
        centre = session.scalar(select(Centre).where(Centre.code == code))
        if centre is None or centre.id not in scope.centre_ids:
            errors.setdefault("centre_codes", []).append(f"Không có trung tâm mã {code!r} trong phạm vi của bạn.")
        else:
            ids.append(centre.id)
    if not codes and not province_wide:
        errors.setdefault("centre_codes", []).append("Cần ít nhất một trung tâm, hoặc phạm vi toàn tỉnh.")
    if errors:
        raise InvalidInput("Không thể cấp phạm vi này", errors=errors)
    home = ids[0] if ids else fallback_home_id
    return Membership(home, frozenset(ids[1:]) - {home}, province_wide)


def _apply_membership(session: Session, kind: str, pid: int, m: Membership, actor: audit.Actor) -> None:
    """Make the principal_centre rows say `m` (the home centre is a column of the row, set by the caller)."""
    have = set(session.scalars(select(PrincipalCentre.centre_id).where(PrincipalCentre.principal_type == kind,
                                                                       PrincipalCentre.principal_id == pid)))
    want = set(m.extra_ids) | ({None} if m.province_wide else set())
    for centre_id in have - want:
        revoke_centre(session, kind, pid, centre_id, actor=actor)
    for centre_id in sorted(want - have, key=lambda c: (c is None, c or 0)):
        grant_centre(session, kind, pid, centre_id, actor=actor)


def _account_error(e: AccountError) -> InvalidInput | Conflict:
    if "already exists" in str(e):
        return Conflict("Tên đăng nhập đã có", errors={"username": [str(e)]})
    return InvalidInput(str(e), errors={"": [str(e)]})


# ---- users ----------------------------------------------------------------------------------------------


def create_staff_user(session: Session, scope: AdminScope, caller: Caller, data: dict) -> tuple[User, Membership]:
    """A new staff user of the centres asked (all the admin's); the password is only hashed, never audited."""
    m = wanted_membership(session, scope, data.get("centre_codes") or [], data.get("province_wide", False),
                          caller.home_centre_id)
    if len(data["password"]) < MIN_PASSWORD:
        raise InvalidInput("Mật khẩu quá ngắn", errors={"password": [f"at least {MIN_PASSWORD} characters"]})
    try:
        row = create_user(session, session.get(Centre, m.home_id), data["username"], data["password"],
                          list(data["roles"]), full_name=data.get("full_name"), email=data.get("email"),
                          actor=caller.actor)
    except AccountError as e:
        raise _account_error(e) from e
    _apply_membership(session, "user", row.id, m, caller.actor)
    return row, m


def update_staff_user(session: Session, scope: AdminScope, caller: Caller, user_id: int,
                      data: dict) -> tuple[User, Membership]:
    row, current = user(session, scope, user_id)
    if caller.kind == "user" and caller.id == row.id:
        if "roles" in data and "admin" not in data["roles"]:
            raise Conflict("Không thể tự bỏ quyền quản trị của chính mình", errors={"roles": ["own admin role"]})
        if data.get("active") is False:
            raise Conflict("Không thể tự ngừng tài khoản của chính mình", errors={"active": ["own account"]})
    codes = centre_codes(session)
    m = current
    if "centre_codes" in data or "province_wide" in data:
        m = wanted_membership(session, scope, data.get("centre_codes", codes_of(current, codes)),
                              data.get("province_wide", current.province_wide), current.home_id)
    changes = {k: data[k] for k in ("roles", "active", "full_name", "email") if k in data}
    changes["centre_id"] = m.home_id
    try:
        update_user(session, row, changes, caller.actor)
    except AccountError as e:
        raise _account_error(e) from e
    if m != current:
        _apply_membership(session, "user", row.id, m, caller.actor)
    return row, m


def unlock_staff_user(session: Session, scope: AdminScope, caller: Caller, user_id: int) -> tuple[User, Membership]:
    """Let a locked user sign in again; a user who is not locked is left as is (nothing audited)."""
    row, m = user(session, scope, user_id)
    if row.locked_at is not None or row.failed_logins:
        unlock_user(session, row, caller.actor)
    return row, m


# ---- API keys -------------------------------------------------------------------------------------------


def create_key(session: Session, scope: AdminScope, caller: Caller, data: dict) -> tuple[ApiClient, Membership, str]:
    """A new key of the centres asked; the key itself is answered once, only its hash is kept."""
    m = wanted_membership(session, scope, data.get("centre_codes") or [], data.get("province_wide", False),
                          caller.home_centre_id)
    try:
        row, key = create_api_client(session, session.get(Centre, m.home_id), data["name"], list(data["roles"]),
                                     actor=caller.actor)
    except AccountError as e:
        raise _account_error(e) from e
    _apply_membership(session, "api_client", row.id, m, caller.actor)
    return row, m, key


def revoke_key(session: Session, scope: AdminScope, caller: Caller, key_id: int) -> tuple[ApiClient, Membership]:
    row, m = api_key(session, scope, key_id)
    if caller.kind == "api_client" and caller.id == row.id:
        raise Conflict("Không thể tự thu hồi khoá đang dùng để gọi", errors={"key_id": ["own key"]})
    revoke_api_client(session, row, caller.actor)
    return row, m


def current_caller() -> Caller:
    """The request's principal, as the one administering."""
    from api.auth import current_principal

    p = current_principal()
    return Caller(p.kind, p.id, p.centre_id, p.actor())
