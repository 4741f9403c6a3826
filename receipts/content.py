"""The legal content of a receipt, built once from the payment and frozen in the receipt row.

Pure functions: the PDF, the XML and the API all read the same dictionary, so what the citizen
sees, what is signed and what the register lists cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime

from num2words import num2words

from core.clock import format_local, to_local
from core.text import printable

RECEIPT_TYPE = "BIÊN LAI THU PHÍ, LỆ PHÍ"
KIND_LABELS = {"phi": "Phí", "le_phi": "Lệ phí"}
CHANNEL_LABELS = {
    "vnpay": "Cổng thanh toán VNPAY",
    "momo": "Ví điện tử MoMo",
    "vietqr": "Chuyển khoản VietQR",
    "counter": "Nộp tại quầy",
    "cod": "Thu hộ khi phát (COD)",
}


def amount_in_words(amount: int) -> str:
    """200000 -> 'Hai trăm nghìn đồng' (Vietnamese, capitalised, with the currency)."""
    words = num2words(int(amount), lang="vi").strip()
    return words[:1].upper() + words[1:] + " đồng"


def format_amount(amount: int) -> str:
    """200000 -> '200.000' (Vietnamese grouping, no unit)."""
    return f"{int(amount):,}".replace(",", ".")


def build_content(*, payment, unit, centre, items, template: str, symbol: str, number_text: str, lookup_code: str,
                  lookup_url: str, collected_at: datetime, replaces: dict | None = None) -> dict:
    """Everything the law asks a receipt to show, as plain JSON-able data.

    The receipt is the collecting unit's (its name, tax code, address) and lists only its `items` of the
    payment; `collected_at_centre` names the centre that collected on its behalf.
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
        "organisation": {"name": unit.name, "tax_code": unit.tax_code, "address": unit.address},
        "unit_code": unit.code,
        "collected_at_centre": centre.name,
        # printable(): a payment stored before input was cleaned may hold control characters, which the
        # signed XML cannot carry; the receipt shows the name as typed, without them.
        "payer": {"name": printable(payment.payer_name), "address": printable(payment.payer_address or "")},
        "payment_code": payment.code,
        "dossier_code": payment.dossier_code,
        "lines": lines,
        "total": total,
        "total_words": amount_in_words(total),
        "collected_at": collected_at.isoformat(),
        "collected_local": format_local(collected_at, "%d/%m/%Y %H:%M"),
        "collected_date": to_local(collected_at).strftime("%d/%m/%Y"),
        "channel": payment.channel or "",
        "channel_label": CHANNEL_LABELS.get(payment.channel or "", payment.channel or ""),
        "channel_ref": payment.channel_ref or "",
        "replaces": replaces,
    }
