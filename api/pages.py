"""Staff pages: sign-in, the overview, users and the audit log; later features add their own pages."""

from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from api.auth import end_session, protect_forms, require_roles, start_session
from api.context import db_session, settings
from api.i18n import LANGUAGES, register_messages, t
from core import audit
from core.accounts import MAX_FAILED_LOGINS, AccountError, authenticate_user, create_user, revoke_sessions, unlock_user
from core.models import ROLES, AuditLog, Centre, User

bp = Blueprint("pages", __name__)
protect_forms(bp)

# Navigation entries: (endpoint, message key, roles that see it). Features append theirs.
NAV: list[tuple[str, str, tuple[str, ...]]] = [
    ("pages.dashboard", "nav.dashboard", ()),
    ("pages.users", "nav.users", ("admin",)),
    ("pages.audit_log", "nav.audit", ("admin",)),
]


register_messages({
    "centre.column": {"vi": "Trung tâm", "en": "Centre"},
    "centre.choose": {"vi": "Trung tâm", "en": "Centre"},
    "centre.show": {"vi": "Xem", "en": "Show"},
    "centre.yours": {"vi": "Các trung tâm của bạn", "en": "Your centres"},
    "centre.province": {"vi": "Toàn tỉnh", "en": "Whole province"},
})


@bp.app_context_processor
def _centre_helpers() -> dict:
    """For staff templates: whether lists mix centres (then they show a centre column), the code of a
    centre id, and the user's centres (for the one-centre-at-a-time pages' chooser)."""
    codes: dict[int, str] = {}

    def centre_code(centre_id: int | None) -> str:
        if centre_id is not None and centre_id not in codes:
            centre = db_session().get(Centre, centre_id)
            codes[centre_id] = centre.code if centre is not None else ""
        return codes.get(centre_id, "") if centre_id is not None else ""

    def staff_centres() -> list[Centre]:
        return current_user.centres(db_session()) if current_user.is_authenticated else []

    many = bool(current_user.is_authenticated and current_user.many_centres)
    return {"many_centres": many, "centre_code": centre_code, "staff_centres": staff_centres}


def chosen_centre(arg: str = "centre") -> Centre:
    """The centre a one-centre-at-a-time page shows (`?centre=CODE`, default the user's home centre); one the
    user does not see is a 404, like any object of another centre."""
    from core.errors import NotFound

    try:
        return current_user.centre(db_session(), (request.values.get(arg) or "").strip() or None)
    except NotFound:
        abort(404)


def current_actor() -> audit.Actor:
    return audit.Actor(type="user", id=str(current_user.id), name=current_user.username,
                       centre_id=current_user.centre_id, ip=request.remote_addr)


def _safe_next(target: str | None) -> str:
    if target and not urlparse(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("pages.dashboard")


@bp.get("/")
def index():
    return redirect(url_for("pages.dashboard"))


@bp.route("/staff/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        session = db_session()
        username = request.form.get("username", "").strip()
        ip = request.remote_addr
        max_failures = settings().get_int("HCC_LOGIN_MAX_FAILURES", MAX_FAILED_LOGINS)
        # PostgreSQL refuses NUL in text: a name with one is nobody's, not a 500.
        user = None if "\x00" in username else authenticate_user(
            session, username, request.form.get("password", ""), max_failures=max_failures, ip=ip)
        if user is None:
            # The same answer for a wrong password, an unknown name and a locked account: the audit log
            # (user.locked) and the users page tell an administrator which it was.
            audit.record(session, audit.Actor(type="anonymous", ip=ip), "auth.login_failed",
                         detail=f"username={username.replace(chr(0), '')[:64]}")
            session.commit()
            flash(t("login.failed"), "error")
            return render_template("staff/login.html"), 401
        audit.record(session, audit.Actor(type="user", id=str(user.id), name=user.username, centre_id=user.centre_id,
                                          ip=ip), "auth.login", entity_type="user", entity_id=user.id)
        session.commit()
        start_session(user)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("staff/login.html")


@bp.post("/staff/logout")
@login_required
def logout():
    session = db_session()
    user = session.get(User, current_user.id)
    if user is not None:
        # Signing out ends this user's sessions everywhere, including any copy of this cookie.
        revoke_sessions(session, user)
        audit.record(session, current_actor(), "auth.logout", entity_type="user", entity_id=user.id)
        session.commit()
    end_session()
    return redirect(url_for("pages.login"))


@bp.get("/lang/<code>")
def set_language(code: str):
    resp = make_response(redirect(_safe_next(request.args.get("next") or request.referrer and
                                             urlparse(request.referrer).path)))
    if code in LANGUAGES:
        resp.set_cookie("lang", code, max_age=365 * 86400, samesite="Lax")
    return resp


@bp.get("/staff/")
@login_required
def dashboard():
    session = db_session()
    centre = session.get(Centre, current_user.centre_id)
    return render_template("staff/dashboard.html", centre=centre,
                           centres=current_user.centres(session) if current_user.many_centres else [],
                           province_wide=current_user.centre_ids is None)


@bp.route("/staff/users", methods=["GET", "POST"])
@require_roles("admin")
def users():
    session = db_session()
    # New users go to the centre chosen in the form (one of the admin's), by default the admin's home centre.
    centre = chosen_centre("centre_code") if request.method == "POST" else session.get(Centre, current_user.centre_id)
    if request.method == "POST":
        roles = request.form.getlist("roles")
        try:
            create_user(session, centre, request.form.get("username", "").strip(), request.form.get("password", ""),
                        roles, full_name=request.form.get("full_name", "").strip() or None)
            session.commit()
            flash(t("users.created"), "success")
            return redirect(url_for("pages.users"))
        except AccountError as e:
            session.rollback()
            flash(str(e), "error")
    rows = session.scalars(current_user.scope(select(User), User.centre_id).order_by(User.username))
    return render_template("staff/users.html", users=list(rows), roles=ROLES)


@bp.post("/staff/users/<int:user_id>/unlock")
@require_roles("admin")
def unlock(user_id: int):
    session = db_session()
    user = session.get(User, user_id)
    if user is None or not current_user.sees(user.centre_id):
        abort(404)
    unlock_user(session, user, current_actor())
    session.commit()
    flash(t("users.unlocked", username=user.username), "success")
    return redirect(url_for("pages.users"))


@bp.get("/staff/audit")
@require_roles("admin")
def audit_log():
    page = max(1, request.args.get("page", 1, type=int))
    per_page = 50
    stmt = (current_user.scope(select(AuditLog), AuditLog.centre_id)
            .order_by(AuditLog.id.desc()).limit(per_page + 1).offset((page - 1) * per_page))
    rows = list(db_session().scalars(stmt))
    return render_template("staff/audit.html", rows=rows[:per_page], page=page, has_next=len(rows) > per_page)
