"""US Treasury bills as the sandbox custodian holds them: CUSIPs with their check digit, and a price that
accretes linearly from the purchase price to par at maturity."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

PRICE_QUANTUM = Decimal("0.000001")
CENT = Decimal("0.01")
PAR_PRICE = Decimal(100)
# Treasury bills are quoted on a bank-discount basis over a 360-day year.
DISCOUNT_BASIS_DAYS = 360
# Bills carry the 912797 issuer prefix; the two issue characters never use I or O (confused with 1 and 0).
BILL_ISSUER = "912797"
_ISSUE_CHARACTERS = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def cusip_check_digit(first_eight: str) -> str:
    """The ninth character of a CUSIP: modulus 10, every second character's value doubled, digits summed."""
    if len(first_eight) != 8:
        raise ValueError(f"a CUSIP's check digit is computed over 8 characters, got {first_eight!r}")
    total = 0
    for position, character in enumerate(first_eight.upper()):
        if character.isdigit():
            value = int(character)
        elif character.isalpha():
            value = ord(character) - ord("A") + 10
        else:
            value = {"*": 36, "@": 37, "#": 38}[character]
        if position % 2 == 1:
            value *= 2
        total += value // 10 + value % 10
    return str((10 - total % 10) % 10)


def new_bill_cusip(rng: random.Random, taken: set[str]) -> str:
    while True:
        first_eight = BILL_ISSUER + "".join(rng.choice(_ISSUE_CHARACTERS) for _ in range(2))
        cusip = first_eight + cusip_check_digit(first_eight)
        if cusip not in taken:
            taken.add(cusip)
            return cusip


@dataclass(frozen=True)
class TreasuryBill:
    cusip: str
    par: Decimal
    purchase_date: date
    maturity_date: date
    discount_rate: Decimal  # annual, as a fraction: 0.0385
    trade_id: str

    def __post_init__(self) -> None:
        if self.maturity_date <= self.purchase_date:
            raise ValueError(f"bill {self.cusip} matures on or before its purchase")

    @property
    def description(self) -> str:
        return f"U.S. TREASURY BILL {self.maturity_date:%m/%d/%Y}"

    @property
    def purchase_price(self) -> Decimal:
        days = (self.maturity_date - self.purchase_date).days
        discount = self.discount_rate * PAR_PRICE * days / DISCOUNT_BASIS_DAYS
        return (PAR_PRICE - discount).quantize(PRICE_QUANTUM, rounding=ROUND_HALF_EVEN)

    @property
    def cost(self) -> Decimal:
        return self.market_value_on(self.purchase_date)

    def is_held_on(self, day: date) -> bool:
        """Held at the day's cut-off: bought on or before it, and not yet matured."""
        return self.purchase_date <= day < self.maturity_date

    def price_on(self, day: date) -> Decimal:
        """Per 100 of par, accreting linearly from the purchase price to par at maturity."""
        term = (self.maturity_date - self.purchase_date).days
        remaining = max((self.maturity_date - day).days, 0)
        price = PAR_PRICE - (PAR_PRICE - self.purchase_price) * remaining / term
        return price.quantize(PRICE_QUANTUM, rounding=ROUND_HALF_EVEN)

    def market_value_on(self, day: date) -> Decimal:
        return (self.par * self.price_on(day) / PAR_PRICE).quantize(CENT, rounding=ROUND_HALF_EVEN)
