"""`GET /api/v1/stats`: the figures provinces report, per procedure, unit, centre, level or month."""

from __future__ import annotations

from flask import jsonify
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select

from api.auth import current_principal, require_roles
from api.context import db_session
from core.errors import NotFound
from province.models import CollectingUnit
from stats.queries import GROUPS, MAX_DAYS, compute

blp = Blueprint("stats", __name__, url_prefix="/api/v1", description="Statistics provinces report monthly")

STAFF_ROLES = ("dispatcher", "cashier", "finance")


class StatsQuery(Schema):
    start = fields.Date(required=True, data_key="from", metadata={"description": "first Vietnamese day (YYYY-MM-DD)"})
    end = fields.Date(required=True, data_key="to", metadata={"description": "last Vietnamese day, inclusive"})
    group_by = fields.String(load_default="procedure", validate=validate.OneOf(GROUPS))
    centre_code = fields.String(load_default=None, validate=validate.Length(min=1, max=32), metadata={
        "description": "only this centre (one the caller sees; another answers 404 like one that does not exist)"})
    unit_code = fields.String(load_default=None, validate=validate.Length(min=1, max=32),
                              metadata={"description": "only this collecting unit's dossiers, fees and receipts"})

    @validates_schema
    def _period(self, data, **_):
        if data["start"] > data["end"]:
            raise ValidationError("'from' must not be after 'to'", field_name="from")
        if (data["end"] - data["start"]).days + 1 > MAX_DAYS:
            raise ValidationError(f"at most {MAX_DAYS} days", field_name="to")


class FeesByKind(Schema):
    phi = fields.Integer(metadata={"description": "phí, đồng"})
    le_phi = fields.Integer(metadata={"description": "lệ phí, đồng"})


class StatsRow(Schema):
    key = fields.String(allow_none=True, metadata={
        "description": "procedure code, unit code, centre code, level or YYYY-MM; null for what has no dossier/unit"})
    label = fields.String()
    received = fields.Integer(metadata={"description": "dossiers received in the period"})
    resolved = fields.Integer(metadata={"description": "dossiers whose result was returned in the period"})
    early = fields.Integer(metadata={"description": "of `resolved`, returned before the appointment date"})
    on_time = fields.Integer(metadata={"description": "of `resolved`, returned on the appointment date "
                                                      "(or the next business day when that became a holiday)"})
    late = fields.Integer(metadata={"description": "every dossier late in the period: `late_resolved` + `late_open`"})
    late_resolved = fields.Integer(metadata={"description": "of `resolved`, returned after the deadline"})
    late_open = fields.Integer(metadata={"description": "not returned by the end of the period (or now) though its "
                                                        "deadline day, in the period, is over"})
    by_post_received = fields.Integer(metadata={"description": "dossiers collected by post and received at the centre"})
    by_post_returned = fields.Integer(metadata={"description": "results sent by post (shipments not cancelled)"})
    fees_collected = fields.Integer(metadata={"description": "đồng, fee lines of payments paid in the period"})
    fees_by_kind = fields.Nested(FeesByKind)
    fees_by_channel = fields.Dict(keys=fields.String(), values=fields.Integer())
    fees_online = fields.Integer(metadata={"description": "đồng paid through VNPAY, MoMo or VietQR"})
    online_share = fields.Float(allow_none=True, metadata={"description": "fees_online / fees_collected (0..1)"})
    receipts_issued = fields.Integer()
    receipts_automatic = fields.Integer(metadata={"description": "online and COD receipts issued with no staff action"})
    receipts_automatic_share = fields.Float(allow_none=True)


class StatsAnswer(Schema):
    start = fields.Date(data_key="from")
    end = fields.Date(data_key="to")
    group_by = fields.String()
    rows = fields.List(fields.Nested(StatsRow))
    total = fields.Nested(StatsRow)


def unit_id_for(session, code: str | None) -> int | None:
    if not code:
        return None
    unit_id = session.scalar(select(CollectingUnit.id).where(CollectingUnit.code == code))
    if unit_id is None:
        raise NotFound(f"Không có đơn vị mã {code!r}", errors={"unit_code": ["Không có đơn vị này."]})
    return unit_id


@blp.route("/stats")
class Stats(MethodView):
    @require_roles(*STAFF_ROLES)
    @blp.arguments(StatsQuery, location="query")
    @blp.response(200, StatsAnswer)
    def get(self, args):
        """Dossiers received and resolved (early, on time, late), by post, fees and receipts, per group.

        Limited to the caller's centres (the whole province for a province-wide key). Every figure is
        defined in docs/statistics.md."""
        p = current_principal()
        session = db_session()
        centre_ids = p.centre_ids
        if args.get("centre_code"):
            centre_ids = frozenset({p.centre(session, args["centre_code"]).id})
        s = compute(session, args["start"], args["end"], args["group_by"], centre_ids=centre_ids,
                    unit_id=unit_id_for(session, args.get("unit_code")))
        return jsonify(s.as_dict())
