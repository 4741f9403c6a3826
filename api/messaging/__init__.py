"""Citizen messaging over HTTP: the Zalo ZNS and eSMS sandboxes, the citizen's opt-out link, and the
administrator's page of a centre's message texts."""

from __future__ import annotations

import hmac
from urllib.parse import parse_qsl

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from api.admin.scope import current_scope
from api.auth import current_principal, protect_forms, require_roles
from api.context import db_session, settings
from core import notify
from core.clock import utcnow
from messaging import templates
from messaging.models import MessageTemplate
from messaging.sms import sandbox as esms_sandbox
from messaging.zalo import sandbox as zalo_sandbox
from messaging.zalo.payloads import zalo_phone

sandbox_bp = Blueprint("messaging_sandbox", __name__, url_prefix="/sandbox")
public_bp = Blueprint("messaging_public", __name__)
admin_bp = Blueprint("messaging_admin", __name__, url_prefix="/staff/admin/messages")
protect_forms(admin_bp)


@sandbox_bp.before_request
def _only_in_sandbox_mode():
    if not settings().sandbox:
        abort(404)


def _reply(reply):
    return jsonify(reply.body), reply.status


@sandbox_bp.route("/zalo/<path:path>", methods=["GET", "POST"])
def zalo(path: str):
    form = dict(parse_qsl(request.get_data(as_text=True))) if request.mimetype == "application/x-www-form-urlencoded" else {}
    return _reply(zalo_sandbox.handle(settings(), request.method, "/" + path, dict(request.headers), form,
                                      request.get_json(silent=True)))


@sandbox_bp.route("/sms/<path:path>", methods=["GET", "POST"])
def sms(path: str):
    return _reply(esms_sandbox.handle(settings(), request.method, "/" + path, request.args.to_dict(),
                                      request.get_json(silent=True, force=True) if request.method == "POST" else None))


@sandbox_bp.post("/zalo-controls/_faults")
def zalo_faults():
    data = request.get_json(silent=True) or {}
    return jsonify(zalo_sandbox.set_faults(settings(), down=data.get("down"),
                                           refuse_template=data.get("refuse_template"),
                                           expire_token=bool(data.get("expire_token"))))


@sandbox_bp.get("/zalo-controls/_received")
def zalo_received():
    return jsonify(zalo_sandbox.received(settings()))


@sandbox_bp.get("/sms-controls/_received")
def sms_received():
    return jsonify(esms_sandbox.received(settings()))


@public_bp.route("/tin-nhan/tu-choi/<phone>/<token>", methods=["GET", "POST"])
def opt_out(phone: str, token: str):
    """The link at the end of each SMS: GET shows a confirm button (link previews must not opt out), POST records it."""
    number = zalo_phone(phone)
    if not number or not hmac.compare_digest(token, notify.optout_token(settings(), number)):
        abort(404)
    done = False
    if request.method == "POST":
        notify.opt_out(db_session(), number, "link")
        db_session().commit()
        done = True
    masked = number[:4] + "****" + number[-3:]
    return render_template("messaging/opt_out.html", masked=masked, done=done)


@admin_bp.get("/<code>")
@require_roles("admin")
def centre_texts(code: str):
    session = db_session()
    centre = current_scope(session).centre(session, code)
    own = {r.event: r for r in session.scalars(select(MessageTemplate).where(MessageTemplate.centre_id == centre.id))}
    rows = [(event, spec, own.get(event)) for event, spec in templates.EVENTS.items()]
    return render_template("messaging/texts.html", centre=centre, rows=rows, fields=templates.allowed_fields)


@admin_bp.post("/<code>/<event>")
@require_roles("admin")
def save_text(code: str, event: str):
    session = db_session()
    centre = current_scope(session).centre(session, code)
    if event not in templates.EVENTS:
        abort(404)
    row = session.scalar(select(MessageTemplate).where(MessageTemplate.centre_id == centre.id,
                                                       MessageTemplate.event == event))
    if request.form.get("reset"):
        if row is not None:
            session.delete(row)
            session.commit()
        flash("Đã dùng lại nội dung mặc định.")
        return redirect(url_for(".centre_texts", code=code))
    try:
        body = templates.check(event, request.form.get("body", ""))
    except templates.TemplateError as e:
        flash(f"Không lưu được: {e}")
        return redirect(url_for(".centre_texts", code=code))
    if row is None:
        row = MessageTemplate(centre_id=centre.id, event=event, body=body)
        session.add(row)
    row.body = body
    row.zns_template_id = (request.form.get("zns_template_id") or "").strip()[:32] or None
    row.updated_at, row.updated_by = utcnow(), getattr(current_principal(), "id", None)
    session.commit()
    flash("Đã lưu nội dung tin nhắn.")
    return redirect(url_for(".centre_texts", code=code))


def init_app(app, api) -> None:
    app.register_blueprint(sandbox_bp, name="messaging_sandbox")
    app.register_blueprint(public_bp)
    app.register_blueprint(admin_bp)
