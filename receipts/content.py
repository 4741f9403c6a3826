"""The legal content of a receipt, built once from the payment and frozen in the receipt row.

Pure functions: the PDF, the XML and the API all read the same dictionary, so what the citizen
sees, what is signed and what the register lists cannot drift apart.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from num2words import num2words

from core.clock import format_local, to_local
from core.text import printable
from fees.gateways.base import ChannelLabels

log = logging.getLogger(__name__)

RECEIPT_TYPE = "BIÊN LAI THU PHÍ, LỆ PHÍ"
KIND_LABELS = {"phi": "Phí", "le_phi": "Lệ phí"}
CHANNEL_LABELS = ChannelLabels({  # a gateway not named here is shown by its display_name
    "vnpay": "Cổng thanh toán VNPAY",
    "momo": "Ví điện tử MoMo",
    "vietqr": "Chuyển khoản VietQR",
    "counter": "Nộp tại quầy",
    "cod": "Thu hộ khi phát (COD)",
})


def amount_in_words(amount: int) -> str:
    """200000 -> 'Hai trăm nghìn đồng' (Vietnamese, capitalised, with the currency)."""
    words = num2words(int(amount), lang="vi").strip()
    return words[:1].upper() + words[1:] + " đồng"


def format_amount(amount: int) -> str:
    """200000 -> '200.000' (Vietnamese grouping, no unit)."""
    return f"{int(amount):,}".replace(",", ".")


# Channels where a person takes the money (a cashier at the counter, a postman on delivery); on the others
# the citizen pays online and the unit's system records it.
IN_PERSON_CHANNELS = ("counter", "cod")


COUNTER_METHODS = {"cash": "tiền mặt", "card": "thẻ"}


def channel_label(payment) -> str:
    """The payment method in words (hình thức thanh toán), with the counter's cash or card where known."""
    channel = payment.channel or ""
    label = CHANNEL_LABELS.get(channel, channel)
    method = COUNTER_METHODS.get((getattr(payment, "extra", None) or {}).get("counter_method"))
    return f"{label} ({method})" if channel == "counter" and method else label


def normal_tax_code(value) -> str | None:
    """A payer's tax code in the stored form (province.taxcode), or None when it is not a valid one."""
    from province.taxcode import TaxCodeError, normalise_tax_code

    try:
        return normalise_tax_code(value)
    except TaxCodeError:
        return None


def normal_id_number(value) -> str | None:
    """A personal identification number (số định danh cá nhân, on the CCCD: 12 digits; an old identity card:
    9), without spaces or dots; None when it is neither."""
    digits = re.sub(r"[\s.]", "", str(value or ""))
    return digits if re.fullmatch(r"\d{12}|\d{9}", digits) else None


def payer_identity(payment) -> dict:
    """The payer's tax code and identity number (CCCD) where the payment has them, else nothing.

    Read from columns of those names if the payment model has them, else from `payment.extra`
    (`payer_tax_code`, `payer_id_number`), where the systems that create payments may put them. A value of
    the wrong shape is left out (and logged without the value): the receipt's XML could not carry it.
    """
    extra = getattr(payment, "extra", None) or {}
    out = {}
    for key, normal in (("tax_code", normal_tax_code), ("id_number", normal_id_number)):
        value = getattr(payment, f"payer_{key}", None) or extra.get(f"payer_{key}")
        if value in (None, ""):
            continue
        value = normal(printable(str(value)))
        if value is None:
            log.warning("payer %s of the wrong shape left off the receipt", key, extra={"payment_id": payment.id})
        else:
            out[key] = value
    return out


def collector_name(payment, unit) -> str:
    """Who collected the money, as the receipt names the collector (người thu tiền).

    For money taken in person (counter, COD) the staff member who recorded it: `payment.extra["collected_by_name"]`
    when the recording system gave one, else the name on the audit row of the payment's `payment.paid` when a
    staff user signed in to us recorded it. For online payments, and when no person is known (an API client
    recorded it, a COD remittance came from the carrier), the collecting unit itself: its system collected
    on its behalf, and the signature on the receipt is the unit's.
    """
    if (payment.channel or "") in IN_PERSON_CHANNELS:
        name = (getattr(payment, "extra", None) or {}).get("collected_by_name") or _paid_by(payment)
        if name and printable(name).strip():
            return printable(name).strip()
    return unit.name


def _paid_by(payment) -> str | None:
    from sqlalchemy import select
    from sqlalchemy.orm import object_session

    from core.models import AuditLog, User

    session = object_session(payment)
    if session is None or payment.id is None:
        return None
    row = session.execute(select(AuditLog.actor_id, AuditLog.actor_name).where(
        AuditLog.entity_type == "payment", AuditLog.entity_id == str(payment.id), AuditLog.action == "payment.paid",
        AuditLog.actor_type == "user").order_by(AuditLog.id.desc()).limit(1)).first()
    if row is None:
        return None
    user = session.get(User, int(row.actor_id)) if (row.actor_id or "").isdigit() else None
    return (user.full_name or user.username) if user is not None else row.actor_name


def build_content(*, payment, unit, centre, items, template: str, symbol: str, number_text: str, lookup_code: str,
                  lookup_url: str, collected_at: datetime, replaces: dict | None = None,
                  collector: str | None = None) -> dict:
    """Everything the law asks a receipt to show, as plain JSON-able data.

    The receipt is the collecting unit's (its name, tax code, address, phone, bank account) and lists only
    its `items` of the payment; `collected_at_centre` names the centre that collected on its behalf. Its
    date is the Vietnamese calendar day of collection. `collector` names who collected (default:
    `collector_name`). The payer's tax code or identity number appear only when the payment has them.
    """
    lines = [{"fee_code": i.fee_code, "name": i.name, "kind": i.kind, "kind_label": KIND_LABELS.get(i.kind, i.kind),
              "quantity": i.quantity, "unit_amount": i.unit_amount, "amount": i.amount} for i in items]
    total = sum(x["amount"] for x in lines)
    return {
        "type": RECEIPT_TYPE,
        "template": template,
        "symbol": symbol,
        "number": number_text,
        "lookup_code": lookup_code,
        "lookup_url": lookup_url,
        "organisation": {"name": unit.name, "tax_code": unit.tax_code, "address": unit.address,
                         "phone": getattr(unit, "phone", None) or "",
                         "bank_account": getattr(unit, "bank_account_number", None) or "",
                         "bank_account_name": getattr(unit, "bank_account_name", None) or "",
                         "bank_bin": getattr(unit, "bank_bin", None) or ""},
        "unit_code": unit.code,
        "collected_at_centre": centre.name,
        # printable(): a payment stored before input was cleaned may hold control characters, which the
        # signed XML cannot carry; the receipt shows the name as typed, without them.
        "payer": {"name": printable(payment.payer_name), "address": printable(payment.payer_address or ""),
                  **payer_identity(payment)},
        "collector": printable(collector).strip() if collector else collector_name(payment, unit),
        "payment_code": payment.code,
        "dossier_code": payment.dossier_code,
        "lines": lines,
        "total": total,
        "total_words": amount_in_words(total),
        "collected_at": collected_at.isoformat(),
        "collected_local": format_local(collected_at, "%d/%m/%Y %H:%M"),
        "collected_date": to_local(collected_at).strftime("%d/%m/%Y"),
        "collected_day": to_local(collected_at).date().isoformat(),
        "collected_local_iso": to_local(collected_at).replace(microsecond=0).isoformat(),
        "currency": "VND",
        "channel": payment.channel or "",
        "channel_label": channel_label(payment),
        "channel_ref": payment.channel_ref or "",
        "replaces": replaces,
    }
