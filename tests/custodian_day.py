"""One custodian day the statement tests share: cash opening at 1,000, two T-bills held, a deposit of 250,000 from
the chain, one of the bills bought for 49,390, cash closing at 201,610. Each writer takes the rows of its message
(semt.002 the holdings, camt.053 the cash and its movements, the CSV all of them)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from sandbox.file_drops import StatementRow

STATEMENT_ROWS = [
    StatementRow("opening_cash", amount=Decimal("1000.00")),
    StatementRow("holding", cusip="912797LB1", security_description="US T-Bill 2026-03-26",
                 maturity_date=date(2026, 3, 26), par_value=Decimal("1000000"), price=Decimal("98.9"),
                 market_value=Decimal("989000.00")),
    StatementRow("holding", cusip="912797MA2", security_description="US T-Bill 2026-04-02",
                 maturity_date=date(2026, 4, 2), par_value=Decimal("50000"), price=Decimal("98.8"),
                 market_value=Decimal("49400.00")),
    StatementRow("transaction", amount=Decimal("250000.00"), transaction_type="cash_receipt",
                 reference="0x" + "ab" * 32),
    StatementRow("transaction", cusip="912797MA2", security_description="US T-Bill 2026-04-02",
                 par_value=Decimal("50000"), amount=Decimal("49390.00"), transaction_type="tbill_purchase",
                 reference="TB-1"),
    StatementRow("closing_cash", amount=Decimal("201610.00")),
]
