"""Drive N days of protocol life on the sandbox chain and drop the matching off-chain files.

`simulate()` deploys the contracts on a fresh anvil (started with `genesis_timestamp(start)`), executes the seeded
scenario of sandbox/scenario.py with every block timestamp inside its simulated UTC day, and writes under `home`:

    inbox/loan_tapes/lender-a-<date>.xlsx (lender A's workbook), inbox/loan_tapes/lender-b-<date>.csv (lender B's
    servicer CSV), inbox/telemetry/dcgm-<date>.prom (the day's Prometheus /federate export of the exporters),
    inbox/telemetry/prometheus-query-range-northwind-<date>.json (one borrower's, from the Prometheus HTTP API),
    inbox/telemetry/gpu-inventory-<borrower>-<first date>.csv (nvidia-smi), inbox/custodian/custodian-a-semt002-<date>.xml
    and custodian-a-camt053-<date>.xml (ISO 20022 holdings and cash statements)
    sandbox/deployment.json, sandbox/ground_truth_balances.csv, sandbox/ground_truth_sub_balances.csv

The ground truth is the simulator's own ledger of what it did (sandbox/ground_truth.py). Every event the chain
emits is checked against the simulator's own figures as it goes, and each day's closing state is read back and
compared; any difference raises SimulatorMismatch.
"""
from __future__ import annotations

import argparse
import copy
import json
import random
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import eth_abi
from eth_utils import keccak, to_checksum_address

from sandbox.chain_client import ChainError, Receipt, SandboxChain, SimulatorMismatch
from sandbox.compile import compile_contracts
from sandbox.deploy import ADMIN_FEE_RECIPIENT, ROUTER_FEE_RECIPIENT, AddressBookEntry, SandboxProtocol, deploy_protocol
from sandbox.file_drops import (
    GpuFeed,
    LoanTapeRow,
    StatementRow,
    collateral_schedule,
    custodian_statement_path,
    dcgm_path,
    delivered_as_of,
    gpu_inventory_path,
    prometheus_query_range_path,
    loan_tape_path,
    write_atomically,
    write_cash_statement,
    write_dcgm_scrapes,
    write_gpu_inventory,
    write_prometheus_query_range,
    write_raw_scrapes,
    write_holdings_statement,
    write_lender_a_workbook,
    write_lender_b_csv,
)
from sandbox.ground_truth import GroundTruthLedger, LoanCreditRisk, credit, credit_risks, debit, token_amount
from sandbox.injections import (
    DRIFTED_COLUMN,
    REORGED_DEPOSIT_USD,
    STALE_PREFUNDING_USDAI,
    TAPE_PRINCIPAL_OVERSTATEMENT,
    TBILL_SHORTFALL_PAR,
    INJECTION_KINDS,
    UNBACKED_MINT_USDAI,
    Injection,
    parse_injections,
)
from sandbox.scenario import (
    CUSTODIAN_ACCOUNT,
    CUSTODIAN_ID,
    DOLLAR,
    EXIT_FEE_BPS,
    LIQUIDATION_FEE_BPS,
    INJECTION_AT,
    INSURANCE_POOL,
    LENDERS,
    V2_REPAYMENT_FEE_USD,
    PREFUNDING_EXPIRES_AT,
    REMOTE_EID,
    REPORT_NAV_AT,
    UNANNOUNCED_IMPLEMENTATION,
    Accounts,
    Action,
    PlannedLoan,
    Prefunding,
    Scenario,
    build_scenario,
    day_start_timestamp,
)

CHAIN_ID = 31337
CONFIRMATIONS = 1
WAD = 10**18
SCALE = 10**12  # 6-decimal tokens to 18-decimal USDai
MAX_UINT = 2**256 - 1
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
# When the injected stale pre-funding is deposited (it expires at PREFUNDING_EXPIRES_AT).
STALE_PREFUNDING_AT = 9 * 3600 + 2700
# Where the injected unbacked mint goes: a wallet outside the protocol and outside the scenario's actors.
COMPROMISED_MINTER_WALLET = to_checksum_address(keccak(text="backed-sandbox:compromised-minter-wallet")[-20:])
# anvil's default accounts are funded once on day 1; generous enough for any scenario.
TOKEN_FLOAT = 10_000_000 * DOLLAR
# The vault's admin fee on loan interest and T-bill yield (StakedUSDai's ADMIN_FEE_BPS).
VAULT_ADMIN_FEE_BPS = 1_000
# The most of USDai's supply the vault swaps back from loan currency in a day.
REPAYMENT_DEPOSIT_SUPPLY_BPS = 200
BORROWER_FLOAT = 2_000_000 * DOLLAR
SWAP_LIQUIDITY = 50_000_000 * DOLLAR
# After the last day, two blocks on the next day confirm every simulated day (confirmations = 1).
CONFIRMING_BLOCKS_AT = (30, 60)
# Router status codes of loanState() (V1's; V2 shares 1 and 2).
ACTIVE, REPAID, LIQUIDATED, COLLATERAL_LIQUIDATED, MIGRATED = 1, 2, 3, 4, 5
# LoanRouterV2's LoanTermsV2 tuple, as migrateLoan takes it and LoanMigrated carries it (abi.encode).
LOAN_TERMS_V2 = ("(uint64,address,address,address,(uint16,uint8,int32),(address,bytes),uint256[],"
                 "(address,uint256,uint256)[],(uint8,address,address,bytes)[],address[],bytes)")
# The fee model and interest-rate model the V2 terms name (the sandbox router reads the tranche's rate and a fee's
# amount from the terms itself; the addresses are recorded as FeePaid gives them).
V2_FEE_MODEL = to_checksum_address(keccak(text="backed-sandbox:absolute-fee-model")[-20:])
V2_RATE_MODEL = to_checksum_address(keccak(text="backed-sandbox:simple-interest-rate-model")[-20:])
FEE_KIND_REPAYMENT = 1
# How much the injected migration overstates the V2 principal against the V1 balance (migrated-principal-mismatch).
MIGRATED_PRINCIPAL_EXCESS_USD = 5_000
# The borrower whose GPUs' telemetry is exported from its Prometheus through the HTTP API (query_range).
QUERY_RANGE_HOST_PREFIX = "northwind"
# On the calendar's tenth day (in `make demo`'s 30) one borrower's collector saves each scrape of its exporters'
# /metrics as a file of its own: 144 files a day, which the short runs the tests make many of do without.
RAW_SCRAPES_HOST_PREFIX, RAW_SCRAPES_DAY = "quanta", 10
# The lender whose CSV tape the file injections tamper with (a tape row added, repeated or given a new column).
TAMPERED_LENDER = "lender-b"
# What the injected orphan loan looks like on the tape.
ORPHAN_PRINCIPAL = Decimal(250_000)
ORPHAN_RATE_BPS = 1_100


def genesis_timestamp(start: date) -> int:
    """The genesis block's timestamp that the sandbox AnvilNode must be started with: 00:00:00 UTC of `start`."""
    return day_start_timestamp(start)


@dataclass(frozen=True)
class DayClose:
    """The chain at a simulated day's last block, as the simulator computed it (and checked it against)."""

    date: date
    last_block: int
    usdai_total_supply: int  # raw, 18 decimals
    usdai_reserve: int  # base token held by USDai, raw, 6 decimals
    susdai_total_assets: int  # raw, 18 decimals; ground-truth 2100 + the allowance - the insurance receivable
    unbacked_usdai: int  # totalSupply - reserve * 1e12: what injected mints left unbacked


@dataclass(frozen=True)
class AppliedInjection:
    """What an injection did: on which entity (a loan's terms hash, a CUSIP, a GPU serial, a file, a tx), by how much
    (in the kind's own unit: USD, USDai or par), and the transaction if it made one."""

    kind: str
    date: date
    entity: str = ""
    amount: Decimal = Decimal(0)
    tx_hash: str = ""
    detail: str = ""

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind, "date": self.date.isoformat(), "entity": self.entity,
                "amount": f"{self.amount:f}", "tx_hash": self.tx_hash, "detail": self.detail}


@dataclass(frozen=True)
class SimulationResult:
    home: Path
    deployment_path: Path
    ground_truth_path: Path
    ground_truth_sub_balances_path: Path
    address_book: tuple[AddressBookEntry, ...]
    days: tuple[DayClose, ...]
    injections: tuple[AppliedInjection, ...]
    inbox_files: tuple[Path, ...]

    def address_of(self, role: str) -> str:
        return next(entry.address for entry in self.address_book if entry.role == role)


def simulate(home: Path, rpc_url: str, days: int = 30, seed: int = 7, start: date = date(2026, 1, 1),
             inject: Sequence[str] = (), scrape_interval_s: int = 600,
             before_reorg: Callable[[date], None] | None = None,
             day_done: Callable[[int], None] | None = None) -> SimulationResult:
    """Deploy on the fresh chain at `rpc_url`, simulate `days` days from `start`, write the inbox and ground truth.

    With a `reorg` injection on day D, D is first mined with an extra deposit and confirmed, `before_reorg(D)` is
    called (the pipeline ingests through D: deployment.json is already written), then the chain is reverted to
    D's start and D is mined again without the deposit, and the simulation goes on. `day_done(n)` is told after
    each day, n of `days`."""
    if not 1 <= scrape_interval_s <= 86_400:
        raise ValueError(f"scrape_interval_s must be between 1 and 86400, got {scrape_interval_s}")
    parse_injections(inject, start, days, seed)  # refuse a bad spec before touching the chain
    chain = SandboxChain(rpc_url, compile_contracts())
    try:
        _require_fresh_chain(chain, start)
        accounts = Accounts.from_anvil(chain.accounts())
        scenario = build_scenario(days, seed, start, accounts)
        injections = parse_injections(inject, start, days, seed,
                                      eligible_days=lambda kind: injectable_days(scenario, kind))
        simulation = _ProtocolSimulation(Path(home), chain, scenario, injections, scrape_interval_s, before_reorg)
        return simulation.run(day_done or (lambda day: None))
    finally:
        chain.close()


def replay(deployment: dict, scratch: Path, rpc_url: str) -> None:
    """The run `deployment` (a data home's sandbox/deployment.json) describes, simulated again into `scratch` on the
    fresh chain at `rpc_url` (its genesis at `genesis_timestamp` of the run's start): the same contracts at the same
    addresses from the same blocks, or SimulatorMismatch."""
    start = date.fromisoformat(deployment["start_date"])
    inject = [f"{i['kind']}@{(date.fromisoformat(i['date']) - start).days + 1}" for i in deployment["injections"]]
    simulate(scratch, rpc_url, days=deployment["days"], seed=deployment["seed"], start=start, inject=inject,
             scrape_interval_s=deployment["scrape_interval_s"])
    again = json.loads((scratch / "sandbox" / "deployment.json").read_text())
    if {**again, "rpc_url": None} != {**deployment, "rpc_url": None}:
        raise SimulatorMismatch("the replayed run's deployment differs from the one it replays")


def injectable_days(scenario: Scenario, kind: str) -> list[date]:
    """The days of the scenario on which `kind` can happen."""
    days = range(1, scenario.days + 1)

    def loans_current(day: int) -> list[PlannedLoan]:
        return [loan for loan in scenario.loans
                if loan.origination_day <= day and loan.status_on(day) == "current"]

    def trades_bills(day: int) -> bool:
        today = scenario.date_of(day)
        return any(today in (bill.purchase_date, bill.maturity_date) for bill in scenario.bills)

    def has_tape_rows(day: int, lender_id: str) -> bool:
        return any(loan.lender_id == lender_id and loan.origination_day <= day for loan in scenario.loans)

    rules: dict[str, Callable[[int], bool]] = {
        "unbacked-mint": lambda day: True,
        "unannounced-upgrade": lambda day: True,
        "stale-prefunding": lambda day: True,
        "migrated-principal-mismatch": lambda day: any(loan.migration_day == day for loan in scenario.loans),
        "reorg": lambda day: True,
        "orphan-tape-loan": lambda day: has_tape_rows(day, TAMPERED_LENDER),
        "duplicate-tape-row": lambda day: has_tape_rows(day, TAMPERED_LENDER),
        "schema-drift": lambda day: has_tape_rows(day, TAMPERED_LENDER),
        "missing-statement": lambda day: not trades_bills(day),
        "tbill-shortfall": lambda day: any(bill.is_held_on(scenario.date_of(day)) for bill in scenario.bills),
        "loan-missing-from-tape": lambda day: any(_omissible(scenario, loan, day) for loan in scenario.loans),
        "loan-principal-mismatch": lambda day: bool(loans_current(day)),
        "gpu-dark": lambda day: any(loan.gpus for loan in loans_current(day)),
        "status-mismatch": lambda day: any(loan.full_repayment_day is not None and loan.full_repayment_day <= day
                                           for loan in scenario.loans),
    }
    return [scenario.date_of(day) for day in days if rules[kind](day)]


def _require_fresh_chain(chain: SandboxChain, start: date) -> None:
    if chain.block_number() != 0:
        raise ValueError("the sandbox simulates on a fresh chain: this one already has blocks")
    genesis = int(chain.block(0)["timestamp"], 16)
    if genesis != genesis_timestamp(start):
        raise ValueError(f"the chain's genesis timestamp is {genesis}; start the AnvilNode with "
                         f"genesis_timestamp({start}) = {genesis_timestamp(start)}")
    if int(chain.rpc("eth_chainId"), 16) != CHAIN_ID:
        raise ValueError(f"the sandbox chain id is {CHAIN_ID}")


def _omissible(scenario: Scenario, loan: PlannedLoan, day: int) -> bool:
    """Can be left off the day's tape and come back the next day (rule interest_catch_up then posts the missed
    day's interest): current the day before, the day and the day after."""
    return (loan.origination_day < day < scenario.days
            and all(loan.status_on(d) == "current" for d in (day - 1, day, day + 1))
            and loan.full_repayment_day not in (day, day + 1))


@dataclass
class _LoanPosition:
    plan: PlannedLoan
    outstanding: int = 0  # USDC units
    accrued: int = 0  # USDC units of interest accrued and unpaid, as the tape has it at the day's close
    router_status: int = 0
    accrual_day: int = 0  # the router's first unpaid day of interest (scenario day)
    frozen_interest: int = 0  # the router's accrued interest from liquidation to collateral sale
    principal_lost: int = 0  # USDC units of principal the collateral sale did not recover
    v2_hash: str | None = None  # its LoanRouterV2 terms hash, once migrated (the tapes name it so from then on)
    v2_status: int = 0
    v2_excess: int = 0  # USDai the V2 balance has beyond `outstanding` (only the injected faulty migration)
    shortfall: Decimal = Decimal(0)  # what the sale left unpaid, principal and interest, USD
    recovery: Decimal = Decimal(0)  # insurance claim recognised (receivable until the pool pays)

    @property
    def daily_interest(self) -> int:
        return self.outstanding * self.plan.rate_bps // 3_650_000

    @property
    def v2_balance(self) -> int:
        """LoanRouterV2's balance of the loan, in USDai."""
        return self.outstanding * SCALE + self.v2_excess if self.v2_hash else 0

    @property
    def v2_daily_interest(self) -> int:
        """LoanRouterV2's whole-day interest: on the balance in whole millionths of a dollar, as the tapes accrue."""
        return self.v2_balance // SCALE * self.plan.rate_bps // 3_650_000 * SCALE


@dataclass
class _Redemption:
    request_id: int
    controller: str
    pending_shares: int


@dataclass
class _VaultBook:
    """sUSDai as the simulator expects the contract to be (its NAV is computed: `_ProtocolSimulation.vault_assets`)."""

    share_supply: int = 0
    shares: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    queue: list[_Redemption] = field(default_factory=list)
    next_request_id: int = 1
    claimable_assets: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    claimable_shares: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    claimable_balance: int = 0
    custodian_principal: int = 0  # USDai (18 decimals) sent to the custodian
    custodian_yield: int = 0  # the custodian's T-bill income to date as last reported, 18 decimals

    @property
    def pending_shares(self) -> int:
        return sum(r.pending_shares for r in self.queue)


class _ProtocolSimulation:
    def __init__(self, home: Path, chain: SandboxChain, scenario: Scenario, injections: list[Injection],
                 scrape_interval_s: int, before_reorg: Callable[[date], None] | None = None):
        self.home = home
        self.inbox = home / "inbox"
        self.chain = chain
        self.scenario = scenario
        self.accounts = scenario.accounts
        self.injections = injections
        self.scrape_interval_s = scrape_interval_s
        self.before_reorg = before_reorg
        self._tampered_loans: set[str] = set()  # loans an injection of the day already changed
        self.ledger = GroundTruthLedger()
        self.protocol: SandboxProtocol | None = None
        self.usdai_balances: dict[str, int] = defaultdict(int)
        self.usdai_supply = 0
        self.usdai_bridged = 0  # USDai burned here for other chains, still backed here (USDai.bridgedSupply)
        self.usdai_reserve = 0  # base token held by USDai
        self.base_token_migrated = False  # USDai's v1.4 release: its base token is PYUSD, no longer wM
        self.router_usdc = 0  # the router holds currency only within a transaction: 0 at every close
        self.vault_usdc = 0  # USDC units the router paid the vault: repayments and sale proceeds (never swept)
        self.vault_interest = 0  # USDC units of loan interest in vault_usdc, on which the admin fee is charged
        self.vault_admin_fee_paid = 0  # USDC units of that admin fee paid out to the admin fee recipient
        self.vault_usdai_income = 0  # USDai of interest and fees LoanRouterV2 paid the vault (admin fee charged)
        self.vault = _VaultBook()
        self.loans = {loan.number: _LoanPosition(loan) for loan in scenario.loans}
        self.custodian_cash = Decimal(0)  # receipts are added as they arrive on chain
        self.custodian_opening_cash = Decimal(0)
        self.custodian_receipts: dict[date, list[tuple[str, Decimal]]] = defaultdict(list)
        self.day = 0
        self.closes: list[DayClose] = []
        self.applied: list[AppliedInjection] = []
        self.files: list[Path] = []
        self._handlers = {
            "deposit": self._deposit, "stake": self._stake, "fund_loans": self._fund_loans,
            "deposit_repayments": self._deposit_repayments,
            "withdraw_admin_fee": self._withdraw_admin_fee,
            "send_to_custodian": self._send_to_custodian, "originate": self._originate, "repay": self._repay,
            "repay_in_full": self._repay_in_full, "liquidate": self._liquidate,
            "sell_collateral": self._sell_collateral, "blacklist": self._blacklist, "transfer": self._transfer,
            "request_redeem": self._request_redeem, "service_redemptions": self._service_redemptions,
            "claim": self._claim, "withdraw": self._withdraw, "insurance_payment": self._insurance_payment,
            "prefund": self._prefund, "cancel_prefunding": self._cancel_prefunding,
            # injections on chain; the others tamper with the day's files (see _drop_files) or its telemetry
            "unbacked-mint": self._unbacked_mint, "reorged-deposit": self._reorged_deposit,
            "upgrade": self._upgrade, "unannounced-upgrade": self._upgrade,
            "bridge_out": self._bridge_out, "bridge_in": self._bridge_in,
            "stale-prefunding": self._stale_prefunding, "migrate_loan": self._migrate_loan,
        }

    # --- the run ------------------------------------------------------------------------------------------------

    def run(self, day_done: Callable[[int], None]) -> SimulationResult:
        self.day = 1
        faulty_migration = any(i.kind == "migrated-principal-mismatch" for i in self.injections)
        self.protocol = deploy_protocol(self.chain, self.accounts.admin, self.accounts.liquidator,
                                        at=day_start_timestamp(self.scenario.start) + 1,
                                        checks_migrated_principal=not faulty_migration)
        self._fund_actors()
        for day in range(1, self.scenario.days + 1):
            self.day = day
            if self._injected("reorg"):
                self._run_reorganised_day()
            else:
                self._run_day()
            day_done(day)
        after = day_start_timestamp(self.scenario.date_of(self.scenario.days) + timedelta(days=1))
        for offset in CONFIRMING_BLOCKS_AT:
            self.chain.mine_empty_block(after + offset)
        return self._write_outputs()

    @property
    def today(self) -> date:
        return self.scenario.date_of(self.day)

    def _at(self, second_of_day: int) -> int:
        """A block timestamp at `second_of_day` of today, pushed past the previous block if need be."""
        timestamp = max(day_start_timestamp(self.today) + second_of_day, self.chain.last_timestamp + 1)
        if timestamp >= day_start_timestamp(self.today + timedelta(days=1)):
            raise SimulatorMismatch(f"the transactions of {self.today} spill into the next day")
        return timestamp

    def _fund_actors(self) -> None:
        p, a = self.protocol, self.accounts
        admin = a.admin
        for swap, base_token in ((p.swap, p.base_token), (p.next_swap, p.next_base_token)):
            for token in (base_token, p.usdc):
                token.transact("mint", swap.address, SWAP_LIQUIDITY, sender=admin, at=self._at(0))
        for user in a.users:
            for base_token in (p.base_token, p.next_base_token):
                base_token.transact("mint", user, TOKEN_FLOAT, sender=admin, at=self._at(0))
                base_token.transact("approve", p.usdai.address, MAX_UINT, sender=user, at=self._at(0))
            p.usdai.transact("approve", p.susdai.address, MAX_UINT, sender=user, at=self._at(0))
        p.usdc.transact("mint", a.users[3], TOKEN_FLOAT, sender=admin, at=self._at(0))
        p.usdc.transact("approve", p.usdai.address, MAX_UINT, sender=a.users[3], at=self._at(0))
        for borrower in (*a.borrowers, a.liquidator):
            p.usdc.transact("mint", borrower, BORROWER_FLOAT, sender=admin, at=self._at(0))
            p.usdc.transact("approve", p.loan_router.address, MAX_UINT, sender=borrower, at=self._at(0))
        for borrower in a.borrowers:
            p.gpu_title.transact("setApprovalForAll", p.loan_router.address, True, sender=borrower, at=self._at(0))
            # A loan migrated to LoanRouterV2 is repaid in USDai, which its borrower mints with USDC.
            p.usdc.transact("approve", p.usdai.address, MAX_UINT, sender=borrower, at=self._at(0))
            p.usdai.transact("approve", p.loan_router_v2.address, MAX_UINT, sender=borrower, at=self._at(0))
        # The insurance pool is a wallet of the sandbox's own, not one of anvil's accounts.
        self.chain.rpc("anvil_impersonateAccount", INSURANCE_POOL)
        self.chain.rpc("anvil_setBalance", INSURANCE_POOL, hex(10**21))
        for base_token in (p.base_token, p.next_base_token):
            base_token.transact("mint", INSURANCE_POOL, TOKEN_FLOAT, sender=admin, at=self._at(0))
            base_token.transact("approve", p.usdai.address, MAX_UINT, sender=INSURANCE_POOL, at=self._at(0))

    def _injected(self, kind: str) -> bool:
        return any(injection.kind == kind and injection.date == self.today for injection in self.injections)

    def _run_day(self, with_reorged_deposit: bool = False) -> None:
        actions = list(self.scenario.actions[self.day])
        if self._injected("unbacked-mint"):
            actions.append(Action("unbacked-mint", INJECTION_AT))
        if self._injected("unannounced-upgrade"):
            actions.append(Action("unannounced-upgrade", INJECTION_AT + 2, recipient=UNANNOUNCED_IMPLEMENTATION))
        if self._injected("stale-prefunding"):
            actions.append(Action("stale-prefunding", STALE_PREFUNDING_AT))
        if with_reorged_deposit:
            actions.append(Action("reorged-deposit", INJECTION_AT + 1, actor=self.accounts.users[2], token="base",
                                  amount=REORGED_DEPOSIT_USD * DOLLAR))
        for action in sorted(actions, key=lambda act: act.at):
            self._handlers[action.kind](action)
        statement = self._custodian_day()
        tapes = self._loan_tapes_day()
        feeds = self._gpu_feeds_day()
        # The allowance is trued up on each tape day, from the tapes and the GPUs' telemetry, as the ledger does.
        risks = credit_risks([row for rows in tapes.values() for row in rows], feeds, self.scrape_interval_s)
        self.ledger.post_credit_loss_allowance(risks)
        self._recognise_insurance_claims()
        self.ledger.post_susdai_yield()
        # The custodian's T-bill income to date (account 4010: marks are its only income) reaches the vault's
        # valuation through the admin's report, after the statement.
        custodian_yield = self._usd_to_wad(-self.ledger.balance("4010"))
        receipt = self.protocol.susdai.transact("reportCustodianYield", custodian_yield, sender=self.accounts.admin,
                                                at=self._at(REPORT_NAV_AT))
        self.vault.custodian_yield = custodian_yield
        self.ledger.close_day(self.today)
        dropped = len(self.files)
        self._drop_files(statement, tapes, feeds, risks)
        delivered_as_of(self.files[dropped:], self.today)
        self._check_day_close(receipt.block_number)

    def _run_reorganised_day(self) -> None:
        """The day as first mined (with a deposit that the reorganisation drops) and confirmed, handed to
        `before_reorg`; then the chain and the simulator's books go back to the day's start and the day is mined
        again without the deposit. The day's other transactions are sent again with the same inputs; from the
        dropped deposit on, their blocks, fees and so hashes differ, so the ledger restates them all."""
        snapshot = self.chain.snapshot()
        books = self._books()
        self._run_day(with_reorged_deposit=True)
        dropped = next(applied for applied in self.applied if applied.kind == "reorged-deposit")
        for offset in CONFIRMING_BLOCKS_AT:
            self.chain.mine_empty_block(day_start_timestamp(self.today + timedelta(days=1)) + offset)
        self._write_deployment()
        if self.before_reorg is not None:
            self.before_reorg(self.today)
        self.chain.revert(snapshot)
        self._restore_books(books)
        self._run_day()
        self.applied.append(replace(dropped, kind="reorg", detail="deposit dropped by the reorganisation"))

    # The simulator's own state, everything a revert of the chain must take back with it.
    _BOOKS = ("ledger", "usdai_balances", "usdai_supply", "usdai_bridged", "usdai_reserve", "base_token_migrated",
              "router_usdc", "vault_usdc", "vault_interest", "vault_admin_fee_paid", "vault_usdai_income", "vault",
              "loans",
              "custodian_cash", "custodian_opening_cash", "custodian_receipts", "closes", "applied", "files")

    def _books(self) -> dict:
        return copy.deepcopy({name: getattr(self, name) for name in self._BOOKS})

    def _restore_books(self, books: dict) -> None:
        for name, value in books.items():
            setattr(self, name, value)

    # --- chain actions ------------------------------------------------------------------------------------------

    @property
    def _base_token(self):
        """The token USDai holds its reserve in now: wM, then PYUSD from the v1.4 release on."""
        return self.protocol.next_base_token if self.base_token_migrated else self.protocol.base_token

    @property
    def _base_at_usdai(self) -> str:
        return f"{self._base_token.address}@{self.protocol.usdai.address}"

    @property
    def _usdc_at_router(self) -> str:
        return f"{self.protocol.usdc.address}@{self.protocol.loan_router.address}"

    @property
    def _usdc_at_vault(self) -> str:
        return f"{self.protocol.usdc.address}@{self.protocol.susdai.address}"

    @property
    def _timelock(self) -> str:
        return self.protocol.deposit_timelock.address

    def _deposit(self, action: Action) -> None:
        p, user, amount = self.protocol, action.actor, action.amount
        token = self._base_token if action.token == "base" else p.usdc
        minted = amount * SCALE
        receipt = p.usdai.transact("deposit", token.address, amount, minted, user, sender=user, at=self._at(action.at))
        receipt.expect(p.usdai.address, "Deposited", caller=user, recipient=user, depositToken=token.address,
                       depositAmount=amount, mintAmount=minted)
        receipt.expect(p.usdai.address, "Transfer", **{"from": ZERO_ADDRESS, "to": user, "value": minted})
        self.usdai_supply += minted
        self.usdai_balances[user] += minted
        self.usdai_reserve += amount
        usd = token_amount(amount, 6)
        self.ledger.post("usdai_mint", [debit("1020", usd, self._base_at_usdai), credit("2000", usd)])

    def _stake(self, action: Action) -> None:
        p, user, vault = self.protocol, action.actor, self.vault
        assets = action.amount * WAD
        nav = self.vault_assets()
        shares = assets if vault.share_supply == 0 or nav == 0 else assets * vault.share_supply // nav
        receipt = p.susdai.transact("deposit", assets, user, sender=user, at=self._at(action.at))
        receipt.expect(p.susdai.address, "Deposit", sender=user, owner=user, assets=assets, shares=shares)
        self._move_usdai(user, p.susdai.address, assets)
        vault.share_supply += shares
        vault.shares[user] += shares
        usd = token_amount(assets, 18)
        self.ledger.post("susdai_stake", [debit("2000", usd), credit("2100", usd)])

    def _fund_loans(self, action: Action) -> None:
        """The vault pre-funds each of the day's loans through the deposit timelock, as the real vault must (the
        router takes a contract lender's principal from there only), expiring at the day's end."""
        loans = [loan for loan in self.scenario.loans if loan.origination_day == self.day and not loan.prefunded]
        if sum(loan.principal for loan in loans) != action.amount * DOLLAR:
            raise SimulatorMismatch(f"the day's loan funding {action.amount} is not its loans' principal")
        expiration = day_start_timestamp(self.today + timedelta(days=1)) - 1
        for loan in loans:
            self._deposit_in_timelock(loan.terms_hash, loan.principal * SCALE, expiration, action.at)

    def _deposit_repayments(self, action: Action) -> None:
        """The vault swaps whole dollars of its repayment balance (the currency the router paid it less the admin fee
        on the interest in it) into USDai for itself: the USDai minted is the vault's own."""
        p = self.protocol
        balance = (self.vault_usdc * SCALE - self._vault_admin_fee_held()) // SCALE
        # Paced at 2% of the supply a day: a large repayment swapped at once would raise totalSupply past the 5%
        # daily rise the public monitor (and check H1) flags.
        amount = min(balance, self.usdai_supply // SCALE * REPAYMENT_DEPOSIT_SUPPLY_BPS // 10_000) // DOLLAR * DOLLAR
        if amount <= 0:
            return
        receipt = self._vault_deposit("depositLoanRepayment", action, amount, p.susdai.address)
        receipt.expect(p.susdai.address, "LoanRepaymentDeposited", currencyToken=p.usdc.address,
                       claimableBalanceAmount=amount, usdaiDepositAmount=amount * SCALE)

    def _vault_admin_fee_held(self) -> int:
        """The admin fee on the loan interest the vault received that it has not paid out, in USDai units."""
        return ((self.vault_interest * SCALE + self.vault_usdai_income) * VAULT_ADMIN_FEE_BPS // 10_000
                - self.vault_admin_fee_paid * SCALE)

    def _withdraw_admin_fee(self, action: Action) -> None:
        """The vault pays the whole dollars of its admin fee on loan interest to the admin fee recipient, swapped
        into USDai: the USDai minted, outstanding, is the protocol's retained fee paid out (admin_fee_withdrawn)."""
        p = self.protocol
        amount = self._vault_admin_fee_held() // SCALE // DOLLAR * DOLLAR
        if amount <= 0:
            return
        receipt = self._vault_deposit("withdrawAdminFee", action, amount, ADMIN_FEE_RECIPIENT)
        receipt.expect(p.susdai.address, "AdminFeeWithdrawn", currencyToken=p.usdc.address, adminFeeAmount=amount,
                       usdaiDepositAmount=amount * SCALE)
        self.vault_admin_fee_paid += amount
        usd = token_amount(amount, 6)
        self.ledger.post("admin_fee_withdrawn", [debit("3000", usd), credit("2000", usd)])

    def _vault_deposit(self, function: str, action: Action, amount: int, recipient: str) -> Receipt:
        """The vault's `function` swaps `amount` of the loan currency it holds into USDai for `recipient` through
        USDai's deposit, at par: the USDC becomes reserve (rule reserve_deposit)."""
        p = self.protocol
        receipt = p.susdai.transact(function, amount, sender=self.accounts.admin, at=self._at(action.at))
        minted = amount * SCALE
        receipt.expect(p.usdai.address, "Deposited", caller=p.susdai.address, recipient=recipient,
                       depositToken=p.usdc.address, depositAmount=amount, mintAmount=minted)
        self.vault_usdc -= amount
        self.usdai_supply += minted
        self.usdai_balances[recipient] += minted
        self.usdai_reserve += amount
        usd = token_amount(amount, 6)
        self.ledger.post("reserve_deposit", [debit("1020", usd, self._base_at_usdai),
                                             credit("1020", usd, self._usdc_at_vault)])
        return receipt

    def _send_to_custodian(self, action: Action) -> None:
        p, custodian = self.protocol, self.accounts.custodian
        receipt = self._vault_withdrawal("sendToCustodian", action, (custodian,), custodian, self._base_token.address)
        usd = token_amount(action.amount * DOLLAR, 6)
        self.vault.custodian_principal += action.amount * WAD
        self.custodian_receipts[self.today].append((receipt.tx_hash, usd))
        self.custodian_cash += usd
        self.ledger.post("reserve_to_custodian", [debit("1000", usd), credit("1020", usd, self._base_at_usdai)])

    def _vault_withdrawal(self, function: str, action: Action, extra_args: tuple, recipient: str,
                          withdraw_token: str) -> Receipt:
        p = self.protocol
        usdai_amount, paid = action.amount * WAD, action.amount * DOLLAR
        receipt = p.susdai.transact(function, usdai_amount, *extra_args, sender=self.accounts.admin,
                                    at=self._at(action.at))
        receipt.expect(p.usdai.address, "Withdrawn", caller=p.susdai.address, recipient=recipient,
                       withdrawToken=withdraw_token, usdaiAmount=usdai_amount, withdrawAmount=paid)
        self._burn_usdai(p.susdai.address, usdai_amount, paid)
        return receipt

    def _prefund(self, action: Action) -> None:
        prefunding = action.prefunding
        self._deposit_in_timelock(prefunding.terms_hash, prefunding.usdai_amount * WAD, prefunding.expiration,
                                  action.at)

    def _deposit_in_timelock(self, terms_hash: str, usdai_amount: int, expiration: int, at: int) -> Receipt:
        """The vault commits USDai to a loan's terms: it moves to the deposit timelock, outside the protocol, and
        the vault's claim on it is an asset of its own (1030) until the loan takes it or the vault cancels."""
        p = self.protocol
        receipt = p.susdai.transact("depositLoanTimelock", _bytes32(terms_hash), usdai_amount, expiration,
                                    sender=self.accounts.admin, at=self._at(at))
        receipt.expect(p.susdai.address, "LoanTimelockDeposited", loanTermsHash=terms_hash, usdaiAmount=usdai_amount,
                       expiration=expiration)
        receipt.expect(p.usdai.address, "Transfer",
                       **{"from": p.susdai.address, "to": self._timelock, "value": usdai_amount})
        self._move_usdai(p.susdai.address, self._timelock, usdai_amount)
        usd = token_amount(usdai_amount, 18)
        self.ledger.post("loan_timelock_deposited", [debit("1030", usd, terms_hash), credit("2000", usd)])
        return receipt

    def _cancel_prefunding(self, action: Action) -> None:
        p, prefunding = self.protocol, action.prefunding
        usdai_amount = prefunding.usdai_amount * WAD
        receipt = p.susdai.transact("cancelLoanTimelock", _bytes32(prefunding.terms_hash), sender=self.accounts.admin,
                                    at=self._at(action.at))
        receipt.expect(p.susdai.address, "LoanTimelockCancelled", loanTermsHash=prefunding.terms_hash,
                       usdaiAmount=usdai_amount)
        receipt.expect(p.usdai.address, "Transfer",
                       **{"from": self._timelock, "to": p.susdai.address, "value": usdai_amount})
        self._move_usdai(self._timelock, p.susdai.address, usdai_amount)
        usd = token_amount(usdai_amount, 18)
        self.ledger.post("loan_timelock_cancelled", [debit("2000", usd), credit("1030", usd, prefunding.terms_hash)])

    def _stale_prefunding(self, action: Action) -> None:
        """A pre-funding for terms no loan will have, expiring at noon, that the vault never cancels."""
        terms_hash = "0x" + keccak(text=f"backed-sandbox:stale-prefunding:{self.today}").hex().removeprefix("0x")
        amount = int(STALE_PREFUNDING_USDAI) * WAD
        expiration = day_start_timestamp(self.today) + PREFUNDING_EXPIRES_AT
        receipt = self._deposit_in_timelock(terms_hash, amount, expiration, action.at)
        self.applied.append(AppliedInjection("stale-prefunding", self.today, entity=terms_hash,
                                             amount=STALE_PREFUNDING_USDAI, tx_hash=receipt.tx_hash,
                                             detail=f"expires at {expiration}, never cancelled"))

    def _originate(self, action: Action) -> None:
        p, loan = self.protocol, action.loan
        admin, borrower = self.accounts.admin, loan.borrower.address
        for nft in loan.collateral:
            p.gpu_title.transact("mint", borrower, nft.token_id, sender=admin, at=self._at(action.at))
        token_ids = [nft.token_id for nft in loan.collateral]
        receipt = p.loan_router.transact(
            "originate", _bytes32(loan.terms_hash), borrower, p.susdai.address, loan.principal, loan.origination_fee,
            loan.rate_bps, token_ids, loan.maturity_timestamp, loan.repayment_deadline, sender=admin,
            at=self._at(action.at))
        receipt.expect(p.loan_router.address, "LoanOriginated", loanTermsHash=loan.terms_hash, borrower=borrower,
                       currencyToken=p.usdc.address, principal=loan.principal, originationFee=loan.origination_fee)
        position_id = int.from_bytes(keccak(eth_abi.encode(["bytes32", "uint8"], [_bytes32(loan.terms_hash), 0])))
        receipt.expect(p.loan_router.address, "LenderPositionMinted", loanTermsHash=loan.terms_hash,
                       lender=p.susdai.address, trancheIndex=0, tokenId=position_id)
        moved = {e.args["tokenId"] for e in receipt.events_named("Transfer", p.gpu_title.address)
                 if e.args["from"] == borrower and e.args["to"] == p.loan_router.address}
        if moved != set(token_ids):
            raise SimulatorMismatch(f"origination of {loan.loan_id} moved GPU titles {moved}, not {token_ids}")
        self._take_prefunding(receipt, loan)
        if loan.origination_fee:
            receipt.expect(p.usdc.address, "Transfer", **{"from": p.loan_router.address, "to": ROUTER_FEE_RECIPIENT,
                                                          "value": loan.origination_fee})
        receipt.expect(p.usdc.address, "Transfer", **{"from": p.loan_router.address, "to": borrower,
                                                      "value": loan.principal - loan.origination_fee})
        position = self.loans[loan.number]
        position.outstanding, position.router_status = loan.principal, ACTIVE
        position.accrual_day = self.day
        # The whole principal leaves the router: the fee to its fee recipient, outside the protocol, the rest to the
        # borrower. The fee is not the vault's income.
        self.router_usdc -= loan.principal
        self.ledger.post("loan_originated", [
            debit("1100", token_amount(loan.principal, 6), loan.terms_hash),
            credit("1020", token_amount(loan.principal, 6), self._usdc_at_router),
        ])

    def _take_prefunding(self, receipt: Receipt, loan: PlannedLoan) -> None:
        """The router takes the loan's pre-funding from the timelock and swaps it into the currency: the USDai is
        burned (a conversion of the reserve, as the vault's loan funding is) and the timelock's claim is used up."""
        p = self.protocol
        usdai_amount = loan.principal * SCALE
        receipt.expect(p.usdai.address, "Transfer",
                       **{"from": self._timelock, "to": p.loan_router.address, "value": usdai_amount})
        receipt.expect(p.usdai.address, "Withdrawn", caller=p.loan_router.address, recipient=p.loan_router.address,
                       withdrawToken=p.usdc.address, usdaiAmount=usdai_amount, withdrawAmount=loan.principal)
        self._move_usdai(self._timelock, p.loan_router.address, usdai_amount)
        self._burn_usdai(p.loan_router.address, usdai_amount, loan.principal)
        self.router_usdc += loan.principal
        usd = token_amount(loan.principal, 6)
        self.ledger.post("reserve_conversion", [debit("1020", usd, self._usdc_at_router),
                                                credit("1020", usd, self._base_at_usdai)])
        self.ledger.post("loan_timelock_consumed", [debit("2000", usd), credit("1030", usd, loan.terms_hash)])

    def _repay(self, action: Action) -> None:
        position = self.loans[action.loan.number]
        principal = min(action.loan.amortisation, position.outstanding)
        self._repayment(action, position, principal=principal, prepayment=0, exit_fee=0)

    def _repay_in_full(self, action: Action) -> None:
        position = self.loans[action.loan.number]
        prepayment = position.outstanding
        self._repayment(action, position, principal=0, prepayment=prepayment,
                        exit_fee=prepayment * EXIT_FEE_BPS // 10_000)

    def _repayment(self, action: Action, position: _LoanPosition, principal: int, prepayment: int,
                   exit_fee: int) -> None:
        if position.v2_hash:
            self._repayment_v2(action, position, principal + prepayment)
            return
        p, loan = self.protocol, position.plan
        interest = position.accrued
        is_repaid = principal + prepayment == position.outstanding
        receipt = p.loan_router.transact("repay", _bytes32(loan.terms_hash), principal, interest, prepayment, exit_fee,
                                         sender=loan.borrower.address, at=self._at(action.at))
        receipt.expect(p.loan_router.address, "LoanRepaid", loanTermsHash=loan.terms_hash,
                       borrower=loan.borrower.address, principal=principal, interest=interest, prepayment=prepayment,
                       exitFee=exit_fee, isRepaid=is_repaid)
        receipt.expect(p.loan_router.address, "LenderRepaid", loanTermsHash=loan.terms_hash, lender=p.susdai.address,
                       trancheIndex=0, principal=principal, interest=interest, prepay=prepayment)
        if is_repaid:
            self._expect_collateral_moved(receipt, loan, loan.borrower.address)
            position.router_status = REPAID
        # Principal and interest go on to the vault at once; the exit fee goes from the borrower to the router's
        # fee recipient, outside the protocol.
        paid = principal + interest + prepayment
        receipt.expect(p.usdc.address, "Transfer", **{"from": p.loan_router.address, "to": p.susdai.address,
                                                      "value": paid})
        if exit_fee:
            receipt.expect(p.usdc.address, "Transfer", **{"from": loan.borrower.address, "to": ROUTER_FEE_RECIPIENT,
                                                          "value": exit_fee})
        position.outstanding -= principal + prepayment
        position.accrued = 0
        position.accrual_day = self.day
        self.vault_usdc += paid
        self.vault_interest += interest
        self.ledger.post("loan_repaid", [
            debit("1020", token_amount(paid, 6), self._usdc_at_vault),
            credit("1100", token_amount(principal + prepayment, 6), loan.terms_hash),
            credit("1110", token_amount(interest, 6), loan.terms_hash),
        ])

    def _migrate_loan(self, action: Action) -> None:
        """LoanRouterV2 takes the loan over: V2 terms lending its V1 balance in USDai to the vault, with a repayment
        fee paid to the vault. No token of value moves and the ledger posts nothing (the loan keeps its V1 identity)."""
        p, loan = self.protocol, action.loan
        position = self.loans[loan.number]
        excess = MIGRATED_PRINCIPAL_EXCESS_USD * WAD if self._injected("migrated-principal-mismatch") else 0
        balance = position.outstanding * SCALE + excess
        terms = (loan.maturity_timestamp, loan.borrower.address, p.usdai.address, p.gpu_title.address,
                 ((loan.maturity_date - self.today).days, self.today.day, 0), (V2_RATE_MODEL, b""),
                 [nft.token_id for nft in loan.collateral], [(p.susdai.address, balance, loan.rate_bps)],
                 [(FEE_KIND_REPAYMENT, p.susdai.address, V2_FEE_MODEL,
                   eth_abi.encode(["uint256"], [V2_REPAYMENT_FEE_USD * WAD]))], [], b"")
        encoded = "0x" + eth_abi.encode([LOAN_TERMS_V2], [terms]).hex()
        v2_hash = "0x" + keccak(eth_abi.encode(["uint256", LOAN_TERMS_V2], [CHAIN_ID, terms])).hex()
        receipt = p.loan_router_v2.transact("migrateLoan", _bytes32(loan.terms_hash), terms, sender=self.accounts.admin,
                                            at=self._at(action.at))
        receipt.expect(p.loan_router_v2.address, "LoanMigrated", loanTermsHashV1=loan.terms_hash,
                       loanTermsHashV2=v2_hash, loanTerms=encoded)
        position_id = int.from_bytes(keccak(eth_abi.encode(["bytes32", "uint8"], [_bytes32(v2_hash), 0])))
        receipt.expect(p.loan_router_v2.address, "LenderPositionMinted", loanTermsHash=v2_hash,
                       lender=p.susdai.address, trancheIndex=0, tokenId=position_id)
        moved = {e.args["tokenId"] for e in receipt.events_named("Transfer", p.gpu_title.address)
                 if e.args["from"] == p.loan_router.address and e.args["to"] == p.loan_router_v2.address}
        if moved != {nft.token_id for nft in loan.collateral}:
            raise SimulatorMismatch(f"the migration of {loan.loan_id} moved GPU titles {moved}")
        position.v2_hash, position.v2_status, position.v2_excess = v2_hash, ACTIVE, excess
        position.router_status = MIGRATED
        if excess:
            self.applied.append(AppliedInjection(
                "migrated-principal-mismatch", self.today, entity=v2_hash, amount=Decimal(MIGRATED_PRINCIPAL_EXCESS_USD),
                tx_hash=receipt.tx_hash, detail=f"V2 principal {token_amount(balance, 18):,f} USDai against V1's "
                                                f"{token_amount(position.outstanding, 6):,f}"))

    def _repayment_v2(self, action: Action, position: _LoanPosition, principal: int) -> None:
        """A repayment of a migrated loan, in USDai: the borrower mints it with USDC, then LoanRouterV2 pays the
        principal and interest to the vault and the terms' repayment fee to the vault too (FeePaid). USDai coming
        back to the protocol settles on 2000; the fee is the protocol's income (loan_fee_received)."""
        p, loan, borrower = self.protocol, position.plan, position.plan.borrower.address
        principal_wad, interest_wad, fee_wad = principal * SCALE, position.accrued * SCALE, V2_REPAYMENT_FEE_USD * WAD
        owed = principal_wad + interest_wad + fee_wad
        self._deposit(Action("deposit", action.at, actor=borrower, token="usdc", amount=owed // SCALE))
        is_repaid = principal_wad == position.v2_balance
        receipt = p.loan_router_v2.transact("repay", _bytes32(position.v2_hash), principal_wad, interest_wad,
                                            sender=borrower, at=self._at(action.at))
        receipt.expect(p.loan_router_v2.address, "LoanRepaid", loanTermsHash=position.v2_hash, borrower=borrower,
                       principal=principal_wad, interest=interest_wad, prepayment=0, exitFee=fee_wad, isRepaid=is_repaid)
        receipt.expect(p.loan_router_v2.address, "LenderRepaid", loanTermsHash=position.v2_hash,
                       lender=p.susdai.address, trancheIndex=0, principal=principal_wad, interest=interest_wad,
                       prepay=0)
        receipt.expect(p.loan_router_v2.address, "FeePaid", loanTermsHash=position.v2_hash, kind=FEE_KIND_REPAYMENT,
                       recipient=p.susdai.address, feeModel=V2_FEE_MODEL, amount=fee_wad)
        receipt.expect(p.usdai.address, "Transfer", **{"from": p.loan_router_v2.address, "to": p.susdai.address,
                                                       "value": principal_wad + interest_wad})
        receipt.expect(p.usdai.address, "Transfer", **{"from": borrower, "to": p.susdai.address, "value": fee_wad})
        self._move_usdai(borrower, p.susdai.address, owed)
        if is_repaid:
            position.v2_status = REPAID
        position.outstanding -= principal
        interest = position.accrued
        position.accrued = 0
        position.accrual_day = self.day
        self.vault_usdai_income += interest_wad + fee_wad
        self.ledger.post("loan_repaid", [
            debit("2000", token_amount(principal_wad + interest_wad, 18)),
            credit("1100", token_amount(principal, 6), loan.terms_hash),
            credit("1110", token_amount(interest, 6), loan.terms_hash),
        ])
        self.ledger.post("loan_fee_received", [debit("2000", Decimal(V2_REPAYMENT_FEE_USD)),
                                               credit("4020", Decimal(V2_REPAYMENT_FEE_USD))])

    def _liquidate(self, action: Action) -> None:
        p, loan = self.protocol, action.loan
        receipt = p.loan_router.transact("liquidate", _bytes32(loan.terms_hash), sender=self.accounts.admin,
                                         at=self._at(action.at))
        receipt.expect(p.loan_router.address, "LoanLiquidated", loanTermsHash=loan.terms_hash)
        self._expect_collateral_moved(receipt, loan, self.accounts.liquidator)
        position = self.loans[loan.number]
        # The router stops accruing: the days before the liquidation's day stay owed until the collateral is sold.
        position.frozen_interest = position.daily_interest * (self.day - position.accrual_day)
        position.router_status = LIQUIDATED

    def _sell_collateral(self, action: Action) -> None:
        p, loan = self.protocol, action.loan
        position = self.loans[loan.number]
        sale = position.outstanding * loan.recovery_bps // 10_000 // DOLLAR * DOLLAR
        receipt = p.loan_router.transact("collateralLiquidated", _bytes32(loan.terms_hash), sale,
                                         sender=self.accounts.liquidator, at=self._at(action.at))
        # The router keeps 3% of the sale for its fee recipient; the rest repays principal, then the interest owed
        # up to the liquidation; a surplus beyond both is the fee recipient's too. `proceeds` is the vault's part.
        liquidation_fee = sale * LIQUIDATION_FEE_BPS // 10_000
        principal_recovered = min(sale - liquidation_fee, position.outstanding)
        interest_recovered = min(sale - liquidation_fee - principal_recovered, position.frozen_interest)
        surplus = sale - liquidation_fee - principal_recovered - interest_recovered
        proceeds = principal_recovered + interest_recovered
        receipt.expect(p.loan_router.address, "LoanCollateralLiquidated", loanTermsHash=loan.terms_hash,
                       proceeds=proceeds, liquidationFee=liquidation_fee, surplus=surplus)
        receipt.expect(p.loan_router.address, "LenderLiquidationRepaid", loanTermsHash=loan.terms_hash,
                       lender=p.susdai.address, trancheIndex=0, principal=principal_recovered,
                       interest=interest_recovered)
        if proceeds:
            receipt.expect(p.usdc.address, "Transfer", **{"from": p.loan_router.address, "to": p.susdai.address,
                                                          "value": proceeds})
        outstanding, accrued = token_amount(position.outstanding, 6), token_amount(position.accrued, 6)
        recovered = token_amount(proceeds, 6)
        shortfall = outstanding + accrued - recovered
        lines = [debit("1020", recovered, self._usdc_at_vault), credit("1100", outstanding, loan.terms_hash),
                 credit("1110", accrued, loan.terms_hash)]
        # Interest the router charged beyond what the tapes accrued is income, as the ledger's rule has it.
        lines.append(debit("5000", shortfall) if shortfall >= 0 else credit("4000", -shortfall))
        self.ledger.post("loan_liquidated", lines)
        self.vault_usdc += proceeds
        self.vault_interest += interest_recovered
        position.principal_lost = position.outstanding - principal_recovered
        position.shortfall = shortfall
        position.outstanding = position.accrued = position.frozen_interest = 0
        position.router_status = COLLATERAL_LIQUIDATED

    def _recognise_insurance_claims(self) -> None:
        """A sold loan's cover pays its ratio of the principal lost (at most the shortfall) once the waiting period
        has run: a receivable from the pool from that day, as the ledger's rule insurance_recovery books it."""
        for position in self.loans.values():
            if position.plan.insurance_claim_day != self.day or position.shortfall <= 0:
                continue
            recovery = min(position.shortfall,
                           token_amount(position.principal_lost, 6) * position.plan.insurance_cover_ratio)
            position.recovery = recovery
            self.ledger.post("insurance_recovery", [debit("1150", recovery),
                                                    credit("5000", recovery)])

    def _insurance_payment(self, action: Action) -> None:
        """The pool pays the claim to the vault from the USDai it holds."""
        p, position = self.protocol, self.loans[action.loan.number]
        if position.recovery <= 0:
            return
        amount = self._usd_to_wad(position.recovery)
        if amount > self.usdai_balances[INSURANCE_POOL]:
            raise SimulatorMismatch(f"the insurance pool cannot pay a claim of {position.recovery}")
        receipt = p.usdai.transact("transfer", p.susdai.address, amount, sender=INSURANCE_POOL, at=self._at(action.at))
        receipt.expect(p.usdai.address, "Transfer", **{"from": INSURANCE_POOL, "to": p.susdai.address, "value": amount})
        self._move_usdai(INSURANCE_POOL, p.susdai.address, amount)
        self.ledger.post("insurance_recovery_received", [debit("2000", position.recovery),
                                                         credit("1150", position.recovery)])
        position.recovery = Decimal(0)

    def _expect_collateral_moved(self, receipt: Receipt, loan: PlannedLoan, to: str) -> None:
        moved = {e.args["tokenId"] for e in receipt.events_named("Transfer", self.protocol.gpu_title.address)
                 if e.args["from"] == self.protocol.loan_router.address and e.args["to"] == to}
        if moved != {nft.token_id for nft in loan.collateral}:
            raise SimulatorMismatch(f"{loan.loan_id}: collateral moved to {to} was {moved}")

    def _transfer(self, action: Action) -> None:
        """A holder pays USDai, or sUSDai shares, to another wallet: nothing the ledger records (both sides are outside
        the protocol; the holders' claim on the vault, 2100, is the same whoever holds the shares)."""
        p = self.protocol
        amount = action.amount * WAD
        if action.token == "susdai":
            receipt = p.susdai.transact("transfer", action.recipient, amount, sender=action.actor,
                                        at=self._at(action.at))
            receipt.expect(p.susdai.address, "Transfer",
                           **{"from": action.actor, "to": action.recipient, "value": amount})
            self.vault.shares[action.actor] -= amount
            self.vault.shares[action.recipient] += amount
            return
        receipt = p.usdai.transact("transfer", action.recipient, amount, sender=action.actor, at=self._at(action.at))
        receipt.expect(p.usdai.address, "Transfer", **{"from": action.actor, "to": action.recipient, "value": amount})
        self._move_usdai(action.actor, action.recipient, amount)

    def _blacklist(self, action: Action) -> None:
        p = self.protocol
        receipt = p.usdai.transact("setBlacklist", action.actor, True, sender=self.accounts.admin,
                                   at=self._at(action.at))
        receipt.expect(p.usdai.address, "BlacklistUpdated", account=action.actor, isBlacklisted=True)
        receipt = p.susdai.transact("setBlacklist", action.actor, True, sender=self.accounts.admin,
                                    at=self._at(action.at))
        receipt.expect(p.susdai.address, "Blacklisted", value=action.actor, isBlacklisted=True)

    def _bridge_out(self, action: Action) -> None:
        """A holder sends USDai to another chain: burned here, still outstanding and backed here, so the ground
        truth posts nothing (2000 counts USDai held outside the protocol on every chain)."""
        p = self.protocol
        amount = action.amount * WAD
        receipt = p.usdai_bridge_adapter.transact("send", REMOTE_EID, amount, sender=action.actor,
                                                  at=self._at(action.at))
        receipt.expect(p.usdai.address, "Transfer", **{"from": action.actor, "to": ZERO_ADDRESS, "value": amount})
        receipt.expect(p.usdai_bridge_adapter.address, "OFTSent", fromAddress=action.actor, amountSentLD=amount)
        self.usdai_balances[action.actor] -= amount
        self.usdai_supply -= amount
        self.usdai_bridged += amount

    def _bridge_in(self, action: Action) -> None:
        """USDai comes back from another chain: minted here out of the bridged supply; nothing to post either."""
        p = self.protocol
        amount = action.amount * WAD
        guid = keccak(text=f"backed-sandbox:bridge-in:{self.today}:{action.actor}")
        receipt = p.usdai_bridge_adapter.transact("deliver", guid, REMOTE_EID, action.actor, amount,
                                                  sender=self.accounts.admin, at=self._at(action.at))
        receipt.expect(p.usdai.address, "Transfer", **{"from": ZERO_ADDRESS, "to": action.actor, "value": amount})
        receipt.expect(p.usdai_bridge_adapter.address, "OFTReceived", toAddress=action.actor, amountReceivedLD=amount)
        self.usdai_balances[action.actor] += amount
        self.usdai_supply += amount
        self.usdai_bridged -= amount

    def _upgrade(self, action: Action) -> None:
        """USDai's proxy gets new code (H8 warns of it). The released one is USDai v1.4's: the base token becomes
        PYUSD, and the admin converts the whole reserve from wM at once (base_token_converted). The code nobody
        announced moves no value: nothing to post."""
        p, admin = self.protocol, self.accounts.admin
        implementation = to_checksum_address(action.recipient)
        if action.kind == "upgrade" and not self.base_token_migrated:
            receipt = p.usdai.transact("migrateBaseToken", implementation, p.next_base_token.address,
                                       p.next_swap.address, sender=admin, at=self._at(action.at))
            receipt.expect(p.usdai.address, "Upgraded", implementation=implementation)
            self._convert_reserve(action)
            return
        receipt = p.usdai.transact("upgradeTo", implementation, sender=admin, at=self._at(action.at))
        receipt.expect(p.usdai.address, "Upgraded", implementation=implementation)
        if action.kind == "unannounced-upgrade":
            self.applied.append(AppliedInjection("unannounced-upgrade", self.today, entity=implementation,
                                                 tx_hash=receipt.tx_hash))

    def _convert_reserve(self, action: Action) -> None:
        p, admin, amount = self.protocol, self.accounts.admin, self.usdai_reserve
        former_at_usdai = self._base_at_usdai
        p.next_base_token.transact("mint", admin, amount, sender=admin, at=self._at(action.at))
        p.next_base_token.transact("approve", p.usdai.address, amount, sender=admin, at=self._at(action.at))
        receipt = p.usdai.transact("convertBaseToken", amount, sender=admin, at=self._at(action.at))
        receipt.expect(p.usdai.address, "BaseTokenConverted", converter=admin, amount=amount)
        receipt.expect(p.base_token.address, "Transfer", **{"from": p.usdai.address, "to": admin, "value": amount})
        receipt.expect(p.next_base_token.address, "Transfer", **{"from": admin, "to": p.usdai.address, "value": amount})
        self.base_token_migrated = True
        usd = token_amount(amount, 6)
        self.ledger.post("base_token_converted", [debit("1020", usd, self._base_at_usdai),
                                                  credit("1020", usd, former_at_usdai)])

    def _request_redeem(self, action: Action) -> None:
        p, user, vault = self.protocol, action.actor, self.vault
        shares = vault.shares[user] * action.fraction_bps // 10_000
        receipt = p.susdai.transact("requestRedeem", shares, user, user, sender=user, at=self._at(action.at))
        receipt.expect(p.susdai.address, "RedeemRequest", controller=user, owner=user,
                       requestId=vault.next_request_id, sender=user, shares=shares)
        vault.shares[user] -= shares
        vault.queue.append(_Redemption(vault.next_request_id, user, shares))
        vault.next_request_id += 1

    def _service_redemptions(self, action: Action) -> None:
        p, vault = self.protocol, self.vault
        to_service = vault.pending_shares * action.fraction_bps // 10_000
        # Redemptions are paid at the conservative share price: the vault's assets without accrued interest.
        price = WAD if vault.share_supply == 0 else self.vault_assets(optimistic=False) * WAD // vault.share_supply
        expected, remaining = [], to_service
        for redemption in vault.queue:
            if remaining == 0:
                break
            fulfilled = min(redemption.pending_shares, remaining)
            amount = fulfilled * price // WAD
            remaining -= fulfilled
            expected.append((redemption, fulfilled, amount))
        receipt = p.susdai.transact("serviceRedemptions", to_service, sender=self.accounts.admin,
                                    at=self._at(action.at))
        total = 0
        for redemption, fulfilled, amount in expected:
            receipt.expect(p.susdai.address, "RedemptionProcessed", redemptionId=redemption.request_id,
                           controller=redemption.controller, fulfilledShares=fulfilled, amount=amount,
                           pendingShares=redemption.pending_shares - fulfilled)
            redemption.pending_shares -= fulfilled
            vault.claimable_assets[redemption.controller] += amount
            vault.claimable_shares[redemption.controller] += fulfilled
            total += amount
            usd = token_amount(amount, 18)
            self.ledger.post("redemption_serviced", [debit("2100", usd), credit("2110", usd)])
        vault.queue = [r for r in vault.queue if r.pending_shares]
        receipt.expect(p.susdai.address, "RedemptionsServiced", shares=to_service - remaining, amount=total,
                       allRedemptionsServiced=not vault.queue)
        vault.share_supply -= to_service - remaining
        vault.claimable_balance += total

    def _claim(self, action: Action) -> None:
        p, user, vault = self.protocol, action.actor, self.vault
        assets, shares = vault.claimable_assets[user], vault.claimable_shares[user]
        if assets == 0:
            return
        receipt = p.susdai.transact("withdraw", assets, user, user, sender=user, at=self._at(action.at))
        receipt.expect(p.susdai.address, "Withdraw", sender=user, receiver=user, owner=user, assets=assets,
                       shares=shares)
        vault.claimable_assets[user] = vault.claimable_shares[user] = 0
        vault.claimable_balance -= assets
        self._move_usdai(p.susdai.address, user, assets)
        usd = token_amount(assets, 18)
        self.ledger.post("redemption_claimed", [debit("2110", usd), credit("2000", usd)])

    def _withdraw(self, action: Action) -> None:
        p, user = self.protocol, action.actor
        dollars = self.usdai_balances[user] * action.fraction_bps // 10_000 // WAD
        if dollars == 0:
            return
        token = self._base_token if action.token == "base" else p.usdc
        usdai_amount, paid = dollars * WAD, dollars * DOLLAR
        receipt = p.usdai.transact("withdraw", token.address, usdai_amount, paid, user, sender=user,
                                   at=self._at(action.at))
        receipt.expect(p.usdai.address, "Withdrawn", caller=user, recipient=user, withdrawToken=token.address,
                       usdaiAmount=usdai_amount, withdrawAmount=paid)
        self._burn_usdai(user, usdai_amount, paid)
        usd = token_amount(usdai_amount, 18)
        self.ledger.post("usdai_burn", [debit("2000", usd), credit("1020", usd, self._base_at_usdai)])

    def _unbacked_mint(self, action: Action) -> None:
        p = self.protocol
        amount = int(UNBACKED_MINT_USDAI) * WAD
        receipt = p.usdai.transact("adminMint", COMPROMISED_MINTER_WALLET, amount, sender=self.accounts.admin,
                                   at=self._at(action.at))
        receipt.expect(p.usdai.address, "Transfer",
                       **{"from": ZERO_ADDRESS, "to": COMPROMISED_MINTER_WALLET, "value": amount})
        if receipt.events_named("Deposited"):
            raise SimulatorMismatch("an unbacked mint must not emit Deposited")
        self.usdai_supply += amount
        self.usdai_balances[COMPROMISED_MINTER_WALLET] += amount
        self.applied.append(AppliedInjection("unbacked-mint", self.today, entity=COMPROMISED_MINTER_WALLET,
                                             amount=UNBACKED_MINT_USDAI, tx_hash=receipt.tx_hash))
        usd = token_amount(amount, 18)
        self.ledger.post("usdai_unbacked_mint", [debit("3000", usd), credit("2000", usd)])

    def _reorged_deposit(self, action: Action) -> None:
        """A plain deposit, mined only in the version of the day that the reorganisation replaces."""
        self._deposit(action)
        tx_hash = self.chain.last_tx_hash
        self.applied.append(AppliedInjection("reorged-deposit", self.today, entity=self.protocol.usdai.address,
                                             amount=Decimal(REORGED_DEPOSIT_USD), tx_hash=tx_hash))

    def _move_usdai(self, sender: str, recipient: str, amount: int) -> None:
        self.usdai_balances[sender] -= amount
        self.usdai_balances[recipient] += amount

    def _burn_usdai(self, holder: str, usdai_amount: int, base_paid: int) -> None:
        self.usdai_balances[holder] -= usdai_amount
        self.usdai_supply -= usdai_amount
        self.usdai_reserve -= base_paid

    # --- the day's close: custodian, loan tapes, NAV -----------------------------------------------------------

    def _custodian_day(self) -> list[StatementRow]:
        """Post the custodian's day (maturities, purchases, accretion) and return its statement rows."""
        today, yesterday = self.today, self.today - timedelta(days=1)
        rows = [StatementRow("opening_cash", amount=self.custodian_opening_cash)]
        for bill in self.scenario.bills:
            if bill.maturity_date == today:
                self.custodian_cash += bill.par
                self.ledger.post("tbill_maturity", [debit("1000", bill.par), credit("1010", bill.par, bill.cusip)])
                rows.append(StatementRow("transaction", cusip=bill.cusip, security_description=bill.description,
                                         par_value=bill.par, amount=bill.par, transaction_type="tbill_maturity",
                                         reference=f"MAT-{bill.cusip}-{today:%Y%m%d}"))
        for tx_hash, usd in self.custodian_receipts[today]:
            rows.append(StatementRow("transaction", amount=usd, transaction_type="cash_receipt", reference=tx_hash))
        for bill in self.scenario.bills:
            if bill.purchase_date == today:
                if bill.cost > self.custodian_cash:
                    raise SimulatorMismatch(f"the custodian cannot pay {bill.cost} for {bill.cusip}")
                self.custodian_cash -= bill.cost
                self.ledger.post("tbill_purchase", [debit("1010", bill.cost, bill.cusip), credit("1000", bill.cost)])
                rows.append(StatementRow("transaction", cusip=bill.cusip, security_description=bill.description,
                                         par_value=bill.par, amount=bill.cost, transaction_type="tbill_purchase",
                                         reference=bill.trade_id))
        holdings = Decimal(0)
        for bill in sorted(self.scenario.bills, key=lambda b: b.cusip):
            value_today = bill.market_value_on(today) if bill.is_held_on(today) else Decimal(0)
            value_before = bill.market_value_on(yesterday) if bill.is_held_on(yesterday) else Decimal(0)
            bought = bill.cost if bill.purchase_date == today else Decimal(0)
            matured = bill.par if bill.maturity_date == today else Decimal(0)
            accretion = value_today - value_before - bought + matured
            if accretion:
                self.ledger.post("tbill_accretion", [debit("1010", accretion, bill.cusip), credit("4010", accretion)])
            if bill.is_held_on(today):
                holdings += value_today
                rows.append(StatementRow("holding", cusip=bill.cusip, security_description=bill.description,
                                         maturity_date=bill.maturity_date, par_value=bill.par,
                                         price=bill.price_on(today), market_value=value_today))
        rows.append(StatementRow("closing_cash", amount=self.custodian_cash))
        self.custodian_opening_cash = self.custodian_cash
        if self.ledger.balance("1000") != self.custodian_cash or self.ledger.balance("1010") != holdings:
            raise SimulatorMismatch(f"{today}: custodian ledger 1000/1010 differs from the statement")
        return rows

    def _loan_tapes_day(self) -> dict[str, list[LoanTapeRow]]:
        """Accrue the day's interest of every loan and return each lender's tape rows."""
        tapes: dict[str, list[LoanTapeRow]] = {lender: [] for lender in LENDERS}
        for position in self.loans.values():
            loan = position.plan
            if loan.origination_day > self.day:
                continue
            status = loan.status_on(self.day)
            # Defaulted loans are on non-accrual: interest stops on the day of default.
            daily = position.outstanding * loan.rate_bps // 3_650_000 if status in ("current", "delinquent") else 0
            if daily:
                position.accrued += daily
                usd = token_amount(daily, 6)
                self.ledger.post("interest_accrual", [debit("1110", usd, loan.terms_hash), credit("4000", usd)])
            tapes[loan.lender_id].append(LoanTapeRow(
                # A migrated loan is known by its V2 terms from the day of the migration, lent in USDai.
                as_of_date=self.today, lender_id=loan.lender_id, loan_id=loan.loan_id,
                loan_terms_hash=position.v2_hash or loan.terms_hash, borrower_id=loan.borrower.borrower_id,
                borrower_name=loan.borrower.name, currency="USDai" if position.v2_hash else "USDC",
                original_principal=token_amount(loan.principal, 6),
                principal_outstanding=token_amount(position.outstanding, 6),
                accrued_interest=token_amount(position.accrued, 6), daily_interest=token_amount(daily, 6),
                interest_rate_bps=loan.rate_bps, status=status, days_past_due=loan.days_past_due(self.day),
                origination_date=loan.origination_date, maturity_date=loan.maturity_date,
                collateral=collateral_schedule([(nft.token_id, nft.gpu_serials) for nft in loan.collateral]),
                insurance_cover_ratio=loan.insurance_cover_ratio,
                insurance_waiting_period_days=loan.insurance_waiting_period_days,
            ))
        return {lender: sorted(rows, key=lambda r: r.loan_id) for lender, rows in tapes.items()}

    def vault_assets(self, optimistic: bool = True, with_migration_fault: bool = True) -> int:
        """sUSDai's totalAssets() (or, without accrued interest, conservativeAssets()) as the contract values itself
        now: its USDai less what serviced redemptions are owed, the currency the router paid it, principal and accrued
        interest, the reserves at the custodian with their reported yield, less 10% of the interest and yield.
        Without `with_migration_fault`, as a faultless migration would have left it (the ledger's view)."""
        vault = self.vault
        accrued = sum(self._router_accrued(position) for position in self.loans.values()) if optimistic else 0
        positions = [position if with_migration_fault else replace(position, v2_excess=0)
                     for position in self.loans.values()]
        accrued_v2 = sum(self._router_v2_accrued(position) for position in positions) if optimistic else 0
        principal_v2 = sum(position.v2_balance for position in positions if position.v2_status == ACTIVE)
        fee_bps, bps = VAULT_ADMIN_FEE_BPS, 10_000
        assets = (self.usdai_balances[self.protocol.susdai.address] - vault.claimable_balance
                  + self.usdai_balances[self._timelock]
                  + (self.vault_usdc + self._router_principal() + accrued) * SCALE + principal_v2 + accrued_v2
                  - self._vault_admin_fee_held() - (accrued * SCALE + accrued_v2) * fee_bps // bps
                  + vault.custodian_principal + vault.custodian_yield - vault.custodian_yield * fee_bps // bps)
        return max(assets, 0)

    def _router_principal(self) -> int:
        return sum(position.outstanding for position in self.loans.values()
                   if position.router_status in (ACTIVE, LIQUIDATED))

    def _router_accrued(self, position: _LoanPosition) -> int:
        """The router's whole-day accrual: each day from the first unpaid one through today."""
        if position.router_status == LIQUIDATED:
            return position.frozen_interest
        if position.router_status != ACTIVE:
            return 0
        return position.daily_interest * (self.day - position.accrual_day + 1)

    def _router_v2_accrued(self, position: _LoanPosition) -> int:
        """LoanRouterV2's whole-day accrual of a migrated loan, from the first day V1 left unpaid."""
        if position.v2_status != ACTIVE:
            return 0
        return position.v2_daily_interest * (self.day - position.accrual_day + 1)

    def _usd_to_wad(self, usd: Decimal) -> int:
        wad = usd.scaleb(18)
        if wad != wad.to_integral_value():
            raise SimulatorMismatch(f"{self.today}: {usd} has more than 18 decimals")
        return int(wad)

    def _drop_files(self, statement: list[StatementRow], tapes: dict[str, list[LoanTapeRow]], feeds: list[GpuFeed],
                    risks: list[LoanCreditRisk]) -> None:
        # Each counterparty in its own format: lender A's workbook, lender B's servicer CSV, the custodian's
        # ISO 20022 holdings and cash statements, the DCGM exporter's Prometheus text. The injections that are
        # about what a counterparty reports change the files only, never the ground truth.
        tapes, extra_columns = self._tampered_tapes(tapes, risks)
        writers = {
            "lender-a": ("xlsx", lambda path, rows: write_lender_a_workbook(path, self.today, rows)),
            "lender-b": ("csv", lambda path, rows: write_lender_b_csv(path, rows, extra_columns.get("lender-b", ()))),
        }
        for lender, rows in tapes.items():
            extension, write = writers[lender]
            path = loan_tape_path(self.inbox, lender, self.today, extension)
            write(path, rows)
            self.files.append(path)
        self._drop_telemetry(feeds)
        if self._injected("missing-statement"):
            self.applied.append(AppliedInjection("missing-statement", self.today, entity=CUSTODIAN_ID,
                                                 detail="semt.002 and camt.053 of the day not delivered"))
            return
        statement = self._tampered_statement(statement)
        # as the custodian's SWIFT connection delivers them: the holdings with their business application header
        # beside the Document, the cash statement in a FileAct DataPDU
        for kind, write, envelope in (("semt002", write_holdings_statement, "app_hdr"),
                                      ("camt053", write_cash_statement, "data_pdu")):
            path = custodian_statement_path(self.inbox, CUSTODIAN_ID, self.today, kind, "xml")
            write(path, self.today, CUSTODIAN_ACCOUNT, statement, envelope=envelope)
            self.files.append(path)

    def _drop_telemetry(self, feeds: list[GpuFeed]) -> None:
        """The GPUs' telemetry as fleets really hand it over, none with a serial: the day's Prometheus /federate
        export of the exporters (timestamped text), except one borrower's, exported from its Prometheus through the
        HTTP API's query_range (a JSON matrix), and on RAW_SCRAPES_DAY another's as the raw scrapes of its
        exporters, a file per scrape. On the first day each borrower sends the nvidia-smi inventory of its
        nodes, the one place a GPU's UUID meets the serial the lenders' collateral schedules name."""
        if self.day == 1:
            for borrower in {loan.borrower for loan in self.scenario.loans}:
                gpus = [gpu for loan in self.scenario.loans if loan.borrower == borrower for gpu in loan.gpus]
                path = gpu_inventory_path(self.inbox, borrower.host_prefix, self.today)
                write_gpu_inventory(path, gpus)
                self.files.append(path)
        exported = [feed for feed in feeds if feed.hostname.startswith(f"{QUERY_RANGE_HOST_PREFIX}-")]
        scraped = [feed for feed in feeds
                   if self.day == RAW_SCRAPES_DAY and feed.hostname.startswith(f"{RAW_SCRAPES_HOST_PREFIX}-")]
        if scraped:
            (self.inbox / "telemetry").mkdir(parents=True, exist_ok=True)
            self.files.extend(write_raw_scrapes(self.inbox / "telemetry", self.today, scraped, self.scrape_interval_s,
                                                self.scenario.seed))
        path = dcgm_path(self.inbox, self.today)
        write_dcgm_scrapes(path, self.today, [feed for feed in feeds if feed not in exported and feed not in scraped],
                           self.scrape_interval_s, self.scenario.seed)
        self.files.append(path)
        if exported:
            path = prometheus_query_range_path(self.inbox, QUERY_RANGE_HOST_PREFIX, self.today)
            write_prometheus_query_range(path, self.today, exported, self.scrape_interval_s, self.scenario.seed)
            self.files.append(path)

    # --- injections about what the counterparties report -----------------------------------------------------

    def _choice(self, kind: str, candidates: Sequence):
        """One of `candidates`, drawn from the seed, the kind and the day alone."""
        if not candidates:
            raise SimulatorMismatch(f"{self.today}: nothing for {kind} to happen to")
        return candidates[random.Random(f"{self.scenario.seed}:{kind}:{self.today}").randrange(len(candidates))]

    def _gpu_feeds_day(self) -> list[GpuFeed]:
        """The day's GPU feeds; with gpu-dark, one collateral GPU of a current loan reports nothing all day."""
        feeds = self.scenario.gpu_feeds(self.day, self.scrape_interval_s)
        # The tapes of a loan migrated with a faulty principal are left alone: its answer is R5 on its principal.
        self._tampered_loans = {h for position in self.loans.values() if position.v2_excess
                                for h in (position.plan.terms_hash, position.v2_hash)}
        if not self._injected("gpu-dark"):
            return feeds
        reporting = {feed.serial for feed in feeds}
        collateral = sorted((gpu.serial, position.plan.terms_hash) for position in self.loans.values()
                            if position.plan.origination_day <= self.day and position.plan.status_on(self.day) == "current"
                            for gpu in position.plan.gpus if gpu.serial in reporting)
        serial, loan = self._choice("gpu-dark", collateral)
        self._tampered_loans.add(loan)
        self.applied.append(AppliedInjection("gpu-dark", self.today, entity=serial, detail=f"collateral of {loan}"))
        return [feed for feed in feeds if feed.serial != serial]

    def _tampered_tapes(self, tapes: dict[str, list[LoanTapeRow]], risks: list[LoanCreditRisk]
                        ) -> tuple[dict[str, list[LoanTapeRow]], dict[str, list[tuple[str, str]]]]:
        tapes = {lender: list(rows) for lender, rows in tapes.items()}
        extra_columns: dict[str, list[tuple[str, str]]] = {}
        plans = {position.plan.terms_hash: position.plan for position in self.loans.values()}
        required = {risk.loan_terms_hash: risk.required_allowance(self.ledger.allowance_policy) for risk in risks}

        def rows_where(condition) -> list[tuple[str, int, LoanTapeRow]]:
            return [(lender, index, row) for lender, rows in sorted(tapes.items()) for index, row in enumerate(rows)
                    if row.loan_terms_hash not in self._tampered_loans and condition(row)]

        def record(kind: str, row: LoanTapeRow, amount: Decimal = Decimal(0), detail: str = "") -> None:
            self._tampered_loans.add(row.loan_terms_hash)
            self.applied.append(AppliedInjection(kind, self.today, entity=row.loan_terms_hash, amount=amount,
                                                 detail=detail or row.lender_id))

        if self._injected("loan-missing-from-tape"):
            # A loan with no allowance, so that leaving it off moves nothing but its interest.
            lender, index, row = self._choice("loan-missing-from-tape", rows_where(
                lambda r: _omissible(self.scenario, plans[r.loan_terms_hash], self.day)
                and required[r.loan_terms_hash] == 0 and self.ledger.balance("1190", r.loan_terms_hash) == 0))
            del tapes[lender][index]
            record("loan-missing-from-tape", row, row.daily_interest)
        if self._injected("loan-principal-mismatch"):
            lender, index, row = self._choice("loan-principal-mismatch", rows_where(
                lambda r: r.status == "current" and r.principal_outstanding > 0 and required[r.loan_terms_hash] == 0))
            tapes[lender][index] = replace(row, principal_outstanding=row.principal_outstanding
                                           + TAPE_PRINCIPAL_OVERSTATEMENT)
            record("loan-principal-mismatch", row, TAPE_PRINCIPAL_OVERSTATEMENT)
        if self._injected("status-mismatch"):
            lender, index, row = self._choice("status-mismatch", rows_where(lambda r: r.status == "repaid"))
            tapes[lender][index] = replace(row, status="current")
            record("status-mismatch", row, detail="repaid on chain, current on the tape")
        if self._injected("duplicate-tape-row"):
            lender_rows = [entry for entry in rows_where(lambda r: True) if entry[0] == TAMPERED_LENDER]
            lender, index, row = self._choice("duplicate-tape-row", lender_rows)
            tapes[lender].insert(index + 1, row)
            path = loan_tape_path(self.inbox, lender, self.today, "csv")
            record("duplicate-tape-row", row, Decimal(1), detail=f"{path.name} row {index + 2} repeats row {index + 1}")
        if self._injected("orphan-tape-loan"):
            orphan = self._orphan_row(tapes[TAMPERED_LENDER])
            tapes[TAMPERED_LENDER].append(orphan)
            record("orphan-tape-loan", orphan, orphan.principal_outstanding)
        if self._injected("schema-drift"):
            extra_columns[TAMPERED_LENDER] = [(DRIFTED_COLUMN, "")]
            path = loan_tape_path(self.inbox, TAMPERED_LENDER, self.today, "csv")
            self.applied.append(AppliedInjection("schema-drift", self.today, entity=path.name, detail=DRIFTED_COLUMN))
        return tapes, extra_columns

    def _orphan_row(self, lender_rows: list[LoanTapeRow]) -> LoanTapeRow:
        """A plausible loan of the lender's that the vault never funded: a fresh terms hash and a GPU nobody runs."""
        borrower = lender_rows[0]
        daily = (ORPHAN_PRINCIPAL * ORPHAN_RATE_BPS / 3_650_000).quantize(Decimal("0.000001"))
        prefix = borrower.loan_id.split("-")[0]
        return LoanTapeRow(
            as_of_date=self.today, lender_id=TAMPERED_LENDER, loan_id=f"{prefix}-9{self.day:03d}",
            loan_terms_hash="0x" + keccak(text=f"backed-sandbox:orphan:{self.today}").hex().removeprefix("0x"),
            borrower_id=borrower.borrower_id, borrower_name=borrower.borrower_name, currency="USDC",
            original_principal=ORPHAN_PRINCIPAL, principal_outstanding=ORPHAN_PRINCIPAL, accrued_interest=daily,
            daily_interest=daily, interest_rate_bps=ORPHAN_RATE_BPS, status="current", days_past_due=0,
            origination_date=self.today, maturity_date=self.today + timedelta(days=365),
            collateral=collateral_schedule([(9_000_000 + self.day, [f"{9_000_000_000_000 + self.day}"])]),
        )

    def _tampered_statement(self, statement: list[StatementRow]) -> list[StatementRow]:
        if not self._injected("tbill-shortfall"):
            return statement
        holdings = [index for index, row in enumerate(statement) if row.record_type == "holding"]
        index = self._choice("tbill-shortfall", holdings)
        row = statement[index]
        short = min(TBILL_SHORTFALL_PAR, row.par_value)
        reported = replace(row, par_value=row.par_value - short,
                           market_value=((row.par_value - short) * row.price / 100).quantize(Decimal("0.01"),
                                                                                          ROUND_HALF_EVEN))
        self.applied.append(AppliedInjection("tbill-shortfall", self.today, entity=row.cusip,
                                             amount=row.market_value - reported.market_value,
                                             detail=f"holding reports par {reported.par_value:f} of {row.par_value:f}"))
        return [*statement[:index], reported, *statement[index + 1:]]

    def _check_day_close(self, block: int) -> None:
        """The chain at the day's last block, and the ground-truth ledger, agree with the simulator's books."""
        p, vault = self.protocol, self.vault
        nav = self.vault_assets()
        # A faulty migration's extra principal is on chain only: the ledger (as the ground truth) never books it.
        ledger_nav = self.vault_assets(with_migration_fault=False)
        protocol_usdai = sum(self.usdai_balances[c.address] for c in (p.usdai, p.susdai, p.loan_router,
                                                                      p.loan_router_v2))
        usd6, usd18 = (lambda raw: token_amount(raw, 6)), (lambda raw: token_amount(raw, 18))
        expected = {
            ("USDai.totalSupply", p.usdai.call("totalSupply", block=block)): self.usdai_supply,
            ("USDai.bridgedSupply", p.usdai.call("bridgedSupply", block=block)): self.usdai_bridged,
            ("base.balanceOf(USDai)", self._base_token.call("balanceOf", p.usdai.address, block=block)):
                self.usdai_reserve,
            ("wM.balanceOf(USDai), after the conversion", p.base_token.call("balanceOf", p.usdai.address, block=block)
             if self.base_token_migrated else 0): 0,
            ("USDC.balanceOf(router)", p.usdc.call("balanceOf", p.loan_router.address, block=block)): self.router_usdc,
            ("USDC.balanceOf(sUSDai)", p.usdc.call("balanceOf", p.susdai.address, block=block)): self.vault_usdc,
            ("USDai.balanceOf(sUSDai)", p.usdai.call("balanceOf", p.susdai.address, block=block)):
                self.usdai_balances[p.susdai.address],
            ("sUSDai.totalAssets", p.susdai.call("totalAssets", block=block)): nav,
            ("sUSDai.totalShares", p.susdai.call("totalShares", block=block)): vault.share_supply,
            ("sUSDai pending shares", p.susdai.call("redemptionQueueInfo", block=block)[3]): vault.pending_shares,
            ("sUSDai claimable", p.susdai.call("redemptionQueueInfo", block=block)[4]): vault.claimable_balance,
            ("ledger 1020 base@USDai", self.ledger.balance("1020", self._base_at_usdai)): usd6(self.usdai_reserve),
            ("ledger 1020 USDC@router", self.ledger.balance("1020", self._usdc_at_router)): usd6(self.router_usdc),
            ("ledger 1020 USDC@sUSDai", self.ledger.balance("1020", self._usdc_at_vault)): usd6(self.vault_usdc),
            ("ledger 1020", self.ledger.balance("1020")):
                usd6(self.usdai_reserve + self.router_usdc + self.vault_usdc),
            ("ledger 2000", -self.ledger.balance("2000")): usd18(self.usdai_supply + self.usdai_bridged - protocol_usdai),
            # R6's identity: the vault's NAV is the holders' claim plus the losses the ledger has recognised ahead
            # of the chain (the allowance) less the claims the pool has not paid yet.
            ("ledger 2100 + allowance - insurance receivable",
             -self.ledger.balance("2100") - self.ledger.balance("1190") - self.ledger.balance("1150")):
                usd18(ledger_nav),
            ("ledger 2110", -self.ledger.balance("2110")): usd18(vault.claimable_balance),
            ("USDai.balanceOf(timelock)", p.usdai.call("balanceOf", self._timelock, block=block)):
                self.usdai_balances[self._timelock],
            ("ledger 1030", self.ledger.balance("1030")): usd18(self.usdai_balances[self._timelock]),
        }
        for position in self.loans.values():
            loan = position.plan
            if loan.origination_day > self.day:
                continue
            status, _, _, scaled = p.loan_router.call("loanState", _bytes32(loan.terms_hash), block=block)
            expected[(f"loanState({loan.loan_id}).status", status)] = position.router_status
            expected[(f"loanState({loan.loan_id}).scaledBalance", scaled)] = \
                0 if position.router_status == MIGRATED else position.outstanding * SCALE
            if position.v2_hash:
                status, _, _, scaled = p.loan_router_v2.call("loanState", _bytes32(position.v2_hash), block=block)
                expected[(f"V2 loanState({loan.loan_id}).status", status)] = position.v2_status
                expected[(f"V2 loanState({loan.loan_id}).scaledBalance", scaled)] = position.v2_balance
                expected[(f"V2 accruedInterest({loan.loan_id})",
                          p.loan_router_v2.call("accruedInterest", _bytes32(position.v2_hash), block=block))] = \
                    self._router_v2_accrued(position)
            expected[(f"ledger 1100 {loan.loan_id}", self.ledger.balance("1100", loan.terms_hash))] = \
                usd6(position.outstanding)
            expected[(f"ledger 1110 {loan.loan_id}", self.ledger.balance("1110", loan.terms_hash))] = \
                usd6(position.accrued)
            expected[(f"router accruedInterest({loan.loan_id})",
                      p.loan_router.call("accruedInterest", _bytes32(loan.terms_hash), block=block))] = \
                self._router_accrued(position)
        differences = {name: (actual, own) for (name, actual), own in expected.items() if actual != own}
        if differences:
            raise SimulatorMismatch(f"{self.today} (block {block}): actual vs simulator {differences}")
        self.closes.append(DayClose(self.today, block, self.usdai_supply, self.usdai_reserve, nav,
                                    self.usdai_supply - self.usdai_reserve * SCALE))

    # --- outputs ------------------------------------------------------------------------------------------------

    def _write_deployment(self) -> Path:
        """sandbox/deployment.json: what the pipeline needs to find the chain, and the injections applied so far."""
        address_book = self.protocol.address_book(self.accounts.custodian, INSURANCE_POOL)
        deployment = {
            "profile": "sandbox", "rpc_url": self.chain.rpc_url, "chain_id": CHAIN_ID,
            "start_date": self.scenario.start.isoformat(), "days": self.scenario.days, "seed": self.scenario.seed,
            "confirmations": CONFIRMATIONS, "scrape_interval_s": self.scrape_interval_s,
            "address_book": [entry.as_json() for entry in address_book],
            # Outside the address book (the ledger does not watch it): where attestations are published.
            "attestation_registry": self.protocol.attestation_registry.address,
            "injections": [injection.as_json() for injection in self.applied],
            # The loans LoanRouterV2 took over so far: the tapes name each by its V2 hash from that day on.
            "loan_migrations": [{"loan_id": p.plan.loan_id, "loan_terms_hash": p.plan.terms_hash,
                                 "new_loan_terms_hash": p.v2_hash, "date": self.scenario.date_of(p.plan.migration_day)
                                 .isoformat()} for p in self.loans.values() if p.v2_hash],
        }
        deployment_path = self.home / "sandbox" / "deployment.json"
        write_atomically(deployment_path, (json.dumps(deployment, indent=2, sort_keys=True) + "\n").encode())
        return deployment_path

    def _write_outputs(self) -> SimulationResult:
        sandbox_dir = self.home / "sandbox"
        address_book = self.protocol.address_book(self.accounts.custodian, INSURANCE_POOL)
        deployment_path = self._write_deployment()
        balances_path = sandbox_dir / "ground_truth_balances.csv"
        sub_balances_path = sandbox_dir / "ground_truth_sub_balances.csv"
        self.ledger.write(balances_path, sub_balances_path)
        return SimulationResult(self.home, deployment_path, balances_path, sub_balances_path, tuple(address_book),
                                tuple(self.closes), tuple(self.applied), tuple(self.files))


def _bytes32(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text.removeprefix("0x"))


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    from sandbox.anvil import AnvilNode

    parser = argparse.ArgumentParser(prog="python -m sandbox.simulator",
                                     description="Simulate days of protocol life on the sandbox chain.")
    parser.add_argument("--home", type=Path, required=True, help="BACKED_HOME to write the inbox and ground truth in")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 1, 1))
    parser.add_argument("--inject", action="append", default=[], metavar="KIND[@DAY]",
                        help="KIND is one of " + ", ".join(INJECTION_KINDS) + "; e.g. gpu-dark, reorg@3, "
                             "tbill-shortfall@2026-01-03 (repeatable)")
    parser.add_argument("--scrape-interval", type=int, default=600, help="DCGM scrape interval in seconds")
    parser.add_argument("--rpc-url", help="a fresh anvil started with the genesis timestamp of --start; "
                                          "without it a node is started here")
    parser.add_argument("--serve", action="store_true",
                        help="with no --rpc-url: keep the node running after the simulation until interrupted")
    args = parser.parse_args(argv)

    def run(rpc_url: str) -> None:
        result = simulate(args.home, rpc_url, days=args.days, seed=args.seed, start=args.start, inject=args.inject,
                          scrape_interval_s=args.scrape_interval)
        print(f"simulated {len(result.days)} days to block {result.days[-1].last_block}; "
              f"{len(result.inbox_files)} files in {args.home / 'inbox'}; ground truth in {result.ground_truth_path}")
        for injection in result.injections:
            what = ", ".join(part for part in (injection.entity, injection.detail, injection.tx_hash) if part)
            print(f"injected {injection.kind} on {injection.date}: {what}")

    try:
        if args.rpc_url:
            run(args.rpc_url)
            return 0
        with AnvilNode(genesis_timestamp(args.start), CHAIN_ID) as node:
            run(node.rpc_url)
            if args.serve:
                print(f"anvil serving on {node.rpc_url}; Ctrl-C stops it", flush=True)
                # A plain `kill` must stop the node too, not leave it orphaned.
                signal.signal(signal.SIGTERM, _interrupt)
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    pass
            else:
                print("the node stops now; use --serve (or --rpc-url) to keep the chain for the pipeline")
        return 0
    except (ValueError, ChainError, SimulatorMismatch) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
