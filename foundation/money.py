"""Money is never a float: raw token amounts are exact integers that must fit the lake's DECIMAL(38,0), USD amounts
are exact decimals, and they are shown to people (the attestation, the demo table, the CLI) by the formatters
below, for display only: a formatted number never feeds back into a computation."""
from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation


def usd(value) -> str:
    """An exact USD amount with thousands separators and cents (banker's rounding, for display only)."""
    if value is None:
        return "n/a"
    return f"{Decimal(value).quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):,}"


def ratio(value) -> str:
    if value is None:
        return "n/a"
    return f"{(Decimal(value) * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN)}%"


def plain(value) -> str:
    """An exact decimal without trailing zeros (99.048195, not 99.048195000000000000); other text unchanged."""
    if value is None:
        return "n/a"
    try:
        text = format(Decimal(str(value)), "f")  # pragma: no mutate ("F" formats a Decimal the same)
    except InvalidOperation:
        return str(value)
    # no mutate: a formatted Decimal holds only digits, a sign and a point: adding other characters to those stripped
    # makes no difference anyone could test
    return text.rstrip("0").rstrip(".") if "." in text else text  # pragma: no mutate


# The largest raw token amount the lake can hold: DECIMAL(38,0).
MAX_RAW_AMOUNT = 10**38 - 1


class RawAmountOutOfRange(ValueError):
    """A uint256 amount does not fit DECIMAL(38,0); rounding it would misstate money."""


def raw_amount(value: int, where: str) -> int:
    """`value` if it fits the lake's DECIMAL(38,0), else a clear error naming where it came from."""
    if not 0 <= value <= MAX_RAW_AMOUNT:
        raise RawAmountOutOfRange(f"{where}: {value} does not fit DECIMAL(38,0) (max 10^38-1)")
    return value
