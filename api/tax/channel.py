"""Registration and transmission over HTTP and the CLI (`hcc tax register`, `hcc tax send`), and the sandbox."""

from __future__ import annotations

import hmac
from base64 import b64decode

import click
from flask import Blueprint, Response, abort, jsonify, request
from flask.cli import with_appcontext

from api.context import hcc, settings
from core.errors import DomainError

bp = Blueprint("tax_sandbox", __name__, url_prefix="/sandbox/tax")
XML = "application/xml; charset=utf-8"


def _sandbox():
    from tax.sandbox import sandbox_for

    return sandbox_for(settings())


def _authorised() -> bool:
    """HTTP Basic with the credentials the deployment gives its T-VAN (the sandbox accepts only those)."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        user, _, password = b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    s = settings()
    return (hmac.compare_digest(user, s.get("HCC_TAX_CHANNEL_USER") or "hcc-sandbox")
            and hmac.compare_digest(password, s.get("HCC_TAX_CHANNEL_PASSWORD") or "sandbox-tax"))


@bp.before_request
def _only_in_sandbox_mode():
    if not settings().sandbox:
        abort(404)


def _protocol(fn):
    from tax import codes
    from tax.sandbox import SandboxFault

    if not _authorised():
        return Response("Unauthorized", status=401, headers={"WWW-Authenticate": 'Basic realm="tvan"'})
    body = request.get_data(cache=False)
    if len(body) > codes.MAX_MESSAGE_BYTES + 4096:
        return Response("Payload Too Large", status=413)
    try:
        return Response(fn(body), status=200, content_type=XML)
    except SandboxFault as e:
        return Response(str(e), status=503, content_type="text/plain; charset=utf-8")


@bp.post("/tiep-nhan-thong-diep")
def receive():
    """TiepNhanThongDiep: one TDiep in, its 999 acknowledgement out."""
    return _protocol(lambda body: _sandbox().receive(body))


@bp.post("/tra-cuu-thong-diep")
def lookup():
    """TraCuuThongDiep: the answers so far to one MTDiep (KetQuaTraCuu)."""
    return _protocol(lambda body: _sandbox().lookup(body))


@bp.get("/_received")
def received():
    """What the sandbox tax authority has taken (tests count them): each MTDiep once, with its repeats."""
    mltdiep = request.args.get("mltdiep", type=int)
    rows = _sandbox().received(mltdiep)
    return jsonify({"count": len(rows), "messages": [
        {"mtdiep": r.mtdiep, "mltdiep": r.mltdiep, "mst": r.mst, "received_at": r.received_at,
         "deliveries": r.deliveries, "accepted": r.accepted, "reference": r.reference} for r in rows]})


@bp.post("/_faults")
def faults():
    """`fail_every`: answer 503 to one request in N (0: none); `slow`: seconds before each answer."""
    data = request.get_json(silent=True) or {}
    try:
        fail_every = int(data["fail_every"]) if "fail_every" in data else None
        slow = float(data["slow"]) if "slow" in data else None
    except (TypeError, ValueError):
        abort(400)
    return jsonify(_sandbox().set_faults(fail_every=fail_every, slow=slow))


@bp.post("/_taxpayers")
def taxpayers():
    """`unknown`: tax codes the sandbox tax authority does not know (their data is rejected, 30001)."""
    data = request.get_json(silent=True) or {}
    unknown = data.get("unknown") or []
    if not isinstance(unknown, list) or not all(isinstance(x, str) for x in unknown):
        abort(400)
    _sandbox().set_unknown_taxpayers(unknown)
    return jsonify({"unknown": sorted(_sandbox().unknown_taxpayers())})


# -- CLI ----------------------------------------------------------------------------------------------------------

@click.command("register")
@click.option("--unit", "unit_code", required=True, help="Collecting unit code.")
@click.option("--series", "series_id", type=int, default=None, help="Draft series id (default: the unit's newest).")
@with_appcontext
def register_command(unit_code: str, series_id: int | None):
    """Send the unit's registration (01/ĐKTĐ-CTĐT) for a draft series; it becomes registered when accepted."""
    from api.admin.cli import _actor
    from province import units
    from province.models import ReceiptSeries
    from tax.registration import register_unit

    with hcc().db.session() as session:
        try:
            unit = units.unit_by_code(session, unit_code)
            series = session.get(ReceiptSeries, series_id) if series_id else None
            if series_id and (series is None or series.unit_id != unit.id):
                raise click.ClickException(f"series {series_id} is not one of unit {unit_code}'s")
            message = register_unit(session, hcc().settings, unit, series=series, actor=_actor())
            series_id, mtdiep = message.series_id, message.mtdiep
            session.commit()
        except DomainError as e:
            raise click.ClickException(str(e)) from e
        from tax.models import TaxMessage

        message = session.get(TaxMessage, message.id)
        click.echo(f"registration {mtdiep} for series {series_id}: {message.status}")


@click.command("send")
@with_appcontext
def send_command():
    """Send now whatever waits for the tax authority, and ask for the answers still missing."""
    from core import jobs
    from tax.jobs import sweep_tax_messages

    with jobs.session_scope() as session:
        count = sweep_tax_messages(session)
        session.commit()
    click.echo(f"{count} message(s) re-driven")


def init_app(app, api, group) -> None:
    """Register this part's blueprints and commands on `group`."""
    if app.extensions["hcc"].settings.sandbox:
        app.register_blueprint(bp)
    group.add_command(register_command)
    group.add_command(send_command)
