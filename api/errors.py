"""One error shape: RFC 7807 problem+json on the API and callbacks, a readable page elsewhere."""

from __future__ import annotations

import json
import logging
import time

from flask import Flask, Response, current_app, render_template, request
from marshmallow import ValidationError
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException, InternalServerError

from api.i18n import MESSAGES, get_locale, t
from core.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied
from fees.gateways.base import GatewayNotConfigured

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

_SLUGS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          409: "conflict", 413: "too_large", 422: "validation", 429: "too_many_requests", 500: "server_error"}


def wants_problem_json() -> bool:
    path = request.path
    return path.startswith(("/api/", "/callbacks/")) or request.accept_mimetypes.best == "application/json"


def problem(status: int, title: str | None = None, detail: str | None = None, *, type_: str | None = None,
            errors: dict | None = None, headers: dict | None = None) -> Response:
    slug = _SLUGS.get(status, "bad_request")
    body = {
        "type": type_ or ("about:blank" if status >= 500 else f"urn:hcc:problem:{slug.replace('_', '-')}"),
        "title": title or t(f"problem.{slug}"),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    body["instance"] = request.path
    resp = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_JSON)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _page(status: int, message: str | None = None):
    key = f"error.{status}"
    text = message or (t(key) if key in MESSAGES else str(status))
    return render_template("error.html", status=status, message=text), status


def handle_http_exception(e: HTTPException):
    if wants_problem_json():
        errors = None
        data = getattr(e, "data", None) or {}
        if e.code == 422 and "messages" in data:
            # webargs/flask-smorest: {"json": {"field": ["msg"]}} -> {"field": ["msg"]}
            errors = {}
            for _location, fields in data["messages"].items():
                errors.update(fields if isinstance(fields, dict) else {"_schema": fields})
        # Only a description the code gave on purpose; werkzeug's stock sentences add nothing.
        custom = e.description if e.description != type(e).description else None
        detail = data.get("message") or custom
        headers = None
        if e.code == 401:
            headers = {"WWW-Authenticate": 'Bearer realm="hcc"'}
        if e.code == 429:
            # Throttling says when to come back (Flask-Limiter adds Retry-After itself after the handler).
            headers = {k: v for k, v in e.get_headers() if k == "Retry-After"}
            return problem(429, detail=t("error.429", seconds=_retry_after(e)), headers=headers)
        return problem(e.code or 500, detail=detail, errors=errors, headers=headers)
    if e.code == 429:
        body, status = _page(429, t("error.429", seconds=_retry_after(e)))
        return body, status, {k: v for k, v in e.get_headers() if k == "Retry-After"}
    if e.code in (403, 404, 400, 500):
        return _page(e.code)
    return e


def _retry_after(e: HTTPException) -> int:
    """Seconds until a throttled caller may try again, from the exception or the limit it broke."""
    seconds = getattr(e, "retry_after", None)
    if isinstance(seconds, int | float):
        return max(1, int(seconds))
    limiter = current_app.extensions.get("hcc_limiter")
    current = limiter.current_limit if limiter is not None else None
    if current is not None:
        return max(1, int(current.reset_at - time.time()))
    return 60


def handle_domain_error(e: DomainError):
    status = {InvalidInput: 422, NotFound: 404, Conflict: 409, PermissionDenied: 403}.get(type(e))
    if status is None:
        for cls, code in ((InvalidInput, 422), (NotFound, 404), (Conflict, 409), (PermissionDenied, 403)):
            if isinstance(e, cls):
                status = code
                break
        else:
            status = 400
    if wants_problem_json():
        return problem(status, detail=e.message, type_=f"urn:hcc:problem:{e.code}", errors=e.errors or None)
    return _page(status, e.message)


def handle_validation_error(e: ValidationError):
    messages = e.messages if isinstance(e.messages, dict) else {"_schema": e.messages}
    return problem(422, errors=messages)


def handle_unstorable(e: Exception):
    """A value the database cannot hold (a NUL in text, an integer beyond 64 bits) came from the caller."""
    log.warning("value not storable", extra={"path": request.path, "error": type(e).__name__})
    detail = "Một giá trị vượt quá giới hạn hoặc có ký tự không lưu được (ví dụ NUL)."
    if wants_problem_json():
        return problem(422, detail=detail)
    return _page(400, detail)


def handle_gateway_not_configured(e):
    """A gateway without its settings is the deployment's fault and passes when it is fixed: 503, never 500."""
    log.error("payment gateway not configured", extra={"gateway": e.gateway, "setting": e.setting})
    title = f"Cổng thanh toán {e.gateway} chưa được cấu hình" if get_locale() == "vi" else \
        f"The {e.gateway} payment gateway is not configured"
    if wants_problem_json():
        return problem(503, title=title, detail=str(e), type_="urn:hcc:problem:gateway-not-configured")
    return _page(503, title)


def handle_unexpected(e: Exception):
    if isinstance(e, HTTPException):
        return handle_http_exception(e)
    log.exception("unhandled error", extra={"path": request.path})
    if wants_problem_json():
        return problem(500)
    return _page(500)


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(ValidationError, handle_validation_error)
    app.register_error_handler(DataError, handle_unstorable)
    app.register_error_handler(OverflowError, handle_unstorable)
    app.register_error_handler(GatewayNotConfigured, handle_gateway_not_configured)
    app.register_error_handler(InternalServerError, handle_unexpected)
    app.register_error_handler(Exception, handle_unexpected)
