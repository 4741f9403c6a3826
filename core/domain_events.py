"""Every domain event on the bus (core.events): what it means, its data, who emits it, who reacts, in order.

Read top to bottom, this is the money's path: a payment is created and paid, the payment's receipts are
issued and sent, the tax authority hears of them and answers, and beside it the result's parcel travels
and its dossier is returned. `core.events.on` and `core.events.emit` refuse a name that is not here, and
run the handlers of an event in the order listed here. tests/core/test_domain_events.py checks that the
handlers the app subscribes are exactly these.

A handler is named "module:function"; a handler built by a factory function (one closure per event) is
named after the factory, e.g. "receipts.webhooks:_announce". Handlers that start outside work schedule a
job after commit (core.jobs.enqueue_after_commit); the rest write in the emitter's transaction.

Outbound webhook names (what integrating systems may subscribe to, fees.webhooks.EVENTS) are another
list: several of them are published straight from these handlers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DomainEvent:
    name: str
    meaning: str
    data: tuple[str, ...]  # the keyword arguments every handler receives (after the session)
    emitted_by: str  # the module that emits it
    handlers: tuple[str, ...] = ()  # "module:function", in the order they run


_PAYMENT_MOVED = ("payment_id", "previous")  # `previous`: the status it left
_SHIPMENT_MOVED = ("shipment_id", "previous")
_WEBHOOK = "fees.webhooks:_subscribe"  # the integrating system's webhook for a payment event
_SHIPMENT_WEBHOOK = "postal.webhooks:_announce"
_DOSSIER_MOVED = "dossiers.service:_on_shipment_moved"  # the dossier's result is on its way (its status)


EVENTS: tuple[DomainEvent, ...] = (
    # ---- the payment (fees.payments: create_payment, and transition, the payment's one state machine) ----
    DomainEvent("payment.created", "A payment request was made (by staff or the API); the citizen can pay it.",
                ("payment_id",), "fees.payments",
                (_WEBHOOK, "fees.jobs:_tell_the_citizen_to_pay")),
    DomainEvent("payment.paid", "The money arrived (gateway IPN, counter, COD, bank transfer); paid exactly once.",
                _PAYMENT_MOVED, "fees.payments",
                (_WEBHOOK, "receipts.jobs:_on_payment_paid")),
    DomainEvent("payment.failed", "The gateway says the attempt failed; the citizen can try again.",
                _PAYMENT_MOVED, "fees.payments", (_WEBHOOK,)),
    DomainEvent("payment.expired", "Unpaid at its expiry; money arriving later still pays it, flagged.",
                _PAYMENT_MOVED, "fees.payments", (_WEBHOOK,)),
    DomainEvent("payment.cancelled", "Withdrawn by staff or the integrating system; it can no longer be paid.",
                _PAYMENT_MOVED, "fees.payments", (_WEBHOOK,)),
    DomainEvent("payment.refunded", "Refunds now cover the whole amount; the receipts stay valid.",
                _PAYMENT_MOVED, "fees.payments",
                (_WEBHOOK, "receipts.jobs:_on_payment_refunded")),
    DomainEvent("payment.partially_refunded", "A refund of part of the amount succeeded; the receipts stay valid.",
                _PAYMENT_MOVED, "fees.payments",
                (_WEBHOOK, "receipts.jobs:_on_payment_refunded")),
    # ---- the receipts (receipts.issuance; one receipt per collecting unit of the payment) ----
    DomainEvent("receipt.issued", "A receipt was numbered, signed and stored: send it to the payer and the tax authority.",
                ("receipt_id", "payment_id"), "receipts.issuance",
                ("receipts.jobs:_on_receipt_issued", "receipts.webhooks:_announce", "tax.jobs:_on_receipt_issued")),
    DomainEvent("receipt.refunded", "A refund document records a receipt's share of a refund (the receipt stays).",
                ("receipt_id", "refund_id", "amount"), "receipts.jobs"),
    DomainEvent("receipt.cancelled", "A receipt made in error was cancelled (form 04/SS-CTĐT goes to the tax authority).",
                ("receipt_id", "payment_id", "correction_id"), "receipts.issuance",
                ("receipts.webhooks:_announce", "tax.corrections:_on_correction")),
    DomainEvent("receipt.replaced", "A receipt made in error was replaced by a new one that refers to it.",
                ("receipt_id", "replacement_id", "payment_id", "correction_id"), "receipts.issuance",
                ("receipts.webhooks:_announce", "tax.corrections:_on_correction")),
    DomainEvent("receipt.adjusted", "A receipt made in error was adjusted by a new one that refers to it.",
                ("receipt_id", "adjustment_id", "payment_id", "correction_id"), "receipts.issuance",
                ("tax.corrections:_on_correction",)),
    # ---- the tax authority's answers (tax.jobs; `kind`: receipt, registration, notice, ...) ----
    DomainEvent("tax.accepted", "The tax authority accepted a message (a receipt, a series registration, a notice).",
                ("kind", "message_id", "receipt_id", "series_id", "reasons"), "tax.jobs",
                ("tax.registration:_registration_accepted", "tax.corrections:_on_accepted")),
    DomainEvent("tax.rejected", "The tax authority rejected a message, with its reasons.",
                ("kind", "message_id", "receipt_id", "series_id", "reasons"), "tax.jobs",
                ("tax.registration:_registration_rejected", "tax.corrections:_on_rejected")),
    # ---- the result's parcel (postal.shipments: create_shipment, and transition, the shipment's state machine) ----
    DomainEvent("shipment.created", "A result (or a dossier pickup) was handed to dispatch: create it at the carrier.",
                ("shipment_id",), "postal.shipments",
                ("postal.jobs:_create_after_commit",)),
    DomainEvent("shipment.picked_up", "The carrier took the parcel.",
                _SHIPMENT_MOVED, "postal.shipments", (_SHIPMENT_WEBHOOK, _DOSSIER_MOVED)),
    DomainEvent("shipment.in_transit", "The parcel is on its way.",
                _SHIPMENT_MOVED, "postal.shipments", (_SHIPMENT_WEBHOOK, _DOSSIER_MOVED)),
    DomainEvent("shipment.out_for_delivery", "The postman is taking the parcel to the recipient.",
                _SHIPMENT_MOVED, "postal.shipments", (_SHIPMENT_WEBHOOK, _DOSSIER_MOVED)),
    DomainEvent("shipment.delivery_failed", "A delivery attempt failed; the carrier will try again or return it.",
                _SHIPMENT_MOVED, "postal.shipments", (_SHIPMENT_WEBHOOK,)),
    DomainEvent("shipment.on_hold", "The carrier holds the parcel (an address or contact problem).",
                _SHIPMENT_MOVED, "postal.shipments", (_SHIPMENT_WEBHOOK,)),
    DomainEvent("shipment.ready_for_pickup", "The parcel waits at a post office for the recipient.",
                _SHIPMENT_MOVED, "postal.shipments", (_SHIPMENT_WEBHOOK,)),
    DomainEvent("shipment.delivered", "The recipient has the parcel (and paid its COD): the dossier is returned.",
                _SHIPMENT_MOVED, "postal.shipments",
                (_SHIPMENT_WEBHOOK, "dossiers.service:_on_result_delivered")),
    DomainEvent("shipment.return_to_sender", "The parcel is coming back to the centre.",
                _SHIPMENT_MOVED, "postal.shipments", (_SHIPMENT_WEBHOOK,)),
    DomainEvent("shipment.returned", "The parcel is back at the centre, undelivered.",
                _SHIPMENT_MOVED, "postal.shipments", (_SHIPMENT_WEBHOOK,)),
    DomainEvent("shipment.cancelled", "The shipment was cancelled (by staff, or by the carrier).",
                _SHIPMENT_MOVED, "postal.shipments", (_SHIPMENT_WEBHOOK,)),
    DomainEvent("shipment.received_at_centre", "A dossier collected by post reached the centre (the desk confirmed it).",
                ("shipment_id",), "postal.collection", (_SHIPMENT_WEBHOOK,)),
    # ---- the dossier (dossiers.apologies) ----
    DomainEvent("dossier.apology_issued", "A late dossier's letter of apology was issued with its new date.",
                ("apology_id", "dossier_id"), "dossiers.apologies"),
)

BY_NAME: dict[str, DomainEvent] = {event.name: event for event in EVENTS}
