"""Reconciliation and reports API (finance staff and systems with the finance role)."""

from __future__ import annotations

from datetime import date

from flask import Response, jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select

from api.auth import current_principal, require_roles
from api.context import db_session, settings
from api.schemas import PageArgs, page_schema, paginate
from core.errors import InvalidInput, NotFound
from finance.closing import close_day
from finance.models import DISCREPANCY_TYPES, RESOLUTION_ACTIONS, SOURCES, Discrepancy, SettlementBatch, StatementImport
from finance.reconcile import import_statement, late_days_setting, resolve_discrepancy
from finance.reports import summary, to_csv, to_xlsx
from finance.settlements import fee_rates

blp = Blueprint("reconciliation", __name__, url_prefix="/api/v1", description="Reconciliation and finance reports")


class ImportSchema(Schema):
    id = fields.Integer()
    source = fields.String()
    filename = fields.String()
    sha256 = fields.String()
    imported_at = fields.AwareDateTime()
    period_start = fields.Date(allow_none=True)
    period_end = fields.Date(allow_none=True)
    line_count = fields.Integer()
    matched_count = fields.Integer()
    discrepancy_count = fields.Integer()
    total_amount = fields.Integer()


class ImportResultSchema(Schema):
    statement = fields.Nested(ImportSchema)
    created = fields.Boolean(metadata={"description": "false when this exact file had been imported before"})
    matched = fields.Integer()
    discrepancies = fields.Integer()


CENTRE_CODE = ("one of the caller's centres (its home centre when omitted): one centre's books at a time; a "
               "centre the caller does not see answers 404, like one that does not exist")


class ImportForm(Schema):
    source = fields.String(required=True, validate=validate.OneOf(list(SOURCES)))
    centre_code = fields.String(load_default=None, validate=validate.Length(min=1, max=32))


# The upload is one multipart body: the `source` field and the `file`. flask-smorest documents a form
# schema as urlencoded (no file), so the body is described here and the form validated in the view.
IMPORT_BODY = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["source", "file"],
    "properties": {"source": {"type": "string", "enum": list(SOURCES)},
                   "centre_code": {"type": "string", "minLength": 1, "maxLength": 32,
                                   "description": "whose statement: " + CENTRE_CODE},
                   "file": {"type": "string", "format": "binary",
                            "description": "the statement, settlement or COD remittance file (CSV, XLSX, camt.053)"}},
}}}}


class DiscrepancySchema(Schema):
    id = fields.Integer()
    day = fields.Date()
    type = fields.String(metadata={"description": ", ".join(DISCREPANCY_TYPES)})
    channel = fields.String(allow_none=True)
    payment_id = fields.Integer(allow_none=True)
    line_id = fields.Integer(allow_none=True)
    import_id = fields.Integer(allow_none=True)
    expected_amount = fields.Integer(allow_none=True)
    actual_amount = fields.Integer(allow_none=True)
    detail = fields.String()
    status = fields.String()
    action = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    resolved_at = fields.AwareDateTime(allow_none=True)


class DiscrepancyQuery(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(["open", "resolved"]))
    type = fields.String(load_default=None, validate=validate.OneOf(DISCREPANCY_TYPES))
    day = fields.Date(load_default=None)


class ResolveIn(Schema):
    action = fields.String(required=True, validate=validate.OneOf(RESOLUTION_ACTIONS))
    note = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    payment_code = fields.String(load_default=None)


class PeriodQuery(Schema):
    centre_code = fields.String(load_default=None, validate=validate.Length(min=1, max=32),
                                metadata={"description": CENTRE_CODE})
    start = fields.Date(required=True, data_key="from")
    end = fields.Date(required=True, data_key="to")
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv", "xlsx"]))

    @validates_schema
    def _order(self, data, **_):
        if data["start"] > data["end"]:
            raise ValidationError("'from' must not be after 'to'", field_name="from")


class CloseDayIn(Schema):
    centre_code = fields.String(load_default=None, validate=validate.Length(min=1, max=32),
                                metadata={"description": "whose day: " + CENTRE_CODE})
    allow_empty = fields.Boolean(load_default=False, metadata={"description": (
        "confirm closing a day with nothing on its books (no payment, refund, receipt, statement line or "
        "discrepancy), such as a Sunday or a holiday; without it such a day answers 409 `day-empty`, "
        "since an empty day is more often a wrong date than a quiet one, and a close cannot be undone")})


class ClosedDaySchema(Schema):
    day = fields.Date()
    closed_at = fields.AwareDateTime()
    closed_by = fields.String()
    summary = fields.Dict()


class SettlementBatchSchema(Schema):
    id = fields.Integer()
    channel = fields.String()
    provider = fields.String()
    batch_ref = fields.String()
    settle_day = fields.Date()
    expected_credit = fields.Date()
    line_count = fields.Integer()
    gross = fields.Integer()
    fee = fields.Integer(metadata={"description": "the gateway's fee, or the carrier's postage and COD fee"})
    net = fields.Integer()
    status = fields.String(metadata={"description": "awaiting_credit, credited, late, net_differs"})
    credited_on = fields.Date(allow_none=True)
    credited_amount = fields.Integer(allow_none=True)


DiscrepancyPage = page_schema(DiscrepancySchema, "DiscrepancyPage")
BatchPage = page_schema(SettlementBatchSchema, "SettlementBatchPage")
ImportPage = page_schema(ImportSchema, "ImportPage")


@blp.route("/reconciliation/imports")
class Imports(MethodView):
    @require_roles("finance")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, ImportPage)
    def get(self, args):
        """Imported statements, newest first."""
        stmt = (current_principal().scope(select(StatementImport), StatementImport.centre_id)
                .order_by(StatementImport.id.desc()))
        return paginate(db_session(), stmt, args["page"], args["per_page"])

    @require_roles("finance")
    @blp.doc(requestBody=IMPORT_BODY)
    @blp.response(201, ImportResultSchema)
    @blp.alt_response(200, schema=ImportResultSchema, description="the same file was imported before")
    def post(self):
        """Import a statement or settlement file (multipart fields `source` and `file`) and match it."""
        form = ImportForm().load(request.form.to_dict())  # a ValidationError is a 422 naming the field
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise InvalidInput("no file", errors={"file": ["Chọn tệp sao kê để tải lên."]})
        p = current_principal()
        session = db_session()
        centre = p.centre(session, form.get("centre_code"))
        result = import_statement(session, centre.id, form["source"], upload.filename, upload.read(), p.actor(),
                                  late_days=late_days_setting(settings()), rates=fee_rates(settings()))
        session.commit()
        return result, (201 if result.created else 200)


@blp.route("/reconciliation/batches")
class Batches(MethodView):
    @require_roles("finance")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, BatchPage)
    def get(self, args):
        """Settlement batches (a gateway's day, a carrier's COD remittance) with gross, fee, net and their credit."""
        stmt = (current_principal().scope(select(SettlementBatch), SettlementBatch.centre_id)
                .order_by(SettlementBatch.settle_day.desc(), SettlementBatch.id.desc()))
        return paginate(db_session(), stmt, args["page"], args["per_page"])


@blp.route("/reconciliation/discrepancies")
class Discrepancies(MethodView):
    @require_roles("finance")
    @blp.arguments(DiscrepancyQuery, location="query")
    @blp.response(200, DiscrepancyPage)
    def get(self, args):
        """Discrepancies with their type, open ones first."""
        stmt = current_principal().scope(select(Discrepancy), Discrepancy.centre_id)
        for name in ("status", "type", "day"):
            if args.get(name):
                stmt = stmt.where(getattr(Discrepancy, name) == args[name])
        stmt = stmt.order_by(Discrepancy.status.desc(), Discrepancy.day.desc(), Discrepancy.id)
        return paginate(db_session(), stmt, args["page"], args["per_page"])


@blp.route("/reconciliation/discrepancies/<int:discrepancy_id>/resolve")
class Resolve(MethodView):
    @require_roles("finance")
    @blp.arguments(ResolveIn)
    @blp.response(200, DiscrepancySchema)
    def post(self, data, discrepancy_id):
        """Resolve a discrepancy: link it to a payment, mark a refund, write it off, or accept it; with a note."""
        p = current_principal()
        session = db_session()
        found = session.get(Discrepancy, discrepancy_id) if 0 < discrepancy_id < 2**63 else None
        if found is None or not p.sees(found.centre_id):
            raise NotFound("discrepancy not found")
        d = resolve_discrepancy(session, discrepancy_id, found.centre_id, action=data["action"], note=data["note"],
                                payment_code=data["payment_code"], actor=p.actor())
        session.commit()
        return d


@blp.route("/reconciliation/days/<day>/close", parameters=[
    {"in": "path", "name": "day", "required": True, "description": "a past Vietnamese calendar day",
     "schema": {"type": "string", "format": "date"}}])
class CloseDay(MethodView):
    @require_roles("finance")
    @blp.arguments(CloseDayIn, required=False)
    @blp.response(201, ClosedDaySchema)
    def post(self, data, day):
        """Close a past Vietnamese calendar day of one of the caller's centres (`centre_code`, default home): its payments, receipts and matches are frozen.

        Refused (409) while the day is not over, is already closed or has open discrepancies. A day with
        nothing on its books (a Sunday, a holiday) must be closed too, for the month to close, but only
        with `{"allow_empty": true}`: otherwise 409 `urn:hcc:problem:day-empty`, so that a mistyped date
        is not closed by accident."""
        try:
            the_day = date.fromisoformat(day)
        except ValueError as e:
            raise InvalidInput("bad day", errors={"day": ["Ngày phải có dạng YYYY-MM-DD."]}) from e
        p = current_principal()
        session = db_session()
        allow_empty = bool((data or {}).get("allow_empty"))
        centre = p.centre(session, (data or {}).get("centre_code"))
        closed = close_day(session, centre.id, the_day, p.actor(), allow_empty=allow_empty)
        session.commit()
        return closed


_COUNT = {"type": "integer", "minimum": 0}
REPORT_JSON = {
    "type": "object",
    "required": ["start", "end", "payments", "collected", "by_channel", "by_fee", "refunds", "refunded_payments",
                 "cod_collected", "cod_remitted"],
    "properties": {
        "start": {"type": "string", "format": "date"}, "end": {"type": "string", "format": "date"},
        "payments": _COUNT, "collected": {**_COUNT, "description": "đồng"},
        "by_channel": {"type": "object", "additionalProperties": {
            "type": "object", "properties": {"payments": _COUNT, "amount": _COUNT}}},
        "by_fee": {"type": "array", "items": {"type": "object", "properties": {
            "fee_code": {"type": "string"}, "name": {"type": "string"}, "kind": {"type": "string"},
            "quantity": _COUNT, "amount": _COUNT}}},
        "refunds": _COUNT, "refunded_payments": _COUNT, "cod_collected": _COUNT, "cod_remitted": _COUNT,
    },
    "additionalProperties": {"type": "object", "description": "a section other packages add, by its title: "
                                                              "receipts (`Biên lai`), dispatch (`Bưu chính`)"},
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FILE = {"type": "string", "format": "binary"}
REPORT_ANSWER = "the figures as JSON, or with `format=csv` or `format=xlsx` as a file to download"


@blp.route("/reports/summary")
class Report(MethodView):
    @require_roles("finance")
    @blp.arguments(PeriodQuery, location="query")
    @blp.response(200, REPORT_JSON, description=REPORT_ANSWER)
    @blp.alt_response(200, schema=FILE, content_type="text/csv", description=REPORT_ANSWER, success=True)
    @blp.alt_response(200, schema=FILE, content_type=XLSX, description=REPORT_ANSWER, success=True)
    def get(self, args):
        """Summary for Vietnamese days from..to: by channel, by fee type, refunds, COD, receipts, dispatch.

        `from` must not be after `to` (422). `format=csv` or `format=xlsx` downloads it."""
        centre = current_principal().centre(db_session(), args.get("centre_code"))
        s = summary(db_session(), centre.id, args["start"], args["end"])
        name = f"bao-cao-{args['start']:%Y%m%d}-{args['end']:%Y%m%d}"
        if args["format"] == "csv":
            return Response(to_csv(s), mimetype="text/csv",
                            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
        if args["format"] == "xlsx":
            return Response(to_xlsx(s), headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
                            mimetype=XLSX)
        return jsonify(s.as_dict())
