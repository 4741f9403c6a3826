"""The sandboxes' settlement files, downloaded as a merchant downloads them from the gateway's or carrier's portal:
VNPAY's reconciliation file and MoMo's settlement report for a day, a carrier's COD remittance for a period.
Only in sandbox mode (like api/fees/sandbox.py); the files are built by fees.gateways.settlement_sandbox and
finance.settlement_files from what the sandboxes took as paid or delivered."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, abort, request

from api.context import settings
from core.text import content_disposition
from fees import merchants
from fees.gateways.settlement_sandbox import settlement_file
from finance.settlement_files import CARRIER_NAMES, cod_remittance
from finance.settlements import fee_rates

bp = Blueprint("finance_sandbox", __name__, url_prefix="/sandbox")


@bp.before_request
def _only_in_sandbox_mode():
    if not settings().sandbox:
        abort(404)


def _day(value: str | None) -> date:
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        abort(400)


def _csv(data: bytes, filename: str, batch_ref: str, description: str) -> Response:
    resp = Response(data, mimetype="text/csv; charset=utf-8")
    resp.headers["Content-Disposition"] = content_disposition(filename)
    # What the bank will say when the batch is paid, so a test or a demo can build the statement line.
    resp.headers["X-Settlement-Batch"] = batch_ref
    resp.headers["X-Transfer-Description"] = description
    return resp


@bp.get("/<any(vnpay, momo):gateway>/settlement/<day>.csv")
def gateway_settlement(gateway: str, day: str):
    """The file of one settlement day; `merchant` names the TmnCode / partnerCode (default: the deployment's)."""
    account = merchants.default_account(settings(), gateway)
    merchant = request.args.get("merchant") or (account.tmn_code if gateway == "vnpay" else account.partner_code)
    rate = fee_rates(settings()).get(gateway)
    if rate is None or not merchant:
        abort(404)
    sf = settlement_file(gateway, _day(day), merchant=merchant[:32], rate=rate)
    return _csv(sf.data, f"{gateway}-doisoat-{sf.day:%Y%m%d}.csv", sf.batch_ref, sf.description)


@bp.get("/cod-remittance/<carrier>.csv")
def carrier_remittance(carrier: str):
    """A carrier's COD remittance for deliveries from `from` to `to` (Vietnamese days, ISO dates)."""
    from carriers.sandbox import store_for

    if carrier not in CARRIER_NAMES:
        abort(404)
    start, end = _day(request.args.get("from")), _day(request.args.get("to"))
    if end < start or (end - start).days > 62:
        abort(400)
    rf = cod_remittance(store_for(settings()), carrier, start, end)
    return _csv(rf.data, f"{carrier}-cod-{start:%Y%m%d}-{end:%Y%m%d}.csv", rf.batch_ref, rf.description)
