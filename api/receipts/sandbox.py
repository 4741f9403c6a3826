"""Sandboxes of the outside services receipts depend on, served when HCC_SANDBOX is on: the time-stamp
authority (RFC 3161 over HTTP), the development CA's CRLs (RFC 5280), and the remote signing services
(Cloud Signature Consortium API, VNPT SmartCA), each speaking the real protocol."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

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


# Cloud Signature Consortium API (receipts/remote/csc_sandbox.py); service URL <public>/sandbox/csc.
def _csc(call, *args):
    from receipts.remote.csc_sandbox import CscError

    try:
        return jsonify(call(*args))
    except CscError as e:
        resp = jsonify(e.body)
        resp.status_code = e.status
        if e.status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return resp


def _json_body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


@bp.post("/csc/csc/<version>/info")
def csc_info(version: str):
    from receipts.remote import csc_sandbox

    return jsonify(csc_sandbox.info(f"{settings().public_url.rstrip('/')}/sandbox/csc"))


@bp.post("/csc/oauth2/token")
def csc_token():
    from receipts.remote import csc_sandbox

    form = request.form if request.form else _json_body()
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    if request.authorization and request.authorization.type == "basic":  # RFC 6749 §2.3.1
        client_id, client_secret = request.authorization.username, request.authorization.password
    return _csc(csc_sandbox.token, settings().instance_dir, client_id, client_secret, form.get("grant_type"))


@bp.post("/csc/csc/<version>/<path:endpoint>")
def csc_endpoint(version: str, endpoint: str):
    from receipts.remote import csc_sandbox

    calls = {"credentials/list": csc_sandbox.credentials_list, "credentials/info": csc_sandbox.credentials_info,
             "credentials/authorize": csc_sandbox.credentials_authorize, "signatures/signHash": csc_sandbox.sign_hash}
    if version not in ("v1", "v2") or endpoint not in calls:
        return Response("unknown CSC endpoint", status=404, mimetype="text/plain")
    return _csc(calls[endpoint], settings().instance_dir, request.headers.get("Authorization"), _json_body())


# VNPT SmartCA (receipts/remote/smartca_sandbox.py); service URL <public>/sandbox/smartca.
def _smartca(answer: dict):
    resp = jsonify(answer)
    resp.status_code = 200 if answer["status_code"] in (0, 200) else 400
    return resp


@bp.post("/smartca/v1/credentials/get_certificate")
def smartca_get_certificate():
    from receipts.remote import smartca_sandbox

    return _smartca(smartca_sandbox.get_certificate(settings().instance_dir, _json_body()))


@bp.post("/smartca/v1/signatures/sign")
def smartca_sign():
    from receipts.remote import smartca_sandbox

    return _smartca(smartca_sandbox.sign(settings().instance_dir, _json_body()))


@bp.post("/smartca/v1/signatures/sign/<tran>/status")
def smartca_status(tran: str):
    from receipts.remote import smartca_sandbox

    return _smartca(smartca_sandbox.status(settings().instance_dir, tran))


# Sandbox-only controls (not part of either protocol): what a provider does at sign-up, and the
# subscriber's answer in the SmartCA app.
def _text(data: dict, name: str, default: str, limit: int = 200) -> str:
    from core.text import clean_text

    value = data.get(name)
    cleaned = clean_text(value, limit, field=name, errors={}) if isinstance(value, str) else None
    return cleaned or default


@bp.post("/csc/_credentials")
def csc_provision():
    from receipts.remote import csc_sandbox

    data = _json_body()
    try:
        record = csc_sandbox.provision(
            settings().instance_dir, str(data.get("credentialID") or ""), public_url=settings().public_url,
            client_id=_text(data, "client_id", ""), client_secret=_text(data, "client_secret", ""),
            pin=_text(data, "PIN", "") or None, scal=2 if data.get("SCAL") in (2, "2") else 1,
            organisation=_text(data, "organisation", "Đơn vị thu (sandbox)"),
            common_name=_text(data, "common_name", "Ký biên lai (sandbox CSC)"))
    except ValueError as e:
        return jsonify({"error": "invalid_request", "error_description": str(e)}), 400
    if not record.get("client_id") or not record.get("client_secret"):
        return jsonify({"error": "invalid_request", "error_description": "client_id and client_secret"}), 400
    return jsonify({"credentialID": record["name"], "certificate": record["cert_pem"]})


@bp.post("/smartca/_subscribers")
def smartca_provision():
    from receipts.remote import smartca_sandbox

    data = _json_body()
    sp_id, sp_password = _text(data, "sp_id", ""), _text(data, "sp_password", "")
    if not sp_id or not sp_password:
        return jsonify({"error": "sp_id and sp_password"}), 400
    try:
        record = smartca_sandbox.provision(
            settings().instance_dir, str(data.get("user_id") or ""), public_url=settings().public_url, sp_id=sp_id,
            sp_password=sp_password, approval=str(data.get("approval") or "instant"),
            organisation=_text(data, "organisation", "Đơn vị thu (sandbox)"),
            common_name=_text(data, "common_name", "Ký biên lai (sandbox SmartCA)"))
    except ValueError as e:
        return jsonify({"error": str(e)}), 400
    return jsonify({"user_id": record["name"], "approval": record["approval"], "certificate": record["cert_pem"]})


@bp.post("/smartca/_subscribers/<user_id>/approval")
def smartca_app(user_id: str):
    """The subscriber's answer in the SmartCA app to the next requests: instant, polls:N, refuse, never."""
    from receipts.remote import smartca_sandbox

    try:
        smartca_sandbox.set_approval(settings().instance_dir, user_id, str(_json_body().get("approval") or ""))
    except KeyError:
        return jsonify({"error": "USER_NOT_FOUND"}), 404
    except ValueError as e:
        return jsonify({"error": str(e)}), 400
    return jsonify({"user_id": user_id, "approval": _json_body().get("approval")})
