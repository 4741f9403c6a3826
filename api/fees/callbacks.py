"""Inbound gateway notifications, one route for every registered gateway: /callbacks/<gateway>/<kind>.

Today's URLs are this route's instances: /callbacks/vnpay/ipn (GET), /callbacks/momo/ipn (POST),
/callbacks/vietqr/bank (POST). Each request is stored verbatim (its own commit) before anything acts on
it, parsed by its gateway's adapter and judged (fees.ipn) in one transaction that also settles the stored
row, and answered as the adapter says. Only HTTP is spoken here.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, jsonify, request

from api.context import db_session, hcc, settings
from core import callbacks
from core.callbacks import RawCallback
from fees import ipn
from fees.gateways.base import GATEWAYS, InboundRequest, Notification, Verdict, get_gateway

log = logging.getLogger(__name__)

bp = Blueprint("fees_callbacks", __name__, url_prefix="/callbacks")


def _store(source: str) -> int:
    raw = RawCallback(source=source, method=request.method, path=request.path,
                      query_string=request.query_string.decode("utf-8", "replace"),
                      headers=dict(request.headers), body=request.get_data(as_text=True),
                      remote_addr=request.remote_addr)
    return callbacks.store(hcc().db, raw)


def _judge(callback_id: int, gateway, kind: str, inbound: InboundRequest) -> tuple[Notification | None, Verdict]:
    session = db_session()
    try:
        notification, verdict = ipn.receive(session, settings(), gateway, kind, inbound, callback_id=callback_id)
        callbacks.settle(session, callback_id, verdict.outcome, detail=verdict.detail, dedup_key=verdict.dedup_key,
                         entity_type="payment" if verdict.payment_id else None, entity_id=verdict.payment_id)
        session.commit()
        return notification, verdict
    except Exception as e:
        session.rollback()
        log.exception("callback failed", extra={"callback_id": callback_id})
        with hcc().db.session() as s:
            callbacks.settle(s, callback_id, "error", detail=e.__class__.__name__)
        return None, Verdict("error", "error", e.__class__.__name__)


@bp.route("/<gateway_name>/<kind>", methods=["GET", "POST"])
def notification(gateway_name: str, kind: str):
    """A gateway's server-to-server notification of `kind`, with the method the gateway declares for it."""
    if gateway_name not in GATEWAYS or kind not in GATEWAYS.get_class(gateway_name).notifications:
        abort(404)
    gateway = get_gateway(gateway_name, settings())
    if request.method != gateway.notifications[kind]:
        abort(405)
    callback_id = _store(gateway_name)
    inbound = InboundRequest(method=request.method, query=request.args.to_dict(), headers=dict(request.headers),
                             body=request.get_data(), remote_addr=request.remote_addr,
                             query_string=request.query_string.decode("utf-8", "replace"))
    parsed, verdict = _judge(callback_id, gateway, kind, inbound)
    answer = gateway.answer(parsed, verdict)
    if answer.json is not None:
        return jsonify(answer.json), answer.status
    return Response(answer.body, status=answer.status, content_type=answer.content_type)
