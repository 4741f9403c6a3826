"""The carrier sandboxes over HTTP (/sandbox/vnpost, /sandbox/viettelpost, /sandbox/ghn), plus controls
to move sandbox time and inject faults (`_advance`, `_faults`, `_parcels`)."""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, jsonify, request

from api.context import settings
from carriers.ghn import sandbox as ghn_sandbox
from carriers.sandbox import Call, store_for
from carriers.viettelpost import sandbox as vtp_sandbox
from carriers.vnpost import sandbox as vnpost_sandbox

bp = Blueprint("postal_sandbox", __name__, url_prefix="/sandbox")
SANDBOXES = {"vnpost": vnpost_sandbox, "viettelpost": vtp_sandbox, "ghn": ghn_sandbox}


def _module(carrier: str):
    module = SANDBOXES.get(carrier)
    if module is None:
        abort(404)
    return module


def pump(carrier: str) -> int:
    """Send the webhooks a sandbox carrier's parcels have reached (VNPost fills its feed instead)."""
    module = _module(carrier)
    store = store_for(settings())
    if hasattr(module, "deliver_webhooks"):
        return module.deliver_webhooks(store, settings())
    return store.tick(carrier)


@bp.post("/<any(vnpost,viettelpost,ghn):carrier>/_advance")
def advance(carrier: str):
    """Move sandbox time forward (`hours` of carrier time) and deliver what it reached."""
    _module(carrier)
    data = request.get_json(silent=True) or {}
    store = store_for(settings())
    store.advance(float(data.get("hours", 0)) * 3600)
    return jsonify({"carrier": carrier, "sent": pump(carrier)})


@bp.post("/<any(vnpost,viettelpost,ghn):carrier>/_faults")
def faults(carrier: str):
    """`down`: answer 503 to the next N calls; `slow_create`: create the order, then answer after N seconds."""
    _module(carrier)
    data = request.get_json(silent=True) or {}
    store = store_for(settings())
    for name in ("down", "slow_create"):
        if name in data:
            store.set_fault(carrier, name, float(data[name]))
    return jsonify({"carrier": carrier, "down": store.fault(carrier, "down"),
                    "slow_create": store.fault(carrier, "slow_create")})


@bp.get("/<any(vnpost,viettelpost,ghn):carrier>/_parcels")
def parcels(carrier: str):
    """How many parcels the sandbox holds for an order number (a parcel must never be created twice)."""
    _module(carrier)
    store = store_for(settings())
    order = request.args.get("order_number", "")
    return jsonify({"order_number": order, "count": store.count(carrier, order)})


@bp.route("/<any(vnpost,viettelpost,ghn):carrier>/<path:rest>", methods=["GET", "POST", "PUT", "DELETE"])
def protocol(carrier: str, rest: str):
    module = _module(carrier)
    try:
        body = json.loads(request.get_data() or b"null") if request.is_json else None
    except ValueError:
        body = None
    call = Call(method=request.method, path="/" + rest, headers=dict(request.headers), query=request.args.to_dict(),
                form=request.form.to_dict() if not request.is_json else {}, json=body)
    reply = module.handle(store_for(settings()), settings(), call)
    if isinstance(reply.body, bytes | bytearray):
        return Response(bytes(reply.body), status=reply.status, mimetype=reply.content_type)
    return Response(json.dumps(reply.body, ensure_ascii=False), status=reply.status, mimetype="application/json")
