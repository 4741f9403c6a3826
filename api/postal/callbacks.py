"""Carrier webhooks under /callbacks/<carrier> (GHN, Viettel Post, and VNPost where its push is registered):
stored verbatim, authenticated, deduplicated, then acted on."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request

from api.context import hcc
from carriers.base import NotSupported, PermanentCarrierError, WebhookRejected, get_carrier
from core import audit
from core.callbacks import RawCallback, seen_before, settle, store
from postal.shipments import apply_event, find_for_event, lock_shipment

log = logging.getLogger(__name__)
bp = Blueprint("postal_callbacks", __name__, url_prefix="/callbacks")
WEBHOOK_CARRIERS = ("viettelpost", "ghn", "vnpost")


def _answer(carrier: str, status: int, message: str):
    # Viettel Post and GHN both read the HTTP status; the body says what happened for people reading logs.
    return jsonify({"status": status, "error": status != 200, "message": message}), status


@bp.post("/<carrier>")
def webhook(carrier: str):
    if carrier not in WEBHOOK_CARRIERS:
        return _answer(carrier, 404, "unknown carrier")
    ctx = hcc()
    body = request.get_data(cache=True)
    raw = RawCallback(source=carrier, method=request.method, path=request.path,
                      query_string=request.query_string.decode("latin-1"), headers=dict(request.headers),
                      body=body.decode("utf-8", "replace"), remote_addr=request.remote_addr)
    callback_id = store(ctx.db, raw)
    try:
        adapter = get_carrier(carrier, ctx.settings)
        events = adapter.parse_webhook(dict(request.headers), request.args.to_dict(), body)
    except (WebhookRejected, NotSupported, PermanentCarrierError) as e:
        with ctx.db.session() as session:
            settle(session, callback_id, "rejected", detail=str(e)[:500])
        log.warning("carrier webhook refused", extra={"carrier": carrier, "callback_id": callback_id})
        return _answer(carrier, 401, "rejected")
    actor = audit.Actor(type="carrier", id=carrier, name=carrier, ip=request.remote_addr)
    outcome, detail, entity = "accepted", None, None
    with ctx.db.session() as session:
        for ev in events:
            key = f"{carrier}:{ev.event_id}"[:128]
            if seen_before(session, carrier, key, exclude_id=callback_id):
                outcome, detail = "duplicate", "replayed event"
                continue
            s = find_for_event(session, carrier, ev)
            if s is None:
                outcome, detail = "rejected", "unknown order"
                continue
            entity = s.id
            s = lock_shipment(session, s.id)  # concurrent webhooks for one parcel queue here
            result = apply_event(session, s, ev, source="webhook", actor=actor)
            if result == "duplicate":
                outcome, detail = "duplicate", "event already recorded"
            elif result == "kept":
                detail = "kept; older than the shipment's status"
            settle(session, callback_id, outcome, detail=detail, dedup_key=key, entity_type="shipment", entity_id=s.id)
        if entity is None:
            settle(session, callback_id, outcome, detail=detail)
    return _answer(carrier, 200, detail or "OK")
