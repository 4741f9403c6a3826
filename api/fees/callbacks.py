"""Inbound gateway callbacks: VNPAY IPN, MoMo IPN, bank credit notifications.

Each request is stored verbatim (its own commit) before anything acts on it, judged in one transaction
that also settles the stored row, and answered in the gateway's own format.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request

from api.context import db_session, hcc, settings
from core import callbacks
from core.callbacks import RawCallback
from fees import ipn
from fees.gateways.vnpay import IPN_ANSWERS

log = logging.getLogger(__name__)

bp = Blueprint("fees_callbacks", __name__, url_prefix="/callbacks")


def _store(source: str) -> int:
    raw = RawCallback(source=source, method=request.method, path=request.path,
                      query_string=request.query_string.decode("utf-8", "replace"),
                      headers=dict(request.headers), body=request.get_data(as_text=True),
                      remote_addr=request.remote_addr)
    return callbacks.store(hcc().db, raw)


def _judge(callback_id: int, judge) -> ipn.Verdict:
    session = db_session()
    try:
        verdict = judge(session)
        callbacks.settle(session, callback_id, verdict.outcome, detail=verdict.detail, dedup_key=verdict.dedup_key,
                         entity_type="payment" if verdict.payment_id else None, entity_id=verdict.payment_id)
        session.commit()
        return verdict
    except Exception as e:
        session.rollback()
        log.exception("callback failed", extra={"callback_id": callback_id})
        with hcc().db.session() as s:
            callbacks.settle(s, callback_id, "error", detail=e.__class__.__name__)
        return ipn.Verdict("error", "99", e.__class__.__name__)


@bp.get("/vnpay/ipn")
def vnpay_ipn():
    """VNPAY's server-to-server result (GET); answered {"RspCode", "Message"} with HTTP 200."""
    callback_id = _store("vnpay")
    params = request.args.to_dict()
    verdict = _judge(callback_id, lambda s: ipn.vnpay_ipn(s, settings(), params))
    code = verdict.answer if verdict.answer in IPN_ANSWERS else "99"
    return jsonify({"RspCode": code, "Message": IPN_ANSWERS[code]})


@bp.post("/momo/ipn")
def momo_ipn():
    """MoMo's IPN (JSON POST); MoMo expects HTTP 204 with no body once we have it."""
    callback_id = _store("momo")
    body = request.get_data(as_text=True)
    verdict = _judge(callback_id, lambda s: ipn.momo_ipn(s, settings(), body))
    if verdict.outcome == "error":
        return Response(status=500)  # MoMo retries
    if verdict.answer == "bad-signature":
        return Response(status=400)
    return Response(status=204)


@bp.post("/vietqr/bank")
def bank_notification():
    """The bank's credit notification (JSON, signed: X-Bank-Timestamp, X-Bank-Signature)."""
    callback_id = _store("vietqr")
    body = request.get_data(as_text=True)
    ts = request.headers.get("X-Bank-Timestamp", "")
    sig = request.headers.get("X-Bank-Signature", "")
    verdict = _judge(callback_id, lambda s: ipn.bank_credit(s, settings(), body=body, timestamp=ts, signature=sig,
                                                            callback_id=callback_id))
    if verdict.outcome == "error":
        return jsonify({"success": False, "code": "error"}), 500
    if verdict.answer in ("bad-signature", "malformed"):
        return jsonify({"success": False, "code": verdict.answer}), 400 if verdict.answer == "malformed" else 401
    return jsonify({"success": True, "code": verdict.answer})
