"""Who is calling: staff by session (pages), integrating systems by API key; roles on every endpoint."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import wraps

from flask import Flask, abort, g, redirect, request, session, url_for
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from api import security
from api.context import db_session, hcc
from api.i18n import t
from core import audit
from core.accounts import authenticate_api_key
from core.clock import utcnow
from core.errors import NotFound
from core.models import Centre, User
from province.access import centre_ids_for
from province.models import PrincipalCentre

log = logging.getLogger(__name__)

login_manager = LoginManager()
csrf = CSRFProtect()

# Paths under /api/v1 that anyone may read.
PUBLIC_API_PATHS = {"/api/v1/openapi.json"}


def centre_ids_of(session: Session, kind: str, principal_id: int, home_centre_id: int) -> frozenset[int] | None:
    """The centres a user or API key sees: None for the whole province (a principal_centre row without a
    centre, written by `hcc ... --province`), else its home centre and the centres granted to it."""
    wide = session.scalar(select(PrincipalCentre.id).where(
        PrincipalCentre.principal_type == kind, PrincipalCentre.principal_id == principal_id,
        PrincipalCentre.centre_id.is_(None)).limit(1)) is not None
    return None if wide else centre_ids_for(session, kind, principal_id, home_centre_id)


class CentreScope:
    """What a caller sees: objects of its centres (`centre_ids`; None is the whole province).

    Another centre's object is answered as if it did not exist (404), whatever the caller's roles:
    look objects up through `scope` or check them with `sees`, never against `centre_id` alone, which is
    only the home centre where new objects go.
    """

    centre_id: int
    centre_ids: frozenset[int] | None

    def sees(self, centre_id: int | None) -> bool:
        return centre_id is not None and (self.centre_ids is None or centre_id in self.centre_ids)

    def scope(self, stmt, column):
        """`stmt` limited to rows whose `column` (a centre id) is one of the caller's centres."""
        if self.centre_ids is None:
            return stmt
        return stmt.where(column.in_(sorted(self.centre_ids)))

    @property
    def many_centres(self) -> bool:
        """Whether lists mix centres (and so show which centre each row is of)."""
        return self.centre_ids is None or len(self.centre_ids) > 1

    def centres(self, session: Session) -> list[Centre]:
        """The caller's centres, home centre first, then by code."""
        rows = list(session.scalars(self.scope(select(Centre), Centre.id).order_by(Centre.code)))
        return sorted(rows, key=lambda c: c.id != self.centre_id)

    def centre(self, session: Session, code: str | None = None) -> Centre:
        """The centre named by `code` (the home centre when none is named); a centre the caller does not see
        answers NotFound like one that does not exist."""
        if not code:
            centre = session.get(Centre, self.centre_id)
        else:
            centre = session.scalar(select(Centre).where(Centre.code == code))
        if centre is None or not self.sees(centre.id):
            raise NotFound(f"Không có trung tâm mã {code!r}" if code else "centre not found",
                           errors={"centre_code": ["Không có trung tâm này trong phạm vi của bạn."]})
        return centre


@dataclass
class Principal(CentreScope):
    """The authenticated caller of a request."""

    kind: str  # "user" or "api_client"
    id: int
    name: str
    centre_id: int  # the home centre: where objects are created unless the request names another it sees
    roles: list[str] = field(default_factory=list)
    # The centres it sees; None is the whole province. Defaults to the home centre alone.
    centre_ids: frozenset[int] | None = field(default_factory=frozenset)

    def __post_init__(self):
        if self.centre_ids is not None and not self.centre_ids:
            self.centre_ids = frozenset({self.centre_id})

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"

    def has_role(self, *roles: str) -> bool:
        return "admin" in self.roles or any(r in self.roles for r in roles)

    def actor(self) -> audit.Actor:
        return audit.Actor(type=self.kind, id=str(self.id), name=self.name, centre_id=self.centre_id,
                           ip=request.remote_addr)


class StaffUser(CentreScope):
    """flask-login's view of a staff user (kept apart from the ORM row so sessions can close)."""

    def __init__(self, user: User):
        self.id, self.username, self.full_name = user.id, user.username, user.full_name
        self.centre_id, self.roles, self.active = user.centre_id, list(user.roles), user.active
        self.centre_name = user.centre.name
        self.centre_ids = centre_ids_of(object_session(user) or db_session(), "user", user.id, user.centre_id)

    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return str(self.id)

    def has_role(self, *roles: str) -> bool:
        return "admin" in self.roles or any(r in self.roles for r in roles)


# Keys of the staff session cookie: the user's session version at sign-in, when they signed in and when
# they were last seen (epoch seconds).
SESSION_VERSION, SIGNED_IN_AT, LAST_SEEN = "hcc_sv", "hcc_auth_at", "hcc_seen"
# Last-seen is rewritten at most this often, so not every request sends a new cookie.
SEEN_RESOLUTION_SECONDS = 60


def start_session(user: User) -> None:
    """Sign `user` in on this browser, tying the session to their current session version."""
    # A fresh cookie: nothing a visitor had before signing in (a planted session) carries over.
    session.clear()
    login_user(StaffUser(user), remember=False)
    now = int(utcnow().timestamp())
    session[SESSION_VERSION] = user.session_version
    session[SIGNED_IN_AT] = now
    session[LAST_SEEN] = now


def end_session() -> None:
    logout_user()
    session.clear()


def _session_is_current(user: User) -> bool:
    """The cookie was issued under the user's current version and is neither idle nor too old."""
    settings = hcc().settings
    now = utcnow().timestamp()
    version, signed_in_at, seen = session.get(SESSION_VERSION), session.get(SIGNED_IN_AT), session.get(LAST_SEEN)
    # A session without our marks (flask-login's remember cookie, an old cookie) is not one we issued.
    if version != user.session_version or not isinstance(signed_in_at, int | float) or not isinstance(seen, int | float):
        return False
    if now - signed_in_at > settings.get_int("HCC_SESSION_MAX_HOURS", 12) * 3600:
        return False
    if now - seen > settings.get_int("HCC_SESSION_IDLE_MINUTES", 30) * 60:
        return False
    if now - seen >= SEEN_RESOLUTION_SECONDS:
        session[LAST_SEEN] = int(now)
    return True


@login_manager.user_loader
def _load_user(user_id: str):
    try:
        user = db_session().get(User, int(user_id))
    except ValueError:
        return None
    if user is None or not user.active or user.locked_at is not None:
        return None
    if not _session_is_current(user):
        # Signed out elsewhere, password changed, idle or expired: this cookie opens nothing any more.
        session.clear()
        g.session_ended = True
        return None
    return StaffUser(user)


@login_manager.unauthorized_handler
def _unauthorized():
    if request.path.startswith("/api/"):
        abort(401)
    from flask import flash

    flash(t("login.expired" if g.get("session_ended") else "login.required"), "info")
    return redirect(url_for("pages.login", next=request.full_path))


def current_principal() -> Principal | None:
    return g.get("principal")


def _staff_principal() -> Principal:
    return Principal("user", current_user.id, current_user.username, current_user.centre_id,
                     list(current_user.roles), current_user.centre_ids)


def _authenticate_api_request():
    if request.method == "OPTIONS" or not request.path.startswith("/api/v1") or request.path in PUBLIC_API_PATHS:
        return None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            abort(401, description="Authorization must be 'Bearer <API key>'.")
        # Guessing keys is slow: after a few wrong ones every request from that address waits.
        security.refuse_if_throttled("HCC_RATELIMIT_API_KEY_FAILURES")
        dbs = db_session()
        client = authenticate_api_key(dbs, key.strip())
        if client is None:
            security.count_failure("HCC_RATELIMIT_API_KEY_FAILURES")
            abort(401, description="The API key is not valid.")
        client.last_used_at = utcnow()
        dbs.commit()
        g.principal = Principal("api_client", client.id, client.name, client.centre_id, list(client.roles),
                                centre_ids_of(dbs, "api_client", client.id, client.centre_id))
        return None
    if current_user.is_authenticated:
        # Staff pages may call the API with their session; then CSRF applies as on pages.
        if request.method not in ("GET", "HEAD"):
            csrf.protect()
        g.principal = _staff_principal()
        return None
    abort(401, description="Send 'Authorization: Bearer <API key>'.")


def record_forbidden(principal_name: str, actor: audit.Actor, needed: tuple[str, ...]) -> None:
    """Write the refused attempt to the audit log in its own transaction (the request's rolls back)."""
    with hcc().db.session() as dbs:
        audit.record(dbs, actor, "auth.forbidden", entity_type="endpoint", entity_id=request.endpoint,
                     detail=f"{request.method} {request.path} needs one of: {', '.join(needed)}")
    log.info("forbidden", extra={"endpoint": request.endpoint, "principal": principal_name})


def require_roles(*roles: str):
    """Allow the view only to principals (users or API clients) holding one of `roles` (admin always)."""

    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            principal = current_principal()
            if principal is None and current_user.is_authenticated:
                principal = g.principal = _staff_principal()
            if principal is None:
                if request.path.startswith("/api/"):
                    abort(401)
                return login_manager.unauthorized()
            if not principal.has_role(*roles):
                record_forbidden(principal.key, principal.actor(), roles)
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_roles = roles
        return wrapped

    return decorate


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    csrf.init_app(app)
    app.before_request(_authenticate_api_request)


def protect_forms(blueprint) -> None:
    """CSRF-check every state-changing request to a blueprint of staff pages."""

    @blueprint.before_request
    def _csrf():
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            csrf.protect()
