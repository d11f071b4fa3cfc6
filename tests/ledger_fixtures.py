"""A four-day lake small enough to post by hand, written through the real lake writer (docs/lake.md). Between them
the days post every rule of docs/ledger.md's posting-rules table (tests/test_ledger_dbt.py checks it); the whole
journal, posted by hand, is dbt_project/seeds/ledger_fixture/expected_journal_lines.csv.

The loan router works as the released USD.AI V1 LoanRouter does: it holds nothing. At an origination it receives the
principal (the vault's USDai converted into USDC for it, or a pre-funding it swaps itself) and pays it all out the
same transaction, the principal less the origination fee to the borrower and the fee to its fee recipient, an
address outside the protocol: the router ends every day at 0 USDC, and the vault converts for it each day exactly
the principal it lends. A repayment's principal, interest and prepayment, and a collateral sale's proceeds (net of
the liquidation fee and of any surplus, both the fee recipient's), go on at once to the lender, the sUSDai vault,
which holds them as USDC; an exit fee goes from the borrower to the fee recipient. The V1 router's fees are never the
protocol's; the V2 router names each fee it pays and to whom (FeePaid), and a fee it pays a protocol address is the
protocol's income (loan_fee_received, 4020).

Day 1 (2026-01-05): Alice deposits 1,000 USDC and USDai mints 1,000; she stakes 600 in sUSDai; the vault converts
350 USDai into USDC for the loan router (fundLoans) and sends 150 to the custodian (sendToCustodian); the router
originates loan L1 (250 USDC: 245 to Bob, a fee of 5 to its fee recipient) and loan L2 (100 USDC, no fee); Alice
asks to redeem 100 sUSDai shares; the lender's tape accrues a day of interest on both loans and reports L2 35 days
past due; one of L1's two GPUs and L2's only GPU send no telemetry (dark); L2's 70% insurance cover is claimable at
once, L1's (70%) only after 21 days; the custodian buys a T-bill (par 150 for 148.50).
Day 2 (2026-01-06): Alice burns 100 USDai; her 100 USDai redemption is serviced and claimed; Bob repays 50 of L1's
principal and 0.068493 of interest, which the router forwards to the vault; L2 is liquidated for 90 of net proceeds,
the vault's, its shortfall charged to its allowance; 50 USDai are minted to Mallory with no deposit (logged twice,
as a re-ingested log would be); the tape accrues on L1 only and reports L2 liquidated; L1's second GPU is still
dark; the T-bill is marked at 148.52. L2's cover pays 70% of the 10 of principal lost: a claim of 7 on the pool,
recognised the day of the sale. Each day's credit losses (the allowance, net of the claim) are the sUSDai holders',
less the admin fee on L2's interest the sale wrote off.
Day 3 (2026-01-07): Heidi deposits 500 USDC (USDai mints 500) and stakes them; the vault converts 400 for the router
(L3, L4 and L5), sends 50 to the custodian, and pre-funds L6 with 100 USDai through the deposit timelock and, with
20, terms whose loan never comes (expiring at 09:00 on day 4); the router lends four loans, L6 from its pre-funding
(the router takes the 100 USDai and swaps them into USDC), on which the lender's tape reports arrears carried over
from the borrowers' earlier loans with it: L3 to Dave (100, fee 1; 1 day past due, one of its two GPUs erroring with
XID errors), L4 to Erin (200; 60 days past due), L5 to Frank (100; in default at 30 days past due) and L6 to Grace
(100; 90 days past due, its only GPU dark: the allowance would exceed the exposure and is capped at it). Only L4 is
insured: 50% of the principal lost, once 30 days from its origination have run. Bob pays L1's interest to date
(0.109589) and prepays 50 of its principal, both forwarded to the vault, and an exit fee of 0.50 to the router's fee
recipient; the lender leaves L1 off the day's tape. The insurance pool mints 7 USDai against USDC and pays L2's
claim with them to the vault. USDai harvests 2 of base yield, minted to the treasury in the Harvested transaction:
not an unbacked mint, nothing posted. The April bill is marked down to 148.50 (price 99); the custodian buys a bill
maturing on day 4, par 50 for 49.99.
Day 4 (2026-01-08): Dave repays L3 in full (100 and two days of interest, 0.054794: the loan is repaid); Erin's L4
is liquidated by the v2 router (LiquidationProceedsDeposited): its collateral fetches 80, of which the router's fee
of 2 goes to its fee recipient (FeePaid: outside the protocol, nothing posted), so the vault receives 78, a
shortfall of 122.054794520547945205, beyond its allowance of 100.027397260273972603; Frank's L5 is liquidated by the
v1 router: the vault receives 120 of net proceeds, 19.972602739726027397 above its principal and accrued interest,
interest the tape had not accrued (interest income). LoanRouterV2 migrates L1 (its currency becomes USDai) and Bob
prepays 10 of it with a repayment fee of 0.1 USDai that the V2 router pays to the sUSDai vault (FeePaid): the
protocol's fee income (4020), 90% of it the holders' yield. L1 is back on the tape, current, with all GPUs
reporting: the tape's accrued balance shows day 3's interest, which the ledger catches up; its allowance is
released. L6 is 91 days past due with its GPU back: 100% of its exposure. The short bill matures at par; the April
bill rises to 148.53. The vault pre-funds L7 (20 USDai to Grace, a LoanRouterV2 loan in USDai) through v1.9's escrow
in the morning, and the V2 router originates it from the escrow at noon, the escrow paying the vault the 0.01 of
interest the deposit earned (LoanEscrowTimelockWithdrawn): L7 is not on the lender's tape. The vault cancels the withdrawn offer's pre-funding after its expiration. USDai's admin converts its reserve from wM to PYUSD (USDai v1.4): 357 of
each, the reserve's size unchanged. The day's credit losses are a net release, the holders' claim rising by it and
by the fee on L4's interest written off. L4's claim on its cover (50% of the 120 of principal lost, 60) waits for
its waiting period, which runs past day 4: nothing is recognised yet.

The chain state of each day agrees with the story (supply, the vault's NAV and shares, the redemption queue,
loanState). Every table gets a file on every day, as ingestion always writes one.

The restatements rewrite one day's partition as ingestion would on new input: a corrected loan tape for day 1
(same as-of date, another file sha256, L1's interest revised) and a reorg of day 2 (other blocks, other logs).
"""
from __future__ import annotations

import hashlib
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from foundation.lake import SCHEMAS, Lake

DAY_1 = date(2026, 1, 5)
DAY_2 = date(2026, 1, 6)
DAY_3 = date(2026, 1, 7)
DAY_4 = date(2026, 1, 8)
DAYS = (DAY_1, DAY_2, DAY_3, DAY_4)

USDAI = "0x0A1a1A107E45b7Ced86833863f482BC5f4ed82EF"
SUSDAI = "0x0B2b2B2076d95dda7817e785989fE353fe955ef9"
LOAN_ROUTER = "0x0C2ED170F2bB1DF1a44292Ad621B577b3C9597D1"
BASE_TOKEN = "0x437cc33344a0B27A429f795ff6B469C72698B291"  # wM, USDai's base token until day 4's conversion
PYUSD = "0x46850aD61C2B7d64d08c9C754F45254596696984"  # the base token from day 4 (USDai v1.4)
ADMIN = to_checksum_address("0x" + "ad" * 20)  # USDai's admin, who converts the reserve
USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"
CUSTODIAN = to_checksum_address("0x" + "c5" * 20)
ALICE = to_checksum_address("0x" + "a1" * 20)
BOB = to_checksum_address("0x" + "b0" * 20)
CAROL = to_checksum_address("0x" + "ca" * 20)
MALLORY = to_checksum_address("0x" + "ee" * 20)
HEIDI = to_checksum_address("0x" + "d1" * 20)
DAVE = to_checksum_address("0x" + "da" * 20)
ERIN = to_checksum_address("0x" + "e1" * 20)
FRANK = to_checksum_address("0x" + "f1" * 20)
GRACE = to_checksum_address("0x" + "9a" * 20)
INSURER = to_checksum_address("0x" + "15" * 20)  # the credit insurance pool's wallet (address book role insurer)
TREASURY = to_checksum_address("0x" + "7e" * 20)  # where USDai mints the reserve's base yield: not the protocol
TIMELOCK = to_checksum_address("0x" + "71" * 20)  # the deposit timelock that holds pre-fundings: not the protocol
FEE_RECIPIENT = to_checksum_address("0x" + "fe" * 20)  # the routers' fee recipient: not the protocol
ADMIN_FEE_RECIPIENT = to_checksum_address("0x" + "af" * 20)  # the vault's admin fee recipient: not the protocol
FEE_MODEL = to_checksum_address("0x" + "f0" * 20)  # the fee model contract a V2 loan's fee spec names
ZERO = "0x0000000000000000000000000000000000000000"

LOAN_1 = "0x" + keccak(text="loan L1").hex()
LOAN_2 = "0x" + keccak(text="loan L2").hex()
LOAN_3 = "0x" + keccak(text="loan L3").hex()
LOAN_4 = "0x" + keccak(text="loan L4").hex()
LOAN_5 = "0x" + keccak(text="loan L5").hex()
LOAN_6 = "0x" + keccak(text="loan L6").hex()
LOAN_7 = "0x" + keccak(text="loan L7").hex()  # LoanRouterV2's, in USDai, taken from the vault's escrow on day 4
# LoanRouterV2 (v1.0) migrates L1 from the V1 router on day 4: its V2 terms (LoanTermsV2: expiration, borrower,
# currency, collateral, repayment spec, rate spec, collateral ids, tranches, fee specs, approvals, options) lend the
# V1 loan's scaled balance, 150, in USDai to the vault as the only tranche; the V2 hash is keccak(chain id, terms).
LOAN_ROUTER_V2 = "0x1C2ED170de32846316784c4fd58A5e3C7563E12f"
_LOAN_TERMS_V2 = ("(uint64,address,address,address,(uint16,uint8,int32),(address,bytes),uint256[],"
                  "(address,uint256,uint256)[],(uint8,address,address,bytes)[],address[],bytes)")
_L1_TERMS_V2 = (2**40, to_checksum_address("0x" + "b0" * 20), "0x0A1a1A107E45b7Ced86833863f482BC5f4ed82EF",
                to_checksum_address("0x" + "9e" * 20), (180, 5, 0), (to_checksum_address("0x" + "a7" * 20), b""),
                [1], [("0x0B2b2B2076d95dda7817e785989fE353fe955ef9", 150 * 10**18, 10**17)], [], [], b"")
L1_TERMS_V2_ENCODED = "0x" + abi_encode([_LOAN_TERMS_V2], [_L1_TERMS_V2]).hex()
LOAN_1_V2 = "0x" + keccak(abi_encode(["uint256", _LOAN_TERMS_V2], [31337, _L1_TERMS_V2])).hex()
# LoanRouterV2 v1.1 then refinances it on day 4, after Bob's prepayment: the same loan of 140 under new terms (a
# longer repayment spec), a third name.
_L1_TERMS_V3 = (_L1_TERMS_V2[0], *_L1_TERMS_V2[1:4], (360, 5, 0), _L1_TERMS_V2[5], _L1_TERMS_V2[6],
                [(_L1_TERMS_V2[7][0][0], 140 * 10**18, 10**17)], *_L1_TERMS_V2[8:])
L1_TERMS_V3_ENCODED = "0x" + abi_encode([_LOAN_TERMS_V2], [_L1_TERMS_V3]).hex()
LOAN_1_V3 = "0x" + keccak(abi_encode(["uint256", _LOAN_TERMS_V2], [31337, _L1_TERMS_V3])).hex()
# Terms the vault pre-funds on day 3 and that no loan ever takes: the deposit is cancelled on day 4.
WITHDRAWN_OFFER = "0x" + keccak(text="loan offer withdrawn").hex()
# Terms pre-funded on day 3 through StakedUSDai v1.10's deposit timelock and through v1.9's escrow (earning interest),
# both cancelled on day 4.
V110_OFFER = "0x" + keccak(text="loan offer v1.10").hex()
ESCROW_OFFER = "0x" + keccak(text="loan offer in escrow").hex()
ESCROW = to_checksum_address("0x" + "e5" * 20)  # the escrow timelock (v1.9): not the protocol
POOL = to_checksum_address("0x" + "90" * 20)  # a MetaStreet pool the vault lends through (v1.0-v1.5), in USDC
POOL_TICK = "340282366920938463463374607431768211455"  # a tick is a uint128: the largest, to hold every digit
CUSIP = "912797QM2"
SHORT_BILL = "912797QN0"  # bought on day 3, a day before it matures

USDAI_UNIT = 10**18
USDC_UNIT = 10**6

SIGNATURES = {
    "Transfer": "Transfer(address,address,uint256)",
    "Deposited": "Deposited(address,address,address,uint256,uint256)",
    "AdminFeeWithdrawn": "AdminFeeWithdrawn(address,uint256,uint256)",
    "Withdrawn": "Withdrawn(address,address,address,uint256,uint256)",
    "Deposit": "Deposit(address,address,uint256,uint256)",
    "Withdraw": "Withdraw(address,address,address,uint256,uint256)",
    "RedemptionProcessed": "RedemptionProcessed(uint256,address,uint256,uint256,uint256)",
    "LoanOriginated": "LoanOriginated(bytes32,address,address,uint256,uint256)",
    "LoanRepaid": "LoanRepaid(bytes32,address,uint256,uint256,uint256,uint256,bool)",
    "LoanLiquidated": "LoanLiquidated(bytes32)",
    "LoanCollateralLiquidated": "LoanCollateralLiquidated(bytes32,uint256,uint256,uint256)",
    "RedeemRequest": "RedeemRequest(address,address,uint256,address,uint256)",
    "Harvested": "Harvested(uint256)",
    "LiquidationProceedsDeposited": "LiquidationProceedsDeposited(bytes32,uint256,uint256,uint256)",
    "LoanTimelockDeposited": "LoanTimelockDeposited(bytes32,uint256,uint64)",
    "LoanTimelockCancelled": "LoanTimelockCancelled(bytes32,uint256)",
    "BaseTokenConverted": "BaseTokenConverted(address,uint256)",
    "LoanDepositTimelockDeposited": "LoanDepositTimelockDeposited(bytes32,uint256,uint64)",
    "LoanDepositTimelockCancelled": "LoanDepositTimelockCancelled(bytes32,uint256)",
    "LoanEscrowTimelockDeposited": "LoanEscrowTimelockDeposited(bytes32,uint256,uint256)",
    "LoanEscrowTimelockCancelled": "LoanEscrowTimelockCancelled(bytes32,uint256,uint256)",
    "LoanEscrowTimelockWithdrawn": "LoanEscrowTimelockWithdrawn(bytes32,uint256)",
    "LoanMigrated": "LoanMigrated(bytes32,bytes32,bytes)",
    "LoanRefinanced": "LoanRefinanced(bytes32,bytes32,bytes)",
    "FeePaid": "FeePaid(bytes32,uint8,address,address,uint256)",
    "PoolDeposited": "PoolDeposited(address,uint128,uint256,uint256)",
    "PoolRedeemed": "PoolRedeemed(address,uint128,uint256,uint128)",
    "PoolWithdrawn": "PoolWithdrawn(address,uint128,uint256,uint128,uint256,uint256)",
}
CONTRACTS = {"usdai": USDAI, "susdai": SUSDAI, "loan_router": LOAN_ROUTER}

TAPE_FILES = {day: f"lender-a-{day.isoformat()}.csv" for day in DAYS}
STATEMENT_FILES = {day: f"custodian-a-{day.isoformat()}.csv" for day in DAYS}


def file_sha256(file_name: str) -> str:
    """Stands in for the sha256 of the inbox file's bytes (the lake only carries the hash)."""
    return hashlib.sha256(file_name.encode()).hexdigest()


def tx_hash(n: int) -> str:
    return f"0x{n:064x}"


def _block_hash(block_number: int) -> str:
    return "0x" + keccak(text=f"block {block_number}").hex()


def _block_time(day: date, block_number: int) -> datetime:
    return datetime(day.year, day.month, day.day, 10 + block_number % 100)


def _unix(moment: datetime) -> int:
    return int(moment.replace(tzinfo=timezone.utc).timestamp())


def _usd(text: str) -> Decimal:
    return Decimal(text)


def _event(day: date, block_number: int, tx: int, position: int, role: str, event: str, *, token: str = "",
           **arguments: Any) -> dict:
    """A decoded log of transaction `tx`, the `position`-th it emitted (`_block_wide` turns that into the block's
    log index)."""
    address = token or {"usdai": USDAI, "susdai": SUSDAI, "loan_router": LOAN_ROUTER}[role]
    signature = SIGNATURES[event]
    row = {name: None for name in SCHEMAS["chain_events"].names}
    row.update(
        partition_date=day,
        block_number=block_number,
        block_hash=_block_hash(block_number),
        block_time=_block_time(day, block_number),
        tx_hash=tx_hash(tx),
        log_index=position,
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


def _block_wide(events: list[dict]) -> list[dict]:
    """The events with the log index a node gives them: a log's position in its block, not in its transaction
    (eth_getLogs' `logIndex`), counted in the order the block's transactions come. A log listed twice (ingested
    twice) keeps one index."""
    order: dict[tuple[int, str], list[tuple[str, int]]] = {}
    for row in events:
        logs = order.setdefault((row["block_number"], row["block_hash"]), [])
        if (row["tx_hash"], row["log_index"]) not in logs:
            logs.append((row["tx_hash"], row["log_index"]))
    index = {}
    for block, logs in order.items():
        transactions = list(dict.fromkeys(tx for tx, _ in logs))  # in the order they come in the block
        ranked = sorted(logs, key=lambda log: (transactions.index(log[0]), log[1]))
        index.update({(block, log): n for n, log in enumerate(ranked)})
    return [dict(row, log_index=index[(row["block_number"], row["block_hash"]), (row["tx_hash"], row["log_index"])])
            for row in events]


def log_index(tx: int, position: int) -> int:
    """The log index, in the lake as written, of the `position`-th log transaction `tx` emitted."""
    for events in [*(_events_by_position(day) for day in DAYS), _reorged_by_position()]:
        for listed, written in zip(events, _block_wide(events)):
            if (listed["tx_hash"], listed["log_index"]) == (tx_hash(tx), position):
                return written["log_index"]
    raise KeyError(f"no log {position} of transaction {tx}")


def log_key(tx: int, position: int) -> str:
    """The source key (tx hash:log index) of the `position`-th log transaction `tx` emitted."""
    return f"{tx_hash(tx)}:{log_index(tx, position)}"


def chain_events(day: date) -> list[dict]:
    return _block_wide(_events_by_position(day))


def _events_by_position(day: date) -> list[dict]:
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
    if day == DAY_3:
        return _chain_events_day_3()
    if day == DAY_4:
        return _chain_events_day_4()
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


def _chain_events_day_3() -> list[dict]:
    day = DAY_3
    return [
        # usdai_mint 500 and susdai_stake 500: Heidi's USDC becomes USDai and her USDai the vault's.
        _event(day, 300, 31, 0, "usdai", "Transfer", from_address=ZERO, to_address=HEIDI, value=500 * USDAI_UNIT),
        _event(day, 300, 31, 1, "usdai", "Deposited", caller=HEIDI, recipient=HEIDI, deposit_token=USDC,
               deposit_amount=500 * USDC_UNIT, mint_amount=500 * USDAI_UNIT),
        _event(day, 301, 32, 0, "usdai", "Transfer", from_address=HEIDI, to_address=SUSDAI, value=500 * USDAI_UNIT),
        # Her shares at the vault's price: 500 x 500 shares / totalAssets() 490.128958904109589041 = 510.07, whole.
        _event(day, 301, 32, 1, "susdai", "Transfer", from_address=ZERO, to_address=HEIDI, value=510 * USDAI_UNIT),
        _event(day, 301, 32, 2, "susdai", "Deposit", sender=HEIDI, owner=HEIDI,
               assets=500 * USDAI_UNIT, shares=510 * USDAI_UNIT),
        # reserve_conversion 400 (the router's USDC for L3, L4 and L5: the principal it lends them, as it holds
        # nothing; L6's 100 is pre-funded) and reserve_to_custodian 50.
        _event(day, 302, 33, 0, "usdai", "Transfer", from_address=SUSDAI, to_address=ZERO, value=400 * USDAI_UNIT),
        _event(day, 302, 33, 1, "usdai", "Withdrawn", caller=SUSDAI, recipient=LOAN_ROUTER, withdraw_token=USDC,
               usdai_amount=400 * USDAI_UNIT, withdraw_amount=400 * USDC_UNIT),
        # loan_timelock_deposited: the vault commits 100 USDai to L6's terms until the day's end, and 20 to terms
        # whose loan never comes, until 09:00 of day 4 (1030 L6 100, 1030 the offer 20 / 2000 120).
        _event(day, 302, 50, 0, "usdai", "Transfer", from_address=SUSDAI, to_address=TIMELOCK, value=100 * USDAI_UNIT),
        _event(day, 302, 50, 1, "susdai", "LoanTimelockDeposited", loan_terms_hash=LOAN_6,
               usdai_amount=100 * USDAI_UNIT, expiration=_unix(datetime(2026, 1, 7, 23, 59, 59))),
        _event(day, 303, 51, 0, "usdai", "Transfer", from_address=SUSDAI, to_address=TIMELOCK, value=20 * USDAI_UNIT),
        _event(day, 303, 51, 1, "susdai", "LoanTimelockDeposited", loan_terms_hash=WITHDRAWN_OFFER,
               usdai_amount=20 * USDAI_UNIT, expiration=_unix(datetime(2026, 1, 8, 9))),
        # The same through v1.10's deposit timelock (10, until 09:00 of day 4) and v1.9's escrow (30, earning 5% a
        # year, no expiration): loan_timelock_deposited 1030 by terms / 2000, 40.
        _event(day, 303, 54, 0, "usdai", "Transfer", from_address=SUSDAI, to_address=TIMELOCK, value=10 * USDAI_UNIT),
        _event(day, 303, 54, 1, "susdai", "LoanDepositTimelockDeposited", loan_terms_hash=V110_OFFER,
               usdai_amount=10 * USDAI_UNIT, expiration=_unix(datetime(2026, 1, 8, 9))),
        _event(day, 303, 55, 0, "usdai", "Transfer", from_address=SUSDAI, to_address=ESCROW, value=30 * USDAI_UNIT),
        _event(day, 303, 55, 1, "susdai", "LoanEscrowTimelockDeposited", loan_terms_hash=ESCROW_OFFER,
               usdai_amount=30 * USDAI_UNIT, interest_rate=1_585_489_599),
        _event(day, 303, 34, 0, "usdai", "Transfer", from_address=SUSDAI, to_address=ZERO, value=50 * USDAI_UNIT),
        _event(day, 303, 34, 1, "usdai", "Withdrawn", caller=SUSDAI, recipient=CUSTODIAN,
               withdraw_token=BASE_TOKEN, usdai_amount=50 * USDAI_UNIT, withdraw_amount=50 * USDC_UNIT),
        # loan_originated (1100 / 1020 USDC@router, the principal): L3 100 with a fee of 1 (the router pays Dave 99
        # and its fee recipient 1: nothing of the fee is posted), L4 200, L5 100, L6 100 without fees.
        _event(day, 304, 35, 0, "loan_router", "LoanOriginated", loan_terms_hash=LOAN_3, borrower=DAVE,
               currency_token=USDC, principal=100 * USDC_UNIT, origination_fee=1 * USDC_UNIT),
        _event(day, 305, 36, 0, "loan_router", "LoanOriginated", loan_terms_hash=LOAN_4, borrower=ERIN,
               currency_token=USDC, principal=200 * USDC_UNIT, origination_fee=0),
        _event(day, 306, 37, 0, "loan_router", "LoanOriginated", loan_terms_hash=LOAN_5, borrower=FRANK,
               currency_token=USDC, principal=100 * USDC_UNIT, origination_fee=0),
        # L6 is originated from its pre-funding: the router takes the 100 USDai from the timelock and swaps them
        # into USDC (reserve_conversion 100), and the deposit is used up (loan_timelock_consumed 2000 100 / 1030 100).
        _event(day, 307, 38, 0, "usdai", "Transfer", from_address=TIMELOCK, to_address=LOAN_ROUTER,
               value=100 * USDAI_UNIT),
        _event(day, 307, 38, 1, "usdai", "Transfer", from_address=LOAN_ROUTER, to_address=ZERO, value=100 * USDAI_UNIT),
        _event(day, 307, 38, 2, "usdai", "Withdrawn", caller=LOAN_ROUTER, recipient=LOAN_ROUTER, withdraw_token=USDC,
               usdai_amount=100 * USDAI_UNIT, withdraw_amount=100 * USDC_UNIT),
        _event(day, 307, 38, 3, "loan_router", "LoanOriginated", loan_terms_hash=LOAN_6, borrower=GRACE,
               currency_token=USDC, principal=100 * USDC_UNIT, origination_fee=0),
        # loan_repaid: Bob pays L1's interest to date, 0.109589 (0.054794671232876712 accrued through day 2 +
        # 0.054794520547945205 of day 3 = 0.109589191780821917, paid in whole USDC units), prepays 50 of principal
        # and pays an exit fee of 0.50 on the prepayment. The router forwards 50.109589 to the vault (1020
        # USDC@sUSDai 50.109589 / 1100 50, 1110 0.109589); the exit fee goes to its fee recipient: nothing posted.
        _event(day, 308, 39, 0, "loan_router", "LoanRepaid", loan_terms_hash=LOAN_1, borrower=BOB,
               principal=0, interest=109_589, prepayment=50 * USDC_UNIT, exit_fee=500_000, is_repaid=False),
        # The insurance pool buys 7 USDai (usdai_mint 7) and pays L2's claim with them to the vault:
        # insurance_recovery_received 2000 7 / 1150 7.
        _event(day, 309, 40, 0, "usdai", "Transfer", from_address=ZERO, to_address=INSURER, value=7 * USDAI_UNIT),
        _event(day, 309, 40, 1, "usdai", "Deposited", caller=INSURER, recipient=INSURER, deposit_token=USDC,
               deposit_amount=7 * USDC_UNIT, mint_amount=7 * USDAI_UNIT),
        _event(day, 309, 40, 2, "usdai", "Transfer", from_address=INSURER, to_address=SUSDAI, value=7 * USDAI_UNIT),
        # USDai harvests 2 of the reserve's base yield, minted to the treasury in the Harvested transaction: a mint
        # with no Deposited that is not unbacked, so nothing is posted (R1 counts it as minted_by_harvests).
        _event(day, 310, 41, 0, "usdai", "Transfer", from_address=ZERO, to_address=TREASURY, value=2 * USDAI_UNIT),
        _event(day, 310, 41, 1, "usdai", "Harvested", usdai_amount=2 * USDAI_UNIT),
    ]


def _chain_events_day_4() -> list[dict]:
    day = DAY_4
    return [
        # loan_repaid closing L3 (is_repaid): principal 100 and two days of interest, 0.054794 (2 x
        # 0.027397260273972603 = 0.054794520547945206, paid in whole USDC units), forwarded to the vault: 1020
        # USDC@sUSDai 100.054794 / 1100 100, 1110 0.054794.
        _event(day, 400, 42, 0, "loan_router", "LoanRepaid", loan_terms_hash=LOAN_3, borrower=DAVE,
               principal=100 * USDC_UNIT, interest=54_794, prepayment=0, exit_fee=0, is_repaid=True),
        # L4 liquidated through the v2 router: LiquidationProceedsDeposited gives the sale's gross proceeds, 80, and
        # the router's fee, 2, paid to its fee recipient; the vault receives the rest (1020 USDC@sUSDai 78). The
        # router names the fee it paid (FeePaid kind 3, liquidation, 2 USDC, in the sale's transaction, by the router
        # that emits the sale's events): its recipient is outside the protocol, so loan_fee_received posts nothing.
        _event(day, 401, 43, 0, "loan_router", "LoanLiquidated", loan_terms_hash=LOAN_4),
        _event(day, 401, 43, 1, "loan_router", "LiquidationProceedsDeposited", loan_terms_hash=LOAN_4,
               proceeds=80 * USDC_UNIT, fee=2 * USDC_UNIT, surplus=0),
        _event(day, 401, 43, 2, "loan_router", "FeePaid", loan_terms_hash=LOAN_4, fee_kind=3, recipient=FEE_RECIPIENT,
               fee_model=FEE_MODEL, amount=2 * USDC_UNIT),
        # L5 liquidated through the v1 router: 120 of net proceeds to the vault (the liquidation fee went to the
        # router's fee recipient), more than its principal and accrued interest: the rest is interest income (4000).
        _event(day, 402, 44, 0, "loan_router", "LoanLiquidated", loan_terms_hash=LOAN_5),
        _event(day, 402, 44, 1, "loan_router", "LoanCollateralLiquidated", loan_terms_hash=LOAN_5,
               proceeds=120 * USDC_UNIT, liquidation_fee=1 * USDC_UNIT, surplus=0),
        # The offer's pre-funding expired at 09:00 with no loan: the vault takes its 20 USDai back
        # (loan_timelock_cancelled 2000 20 / 1030 20).
        _event(day, 401, 52, 0, "usdai", "Transfer", from_address=TIMELOCK, to_address=SUSDAI, value=20 * USDAI_UNIT),
        _event(day, 401, 52, 1, "susdai", "LoanTimelockCancelled", loan_terms_hash=WITHDRAWN_OFFER,
               usdai_amount=20 * USDAI_UNIT),
        # And the v1.10 and escrow offers: 10 and 30 back to the vault (loan_timelock_cancelled), with the 0.25 USDai
        # of interest the escrow earned (loan_escrow_interest 2000 0.25 / 4000 0.25).
        _event(day, 401, 56, 0, "usdai", "Transfer", from_address=TIMELOCK, to_address=SUSDAI, value=10 * USDAI_UNIT),
        _event(day, 401, 56, 1, "susdai", "LoanDepositTimelockCancelled", loan_terms_hash=V110_OFFER,
               usdai_amount=10 * USDAI_UNIT),
        _event(day, 402, 57, 0, "usdai", "Transfer", from_address=ESCROW, to_address=SUSDAI,
               value=30_250_000_000_000_000_000),
        _event(day, 402, 57, 1, "susdai", "LoanEscrowTimelockCancelled", loan_terms_hash=ESCROW_OFFER,
               usdai_amount=30 * USDAI_UNIT, interest=250_000_000_000_000_000),
        # USDai v1.4 moves the reserve from wM to PYUSD: the admin takes USDai's 357 wM (1000 - 350 - 150 - 100 + 500
        # - 400 - 100 - 50 + 7) and puts in 357 PYUSD (base_token_converted 1020 PYUSD@USDai / 1020 wM@USDai 357).
        _event(day, 402, 53, 0, "base_token", "Transfer", token=BASE_TOKEN, from_address=USDAI, to_address=ADMIN,
               value=357 * USDC_UNIT),
        _event(day, 402, 53, 1, "base_token", "Transfer", token=PYUSD, from_address=ADMIN, to_address=USDAI,
               value=357 * USDC_UNIT),
        _event(day, 402, 53, 2, "usdai", "BaseTokenConverted", caller=ADMIN, amount=357 * USDC_UNIT),
        # LoanRouterV2 migrates L1: no token moves, and the loan keeps its identity (its sub-accounts stay L1's); the
        # lender's tape names it by its V2 hash from today.
        _event(day, 400, 61, 0, "loan_router", "LoanMigrated", token=LOAN_ROUTER_V2, old_loan_terms_hash=LOAN_1,
               new_loan_terms_hash=LOAN_1_V2, new_loan_terms=L1_TERMS_V2_ENCODED),
        # Bob prepays 10 of it in USDai, its V2 currency, with a repayment fee of 0.1 that its V2 terms pay to the
        # sUSDai vault: he pays the router 10.1, which forwards the 10 to the vault, the lender, and pays the fee to the
        # vault, its recipient. The USDai comes back into the protocol: loan_repaid 2000 10 / 1100 L1 10 (on L1's
        # sub-account: the same loan); LoanRepaid's sixth field is all the payment's fees, 0.1, and posts nothing
        # itself. FeePaid (kind 1, repayment) names the vault, a protocol address: the fee is the protocol's income,
        # loan_fee_received 2000 0.1 / 4020 0.1 (a loan in USDai: its cash is 2000, not 1020).
        _event(day, 402, 62, 0, "usdai", "Transfer", from_address=BOB, to_address=LOAN_ROUTER_V2,
               value=10_100_000_000_000_000_000),
        _event(day, 402, 62, 1, "loan_router", "LoanRepaid", token=LOAN_ROUTER_V2, loan_terms_hash=LOAN_1_V2,
               borrower=BOB, principal=0, interest=0, prepayment=10 * USDAI_UNIT, exit_fee=USDAI_UNIT // 10,
               is_repaid=False),
        _event(day, 402, 62, 2, "usdai", "Transfer", from_address=LOAN_ROUTER_V2, to_address=SUSDAI,
               value=USDAI_UNIT // 10),
        _event(day, 402, 62, 3, "loan_router", "FeePaid", token=LOAN_ROUTER_V2, loan_terms_hash=LOAN_1_V2, fee_kind=1,
               recipient=SUSDAI, fee_model=FEE_MODEL, amount=USDAI_UNIT // 10),
        _event(day, 402, 62, 4, "usdai", "Transfer", from_address=LOAN_ROUTER_V2, to_address=SUSDAI,
               value=10 * USDAI_UNIT),
        # LoanRouterV2 v1.1 refinances it: the V2 hash is marked Repaid with no LoanRepaid and the new hash has the
        # same 140, no token moving. Nothing is posted: the loan is still L1 (loan_identities walks both renames).
        _event(day, 402, 67, 0, "loan_router", "LoanRefinanced", token=LOAN_ROUTER_V2, old_loan_terms_hash=LOAN_1_V2,
               new_loan_terms_hash=LOAN_1_V3, new_loan_terms=L1_TERMS_V3_ENCODED),
        # v1.9's escrow pre-funds L7, a LoanRouterV2 loan of 20 USDai to Grace, in the morning
        # (loan_timelock_deposited 1030 L7 / 2000 20), and the V2 router originates it from the escrow at noon: the
        # USDai goes from the escrow through the router to Grace, both outside the protocol, so the loan in USDai
        # (loan_originated 1100 L7 / 2000 20) uses the claim up (loan_timelock_consumed 2000 / 1030 L7 20); the
        # escrow pays the vault the 0.01 USDai of interest the deposit earned (LoanEscrowTimelockWithdrawn:
        # loan_escrow_interest 2000 0.01 / 4000 0.01). Not on the lender's tape: it posts no accrual.
        _event(day, 400, 65, 0, "usdai", "Transfer", from_address=SUSDAI, to_address=ESCROW, value=20 * USDAI_UNIT),
        _event(day, 400, 65, 1, "susdai", "LoanEscrowTimelockDeposited", loan_terms_hash=LOAN_7,
               usdai_amount=20 * USDAI_UNIT, interest_rate=1_585_489_599),
        _event(day, 402, 66, 0, "usdai", "Transfer", from_address=ESCROW, to_address=LOAN_ROUTER_V2,
               value=20 * USDAI_UNIT),
        _event(day, 402, 66, 1, "usdai", "Transfer", from_address=LOAN_ROUTER_V2, to_address=GRACE,
               value=20 * USDAI_UNIT),
        _event(day, 402, 66, 2, "loan_router", "LoanOriginated", token=LOAN_ROUTER_V2, loan_terms_hash=LOAN_7,
               borrower=GRACE, currency_token=USDAI, principal=20 * USDAI_UNIT, origination_fee=0),
        _event(day, 402, 66, 3, "usdai", "Transfer", from_address=ESCROW, to_address=SUSDAI, value=USDAI_UNIT // 100),
        _event(day, 402, 66, 4, "susdai", "LoanEscrowTimelockWithdrawn", loan_terms_hash=LOAN_7,
               interest=USDAI_UNIT // 100),
        # The vault lends 40 through a MetaStreet pool and has it back with 0.5 of interest the same day: 40 USDai
        # swapped into USDC for itself (reserve_conversion 1020 USDC@sUSDai / 1020 PYUSD@USDai 40), deposited at
        # a tick (pool_deposited 1120 / 1020 USDC@sUSDai 40), redeemed (nothing posted), withdrawn (pool_withdrawn
        # 1020 USDC@sUSDai 40.5 / 1120 40, the cost, and 4000 0.5) and swapped back into USDai for itself
        # (reserve_deposit 1020 PYUSD@USDai / 1020 USDC@sUSDai 40.5).
        _event(day, 402, 58, 0, "usdai", "Transfer", from_address=SUSDAI, to_address=ZERO, value=40 * USDAI_UNIT),
        _event(day, 402, 58, 1, "usdai", "Withdrawn", caller=SUSDAI, recipient=SUSDAI, withdraw_token=USDC,
               usdai_amount=40 * USDAI_UNIT, withdraw_amount=40 * USDC_UNIT),
        _event(day, 402, 58, 2, "susdai", "PoolDeposited", pool=POOL, tick=POOL_TICK, usdai_amount=40 * USDAI_UNIT,
               pool_currency_amount=40 * USDC_UNIT),
        _event(day, 402, 59, 0, "susdai", "PoolRedeemed", pool=POOL, tick=POOL_TICK, shares=40 * USDAI_UNIT,
               redemption_id="7"),
        _event(day, 402, 60, 0, "usdai", "Transfer", from_address=ZERO, to_address=SUSDAI,
               value=40_500_000_000_000_000_000),
        _event(day, 402, 60, 1, "usdai", "Deposited", caller=SUSDAI, recipient=SUSDAI, deposit_token=USDC,
               deposit_amount=40_500_000, mint_amount=40_500_000_000_000_000_000),
        _event(day, 402, 60, 2, "susdai", "PoolWithdrawn", pool=POOL, tick=POOL_TICK, shares=40 * USDAI_UNIT,
               redemption_id="7", pool_currency_amount=40_500_000, usdai_amount=40_500_000_000_000_000_000),
        # The vault pays 0.02 of its admin fee on loan interest (kept in USDC) out to its admin fee recipient, swapped
        # into USDai (StakedUSDai v1.7+ withdrawAdminFee): the USDC goes into the reserve (reserve_deposit 1020
        # PYUSD@USDai / 1020 USDC@sUSDai 0.02) and the USDai minted, outstanding, is the protocol's retained fee paid
        # out (admin_fee_withdrawn 3000 / 2000 0.02).
        _event(day, 402, 63, 0, "usdai", "Transfer", from_address=ZERO, to_address=ADMIN_FEE_RECIPIENT,
               value=20_000_000_000_000_000),
        _event(day, 402, 63, 1, "usdai", "Deposited", caller=SUSDAI, recipient=ADMIN_FEE_RECIPIENT, deposit_token=USDC,
               deposit_amount=20_000, mint_amount=20_000_000_000_000_000),
        _event(day, 402, 63, 2, "susdai", "AdminFeeWithdrawn", currency_token=USDC, admin_fee_amount=20_000,
               usdai_deposit_amount=20_000_000_000_000_000),
    ]


# The vault's totalAssets() (USDai, 18 decimals), valued as the real vault values itself: the ledger's 2100 plus the
# allowance (the vault marks a loan down only at its sale) less the insurance claim it has not been paid (R6). The
# V1 router's fees are its fee recipient's, so none is in it; the 0.1 USDai fee the V2 router pays the vault on day 4
# is USDai the vault holds, counted whole.
# Day 1: 497.558219178082191780 + 102.528082191780821919; day 2: 447.115260236301369863 + 50.013698667808219178 - 7;
# day 3: 667.143835578767123287 + 330.090410996575342467 - 0 (the pool paid); day 4: 793.952095890410958905 (with
# the escrow's and the pool's interest and L5's sale's 19.972602739726027397 of interest, less the admin fee) +
# 0.09 (L1's repayment fee, received in USDai, less the admin fee's 10% of it, as the ledger's susdai_yield keeps
# 10% of every income) + 100.054794520547945206 (L6's) + 0.009 (the escrow's 0.01 of interest on L7's pre-funding,
# less the admin fee; L7's 20 moved from the vault's USDai through the escrow into the V2 loan, valued at par). The
# admin fee paid out on day 4 was never the holders'.
SUSDAI_TOTAL_ASSETS = {DAY_1: 600_086301369863013699, DAY_2: 490_128958904109589041,
                       DAY_3: 997_234246575342465754, DAY_4: 894_105890410958904111}
# Day 3: 450 + 500 minted to Heidi - 400 - 100 - 50 burnt by the withdrawals (the vault's for the router and the
# custodian, the router's of L6's pre-funding) + 7 minted to the pool + 2 harvested.
# Day 4: + 0.02 minted to the admin fee recipient.
USDAI_TOTAL_SUPPLY = {DAY_1: 500 * USDAI_UNIT, DAY_2: 450 * USDAI_UNIT, DAY_3: 409 * USDAI_UNIT,
                      DAY_4: 409_020_000_000_000_000_000}
SUSDAI_TOTAL_SHARES = {DAY_1: 600, DAY_2: 500, DAY_3: 1010, DAY_4: 1010}  # Heidi's 510 shares on day 3
# loanState(loan): (status, scaledBalance) each day; status 1 active, 2 repaid, 4 liquidated.
LOAN_STATES = {
    DAY_1: {LOAN_1: (1, 250), LOAN_2: (1, 100)},
    DAY_2: {LOAN_1: (1, 200), LOAN_2: (4, 0)},
    DAY_3: {LOAN_1: (1, 150), LOAN_2: (4, 0), LOAN_3: (1, 100), LOAN_4: (1, 200), LOAN_5: (1, 100), LOAN_6: (1, 100)},
    # L1 migrated: V1 says Migrated (5), V2 (its own router, below) holds the 150
    DAY_4: {LOAN_1: (5, 0), LOAN_2: (4, 0), LOAN_3: (2, 0), LOAN_4: (4, 0), LOAN_5: (4, 0), LOAN_6: (1, 100),
            LOAN_1_V2: (2, 0), LOAN_1_V3: (1, 140), LOAN_7: (1, 20)},
}
# Each day's blocks: (first, last); the state is read at the last.
BLOCKS = {DAY_1: (100, 105), DAY_2: (200, 205), DAY_3: (300, 310), DAY_4: (400, 402)}


def chain_state(day: date) -> list[dict]:
    block = BLOCKS[day][1]
    reads = [
        ("usdai", "totalSupply", "", "value", USDAI_TOTAL_SUPPLY[day]),
        ("usdai", "bridgedSupply", "", "value", 0),
        ("susdai", "totalAssets", "", "value", SUSDAI_TOTAL_ASSETS[day]),
        ("susdai", "totalShares", "", "value", SUSDAI_TOTAL_SHARES[day] * USDAI_UNIT),
        ("susdai", "redemptionQueueInfo", "", "pendingShares", {DAY_1: 100}.get(day, 0) * USDAI_UNIT),
        ("susdai", "redemptionQueueInfo", "", "balance", 0),
    ]
    for loan, (status, principal) in LOAN_STATES[day].items():
        reads += [("loan_router", "loanState", loan, "status", status),
                  ("loan_router", "loanState", loan, "scaledBalance", principal * USDAI_UNIT)]
    return [
        dict(partition_date=day, block_number=block, block_hash=_block_hash(block),
             block_time=_block_time(day, block), contract_role=role,
             contract_address=LOAN_ROUTER_V2 if key in (LOAN_1_V2, LOAN_1_V3, LOAN_7) else CONTRACTS[role],
             method=method, key=key, field=field, value=Decimal(value))
        for role, method, key, field, value in reads
    ]


def chain_days(day: date) -> list[dict]:
    first, last = BLOCKS[day]
    return [dict(partition_date=day, chain_id=31337, profile="sandbox", from_block=first, to_block=last,
                 to_block_hash=_block_hash(last), to_block_time=_block_time(day, last), state_block=last,
                 state_block_hash=_block_hash(last), log_count=len(chain_events(day)))]


def chain_address_book(day: date) -> list[dict]:
    entries = [
        ("usdai", USDAI, True, "USDai", 18),
        ("susdai", SUSDAI, True, "sUSDai", 18),
        ("loan_router", LOAN_ROUTER, True, None, None),
        ("loan_router", LOAN_ROUTER_V2, True, None, None),
        # USDai's reserve is in wM until day 4's conversion, in PYUSD from then (the day's baseToken()).
        ("base_token" if day < DAY_4 else "inactive_base_token", BASE_TOKEN, False, "wM", 6),
        ("base_token" if day >= DAY_4 else "inactive_base_token", PYUSD, False, "PYUSD", 6),
        ("usdc", USDC, False, "USDC", 6),
        ("custodian", CUSTODIAN, False, None, None),
        ("insurer", INSURER, False, None, None),
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
    elif day == DAY_2:
        rows = [
            dict(l1, principal_outstanding=_usd("200"), accrued_interest=_usd("0.054794671232876712"),
                 daily_interest=_usd("0.054794520547945205"), status="current", days_past_due=0),
            dict(l2, principal_outstanding=_usd("0"), accrued_interest=_usd("0"), daily_interest=_usd("0"),
                 status="liquidated", days_past_due=36),
        ]
    else:
        rows = _later_tape_rows(day, l1)
    return [{**common, **row, "source_row": n} for n, row in enumerate(rows, start=1)]


def _later_tape_rows(day: date, l1: dict) -> list[dict]:
    """Days 3 and 4. A day's interest is principal x 10% / 365, rounded to 18 places: 100 -> 0.027397260273972603,
    200 -> 0.054794520547945205, 150 -> 0.041095890410958904. The new loans carry no credit insurance.

    The allowances, by the policy of docs/ledger.md (products rounded half up at 18 places, the share at risk
    truncated), posted as credit_loss_allowance 5000 / 1190 (a fall: 1190 / 5000):
    day 3 (exposure = principal + the day's interest; the true-up starts from nothing)
      L3  100.027397260273972603 x 5% (1 day) = 5.001369863013698630; half its GPUs erroring: at risk
          50.013698630136986301 x 50% = 25.006849315068493151; required 30.008219178082191781
      L4  200.054794520547945205 x 50% (60 days) = 100.027397260273972603
      L5  100.027397260273972603 x 50% (in default: 30 days' 25% raised to the default rate) = 50.013698630136986302
      L6  100.027397260273972603 x 100% (90 days) + its dark GPU's 50.013698630136986302 = 150.041095890410958905,
          capped at the exposure: 100.027397260273972603
    day 4
      L1  current, both GPUs reporting, cover not claimable yet (3 of 21 days): 0; release of day 2's
          50.013698667808219178 (its last tape day)
      L3  repaid: 0, release of 30.008219178082191781
      L4  liquidated: 0 - 100.027397260273972603 + 100.027397260273972603 the sale used = 0, no entry
      L5  liquidated: release of 50.013698630136986302 (the sale, above principal and interest, used none)
      L6  100 + 0.054794520547945206 accrued, x 100% (91 days) = 100.054794520547945206: + 0.027397260273972603
    L1's catch-up on day 4: accrued 0.041096082191780821 - the day's 0.041095890410958904 - (0.054794671232876712
    accrued at day 2 - 0.109589 repaid on day 3) = 0.054794520547945205, day 3's interest.
    """
    new_loan = dict(origination_date=DAY_3, maturity_date=date(2026, 7, 7), insurance_cover_ratio=None,
                    insurance_waiting_period_days=None)
    l3 = dict(new_loan, loan_id="A-3", loan_terms_hash=LOAN_3, borrower_id="B-3", borrower_name="Dave Render Co",
              original_principal=_usd("100"))
    l4 = dict(new_loan, loan_id="A-4", loan_terms_hash=LOAN_4, borrower_id="B-4", borrower_name="Erin Inference",
              original_principal=_usd("200"), insurance_cover_ratio=_usd("0.50"), insurance_waiting_period_days=30)
    l5 = dict(new_loan, loan_id="A-5", loan_terms_hash=LOAN_5, borrower_id="B-5", borrower_name="Frank Cloud",
              original_principal=_usd("100"))
    l6 = dict(new_loan, loan_id="A-6", loan_terms_hash=LOAN_6, borrower_id="B-6", borrower_name="Grace Tensor",
              original_principal=_usd("100"))
    one_day = dict(accrued_interest=_usd("0.027397260273972603"), daily_interest=_usd("0.027397260273972603"))
    settled = dict(principal_outstanding=_usd("0"), accrued_interest=_usd("0"), daily_interest=_usd("0"))
    if day == DAY_3:
        # L1 is missing: the lender left it out of day 3's tape.
        return [
            dict(l3, principal_outstanding=_usd("100"), **one_day, status="delinquent", days_past_due=1),
            dict(l4, principal_outstanding=_usd("200"), accrued_interest=_usd("0.054794520547945205"),
                 daily_interest=_usd("0.054794520547945205"), status="delinquent", days_past_due=60),
            dict(l5, principal_outstanding=_usd("100"), **one_day, status="default", days_past_due=30),
            dict(l6, principal_outstanding=_usd("100"), **one_day, status="delinquent", days_past_due=90),
        ]
    return [
        # L1 is back, under its V2 hash since its migration: 140 after the prepayments; accrued = 0.000000191780821917
        # left after day 3's payment (0.109589191780821917 - 0.109589) + the day's 0.041095890410958904.
        dict(l1, loan_terms_hash=LOAN_1_V2, principal_outstanding=_usd("140"), accrued_interest=_usd("0.041096082191780821"),
             daily_interest=_usd("0.041095890410958904"), status="current", days_past_due=0),
        # L3 accrued its last day and was repaid.
        dict(l3, principal_outstanding=_usd("0"), accrued_interest=_usd("0"),
             daily_interest=_usd("0.027397260273972603"), status="repaid", days_past_due=0),
        dict(l4, **settled, status="liquidated", days_past_due=61),
        dict(l5, **settled, status="liquidated", days_past_due=31),
        dict(l6, principal_outstanding=_usd("100"), accrued_interest=_usd("0.054794520547945206"),
             daily_interest=_usd("0.027397260273972603"), status="delinquent", days_past_due=91),
    ]


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
    return _block_wide(_reorged_by_position())


def _reorged_by_position() -> list[dict]:
    kept = [row for row in _events_by_position(DAY_2) if row["block_number"] < 203]
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


COLLATERAL = {  # (loan, NFT token id, GPU serial, tape row) of each tape's collateral schedule
    DAY_1: ((LOAN_1, "1", "1652922001234", 1), (LOAN_1, "1", "1652922001235", 1), (LOAN_2, "2", "1652922009999", 2)),
    DAY_3: ((LOAN_3, "3", "1652922003001", 1), (LOAN_3, "3", "1652922003002", 1), (LOAN_4, "4", "1652922004001", 2),
            (LOAN_5, "5", "1652922005001", 3), (LOAN_6, "6", "1652922006001", 4)),
    DAY_4: ((LOAN_1_V2, "1", "1652922001234", 1), (LOAN_1_V2, "1", "1652922001235", 1), (LOAN_3, "3", "1652922003001", 2),
            (LOAN_3, "3", "1652922003002", 2), (LOAN_6, "6", "1652922006001", 5)),
}
COLLATERAL[DAY_2] = COLLATERAL[DAY_1]


def loan_collateral(day: date) -> list[dict]:
    file_name = TAPE_FILES[day]
    return [
        dict(partition_date=day, lender_id="lender-a", loan_terms_hash=loan, nft_token_id=token_id,
             gpu_serial=serial, source_file=file_name, source_sha256=file_sha256(file_name), source_row=row)
        for loan, token_id, serial, row in COLLATERAL[day]
    ]


# GPUs reporting each day with their XID error scrapes; a collateral GPU missing from a day is dark. Day 3: one of
# L3's two GPUs reports 5 scrapes with an XID error (erroring from 3), L6's only GPU is dark; day 4: all report.
TELEMETRY = {
    DAY_1: (("GPU-0001", "1652922001234", 0),),
    DAY_3: (("GPU-0001", "1652922001234", 0), ("GPU-3001", "1652922003001", 0), ("GPU-3002", "1652922003002", 5),
            ("GPU-4001", "1652922004001", 0), ("GPU-5001", "1652922005001", 0)),
    DAY_4: (("GPU-0001", "1652922001234", 0), ("GPU-0002", "1652922001235", 0), ("GPU-3001", "1652922003001", 0),
            ("GPU-3002", "1652922003002", 0), ("GPU-6001", "1652922006001", 0)),
}
TELEMETRY[DAY_2] = TELEMETRY[DAY_1]


def gpu_telemetry_daily(day: date) -> list[dict]:
    start = datetime(day.year, day.month, day.day)
    end = datetime(day.year, day.month, day.day, 23, 59)
    return [dict(partition_date=day, gpu_uuid=uuid, gpu_serial=serial, hostname="node-01",
                 model_name="NVIDIA H100 80GB HBM3", samples=1440, scrape_interval_s=60, minutes_online=1440.0,
                 util_mean=87.0, util_p95=99.0, temp_max=71.0, power_mean=612.5, xid_error_samples=xid_errors,
                 first_seen=start, last_seen=end, source_file=f"dcgm-{day.isoformat()}.prom",
                 source_sha256=file_sha256(f"dcgm-{day.isoformat()}.prom"))
            for uuid, serial, xid_errors in TELEMETRY[day]]


def custodian_statements(day: date) -> list[dict]:
    file_name = STATEMENT_FILES[day]
    common = dict(partition_date=day, statement_date=day,
                  cut_off_time=datetime(day.year, day.month, day.day, 23, 59, 59), custodian_id="custodian-a",
                  account_id="reserve-1", currency="USD", source_file=file_name, source_sha256=file_sha256(file_name))
    empty = dict(cusip=None, security_description=None, maturity_date=None, par_value=None, price=None,
                 market_value=None, amount=None, transaction_type=None, reference=None)
    bill = dict(cusip=CUSIP, security_description="US TREASURY BILL 04/02/2026")
    short_bill = dict(cusip=SHORT_BILL, security_description="US TREASURY BILL 01/08/2026")
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
    elif day == DAY_2:
        rows = [
            dict(empty, record_type="opening_cash", amount=_usd("1.50")),
            dict(empty, **bill, record_type="holding", maturity_date=date(2026, 4, 2), par_value=_usd("150"),
                 price=_usd("99.013333333333333333"), market_value=_usd("148.52")),
            dict(empty, record_type="closing_cash", amount=_usd("1.50")),
        ]
    elif day == DAY_3:
        # 50 arrives from the vault; the custodian buys a bill maturing tomorrow, par 50 for 49.99 (tbill_purchase);
        # the April bill falls to 99: 150 x 99 / 100 = 148.50, 0.02 below day 2's 148.52 (tbill_accretion, a mark
        # down: 4010 debit 0.02, 1010 credit 0.02). The short bill is marked at what it cost: 50 x 99.98 / 100 =
        # 49.99 - 0 - 49.99 bought = 0, no line.
        rows = [
            dict(empty, record_type="opening_cash", amount=_usd("1.50")),
            dict(empty, record_type="transaction", transaction_type="cash_receipt", amount=_usd("50"),
                 reference=tx_hash(34)),
            dict(empty, **short_bill, record_type="transaction", transaction_type="tbill_purchase",
                 par_value=_usd("50"), amount=_usd("49.99"), reference="T-0002"),
            dict(empty, **bill, record_type="holding", maturity_date=date(2026, 4, 2), par_value=_usd("150"),
                 price=_usd("99"), market_value=_usd("148.50")),
            dict(empty, **short_bill, record_type="holding", maturity_date=DAY_4, par_value=_usd("50"),
                 price=_usd("99.98"), market_value=_usd("49.99")),
            dict(empty, record_type="closing_cash", amount=_usd("1.51")),
        ]
    else:
        # The short bill matures at par 50 (tbill_maturity: 1000 50 / 1010 50); its mark is 0 held - 49.99 at day
        # 3 + 50 matured = 0.01 (tbill_accretion); the April bill rises to 99.02: 148.53 - 148.50 = 0.03.
        rows = [
            dict(empty, record_type="opening_cash", amount=_usd("1.51")),
            dict(empty, **short_bill, record_type="transaction", transaction_type="tbill_maturity",
                 par_value=_usd("50"), amount=_usd("50"), reference="T-0003"),
            dict(empty, **bill, record_type="holding", maturity_date=date(2026, 4, 2), par_value=_usd("150"),
                 price=_usd("99.02"), market_value=_usd("148.53")),
            dict(empty, record_type="closing_cash", amount=_usd("51.51")),
        ]
    return [{**common, **row, "source_row": n} for n, row in enumerate(rows, start=1)]


def input_files(day: date) -> list[dict]:
    files = [("loan_tapes", TAPE_FILES[day], len(loan_tapes(day))),
             ("custodian", STATEMENT_FILES[day], len(custodian_statements(day))),
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
