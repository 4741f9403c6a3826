"""REST API for shipments: create (from the one-stop system), read, label, cancel, batches and handover lists,
and a dossier collected by post confirmed received at the centre."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from api.auth import current_principal, require_roles
from api.context import db_session, settings
from api.schemas import PageArgs, page_schema, paginate
from carriers.base import FINAL_STATUSES
from core.errors import NotFound
from core.models import Centre
from core.text import content_disposition
from postal import documents
from postal.collection import confirm_received, request_collection
from postal.jobs import refresh_from_sandbox
from postal.models import DIRECTIONS, DispatchBatch, Shipment
from postal.shipments import (
    CARRIER_TITLES,
    Recipient,
    create_batch,
    create_shipment,
    get_shipment,
    overdue,
    staff_action,
)

blp = Blueprint("shipments", __name__, url_prefix="/api/v1", description="Postal dispatch: shipments and batches")

CARRIER_CHOICES = ("vnpost", "viettelpost", "ghn", "auto")


class ShipmentAddressIn(Schema):
    street = fields.String(required=True, validate=validate.Length(min=1, max=255))
    ward = fields.String(required=True, validate=validate.Length(min=1, max=128),
                         metadata={"description": "ward/commune name (diacritics optional) or code"})
    province = fields.String(required=True, validate=validate.Length(min=1, max=128))


class RecipientIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    phone = fields.String(required=True, validate=validate.Regexp(r"^\+?[0-9 .]{8,15}$",
                                                                  error="Số điện thoại không hợp lệ."))
    address = fields.Nested(ShipmentAddressIn, required=True)


class FeeLineIn(Schema):
    fee_code = fields.String(required=True, validate=validate.Length(min=1, max=32))
    quantity = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1000))


class ShipmentIn(Schema):
    centre_code = fields.String(load_default=None, validate=validate.Length(min=1, max=32), metadata={
        "description": "the centre that sends the result or receives the dossier: one of the caller's centres "
                       "(its home centre when omitted); a centre the caller does not see answers 404, like one "
                       "that does not exist"})
    dossier_code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    direction = fields.String(load_default="outbound", validate=validate.OneOf(DIRECTIONS))
    carrier = fields.String(load_default=None, validate=validate.OneOf(CARRIER_CHOICES),
                            metadata={"description": "carrier name, or `auto` for the cheapest quote"})
    service = fields.String(load_default=None, validate=validate.Length(max=32))
    recipient = fields.Nested(RecipientIn, required=True)
    weight_grams = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=50_000))
    cod_amount = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=1_000_000_000),
                                metadata={"description": "đồng collected by the postman, 0 for none: from the "
                                                         "recipient of a result (COD), or from the citizen when "
                                                         "a dossier is picked up (inbound, where the carrier "
                                                         "collects fees on pickup)"})
    items = fields.List(fields.Nested(FeeLineIn), load_default=None,
                        metadata={"description": "fee lines of the COD payment (default: one line of cod_amount)"})
    promised_date = fields.Date(load_default=None, metadata={"description": "date promised to the citizen"})
    note = fields.String(load_default=None, validate=validate.Length(max=500))


class EventOut(Schema):
    status = fields.String()
    carrier_status = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    occurred_at = fields.AwareDateTime()
    source = fields.String()
    applied = fields.Boolean()


class ShipmentOut(Schema):
    id = fields.Integer()
    centre_code = fields.Function(lambda s: _centre_code(s.centre_id), metadata={"description": "whose parcel"})
    code = fields.String()
    dossier_code = fields.String()
    direction = fields.String()
    carrier = fields.String()
    service = fields.String(allow_none=True)
    status = fields.String()
    carrier_status = fields.String(allow_none=True)
    tracking_code = fields.String(allow_none=True)
    tracking_url = fields.Method("_tracking_url")
    weight_grams = fields.Integer()
    cod_amount = fields.Integer()
    cod_collected = fields.Integer(allow_none=True)
    fee = fields.Integer(allow_none=True)
    payment_id = fields.Integer(allow_none=True)
    promised_date = fields.Date(allow_none=True)
    rates = fields.List(fields.Dict())
    choice = fields.String(allow_none=True)
    pickup_window = fields.String(allow_none=True, metadata={"description": "dossier pickup: when the postman comes"})
    flags = fields.List(fields.String())
    last_error = fields.String(allow_none=True)
    has_label = fields.Method("_has_label")
    batch_id = fields.Integer(allow_none=True)
    created_at = fields.AwareDateTime()
    delivered_at = fields.AwareDateTime(allow_none=True, metadata={
        "description": "when the carrier delivered it (for a dossier pickup: handed over at the centre)"})
    received_at = fields.AwareDateTime(allow_none=True, metadata={
        "description": "dossier pickup: when the centre's receiving desk confirmed it has the dossier"})
    received_by = fields.String(allow_none=True)
    events = fields.List(fields.Nested(EventOut))

    def _tracking_url(self, s):
        return f"{settings().public_url}/t/{s.code}"

    def _has_label(self, s):
        return documents.label_available(s)


class ShipmentSummaryOut(ShipmentOut):
    class Meta:
        exclude = ("events",)


class ShipmentQuery(PageArgs):
    status = fields.String(load_default=None)
    dossier_code = fields.String(load_default=None)
    carrier = fields.String(load_default=None)


class ActionIn(Schema):
    note = fields.String(load_default=None, validate=validate.Length(max=500))


class BatchIn(Schema):
    shipment_ids = fields.List(fields.Integer(), required=True, validate=validate.Length(min=1, max=500), metadata={
        "description": "parcels of one centre of the caller's (the batch is that centre's) and one carrier"})


class BatchOut(Schema):
    id = fields.Integer()
    code = fields.String()
    carrier = fields.String()
    created_at = fields.AwareDateTime()
    shipment_ids = fields.Method("_ids")
    handover_url = fields.Method("_handover")
    labels_url = fields.Method("_labels")

    def _ids(self, b):
        return [s.id for s in b.shipments]

    def _handover(self, b):
        return f"/api/v1/shipments/batches/{b.id}/handover.pdf"

    def _labels(self, b):
        return f"/api/v1/shipments/batches/{b.id}/labels.pdf"


ShipmentPage = page_schema(ShipmentOut, "ShipmentPage")


def _centre_code(centre_id: int) -> str | None:
    centre = db_session().get(Centre, centre_id)
    return centre.code if centre is not None else None


def _shipment(session, shipment_id: int):
    """The shipment if it is of one of the caller's centres; any other answers 404, as if it did not exist."""
    s = get_shipment(session, shipment_id)
    if not current_principal().sees(s.centre_id):
        raise NotFound("shipment not found")
    return s


def _pdf(data: bytes, filename: str) -> Response:
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": content_disposition(filename)})


@blp.route("/shipments")
class Shipments(MethodView):
    @require_roles("dispatcher")
    @blp.arguments(ShipmentIn)
    @blp.response(201, ShipmentOut)
    def post(self, data):
        """Send a result (outbound) or order a dossier pickup (inbound); created at the carrier in the background."""
        p = current_principal()
        session = db_session()
        centre = p.centre(session, data.get("centre_code"))
        r = data["recipient"]
        person = Recipient(name=r["name"], phone=r["phone"], street=r["address"]["street"],
                           ward=r["address"]["ward"], province=r["address"]["province"])
        if data["direction"] == "inbound":
            # A dossier collected by post: the citizen is the sender, the fee may be collected on pickup.
            s = request_collection(session, centre, settings(), dossier_code=data["dossier_code"], citizen=person,
                                   weight_grams=data["weight_grams"], actor=p.actor(), carrier=data["carrier"],
                                   cod_amount=data["cod_amount"], items=data["items"], service=data["service"],
                                   promised_date=data["promised_date"], note=data["note"])
        else:
            s = create_shipment(session, centre, settings(), dossier_code=data["dossier_code"], recipient=person,
                                weight_grams=data["weight_grams"], actor=p.actor(), direction=data["direction"],
                                carrier=data["carrier"], cod_amount=data["cod_amount"], service=data["service"],
                                promised_date=data["promised_date"], note=data["note"], items=data["items"])
        session.commit()
        session.refresh(s)
        return s

    @require_roles("dispatcher")
    @blp.arguments(ShipmentQuery, location="query")
    @blp.response(200, ShipmentPage)
    def get(self, args):
        """The shipments of the caller's centres, newest first, by status, dossier or carrier."""
        stmt = current_principal().scope(select(Shipment), Shipment.centre_id).order_by(Shipment.id.desc())
        for name in ("status", "dossier_code", "carrier"):
            if args.get(name):
                stmt = stmt.where(getattr(Shipment, name) == args[name])
        return paginate(db_session(), stmt, args["page"], args["per_page"])


@blp.route("/shipments/overdue")
class OverdueShipments(MethodView):
    @require_roles("dispatcher")
    @blp.response(200, ShipmentSummaryOut(many=True))
    def get(self):
        """Results not delivered by their promised date (oldest promise first), for the late-results report."""
        session = db_session()
        rows = [s for centre in current_principal().centres(session) for s in overdue(session, centre.id)]
        return sorted(rows, key=lambda s: (s.promised_date, s.id))


@blp.route("/shipments/<int:shipment_id>/apology.pdf")
class ShipmentApology(MethodView):
    @require_roles("dispatcher")
    @blp.response(200, {"format": "binary", "type": "string"}, content_type="application/pdf")
    def get(self, shipment_id: int):
        """The letter of apology (thư xin lỗi) for a result returned after its promised date."""
        session = db_session()
        s = _shipment(session, shipment_id)
        return _pdf(documents.apology_pdf(s, session.get(Centre, s.centre_id)), f"thu-xin-loi-{s.dossier_code}.pdf")


@blp.route("/shipments/<int:shipment_id>")
class ShipmentItem(MethodView):
    @require_roles("dispatcher")
    @blp.response(200, ShipmentOut)
    def get(self, shipment_id: int):
        """A shipment with its status, tracking code and every carrier event (raw events kept)."""
        s = _shipment(db_session(), shipment_id)
        if s.tracking_code and s.status not in FINAL_STATUSES and settings().sandbox:
            refresh_from_sandbox(s.carrier)
            db_session().expire_all()
            s = _shipment(db_session(), shipment_id)
        return s


@blp.route("/shipments/<int:shipment_id>/label")
class ShipmentLabel(MethodView):
    @require_roles("dispatcher")
    @blp.response(200, {"format": "binary", "type": "string"}, content_type="application/pdf")
    def get(self, shipment_id: int):
        """The label to print: the carrier's own, stored when it created the parcel; for a carrier that
        gives none, ours (A6, the tracking code as a Code 128 barcode for a 203 dpi thermal printer)."""
        s = _shipment(db_session(), shipment_id)
        label = documents.shipment_label(s)
        if label is None:
            raise NotFound("the label is not available yet")
        return _pdf(label, f"nhan-{s.tracking_code or s.code}.pdf")


def _action(shipment_id: int, action: str, data: dict):
    p = current_principal()
    session = db_session()
    s = _shipment(session, shipment_id)
    staff_action(session, s, action, actor=p.actor(), settings=settings(), note=data.get("note"))
    session.commit()
    return s


@blp.route("/shipments/<int:shipment_id>/cancel")
class ShipmentCancel(MethodView):
    @require_roles("dispatcher")
    @blp.arguments(ActionIn)
    @blp.response(200, ShipmentOut)
    def post(self, data, shipment_id: int):
        """Cancel a shipment not yet picked up (at the carrier too); its COD payment is cancelled."""
        return _action(shipment_id, "cancel", data)


@blp.route("/shipments/<int:shipment_id>/return")
class ShipmentReturn(MethodView):
    @require_roles("dispatcher")
    @blp.arguments(ActionIn)
    @blp.response(200, ShipmentOut)
    def post(self, data, shipment_id: int):
        """Have a parcel that could not be delivered returned to the centre."""
        return _action(shipment_id, "return", data)


@blp.route("/shipments/<int:shipment_id>/redeliver")
class ShipmentRedeliver(MethodView):
    @require_roles("dispatcher")
    @blp.arguments(ActionIn)
    @blp.response(200, ShipmentOut)
    def post(self, data, shipment_id: int):
        """Ask for another delivery attempt of a parcel that could not be delivered."""
        return _action(shipment_id, "redeliver", data)


@blp.route("/shipments/<int:shipment_id>/received")
class ShipmentReceived(MethodView):
    @require_roles("dispatcher")
    @blp.arguments(ActionIn)
    @blp.response(200, ShipmentOut)
    def post(self, data, shipment_id: int):
        """A dossier collected by post is at the centre: the receiving desk has it (recorded once, with
        who and when). The one-stop system is told by the `shipment.received_at_centre` webhook. 409 when
        it was received already, or the parcel is not a dossier coming to the centre."""
        p = current_principal()
        session = db_session()
        s = _shipment(session, shipment_id)
        confirm_received(session, s, actor=p.actor(), note=data.get("note"))
        session.commit()
        session.refresh(s)
        return s


@blp.route("/shipments/batches")
class Batches(MethodView):
    @require_roles("dispatcher")
    @blp.arguments(BatchIn)
    @blp.response(201, BatchOut)
    def post(self, data):
        """Group parcels of one carrier for one pickup; the handover list and labels come with it."""
        p = current_principal()
        session = db_session()
        # The batch is the centre of its parcels (create_batch refuses parcels of another centre, or none).
        ids = [i for i in data["shipment_ids"] if 0 < i < 2**63]
        centres = set(session.scalars(p.scope(select(Shipment.centre_id).where(Shipment.id.in_(ids)),
                                              Shipment.centre_id).distinct()))
        centre = session.get(Centre, centres.pop() if len(centres) == 1 else p.centre_id)
        batch = create_batch(session, centre, data["shipment_ids"], actor=p.actor())
        session.commit()
        session.refresh(batch)
        return batch


def _batch(batch_id: int) -> DispatchBatch:
    batch = db_session().get(DispatchBatch, batch_id) if 0 < batch_id < 2**63 else None
    if batch is None or not current_principal().sees(batch.centre_id):
        raise NotFound("batch not found")
    return batch


@blp.route("/shipments/batches/<int:batch_id>/handover.pdf")
class BatchHandover(MethodView):
    @require_roles("dispatcher")
    @blp.response(200, {"format": "binary", "type": "string"}, content_type="application/pdf")
    def get(self, batch_id: int):
        """The handover list (bảng kê) with every parcel, tracking code, COD and signature boxes."""
        batch = _batch(batch_id)
        centre = db_session().get(Centre, batch.centre_id)
        pdf = documents.handover_pdf(batch, centre, CARRIER_TITLES.get(batch.carrier, batch.carrier))
        return _pdf(pdf, f"bang-ke-{batch.code}.pdf")


@blp.route("/shipments/batches/<int:batch_id>/labels.pdf")
class BatchLabels(MethodView):
    @require_roles("dispatcher")
    @blp.response(200, {"format": "binary", "type": "string"}, content_type="application/pdf")
    def get(self, batch_id: int):
        """Every label of the batch in one PDF."""
        batch = _batch(batch_id)
        return _pdf(documents.labels_pdf(batch.shipments), f"nhan-{batch.code}.pdf")


__all__ = ["blp"]
