"""Judging any gateway's inbound notification (VNPAY IPN, MoMo IPN, bank credits, ...): one `judge`.

The adapter parses and verifies (`PaymentGateway.parse_notification`) and turns the verdict into its
wire answer (`PaymentGateway.answer`); the api layer stores the request verbatim first
(core.callbacks.store), then calls `receive` in the acting transaction, settles the stored callback with
the verdict's outcome and answers as the adapter says.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from core import audit, callbacks
from core.settings import Settings
from fees import merchants
from fees.gateways import attempts
from fees.gateways.base import (
    BAD_SIGNATURE,
    MALFORMED,
    MATCH_TRANSFER,
    UNKNOWN_MERCHANT,
    InboundRequest,
    MerchantAccount,
    Notification,
    PaymentGateway,
    Verdict,
    whole_dong,
)
from fees.gateways.vietqr.payloads import code_in_description
from fees.models import GatewayAttempt, Payment
from fees.payments import add_flag, lock_payment, transition
from fees.refunds import refund_second_payment
from fees.settlement import PAID_STATES, flag_for_finance, settle_gateway_payment

__all__ = ["Verdict", "judge", "lookup_for_return", "receive", "whole_dong"]


def _note_order(session: Session, settings: Settings, settled, *, gateway: str, order_ref: str, success: bool,
                amount: int, transaction_ref: str | None, raw_status: str | None, merchant_id: str,
                actor: audit.Actor, attempt: GatewayAttempt | None = None) -> None:
    """Record what the notification said about its order; a second payment of the fee (an older order paid
    after a newer one, or after another channel) goes to the refund flow, once per order."""
    payment = settled.payment
    if payment is None or settled.result in ("not_found", "amount_mismatch"):
        return
    outcome = attempts.OUTCOME_OF_SETTLED.get(settled.result)
    if outcome is None and not success and settled.result == "already":
        outcome = "failed"  # a cancelled or failed order of a payment already settled otherwise
    attempt = attempts.note(session, payment, gateway, order_ref, outcome=outcome, transaction_ref=transaction_ref,
                            raw_status=raw_status, amount=amount, merchant_id=merchant_id, attempt=attempt)
    if settled.result == "paid_twice":
        refund_second_payment(session, payment, attempt, actor=actor,
                              needs_approval=settings.get_bool("HCC_REFUND_NEEDS_APPROVAL", True))


def _settled_outcome(result: str) -> str:
    return {"paid": "accepted", "failed_recorded": "accepted", "flagged": "flagged", "paid_twice": "flagged",
            "already": "duplicate"}.get(result, "rejected")


def _payment_takes(session: Session, settings: Settings, code: str, gateway_name: str,
                   account: MerchantAccount, order_ref: str | None = None,
                   attempt: GatewayAttempt | None = None) -> bool:
    """Whether the payment with this code (if there is one) is paid into `account` at the gateway.

    A notification verified with one merchant's secret speaks only for that merchant's orders: another
    unit's account (or the default one) cannot pay a request whose money belongs elsewhere. An unknown code
    is let through, for settlement to answer in the gateway's terms.
    """
    payment = lock_payment(session, code=code)
    if payment is None:
        return True
    if attempt is None and order_ref:
        attempt = attempts.find(session, gateway_name, order_ref)
    if attempt is not None and attempt.merchant_id:
        # The order was opened here with one merchant: only that merchant's word counts for it.
        return attempt.merchant_id == account.merchant_id
    extra = payment.extra or {}
    if (extra.get("checkout_channel") == gateway_name and extra.get(merchants.CHECKOUT_MERCHANT) == account.merchant_id) \
            or (payment.channel == gateway_name and extra.get(merchants.PAID_MERCHANT) == account.merchant_id):
        # We opened the order with this merchant, or it already paid it: true even if the unit's accounts
        # changed since (the money is with that merchant, and its replays must answer as before).
        return True
    try:
        expected = merchants.account_for_payment(session, settings, payment, gateway_name)
    except (merchants.MixedMerchantAccounts, merchants.IncompleteMerchantAccount):
        # Fees of units with different accounts (a request made before the check at creation): only an
        # account of one of them could have taken it, and none may settle it alone.
        return False
    return expected.same_account(account)


def receive(session: Session, settings: Settings, gateway: PaymentGateway, kind: str, request: InboundRequest,
            *, callback_id: int) -> tuple[Notification, Verdict]:
    """Parse one inbound notification with its gateway's adapter (verifying it with the keys of the merchant
    it names: the default account or a unit's) and judge it."""
    notification = gateway.parse_notification(
        kind, request, lambda merchant_id: merchants.account_for_callback(session, settings, gateway.name, merchant_id))
    return notification, judge(session, settings, notification, callback_id=callback_id)


PROBLEMS = {BAD_SIGNATURE: "bad signature", MALFORMED: "malformed notification", UNKNOWN_MERCHANT: "not our merchant"}


def judge(session: Session, settings: Settings, notification: Notification, *, callback_id: int) -> Verdict:
    """Any gateway's notification, judged in one order: one its adapter could not verify or read changes
    nothing; one not final yet is only received; a merchant's word counts only for its own orders; then the
    order is settled once (fees.settlement), or a bank credit added up (MATCH_TRANSFER)."""
    n = notification
    if n.problem is not None:
        # A credit to an account none of ours is keeps its key: the same credit again is the same answer.
        return Verdict("rejected", n.problem, n.detail or PROBLEMS.get(n.problem, n.problem),
                       dedup_key=n.dedup_key if n.match == MATCH_TRANSFER else None)
    if n.match == MATCH_TRANSFER:
        return _judge_transfer(session, settings, n, callback_id)
    if n.pending:
        return Verdict("accepted", "pending", "not final yet")
    account = n.account
    # Each checkout attempt is its own gateway order: the attempts table maps it back to the payment. Its row
    # is read once and handed on (the merchant check and the order's note use the same row), and its payment
    # is locked now, by id, rather than read here and locked again below (the lock is held to the commit).
    attempt = attempts.find(session, n.gateway, n.order_ref)
    locked = lock_payment(session, payment_id=attempt.payment_id) if attempt is not None and account is not None \
        else None
    code = locked.code if locked is not None else attempts.payment_code_for(session, n.gateway, n.order_ref,
                                                                            attempt=attempt)
    if account is None or not _payment_takes(session, settings, code, n.gateway, account, n.order_ref,
                                             attempt=attempt):
        return Verdict("rejected", "other_merchant", f"order is not {n.merchant_label} {n.merchant_id}'s")
    actor = audit.Actor(type="gateway", id=n.actor_id or n.gateway, name=n.actor_name or n.gateway)
    settled = settle_gateway_payment(session, channel=n.gateway, order_code=code, amount=n.amount,
                                     success=n.success, transaction_ref=n.transaction_ref, actor=actor,
                                     extra={**n.paid_extra, merchants.PAID_MERCHANT: account.merchant_id}
                                     if n.success else None)
    _note_order(session, settings, settled, gateway=n.gateway, order_ref=n.order_ref, success=n.success,
                amount=n.amount, transaction_ref=n.transaction_ref if n.success else None, raw_status=n.raw_status,
                merchant_id=account.merchant_id, actor=actor, attempt=attempt)
    return Verdict(_settled_outcome(settled.result), settled.result, settled.detail or settled.result,
                   settled.payment.id if settled.payment else None, n.dedup_key)


def _judge_transfer(session: Session, settings: Settings, n: Notification, callback_id: int) -> Verdict:
    """A bank's credit: our account, code in the description, amount, dedup on the bank's reference.

    Partial transfers accumulate and are flagged `underpaid` until the total is reached; money beyond
    the amount is flagged `overpaid` for finance to return.
    """
    reference, amount, dedup, credited = n.transaction_ref or "", n.amount, n.dedup_key, n.account
    code = code_in_description(n.order_ref)
    if code is None:
        return Verdict("flagged", "no_code", "no payment code in the description", dedup_key=dedup)
    payment = lock_payment(session, code=code)
    if payment is None:
        return Verdict("flagged", "unknown_code", f"no payment {code}", dedup_key=dedup)
    # The lock serialises credits for one payment, so this check and the crediting below cannot race.
    if callbacks.seen_before(session, n.gateway, dedup, exclude_id=callback_id):
        return Verdict("duplicate", "duplicate", "bank reference already credited", payment.id, dedup)
    actor = audit.Actor(type="gateway", id=n.actor_id or n.gateway, name=n.actor_name or n.gateway)
    if credited is not None and not _payment_takes(session, settings, code, n.gateway, credited):
        # Money for this payment in another of the province's accounts: it is there, but not the payment's
        # unit's; finance moves it, nothing is paid on it.
        if not any(x.get("transaction_ref") == reference for x in (payment.extra or {}).get("finance_notes", [])):
            flag_for_finance(session, payment, "paid_to_other_account", actor, channel=n.gateway, amount=amount,
                             transaction_ref=reference, account=n.merchant_id)
        return Verdict("flagged", "other_account", "credit to another unit's account", payment.id, dedup)
    received = int((payment.extra or {}).get("bank_received", 0)) + amount
    refs = [*(payment.extra or {}).get("bank_references", []), reference]
    payment.extra = {**(payment.extra or {}), "bank_received": received, "bank_references": refs}
    if payment.status in PAID_STATES or payment.status == "cancelled":
        flag_for_finance(session, payment, "paid_twice" if payment.status in PAID_STATES else "paid_after_cancel",
                         actor, channel=n.gateway, amount=amount, transaction_ref=reference)
        return Verdict("flagged", "flagged", f"credit for a {payment.status} payment", payment.id, dedup)
    if received < payment.amount:
        if "underpaid" not in (payment.flags or []):
            flag_for_finance(session, payment, "underpaid", actor, received=received, expected=payment.amount)
        return Verdict("flagged", "underpaid", f"received {received} of {payment.amount}", payment.id, dedup)
    if received > payment.amount:
        flag_for_finance(session, payment, "overpaid", actor, received=received, expected=payment.amount)
    flags = [f for f in (payment.flags or []) if f != "underpaid"]
    payment.flags = flags
    if payment.status == "expired":
        add_flag(payment, "paid_after_expiry")
    transition(session, payment, "paid", actor=actor, reason=f"{n.gateway}: chuyển khoản đã ghi có",
               channel=n.gateway, channel_ref=reference[:64], paid_amount=payment.amount)
    return Verdict("accepted", "paid", "paid", payment.id, dedup)


def lookup_for_return(session: Session, code: str) -> Payment | None:
    """The return page shows our own state, never what the browser's query string claims."""
    return session.query(Payment).filter(Payment.code == code).one_or_none()
