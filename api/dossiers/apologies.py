"""REST API for official apologies: issue one for a dossier before it is late, list them, fetch the PDF."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from api.auth import current_principal, require_roles
from api.context import db_session
from core.errors import NotFound
from core.text import content_disposition
from dossiers import apologies
from dossiers.apologies import DossierApology
from dossiers.models import Dossier

blp = Blueprint("dossier_apologies", __name__, url_prefix="/api/v1",
                description="Official apologies and new appointment dates for dossiers")


class ApologyIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=apologies.REASON_MAX),
                           metadata={"description": "why the result is not ready on the appointment date"})
    new_appointment_date = fields.String(required=True, metadata={
        "description": "ISO 8601 date (YYYY-MM-DD): a business day after the current appointment date"})
    centre_code = fields.String(load_default=None, validate=validate.Length(min=1, max=32), metadata={
        "description": "the dossier's centre when the caller sees several with the same dossier code"})


class ApologyOut(Schema):
    id = fields.Integer()
    number = fields.String(metadata={"description": "the slip's number, e.g. 03/PXL (per centre and year)"})
    dossier_code = fields.String()
    reason = fields.String()
    issued_at = fields.String()
    issued_by = fields.String()
    previous_appointment_date = fields.String()
    new_appointment_date = fields.String()
    pdf_url = fields.String()


def _dossier(session, code: str, centre_code: str | None = None) -> Dossier:
    """The dossier `code` of one of the caller's centres; any other answers 404, as if it did not exist."""
    p = current_principal()
    stmt = select(Dossier).where(Dossier.code == code)
    if centre_code:
        stmt = stmt.where(Dossier.centre_id == p.centre(session, centre_code).id)
    dossier = session.scalars(p.scope(stmt, Dossier.centre_id).order_by(Dossier.id)).first()
    if dossier is None:
        raise NotFound("dossier not found")
    return dossier


def _out(a: DossierApology | dict, code: str) -> dict:
    data = apologies.as_dict(a) if isinstance(a, DossierApology) else dict(a)
    return {**data, "dossier_code": code}


@blp.route("/dossiers/<string:code>/apologies")
class DossierApologies(MethodView):
    @require_roles("dispatcher")
    @blp.arguments(ApologyIn)
    @blp.response(201, ApologyOut)
    def post(self, data, code: str):
        """Issue the official apology and new appointment slip (before the dossier is late: 409 after).

        The dossier's appointment moves to `new_appointment_date`; the PDF is sent to the citizen."""
        p = current_principal()
        session = db_session()
        dossier = _dossier(session, code, data.get("centre_code"))
        apology = apologies.issue_apology(session, dossier, reason=data["reason"],
                                          new_appointment_date=data["new_appointment_date"], actor=p.actor())
        session.commit()
        return _out(apology, dossier.code)

    @require_roles("cashier", "dispatcher")
    @blp.response(200, ApologyOut(many=True))
    def get(self, code: str):
        """The dossier's apologies, oldest first."""
        session = db_session()
        dossier = _dossier(session, code)
        return [_out(a, dossier.code) for a in apologies.for_dossier(session, dossier.id)]


@blp.route("/dossier-apologies/<int:apology_id>/pdf")
class ApologyPdf(MethodView):
    @require_roles("cashier", "dispatcher")
    @blp.response(200, {"format": "binary", "type": "string"}, content_type="application/pdf")
    def get(self, apology_id: int):
        """The slip as PDF (the layout of form 04). Another centre's slip answers 404."""
        session = db_session()
        a = session.get(DossierApology, apology_id)
        if a is None or a.storage_key is None or not current_principal().sees(a.centre_id):
            raise NotFound("apology not found")
        code = session.scalar(select(Dossier.code).where(Dossier.id == a.dossier_id))
        return Response(apologies.pdf_bytes(a), mimetype="application/pdf",
                        headers={"Content-Disposition": content_disposition(f"phieu-xin-loi-{code}-{a.id}.pdf")})
