"""Who is calling: staff by session (pages), integrating systems by API key; roles on every endpoint."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import wraps

from flask import Flask, abort, g, redirect, request, url_for
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFProtect

from api.context import db_session, hcc
from api.i18n import t
from core import audit
from core.accounts import authenticate_api_key
from core.clock import utcnow
from core.models import User

log = logging.getLogger(__name__)

login_manager = LoginManager()
csrf = CSRFProtect()

# Paths under /api/v1 that anyone may read.
PUBLIC_API_PATHS = {"/api/v1/openapi.json"}


@dataclass
class Principal:
    """The authenticated caller of a request."""

    kind: str  # "user" or "api_client"
    id: int
    name: str
    centre_id: int
    roles: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"

    def has_role(self, *roles: str) -> bool:
        return "admin" in self.roles or any(r in self.roles for r in roles)

    def actor(self) -> audit.Actor:
        return audit.Actor(type=self.kind, id=str(self.id), name=self.name, centre_id=self.centre_id,
                           ip=request.remote_addr)


class StaffUser:
    """flask-login's view of a staff user (kept apart from the ORM row so sessions can close)."""

    def __init__(self, user: User):
        self.id, self.username, self.full_name = user.id, user.username, user.full_name
        self.centre_id, self.roles, self.active = user.centre_id, list(user.roles), user.active
        self.centre_name = user.centre.name

    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return str(self.id)

    def has_role(self, *roles: str) -> bool:
        return "admin" in self.roles or any(r in self.roles for r in roles)


@login_manager.user_loader
def _load_user(user_id: str):
    try:
        user = db_session().get(User, int(user_id))
    except ValueError:
        return None
    return StaffUser(user) if user is not None and user.active else None


@login_manager.unauthorized_handler
def _unauthorized():
    if request.path.startswith("/api/"):
        abort(401)
    from flask import flash

    flash(t("login.required"), "info")
    return redirect(url_for("pages.login", next=request.full_path))


def current_principal() -> Principal | None:
    return g.get("principal")


def _authenticate_api_request():
    if request.method == "OPTIONS" or not request.path.startswith("/api/v1") or request.path in PUBLIC_API_PATHS:
        return None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            abort(401, description="Authorization must be 'Bearer <API key>'.")
        session = db_session()
        client = authenticate_api_key(session, key.strip())
        if client is None:
            abort(401, description="The API key is not valid.")
        client.last_used_at = utcnow()
        session.commit()
        g.principal = Principal("api_client", client.id, client.name, client.centre_id, list(client.roles))
        return None
    if current_user.is_authenticated:
        # Staff pages may call the API with their session; then CSRF applies as on pages.
        if request.method not in ("GET", "HEAD"):
            csrf.protect()
        g.principal = Principal("user", current_user.id, current_user.username, current_user.centre_id,
                                list(current_user.roles))
        return None
    abort(401, description="Send 'Authorization: Bearer <API key>'.")


def record_forbidden(principal_name: str, actor: audit.Actor, needed: tuple[str, ...]) -> None:
    """Write the refused attempt to the audit log in its own transaction (the request's rolls back)."""
    with hcc().db.session() as session:
        audit.record(session, actor, "auth.forbidden", entity_type="endpoint", entity_id=request.endpoint,
                     detail=f"{request.method} {request.path} needs one of: {', '.join(needed)}")
    log.info("forbidden", extra={"endpoint": request.endpoint, "principal": principal_name})


def require_roles(*roles: str):
    """Allow the view only to principals (users or API clients) holding one of `roles` (admin always)."""

    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            principal = current_principal()
            if principal is None and current_user.is_authenticated:
                principal = Principal("user", current_user.id, current_user.username, current_user.centre_id,
                                      list(current_user.roles))
                g.principal = principal
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
