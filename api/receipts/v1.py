"""Receipts API: read a receipt and its PDF, verify any receipt PDF, the register, cancel and replace."""

from __future__ import annotations

import calendar
from datetime import date

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.fields import Upload
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from api.auth import current_principal, require_roles
from api.context import db_session, settings
from api.errors import problem
from api.schemas import PageArgs, page_schema, paginate
from core.errors import InvalidInput, NotFound
from core.models import Centre
from fees.models import CHANNELS
from receipts.issuance import adjust_receipt, cancel_receipt, lookup_url, read_pdf, replace_receipt
from receipts.models import RECEIPT_STATUSES, Receipt
from receipts.register import RegisterFilter, register_csv, register_query
from receipts.verify import verify_pdf

blp = Blueprint("receipts", __name__, url_prefix="/api/v1/receipts", description="Electronic receipts")
READERS = ("cashier", "finance", "dispatcher")


class LineSchema(Schema):
    fee_code = fields.String()
    name = fields.String()
    kind = fields.String(metadata={"description": "phi or le_phi"})
    quantity = fields.Integer()
    unit_amount = fields.Integer()
    amount = fields.Integer()


def _centre_code(centre_id: int | None) -> str | None:
    centre = db_session().get(Centre, centre_id) if centre_id is not None else None
    return centre.code if centre is not None else None


class UnitSchema(Schema):
    code = fields.String()
    name = fields.String()
    tax_code = fields.String(metadata={"description": "mã số thuế, 10 or 13 characters"})


class ReceiptSchema(Schema):
    id = fields.Integer()
    payment_id = fields.Integer()
    unit = fields.Nested(UnitSchema, allow_none=True, metadata={
        "description": "the collecting unit whose receipt it is: its name, tax code and series are on it"})
    centre_code = fields.Function(lambda r: _centre_code(r.centre_id), allow_none=True, metadata={"description": "the centre that collected"})
    template = fields.String(metadata={"description": "ký hiệu mẫu"})
    symbol = fields.String(metadata={"description": "ký hiệu, ending in the year's last two digits"})
    number = fields.String(attribute="number_text", metadata={"description": "zero-padded number"})
    lookup_code = fields.String()
    lookup_url = fields.Method("_lookup_url")
    status = fields.String(metadata={"description": ", ".join(RECEIPT_STATUSES)})
    amount = fields.Integer(metadata={"description": "đồng"})
    amount_in_words = fields.Function(lambda r: r.content.get("total_words"))
    channel = fields.String(allow_none=True)
    channel_ref = fields.String(allow_none=True)
    collected_at = fields.AwareDateTime()
    issued_at = fields.AwareDateTime(allow_none=True)
    sha256 = fields.String(allow_none=True)
    payer_name = fields.Function(lambda r: r.content["payer"]["name"])
    dossier_code = fields.Function(lambda r: r.content["dossier_code"])
    lines = fields.Function(lambda r: LineSchema(many=True).dump(r.content["lines"]))
    replaces_id = fields.Integer(allow_none=True)
    replaced_by_id = fields.Integer(allow_none=True)
    cancelled_at = fields.AwareDateTime(allow_none=True)
    cancel_reason = fields.String(allow_none=True)
    correction = fields.String(allow_none=True, metadata={"description": "replace or adjust: what this receipt corrects"})
    delta = fields.Integer(allow_none=True, metadata={"description": "an adjusting receipt's signed difference (đồng)"})

    def _lookup_url(self, r):
        return lookup_url(settings(), r.lookup_code)


TAX_STATUSES = ("pending", "sent", "accepted", "rejected")


class TaxMessageSchema(Schema):
    mtdiep = fields.String(metadata={"description": "message id (MTDiep): sender code and 32 hex digits"})
    mltdiep = fields.Integer(metadata={"description": "message type (MLTDiep): 211 receipt data, 999 acknowledgement, "
                                                      "212 the tax authority's result…"})
    direction = fields.String(validate=validate.OneOf(("out", "in")), metadata={"description": "out: sent by us"})
    status = fields.String()
    created_at = fields.AwareDateTime()


class ReceiptDetailSchema(ReceiptSchema):
    tax_status = fields.String(validate=validate.OneOf(TAX_STATUSES), metadata={
        "description": "where the receipt's data stands with the tax authority: pending (not yet through), sent "
                       "(acknowledged), accepted, rejected (see tax_reasons)"})
    tax_reasons = fields.List(fields.String(), metadata={"description": "why the tax authority rejected it"})
    tax_messages = fields.List(fields.Nested(TaxMessageSchema), metadata={
        "description": "the messages about this receipt, sent and received, oldest first"})


class _WithTax:
    """A receipt seen with its tax state, for ReceiptDetailSchema."""

    def __init__(self, receipt: Receipt, state):
        self._receipt = receipt
        self.tax_status, self.tax_reasons, self.tax_messages = state.status, state.reasons, state.messages

    def __getattr__(self, name):
        return getattr(self._receipt, name)


def _with_tax(receipt: Receipt) -> _WithTax:
    from tax.status import for_receipts

    return _WithTax(receipt, for_receipts(db_session(), [receipt.id])[receipt.id])


class RegisterQuery(PageArgs):
    start = fields.Date(load_default=None, data_key="from")
    end = fields.Date(load_default=None, data_key="to")
    status = fields.String(load_default=None, validate=validate.OneOf(RECEIPT_STATUSES))
    fee_code = fields.String(load_default=None)
    channel = fields.String(load_default=None, validate=validate.OneOf(CHANNELS))
    centre_id = fields.Integer(load_default=None, metadata={
        "description": "one of the caller's centres (default: its home centre); any other centre's id answers 404, "
                       "for every role including admin: a key reads only its own centres' receipts"})

    @validates_schema
    def _order(self, data, **_):
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise ValidationError("'from' must not be after 'to'", field_name="from")


class ExportQuery(Schema):
    centre_code = fields.String(load_default=None, validate=validate.Length(min=1, max=32), metadata={
        "description": "whose register: one of the caller's centres (the home centre when omitted); another "
                       "centre answers 404"})
    day = fields.Date(load_default=None)
    month = fields.String(load_default=None, validate=validate.Regexp(r"^\d{4}-\d{2}$"))

    @validates_schema
    def _one(self, data, **_):
        if bool(data.get("day")) == bool(data.get("month")):
            raise ValidationError("give exactly one of 'day' (YYYY-MM-DD) or 'month' (YYYY-MM)", field_name="day")


class ReasonIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=3, max=2000))


class PayerIn(Schema):
    """The payer's corrected data on a replacement receipt (what is left out stays as it was)."""

    name = fields.String(validate=validate.Length(min=2, max=255))
    address = fields.String(validate=validate.Length(max=500))
    tax_code = fields.String(validate=validate.Regexp(r"^\d{10}(-\d{3})?$"),
                             metadata={"description": "mã số thuế: 10 digits, or 10-3 for a branch"})
    id_number = fields.String(validate=validate.Regexp(r"^\d{12}$"), metadata={"description": "số định danh cá nhân (12 digits)"})


class LineIn(Schema):
    fee_code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    name = fields.String(required=True, validate=validate.Length(min=1, max=500))
    kind = fields.String(required=True, validate=validate.OneOf(("phi", "le_phi")))
    quantity = fields.Integer(required=True, validate=validate.Range(min=1, max=10_000))
    unit_amount = fields.Integer(required=True, validate=validate.Range(min=0, max=10**12))


class ReplaceIn(ReasonIn):
    payer = fields.Nested(PayerIn, load_default=None, metadata={"description": "corrected payer data"})
    lines = fields.List(fields.Nested(LineIn), load_default=None, validate=validate.Length(min=1, max=100),
                        metadata={"description": "corrected lines, same total (a wrong amount is adjusted instead)"})


class AdjustIn(ReasonIn):
    lines = fields.List(fields.Nested(LineIn), required=True, validate=validate.Length(min=1, max=100),
                        metadata={"description": "the corrected lines in full; the adjusting receipt carries the difference"})


class VerifyForm(Schema):
    file = Upload(required=True, metadata={"description": "the receipt PDF"})


class VerifyResultSchema(Schema):
    valid = fields.Boolean(required=True)
    reasons = fields.List(fields.String(), required=True)
    codes = fields.List(fields.String())
    signer = fields.String(allow_none=True)
    sha256 = fields.String()
    receipt = fields.Dict(allow_none=True)


ReceiptPage = page_schema(ReceiptSchema, "ReceiptPage")


def _centre_id(requested: int | None = None) -> int:
    # Admin is a role, not a scope: like every other object, another centre's register does not exist for
    # the caller (404, not 403, so a key cannot even learn which centre ids exist). One centre's register
    # at a time, as it is kept: the home centre unless the caller names another of its centres.
    p = current_principal()
    if requested is not None and not p.sees(requested):
        raise NotFound("centre not found")
    return p.centre_id if requested is None else requested


def _get(receipt_id: int) -> Receipt:
    r = db_session().get(Receipt, receipt_id) if 0 < receipt_id < 2**63 else None
    if r is None or not current_principal().sees(r.centre_id):
        raise NotFound("receipt not found")
    return r


@blp.route("")
class Register(MethodView):
    @require_roles(*READERS)
    @blp.arguments(RegisterQuery, location="query")
    @blp.response(200, ReceiptPage)
    def get(self, args):
        """A receipt register of one of the caller's centres (its home centre unless `centre_id` names another): filter by issue date range (Vietnamese days), status, fee type,
        channel. Another centre's `centre_id` answers 404, whatever the caller's roles."""
        f = RegisterFilter(centre_id=_centre_id(args.get("centre_id")), start=args.get("start"), end=args.get("end"),
                           status=args.get("status"), fee_code=args.get("fee_code"), channel=args.get("channel"))
        return paginate(db_session(), register_query(f), args["page"], args["per_page"])


@blp.route("/register.csv")
class RegisterExport(MethodView):
    @require_roles("finance")
    @blp.arguments(ExportQuery, location="query")
    @blp.response(200, {"type": "string", "format": "binary"}, content_type="text/csv")
    def get(self, args):
        """CSV export of the caller's centre's register for a Vietnamese day (`day=YYYY-MM-DD`) or month
        (`month=YYYY-MM`): exactly one of the two, else 422."""
        if args.get("day"):
            start = end = args["day"]
            name = f"so-bien-lai-{start:%Y%m%d}"
        else:
            try:
                y, m = (int(x) for x in args["month"].split("-"))
                start = date(y, m, 1)
            except ValueError as e:
                raise InvalidInput("bad month", errors={"month": ["Tháng phải có dạng YYYY-MM."]}) from e
            end = start.replace(day=calendar.monthrange(y, m)[1])
            name = f"so-bien-lai-{start:%Y%m}"
        centre = current_principal().centre(db_session(), args.get("centre_code"))
        rows = db_session().scalars(register_query(RegisterFilter(centre.id, start, end)))
        return Response(register_csv(rows), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


@blp.route("/verify")
class Verify(MethodView):
    @blp.doc(security=[])  # public (api/receipts/__init__.py), like the lookup page: no key, no Idempotency-Key
    @blp.arguments(VerifyForm, location="files")
    @blp.response(200, VerifyResultSchema)
    def post(self, form):
        """Verify a receipt PDF (multipart field `file`): our signature, unchanged, matches our record, not cancelled.
        Open to anyone, like the public lookup page."""
        return verify_pdf(db_session(), settings(), form["file"].read()).as_dict()


@blp.route("/<int:receipt_id>")
class ReceiptOne(MethodView):
    @require_roles(*READERS)
    @blp.response(200, ReceiptDetailSchema)
    def get(self, receipt_id):
        """One receipt, with where its data stands with the tax authority."""
        return _with_tax(_get(receipt_id))


@blp.route("/<int:receipt_id>/pdf")
class ReceiptPdf(MethodView):
    @require_roles(*READERS)
    @blp.response(200, {"type": "string", "format": "binary"}, content_type="application/pdf")
    def get(self, receipt_id):
        """The signed PDF, byte for byte as issued (the receipt's XML is attached inside). While the receipt is
        still being signed: 409 with `Retry-After`, never 404 (its number is taken and it will exist)."""
        r = _get(receipt_id)
        if r.storage_key is None and r.status == "pending":
            return problem(409, detail="Biên lai đang được ký, vui lòng thử lại sau ít giây.",
                           type_="urn:hcc:problem:receipt-being-issued", headers={"Retry-After": "5"})
        return Response(read_pdf(settings(), r), mimetype="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="bien-lai-{r.symbol}-{r.number_text}.pdf"'})


@blp.route("/<int:receipt_id>/cancel")
class Cancel(MethodView):
    @require_roles("finance")
    @blp.arguments(ReasonIn)
    @blp.response(200, ReceiptSchema)
    def post(self, data, receipt_id):
        """Cancel an issued receipt with a reason (audited; the receipt stays retrievable)."""
        p = current_principal()
        session = db_session()
        found = _get(receipt_id)
        r = cancel_receipt(session, found.id, reason=data["reason"], actor=p.actor(), centre_id=found.centre_id)
        session.commit()
        return r


@blp.route("/<int:receipt_id>/replace")
class Replace(MethodView):
    @require_roles("finance")
    @blp.arguments(ReplaceIn)
    @blp.response(201, ReceiptSchema)
    def post(self, data, receipt_id):
        """Replace an issued receipt made in error by a new one naming it, with the corrected payer data or
        lines; answers the new receipt. The tax authority is told on form 04/SS-CTĐT."""
        p = current_principal()
        session = db_session()
        found = _get(receipt_id)
        corrections = {**(data.get("payer") or {}), **({"lines": data["lines"]} if data.get("lines") else {})}
        new = replace_receipt(session, found.id, reason=data["reason"], actor=p.actor(), centre_id=found.centre_id,
                              corrections=corrections or None)
        session.commit()
        return new


@blp.route("/<int:receipt_id>/adjust")
class Adjust(MethodView):
    @require_roles("finance")
    @blp.arguments(AdjustIn)
    @blp.response(201, ReceiptSchema)
    def post(self, data, receipt_id):
        """Issue an adjusting receipt (biên lai điều chỉnh) for an issued receipt whose lines or amount were wrong:
        it carries the difference and names the original, which stays valid. Told on form 04/SS-CTĐT."""
        p = current_principal()
        session = db_session()
        found = _get(receipt_id)
        new = adjust_receipt(session, found.id, reason=data["reason"], lines=data["lines"], actor=p.actor(),
                             centre_id=found.centre_id)
        session.commit()
        return new
