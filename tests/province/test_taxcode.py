"""Tax codes: shape, check digit, and the stored form."""

import pytest

from province.taxcode import TaxCodeError, check_digit, is_valid_tax_code, normalise_tax_code


@pytest.mark.parametrize("code", [
    "2300245389",  # the Bắc Ninh example
    "0100109106",  # Viettel
    "0100686209",
    "0100112437",  # Vietcombank
    "0300588569",  # Vinamilk
    "0100047516",  # the worked example of the check digit
])
def test_published_codes_pass_the_check_digit(code):
    assert normalise_tax_code(code) == code


def test_thirteen_digits_are_stored_with_the_hyphen():
    assert normalise_tax_code("0100109106-001") == "0100109106-001"
    assert normalise_tax_code("0100109106001") == "0100109106-001"
    assert normalise_tax_code(" 0100 109 106-001 ") == "0100109106-001"


@pytest.mark.parametrize("code", [
    "2300245388",       # wrong check digit
    "0100109107",
    "010010910",        # nine digits
    "01001091060",      # eleven digits
    "0100109106-01",    # branch of two digits
    "0100109106-000",   # branch zero
    "0000000000",       # province zero
    "2300000000",       # sequence zero
    "23002453A9",
    "",
])
def test_invalid_codes_are_refused_in_vietnamese(code):
    with pytest.raises(TaxCodeError) as e:
        normalise_tax_code(code)
    assert "Mã số thuế" in str(e.value)
    assert not is_valid_tax_code(code)


def test_a_prefix_whose_check_would_be_ten_is_never_valid():
    # sum ≡ 0 (mod 11) gives 10, which is no digit: no tenth digit makes such a code valid.
    prefix = next(f"23{n:07d}" for n in range(1, 10**6) if check_digit(f"23{n:07d}") is None)
    assert not any(is_valid_tax_code(prefix + str(d)) for d in range(10))
