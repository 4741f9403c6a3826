"""Admin REST API: centres, collecting units, fee catalogues, receipt series, credentials, carrier accounts,
the province file, the go-live check, staff users and API keys. Admin role; scoped to the caller's centres (others' objects: 404)."""

from __future__ import annotations

import base64
import binascii
import json

import yaml
from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from api.admin import accounts as admin_accounts
from api.admin.accounts import MIN_PASSWORD
from api.admin.scope import AdminScope, current_scope
from api.auth import current_principal, require_roles
from api.context import db_session, settings
from api.idempotency import shown_once
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.models import ROLES, ApiClient, Centre, User
from core.security import API_KEY_PREFIX
from province import doctor, secrets
from province import fees as fee_catalogue
from province import series as series_service
from province import units as unit_service
from province.importer import KINDS, export_province, import_province
from province.models import CARRIERS, CarrierAccount, CentreUnit, CollectingUnit, ReceiptSeries

blp = Blueprint("admin_api", __name__, url_prefix="/api/v1/admin",
                description="Administration: centres, collecting units, fees, series, credentials, province file, "
                            "staff users and API keys")

CODE = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$")


class AdminProblem(Schema):
    """RFC 7807 problem+json, as api/errors.py answers every error."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    instance = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.Raw(),
                         metadata={"description": "field (or file line) → messages"})


def _errors(*codes: int):
    """Document the problem+json answers a view may give (400, 403, 404 another centre's object, 409, 422)."""

    def decorate(view):
        # 400: a body that is not JSON (or the wrong content type) is refused before the view runs.
        for code in (400, *codes):
            view = blp.alt_response(code, schema=AdminProblem, content_type="application/problem+json",
                                    description="problem+json")(view)
        return view

    return decorate


# ---- schemas --------------------------------------------------------------------------------------------


class CentreOut(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    address = fields.String(required=True)
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    province_code = fields.String(allow_none=True)
    is_demo = fields.Boolean(required=True)
    units = fields.List(fields.String(), required=True, metadata={"description": "codes of the units served here"})


class CredentialOut(Schema):
    name = fields.String(required=True)
    updated_at = fields.AwareDateTime(required=True)
    hint = fields.String(required=True, metadata={"description": "masked; the value is never shown"})


class CarrierAccountOut(Schema):
    carrier = fields.String(required=True)
    customer_code = fields.String(allow_none=True)
    contract_number = fields.String(allow_none=True)
    pickup_address = fields.String(allow_none=True)
    active = fields.Boolean(required=True)
    token = fields.Nested(CredentialOut, allow_none=True, required=True)


class CarrierAccountIn(Schema):
    carrier = fields.String(required=True, validate=validate.OneOf(CARRIERS))
    customer_code = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    contract_number = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    pickup_address = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    active = fields.Boolean(load_default=True)


class SecretIn(Schema):
    value = fields.String(required=True, validate=validate.Length(min=1, max=200_000),
                          metadata={"description": "the secret; write-only, never returned"})
    encoding = fields.String(load_default="utf-8", validate=validate.OneOf(["utf-8", "base64"]),
                             metadata={"description": "`base64` for binary values (a PKCS#12 file)"})
    password = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000),
                             metadata={"description": "signing_pkcs12 only: the file's password"})


class UnitOut(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    tax_code = fields.String(required=True)
    address = fields.String(required=True)
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    active = fields.Boolean(required=True)
    bank_bin = fields.String(allow_none=True)
    bank_account_number = fields.String(allow_none=True)
    bank_account_name = fields.String(allow_none=True)
    signing_kind = fields.String(allow_none=True)
    cert_subject = fields.String(allow_none=True)
    cert_not_after = fields.AwareDateTime(allow_none=True)
    centres = fields.List(fields.String(), required=True, metadata={"description": "codes of the centres serving it"})


class FeeOut(Schema):
    code = fields.String(required=True)
    procedure_code = fields.String(allow_none=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    amount = fields.Integer(required=True, metadata={"description": "đồng"})
    online_amount = fields.Integer(allow_none=True)
    retained_percent = fields.Integer(allow_none=True)
    effective_from = fields.Date(required=True)
    effective_to = fields.Date(allow_none=True)
    legal_basis = fields.String(allow_none=True)
    active = fields.Boolean(required=True)


class FeeUploadIn(Schema):
    file = Upload(required=True, metadata={"description": "CSV (UTF-8) or XLSX in the export's columns"})


class FeeImportOut(Schema):
    changed = fields.Boolean(required=True)
    created = fields.List(fields.String(), required=True)
    updated = fields.List(fields.String(), required=True)
    unchanged = fields.List(fields.String(), required=True)


class FeeExportArgs(Schema):
    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))


class SeriesOut(Schema):
    id = fields.Integer(required=True)
    template = fields.String(required=True)
    symbol = fields.String(required=True)
    year = fields.Integer(required=True)
    number_width = fields.Integer(required=True)
    state = fields.String(required=True)
    registered_on = fields.Date(allow_none=True)
    closed_at = fields.AwareDateTime(allow_none=True)


class SeriesIn(Schema):
    template = fields.String(required=True, validate=validate.Length(min=1, max=32))
    symbol = fields.String(required=True, validate=validate.Length(min=1, max=16))
    year = fields.Integer(required=True, strict=True, validate=validate.Range(min=2000, max=2099))
    number_width = fields.Integer(load_default=7, strict=True, validate=validate.Range(min=1, max=12))
    registered_on = fields.Date(load_default=None, allow_none=True,
                                metadata={"description": "given: created registered; omitted: a draft"})


class SeriesRegisterIn(Schema):
    registered_on = fields.Date(required=True)


class BlockerOut(Schema):
    scope = fields.String(required=True)
    code = fields.String(required=True)
    message = fields.String(required=True)
    blocking = fields.Boolean(required=True)


class DoctorOut(Schema):
    ready = fields.Boolean(required=True)
    blockers = fields.List(fields.Nested(BlockerOut), required=True)


class ProvinceArgs(Schema):
    dry_run = fields.Boolean(load_default=False, metadata={"description": "check and report, write nothing"})


class ProvinceImportOut(Schema):
    dry_run = fields.Boolean(required=True)
    changed = fields.Boolean(required=True)
    counts = fields.Dict(keys=fields.String(validate=validate.OneOf(KINDS)),
                         values=fields.Dict(keys=fields.String(), values=fields.Integer()), required=True)
    summary = fields.List(fields.String(), required=True)
    warnings = fields.List(fields.String(), required=True)


PROVINCE_BODY = {
    "required": True,
    "description": "The province file (docs/province-example.yaml's shape), as JSON or YAML. Never secrets.",
    "content": {
        "application/json": {"schema": {"type": "object", "properties": {
            "units": {"type": "array", "items": {"type": "object"}},
            "centres": {"type": "array", "items": {"type": "object"}}}}},
        "application/yaml": {"schema": {"type": "string"}},
    },
}
PROVINCE_DOC = {"type": "object", "properties": {"units": {"type": "array", "items": {"type": "object"}},
                                                  "centres": {"type": "array", "items": {"type": "object"}}},
                "required": ["units", "centres"]}


# ---- presenting -----------------------------------------------------------------------------------------


def centre_out(session, centre: Centre) -> dict:
    return {**{k: getattr(centre, k) for k in ("code", "name", "address", "phone", "email", "province_code",
                                               "is_demo")},
            "units": [u.code for u in unit_service.units_served_at(session, centre.id, active_only=False)]}


def unit_out(session, unit: CollectingUnit, scope: AdminScope) -> dict:
    codes = list(session.scalars(select(Centre.code).join(CentreUnit, CentreUnit.centre_id == Centre.id)
                                 .where(CentreUnit.unit_id == unit.id, Centre.id.in_(list(scope.centre_ids)))
                                 .order_by(Centre.code)))
    return {**{k: getattr(unit, k) for k in ("code", "name", "tax_code", "address", "phone", "email", "active",
                                             "bank_bin", "bank_account_number", "bank_account_name", "signing_kind",
                                             "cert_subject", "cert_not_after")},
            "centres": codes}


def credential_out(info: secrets.CredentialInfo) -> dict:
    return {"name": info.name, "updated_at": info.updated_at, "hint": info.hint}


def account_out(session, account: CarrierAccount) -> dict:
    token = secrets.describe(session, "carrier_account", account.id)
    return {**{k: getattr(account, k) for k in ("carrier", "customer_code", "contract_number", "pickup_address",
                                                "active")},
            "token": credential_out(token[0]) if token else None}


def _series_of(session, unit: CollectingUnit, series_id: int) -> ReceiptSeries:
    row = session.get(ReceiptSeries, series_id)
    if row is None or row.unit_id != unit.id:
        raise NotFound("Không có ký hiệu biên lai này")
    return row


def _require_province_wide(scope: AdminScope) -> None:
    if not scope.province_wide:
        raise PermissionDenied("Chỉ quản trị viên cấp tỉnh được xem và nhập tệp tỉnh")


# ---- centres --------------------------------------------------------------------------------------------


@blp.route("/centres")
class Centres(MethodView):
    @require_roles("admin")
    @blp.response(200, CentreOut(many=True))
    @_errors()
    def get(self):
        """Centres the caller administers, with the units each serves."""
        session = db_session()
        return [centre_out(session, c) for c in current_scope(session).centres(session)]


@blp.route("/centres/<string:code>")
class CentreOne(MethodView):
    @require_roles("admin")
    @blp.response(200, CentreOut)
    @_errors(404)
    def get(self, code):
        """One centre (404 for another centre's)."""
        session = db_session()
        return centre_out(session, current_scope(session).centre(session, code))


@blp.route("/centres/<string:code>/carrier-accounts")
class CarrierAccounts(MethodView):
    @require_roles("admin")
    @blp.response(200, CarrierAccountOut(many=True))
    @_errors(404)
    def get(self, code):
        """The centre's carrier contracts; tokens masked."""
        session = db_session()
        centre = current_scope(session).centre(session, code)
        rows = session.scalars(select(CarrierAccount).where(CarrierAccount.centre_id == centre.id)
                               .order_by(CarrierAccount.carrier))
        return [account_out(session, a) for a in rows]

    @require_roles("admin")
    @blp.arguments(CarrierAccountIn)
    @blp.response(200, CarrierAccountOut)
    @_errors(404, 422)
    def post(self, data, code):
        """Create or update the centre's account with one carrier (its token: PUT .../token)."""
        from core import audit

        session = db_session()
        centre = current_scope(session).centre(session, code)
        account = session.scalar(select(CarrierAccount).where(CarrierAccount.centre_id == centre.id,
                                                              CarrierAccount.carrier == data["carrier"]))
        fields_ = ("customer_code", "contract_number", "pickup_address", "active")
        before = None if account is None else {k: getattr(account, k) for k in fields_}
        if account is None:
            account = CarrierAccount(centre_id=centre.id, carrier=data["carrier"])
            session.add(account)
        for key in fields_:
            setattr(account, key, data[key])
        session.flush()
        audit.record(session, current_principal().actor(),
                     "carrier_account.created" if before is None else "carrier_account.updated",
                     entity_type="carrier_account", entity_id=account.id, before=before,
                     after={k: getattr(account, k) for k in fields_}, centre_id=centre.id)
        session.commit()
        return account_out(session, account)


@blp.route("/centres/<string:code>/carrier-accounts/<string:carrier>/token")
class CarrierToken(MethodView):
    @require_roles("admin")
    @blp.arguments(SecretIn)
    @blp.response(200, CredentialOut)
    @_errors(404, 422)
    def put(self, data, code, carrier):
        """Set the carrier's API token (write-only; encrypted at rest)."""
        session = db_session()
        scope = current_scope(session)
        account = scope.carrier_account(session, scope.centre(session, code), carrier)
        secrets.set_secret(session, settings(), "carrier_account", account.id, "carrier_token", _secret_bytes(data),
                           actor=current_principal().actor())
        session.commit()
        return credential_out(secrets.describe(session, "carrier_account", account.id)[0])


# ---- units ----------------------------------------------------------------------------------------------


@blp.route("/units")
class Units(MethodView):
    @require_roles("admin")
    @blp.response(200, UnitOut(many=True))
    @_errors()
    def get(self):
        """Collecting units served at the caller's centres (every unit for a province admin)."""
        session = db_session()
        scope = current_scope(session)
        return [unit_out(session, u, scope) for u in scope.units(session)]


@blp.route("/units/<string:code>")
class UnitOne(MethodView):
    @require_roles("admin")
    @blp.response(200, UnitOut)
    @_errors(404)
    def get(self, code):
        """One collecting unit, with its certificate's subject and expiry."""
        session = db_session()
        scope = current_scope(session)
        return unit_out(session, scope.unit(session, code), scope)


@blp.route("/units/<string:code>/fees")
class UnitFees(MethodView):
    @require_roles("admin")
    @blp.response(200, FeeOut(many=True))
    @_errors(404)
    def get(self, code):
        """Every version of the unit's fees (history kept), by code and start date."""
        session = db_session()
        return fee_catalogue.fees_of_unit(session, current_scope(session).unit(session, code).id)

    @require_roles("admin")
    @blp.arguments(FeeUploadIn, location="files")
    @blp.response(200, FeeImportOut)
    @_errors(404, 422)
    def post(self, files, code):
        """Import a CSV or XLSX fee file; all or nothing (422 names every bad line)."""
        session = db_session()
        unit = current_scope(session).unit_to_change(session, code)
        upload = files["file"]
        data = upload.read()
        if not data:
            raise InvalidInput("Tệp rỗng", errors={"file": ["empty"]})
        try:
            report = fee_catalogue.import_fee_file(session, unit, upload.filename or "", data,
                                                   actor=current_principal().actor())
        except (ValueError, KeyError) as e:
            session.rollback()
            raise InvalidInput("Không đọc được tệp phí (CSV UTF-8 hoặc XLSX)", errors={"file": [str(e)[:200]]}) from e
        session.commit()
        return {"changed": report.changed, "created": report.created, "updated": report.updated,
                "unchanged": report.unchanged}


@blp.route("/units/<string:code>/fees/export")
class UnitFeesExport(MethodView):
    @require_roles("admin")
    @blp.arguments(FeeExportArgs, location="query")
    @blp.response(200, content_type="text/csv", description="the catalogue in the import format (CSV or XLSX)")
    @_errors(404, 422)
    def get(self, args, code):
        """The unit's catalogue as CSV (UTF-8 with BOM) or XLSX."""
        session = db_session()
        unit = current_scope(session).unit(session, code)
        if args["format"] == "xlsx":
            return Response(fee_catalogue.export_fee_xlsx(session, unit),
                            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                            headers={"Content-Disposition": f'attachment; filename="phi-{unit.code}.xlsx"'})
        return Response(fee_catalogue.export_fee_csv(session, unit), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="phi-{unit.code}.csv"'})


@blp.route("/units/<string:code>/series")
class UnitSeries(MethodView):
    @require_roles("admin")
    @blp.response(200, SeriesOut(many=True))
    @_errors(404)
    def get(self, code):
        """The unit's receipt series, by year."""
        session = db_session()
        unit = current_scope(session).unit(session, code)
        return list(session.scalars(select(ReceiptSeries).where(ReceiptSeries.unit_id == unit.id)
                                    .order_by(ReceiptSeries.year, ReceiptSeries.template, ReceiptSeries.symbol)))

    @require_roles("admin")
    @blp.arguments(SeriesIn)
    @blp.response(201, SeriesOut)
    @_errors(404, 409, 422)
    def post(self, data, code):
        """Prepare a series: a draft, or registered when `registered_on` is given."""
        session = db_session()
        unit = current_scope(session).unit_to_change(session, code)
        row = series_service.register_series(session, unit, data["template"], data["symbol"], data["year"],
                                             number_width=data["number_width"], registered_on=data["registered_on"],
                                             actor=current_principal().actor())
        session.commit()
        return row


@blp.route("/units/<string:code>/series/<int:series_id>/register")
class SeriesRegister(MethodView):
    @require_roles("admin")
    @blp.arguments(SeriesRegisterIn)
    @blp.response(200, SeriesOut)
    @_errors(404, 409, 422)
    def post(self, data, code, series_id):
        """Record the day the tax authority accepted a draft series."""
        session = db_session()
        row = _series_of(session, current_scope(session).unit_to_change(session, code), series_id)
        series_service.mark_registered(session, row, data["registered_on"], actor=current_principal().actor())
        session.commit()
        return row


@blp.route("/units/<string:code>/series/<int:series_id>/close")
class SeriesClose(MethodView):
    @require_roles("admin")
    @blp.response(200, SeriesOut)
    @_errors(404, 409)
    def post(self, code, series_id):
        """Close a series for good; a closed series issues nothing."""
        session = db_session()
        row = _series_of(session, current_scope(session).unit_to_change(session, code), series_id)
        series_service.close_series(session, row, actor=current_principal().actor())
        session.commit()
        return row


def _secret_bytes(data: dict) -> bytes:
    if data["encoding"] == "base64":
        try:
            value = base64.b64decode(data["value"], validate=True)
        except (binascii.Error, ValueError) as e:
            raise InvalidInput("Giá trị base64 không hợp lệ", errors={"value": ["not base64"]}) from e
    else:
        value = data["value"].encode("utf-8")
    if not value:
        raise InvalidInput("Giá trị rỗng", errors={"value": ["empty"]})
    return value


@blp.route("/units/<string:code>/credentials")
class UnitCredentials(MethodView):
    @require_roles("admin")
    @blp.response(200, CredentialOut(many=True))
    @_errors(404)
    def get(self, code):
        """Which secrets the unit has: names, dates and a masked hint, never a value."""
        session = db_session()
        unit = current_scope(session).unit(session, code)
        return [credential_out(i) for i in secrets.describe(session, "unit", unit.id)]


@blp.route("/units/<string:code>/credentials/<string:name>")
class UnitCredentialOne(MethodView):
    @require_roles("admin")
    @blp.arguments(SecretIn)
    @blp.response(200, CredentialOut)
    @_errors(404, 422)
    def put(self, data, code, name):
        """Set one secret (write-only). `signing_pkcs12`: the file in base64 and its `password`; the
        certificate's subject and expiry then show on the unit."""
        session = db_session()
        unit = current_scope(session).unit_to_change(session, code)
        known = secrets.unit_names()
        if name not in known:
            raise NotFound(f"Không có loại bí mật {name!r}; dùng một trong: {', '.join(known)}")
        value, actor = _secret_bytes(data), current_principal().actor()
        if name == "signing_pkcs12":
            unit_service.set_signing_pkcs12(session, settings(), unit, value, (data["password"] or "").encode(),
                                            actor=actor)
        else:
            secrets.set_secret(session, settings(), "unit", unit.id, name, value, actor=actor)
        session.commit()
        info = next(i for i in secrets.describe(session, "unit", unit.id) if i.name == name)
        return credential_out(info)


# ---- province file and go-live check --------------------------------------------------------------------


@blp.route("/province")
class Province(MethodView):
    @require_roles("admin")
    @blp.response(200, description="The province file as JSON (no secrets); province admins only")
    @blp.doc(responses={"200": {"description": "The province file as JSON",
                                "content": {"application/json": {"schema": PROVINCE_DOC}}}})
    @_errors(403)
    def get(self):
        """Export centres, units, fees and series in the import format."""
        session = db_session()
        _require_province_wide(current_scope(session))
        return Response(json.dumps(export_province(session), ensure_ascii=False, default=str),
                        mimetype="application/json")

    @require_roles("admin")
    @blp.arguments(ProvinceArgs, location="query")
    @blp.response(200, ProvinceImportOut)
    @blp.doc(requestBody=PROVINCE_BODY)
    @_errors(403, 422)
    def post(self, args):
        """Import a province file (JSON or YAML body), all or nothing; `dry_run` checks and writes nothing."""
        session = db_session()
        _require_province_wide(current_scope(session))
        raw = request.get_data()
        try:
            if request.mimetype in ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"):
                data = yaml.safe_load(raw.decode("utf-8"))
            else:
                data = json.loads(raw.decode("utf-8") or "null")
        except (ValueError, yaml.YAMLError) as e:
            raise InvalidInput("Không đọc được nội dung tệp tỉnh (JSON hoặc YAML)",
                               errors={"": [str(e)[:200]]}) from e
        report = import_province(session, data, current_principal().actor())
        if args["dry_run"]:
            session.rollback()
        else:
            session.commit()
        return {"dry_run": args["dry_run"], "changed": report.changed, "counts": report.counts(),
                "summary": report.summary(), "warnings": report.warnings}


def scoped_blockers(session, scope: AdminScope) -> list[doctor.Blocker]:
    """The go-live findings the caller may see: the deployment's, and those of its centres and their units."""
    found = doctor.go_live_blockers(session, settings())
    if scope.province_wide:
        return found
    allowed = {"deployment"} | {f"centre {c.code}" for c in scope.centres(session)} | {
        f"unit {u.code}" for u in scope.units(session)}
    return [b for b in found if b.scope in allowed]


@blp.route("/doctor")
class Doctor(MethodView):
    @require_roles("admin")
    @blp.response(200, DoctorOut)
    @_errors()
    def get(self):
        """What blocks production, per deployment, centre and unit (`hcc doctor`)."""
        session = db_session()
        found = scoped_blockers(session, current_scope(session))
        return {"ready": doctor.exit_code(found) == 0,
                "blockers": [{"scope": b.scope, "code": b.code, "message": b.message, "blocking": b.blocking}
                             for b in found]}


# ---- staff users and API keys ---------------------------------------------------------------------------

SCOPE_NOTE = ("Scoped: a centre admin sees and manages only users and keys whose centres are all its own "
              "(any other answers 404); granting a centre it does not see, or the whole province when it is not "
              "province-wide, is 422 naming `centre_codes` or `province_wide`.")
USERNAME = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,63}$")
PRINTABLE = validate.Regexp(r"^[^\x00-\x1f\x7f]*$", error="control characters are not allowed")


class MembershipOut(Schema):
    home_centre = fields.String(required=True, metadata={"description": "code of the home centre"})
    centres = fields.List(fields.String(), required=True,
                          metadata={"description": "codes of its centres, home centre first"})
    province_wide = fields.Boolean(required=True, metadata={"description": "sees every centre of the province"})


class UserOut(MembershipOut):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    full_name = fields.String(required=True)
    email = fields.String(allow_none=True)
    roles = fields.List(fields.String(), required=True)
    active = fields.Boolean(required=True)
    locked = fields.Boolean(required=True, metadata={"description": "locked after too many failed sign-ins"})
    locked_at = fields.AwareDateTime(allow_none=True)
    failed_logins = fields.Integer(required=True)
    last_login_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime(required=True)


class MembershipIn(Schema):
    centre_codes = fields.List(fields.String(validate=validate.Length(min=1, max=32)),
                               validate=validate.Length(max=100),
                               metadata={"description": "its centres, the first being the home centre; each must "
                                                        "be one of the caller's (else 422)"})
    province_wide = fields.Boolean(metadata={"description": "every centre of the province; province admins only "
                                                            "(else 422)"})


class UserIn(MembershipIn):
    username = fields.String(required=True, validate=USERNAME)
    full_name = fields.String(required=True, validate=[validate.Length(min=1, max=255), PRINTABLE])
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=255))
    roles = fields.List(fields.String(validate=validate.OneOf(ROLES)), required=True,
                        validate=validate.Length(min=1, max=10))
    password = fields.String(required=True, load_only=True,
                             validate=[validate.Length(min=MIN_PASSWORD, max=256), PRINTABLE],
                             metadata={"description": f"initial password, at least {MIN_PASSWORD} characters; "
                                                      "write-only, never returned nor audited"})


class UserPatch(MembershipIn):
    full_name = fields.String(validate=[validate.Length(min=1, max=255), PRINTABLE])
    email = fields.Email(allow_none=True, validate=validate.Length(max=255))
    roles = fields.List(fields.String(validate=validate.OneOf(ROLES)), validate=validate.Length(min=1, max=10),
                        metadata={"description": "replaces the roles; removing one's own `admin` is 409"})
    active = fields.Boolean(metadata={"description": "false stops sign-in and ends open sessions; oneself: 409"})


class ApiKeyOut(MembershipOut):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    prefix = fields.String(required=True, metadata={"description": "the key's first characters, to recognise it"})
    roles = fields.List(fields.String(), required=True)
    active = fields.Boolean(required=True, metadata={"description": "false once revoked (the key answers 401)"})
    created_at = fields.AwareDateTime(required=True)
    last_used_at = fields.AwareDateTime(allow_none=True)


class ApiKeyCreatedOut(ApiKeyOut):
    key = fields.String(required=True, allow_none=True, metadata={
        "description": "the key, shown in this answer only; only its hash is kept, it cannot be shown again "
                       "(null in an Idempotency-Key replay)"})


class ApiKeyIn(MembershipIn):
    name = fields.String(required=True, validate=[validate.Length(min=1, max=255), PRINTABLE])
    roles = fields.List(fields.String(validate=validate.OneOf(ROLES)), load_default=lambda: ["cashier", "dispatcher"],
                        validate=validate.Length(min=1, max=10))


def membership_out(m: admin_accounts.Membership, codes: dict[int, str]) -> dict:
    return {"home_centre": codes[m.home_id], "centres": admin_accounts.codes_of(m, codes),
            "province_wide": m.province_wide}


def user_out(row: User, m: admin_accounts.Membership, codes: dict[int, str]) -> dict:
    return {**{k: getattr(row, k) for k in ("id", "username", "full_name", "email", "roles", "active", "locked_at",
                                            "failed_logins", "last_login_at", "created_at")},
            "locked": row.locked_at is not None, **membership_out(m, codes)}


def api_key_out(row: ApiClient, m: admin_accounts.Membership, codes: dict[int, str]) -> dict:
    return {**{k: getattr(row, k) for k in ("id", "name", "roles", "active", "created_at", "last_used_at")},
            "prefix": f"{API_KEY_PREFIX}{row.key_prefix}", **membership_out(m, codes)}


@blp.route("/users")
class StaffUsers(MethodView):
    @require_roles("admin")
    @blp.response(200, UserOut(many=True))
    @blp.doc(description=SCOPE_NOTE)
    @_errors()
    def get(self):
        """Staff users the caller manages, with their centres, roles and whether locked or active."""
        session = db_session()
        codes = admin_accounts.centre_codes(session)
        return [user_out(u, m, codes) for u, m in admin_accounts.users(session, current_scope(session))]

    @require_roles("admin")
    @blp.arguments(UserIn)
    @blp.response(201, UserOut)
    @blp.doc(description=SCOPE_NOTE)
    @_errors(409, 422)
    def post(self, data):
        """Create a staff user of one or more of the caller's centres (or the province); 409 if the name is taken."""
        session = db_session()
        row, m = admin_accounts.create_staff_user(session, current_scope(session), admin_accounts.current_caller(),
                                                  data)
        session.commit()
        return user_out(row, m, admin_accounts.centre_codes(session))


@blp.route("/users/<int:user_id>")
class StaffUserOne(MethodView):
    @require_roles("admin")
    @blp.response(200, UserOut)
    @_errors(404)
    def get(self, user_id):
        """One staff user (404 for one of a centre the caller does not manage)."""
        session = db_session()
        row, m = admin_accounts.user(session, current_scope(session), user_id)
        return user_out(row, m, admin_accounts.centre_codes(session))

    @require_roles("admin")
    @blp.arguments(UserPatch)
    @blp.response(200, UserOut)
    @blp.doc(description=SCOPE_NOTE + " Removing one's own admin role or deactivating oneself is 409.")
    @_errors(404, 409, 422)
    def patch(self, data, user_id):
        """Change a user's roles, centres, active flag, name or e-mail (each change audited)."""
        session = db_session()
        row, m = admin_accounts.update_staff_user(session, current_scope(session), admin_accounts.current_caller(),
                                                  user_id, data)
        session.commit()
        return user_out(row, m, admin_accounts.centre_codes(session))


@blp.route("/users/<int:user_id>/unlock")
class StaffUserUnlock(MethodView):
    @require_roles("admin")
    @blp.response(200, UserOut)
    @_errors(404)
    def post(self, user_id):
        """Let a user locked after failed sign-ins sign in again (nothing changes for one not locked)."""
        session = db_session()
        row, m = admin_accounts.unlock_staff_user(session, current_scope(session), admin_accounts.current_caller(),
                                                  user_id)
        session.commit()
        return user_out(row, m, admin_accounts.centre_codes(session))


@blp.route("/api-keys")
class ApiKeys(MethodView):
    @require_roles("admin")
    @blp.response(200, ApiKeyOut(many=True))
    @blp.doc(description=SCOPE_NOTE)
    @_errors()
    def get(self):
        """API keys the caller manages: name, prefix, centres, roles, last use; never the key."""
        session = db_session()
        codes = admin_accounts.centre_codes(session)
        return [api_key_out(c, m, codes) for c, m in admin_accounts.api_keys(session, current_scope(session))]

    @require_roles("admin")
    @blp.arguments(ApiKeyIn)
    @blp.response(201, ApiKeyCreatedOut)
    @blp.doc(description=SCOPE_NOTE)
    @_errors(422)
    def post(self, data):
        """Create a key for an integrating system; the answer carries the key, once (copy it now)."""
        session = db_session()
        row, m, key = admin_accounts.create_key(session, current_scope(session), admin_accounts.current_caller(),
                                                data)
        session.commit()
        shown_once("key")
        return {**api_key_out(row, m, admin_accounts.centre_codes(session)), "key": key}


@blp.route("/api-keys/<int:key_id>")
class ApiKeyOne(MethodView):
    @require_roles("admin")
    @blp.response(200, ApiKeyOut)
    @_errors(404)
    def get(self, key_id):
        """One API key, without the key itself (404 for one of a centre the caller does not manage)."""
        session = db_session()
        row, m = admin_accounts.api_key(session, current_scope(session), key_id)
        return api_key_out(row, m, admin_accounts.centre_codes(session))


@blp.route("/api-keys/<int:key_id>/revoke")
class ApiKeyRevoke(MethodView):
    @require_roles("admin")
    @blp.response(200, ApiKeyOut)
    @blp.doc(description="The key answers 401 from now on; revoking a revoked key changes nothing. "
                         "Revoking the key making the call is 409.")
    @_errors(404, 409)
    def post(self, key_id):
        """Revoke an API key for good (audited)."""
        session = db_session()
        row, m = admin_accounts.revoke_key(session, current_scope(session), admin_accounts.current_caller(), key_id)
        session.commit()
        return api_key_out(row, m, admin_accounts.centre_codes(session))
