"""REST API for dossiers: the one-stop system creates or updates a dossier by its code, and reads it back with
whether it is late, its apologies, payments and shipments."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from api.auth import current_principal, require_roles
from api.context import db_session, settings
from core.errors import NotFound
from core.models import Centre
from dossiers import service
from dossiers.models import DELIVERIES, LEVELS, STATUSES, SUBMISSIONS, Dossier
from dossiers.sync import Citizen, DossierData, upsert_dossier
from province.models import CollectingUnit

blp = Blueprint("dossiers", __name__, url_prefix="/api/v1", description="Dossiers synced from the one-stop system")

CODE_PATTERN = r"^[^/\s]{1,64}$"


class DossierProblem(Schema):
    """RFC 7807 problem+json, as api/errors.py answers every error."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    instance = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.Raw())


def _errors(*codes: int):
    """Document the problem+json answers a view may give besides the common ones (400 a body that is not JSON,
    404 a dossier not of the caller's centres: the path's code is a string, so openapi.finish adds no 404)."""

    def decorate(view):
        for code in codes:
            view = blp.alt_response(code, schema=DossierProblem, content_type="application/problem+json",
                                    description="problem+json")(view)
        return view

    return decorate


class DossierAddressIn(Schema):
    street = fields.String(required=True, validate=validate.Length(min=1, max=255))
    ward = fields.String(required=True, validate=validate.Length(min=1, max=128),
                         metadata={"description": "ward/commune name (diacritics optional) or code"})
    province = fields.String(required=True, validate=validate.Length(min=1, max=128))


class DossierCitizenIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(
        r"^\+?[0-9 .]{8,15}$", error="Số điện thoại không hợp lệ."))
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=255))
    address = fields.Nested(DossierAddressIn, load_default=None, allow_none=True,
                            metadata={"description": "required when `delivery` is `post`"})


class DossierIn(Schema):
    centre_code = fields.String(load_default=None, validate=validate.Length(min=1, max=32), metadata={
        "description": "the centre that received the dossier: one of the caller's centres (its home centre when "
                       "omitted); a centre the caller does not see answers 404"})
    procedure_code = fields.String(required=True, validate=validate.Length(min=1, max=64),
                                   metadata={"description": "mã thủ tục in the national catalogue, e.g. 1.004227"})
    procedure_name = fields.String(required=True, validate=validate.Length(min=1, max=500))
    unit_code = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=32), metadata={
        "description": "the collecting unit's code; optional where the centre serves one unit"})
    level = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(LEVELS),
                          metadata={"description": "default: the centre's"})
    received_at = fields.AwareDateTime(required=True, metadata={"description": "ISO 8601 with its offset"})
    appointment_date = fields.Date(load_default=None, allow_none=True,
                                   metadata={"description": "ngày hẹn trả kết quả (Vietnamese calendar day)"})
    submission = fields.String(load_default="in_person", validate=validate.OneOf(SUBMISSIONS))
    delivery = fields.String(load_default="desk", validate=validate.OneOf(DELIVERIES))
    status = fields.String(load_default="received", validate=validate.OneOf(STATUSES))
    resolved_at = fields.AwareDateTime(load_default=None, allow_none=True, metadata={
        "description": "when the result was ready (default: when we are told `result_ready`)"})
    returned_at = fields.AwareDateTime(load_default=None, allow_none=True, metadata={
        "description": "when the result was handed over (default: when we are told `returned`)"})
    citizen = fields.Nested(DossierCitizenIn, required=True)


class DossierPaymentOut(Schema):
    id = fields.Integer()
    code = fields.String()
    status = fields.String()
    amount = fields.Integer(metadata={"description": "đồng"})
    paid_amount = fields.Integer()
    channel = fields.String(allow_none=True)
    paid_at = fields.AwareDateTime(allow_none=True)


class DossierShipmentOut(Schema):
    id = fields.Integer()
    code = fields.String()
    direction = fields.String()
    carrier = fields.String()
    status = fields.String()
    tracking_code = fields.String(allow_none=True)
    tracking_url = fields.Function(lambda s: f"{settings().public_url}/t/{s.code}")


class DossierAddressOut(Schema):
    street = fields.String(allow_none=True)
    ward = fields.String(allow_none=True)
    province = fields.String(allow_none=True)


class DossierCitizenOut(Schema):
    name = fields.String()
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    address = fields.Nested(DossierAddressOut)


class DossierOut(Schema):
    code = fields.String()
    centre_code = fields.String()
    procedure_code = fields.String()
    procedure_name = fields.String()
    unit_code = fields.String(allow_none=True)
    level = fields.String()
    received_at = fields.AwareDateTime()
    appointment_date = fields.Date(allow_none=True)
    submission = fields.String()
    delivery = fields.String()
    status = fields.String()
    resolved_at = fields.AwareDateTime(allow_none=True)
    returned_at = fields.AwareDateTime(allow_none=True)
    late = fields.Boolean(metadata={"description": "not returned by the appointment date (business days)"})
    apologies = fields.List(fields.Dict(), metadata={"description": "official apologies and new appointments"})
    citizen = fields.Nested(DossierCitizenOut)
    payments = fields.List(fields.Nested(DossierPaymentOut))
    shipments = fields.List(fields.Nested(DossierShipmentOut))
    result_shipment_id = fields.Integer(allow_none=True, metadata={
        "description": "the shipment created for a result by post"})
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


def dossier_out(session, dossier: Dossier) -> dict:
    centre = session.get(Centre, dossier.centre_id)
    unit = session.get(CollectingUnit, dossier.unit_id) if dossier.unit_id is not None else None
    return {
        "code": dossier.code, "centre_code": centre.code, "procedure_code": dossier.procedure_code,
        "procedure_name": dossier.procedure_name, "unit_code": unit.code if unit is not None else None,
        "level": dossier.level, "received_at": dossier.received_at, "appointment_date": dossier.appointment_date,
        "submission": dossier.submission, "delivery": dossier.delivery, "status": dossier.status,
        "resolved_at": dossier.resolved_at, "returned_at": dossier.returned_at,
        "late": service.is_late(session, dossier), "apologies": service.apologies_of(session, dossier),
        "citizen": {"name": dossier.citizen_name, "phone": dossier.citizen_phone, "email": dossier.citizen_email,
                    "address": {"street": dossier.street, "ward": dossier.ward, "province": dossier.province}},
        "payments": service.payments_of(session, dossier), "shipments": service.shipments_of(session, dossier),
        "result_shipment_id": dossier.result_shipment_id,
        "created_at": dossier.created_at, "updated_at": dossier.updated_at,
    }


def dossier_data(data: dict) -> DossierData:
    """The API's (and the inbound webhook's) loaded JSON as the domain takes it."""
    c = data["citizen"]
    address = c.get("address") or {}
    return DossierData(
        procedure_code=data["procedure_code"], procedure_name=data["procedure_name"],
        received_at=data["received_at"], unit_code=data.get("unit_code"), level=data.get("level"),
        appointment_date=data.get("appointment_date"), submission=data["submission"], delivery=data["delivery"],
        status=data["status"], resolved_at=data.get("resolved_at"), returned_at=data.get("returned_at"),
        citizen=Citizen(name=c["name"], phone=c.get("phone"), email=c.get("email"), street=address.get("street"),
                        ward=address.get("ward"), province=address.get("province")))


class DossierQuery(Schema):
    centre_code = fields.String(load_default=None, validate=validate.Length(min=1, max=32), metadata={
        "description": "for a key of several centres: whose dossier (codes are unique per centre)"})


def _visible_dossier(session, code: str, centre_code: str | None = None) -> Dossier:
    """The dossier `code` of one of the caller's centres; any other answers 404, as if it did not exist."""
    p = current_principal()
    stmt = p.scope(select(Dossier).where(Dossier.code == code), Dossier.centre_id)
    if centre_code:
        stmt = stmt.where(Dossier.centre_id == p.centre(session, centre_code).id)
    dossier = session.scalars(stmt.order_by(Dossier.id)).first()
    if dossier is None:
        raise NotFound("dossier not found")
    return dossier


@blp.route("/dossiers/<string:code>")
class DossierItem(MethodView):
    @require_roles("cashier", "dispatcher")
    @blp.arguments(DossierIn)
    @blp.response(200, DossierOut, description="updated (or the same push again)")
    @blp.alt_response(201, schema=DossierOut, description="created", success=True)
    @_errors(400, 404)
    def put(self, data, code: str):
        """Create or update the dossier `code` as the one-stop system holds it (idempotent by code).

        A dossier whose result goes by post (`delivery: post`) gets its shipment when it becomes
        `result_ready`, once; the one-stop system hears the tracking code by the `dossier.shipment_created`
        webhook. 404 when `centre_code` names a centre the caller does not see."""
        p = current_principal()
        session = db_session()
        centre = p.centre(session, data.get("centre_code"))
        dossier, created = upsert_dossier(session, settings(), centre, code, dossier_data(data), actor=p.actor())
        service.after_sync(session, settings(), dossier, actor=p.actor())
        session.commit()
        session.refresh(dossier)
        return Response(DossierOut().dumps(dossier_out(session, dossier)), status=201 if created else 200,
                        mimetype="application/json")

    @require_roles("cashier", "dispatcher")
    @blp.arguments(DossierQuery, location="query")
    @blp.response(200, DossierOut)
    @_errors(404)
    def get(self, args, code: str):
        """The dossier with its status, appointment date, whether it is late, its apologies, payments and
        shipments. Another centre's dossier answers 404."""
        session = db_session()
        return dossier_out(session, _visible_dossier(session, code, args.get("centre_code")))
