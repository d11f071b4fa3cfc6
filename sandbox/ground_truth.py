"""The simulator's own double-entry ledger: what every account must show at each day's close.

It is kept from what the simulator did, in `Decimal`, following the posting rules of docs/ledger.md; it never
reads the chain back and shares no code with the dbt models, so the pipeline is checked against an
independent answer. That includes the credit loss allowance: its policy (the defaults of the dbt vars) is
restated here, and the simulator hands over each day's tape rows and what its GPUs did.
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Context, Decimal, Inexact, localcontext
from pathlib import Path
from typing import Protocol

from sandbox.file_drops import write_atomically

CHART_OF_ACCOUNTS = ("1000", "1010", "1020", "1030", "1100", "1110", "1120", "1150", "1190", "2000", "2100", "2110", "3000",
                     "4000", "4010", "4020", "4030", "5000", "5010", "5020")
INCOME_ACCOUNTS = ("4000", "4010", "4020")
# docs/ledger.md: susdai_yield passes the day's income to sUSDai holders net of the admin fee.
ADMIN_FEE_RATE = Decimal("0.10")
# Every sum is exact: a rounding anywhere in the ledger is an error, not a difference to tolerate.
_EXACT = Context(prec=78, traps=[Inexact])
# Where docs/ledger.md does round (a quotient, a product with a rate): to 18 places.
_USD_PLACES = Decimal("1e-18")


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


@dataclass(frozen=True)
class AllowancePolicy:
    """The credit loss allowance policy of docs/ledger.md, with the defaults of dbt_project.yml's vars."""

    # (floor in days past due, rate): the highest floor reached applies.
    days_past_due_rates: tuple[tuple[int, Decimal], ...] = (
        (1, Decimal("0.05")), (30, Decimal("0.25")), (60, Decimal("0.50")), (90, Decimal("1")))
    default_rate: Decimal = Decimal("0.50")
    impaired_collateral_loss_rate: Decimal = Decimal("0.50")
    dark_below_minutes_online: int = 720
    erroring_from_xid_error_samples: int = 3


@dataclass(frozen=True)
class LoanCreditRisk:
    """A loan at the end of one of its tape days, as the allowance policy sees it."""

    loan_terms_hash: str
    as_of_date: date
    origination_date: date
    status: str
    days_past_due: int
    principal_outstanding: Decimal
    accrued_interest: Decimal
    collateral_gpus: int
    impaired_gpus: int  # dark or erroring that day
    insurance_cover_ratio: Decimal | None = None
    insurance_waiting_period_days: int | None = None

    def required_allowance(self, policy: AllowancePolicy) -> Decimal:
        if self.status in ("repaid", "liquidated"):
            return Decimal(0)
        with localcontext(_EXACT):
            exposure = self.principal_outstanding + self.accrued_interest
            rate = max((r for floor, r in policy.days_past_due_rates if self.days_past_due >= floor), default=Decimal(0))
            if self.status == "default":
                rate = max(rate, policy.default_rate)
            past_due = _round_usd(exposure * rate)
            at_risk = Decimal(0)
            if self.impaired_gpus:
                at_risk = _truncated_quotient(exposure * self.impaired_gpus, self.collateral_gpus)
            impairment = _round_usd(at_risk * policy.impaired_collateral_loss_rate)
            insured = _round_usd(impairment * self.insurance_cover_ratio) if self._insurance_claimable else Decimal(0)
            return min(exposure, past_due + impairment - insured)

    @property
    def _insurance_claimable(self) -> bool:
        """Cover counts once its waiting period, from the loan's origination, has run."""
        if not self.insurance_cover_ratio:
            return False
        return (self.as_of_date - self.origination_date).days >= (self.insurance_waiting_period_days or 0)


def _round_usd(value: Decimal) -> Decimal:
    """To 18 places, half away from zero."""
    return value.quantize(_USD_PLACES, rounding=ROUND_HALF_UP, context=_EXACT)


def _truncated_quotient(numerator: Decimal, denominator: int) -> Decimal:
    """numerator / denominator truncated toward zero at 18 places."""
    with localcontext(Context(prec=78)):
        return (numerator / denominator).quantize(_USD_PLACES, rounding=ROUND_DOWN)


class TapeRow(Protocol):
    """What the allowance reads of a loan tape row (the simulator's LoanTapeRow)."""

    loan_terms_hash: str
    as_of_date: date
    origination_date: date
    status: str
    days_past_due: int
    principal_outstanding: Decimal
    accrued_interest: Decimal
    collateral: str  # `<nft_token_id>=<gpu_serial>[|<gpu_serial>...]` joined by `;`
    insurance_cover_ratio: Decimal | None
    insurance_waiting_period_days: int | None


class GpuDay(Protocol):
    """What the allowance reads of a GPU's day (the simulator's GpuFeed): when it went dark, its XID errors."""

    serial: str
    dark_from_s: int | None
    xid_events: Sequence[tuple[int, int]]  # (scrape number, XID code)


def impaired_serials(gpus: Iterable[GpuDay], scrape_interval_s: int, policy: AllowancePolicy) -> set[str]:
    """The reporting GPUs that were dark (too few minutes online) or erroring (too many XID samples) that day.

    A GPU answers every scrape of the day until it goes dark; its minutes online are its scrapes times the
    interval. A GPU that did not report at all is not in `gpus`: dark as well, see `credit_risks`.
    """
    impaired = set()
    for gpu in gpus:
        scrapes = range(0, 86_400, scrape_interval_s)
        answered = [s for s in scrapes if gpu.dark_from_s is None or s < gpu.dark_from_s]
        minutes_online = Decimal(len(answered) * scrape_interval_s) / 60
        erroring_scrapes = {n for n, code in gpu.xid_events if code and n < len(answered)}
        if minutes_online < policy.dark_below_minutes_online \
                or len(erroring_scrapes) >= policy.erroring_from_xid_error_samples:
            impaired.add(gpu.serial)
    return impaired


def credit_risks(tape_rows: Iterable[TapeRow], gpus: Iterable[GpuDay], scrape_interval_s: int,
                 policy: AllowancePolicy = AllowancePolicy()) -> list[LoanCreditRisk]:
    """Each tape row's loan as the allowance policy sees it, from the tape and the day's GPU feeds."""
    gpus = list(gpus)
    reporting = {gpu.serial for gpu in gpus}
    impaired = impaired_serials(gpus, scrape_interval_s, policy)
    risks = []
    for row in tape_rows:
        serials = {serial for entry in row.collateral.split(";") if entry
                   for serial in entry.partition("=")[2].split("|")}
        risks.append(LoanCreditRisk(
            loan_terms_hash=row.loan_terms_hash, as_of_date=row.as_of_date, origination_date=row.origination_date,
            status=row.status, days_past_due=row.days_past_due, principal_outstanding=row.principal_outstanding,
            accrued_interest=row.accrued_interest, collateral_gpus=len(serials),
            impaired_gpus=len({s for s in serials if s in impaired or s not in reporting}),
            insurance_cover_ratio=row.insurance_cover_ratio,
            insurance_waiting_period_days=row.insurance_waiting_period_days,
        ))
    return risks


class GroundTruthLedger:
    def __init__(self, allowance_policy: AllowancePolicy = AllowancePolicy()) -> None:
        self.allowance_policy = allowance_policy
        self._balances: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        self._day_movement: dict[str, Decimal] = defaultdict(Decimal)
        self._day_interest_written_off = Decimal(0)
        self._closes: list[tuple[date, dict[tuple[str, str], Decimal]]] = []

    def post(self, rule_id: str, lines: Iterable[Line]) -> None:
        lines = [line for line in lines if line.amount != 0]
        if rule_id == "loan_liquidated":
            self._day_interest_written_off += self._interest_written_off(lines)
            lines = self._charge_allowance_first(lines)
        with localcontext(_EXACT):
            total = sum((line.amount for line in lines), Decimal(0))
            if total != 0:
                raise ValueError(f"entry {rule_id} does not balance: {total} over {lines}")
            for line in lines:
                if line.account not in CHART_OF_ACCOUNTS:
                    raise ValueError(f"entry {rule_id} posts to {line.account}, not in the chart of accounts")
                self._balances[(line.account, line.sub_account)] += line.amount
                self._day_movement[line.account] += line.amount

    @staticmethod
    def _interest_written_off(lines: list[Line]) -> Decimal:
        """What a sale leaves unpaid of the accrued interest: the proceeds repay principal first."""
        with localcontext(_EXACT):
            principal = -sum((line.amount for line in lines if line.account == "1100"), Decimal(0))
            accrued = -sum((line.amount for line in lines if line.account == "1110"), Decimal(0))
            proceeds = sum((line.amount for line in lines if line.account == "1020"), Decimal(0))
            return max(Decimal(0), min(accrued, principal + accrued - proceeds))

    def _charge_allowance_first(self, lines: list[Line]) -> list[Line]:
        """A liquidation's shortfall (its 5000 debit) is charged to the loan's allowance first, as far as it goes."""
        loan = next(line.sub_account for line in lines if line.account == "1100")
        allowance = -self.balance("1190", loan)
        charged = []
        for line in lines:
            if line.account == "5000" and line.amount > 0 and allowance > 0:
                used = min(line.amount, allowance)
                charged.append(debit("1190", used, loan))
                line = Line("5000", line.amount - used)
            charged.append(line)
        return [line for line in charged if line.amount != 0]

    def post_credit_loss_allowance(self, risks: Iterable[LoanCreditRisk]) -> None:
        """The day's allowance true-up: each assessed loan's allowance (1190) to what the policy requires,
        against credit loss expense (5000); a fall releases allowance."""
        for risk in risks:
            with localcontext(_EXACT):
                change = risk.required_allowance(self.allowance_policy) + self.balance("1190", risk.loan_terms_hash)
            self.post("credit_loss_allowance", [debit("5000", change), credit("1190", change, risk.loan_terms_hash)])

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
        """The day's closing entries: its income, net of the admin fee, accrues to sUSDai holders; its credit
        losses (net of insurance claims) are theirs too, less the admin fee on interest the losses wrote off (the
        fee is only ever charged on interest that is paid)."""
        with localcontext(_EXACT):
            susdai_yield = self.day_income() * (1 - ADMIN_FEE_RATE)
            borne = self._day_movement["5000"] - self._day_interest_written_off * ADMIN_FEE_RATE
        self.post("susdai_yield", [debit("5010", susdai_yield), credit("2100", susdai_yield)])
        self.post("susdai_credit_loss", [debit("2100", borne), credit("5020", borne)])
        return susdai_yield

    def close_day(self, day: date) -> None:
        with localcontext(_EXACT):
            if sum(self._balances.values(), Decimal(0)) != 0:
                raise ValueError(f"the trial balance of {day} does not sum to zero")
        self._closes.append((day, dict(self._balances)))
        self._day_movement.clear()
        self._day_interest_written_off = Decimal(0)

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
