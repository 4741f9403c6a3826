"""The one-stop system's signed webhook: `POST /callbacks/onestop/<centre code>/dossiers` with the dossier JSON
of `PUT /api/v1/dossiers/<code>` plus its `code`. Stored verbatim first (core.callbacks), then the signature
(dossiers.inbound), its age and replays are checked, then the dossier is created or updated."""

from __future__ import annotations

import json
import logging

from flask import Blueprint, jsonify, request
from marshmallow import ValidationError, fields, validate
from sqlalchemy import select

from api.context import hcc
from api.dossiers.v1 import DossierIn, dossier_data
from api.errors import problem
from core import audit
from core.callbacks import RawCallback, seen_before, settle, store
from core.errors import InvalidInput
from core.models import Centre
from dossiers import inbound, service
from dossiers.sync import upsert_dossier

log = logging.getLogger(__name__)
bp = Blueprint("dossier_inbound", __name__, url_prefix="/callbacks/onestop")


class InboundDossier(DossierIn):
    code = fields.String(required=True, validate=validate.Length(min=1, max=64))

    class Meta:
        exclude = ("centre_code",)


@bp.post("/<string:centre_code>/dossiers")
def dossier_webhook(centre_code: str):
    ctx = hcc()
    body = request.get_data(cache=True)
    callback_id = store(ctx.db, RawCallback(
        source=inbound.SOURCE, method=request.method, path=request.path,
        query_string=request.query_string.decode("latin-1"), headers=dict(request.headers),
        body=body.decode("utf-8", "replace"), remote_addr=request.remote_addr))
    actor = audit.Actor(type="onestop", id=centre_code[:64], name="Hệ thống một cửa", ip=request.remote_addr)
    with ctx.db.session() as session:
        centre = session.scalar(select(Centre).where(Centre.code == centre_code))
        secret = inbound.webhook_secret(session, ctx.settings, centre.id) if centre is not None else None
        verdict = inbound.check(secret, request.headers.get(inbound.HEADER), body,
                                window=inbound.window(ctx.settings))
        if not verdict.ok:
            # An unknown centre and a bad signature answer alike: a caller learns nothing of which centres exist.
            settle(session, callback_id, "rejected", detail=verdict.reason)
            log.warning("one-stop webhook refused", extra={"callback_id": callback_id, "reason": verdict.reason})
            return problem(401, detail="signature refused")
        key = f"{centre.id}:{verdict.dedup_key}"[:128]
        if seen_before(session, inbound.SOURCE, key, exclude_id=callback_id):
            settle(session, callback_id, "rejected", detail="replayed request", dedup_key=f"replay:{key}"[:128])
            return problem(409, detail="this signed request was received before (replay)")
        try:
            data = InboundDossier().load(json.loads(body.decode("utf-8")))
        except (ValueError, ValidationError) as e:
            errors = e.messages if isinstance(e, ValidationError) else {"body": ["Không phải JSON hợp lệ."]}
            settle(session, callback_id, "rejected", detail="invalid dossier", dedup_key=key)
            return problem(422, errors=errors if isinstance(errors, dict) else {"body": errors})
        try:
            with session.begin_nested():
                dossier, created = upsert_dossier(session, ctx.settings, centre, data["code"], dossier_data(data),
                                                  actor=actor, source="webhook")
                service.after_sync(session, ctx.settings, dossier, actor=actor)
        except InvalidInput as e:
            settle(session, callback_id, "rejected", detail=str(e)[:500], dedup_key=key)
            return problem(422, detail=str(e), errors=e.errors)
        settle(session, callback_id, "accepted", dedup_key=key, entity_type="dossier", entity_id=dossier.id)
        return jsonify({"code": dossier.code, "status": dossier.status, "created": created}), 201 if created else 200
