"""Vietnamese tax codes (mã số thuế, MST): shape, check digit and the one form we store."""

from __future__ import annotations

import re

# The check digit of the ten-digit code: weights over the first nine digits, 10 - (sum mod 11); a result of 10
# cannot be written as one digit, so such a prefix is never issued. The rule is the one python-stdnum
# (stdnum/vn/mst.py) implements; it holds for published codes such as 0100109106 (Viettel), 0100112437
# (Vietcombank), 0300588569 (Vinamilk) and 2300245389 (the Bắc Ninh example).
WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)

_SHAPE = re.compile(r"^(\d{10})(?:-?(\d{3}))?$")


class TaxCodeError(ValueError):
    """Raised when a tax code has the wrong shape or a wrong check digit; the message is Vietnamese."""


def check_digit(first_nine: str) -> int | None:
    """The tenth digit for nine digits, or None when no digit fits (that prefix is never issued)."""
    total = sum(int(d) * w for d, w in zip(first_nine, WEIGHTS, strict=True))
    digit = 10 - total % 11
    return None if digit == 10 else digit


def normalise_tax_code(value: object) -> str:
    """The stored form: ten digits, or ten digits, a hyphen and three digits (a dependent unit or branch).

    Accepts surrounding spaces, inner spaces or dots, and the 13-digit form without its hyphen.
    Raises TaxCodeError with a Vietnamese message saying what is wrong.
    """
    if value is None:
        raise TaxCodeError("Thiếu mã số thuế")
    raw = re.sub(r"[\s.]", "", str(value))
    m = _SHAPE.match(raw)
    if m is None:
        raise TaxCodeError(f"Mã số thuế {str(value)!r} không đúng dạng: 10 chữ số, hoặc 10 chữ số, dấu '-' và 3 chữ số")
    main, branch = m.group(1), m.group(2)
    if main[:2] == "00" or main[2:9] == "0000000" or branch == "000":
        raise TaxCodeError(f"Mã số thuế {str(value)!r} không hợp lệ (mã tỉnh, số thứ tự hoặc số đơn vị phụ thuộc bằng 0)")
    if check_digit(main[:9]) != int(main[9]):
        raise TaxCodeError(f"Mã số thuế {str(value)!r} sai chữ số kiểm tra")
    return main if branch is None else f"{main}-{branch}"


def is_valid_tax_code(value: object) -> bool:
    try:
        normalise_tax_code(value)
    except TaxCodeError:
        return False
    return True
