"""Sandboxes of VNPAY, MoMo and a bank, served under /sandbox in the embedded default.

They speak the real protocols (same fields, signatures and codes) and call our callbacks over HTTP,
so every flow can be walked without credentials; going live changes only settings. Like the real
gateways they know every merchant registered with them: the default account and each collecting unit's
own (found by vnp_TmnCode / partnerCode / account number through fees.merchants), so a unit with its own
sandbox credentials works end to end.
"""

from __future__ import annotations

import json
import logging
import secrets
import time

import requests
from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request

from api.context import db_session, settings
from fees import merchants
from fees.gateways.base import MerchantAccount
from fees.gateways.vietqr import VietqrGateway, sign_notification
from fees.sandbox import ledger
from fees.sandbox import momo as momo_side
from fees.sandbox import vnpay as vnpay_side

log = logging.getLogger(__name__)

bp = Blueprint("fees_sandbox", __name__, url_prefix="/sandbox")


@bp.before_request
def _only_in_sandbox_mode():
    if not settings().sandbox:
        abort(404)


def _notify(method: str, url: str, **kwargs) -> int | None:
    """Send a gateway notification the way the gateway would (its failure does not stop the citizen)."""
    try:
        resp = requests.request(method, url, timeout=settings().get_int("HCC_GATEWAY_TIMEOUT", 15), **kwargs)
        return resp.status_code
    except requests.RequestException:
        log.warning("sandbox could not deliver a notification", extra={"url": url})
        return None


def _merchant(gateway: str, merchant_id) -> MerchantAccount:
    """The merchant a request names; an unknown one gets the default's keys, which then fail its checks
    (invalid TmnCode / signature) as at the real gateway."""
    found = merchants.account_for_callback(db_session(), settings(), gateway,
                                           merchant_id if isinstance(merchant_id, str) else None)
    return found or merchants.default_account(settings(), gateway)


# --- VNPAY -----------------------------------------------------------------------------------------

@bp.get("/vnpay/paymentv2/vpcpay.html")
def vnpay_pay_page():
    params = request.args.to_dict()
    gw = _merchant("vnpay", params.get("vnp_TmnCode"))
    error = vnpay_side.check_pay_request(params, gw.hash_secret, gw.tmn_code)
    if not error:
        vnpay_side.open_order(params)  # VNPAY has the order from here: its vnp_TxnRef is taken
    amount = int(params.get("vnp_Amount", "0") or 0) // 100 if not error else 0
    return render_template("fees/sandbox_vnpay.html", error=error, params=params, amount=amount,
                           query=request.query_string.decode()), 400 if error else 200


@bp.post("/vnpay/paymentv2/pay")
def vnpay_pay():
    from urllib.parse import parse_qsl

    params = dict(parse_qsl(request.form.get("query", ""), keep_blank_values=True))
    gw = _merchant("vnpay", params.get("vnp_TmnCode"))
    if vnpay_side.check_pay_request(params, gw.hash_secret, gw.tmn_code):
        abort(400)
    result = vnpay_side.complete(params, gw.hash_secret, success=request.form.get("action") == "pay")
    ipn_url = settings().get("HCC_VNPAY_SANDBOX_IPN_URL") or f"{settings().public_url}/callbacks/vnpay/ipn"
    _notify("GET", ipn_url, params=result)
    from urllib.parse import urlencode

    return redirect(f"{params['vnp_ReturnUrl']}{'&' if '?' in params['vnp_ReturnUrl'] else '?'}{urlencode(result)}")


@bp.post("/vnpay/merchant_webapi/api/transaction")
def vnpay_api():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify({"vnp_ResponseCode": "03", "vnp_Message": "Invalid request format"})
    gw = _merchant("vnpay", body.get("vnp_TmnCode"))
    try:
        return jsonify(vnpay_side.api(body, gw.hash_secret, gw.tmn_code))
    except ledger.AnswerLost:
        return Response("upstream timed out", status=504)  # handled, but the answer never arrives


# --- MoMo ------------------------------------------------------------------------------------------

def _momo_keys(partner_code) -> dict:
    gw = _merchant("momo", partner_code)
    return {"partner_code": gw.partner_code, "access_key": gw.access_key, "secret_key": gw.secret_key}


def _momo_body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


@bp.post("/momo/v2/gateway/api/create")
def momo_create():
    body = _momo_body()
    answer = momo_side.create(body, **_momo_keys(body.get("partnerCode")),
                              pay_base=f"{settings().public_url}/sandbox/momo")
    if answer.get("resultCode") == 0:
        # The order is the partner's: its IPN is signed with that partner's keys.
        ledger.get("momo", body["orderId"]).data["partnerCode"] = body["partnerCode"]
    return jsonify(answer)


@bp.post("/momo/v2/gateway/api/query")
def momo_query():
    body = _momo_body()
    keys = _momo_keys(body.get("partnerCode"))
    try:
        return jsonify(momo_side.query(body, access_key=keys["access_key"], secret_key=keys["secret_key"]))
    except ledger.AnswerLost:
        return Response("upstream timed out", status=504)


@bp.post("/momo/v2/gateway/api/refund")
def momo_refund():
    body = _momo_body()
    keys = _momo_keys(body.get("partnerCode"))
    try:
        return jsonify(momo_side.refund(body, access_key=keys["access_key"], secret_key=keys["secret_key"]))
    except ledger.AnswerLost:
        return Response("upstream timed out", status=504)  # handled, but the answer never arrives


@bp.get("/momo/pay/<order_id>")
def momo_pay_page(order_id: str):
    txn = ledger.get("momo", order_id)
    if txn is None:
        abort(404)
    return render_template("fees/sandbox_momo.html", txn=txn)


@bp.post("/momo/pay/<order_id>")
def momo_pay(order_id: str):
    txn = ledger.get("momo", order_id)
    if txn is None:
        abort(404)
    result = momo_side.complete(order_id, success=request.form.get("action") == "pay",
                                **_momo_keys(txn.data.get("partnerCode")))
    if result is None:
        abort(400)  # paid or cancelled already
    _notify("POST", txn.data["ipnUrl"], json=result)
    from urllib.parse import urlencode

    target = txn.data["redirectUrl"]
    return redirect(f"{target}{'&' if '?' in target else '?'}{urlencode(result)}")


# --- Bank (credit notifications for VietQR transfers) ----------------------------------------------

def send_bank_credit(*, amount: int, description: str, account: str | None = None,
                     reference: str | None = None) -> tuple[int | None, str]:
    gw = VietqrGateway(settings())
    body = json.dumps({"reference": reference or f"FT{secrets.randbelow(10**12):012d}",
                       "account": account or gw.account_number, "amount": amount, "description": description,
                       "transaction_time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, ensure_ascii=False)
    ts = str(int(time.time()))
    url = settings().get("HCC_BANK_SANDBOX_NOTIFY_URL") or f"{settings().public_url}/callbacks/vietqr/bank"
    status = _notify("POST", url, data=body.encode(), headers={
        "Content-Type": "application/json", "X-Bank-Timestamp": ts,
        "X-Bank-Signature": sign_notification(gw.webhook_secret, ts, body)})
    return status, body


@bp.route("/bank/transfer", methods=["GET", "POST"])
def bank_transfer():
    """A bank app's transfer screen: the citizen sends money with the description from the QR, to the
    account the QR names (the default one or a unit's)."""
    form = request.form if request.method == "POST" else request.args
    gw = VietqrGateway(settings(), _merchant("vietqr", form.get("account") or None))
    if request.method == "POST":
        try:
            amount = int(request.form.get("amount", "0"))
        except ValueError:
            abort(400)
        status, _ = send_bank_credit(amount=amount, description=request.form.get("description", ""),
                                     account=gw.account_number)
        back = request.form.get("back") or "/"
        if not back.startswith("/") or back.startswith("//"):
            back = "/"
        return render_template("fees/sandbox_bank.html", sent=True, status=status, back=back, gw=gw,
                               amount=amount, description=request.form.get("description", ""))
    return render_template("fees/sandbox_bank.html", sent=False, gw=gw, amount=request.args.get("amount", ""),
                           description=request.args.get("description", ""), back=request.args.get("back", "/"))
