"""Sandbox of the outside time-stamp authority (RFC 3161 over HTTP), served when HCC_SANDBOX is on."""

from __future__ import annotations

from flask import Blueprint, Response, request

from api.context import settings
from receipts.tsa import BadTimeStampRequest, reply

bp = Blueprint("receipts_sandbox", __name__, url_prefix="/sandbox")


@bp.post("/tsa")
def tsa():
    if request.mimetype != "application/timestamp-query":
        return Response("Content-Type must be application/timestamp-query", status=415, mimetype="text/plain")
    try:
        body = reply(settings().instance_dir, request.get_data())
    except BadTimeStampRequest:
        return Response("malformed TimeStampReq", status=400, mimetype="text/plain")
    return Response(body, mimetype="application/timestamp-reply")
