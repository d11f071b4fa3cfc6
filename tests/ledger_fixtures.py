"""A two-day lake small enough to post by hand, written through the real lake writer (docs/lake.md).

Day 1 (2026-01-05): Alice deposits 1,000 USDC and USDai mints 1,000; she stakes 600 in sUSDai; the vault converts
350 USDai into USDC for the loan router (fundLoans) and sends 150 to the custodian (sendToCustodian); the router
originates loan L1 (250 USDC, fee 5) and loan L2 (100 USDC, no fee); Alice asks to redeem 100 sUSDai shares; the
lender's tape accrues a day of interest on both loans and reports L2 35 days past due; one of L1's two GPUs and
L2's only GPU send no telemetry (dark); L2's 70% insurance cover is claimable at once, L1's (70%) only after 21
days; the custodian buys a T-bill (par 150 for 148.50).
Day 2 (2026-01-06): Alice burns 100 USDai; her 100 USDai redemption is serviced and claimed; Bob repays 50 of L1's
principal and 0.068493 of interest; L2 is liquidated for 90 of proceeds, its shortfall charged to its allowance;
50 USDai are minted to Mallory with no deposit (logged twice, as a re-ingested log would be); the tape accrues on
L1 only and reports L2 liquidated; L1's second GPU is still dark; the T-bill is marked at 148.52. L2's cover pays
70% of the 10 of principal lost: a claim of 7 on the pool, recognised the day of the sale. Each day's credit losses
(the allowance, net of the claim) are the sUSDai holders', less the admin fee on L2's interest the sale wrote off.

The chain state of each day agrees with the story (supply, the vault's NAV and shares, the redemption queue,
loanState). Every table gets a file on both days, as ingestion always writes one.

The restatements rewrite one day's partition as ingestion would on new input: a corrected loan tape for day 1
(same as-of date, another file sha256, L1's interest revised) and a reorg of day 2 (other blocks, other logs).
"""
from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
from eth_utils import keccak, to_checksum_address

from foundation.lake import SCHEMAS, Lake

DAY_1 = date(2026, 1, 5)
DAY_2 = date(2026, 1, 6)
DAYS = (DAY_1, DAY_2)

USDAI = "0x0A1a1A107E45b7Ced86833863f482BC5f4ed82EF"
SUSDAI = "0x0B2b2B2076d95dda7817e785989fE353fe955ef9"
LOAN_ROUTER = "0x0C2ED170F2bB1DF1a44292Ad621B577b3C9597D1"
BASE_TOKEN = "0x46850aD61C2B7d64d08c9C754F45254596696984"  # PYUSD
USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"
CUSTODIAN = to_checksum_address("0x" + "c5" * 20)
ALICE = to_checksum_address("0x" + "a1" * 20)
BOB = to_checksum_address("0x" + "b0" * 20)
CAROL = to_checksum_address("0x" + "ca" * 20)
MALLORY = to_checksum_address("0x" + "ee" * 20)
ZERO = "0x0000000000000000000000000000000000000000"

LOAN_1 = "0x" + keccak(text="loan L1").hex()
LOAN_2 = "0x" + keccak(text="loan L2").hex()
CUSIP = "912797QM2"

USDAI_UNIT = 10**18
USDC_UNIT = 10**6

SIGNATURES = {
    "Transfer": "Transfer(address,address,uint256)",
    "Deposited": "Deposited(address,address,address,uint256,uint256)",
    "Withdrawn": "Withdrawn(address,address,address,uint256,uint256)",
    "Deposit": "Deposit(address,address,uint256,uint256)",
    "Withdraw": "Withdraw(address,address,address,uint256,uint256)",
    "RedemptionProcessed": "RedemptionProcessed(uint256,address,uint256,uint256,uint256)",
    "LoanOriginated": "LoanOriginated(bytes32,address,address,uint256,uint256)",
    "LoanRepaid": "LoanRepaid(bytes32,address,uint256,uint256,uint256,uint256,bool)",
    "LoanLiquidated": "LoanLiquidated(bytes32)",
    "LoanCollateralLiquidated": "LoanCollateralLiquidated(bytes32,uint256,uint256,uint256)",
    "RedeemRequest": "RedeemRequest(address,address,uint256,address,uint256)",
}
CONTRACTS = {"usdai": USDAI, "susdai": SUSDAI, "loan_router": LOAN_ROUTER}

TAPE_FILES = {DAY_1: "lender-a-2026-01-05.csv", DAY_2: "lender-a-2026-01-06.csv"}
STATEMENT_FILES = {DAY_1: "custodian-a-2026-01-05.csv", DAY_2: "custodian-a-2026-01-06.csv"}


def file_sha256(file_name: str) -> str:
    """Stands in for the sha256 of the inbox file's bytes (the lake only carries the hash)."""
    return hashlib.sha256(file_name.encode()).hexdigest()


def tx_hash(n: int) -> str:
    return f"0x{n:064x}"


def _block_hash(block_number: int) -> str:
    return "0x" + keccak(text=f"block {block_number}").hex()


def _block_time(day: date, block_number: int) -> datetime:
    return datetime(day.year, day.month, day.day, 10 + block_number % 100)


def _usd(text: str) -> Decimal:
    return Decimal(text)


def _event(day: date, block_number: int, tx: int, log_index: int, role: str, event: str, **arguments: Any) -> dict:
    address = {"usdai": USDAI, "susdai": SUSDAI, "loan_router": LOAN_ROUTER}[role]
    signature = SIGNATURES[event]
    row = {name: None for name in SCHEMAS["chain_events"].names}
    row.update(
        partition_date=day,
        block_number=block_number,
        block_hash=_block_hash(block_number),
        block_time=_block_time(day, block_number),
        tx_hash=tx_hash(tx),
        log_index=log_index,
        contract_address=address,
        contract_role=role,
        event=event,
        signature=signature,
        topic0="0x" + keccak(text=signature).hex(),
    )
    schema = SCHEMAS["chain_events"]
    for name, value in arguments.items():
        is_amount = pa.types.is_decimal(schema.field(name).type)
        row[name] = Decimal(value) if is_amount else value
    return row


def chain_events(day: date) -> list[dict]:
    if day == DAY_1:
        return [
            _event(day, 100, 1, 0, "usdai", "Transfer", from_address=ZERO, to_address=ALICE, value=1000 * USDAI_UNIT),
            _event(day, 100, 1, 1, "usdai", "Deposited", caller=ALICE, recipient=ALICE, deposit_token=USDC,
                   deposit_amount=1000 * USDC_UNIT, mint_amount=1000 * USDAI_UNIT),
            _event(day, 101, 2, 0, "usdai", "Transfer", from_address=ALICE, to_address=SUSDAI, value=600 * USDAI_UNIT),
            # sUSDai's own share mint: a Transfer from 0x0, but not of USDai.
            _event(day, 101, 2, 1, "susdai", "Transfer", from_address=ZERO, to_address=ALICE, value=600 * USDAI_UNIT),
            _event(day, 101, 2, 2, "susdai", "Deposit", sender=ALICE, owner=ALICE,
                   assets=600 * USDAI_UNIT, shares=600 * USDAI_UNIT),
            _event(day, 102, 3, 0, "usdai", "Transfer", from_address=SUSDAI, to_address=ZERO, value=350 * USDAI_UNIT),
            _event(day, 102, 3, 1, "usdai", "Withdrawn", caller=SUSDAI, recipient=LOAN_ROUTER, withdraw_token=USDC,
                   usdai_amount=350 * USDAI_UNIT, withdraw_amount=350 * USDC_UNIT),
            _event(day, 103, 4, 0, "usdai", "Transfer", from_address=SUSDAI, to_address=ZERO, value=150 * USDAI_UNIT),
            _event(day, 103, 4, 1, "usdai", "Withdrawn", caller=SUSDAI, recipient=CUSTODIAN,
                   withdraw_token=BASE_TOKEN, usdai_amount=150 * USDAI_UNIT, withdraw_amount=150 * USDC_UNIT),
            _event(day, 104, 5, 0, "loan_router", "LoanOriginated", loan_terms_hash=LOAN_1, borrower=BOB,
                   currency_token=USDC, principal=250 * USDC_UNIT, origination_fee=5 * USDC_UNIT),
            _event(day, 105, 6, 0, "loan_router", "LoanOriginated", loan_terms_hash=LOAN_2, borrower=CAROL,
                   currency_token=USDC, principal=100 * USDC_UNIT, origination_fee=0),
            _event(day, 105, 13, 1, "susdai", "RedeemRequest", controller=ALICE, owner=ALICE, request_id="1",
                   sender=ALICE, shares=100 * USDAI_UNIT),
        ]
    unbacked_mint = _event(day, 205, 12, 0, "usdai", "Transfer", from_address=ZERO, to_address=MALLORY,
                           value=50 * USDAI_UNIT)
    return [
        _event(day, 200, 7, 0, "usdai", "Transfer", from_address=ALICE, to_address=ZERO, value=100 * USDAI_UNIT),
        _event(day, 200, 7, 1, "usdai", "Withdrawn", caller=ALICE, recipient=ALICE, withdraw_token=USDC,
               usdai_amount=100 * USDAI_UNIT, withdraw_amount=100 * USDC_UNIT),
        _event(day, 201, 8, 0, "susdai", "RedemptionProcessed", redemption_id="1", controller=ALICE,
               fulfilled_shares=100 * USDAI_UNIT, amount=100 * USDAI_UNIT, pending_shares=0),
        _event(day, 202, 9, 0, "usdai", "Transfer", from_address=SUSDAI, to_address=ALICE, value=100 * USDAI_UNIT),
        _event(day, 202, 9, 1, "susdai", "Withdraw", sender=ALICE, receiver=ALICE, owner=ALICE,
               assets=100 * USDAI_UNIT, shares=100 * USDAI_UNIT),
        _event(day, 203, 10, 0, "loan_router", "LoanRepaid", loan_terms_hash=LOAN_1, borrower=BOB,
               principal=50 * USDC_UNIT, interest=68_493, prepayment=0, exit_fee=0, is_repaid=False),
        _event(day, 204, 11, 0, "loan_router", "LoanLiquidated", loan_terms_hash=LOAN_2),
        _event(day, 204, 11, 1, "loan_router", "LoanCollateralLiquidated", loan_terms_hash=LOAN_2,
               proceeds=90 * USDC_UNIT, liquidation_fee=1 * USDC_UNIT, surplus=0),
        unbacked_mint,
        dict(unbacked_mint),
    ]


# The vault's totalAssets() (USDai, 18 decimals), valued as the real vault values itself: the ledger's 2100 plus the
# allowance (the vault marks L2 down only at its sale) less the insurance claim it has not been paid (R6).
# Day 2: 451.615260236301369863 + 50.013698667808219178 - 7.
SUSDAI_TOTAL_ASSETS = {DAY_1: 604_586301369863013699, DAY_2: 494_628958904109589041}


def chain_state(day: date) -> list[dict]:
    block = 105 if day == DAY_1 else 205
    total_supply = {DAY_1: 500, DAY_2: 450}[day] * USDAI_UNIT
    reads = [
        ("usdai", "totalSupply", "", "value", total_supply),
        ("usdai", "bridgedSupply", "", "value", 0),
        ("susdai", "totalAssets", "", "value", SUSDAI_TOTAL_ASSETS[day]),
        ("susdai", "totalShares", "", "value", {DAY_1: 600, DAY_2: 500}[day] * USDAI_UNIT),
        ("susdai", "redemptionQueueInfo", "", "pendingShares", {DAY_1: 100, DAY_2: 0}[day] * USDAI_UNIT),
        ("susdai", "redemptionQueueInfo", "", "balance", 0),
        ("loan_router", "loanState", LOAN_1, "status", 1),
        ("loan_router", "loanState", LOAN_1, "scaledBalance", {DAY_1: 250, DAY_2: 200}[day] * USDAI_UNIT),
        ("loan_router", "loanState", LOAN_2, "status", {DAY_1: 1, DAY_2: 4}[day]),
        ("loan_router", "loanState", LOAN_2, "scaledBalance", {DAY_1: 100, DAY_2: 0}[day] * USDAI_UNIT),
    ]
    return [
        dict(partition_date=day, block_number=block, block_hash=_block_hash(block),
             block_time=_block_time(day, block), contract_role=role, contract_address=CONTRACTS[role],
             method=method, key=key, field=field, value=Decimal(value))
        for role, method, key, field, value in reads
    ]


def chain_days(day: date) -> list[dict]:
    first, last = (100, 105) if day == DAY_1 else (200, 205)
    return [dict(partition_date=day, chain_id=31337, profile="sandbox", from_block=first, to_block=last,
                 to_block_hash=_block_hash(last), to_block_time=_block_time(day, last), state_block=last,
                 state_block_hash=_block_hash(last), log_count=len(chain_events(day)))]


def chain_address_book(day: date) -> list[dict]:
    entries = [
        ("usdai", USDAI, True, "USDai", 18),
        ("susdai", SUSDAI, True, "sUSDai", 18),
        ("loan_router", LOAN_ROUTER, True, None, None),
        ("base_token", BASE_TOKEN, False, "PYUSD", 6),
        ("usdc", USDC, False, "USDC", 6),
        ("custodian", CUSTODIAN, False, None, None),
    ]
    return [dict(partition_date=day, role=role, address=address, is_protocol=is_protocol, token_symbol=symbol,
                 token_decimals=decimals) for role, address, is_protocol, symbol, decimals in entries]


def loan_tapes(day: date) -> list[dict]:
    file_name = TAPE_FILES[day]
    common = dict(partition_date=day, as_of_date=day, lender_id="lender-a", currency="USDC", interest_rate_bps=1000,
                  origination_date=DAY_1, maturity_date=date(2026, 7, 5), source_file=file_name,
                  source_sha256=file_sha256(file_name))
    l1 = dict(loan_id="A-1", loan_terms_hash=LOAN_1, borrower_id="B-1", borrower_name="Bob Compute Ltd",
              original_principal=_usd("250"), insurance_cover_ratio=_usd("0.70"), insurance_waiting_period_days=21)
    l2 = dict(loan_id="A-2", loan_terms_hash=LOAN_2, borrower_id="B-2", borrower_name="Carol GPU Farms",
              original_principal=_usd("100"), insurance_cover_ratio=_usd("0.70"), insurance_waiting_period_days=0)
    if day == DAY_1:
        rows = [
            dict(l1, principal_outstanding=_usd("250"), accrued_interest=_usd("0.068493150684931507"),
                 daily_interest=_usd("0.068493150684931507"), status="current", days_past_due=0),
            dict(l2, principal_outstanding=_usd("100"), accrued_interest=_usd("0.027397260273972603"),
                 daily_interest=_usd("0.027397260273972603"), status="delinquent", days_past_due=35),
        ]
    else:
        rows = [
            dict(l1, principal_outstanding=_usd("200"), accrued_interest=_usd("0.054794671232876712"),
                 daily_interest=_usd("0.054794520547945205"), status="current", days_past_due=0),
            dict(l2, principal_outstanding=_usd("0"), accrued_interest=_usd("0"), daily_interest=_usd("0"),
                 status="liquidated", days_past_due=36),
        ]
    return [{**common, **row, "source_row": n} for n, row in enumerate(rows, start=1)]


CORRECTED_TAPE_SHA256 = hashlib.sha256(b"lender-a-2026-01-05.csv, corrected").hexdigest()


def corrected_loan_tapes() -> list[dict]:
    """Day 1's tape delivered again under the same name with L1's day of interest revised to 0.07."""
    rows = loan_tapes(DAY_1)
    rows[0] = dict(rows[0], accrued_interest=_usd("0.07"), daily_interest=_usd("0.07"))
    return [dict(row, source_sha256=CORRECTED_TAPE_SHA256) for row in rows]


def corrected_loan_collateral() -> list[dict]:
    return [dict(row, source_sha256=CORRECTED_TAPE_SHA256) for row in loan_collateral(DAY_1)]


def _reorged_block_hash(block_number: int) -> str:
    return "0x" + keccak(text=f"block {block_number} after the reorg").hex()


def reorged_chain_events() -> list[dict]:
    """Day 2 after a reorg replaced its blocks from 203 on: Bob's repayment landed in another transaction, for 40
    of principal; L2's liquidation was re-included as it was; the unbacked mint never made it into the new chain."""
    kept = [row for row in chain_events(DAY_2) if row["block_number"] < 203]
    replaced = [
        _event(DAY_2, 203, 21, 0, "loan_router", "LoanRepaid", loan_terms_hash=LOAN_1, borrower=BOB,
               principal=40 * USDC_UNIT, interest=68_493, prepayment=0, exit_fee=0, is_repaid=False),
        _event(DAY_2, 204, 11, 0, "loan_router", "LoanLiquidated", loan_terms_hash=LOAN_2),
        _event(DAY_2, 204, 11, 1, "loan_router", "LoanCollateralLiquidated", loan_terms_hash=LOAN_2,
               proceeds=90 * USDC_UNIT, liquidation_fee=1 * USDC_UNIT, surplus=0),
    ]
    return kept + [dict(row, block_hash=_reorged_block_hash(row["block_number"])) for row in replaced]


def reorged_chain_state() -> list[dict]:
    """Day 2's state read at the new chain's last block: no unbacked mint, 210 of L1 outstanding."""
    rows = []
    for row in chain_state(DAY_2):
        if row["method"] == "totalSupply":
            row = dict(row, value=Decimal(400 * USDAI_UNIT))
        if row["key"] == LOAN_1 and row["field"] == "scaledBalance":
            row = dict(row, value=Decimal(210 * USDAI_UNIT))
        rows.append(dict(row, block_hash=_reorged_block_hash(205)))
    return rows


def reorged_chain_days() -> list[dict]:
    return [dict(row, to_block_hash=_reorged_block_hash(205), state_block_hash=_reorged_block_hash(205),
                 log_count=len(reorged_chain_events()))
            for row in chain_days(DAY_2)]


def loan_collateral(day: date) -> list[dict]:
    file_name = TAPE_FILES[day]
    return [
        dict(partition_date=day, lender_id="lender-a", loan_terms_hash=loan, nft_token_id=token_id,
             gpu_serial=serial, source_file=file_name, source_sha256=file_sha256(file_name), source_row=row)
        for loan, token_id, serial, row in (
            (LOAN_1, "1", "1652922001234", 1),
            (LOAN_1, "1", "1652922001235", 1),
            (LOAN_2, "2", "1652922009999", 2),
        )
    ]


def gpu_telemetry_daily(day: date) -> list[dict]:
    start = datetime(day.year, day.month, day.day)
    end = datetime(day.year, day.month, day.day, 23, 59)
    return [dict(partition_date=day, gpu_uuid="GPU-0001", gpu_serial="1652922001234", hostname="node-01",
                 model_name="NVIDIA H100 80GB HBM3", samples=1440, scrape_interval_s=60, minutes_online=1440.0,
                 util_mean=87.0, util_p95=99.0, temp_max=71.0, power_mean=612.5, xid_error_samples=0,
                 first_seen=start, last_seen=end, source_file=f"dcgm-{day.isoformat()}.prom",
                 source_sha256=file_sha256(f"dcgm-{day.isoformat()}.prom"))]


def custodian_statements(day: date) -> list[dict]:
    file_name = STATEMENT_FILES[day]
    common = dict(partition_date=day, statement_date=day,
                  cut_off_time=datetime(day.year, day.month, day.day, 23, 59, 59), custodian_id="custodian-a",
                  account_id="reserve-1", currency="USD", source_file=file_name, source_sha256=file_sha256(file_name))
    empty = dict(cusip=None, security_description=None, maturity_date=None, par_value=None, price=None,
                 market_value=None, amount=None, transaction_type=None, reference=None)
    bill = dict(cusip=CUSIP, security_description="US TREASURY BILL 04/02/2026")
    if day == DAY_1:
        rows = [
            dict(empty, record_type="opening_cash", amount=_usd("0")),
            dict(empty, record_type="transaction", transaction_type="cash_receipt", amount=_usd("150"),
                 reference=tx_hash(4)),
            dict(empty, **bill, record_type="transaction", transaction_type="tbill_purchase", par_value=_usd("150"),
                 amount=_usd("148.50"), reference="T-0001"),
            dict(empty, **bill, record_type="holding", maturity_date=date(2026, 4, 2), par_value=_usd("150"),
                 price=_usd("99"), market_value=_usd("148.50")),
            dict(empty, record_type="closing_cash", amount=_usd("1.50")),
        ]
    else:
        rows = [
            dict(empty, record_type="opening_cash", amount=_usd("1.50")),
            dict(empty, **bill, record_type="holding", maturity_date=date(2026, 4, 2), par_value=_usd("150"),
                 price=_usd("99.013333333333333333"), market_value=_usd("148.52")),
            dict(empty, record_type="closing_cash", amount=_usd("1.50")),
        ]
    return [{**common, **row, "source_row": n} for n, row in enumerate(rows, start=1)]


def input_files(day: date) -> list[dict]:
    files = [("loan_tapes", TAPE_FILES[day], 2), ("custodian", STATEMENT_FILES[day], 5 if day == DAY_1 else 3),
             ("telemetry", f"dcgm-{day.isoformat()}.prom", 5760)]
    return [dict(partition_date=day, source=source, file_name=name, sha256=file_sha256(name), size_bytes=1000,
                 rows_in=rows, rows_accepted=rows, rows_quarantined=0) for source, name, rows in files]


TABLE_ROWS = {
    "chain_events": chain_events,
    "chain_state": chain_state,
    "chain_days": chain_days,
    "chain_address_book": chain_address_book,
    "loan_tapes": loan_tapes,
    "loan_collateral": loan_collateral,
    "gpu_telemetry_daily": gpu_telemetry_daily,
    "custodian_statements": custodian_statements,
    "input_files": input_files,
}


def build_ledger_lake(home: Path) -> Lake:
    """Write both days of every lake table under `home` (a BACKED_HOME)."""
    lake = Lake(home)
    for day in DAYS:
        for table, rows_of in TABLE_ROWS.items():
            rows = rows_of(day)
            lake.write_table(table, day, pa.Table.from_pylist(rows, schema=SCHEMAS[table]))
        lake.write_table("chain_logs_unknown", day, SCHEMAS["chain_logs_unknown"].empty_table())
    return lake


def _write(lake: Lake, table: str, day: date, rows: list[dict]) -> None:
    lake.write_table(table, day, pa.Table.from_pylist(rows, schema=SCHEMAS[table]))


def write_corrected_tape(lake: Lake) -> None:
    """Re-ingest day 1 with the corrected tape: its rows, its collateral schedule and the day's file manifest."""
    _write(lake, "loan_tapes", DAY_1, corrected_loan_tapes())
    _write(lake, "loan_collateral", DAY_1, corrected_loan_collateral())
    _write(lake, "input_files", DAY_1, [dict(row, sha256=CORRECTED_TAPE_SHA256) if row["source"] == "loan_tapes"
                                        else row for row in input_files(DAY_1)])


def write_reorg(lake: Lake) -> None:
    """Re-ingest day 2 from the chain as it stands after the reorg."""
    _write(lake, "chain_events", DAY_2, reorged_chain_events())
    _write(lake, "chain_state", DAY_2, reorged_chain_state())
    _write(lake, "chain_days", DAY_2, reorged_chain_days())
