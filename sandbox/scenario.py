"""The seeded calendar of protocol life: who does what on which day and at what time.

A seed fixes one calendar, whatever the number of days: a run of N days is its first N days, so a 24-day run's
first 10 days are a 10-day run's, day for day and wei for wei. Everything random is drawn here before anything
runs: the story's amounts from `random.Random(seed)`, in a fixed number of draws; each day's times and GPU errors
from a generator of that seed and day. The simulator then executes the plan deterministically, computing the amounts
that depend on state (interest due, share prices).

The calendar tells a loan's whole life in its first STORY_DAYS days: deposits (one in USDC through the swap),
stakes, loan funding, reserves sent to the custodian and their T-bills bought, matured and rolled, six originations
(the last pre-funded through the deposit timelock the day before), daily interest and repayments, a redemption
requested, serviced and claimed in the first three days, withdrawals, one loan fully repaid, another that stops paying on day 2, defaults
on day 4 and whose collateral is sold on day 5 for less than it owes, a loan migrated to LoanRouterV2, and a
pre-funding whose loan never comes, cancelled after its expiration. Days 7 to 10 hold a month's events: USDai taken
to another chain and part of it brought back, a proxy upgrade, two redemptions serviced in two rounds and claimed,
and the vault's admin fee paid out. From then on the protocol lives on: weekly repayments, the vault's evening
swaps, the credit insurance paying the defaulted loan's claim once its waiting period has run (day 24), the admin
fee every 30 days.
"""
from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import eth_abi
from eth_utils import keccak, to_checksum_address

from sandbox.file_drops import GpuFeed
from sandbox.tbills import TreasuryBill, new_bill_cusip

MIN_DAYS = 3
# The days of the calendar that hold a loan's whole life (see the module's docstring); their events are placed at
# fractions of them.
STORY_DAYS = 6
# After the story, each loan pays every this many days from its origination.
PAYMENT_EVERY_DAYS = 7
# The month's events, on fixed days after the story.
BRIDGE_OUT_DAY, UPGRADE_DAY, BRIDGE_IN_DAY, ADMIN_FEE_DAY = 7, 8, 9, 10
SECOND_REDEMPTIONS_DAY = 7  # requested; serviced in two rounds the next two days, claimed the day after
ADMIN_FEE_EVERY_DAYS = 30
DOLLAR = 10**6  # one USD in USDC and base-token units (6 decimals)

LENDERS = ("lender-a", "lender-b")
CUSTODIAN_ID = "custodian-a"
CUSTODIAN_ACCOUNT = "USDAI-RESERVE-01"
# Per GPU: (DCGM model name, collateral value in USD, full-load draw in milliwatts).
GPU_MODELS = (
    ("NVIDIA H100 80GB HBM3", 27_000, 700_000),
    ("NVIDIA H200", 33_000, 700_000),
    ("NVIDIA B200", 45_000, 1_000_000),
)
XID_CODES = (13, 31, 43, 48, 63, 74, 79, 94)
# Most loans carry credit insurance on the GPUs: 70% of the principal lost is covered once the policy's 21-day
# waiting period (from the loan's origination) has run; every third performing loan has none. The pool pays a
# claim in USDai to the vault, RECOVERY_PAID_AFTER_DAYS after the claim is recognised.
INSURANCE_COVER_RATIO = Decimal("0.70")
INSURANCE_WAITING_PERIOD_DAYS = 21
RECOVERY_PAID_AFTER_DAYS = 2
# The credit insurance pool's wallet (outside the protocol) and the USDai it holds from day 1 to pay claims from.
INSURANCE_POOL = to_checksum_address(keccak(text="backed-sandbox:insurance-pool")[-20:])
INSURANCE_POOL_CAPITAL_USD = 100_000
EXIT_FEE_BPS = 50
# The loan router's liquidation fee: its share of what a collateral sale fetches, for its fee recipient.
LIQUIDATION_FEE_BPS = 300
AMORTISATION_BPS = 100  # principal repaid with each scheduled payment, of the original principal
# An outside wallet the admin blacklists on USDai and on sUSDai after a user paid it: its USDai is frozen
# (temporarily non-redeemable), and its sUSDai shares too.
SANCTIONED_WALLET = to_checksum_address(keccak(text="backed-sandbox:sanctioned-wallet")[-20:])
# The conventional address no one holds a key to: USDai sent there is permanently non-redeemable.
DEAD_ADDRESS = "0x000000000000000000000000000000000000dEaD"
# Whole USDai the USDC depositor sends, before the blacklist, to the sanctioned wallet and to the dead address.
FROZEN_TRANSFER_USD = 2_500
KEYLESS_TRANSFER_USD = 1_000
# Whole sUSDai shares the same holder sends the sanctioned wallet: frozen by sUSDai's own blacklist (v1.0–v1.6).
FROZEN_SHARES = 1_000

# Time windows of the day (seconds after 00:00 UTC) per kind of action; the day's order follows them.
WINDOWS = {
    "deposit": (1 * 3600, 6 * 3600),
    "stake": (6 * 3600, 9 * 3600),
    "fund_loans": (9 * 3600, 9 * 3600 + 1800),
    "send_to_custodian": (9 * 3600 + 1800, 10 * 3600),
    # Ends well before noon: each origination first mints its GPU titles, a block per second.
    "prefund": (9 * 3600 + 2400, 9 * 3600 + 2500),
    "originate": (10 * 3600, 11 * 3600 + 1800),
    "transfer": (11 * 3600 + 1800, 11 * 3600 + 3000),
    "repay": (13 * 3600, 14 * 3600 + 1800),
    "repay_in_full": (14 * 3600 + 1800, 15 * 3600),
    "insurance_payment": (14 * 3600, 14 * 3600 + 1800),
    "liquidate": (15 * 3600, 15 * 3600 + 1800),
    "sell_collateral": (15 * 3600 + 1800, 16 * 3600),
    "cancel_prefunding": (12 * 3600 + 600, 12 * 3600 + 700),
    "migrate_loan": (12 * 3600 + 900, 12 * 3600 + 1000),
    "blacklist": (16 * 3600, 16 * 3600 + 1800),
    "upgrade": (16 * 3600 + 1800, 16 * 3600 + 1800),
    "bridge_out": (11 * 3600 + 3000, 11 * 3600 + 3300),
    "bridge_in": (11 * 3600 + 3300, 11 * 3600 + 3600),
    "request_redeem": (16 * 3600 + 1800, 17 * 3600 + 1800),
    "deposit_repayments": (22 * 3600, 22 * 3600 + 100),
    "withdraw_admin_fee": (22 * 3600 + 100, 22 * 3600 + 200),
    "service_redemptions": (17 * 3600 + 1800, 19 * 3600),
    "claim": (19 * 3600, 20 * 3600 + 1800),
    "withdraw": (20 * 3600 + 1800, 22 * 3600),
}
# Kinds timed without drawing from the seed's randomness, so that every other draw of a seed (amounts, times,
# XID errors) is the same whether or not they happen.
UNDRAWN_KINDS = frozenset({"transfer", "prefund", "cancel_prefunding", "upgrade", "bridge_out", "bridge_in",
                           "deposit_repayments", "withdraw_admin_fee", "migrate_loan"})
# The loan the vault pre-funds through the deposit timelock, the day before its origination.
PREFUNDED_LOAN_NUMBER = 6
# A pre-funding whose loan never comes: deposited, expired at noon of CANCELLED_PREFUNDING_DAYS later, cancelled.
CANCELLED_PREFUNDING_USD = 20_000
CANCELLED_PREFUNDING_DAYS = 2
PREFUNDING_EXPIRES_AT = 12 * 3600
# USDai's proxy is upgraded to this implementation on UPGRADE_DAY (a month holds a release).
RELEASED_IMPLEMENTATION = "0x5da1000000000000000000000000000000000105"
# This performing loan migrates from the V1 router to LoanRouterV2 (its currency becomes USDai) at this fraction of the
# story; its V2 terms charge this repayment fee, in whole USDai, paid to the
# vault (FeePaid).
MIGRATED_LOAN_NUMBER = 1
MIGRATION_AT = 0.65
V2_REPAYMENT_FEE_USD = 25
# Whole USDai a holder sends to another chain (BRIDGE_OUT_DAY), and the part that comes back (BRIDGE_IN_DAY).
BRIDGED_OUT_USD = 20_000
BRIDGED_BACK_USD = 5_000
# The LayerZero endpoint id of the chain the bridged USDai goes to and comes from (Ethereum's, for the record).
REMOTE_EID = 30101
# The implementation of the injected upgrade nobody announced (sandbox/injections.py, `upgrade`).
UNANNOUNCED_IMPLEMENTATION = "0xbad0000000000000000000000000000000000bad"
# Fixed times: the injected mint at noon, the NAV report as the day's last transaction.
INJECTION_AT = 12 * 3600
REPORT_NAV_AT = 23 * 3600 + 59 * 60


def day_start_timestamp(day: date) -> int:
    return int(datetime.combine(day, time(0), tzinfo=timezone.utc).timestamp())


@dataclass(frozen=True)
class Accounts:
    """anvil's unlocked default accounts, by role."""

    admin: str
    users: tuple[str, str, str, str]
    borrowers: tuple[str, str, str]
    custodian: str
    liquidator: str

    @classmethod
    def from_anvil(cls, accounts: list[str]) -> Accounts:
        if len(accounts) < 10:
            raise ValueError(f"the sandbox needs anvil's 10 default accounts, the node has {len(accounts)}")
        return cls(accounts[0], tuple(accounts[1:5]), tuple(accounts[5:8]), accounts[8], accounts[9])


@dataclass(frozen=True)
class Borrower:
    borrower_id: str
    name: str
    address: str
    host_prefix: str


@dataclass(frozen=True)
class CollateralNft:
    token_id: int
    gpu_serials: tuple[str, ...]


@dataclass(frozen=True)
class PlannedLoan:
    number: int
    lender_id: str
    loan_id: str
    borrower: Borrower
    terms_hash: str
    principal: int  # USDC units
    origination_fee: int
    rate_bps: int
    origination_day: int  # 1-based day index
    origination_date: date
    maturity_date: date
    repayment_deadline: int  # unix seconds
    collateral: tuple[CollateralNft, ...]
    gpus: tuple[GpuFeed, ...]
    payment_days: tuple[int, ...]  # days with a scheduled payment of interest and amortisation
    amortisation: int  # USDC units of principal per scheduled payment
    fate: str  # performing, repaid, defaulted
    full_repayment_day: int | None = None
    missed_from_day: int | None = None  # first scheduled payment not made
    default_day: int | None = None
    liquidation_day: int | None = None
    collateral_sale_day: int | None = None
    recovery_bps: int = 0  # sale proceeds, of the principal outstanding
    dark_from_s: int | None = None  # time on the default day from which its GPUs stop reporting
    insurance_cover_ratio: Decimal | None = None
    insurance_waiting_period_days: int | None = None
    prefunded: bool = False  # its principal waits in the deposit timelock from the day before its origination
    migration_day: int | None = None  # LoanRouterV2 takes it over that day; repaid in USDai from then on

    @property
    def maturity_timestamp(self) -> int:
        return day_start_timestamp(self.maturity_date)

    def status_on(self, day: int) -> str:
        """The tape's status at the end of `day` (the loan is on the tape from its origination day)."""
        if self.fate == "repaid" and day >= self.full_repayment_day:
            return "repaid"
        if self.fate == "defaulted":
            if day >= self.collateral_sale_day:
                return "liquidated"
            if day >= self.default_day:
                return "default"
            if day >= self.missed_from_day:
                return "delinquent"
        return "current"

    def days_past_due(self, day: int) -> int:
        if self.fate != "defaulted" or not self.missed_from_day <= day < self.collateral_sale_day:
            return 0
        return day - self.missed_from_day + 1

    @property
    def closing_day(self) -> int | None:
        """The day the loan leaves the book: fully repaid, or its collateral sold."""
        return self.full_repayment_day or self.collateral_sale_day

    @property
    def insurance_claim_day(self) -> int | None:
        """The day a claim on the loan's cover is recognised: its collateral sold and the waiting period run."""
        if self.collateral_sale_day is None or not self.insurance_cover_ratio:
            return None
        return max(self.collateral_sale_day, self.origination_day + (self.insurance_waiting_period_days or 0))

    def is_on_book(self, day: int) -> bool:
        return self.origination_day <= day and (self.closing_day is None or day <= self.closing_day)


@dataclass(frozen=True)
class Action:
    """One transaction of the day. `kind` names the WINDOWS entry; the rest depends on the kind."""

    kind: str
    at: int  # seconds after the day's 00:00 UTC
    actor: str = ""
    token: str = ""  # "base" or "usdc"
    amount: int = 0  # token units for deposits; whole USD for stakes, loan funding, custodian sends and transfers
    recipient: str = ""  # of a USDai transfer; the new implementation of an upgrade
    fraction_bps: int = 0  # of a balance, for requests, servicing and withdrawals
    loan: PlannedLoan | None = None
    prefunding: Prefunding | None = None


@dataclass(frozen=True)
class Prefunding:
    """USDai the vault commits to a loan's terms through the deposit timelock."""

    terms_hash: str
    usdai_amount: int  # whole USDai
    deposit_day: int
    expiration: int  # unix seconds
    cancel_day: int | None = None  # the vault takes it back, after the expiration
    loan_number: int | None = None  # the loan originated from it


@dataclass
class Scenario:
    days: int
    start: date
    seed: int
    accounts: Accounts
    loans: list[PlannedLoan]
    bills: list[TreasuryBill]
    actions: dict[int, list[Action]]  # day index -> the day's chain actions in time order
    xid_events: dict[int, list[tuple[str, int, int]]] = field(default_factory=dict)  # day -> (serial, second, code)
    prefundings: list[Prefunding] = field(default_factory=list)

    def date_of(self, day: int) -> date:
        return self.start + timedelta(days=day - 1)

    def gpu_feeds(self, day: int, scrape_interval_s: int) -> list[GpuFeed]:
        """The GPUs reporting on `day`, with their XID errors and, for the defaulted loan, the time they go dark."""
        errors: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for serial, second, code in self.xid_events.get(day, ()):
            errors[serial].append((second // scrape_interval_s, code))
        feeds = []
        for loan in self.loans:
            if not loan.is_on_book(day) or (loan.default_day is not None and day > loan.default_day):
                continue
            dark_from = loan.dark_from_s if day == loan.default_day else None
            for gpu in loan.gpus:
                feeds.append(GpuFeed(gpu.uuid, gpu.serial, gpu.index, gpu.hostname, gpu.model_name, gpu.util_base,
                                     gpu.temp_base, gpu.power_base_mw, dark_from, tuple(errors.get(gpu.serial, ()))))
        return feeds


def build_scenario(days: int, seed: int, start: date, accounts: Accounts) -> Scenario:
    """The first `days` days of the seed's calendar."""
    if days < MIN_DAYS:
        raise ValueError(f"the sandbox scenario needs at least {MIN_DAYS} days, got {days}")
    rng = random.Random(seed)  # the story's draws, as many whatever `days` is
    planner = _DayPlanner(STORY_DAYS)
    loans = _plan_loans(rng, days, start, accounts, planner)
    bills = _plan_bills(rng, start, planner)
    prefundings = _plan_prefundings(start, loans, planner)
    actions = _plan_actions(rng, seed, days, accounts, loans, planner, prefundings)
    xid_events = _plan_xid_errors(seed, days, loans)
    return Scenario(days, start, seed, accounts, loans, bills, actions, xid_events, prefundings)


def _day_random(seed: int, purpose: str, day: int) -> random.Random:
    """A day's own draws: the same for that day whatever the run's length and whatever happened before it."""
    return random.Random(f"{seed}:{purpose}:{day}")


class _DayPlanner:
    """Maps a fraction of the story to a day of the calendar, clamped so the story's events keep their order."""

    def __init__(self, days: int):
        self.days = days

    def at(self, fraction: float, lo: int = 1, hi: int | None = None) -> int:
        return min(hi or self.days, max(lo, round(fraction * self.days)))


def _whole_dollars(rng: random.Random, low: int, high: int, step: int = 1000) -> int:
    return rng.randrange(low // step, high // step + 1) * step


_BORROWERS = (("BRW-001", "Helios Compute Ltd", "helios"), ("BRW-002", "Northwind AI Cloud Inc", "northwind"),
              ("BRW-003", "Quanta Racks LLC", "quanta"))


def _plan_loans(rng: random.Random, days: int, start: date, accounts: Accounts,
                planner: _DayPlanner) -> list[PlannedLoan]:
    borrowers = [Borrower(bid, name, address, prefix)
                 for (bid, name, prefix), address in zip(_BORROWERS, accounts.borrowers)]
    origination_days = [1, 1, 1, 2, 2, planner.at(0.3, lo=2)]
    next_token_id = 1001
    used_serials: set[str] = set()
    host_slots: dict[str, int] = defaultdict(int)
    loans = []
    for number, origination_day in enumerate(origination_days, start=1):
        lender_id = LENDERS[(number - 1) % 2]
        borrower = borrowers[(number - 1) % 3]
        model, gpu_value, full_load_mw = rng.choice(GPU_MODELS)
        nft_count = rng.randint(2, 5)
        collateral, gpus = [], []
        for nft in range(nft_count):
            # One title, on the first loan, is a bundle of two GPUs.
            serial_count = 2 if number == 1 and nft == 0 else 1
            serials = []
            for _ in range(serial_count):
                serial = _new_serial(rng, used_serials)
                slot = host_slots[borrower.borrower_id]
                host_slots[borrower.borrower_id] += 1
                gpus.append(GpuFeed(
                    uuid=_gpu_uuid(rng), serial=serial, index=slot % 8,
                    hostname=f"{borrower.host_prefix}-node-{slot // 8 + 1:02d}", model_name=model,
                    util_base=rng.randint(55, 95), temp_base=rng.randint(55, 68),
                    power_base_mw=full_load_mw * rng.randint(95, 105) // 100))
                serials.append(serial)
            collateral.append(CollateralNft(next_token_id, tuple(serials)))
            next_token_id += 1
        loan_to_value_pct = rng.randint(60, 70)
        principal = len(gpus) * gpu_value * loan_to_value_pct // 100 // 1000 * 1000 * DOLLAR
        fee = principal * rng.randint(50, 150) // 10_000 // DOLLAR * DOLLAR
        rate_bps = rng.randint(48, 72) * 25
        origination_date = start + timedelta(days=origination_day - 1)
        maturity_date = origination_date + timedelta(days=rng.choice((365, 540, 730)))
        loan_id = f"{lender_id[-1].upper()}-{number:04d}"
        # Daily through the story, then every PAYMENT_EVERY_DAYS days.
        payment_days = tuple(d for d in range(origination_day + 1, days + 1)
                             if d <= planner.days or (d - origination_day) % PAYMENT_EVERY_DAYS == 0)
        fate = "performing"
        if number == 2:
            fate = "repaid"
        elif number == 3:
            fate = "defaulted"
        terms_hash = "0x" + keccak(eth_abi.encode(
            ["string", "string", "address", "uint256", "uint256", "uint64", "uint64"],
            [lender_id, loan_id, borrower.address, principal, rate_bps, day_start_timestamp(origination_date),
             day_start_timestamp(maturity_date)])).hex()
        loan = dict(
            number=number, lender_id=lender_id, loan_id=loan_id, borrower=borrower, terms_hash=terms_hash,
            principal=principal, origination_fee=fee, rate_bps=rate_bps, origination_day=origination_day,
            origination_date=origination_date, maturity_date=maturity_date,
            repayment_deadline=day_start_timestamp(maturity_date), collateral=tuple(collateral), gpus=tuple(gpus),
            payment_days=payment_days, amortisation=principal * AMORTISATION_BPS // 10_000 // DOLLAR * DOLLAR,
            fate=fate,
        )
        if number == PREFUNDED_LOAN_NUMBER:
            loan["prefunded"] = True
        if number == MIGRATED_LOAN_NUMBER and fate == "performing":
            loan["migration_day"] = planner.at(MIGRATION_AT, lo=origination_day + 1)
        if number % 3 != 0 or fate == "defaulted":
            loan.update(insurance_cover_ratio=INSURANCE_COVER_RATIO,
                        insurance_waiting_period_days=INSURANCE_WAITING_PERIOD_DAYS)
        if fate == "repaid":
            loan["full_repayment_day"] = max(origination_day + 1, planner.at(0.6))
            loan["payment_days"] = tuple(d for d in payment_days if d < loan["full_repayment_day"])
        elif fate == "defaulted":
            story = planner.days
            missed = max(origination_day + 1, math.ceil(0.25 * story), 2)
            default_day = min(story - 2, missed + max(2, round(0.25 * story)))
            # Liquidated the day it defaults (the router stops accruing interest then, as the tape does), the
            # collateral sold over the following days.
            liquidation_day = default_day
            sale_day = min(story, liquidation_day + max(1, round(0.1 * story)))
            if not missed < default_day == liquidation_day < sale_day:
                raise AssertionError(f"default schedule out of order in a story of {story} days")
            loan.update(
                payment_days=tuple(d for d in payment_days if d < missed), missed_from_day=missed,
                default_day=default_day, liquidation_day=liquidation_day, collateral_sale_day=sale_day,
                recovery_bps=rng.randint(55, 75) * 100, dark_from_s=rng.randint(2 * 3600, 10 * 3600),
                # The loan is in good standing until the day it defaults: from then on the lender may liquidate.
                repayment_deadline=day_start_timestamp(start + timedelta(days=default_day - 1)),
            )
        loans.append(PlannedLoan(**loan))
    return loans


def _plan_prefundings(start: date, loans: list[PlannedLoan], planner: _DayPlanner) -> list[Prefunding]:
    """The pre-funded loan's principal, deposited the day before its origination and expiring at the end of it; and
    a pre-funding whose loan never comes, cancelled after its expiration. Draws nothing from the seed."""
    prefundings = []
    for loan in loans:
        if loan.prefunded:
            expiration = day_start_timestamp(loan.origination_date + timedelta(days=1)) - 1
            prefundings.append(Prefunding(loan.terms_hash, loan.principal // DOLLAR, max(1, loan.origination_day - 1),
                                          expiration, loan_number=loan.number))
    deposit_day = planner.at(0.4, lo=2)
    cancel_day = deposit_day + CANCELLED_PREFUNDING_DAYS
    terms_hash = "0x" + keccak(text=f"backed-sandbox:withdrawn-offer:{start}").hex().removeprefix("0x")
    expiration = day_start_timestamp(start + timedelta(days=cancel_day - 1)) + PREFUNDING_EXPIRES_AT
    prefundings.append(Prefunding(terms_hash, CANCELLED_PREFUNDING_USD, deposit_day, expiration,
                                  cancel_day=cancel_day))
    return prefundings


def _new_serial(rng: random.Random, used: set[str]) -> str:
    while True:
        serial = str(rng.randint(1_320_000_000_000, 1_799_999_999_999))
        if serial not in used:
            used.add(serial)
            return serial


def _gpu_uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _plan_bills(rng: random.Random, start: date, planner: _DayPlanner) -> list[TreasuryBill]:
    """Bought with the reserve the custodian receives on day 1; the short one matures inside the story and is
    rolled into a four-week bill."""
    cusips: set[str] = set()

    def bill(purchase_day: int, maturity: date, par: int, number: int) -> TreasuryBill:
        purchase = start + timedelta(days=purchase_day - 1)
        return TreasuryBill(new_bill_cusip(rng, cusips), Decimal(par), purchase, maturity,
                            Decimal(rng.randint(360, 420)) / 10_000, f"TB-{purchase:%Y%m%d}-{number:02d}")

    short_maturity_day = planner.at(0.4, lo=2)
    roll_date = start + timedelta(days=short_maturity_day - 1)
    return [
        bill(1, roll_date, _whole_dollars(rng, 45_000, 55_000), 1),
        bill(1, start + timedelta(days=91), _whole_dollars(rng, 55_000, 65_000), 2),
        bill(short_maturity_day, roll_date + timedelta(days=28), _whole_dollars(rng, 40_000, 45_000), 1),
    ]


def _plan_actions(rng: random.Random, seed: int, days: int, accounts: Accounts, loans: list[PlannedLoan],
                  planner: _DayPlanner, prefundings: list[Prefunding]) -> dict[int, list[Action]]:
    u1, u2, u3, u4 = accounts.users
    planned: dict[int, list[Action]] = defaultdict(list)

    def add(day: int, kind: str, **details) -> None:
        planned[day].append(Action(kind, 0, **details))

    # The vault pre-funds each day's originations through the deposit timelock and sends reserves to the custodian.
    for loan in loans:
        add(loan.origination_day, "originate", loan=loan)
    for day in sorted({loan.origination_day for loan in loans if not loan.prefunded}):
        principal = sum(loan.principal for loan in loans if loan.origination_day == day and not loan.prefunded)
        add(day, "fund_loans", amount=principal // DOLLAR)
    for prefunding in prefundings:
        add(prefunding.deposit_day, "prefund", prefunding=prefunding)
        if prefunding.cancel_day is not None:
            add(prefunding.cancel_day, "cancel_prefunding", prefunding=prefunding)
    custodian_sends = {1: _whole_dollars(rng, 140_000, 160_000),
                       planner.at(0.5, lo=2): _whole_dollars(rng, 30_000, 50_000)}
    for day, amount in custodian_sends.items():
        add(day, "send_to_custodian", amount=amount)

    # Day 1's stakes cover everything the vault deploys, with a fifth to spare for redemptions.
    deployed = sum(loan.principal for loan in loans) // DOLLAR + sum(custodian_sends.values())
    stake_total = deployed * 5 // 4 + 100_000
    weights = {u1: rng.randint(40, 45), u2: rng.randint(30, 35), u3: rng.randint(20, 25)}
    for user, weight in weights.items():
        stake = stake_total * weight // sum(weights.values()) // 1000 * 1000 + 1000
        add(1, "deposit", actor=user, token="base", amount=stake * 100 // rng.randint(85, 95) // 1000 * 1000 * DOLLAR)
        add(1, "stake", actor=user, amount=stake)
    add(1, "deposit", actor=INSURANCE_POOL, token="base", amount=INSURANCE_POOL_CAPITAL_USD * DOLLAR)
    usdc_deposit = _whole_dollars(rng, 140_000, 170_000)
    add(1, "deposit", actor=u4, token="usdc", amount=usdc_deposit * DOLLAR)
    add(2, "stake", actor=u4, amount=usdc_deposit * 60 // 100 // 1000 * 1000)
    extra_day = planner.at(0.4, lo=2)
    # Later deposits stay under the 5% day-over-day supply rise that check H1 (and the public monitor) flags.
    extra = _whole_dollars(rng, 20_000, 40_000)
    add(extra_day, "deposit", actor=u3, token="base", amount=extra * DOLLAR)
    add(extra_day, "stake", actor=u3, amount=extra * 80 // 100 // 1000 * 1000)
    add(planner.at(0.7, lo=3), "deposit", actor=u1, token="base", amount=_whole_dollars(rng, 15_000, 30_000) * DOLLAR)

    # Repayments, the full repayment, the default's liquidation and collateral sale.
    for loan in loans:
        for day in loan.payment_days:
            add(day, "repay", loan=loan)
        if loan.full_repayment_day:
            add(loan.full_repayment_day, "repay_in_full", loan=loan)
        if loan.liquidation_day:
            add(loan.liquidation_day, "liquidate", loan=loan)
            add(loan.collateral_sale_day, "sell_collateral", loan=loan)
        if loan.migration_day:
            add(loan.migration_day, "migrate_loan", loan=loan)
        if loan.insurance_claim_day and loan.insurance_claim_day + RECOVERY_PAID_AFTER_DAYS <= days:
            add(loan.insurance_claim_day + RECOVERY_PAID_AFTER_DAYS, "insurance_payment", loan=loan)

    add(min(days, 2), "transfer", actor=u4, recipient=SANCTIONED_WALLET, amount=FROZEN_TRANSFER_USD)
    add(min(days, 2), "transfer", actor=u4, recipient=DEAD_ADDRESS, amount=KEYLESS_TRANSFER_USD)
    add(min(days, 2), "transfer", actor=u4, recipient=SANCTIONED_WALLET, token="susdai", amount=FROZEN_SHARES)
    add(min(days, 2), "blacklist", actor=SANCTIONED_WALLET)
    # A month holds one release of the code: USDai's proxy is upgraded (H8 warns of it; its attestation lists it).
    # And a holder takes USDai to another chain through the omnichain adapter, and brings part of it back.
    add(UPGRADE_DAY, "upgrade", recipient=RELEASED_IMPLEMENTATION)
    add(BRIDGE_OUT_DAY, "bridge_out", actor=u4, amount=BRIDGED_OUT_USD)
    add(BRIDGE_IN_DAY, "bridge_in", actor=u4, amount=BRIDGED_BACK_USD)
    # Once a month the vault pays its admin fee on loan interest out, in USDai (StakedUSDai v1.7+).
    for day in range(ADMIN_FEE_DAY, days + 1, ADMIN_FEE_EVERY_DAYS):
        add(day, "withdraw_admin_fee")

    # Redemptions: requested, serviced, claimed; and withdrawals. In the story one request, serviced whole; then two
    # queued together and serviced in two rounds (in part first).
    # The first within the calendar's first three days (the shortest run holds a whole redemption).
    add(1, "request_redeem", actor=u2, fraction_bps=2000)
    add(2, "service_redemptions", fraction_bps=10_000)
    add(3, "claim", actor=u2)
    add(3, "withdraw", actor=u2, token="usdc", fraction_bps=10_000)
    add(2, "withdraw", actor=u4, token="base", fraction_bps=2500)
    for user in (u1, u3):
        add(SECOND_REDEMPTIONS_DAY, "request_redeem", actor=user, fraction_bps=1000)
    add(SECOND_REDEMPTIONS_DAY + 1, "service_redemptions", fraction_bps=6000)
    add(SECOND_REDEMPTIONS_DAY + 2, "service_redemptions", fraction_bps=10_000)
    for user in (u1, u3):
        add(SECOND_REDEMPTIONS_DAY + 3, "claim", actor=user)
    add(SECOND_REDEMPTIONS_DAY + 3, "withdraw", actor=u1, token="base", fraction_bps=5000)

    # In the evening the vault swaps loan currency the router paid it into USDai, as the real vault's strategy admin
    # does (depositLoanRepayment): a little at a time, on days nothing else mints, so that totalSupply's rise stays
    # inside the 5% a day that check H1 (and the public monitor) flags.
    # A migrated loan's borrower mints the USDai of each repayment just before it.
    minting = {day for day, actions in planned.items()
               if any(a.kind in ("deposit", "bridge_in")
                      or a.kind == "repay" and a.loan.migration_day and day >= a.loan.migration_day for a in actions)}
    for day in range(2, days + 1):
        if day not in minting:
            add(day, "deposit_repayments")

    return {day: _timed(_day_random(seed, "times", day), planned.get(day, [])) for day in range(1, days + 1)}


def _timed(rng: random.Random, actions: list[Action]) -> list[Action]:
    """Gives each action a distinct second inside its kind's window, keeping the planned order within a kind."""
    by_kind: dict[str, list[Action]] = defaultdict(list)
    for action in actions:
        by_kind[action.kind].append(action)
    timed = []
    for kind, group in by_kind.items():
        low, high = WINDOWS[kind]
        if kind in UNDRAWN_KINDS:
            seconds = list(range(low, low + len(group)))
        else:
            seconds = sorted(rng.sample(range(low, high), len(group)))
        timed += [replace(a, at=second) for a, second in zip(group, seconds)]
    return sorted(timed, key=lambda a: a.at)


def _plan_xid_errors(seed: int, days: int, loans: list[PlannedLoan]) -> dict[int, list[tuple[str, int, int]]]:
    """Now and then a GPU logs an XID error or two during a day."""
    serials = [gpu.serial for loan in loans for gpu in loan.gpus]
    events: dict[int, list[tuple[str, int, int]]] = {}
    for day in range(1, days + 1):
        rng = _day_random(seed, "xid", day)
        if rng.random() < 0.4:
            serial = rng.choice(serials)
            events[day] = [(serial, rng.randrange(86_400), rng.choice(XID_CODES)) for _ in range(rng.randint(1, 2))]
    return events
