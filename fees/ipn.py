"""Judging inbound gateway notifications (VNPAY IPN, MoMo IPN, bank credits) and answering in each one's terms.

The api layer stores the request verbatim first (core.callbacks.store), then calls one of these in the
acting transaction, settles the stored callback with the returned outcome and answers as told.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core import audit, callbacks
from core.settings import Settings
from fees import merchants
from fees.gateways import attempts
from fees.gateways import momo as momo_wire
from fees.gateways import vnpay as vnpay_wire
from fees.gateways.base import MerchantAccount
from fees.gateways.vietqr import VietqrGateway, code_in_description, sign_notification
from fees.models import Payment
from fees.payments import add_flag, lock_payment, transition
from fees.settlement import PAID_STATES, flag_for_finance, settle_gateway_payment


@dataclass
class Verdict:
    """outcome is what core.callbacks records: accepted, duplicate, rejected, flagged."""

    outcome: str
    answer: str  # the gateway's own code: VNPAY RspCode, 'ok', 'bad-signature', ...
    detail: str = ""
    payment_id: int | None = None
    dedup_key: str | None = None


def whole_dong(value) -> int:
    """A gateway's amount as whole đồng: an int, or a string of digits; anything else is refused.

    int() alone would turn 200000.9 into 200000 and accept "20_000", so a float or a stray format
    from a gateway would change money silently.
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not an amount")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise ValueError(f"not a whole number of đồng: {value!r}")


def _note_order(session: Session, settings: Settings, settled, *, gateway: str, order_ref: str, success: bool,
                amount: int, transaction_ref: str | None, raw_status: str | None, merchant_id: str,
                actor: audit.Actor) -> None:
    """Record what the notification said about its order; a second payment of the fee (an older order paid
    after a newer one, or after another channel) goes to the refund flow, once per order."""
    payment = settled.payment
    if payment is None or settled.result in ("not_found", "amount_mismatch"):
        return
    outcome = attempts.OUTCOME_OF_SETTLED.get(settled.result)
    if outcome is None and not success and settled.result == "already":
        outcome = "failed"  # a cancelled or failed order of a payment already settled otherwise
    attempt = attempts.note(session, payment, gateway, order_ref, outcome=outcome, transaction_ref=transaction_ref,
                            raw_status=raw_status, amount=amount, merchant_id=merchant_id)
    if settled.result == "paid_twice":
        from fees.refunds import refund_second_payment

        refund_second_payment(session, payment, attempt, actor=actor,
                              needs_approval=settings.get_bool("HCC_REFUND_NEEDS_APPROVAL", True))


def _settled_outcome(result: str) -> str:
    return {"paid": "accepted", "failed_recorded": "accepted", "flagged": "flagged", "paid_twice": "flagged",
            "already": "duplicate"}.get(result, "rejected")


def _payment_takes(session: Session, settings: Settings, code: str, gateway_name: str,
                   account: MerchantAccount, order_ref: str | None = None) -> bool:
    """Whether the payment with this code (if there is one) is paid into `account` at the gateway.

    A notification verified with one merchant's secret speaks only for that merchant's orders: another
    unit's account (or the default one) cannot pay a request whose money belongs elsewhere. An unknown code
    is let through, for settlement to answer in the gateway's terms.
    """
    payment = lock_payment(session, code=code)
    if payment is None:
        return True
    attempt = attempts.find(session, gateway_name, order_ref) if order_ref else None
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


def vnpay_ipn(session: Session, settings: Settings, params: dict[str, str]) -> Verdict:
    """Checks in VNPAY's order: checksum (97), TMN code and order (01), amount (04), still pending (02).

    The checksum is verified with the secret of the merchant the IPN names (the default account or a
    unit's); an order that is not that merchant's answers 01, as VNPAY's own order lookup would.
    """
    account = merchants.account_for_callback(session, settings, "vnpay", params.get("vnp_TmnCode"))
    if account is None:
        # A code none of our accounts has: checked with the default secret, as before units had accounts.
        if not vnpay_wire.verify_params(params, merchants.default_account(settings, "vnpay").hash_secret):
            return Verdict("rejected", "97", "bad checksum")
        return Verdict("rejected", "01", "not our merchant code")
    if not vnpay_wire.verify_params(params, account.hash_secret):
        return Verdict("rejected", "97", "bad checksum")
    try:
        amount_x100 = whole_dong(params["vnp_Amount"])
        txn_ref = params["vnp_TxnRef"]
    except (KeyError, ValueError):
        return Verdict("rejected", "99", "malformed amount or order")
    # Each checkout attempt is its own vnp_TxnRef: the attempts table maps it back to the payment.
    code = attempts.payment_code_for(session, "vnpay", txn_ref)
    # Not whole đồng cannot match any request; -1 (amounts are never negative) lets the order be
    # looked up first, so the answer keeps VNPAY's order: unknown order 01 before wrong amount 04.
    amount = amount_x100 // 100 if amount_x100 % 100 == 0 else -1
    if not _payment_takes(session, settings, code, "vnpay", account, txn_ref):
        return Verdict("rejected", "01", f"order is not merchant {account.tmn_code}'s")
    success = params.get("vnp_ResponseCode") == "00" and params.get("vnp_TransactionStatus", "00") == "00"
    txn = params.get("vnp_TransactionNo")
    actor = audit.Actor(type="gateway", id="vnpay", name="VNPAY IPN")
    settled = settle_gateway_payment(session, channel="vnpay", order_code=code, amount=amount,
                                     success=success, transaction_ref=txn, actor=actor,
                                     extra={"vnpay_pay_date": params.get("vnp_PayDate"),
                                            "vnpay_bank_code": params.get("vnp_BankCode"),
                                            merchants.PAID_MERCHANT: account.tmn_code} if success else None)
    _note_order(session, settings, settled, gateway="vnpay", order_ref=txn_ref, success=success, amount=amount,
                transaction_ref=txn if success else None, raw_status=params.get("vnp_ResponseCode"),
                merchant_id=account.tmn_code, actor=actor)
    # A second payment (an older vnp_TxnRef paid after a newer one) is an order VNPAY had not had confirmed:
    # it is confirmed (00) once recorded and sent to the refund flow; its replays are 02 like any other.
    answer = {"paid": "00", "failed_recorded": "00", "flagged": "00", "already": "02", "paid_twice": "00",
              "not_found": "01",
              "amount_mismatch": "04"}[settled.result]
    return Verdict(_settled_outcome(settled.result), answer, settled.detail or settled.result,
                   settled.payment.id if settled.payment else None,
                   f"{txn}:{params.get('vnp_ResponseCode')}" if txn else None)


def momo_ipn(session: Session, settings: Settings, body: str) -> Verdict:
    """MoMo's IPN: verify the signature over the documented fields with the keys of the partner it names
    (the default account or a unit's), check the order is that partner's, then settle; MoMo wants 204."""
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError
    except ValueError:
        return Verdict("rejected", "malformed", "body is not a JSON object")
    partner = data.get("partnerCode")
    account = merchants.account_for_callback(session, settings, "momo", partner if isinstance(partner, str) else None)
    if account is None:
        # A partner none of our accounts is: checked with the default keys, as before units had accounts.
        default = merchants.default_account(settings, "momo")
        if not momo_wire.verify(data, momo_wire.IPN_FIELDS, default.access_key, default.secret_key):
            return Verdict("rejected", "bad-signature", "bad signature")
        return Verdict("rejected", "unknown-partner", "not our partner code")
    if not momo_wire.verify(data, momo_wire.IPN_FIELDS, account.access_key, account.secret_key):
        return Verdict("rejected", "bad-signature", "bad signature")
    try:
        amount, result_code = whole_dong(data["amount"]), data["resultCode"]
        if not isinstance(result_code, int) or isinstance(result_code, bool):
            raise TypeError("resultCode must be an integer")
    except (KeyError, ValueError, TypeError):
        return Verdict("rejected", "malformed", "malformed amount or resultCode")
    if result_code in momo_wire.PENDING_CODES:
        return Verdict("accepted", "pending", "not final yet")
    order_id = str(data.get("orderId") or "")
    trans_id = str(data.get("transId") or "")
    # Each checkout attempt is its own orderId: the attempts table maps it back to the payment.
    code = attempts.payment_code_for(session, "momo", order_id)
    if not _payment_takes(session, settings, code, "momo", account, order_id):
        return Verdict("rejected", "other-partner", f"order is not partner {account.partner_code}'s")
    actor = audit.Actor(type="gateway", id="momo", name="MoMo IPN")
    # 0, or 9000 (authorised) with the one-step capture of captureWallet: MoMo says it may be taken as paid.
    paid = result_code in momo_wire.PAID_CODES
    settled = settle_gateway_payment(session, channel="momo", order_code=code,
                                     amount=amount, success=paid, transaction_ref=trans_id or None,
                                     actor=actor, extra={"momo_order_id": order_id,
                                                         merchants.PAID_MERCHANT: account.partner_code}
                                     if paid else None)
    _note_order(session, settings, settled, gateway="momo", order_ref=order_id, success=paid, amount=amount,
                transaction_ref=trans_id if paid else None, raw_status=str(result_code),
                merchant_id=account.partner_code, actor=actor)
    return Verdict(_settled_outcome(settled.result), settled.result, settled.detail or settled.result,
                   settled.payment.id if settled.payment else None,
                   f"{trans_id}:{result_code}" if trans_id else None)


def bank_credit(session: Session, settings: Settings, *, body: str, timestamp: str, signature: str,
                callback_id: int) -> Verdict:
    """A bank's credit notification: signature, our account, code in the description, amount, dedup on reference.

    Partial transfers accumulate and are flagged `underpaid` until the total is reached; money beyond
    the amount is flagged `overpaid` for finance to return.
    """
    gw = VietqrGateway(settings)
    import hmac as _hmac

    if not signature or not _hmac.compare_digest(signature.lower(), sign_notification(gw.webhook_secret, timestamp, body)):
        return Verdict("rejected", "bad-signature", "bad signature")
    try:
        data = json.loads(body)
        if not isinstance(data["reference"], str | int) or isinstance(data["reference"], bool):
            raise TypeError("the bank reference must be a string")
        reference = str(data["reference"]).strip()
        amount = whole_dong(data["amount"])
        account = str(data.get("account") or "")
        description = str(data.get("description") or "")
    except (ValueError, KeyError, TypeError):
        return Verdict("rejected", "malformed", "malformed notification")
    if not reference or amount <= 0:
        return Verdict("rejected", "malformed", "malformed notification")
    dedup = f"bank:{reference}"
    credited = merchants.account_for_callback(session, settings, "vietqr", account) if account else None
    if account and credited is None:
        return Verdict("rejected", "other-account", "credit to another account", dedup_key=dedup)
    code = code_in_description(description)
    if code is None:
        return Verdict("flagged", "no-code", "no payment code in the description", dedup_key=dedup)
    payment = lock_payment(session, code=code)
    if payment is None:
        return Verdict("flagged", "unknown-code", f"no payment {code}", dedup_key=dedup)
    # The lock serialises credits for one payment, so this check and the crediting below cannot race.
    if callbacks.seen_before(session, "vietqr", dedup, exclude_id=callback_id):
        return Verdict("duplicate", "duplicate", "bank reference already credited", payment.id, dedup)
    actor = audit.Actor(type="gateway", id="bank", name="bank notification")
    if credited is not None and not _payment_takes(session, settings, code, "vietqr", credited):
        # Money for this payment in another of the province's accounts: it is there, but not the payment's
        # unit's; finance moves it, nothing is paid on it.
        if not any(n.get("transaction_ref") == reference for n in (payment.extra or {}).get("finance_notes", [])):
            flag_for_finance(session, payment, "paid_to_other_account", actor, channel="vietqr", amount=amount,
                             transaction_ref=reference, account=account)
        return Verdict("flagged", "other-account", "credit to another unit's account", payment.id, dedup)
    received = int((payment.extra or {}).get("bank_received", 0)) + amount
    refs = [*(payment.extra or {}).get("bank_references", []), reference]
    payment.extra = {**(payment.extra or {}), "bank_received": received, "bank_references": refs}
    if payment.status in PAID_STATES or payment.status == "cancelled":
        flag_for_finance(session, payment, "paid_twice" if payment.status in PAID_STATES else "paid_after_cancel",
                         actor, channel="vietqr", amount=amount, transaction_ref=reference)
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
    transition(session, payment, "paid", actor=actor, reason="vietqr: chuyển khoản đã ghi có", channel="vietqr",
               channel_ref=reference[:64], paid_amount=payment.amount)
    return Verdict("accepted", "ok", "paid", payment.id, dedup)


def lookup_for_return(session: Session, code: str) -> Payment | None:
    """The return page shows our own state, never what the browser's query string claims."""
    return session.query(Payment).filter(Payment.code == code).one_or_none()
