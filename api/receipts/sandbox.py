"""Sandboxes of the outside services receipts depend on, served when HCC_SANDBOX is on: the time-stamp
authority (RFC 3161 over HTTP), the development CA's CRLs (RFC 5280), and the remote signing services
(Cloud Signature Consortium API, VNPT SmartCA), each speaking the real protocol."""

from __future__ import annotations

from flask import Blueprint, Response, request

from api.context import settings
from core.devcert import published_crl
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


@bp.get("/ca/<name>.crl")
def crl(name: str):
    """A CA's current CRL, DER, as fetched from the CRL distribution point of the certificates it issued."""
    data = published_crl(settings().instance_dir, name)
    if data is None:
        return Response("no such CRL", status=404, mimetype="text/plain")
    return Response(data, mimetype="application/pkix-crl")
