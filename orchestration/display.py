"""How exact amounts are shown to people: the attestation, the demo table, the CLI. Display only; never feeds a number back."""
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
        text = format(Decimal(str(value)), "f")
    except InvalidOperation:
        return str(value)
    return text.rstrip("0").rstrip(".") if "." in text else text
