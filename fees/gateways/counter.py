"""Counter payments: a cashier records cash or a card-terminal payment for a request in one action."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core import audit
from core.errors import InvalidInput, NotFound
from core.security import new_code
from fees.gateways.base import PaymentGateway, register_gateway
from fees.models import Payment
from fees.payments import TransitionError, lock_payment, transition

METHODS = ("cash", "card")


@register_gateway
class CounterGateway(PaymentGateway):
    """Money is handed over at the desk; refunds are paid back at the desk too (no gateway call)."""

    name = "counter"
    display_name = "Tại quầy"
    online = False


def record_counter_payment(session: Session, payment_id: int, *, method: str, actor: audit.Actor,
                           terminal_ref: str | None = None, centre_id: int | None = None) -> Payment:
    """The cashier took the full amount in cash or on the card terminal: the request becomes paid."""
    if method not in METHODS:
        raise InvalidInput("unknown counter method", errors={"method": ["Chọn tiền mặt hoặc thẻ (POS)."]})
    if method == "card" and not (terminal_ref or "").strip():
        raise InvalidInput("a card payment needs the terminal's reference",
                           errors={"terminal_ref": ["Nhập số tham chiếu giao dịch trên máy POS."]})
    payment = lock_payment(session, payment_id=payment_id)
    if payment is None or (centre_id is not None and payment.centre_id != centre_id):
        raise NotFound("payment not found")
    if payment.status not in ("pending", "failed", "expired"):
        raise TransitionError(payment, "paid")
    if "counter" not in (payment.allowed_channels or []) and payment.allowed_channels == ["cod"]:
        raise InvalidInput("this request is collected on delivery", errors={"method": ["Khoản này thu hộ khi giao."]})
    ref = terminal_ref.strip() if method == "card" else f"CASH-{new_code(8)}"
    transition(session, payment, "paid", actor=actor, reason=f"thu tại quầy ({'tiền mặt' if method == 'cash' else 'thẻ'})",
               channel="counter", channel_ref=ref, paid_amount=payment.amount)
    payment.extra = {**(payment.extra or {}), "counter_method": method}
    return payment
