"""Idempotency-Key on every mutating API call: the same key and body replay the first answer."""

from __future__ import annotations

import hashlib
import json
import logging

from flask import Flask, Response, g, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from api.auth import current_principal
from api.context import hcc
from api.errors import problem
from api.i18n import t
from core.models import IdempotencyRecord

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


def _field_order(name: str | None) -> str:
    return name or ""


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # hashed only, so a lone surrogate must not raise


def _request_hash() -> str:
    h = hashlib.sha256()
    h.update(request.method.encode())
    h.update(b"\0")
    h.update(request.path.encode())
    h.update(b"\0")
    if request.mimetype == "multipart/form-data":
        # Each upload has its own random boundary: the same fields and files are the same request.
        # A part whose name werkzeug cannot read (a line break in it) comes as None: sort it as "".
        for name in sorted(request.form, key=_field_order):
            for value in request.form.getlist(name):
                h.update(_utf8(f"{name}={value}") + b"\0")
        for name in sorted(request.files, key=_field_order):
            for upload in request.files.getlist(name):
                h.update(_utf8(f"{name}:{upload.filename}") + b"\0" + hashlib.sha256(upload.read()).digest())
                upload.seek(0)
        return h.hexdigest()
    body = request.get_data(cache=True)
    if request.mimetype == "application/json" and body:
        try:
            # Same JSON with other key order or spacing is the same request.
            body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
        except ValueError:
            pass
    h.update(body)
    return h.hexdigest()


def _before():
    if request.method not in MUTATING or not request.path.startswith("/api/v1"):
        return None
    key = request.headers.get(HEADER)
    if key is None:
        return None
    principal = current_principal()
    if principal is None:
        return None
    key = key.strip()
    if not key or len(key) > 255:
        return problem(400, detail=f"{HEADER} must be 1 to 255 characters.")
    digest = _request_hash()
    db = hcc().db
    with db.sessionmaker() as session:
        record = IdempotencyRecord(principal=principal.key, key=key, method=request.method, path=request.path,
                                   request_hash=digest)
        session.add(record)
        try:
            session.commit()
            g.idempotency_record_id = record.id
            return None
        except IntegrityError:
            session.rollback()
        existing = session.scalar(select(IdempotencyRecord).where(
            IdempotencyRecord.principal == principal.key, IdempotencyRecord.key == key))
    if existing is None:  # deleted between our insert and select: the first request failed; try again
        return problem(409, t("problem.idempotency_in_progress"))
    if existing.request_hash != digest:
        return problem(409, t("problem.idempotency_mismatch"), type_="urn:hcc:problem:idempotency-key-reused",
                       detail="The same Idempotency-Key was sent with a different method, path or body.")
    if existing.status_code is None:
        return problem(409, t("problem.idempotency_in_progress"), type_="urn:hcc:problem:idempotency-in-progress",
                       headers={"Retry-After": "1"})
    resp = Response(existing.response_body or "", status=existing.status_code)
    for k, v in (existing.response_headers or {}).items():
        resp.headers[k] = v
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


def shown_once(*fields: str) -> None:
    """Say that this answer carries secrets shown once (a new API key, a webhook's signing secret).

    The first answer carries them; the copy kept for Idempotency-Key replays has them as null, so the
    database never holds them in clear and a replay cannot show them again (the client that lost the
    first answer revokes and creates another).
    """
    g.idempotency_shown_once = fields


def _without_secrets(response: Response) -> str:
    body = response.get_data(as_text=True)
    fields = g.pop("idempotency_shown_once", ())
    if not fields:
        return body
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if isinstance(data, dict):
        for name in fields:
            if name in data:
                data[name] = None
    return json.dumps(data, ensure_ascii=False)


def _end_request_transaction() -> None:
    """The answer is decided: end the request's own transaction before recording it in another one.

    A view that failed after taking a write lock (`lock_payment` on SQLite takes the database's) has not
    committed; until its session ends, our write would wait on that lock for the whole busy timeout, then
    fail, and a clean 404 or 409 became a 500 thirty seconds later. A committed view loses nothing.
    """
    request_session = g.get("db_session")
    if request_session is not None:
        request_session.rollback()


def _after(response: Response) -> Response:
    record_id = g.pop("idempotency_record_id", None)
    if record_id is None:
        return response
    _end_request_transaction()
    with hcc().db.session() as session:
        if response.status_code >= 500 or response.direct_passthrough or response.is_streamed:
            # A failed first attempt must not pin its failure: the client may retry with the same key.
            session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
        else:
            record = session.get(IdempotencyRecord, record_id)
            record.status_code = response.status_code
            record.response_body = _without_secrets(response)
            keep = ("Content-Type", "Location")
            record.response_headers = {k: v for k, v in response.headers.items() if k in keep}
    return response


def _teardown(exc=None):
    record_id = g.pop("idempotency_record_id", None)
    if record_id is not None:
        _end_request_transaction()
        with hcc().db.session() as session:
            session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id,
                                                            IdempotencyRecord.status_code.is_(None)))


def init_app(app: Flask) -> None:
    app.before_request(_before)
    app.after_request(_after)
    app.teardown_request(_teardown)
