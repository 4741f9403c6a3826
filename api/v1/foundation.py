"""API endpoints every feature shares: the caller, addresses, the audit log."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from api.auth import current_principal, require_roles
from api.context import db_session
from api.schemas import PageArgs, page_schema, paginate
from core.addresses import AddressError, resolve_address, search_provinces, search_wards
from core.errors import InvalidInput
from core.models import AuditLog, Centre, Province

blp = Blueprint("foundation", __name__, url_prefix="/api/v1", description="Caller, addresses and audit log")


class CentreSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    tax_code = fields.String()
    address = fields.String()


class MeSchema(Schema):
    kind = fields.String(metadata={"description": "`user` or `api_client`"})
    id = fields.Integer()
    name = fields.String()
    roles = fields.List(fields.String())
    centre = fields.Nested(CentreSchema, metadata={"description": "the home centre, where objects are created "
                                                                  "unless a request names another `centre_code`"})
    centres = fields.List(fields.Nested(CentreSchema), metadata={
        "description": "every centre the caller sees (its objects answer; any other centre's answer 404)"})
    province_wide = fields.Boolean(metadata={"description": "sees the whole province, centres added later too"})


class ProvinceSchema(Schema):
    code = fields.String()
    name = fields.String()
    division_type = fields.String()


class WardSchema(Schema):
    code = fields.String()
    name = fields.String()
    division_type = fields.String()
    province_code = fields.String()


class WardQuery(Schema):
    q = fields.String(required=True, validate=validate.Length(min=1, max=100),
                      metadata={"description": "name, with or without diacritics ('thanh xuan')"})
    province = fields.String(load_default=None, metadata={"description": "province code"})


class ProvinceQuery(Schema):
    q = fields.String(load_default="")


class AddressIn(Schema):
    street = fields.String(required=True, validate=validate.Length(min=1, max=255))
    ward = fields.String(required=True, validate=validate.Length(min=1, max=128))
    province = fields.String(required=True, validate=validate.Length(min=1, max=128))


class AddressOut(Schema):
    street = fields.String()
    ward_code = fields.String()
    ward_name = fields.String()
    province_code = fields.String()
    province_name = fields.String()
    full = fields.String()


class AuditSchema(Schema):
    id = fields.Integer()
    at = fields.AwareDateTime()
    actor_type = fields.String()
    actor_id = fields.String(allow_none=True)
    actor_name = fields.String(allow_none=True)
    action = fields.String()
    entity_type = fields.String(allow_none=True)
    entity_id = fields.String(allow_none=True)
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)
    detail = fields.String(allow_none=True)


class AuditQuery(PageArgs):
    action = fields.String(load_default=None)
    entity_type = fields.String(load_default=None)
    entity_id = fields.String(load_default=None)


AuditPage = page_schema(AuditSchema, "AuditPage")


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, MeSchema)
    def get(self):
        """Who the caller is, and for which centres."""
        p = current_principal()
        session = db_session()
        return {"kind": p.kind, "id": p.id, "name": p.name, "roles": p.roles,
                "centre": session.get(Centre, p.centre_id), "centres": p.centres(session),
                "province_wide": p.centre_ids is None}


@blp.route("/addresses/provinces")
class Provinces(MethodView):
    @blp.arguments(ProvinceQuery, location="query")
    @blp.response(200, ProvinceSchema(many=True))
    def get(self, args):
        """Provinces and centrally-run cities (34 since 1 July 2025)."""
        session = db_session()
        if args["q"]:
            return search_provinces(session, args["q"])
        return list(session.scalars(select(Province).order_by(Province.code)))


@blp.route("/addresses/wards")
class Wards(MethodView):
    @blp.arguments(WardQuery, location="query")
    @blp.response(200, WardSchema(many=True))
    def get(self, args):
        """Wards, communes and special zones by name, diacritics optional."""
        return search_wards(db_session(), args["q"], args["province"])


@blp.route("/addresses/resolve")
class ResolveAddress(MethodView):
    @blp.arguments(AddressIn)
    @blp.response(200, AddressOut)
    def post(self, data):
        """Resolve a ward and province given by name (or code) to the reference units."""
        try:
            return resolve_address(db_session(), data["street"], data["ward"], data["province"])
        except AddressError as e:
            raise InvalidInput(str(e), errors={e.field: [str(e)]}) from e


@blp.route("/audit")
class Audit(MethodView):
    @require_roles("admin")
    @blp.arguments(AuditQuery, location="query")
    @blp.response(200, AuditPage)
    def get(self, args):
        """The audit log of the caller's centres, newest first (administrators only)."""
        p = current_principal()
        stmt = p.scope(select(AuditLog), AuditLog.centre_id).order_by(AuditLog.id.desc())
        for name in ("action", "entity_type", "entity_id"):
            if args.get(name):
                stmt = stmt.where(getattr(AuditLog, name) == args[name])
        return paginate(db_session(), stmt, args["page"], args["per_page"])


def init_app(app, api) -> None:
    from api.v1 import openapi

    api.register_blueprint(blp)
    openapi.init_app(api)
