"""REST API of fee collection: fee schedule, payment requests, counter payments, refunds, webhooks."""

from __future__ import annotations

import logging

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from api.auth import current_principal, require_roles
from api.context import db_session, settings
from api.idempotency import shown_once
from api.schemas import PageArgs, page_schema, paginate
from core.clock import local_day
from core.errors import NotFound
from core.models import Centre
from fees import merchants, webhooks
from fees import refunds as refund_service
from fees.gateways.counter import record_counter_payment
from fees.models import CHANNELS, PAYMENT_STATUSES, FeeType, Payment, Refund, WebhookEndpoint
from fees.payments import ItemRequest, Payer, create_payment, get_payment, lock_payment, transition
from province.models import CollectingUnit

log = logging.getLogger(__name__)

blp = Blueprint("fees_api", __name__, url_prefix="/api/v1", description="Fees, payment requests, refunds, webhooks")

STAFF = ("cashier", "dispatcher", "finance")

CENTRE_CODE_IN = ("the code of the centre the object is created at, one of the caller's centres (a key or user "
                  "of several centres, or of the whole province); the caller's home centre when omitted. A centre "
                  "the caller does not see answers 404, like one that does not exist")


def _code_of(model, object_id: int | None) -> str | None:
    row = db_session().get(model, object_id) if object_id is not None else None
    return row.code if row is not None else None


class FeeTypeSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    unit_code = fields.Function(lambda f: _code_of(CollectingUnit, f.unit_id), allow_none=True,
                                metadata={"description": "the collecting unit that owns the fee"})
    name = fields.String()
    procedure_code = fields.String(allow_none=True)
    kind = fields.String(metadata={"description": "`phi` (phí) or `le_phi` (lệ phí)"})
    amount = fields.Integer(metadata={"description": "đồng"})
    legal_basis = fields.String(allow_none=True)
    effective_from = fields.Date()
    effective_to = fields.Date(allow_none=True)


class PaymentPayerIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    phone = fields.String(load_default=None, validate=validate.Regexp(r"^\+?[0-9 .-]{8,20}$"))
    email = fields.Email(load_default=None)
    address = fields.String(load_default=None, validate=validate.Length(max=500))


class PaymentItemIn(Schema):
    fee_code = fields.String(required=True, validate=validate.Length(min=1, max=32))
    # strict: 1.5 must be refused, not read as 1 (a fee line silently changed).
    quantity = fields.Integer(load_default=1, strict=True, validate=validate.Range(min=1, max=1000))


class FeeQuery(Schema):
    centre_code = fields.String(load_default=None, validate=validate.Length(min=1, max=32), metadata={
        "description": "whose schedule: one of the caller's centres (the home centre when omitted); another "
                       "centre answers 404"})


class PaymentIn(Schema):
    centre_code = fields.String(load_default=None, validate=validate.Length(min=1, max=32),
                                metadata={"description": CENTRE_CODE_IN + "; its fees are those of the units "
                                                                           "served at that centre"})
    dossier_code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    payer = fields.Nested(PaymentPayerIn, required=True)
    items = fields.List(fields.Nested(PaymentItemIn), required=True, validate=validate.Length(min=1, max=50))
    channels = fields.List(fields.String(validate=validate.OneOf(CHANNELS)),
                           load_default=None, validate=validate.Length(min=1))


class PaymentItemOut(Schema):
    fee_code = fields.String()
    name = fields.String()
    kind = fields.String()
    unit_amount = fields.Integer()
    quantity = fields.Integer()
    amount = fields.Integer()


class PaymentReceiptOut(Schema):
    id = fields.Integer()
    unit_code = fields.String(allow_none=True, metadata={"description": "the collecting unit whose receipt it is"})
    template = fields.String(metadata={"description": "ký hiệu mẫu"})
    symbol = fields.String(metadata={"description": "ký hiệu"})
    number = fields.String(allow_none=True, metadata={"description": "zero-padded number in the unit's series"})
    status = fields.String(metadata={"description": "pending (being signed) or issued"})
    pdf_url = fields.String()


class PaymentOut(Schema):
    id = fields.Integer()
    centre_code = fields.String(metadata={"description": "the centre that collects it"})
    code = fields.String(metadata={"description": "the citizen's code (pay link, transfer description, vnp_TxnRef)"})
    dossier_code = fields.String()
    status = fields.String()
    amount = fields.Integer()
    paid_amount = fields.Integer()
    refunded_amount = fields.Integer()
    refundable_amount = fields.Integer()
    channel = fields.String(allow_none=True)
    channel_ref = fields.String(allow_none=True)
    allowed_channels = fields.List(fields.String())
    flags = fields.List(fields.String())
    created_at = fields.AwareDateTime()
    expires_at = fields.AwareDateTime(allow_none=True)
    paid_at = fields.AwareDateTime(allow_none=True)
    items = fields.List(fields.Nested(PaymentItemOut))
    pay_url = fields.String()
    vietqr = fields.String(allow_none=True, metadata={
        "description": "EMVCo VietQR payload for a bank transfer to the account of the payment's units; null when "
                       "their fees go to different bank accounts (no one QR can pay them)"})
    receipts = fields.List(fields.Nested(PaymentReceiptOut), metadata={
        "description": "the payment's current receipts, one per collecting unit among its lines, by unit code; "
                       "empty until it is paid"})
    receipt_blocked = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "unit code -> why that unit's receipt cannot be issued yet (no registered series, expired "
                       "certificate); issued by the sweep once fixed. Empty when nothing is blocked"})
    receipt_id = fields.Integer(allow_none=True, metadata={"description": "the first of `receipts` (compatibility)"})
    receipt_pdf_url = fields.String(allow_none=True, metadata={"description": "the first receipt's PDF"})


class PaymentQuery(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(PAYMENT_STATUSES))
    dossier_code = fields.String(load_default=None)
    code = fields.String(load_default=None)


class CounterPaymentIn(Schema):
    method = fields.String(required=True, validate=validate.OneOf(["cash", "card"]))
    terminal_ref = fields.String(load_default=None, validate=validate.Length(max=64),
                                 metadata={"description": "the card terminal's transaction reference; required "
                                                          "when `method` is `card` (422 without it)"})


class PaymentCancelIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class RefundIn(Schema):
    amount = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class RefundOut(Schema):
    id = fields.Integer()
    payment_id = fields.Integer()
    amount = fields.Integer()
    reason = fields.String()
    status = fields.String()
    requested_by = fields.String()
    approved_by = fields.String(allow_none=True)
    message = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    completed_at = fields.AwareDateTime(allow_none=True)
    kind = fields.String(metadata={"description": "`payment` (the payment's money) or `second_payment` (a second "
                                                  "payment of the same fee through another gateway order, returned "
                                                  "whole; the payment stays paid)"})
    order_ref = fields.String(allow_none=True, metadata={"description": "the gateway order a second payment came "
                                                                        "through (vnp_TxnRef, MoMo orderId)"})
    awaiting_confirmation = fields.Boolean(metadata={"description": "the gateway's answer did not say whether it "
                                                                    "went through: it is confirmed by querying the "
                                                                    "transaction, never assumed"})
    payment_status = fields.String()
    refundable_amount = fields.Integer()


class RefundRejectIn(Schema):
    note = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class WebhookEndpointIn(Schema):
    centre_code = fields.String(load_default=None, validate=validate.Length(min=1, max=32),
                                metadata={"description": CENTRE_CODE_IN + "; it receives that centre's events"})
    # The pattern documents what fields.Url checks (http or https only), so a client knows before it calls.
    url = fields.Url(required=True, require_tld=False, schemes={"http", "https"},
                     validate=validate.Regexp(r"^https?://[^\s/?#]+", error="URL phải bắt đầu bằng http(s)://"),
                     metadata={"description": "http(s) URL on a public address (not the service's own network)"})
    events = fields.List(fields.String(), load_default=None)
    description = fields.String(load_default=None, validate=validate.Length(max=255))


class WebhookEndpointOut(Schema):
    id = fields.Integer()
    centre_code = fields.Function(lambda e: _code_of(Centre, e.centre_id), allow_none=True, metadata={"description": "whose events it receives"})
    url = fields.String()
    events = fields.List(fields.String())
    active = fields.Boolean()
    description = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()


class WebhookEndpointCreated(WebhookEndpointOut):
    secret = fields.String(allow_none=True, metadata={
        "description": "HMAC-SHA256 key of the X-HCC-Signature header; shown once (null in an Idempotency-Key replay)"})


PaymentPage = page_schema(PaymentOut, "PaymentPage")


def receipt_id_of(session, payment_id: int) -> int | None:
    from receipts.issuance import receipt_id_for_payment

    return receipt_id_for_payment(session, payment_id)


def issue_receipt_now(session, payment_id: int) -> int | None:
    """The counter's one action ends with the receipts, one per unit; answers the first one's id.

    A unit that cannot issue yet (no registered series, expired certificate) is not an error here: the
    reason is noted on the payment (`receipt_blocked`) and the sweep issues it once fixed.
    """
    from receipts.issuance import ReceiptError, issue_receipts

    try:
        with session.begin_nested():
            receipts = issue_receipts(session, payment_id)
    except ReceiptError as e:
        # The payment is committed; staff see why on the payment, the sweep retries. Not a crash.
        log.warning("no receipt at the counter", extra={"payment_id": payment_id, "reason": e.code})
        return None
    except Exception:
        # The payment is committed; the receipts sweep issues the receipt later. Say so, do not fail.
        log.exception("receipt issuance at the counter failed", extra={"payment_id": payment_id})
        return None
    return receipts[0].id if receipts else None


def _receipts_of(session, payment: Payment, base: str) -> list[dict]:
    from receipts.issuance import receipts_for_payment

    return [{"id": r.id, "unit_code": r.unit.code if r.unit is not None else None, "template": r.template,
             "symbol": r.symbol, "number": r.number_text, "status": r.status,
             "pdf_url": f"{base}/api/v1/receipts/{r.id}/pdf"} for r in receipts_for_payment(session, payment.id)]


def present(session, payment: Payment) -> dict:
    from receipts.issuance import BLOCKED

    base = settings().public_url
    receipts = _receipts_of(session, payment, base)
    first = receipts[0] if receipts else None
    centre = session.get(Centre, payment.centre_id)
    return {
        **{k: getattr(payment, k) for k in ("id", "code", "dossier_code", "status", "amount", "paid_amount",
                                           "refunded_amount", "refundable_amount", "channel", "channel_ref",
                                           "allowed_channels", "flags", "created_at", "expires_at", "paid_at",
                                           "items")},
        "centre_code": centre.code,
        "pay_url": f"{base}/pay/{payment.code}",
        # The bank account of the payment's units (a unit's own or the default), not always the default.
        "vietqr": merchants.vietqr_payload(session, settings(), payment),
        "receipts": receipts,
        "receipt_blocked": dict((payment.extra or {}).get(BLOCKED) or {}),
        "receipt_id": first["id"] if first else None,
        "receipt_pdf_url": first["pdf_url"] if first else None,
    }


def _payment(session, payment_id: int) -> Payment:
    """The payment if it is of one of the caller's centres; any other answers 404, as if it did not exist."""
    payment = get_payment(session, payment_id=payment_id)
    if not current_principal().sees(payment.centre_id):
        raise NotFound("payment not found")
    return payment


def _refund(session, refund_id: int) -> Refund:
    refund = session.get(Refund, refund_id) if 0 < refund_id < 2**63 else None
    if refund is None or not current_principal().sees(refund.payment.centre_id):
        raise NotFound("refund not found")
    return refund


def _refund_out(session, refund: Refund) -> dict:
    return {**{k: getattr(refund, k) for k in ("id", "payment_id", "amount", "reason", "status", "requested_by",
                                              "approved_by", "message", "created_at", "completed_at", "kind")},
            "order_ref": refund.attempt.order_ref if refund.attempt is not None else None,
            "awaiting_confirmation": refund.confirmation == "query",
            "payment_status": refund.payment.status,
            "refundable_amount": refund_service.refundable(session, refund.payment)}


@blp.route("/fees")
class Fees(MethodView):
    @require_roles(*STAFF)
    @blp.arguments(FeeQuery, location="query")
    @blp.response(200, FeeTypeSchema(many=True))
    def get(self, args):
        """The fee schedule in force today at one of the caller's centres: the fees of the units served there."""
        from province.units import unit_ids_served_at

        session = db_session()
        centre = current_principal().centre(session, args.get("centre_code"))
        day = local_day()
        units = sorted(unit_ids_served_at(session, {centre.id}))
        # Fee rows from before units are kept under their centre (unit_id NULL).
        owned = FeeType.unit_id.in_(units) | (FeeType.unit_id.is_(None) & (FeeType.centre_id == centre.id))
        stmt = (select(FeeType).where(owned, FeeType.active.is_(True), FeeType.effective_from <= day,
                                      (FeeType.effective_to.is_(None)) | (FeeType.effective_to >= day))
                .order_by(FeeType.code, FeeType.id))
        return list(session.scalars(stmt))


@blp.route("/payments")
class Payments(MethodView):
    @require_roles(*STAFF)
    @blp.arguments(PaymentQuery, location="query")
    @blp.response(200, PaymentPage)
    def get(self, args):
        """Payment requests of the caller's centres, newest first."""
        session = db_session()
        stmt = current_principal().scope(select(Payment), Payment.centre_id).order_by(Payment.id.desc())
        for name in ("status", "dossier_code", "code"):
            if args.get(name):
                stmt = stmt.where(getattr(Payment, name) == args[name])
        page = paginate(session, stmt, args["page"], args["per_page"])
        page["items"] = [present(session, p) for p in page["items"]]
        return page

    @require_roles(*STAFF)
    @blp.arguments(PaymentIn)
    @blp.response(201, PaymentOut)
    def post(self, data):
        """Create a payment request priced from the fee schedule; answers with the citizen's pay link and VietQR.

        Its `fee_code`s may be of any collecting unit served at the centre (the caller's home centre, or
        `centre_code`); a fee of no unit served there is refused (422 naming the line). A channel through
        which the fees would go to different merchant or bank accounts (units with accounts of their own)
        is withdrawn from `allowed_channels`; when none of the online `channels` is left, the request is
        refused (409 `mixed-merchant-accounts`): make one request per unit."""
        session = db_session()
        p = current_principal()
        centre = p.centre(session, data.get("centre_code"))
        payer = Payer(**data["payer"])
        items = [ItemRequest(fee_code=i["fee_code"], quantity=i["quantity"]) for i in data["items"]]
        # One savepoint around both, so a refused mix leaves nothing behind. (On SQLite, without it the
        # payment's own savepoint opens the transaction and its RELEASE commits the payment at once.)
        with session.begin_nested():
            payment = create_payment(session, centre, dossier_code=data["dossier_code"], payer=payer, items=items,
                                     actor=p.actor(), channels=data.get("channels"))
            merchants.keep_single_merchant_channels(session, settings(), payment)
        session.commit()
        return present(session, payment)


@blp.route("/payments/<int:payment_id>")
class PaymentOne(MethodView):
    @require_roles(*STAFF)
    @blp.response(200, PaymentOut)
    def get(self, payment_id):
        """One payment request, with its `receipts` (one per unit) once paid."""
        session = db_session()
        return present(session, _payment(session, payment_id))


# Withdrawing a fee the citizen was asked to pay is a money decision: the cashier who took the request
# and finance; a dispatcher sends results and has no say over what is owed (a cancelled shipment still
# cancels its own COD request, inside postal's state machine).
CANCELLERS = ("cashier", "finance")


@blp.route("/payments/<int:payment_id>/cancel")
class PaymentCancel(MethodView):
    @require_roles(*CANCELLERS)
    @blp.arguments(PaymentCancelIn)
    @blp.response(200, PaymentOut)
    def post(self, data, payment_id):
        """Cancel an unpaid request (pending or failed), with a reason.

        Who: the `cashier` and `finance` roles (an integrating system's key needs `cashier`); `dispatcher`
        alone answers 403. A paid request is not cancelled but refunded (409 here)."""
        session = db_session()
        _payment(session, payment_id)
        payment = lock_payment(session, payment_id=payment_id)
        transition(session, payment, "cancelled", actor=current_principal().actor(), reason=data["reason"])
        session.commit()
        return present(session, payment)


@blp.route("/payments/<int:payment_id>/counter")
class PaymentCounter(MethodView):
    @require_roles("cashier")
    @blp.arguments(CounterPaymentIn)
    @blp.response(200, PaymentOut)
    def post(self, data, payment_id):
        """Record a cash or card-terminal payment at the desk; the receipt is issued in the same action."""
        session = db_session()
        p = current_principal()
        centre_id = _payment(session, payment_id).centre_id
        payment = record_counter_payment(session, payment_id, method=data["method"], actor=p.actor(),
                                         terminal_ref=data.get("terminal_ref"), centre_id=centre_id)
        session.commit()
        issue_receipt_now(session, payment.id)
        session.commit()
        return present(session, payment)


@blp.route("/payments/<int:payment_id>/query")
class PaymentQueryGateway(MethodView):
    @require_roles("cashier", "finance")
    @blp.response(200, PaymentOut)
    def post(self, payment_id):
        """Ask the gateway (VNPAY querydr, MoMo query) about a request stuck in pending and settle it."""
        from fees.gateways.base import GatewayError
        from fees.querying import settle_by_query

        session = db_session()
        payment = _payment(session, payment_id)
        try:
            settle_by_query(session, payment.id, settings())
        except GatewayError as e:
            session.rollback()
            from core.errors import Conflict

            raise Conflict(f"the gateway could not be asked: {e}", code="gateway-unavailable") from e
        session.commit()
        session.refresh(payment)
        return present(session, payment)


@blp.route("/payments/<int:payment_id>/refunds")
class PaymentRefunds(MethodView):
    @require_roles("finance")
    @blp.response(200, RefundOut(many=True))
    def get(self, payment_id):
        """Refunds of a payment."""
        session = db_session()
        payment = _payment(session, payment_id)
        rows = session.scalars(select(Refund).where(Refund.payment_id == payment.id).order_by(Refund.id))
        return [_refund_out(session, r) for r in rows]

    @require_roles("finance")
    @blp.arguments(RefundIn)
    @blp.response(201, RefundOut)
    def post(self, data, payment_id):
        """Refund all or part of a paid request (finance; a second person approves when HCC_REFUND_NEEDS_APPROVAL)."""
        session = db_session()
        p = current_principal()
        centre_id = _payment(session, payment_id).centre_id
        refund = refund_service.request_refund(
            session, payment_id, amount=data["amount"], reason=data["reason"], actor=p.actor(),
            needs_approval=settings().get_bool("HCC_REFUND_NEEDS_APPROVAL", True), centre_id=centre_id)
        session.commit()
        session.refresh(refund)
        session.refresh(refund.payment)
        return _refund_out(session, refund)


@blp.route("/refunds/<int:refund_id>/approve")
class RefundApprove(MethodView):
    @require_roles("finance")
    @blp.response(200, RefundOut)
    def post(self, refund_id):
        """Approve a refund someone else requested; it is then sent to the gateway."""
        session = db_session()
        p = current_principal()
        centre_id = _refund(session, refund_id).payment.centre_id
        refund = refund_service.approve_refund(session, refund_id, actor=p.actor(), centre_id=centre_id)
        session.commit()
        session.refresh(refund)
        session.refresh(refund.payment)
        return _refund_out(session, refund)


@blp.route("/refunds/<int:refund_id>/reject")
class RefundReject(MethodView):
    @require_roles("finance")
    @blp.arguments(RefundRejectIn)
    @blp.response(200, RefundOut)
    def post(self, data, refund_id):
        """Reject a requested refund, with a note."""
        session = db_session()
        p = current_principal()
        centre_id = _refund(session, refund_id).payment.centre_id
        refund = refund_service.reject_refund(session, refund_id, actor=p.actor(), note=data["note"],
                                              centre_id=centre_id)
        session.commit()
        return _refund_out(session, refund)


@blp.route("/webhooks")
class Webhooks(MethodView):
    @require_roles("admin")
    @blp.response(200, WebhookEndpointOut(many=True))
    def get(self):
        """Webhook endpoints registered for the caller's centres."""
        return list(db_session().scalars(current_principal().scope(
            select(WebhookEndpoint), WebhookEndpoint.centre_id).order_by(WebhookEndpoint.id)))

    @require_roles("admin")
    @blp.arguments(WebhookEndpointIn)
    @blp.response(201, WebhookEndpointCreated)
    def post(self, data):
        """Register a URL for signed payment events (`*` or a list such as `payment.paid`)."""
        session = db_session()
        p = current_principal()
        centre = p.centre(session, data.get("centre_code"))
        endpoint = webhooks.register_endpoint(session, centre.id, data["url"], events_=data.get("events"),
                                              description=data.get("description"), created_by=p.key)
        session.commit()
        shown_once("secret")
        return endpoint


@blp.route("/webhooks/<int:endpoint_id>")
class WebhookOne(MethodView):
    @require_roles("admin")
    @blp.response(204)
    def delete(self, endpoint_id):
        """Stop sending events to this endpoint."""
        session = db_session()
        endpoint = session.get(WebhookEndpoint, endpoint_id) if 0 < endpoint_id < 2**63 else None
        if endpoint is None or not current_principal().sees(endpoint.centre_id):
            raise NotFound("webhook endpoint not found")
        endpoint.active = False
        session.commit()

