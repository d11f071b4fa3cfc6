"""The simulator's own double-entry ledger: what every account must show at each day's close.

It is kept from what the simulator did, in `Decimal`, following the posting rules of docs/ledger.md; it never
reads the chain back and shares no code with the dbt models, so the pipeline is checked against an
independent answer.
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Context, Decimal, Inexact, localcontext
from pathlib import Path

from sandbox.file_drops import write_atomically

CHART_OF_ACCOUNTS = ("1000", "1010", "1020", "1100", "1110", "1190", "2000", "2100", "2110", "3000",
                     "4000", "4010", "4020", "4030", "5000", "5010")
INCOME_ACCOUNTS = ("4000", "4010", "4020")
# docs/ledger.md: susdai_yield passes the day's income to sUSDai holders net of the admin fee.
ADMIN_FEE_RATE = Decimal("0.10")
# Every sum is exact: a rounding anywhere in the ledger is an error, not a difference to tolerate.
_EXACT = Context(prec=78, traps=[Inexact])


def token_amount(raw: int, decimals: int) -> Decimal:
    """A raw token amount in whole tokens (= USD for USDai, the base token and USDC)."""
    with localcontext(_EXACT):
        return Decimal(raw).scaleb(-decimals)


def plain_decimal(value: Decimal) -> str:
    """"0", "12.5", "-1234.000001": no exponent, no trailing zeros."""
    with localcontext(_EXACT):
        return "0" if value == 0 else format(value.normalize(), "f")


@dataclass(frozen=True)
class Line:
    account: str
    amount: Decimal  # debit positive, credit negative
    sub_account: str = ""


def debit(account: str, amount: Decimal, sub_account: str = "") -> Line:
    return Line(account, amount, sub_account)


def credit(account: str, amount: Decimal, sub_account: str = "") -> Line:
    return Line(account, -amount, sub_account)


class GroundTruthLedger:
    def __init__(self) -> None:
        self._balances: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        self._day_movement: dict[str, Decimal] = defaultdict(Decimal)
        self._closes: list[tuple[date, dict[tuple[str, str], Decimal]]] = []

    def post(self, rule_id: str, lines: Iterable[Line]) -> None:
        lines = [line for line in lines if line.amount != 0]
        with localcontext(_EXACT):
            total = sum((line.amount for line in lines), Decimal(0))
            if total != 0:
                raise ValueError(f"entry {rule_id} does not balance: {total} over {lines}")
            for line in lines:
                if line.account not in CHART_OF_ACCOUNTS:
                    raise ValueError(f"entry {rule_id} posts to {line.account}, not in the chart of accounts")
                self._balances[(line.account, line.sub_account)] += line.amount
                self._day_movement[line.account] += line.amount

    def balance(self, account: str, sub_account: str | None = None) -> Decimal:
        """Debits minus credits so far; over all sub-accounts unless one is named."""
        with localcontext(_EXACT):
            return sum((amount for (code, sub), amount in self._balances.items()
                        if code == account and (sub_account is None or sub == sub_account)), Decimal(0))

    def day_income(self) -> Decimal:
        """Credits minus debits on the income accounts since the last close."""
        with localcontext(_EXACT):
            return -sum((self._day_movement[account] for account in INCOME_ACCOUNTS), Decimal(0))

    def post_susdai_yield(self) -> Decimal:
        """The day's closing entry: its income, net of the admin fee, accrues to sUSDai holders."""
        with localcontext(_EXACT):
            susdai_yield = self.day_income() * (1 - ADMIN_FEE_RATE)
        self.post("susdai_yield", [debit("5010", susdai_yield), credit("2100", susdai_yield)])
        return susdai_yield

    def close_day(self, day: date) -> None:
        with localcontext(_EXACT):
            if sum(self._balances.values(), Decimal(0)) != 0:
                raise ValueError(f"the trial balance of {day} does not sum to zero")
        self._closes.append((day, dict(self._balances)))
        self._day_movement.clear()

    def balances_csv(self) -> str:
        """`date,account_code,balance` for every account of the chart on every closed day."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("date", "account_code", "balance"))
        for day, balances in self._closes:
            totals: dict[str, Decimal] = defaultdict(Decimal)
            with localcontext(_EXACT):
                for (account, _), amount in balances.items():
                    totals[account] += amount
            for account in CHART_OF_ACCOUNTS:
                writer.writerow((day.isoformat(), account, plain_decimal(totals[account])))
        return out.getvalue()

    def sub_balances_csv(self) -> str:
        """`date,account_code,sub_account,balance` for every (account, sub-account) posted to by the day's close."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("date", "account_code", "sub_account", "balance"))
        for day, balances in self._closes:
            for (account, sub_account), amount in sorted(balances.items()):
                writer.writerow((day.isoformat(), account, sub_account, plain_decimal(amount)))
        return out.getvalue()

    def write(self, balances_path: Path, sub_balances_path: Path) -> None:
        write_atomically(balances_path, self.balances_csv().encode())
        write_atomically(sub_balances_path, self.sub_balances_csv().encode())
