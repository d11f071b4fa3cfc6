"""The money formatters and the lake's bound on raw token amounts (foundation/money.py): exact decimals in, the
strings a person reads out, never a float on the way. `make mutation` runs mutmut over the module against this file."""
from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest

from foundation.money import MAX_RAW_AMOUNT, RawAmountOutOfRange, plain, ratio, raw_amount, usd


@pytest.mark.parametrize("value, shown", [
    (Decimal("1234567.125"), "1,234,567.12"),      # half to even: down to .12
    (Decimal("1234567.135"), "1,234,567.14"),      # half to even: up to .14
    (Decimal("530609.805000000000000001"), "530,609.81"),
    (Decimal("-100.5"), "-100.50"),
    ("0.1", "0.10"),
    (0, "0.00"),
    (Decimal("1000"), "1,000.00"),
    (Decimal("90071992547409.93"), "90,071,992,547,409.93"),  # beyond a float's 53 bits: it would show .94
    (None, "n/a"),
])
def test_usd_shows_cents_with_separators_rounded_half_to_even(value, shown):
    assert usd(value) == shown


@pytest.mark.parametrize("value, shown", [
    (Decimal("1.02"), "102.00%"),
    (Decimal("0.12345"), "12.34%"),   # half to even: down
    (Decimal("0.12355"), "12.36%"),   # half to even: up
    ("0", "0.00%"),
    (None, "n/a"),
])
def test_ratio_shows_a_percentage_to_two_places(value, shown):
    assert ratio(value) == shown


@pytest.mark.parametrize("value, shown", [
    (Decimal("99.048195000000000000"), "99.048195"),
    (Decimal("100.000"), "100"),
    (Decimal("1E+3"), "1000"),
    ("1000", "1000"),
    (Decimal("0.000000000000000001"), "0.000000000000000001"),
    ("12.50", "12.5"),
    ("reingested", "reingested"),
    (None, "n/a"),
])
def test_plain_drops_trailing_zeros_and_leaves_text_alone(value, shown):
    assert plain(value) == shown


def test_rounding_does_not_depend_on_the_decimal_context():
    """A library that sets the thread's context to round half up must not change what the attestation shows."""
    with localcontext(rounding=ROUND_HALF_UP):
        assert usd(Decimal("0.125")) == "0.12"
        assert ratio(Decimal("0.12345")) == "12.34%"


def test_plain_keeps_a_not_a_number_as_it_came():
    assert plain("NaN") == "NaN"
    assert plain(Decimal("Infinity")) == "Infinity"


def test_raw_amounts_must_fit_decimal_38_0():
    assert MAX_RAW_AMOUNT == 10**38 - 1
    assert raw_amount(0, "here") == 0
    assert raw_amount(MAX_RAW_AMOUNT, "here") == MAX_RAW_AMOUNT
    with pytest.raises(RawAmountOutOfRange, match=r"^Transfer\.value: 10{38} does not fit DECIMAL\(38,0\)"):
        raw_amount(MAX_RAW_AMOUNT + 1, "Transfer.value")
    with pytest.raises(RawAmountOutOfRange, match="-1 does not fit"):
        raw_amount(-1, "Transfer.value")
