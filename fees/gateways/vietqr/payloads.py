"""VietQR bank transfer: the EMVCo QR payload (NAPAS) and the bank's credit notification.

The QR carries the collecting account's bank BIN and number (the deployment's, or the unit's own when the
payment's fees belong to a unit with one), the amount and the citizen code (tag 62/08), so the
transfer description names the payment; the bank's notification credits it.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass

from core.security import CODE_ALPHABET

NAPAS_GUID = "A000000727"
# NAPAS BINs of the banks provincial treasuries and centres most often collect through.
BANK_NAMES = {"970436": "Vietcombank", "970415": "VietinBank", "970418": "BIDV", "970405": "Agribank",
              "970422": "MB", "970407": "Techcombank", "970432": "VPBank", "970416": "ACB"}
SERVICE_TO_ACCOUNT = "QRIBFTTA"


def tlv(tag: str, value: str) -> str:
    if len(value) > 99:
        raise ValueError(f"EMVCo field {tag} is longer than 99 characters")
    return f"{tag}{len(value):02d}{value}"


def crc16_ccitt_false(data: str) -> str:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF), upper-case hex, as EMVCo tag 63 wants."""
    return f"{binascii.crc_hqx(data.encode('utf-8'), 0xFFFF):04X}"


def emv_payload(*, bank_bin: str, account: str, amount: int | None, description: str) -> str:
    beneficiary = tlv("00", bank_bin) + tlv("01", account)
    merchant = tlv("00", NAPAS_GUID) + tlv("01", beneficiary) + tlv("02", SERVICE_TO_ACCOUNT)
    body = tlv("00", "01") + tlv("01", "12" if amount else "11") + tlv("38", merchant) + tlv("53", "704")
    if amount:
        body += tlv("54", str(amount))
    body += tlv("58", "VN") + tlv("62", tlv("08", description))
    body += "6304"
    return body + crc16_ccitt_false(body)


def parse_tlv(data: str) -> dict[str, str]:
    out, i = {}, 0
    while i < len(data):
        tag, size = data[i:i + 2], int(data[i + 2:i + 4])
        out[tag] = data[i + 4:i + 4 + size]
        i += 4 + size
    return out


def transfer_description(code: str) -> str:
    """What the citizen's transfer says: 'HCC <code>' (banks keep letters, digits and spaces)."""
    return f"HCC {code}"


_CODE_RE = re.compile(r"HCC\s*([" + CODE_ALPHABET + r"]{10})\b", re.IGNORECASE)


def code_in_description(text: str) -> str | None:
    """Find our citizen code in a bank transfer description (banks may add words, change case)."""
    match = _CODE_RE.search(text or "")
    return match.group(1).upper() if match else None


def sign_notification(secret: str, timestamp: str, body: str) -> str:
    """The bank's signature over '<timestamp>.<body>' (HMAC-SHA256, hex)."""
    return hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class BankCredit:
    """One incoming transfer as the bank notified it."""

    reference: str
    account: str
    amount: int
    description: str
    transaction_time: str | None = None
