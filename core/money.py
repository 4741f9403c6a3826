"""Money is an integer number of đồng; VND has no minor unit."""

from __future__ import annotations


class MoneyError(ValueError):
    """Raised when an amount is not a non-negative whole number of đồng."""


def check_amount(value: object, *, allow_zero: bool = True) -> int:
    # bool is an int subclass; a float is never money here.
    if isinstance(value, bool) or not isinstance(value, int):
        raise MoneyError(f"amount must be an integer number of đồng, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise MoneyError(f"amount must be positive, got {value}")
    return value


def format_vnd(amount: int) -> str:
    """200000 -> '200.000 ₫' (Vietnamese digit grouping)."""
    return f"{amount:,}".replace(",", ".") + " ₫"
