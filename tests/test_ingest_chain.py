"""Chain ingestion against a real anvil: contracts compiled by solc emit the catalogue's events, blocks are
mined on chosen UTC days, and the day's Parquet is read back."""

from __future__ import annotations

import hashlib
import json
import random
import re
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from eth_utils import keccak, to_checksum_address

from assets.chain.blocks import day_block_range, last_block_at_or_before
from assets.chain.ingest import DayNotConfirmed, RawAmountOutOfRange, ingest_chain_day
from assets.chain.profiles import AddressBookEntry, ChainProfile, ProfileError, load_profile, rpc_client
from assets.chain.registry import (
    MODELLED_DECLARATIONS,
    REGISTRY,
    _decode_arguments,
    _decode_words,
    checksummed,
    decode_log,
    signature_topic0,
)
from assets.chain.rpc import JsonRpcClient, RpcUnavailable
from foundation.lake import Lake
from tests.local_chain import EMITTERS_SOL, LocalChain, compile_solidity, free_port, utc

ALICE = to_checksum_address("0x" + "a1" * 20)
BOB = to_checksum_address("0x" + "b0" * 20)
CUSTODIAN = to_checksum_address("0x" + "c5" * 20)
LOAN = "0x" + "11" * 32
REFINANCED_LOAN = "0x" + "22" * 32


@pytest.fixture(scope="module")
def bytecode(tmp_path_factory) -> dict[str, str]:
    return compile_solidity(EMITTERS_SOL, "Emitters.sol", tmp_path_factory.mktemp("solc"),
                            ["FungibleToken", "TitleToken", "Protocol"])


@pytest.fixture(scope="module")
def emitter_chain(bytecode):
    chain = LocalChain(utc("2026-01-01T00:00:00"))
    try:
        yield chain, {name: chain.deploy(code) for name, code in bytecode.items()}
    finally:
        chain.close()


# ---------------------------------------------------------------------------------------------- registry

def test_registry_topic0s_are_the_keccak_of_the_signature_texts():
    well_known = {
        "Transfer(address,address,uint256)": "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
        "Approval(address,address,uint256)": "0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925",
        "ApprovalForAll(address,address,bool)": "0x17307eab39ab6107e8899845ad3d59bd9653f200f220920489ca2b5937696c31",
    }
    for signature, topic0 in well_known.items():
        assert signature_topic0(signature) == topic0
    for _, declaration in MODELLED_DECLARATIONS:
        key = ("0x" + keccak(text=_canonical(declaration)).hex(), declaration.count(" indexed "))
        assert REGISTRY[key].signature == _canonical(declaration)
    # both versions of BaseYieldDeposited are there, under different topic0s
    base_yield = {spec.signature for spec in REGISTRY.values() if spec.name == "BaseYieldDeposited"}
    assert base_yield == {"BaseYieldDeposited(uint256)", "BaseYieldDeposited(uint256,uint256)"}


def _canonical(declaration: str) -> str:
    name, params = re.match(r"^(\w+)\((.*)\)$", declaration).groups()
    return f"{name}({','.join(param.split()[0] for param in params.split(','))})"


# ---------------------------------------------------------------------------------------------- decode_log

EMITTED = [
    # (contract, function, args, event signature, expected lake columns)
    ("FungibleToken", "mint(address,uint256)", (ALICE, 10**24), "Transfer(address,address,uint256)",
     {"from_address": "0x0000000000000000000000000000000000000000", "to_address": ALICE, "value": 10**24}),
    ("FungibleToken", "approve(address,uint256)", (BOB, 2**255), "Approval(address,address,uint256)",
     {"spender": BOB, "value": 2**255}),
    ("TitleToken", "mint(address,uint256)", (ALICE, 2**200 + 7), "Transfer(address,address,uint256)",
     {"from_address": "0x0000000000000000000000000000000000000000", "to_address": ALICE, "token_id": str(2**200 + 7)}),
    ("TitleToken", "approve(address,uint256)", (BOB, 9), "Approval(address,address,uint256)",
     {"spender": BOB, "token_id": "9"}),
    ("TitleToken", "setApprovalForAll(address,bool)", (BOB, True), "ApprovalForAll(address,address,bool)",
     {"operator": BOB, "approved": True}),
    ("Protocol", "emitDeposited(address,address,address,uint256,uint256)", (ALICE, BOB, CUSTODIAN, 5 * 10**6, 5 * 10**18),
     "Deposited(address,address,address,uint256,uint256)",
     {"caller": ALICE, "recipient": BOB, "deposit_token": CUSTODIAN, "deposit_amount": 5 * 10**6, "mint_amount": 5 * 10**18}),
    ("Protocol", "emitWithdrawn(address,address,address,uint256,uint256)", (ALICE, BOB, CUSTODIAN, 3 * 10**18, 3 * 10**6),
     "Withdrawn(address,address,address,uint256,uint256)",
     {"caller": ALICE, "recipient": BOB, "withdraw_token": CUSTODIAN, "usdai_amount": 3 * 10**18, "withdraw_amount": 3 * 10**6}),
    ("Protocol", "emitHarvested(uint256)", (12,), "Harvested(uint256)", {"usdai_amount": 12}),
    ("Protocol", "emitBlacklistUpdated(address,bool)", (BOB, True), "BlacklistUpdated(address,bool)",
     {"account": BOB, "is_blacklisted": True}),
    ("Protocol", "emitDeposit(address,address,uint256,uint256)", (ALICE, BOB, 100, 95), "Deposit(address,address,uint256,uint256)",
     {"sender": ALICE, "owner": BOB, "assets": 100, "shares": 95}),
    ("Protocol", "emitWithdraw(address,address,address,uint256,uint256)", (ALICE, BOB, CUSTODIAN, 100, 95),
     "Withdraw(address,address,address,uint256,uint256)",
     {"sender": ALICE, "receiver": BOB, "owner": CUSTODIAN, "assets": 100, "shares": 95}),
    ("Protocol", "emitRedeemRequest(address,address,uint256,address,uint256)", (ALICE, BOB, 77, CUSTODIAN, 50),
     "RedeemRequest(address,address,uint256,address,uint256)",
     {"controller": ALICE, "owner": BOB, "request_id": "77", "sender": CUSTODIAN, "shares": 50}),
    ("Protocol", "emitRedemptionProcessed(uint256,address,uint256,uint256,uint256)", (3, ALICE, 40, 41, 10),
     "RedemptionProcessed(uint256,address,uint256,uint256,uint256)",
     {"redemption_id": "3", "controller": ALICE, "fulfilled_shares": 40, "amount": 41, "pending_shares": 10}),
    ("Protocol", "emitRedemptionsServiced(uint256,uint256,bool)", (40, 41, False), "RedemptionsServiced(uint256,uint256,bool)",
     {"shares": 40, "amount": 41, "all_redemptions_serviced": False}),
    ("Protocol", "emitBaseYieldDeposited(uint256,uint256)", (1000, 100), "BaseYieldDeposited(uint256,uint256)",
     {"deposited_amount": 1000, "admin_fee": 100}),
    ("Protocol", "emitBaseYieldDepositedV1(uint256)", (999,), "BaseYieldDeposited(uint256)", {"deposited_amount": 999}),
    ("Protocol", "emitLoanRepaymentDeposited(address,uint256,uint256)", (CUSTODIAN, 7, 7 * 10**12),
     "LoanRepaymentDeposited(address,uint256,uint256)",
     {"currency_token": CUSTODIAN, "deposit_amount": 7, "usdai_deposit_amount": 7 * 10**12}),
    ("Protocol", "emitAdminFeeWithdrawn(address,uint256,uint256)", (CUSTODIAN, 8, 8 * 10**12),
     "AdminFeeWithdrawn(address,uint256,uint256)",
     {"currency_token": CUSTODIAN, "admin_fee_amount": 8, "usdai_deposit_amount": 8 * 10**12}),
    ("Protocol", "emitLoanOriginated(bytes32,address,address,uint256,uint256)",
     (bytes.fromhex(LOAN[2:]), BOB, CUSTODIAN, 500_000 * 10**6, 5_000 * 10**6),
     "LoanOriginated(bytes32,address,address,uint256,uint256)",
     {"loan_terms_hash": LOAN, "borrower": BOB, "currency_token": CUSTODIAN, "principal": 500_000 * 10**6,
      "origination_fee": 5_000 * 10**6}),
    ("Protocol", "emitLenderPositionMinted(bytes32,address,uint8,uint256)", (bytes.fromhex(LOAN[2:]), ALICE, 2, 2**160),
     "LenderPositionMinted(bytes32,address,uint8,uint256)",
     {"loan_terms_hash": LOAN, "lender": ALICE, "tranche_index": 2, "token_id": str(2**160)}),
    ("Protocol", "emitLenderRepaid(bytes32,address,uint8,uint256,uint256,uint256)", (bytes.fromhex(LOAN[2:]), ALICE, 1, 10, 2, 3),
     "LenderRepaid(bytes32,address,uint8,uint256,uint256,uint256)",
     {"loan_terms_hash": LOAN, "lender": ALICE, "tranche_index": 1, "principal": 10, "interest": 2, "prepay": 3}),
    ("Protocol", "emitLoanRepaid(bytes32,address,uint256,uint256,uint256,uint256,bool)",
     (bytes.fromhex(LOAN[2:]), BOB, 10, 2, 3, 1, True), "LoanRepaid(bytes32,address,uint256,uint256,uint256,uint256,bool)",
     {"loan_terms_hash": LOAN, "borrower": BOB, "principal": 10, "interest": 2, "prepayment": 3, "exit_fee": 1,
      "is_repaid": True}),
    ("Protocol", "emitLoanLiquidated(bytes32)", (bytes.fromhex(LOAN[2:]),), "LoanLiquidated(bytes32)", {"loan_terms_hash": LOAN}),
    ("Protocol", "emitLenderLiquidationRepaid(bytes32,address,uint8,uint256,uint256)", (bytes.fromhex(LOAN[2:]), ALICE, 0, 4, 5),
     "LenderLiquidationRepaid(bytes32,address,uint8,uint256,uint256)",
     {"loan_terms_hash": LOAN, "lender": ALICE, "tranche_index": 0, "principal": 4, "interest": 5}),
    ("Protocol", "emitLoanCollateralLiquidated(bytes32,uint256,uint256,uint256)", (bytes.fromhex(LOAN[2:]), 90, 9, 0),
     "LoanCollateralLiquidated(bytes32,uint256,uint256,uint256)",
     {"loan_terms_hash": LOAN, "proceeds": 90, "liquidation_fee": 9, "surplus": 0}),
    ("Protocol", "emitLoanRefinanced(bytes32,bytes32,bytes)", (bytes.fromhex(LOAN[2:]), bytes.fromhex(REFINANCED_LOAN[2:]), b"\x01\x02terms"),
     "LoanRefinanced(bytes32,bytes32,bytes)",
     {"old_loan_terms_hash": LOAN, "new_loan_terms_hash": REFINANCED_LOAN, "new_loan_terms": "0x" + b"\x01\x02terms".hex()}),
    ("Protocol", "emitLoanBreached(bytes32)", (bytes.fromhex(LOAN[2:]),), "LoanBreached(bytes32)", {"loan_terms_hash": LOAN}),
    ("Protocol", "emitLiquidationProceedsDeposited(bytes32,uint256,uint256,uint256)", (bytes.fromhex(LOAN[2:]), 80, 8, 1),
     "LiquidationProceedsDeposited(bytes32,uint256,uint256,uint256)",
     {"loan_terms_hash": LOAN, "proceeds": 80, "fee": 8, "surplus": 1}),
    ("Protocol", "emitFeePaid(bytes32,uint8,address,address,uint256)", (bytes.fromhex(LOAN[2:]), 255, ALICE, BOB, 2 * 10**18),
     "FeePaid(bytes32,uint8,address,address,uint256)",
     {"loan_terms_hash": LOAN, "fee_kind": 255, "recipient": ALICE, "fee_model": BOB, "amount": 2 * 10**18}),
    ("Protocol", "emitLoanTimelockDeposited(bytes32,uint256,uint64)", (bytes.fromhex(LOAN[2:]), 7 * 10**18, 2**64 - 1),
     "LoanTimelockDeposited(bytes32,uint256,uint64)",
     {"loan_terms_hash": LOAN, "usdai_amount": 7 * 10**18, "expiration": 2**64 - 1}),
    ("Protocol", "emitLoanTimelockCancelled(bytes32,uint256)", (bytes.fromhex(LOAN[2:]), 7 * 10**18),
     "LoanTimelockCancelled(bytes32,uint256)", {"loan_terms_hash": LOAN, "usdai_amount": 7 * 10**18}),
    ("Protocol", "emitBaseTokenConverted(address,uint256)", (ALICE, 457 * 10**6), "BaseTokenConverted(address,uint256)",
     {"caller": ALICE, "amount": 457 * 10**6}),
    ("Protocol", "emitLoanDepositTimelockDeposited(bytes32,uint256,uint64)", (bytes.fromhex(LOAN[2:]), 9 * 10**18, 2**40),
     "LoanDepositTimelockDeposited(bytes32,uint256,uint64)",
     {"loan_terms_hash": LOAN, "usdai_amount": 9 * 10**18, "expiration": 2**40}),
    ("Protocol", "emitLoanDepositTimelockCancelled(bytes32,uint256)", (bytes.fromhex(LOAN[2:]), 9 * 10**18),
     "LoanDepositTimelockCancelled(bytes32,uint256)", {"loan_terms_hash": LOAN, "usdai_amount": 9 * 10**18}),
    ("Protocol", "emitLoanEscrowTimelockDeposited(bytes32,uint256,uint256)",
     (bytes.fromhex(LOAN[2:]), 30 * 10**18, 1_585_489_599), "LoanEscrowTimelockDeposited(bytes32,uint256,uint256)",
     {"loan_terms_hash": LOAN, "usdai_amount": 30 * 10**18, "interest_rate": 1_585_489_599}),
    ("Protocol", "emitLoanEscrowTimelockWithdrawn(bytes32,uint256)", (bytes.fromhex(LOAN[2:]), 25 * 10**16),
     "LoanEscrowTimelockWithdrawn(bytes32,uint256)", {"loan_terms_hash": LOAN, "interest": 25 * 10**16}),
    ("Protocol", "emitLoanEscrowTimelockCancelled(bytes32,uint256,uint256)",
     (bytes.fromhex(LOAN[2:]), 30 * 10**18, 25 * 10**16), "LoanEscrowTimelockCancelled(bytes32,uint256,uint256)",
     {"loan_terms_hash": LOAN, "usdai_amount": 30 * 10**18, "interest": 25 * 10**16}),
    ("Protocol", "emitLoanMigrated(bytes32,bytes32,bytes)",
     (bytes.fromhex(LOAN[2:]), bytes.fromhex(REFINANCED_LOAN[2:]), b"\x00" * 64), "LoanMigrated(bytes32,bytes32,bytes)",
     {"old_loan_terms_hash": LOAN, "new_loan_terms_hash": REFINANCED_LOAN, "new_loan_terms": "0x" + "00" * 64}),
    ("Protocol", "emitPoolDeposited(address,uint128,uint256,uint256)", (CUSTODIAN, 2**128 - 1, 40 * 10**18, 40 * 10**6),
     "PoolDeposited(address,uint128,uint256,uint256)",
     {"pool": CUSTODIAN, "tick": str(2**128 - 1), "usdai_amount": 40 * 10**18, "pool_currency_amount": 40 * 10**6}),
    ("Protocol", "emitPoolRedeemed(address,uint128,uint256,uint128)", (CUSTODIAN, 5, 40 * 10**18, 7),
     "PoolRedeemed(address,uint128,uint256,uint128)",
     {"pool": CUSTODIAN, "tick": "5", "shares": 40 * 10**18, "redemption_id": "7"}),
    ("Protocol", "emitPoolWithdrawn(address,uint128,uint256,uint128,uint256,uint256)",
     (CUSTODIAN, 5, 40 * 10**18, 7, 40_500_000, 405 * 10**17), "PoolWithdrawn(address,uint128,uint256,uint128,uint256,uint256)",
     {"pool": CUSTODIAN, "tick": "5", "shares": 40 * 10**18, "redemption_id": "7", "pool_currency_amount": 40_500_000,
      "usdai_amount": 405 * 10**17}),
    ("Protocol", "emitBlacklisted(address,bool)", (BOB, True), "Blacklisted(address,bool)",
     {"account": BOB, "is_blacklisted": True}),
    ("Protocol", "emitBundleMinted(uint256,address,bytes)", (5, ALICE, b"\xaa" * 70), "BundleMinted(uint256,address,bytes)",
     {"token_id": "5", "account": ALICE, "encoded_bundle": "0x" + "aa" * 70}),
    ("Protocol", "emitBundleUnwrapped(uint256,address)", (5, ALICE), "BundleUnwrapped(uint256,address)",
     {"token_id": "5", "account": ALICE}),
]


def test_every_catalogue_event_emitted_by_solc_code_decodes_to_its_lake_columns(emitter_chain):
    chain, contracts = emitter_chain
    decoded_signatures = set()
    for contract, function, args, signature, expected in EMITTED:
        receipt = chain.transact(contracts[contract], function, *args)
        (raw_log,) = receipt["logs"]
        decoded = decode_log(raw_log)
        assert decoded is not None, signature
        assert decoded.event.signature == signature
        assert raw_log["topics"][0] == decoded.event.topic0  # solc's topic0 is the registry's
        for column, value in expected.items():
            assert decoded.args[column] == value, (signature, column)
            assert type(decoded.args[column]) is type(value), (signature, column)
        assert decoded.contract_address == contracts[contract]
        if decoded.event.word_plan is not None:  # the fast path gives what eth_abi gives
            topics = [topic.lower() for topic in raw_log["topics"]]
            assert _decode_words(decoded.event.word_plan, topics, raw_log["data"]) == _decode_arguments(
                decoded.event, topics[1:], bytes.fromhex(raw_log["data"][2:])), signature
        assert decoded.tx_hash == receipt["transactionHash"]
        assert decoded.block_number == int(receipt["blockNumber"], 16)
        decoded_signatures.add((decoded.event.topic0, decoded.event.indexed_count))
    assert decoded_signatures == {key for key, spec in REGISTRY.items() if spec.in_lake_columns}, \
        "every event of the ledger was emitted and decoded"


def test_checksummed_addresses_are_eip55():
    rng = random.Random(55)
    for address in ["0x" + "00" * 20, "0x" + "ff" * 20, *("0x%040x" % rng.getrandbits(160) for _ in range(500))]:
        assert checksummed(address) == checksummed(address.upper().replace("0X", "0x")) == to_checksum_address(address)
    for not_an_address in ("0x1234", "0x" + "g" * 40, "0x" + "ab" * 21):
        with pytest.raises(ValueError):
            checksummed(not_an_address)


def test_decode_log_returns_none_for_an_unknown_topic0_or_a_payload_that_does_not_fit(emitter_chain):
    chain, contracts = emitter_chain
    receipt = chain.transact(contracts["Protocol"], "emitNotInTheCatalogue(uint256,uint256)", 1, 2)
    assert decode_log(receipt["logs"][0]) is None
    transfer = dict(chain.transact(contracts["FungibleToken"], "mint(address,uint256)", ALICE, 1)["logs"][0])
    assert decode_log(transfer) is not None
    assert decode_log({**transfer, "data": "0x1234"}) is None
    # dirty padding does not fit the event, as eth_abi's strict decoding has it
    dirty_sender = "0x01" + transfer["topics"][1][4:]
    assert decode_log({**transfer, "topics": [transfer["topics"][0], dirty_sender, transfer["topics"][2]]}) is None
    assert decode_log({**transfer, "data": "0x" + "zz" * 32}) is None
    approval = chain.transact(contracts["TitleToken"], "setApprovalForAll(address,bool)", BOB, True)["logs"][0]
    assert decode_log(approval).args["approved"] is True
    assert decode_log({**approval, "data": "0x" + "00" * 31 + "02"}) is None
    # a fourth topic turns it into an ERC-721 Transfer: same topic0, different event
    erc721 = decode_log({**transfer, "topics": [*transfer["topics"], "0x" + "00" * 31 + "2a"], "data": "0x"})
    assert erc721.args["token_id"] == "42" and "value" not in erc721.args


# ---------------------------------------------------------------------------------------------- days and blocks

@pytest.fixture
def protocol_chain(bytecode):
    """Jan 1: deploy and trade; Jan 2: a repayment; Jan 3: no block at all; Jan 4: an amount too large to
    store; Jan 5: blocks that confirm Jan 4."""
    chain = LocalChain(utc("2026-01-01T00:00:00"))
    try:
        yield chain
    finally:
        chain.close()


def _profile(chain: LocalChain, contracts: dict[str, str]) -> ChainProfile:
    return ChainProfile(
        name="test",
        chain_id=31337,
        rpc_url=chain.url,
        confirmations=1,
        address_book=(
            AddressBookEntry("usdai", contracts["usdai"], True, "USDai", 18, 1),
            AddressBookEntry("susdai", contracts["susdai"], True, "sUSDai", 18, 1),
            AddressBookEntry("loan_router", contracts["loan_router"], True, None, None, 1),
            AddressBookEntry("base_token", contracts["base_token"], False, "PYUSD", 6, 1),
            AddressBookEntry("usdc", contracts["usdc"], False, "USDC", 6, 1),
            AddressBookEntry("gpu_title", contracts["gpu_title"], False, None, None, 1),
            AddressBookEntry("custodian", CUSTODIAN, False),
        ),
    )


def test_day_block_range_follows_block_timestamps_across_days():
    chain = LocalChain(utc("2026-01-01T00:00:00"))  # block 0
    try:
        rpc = chain.rpc
        assert chain.mine(utc("2026-01-01T12:00:00")) == 1
        assert chain.mine(utc("2026-01-01T23:59:59")) == 2
        assert chain.mine(utc("2026-01-02T00:00:00")) == 3
        assert chain.mine(utc("2026-01-02T18:00:00")) == 4
        assert chain.mine(utc("2026-01-04T00:00:01")) == 5
        assert day_block_range(rpc, date(2026, 1, 1)) == (0, 2)
        assert day_block_range(rpc, date(2026, 1, 2)) == (3, 4)
        assert day_block_range(rpc, date(2026, 1, 3)) is None
        assert day_block_range(rpc, date(2026, 1, 4)) == (5, 5)
        assert day_block_range(rpc, date(2025, 12, 31)) is None
        assert last_block_at_or_before(rpc, utc("2026-01-03T23:59:59")) == 4
        assert last_block_at_or_before(rpc, datetime(2026, 1, 2, tzinfo=timezone.utc)) == 3
        assert last_block_at_or_before(rpc, utc("2025-12-31T23:59:59")) is None
    finally:
        chain.close()


def test_ingest_chain_day_writes_the_days_events_state_and_block_range(bytecode, protocol_chain, tmp_path):
    chain = protocol_chain
    lake = Lake(tmp_path)
    chain.at(utc("2026-01-01T00:10:00"))
    contracts = {
        "base_token": chain.deploy(bytecode["FungibleToken"]),
        "usdc": chain.deploy(bytecode["FungibleToken"]),
        "gpu_title": chain.deploy(bytecode["TitleToken"]),
        "usdai": chain.deploy(bytecode["Protocol"]),
        "susdai": chain.deploy(bytecode["Protocol"]),
        "loan_router": chain.deploy(bytecode["Protocol"]),
    }
    profile = _profile(chain, contracts)
    usdai, susdai, router = contracts["usdai"], contracts["susdai"], contracts["loan_router"]

    chain.at(utc("2026-01-01T01:00:00")).transact(contracts["base_token"], "mint(address,uint256)", usdai, 1_000_000 * 10**6)
    deposited = chain.at(utc("2026-01-01T02:00:00")).transact(
        usdai, "emitDeposited(address,address,address,uint256,uint256)",
        ALICE, ALICE, contracts["base_token"], 1_000_000 * 10**6, 1_000_000 * 10**18)
    chain.at(utc("2026-01-01T03:00:00")).transact(
        router, "emitLoanOriginated(bytes32,address,address,uint256,uint256)",
        bytes.fromhex(LOAN[2:]), BOB, contracts["usdc"], 500_000 * 10**6, 5_000 * 10**6)
    unknown = chain.at(utc("2026-01-01T04:00:00")).transact(usdai, "emitNotInTheCatalogue(uint256,uint256)", 7, 9)
    chain.at(utc("2026-01-01T05:00:00")).transact(contracts["gpu_title"], "mint(address,uint256)", router, 42)
    chain.at(utc("2026-01-01T23:00:00")).transact(usdai, "setSupply(uint256,uint256)", 10**24, 5 * 10**21)
    chain.transact(usdai, "setBalance(address,uint256)", susdai, 2 * 10**23)
    chain.transact(contracts["usdc"], "mint(address,uint256)", router, 495_000 * 10**6)
    chain.transact(susdai, "setVault(uint256,uint256,uint256[3],uint256[5])",
                   2 * 10**23 + 12, 19 * 10**22, [1, 2, 3], [4, 5, 6, 7, 8])
    chain.transact(router, "setLoan(bytes32,uint8,uint64,uint64,uint256)",
                   bytes.fromhex(LOAN[2:]), 1, utc("2026-07-01T00:00:00"), utc("2026-07-08T00:00:00"), 500_000 * 10**18)
    last_of_day_1 = chain.mine(utc("2026-01-01T23:59:59"))
    first_of_day_2 = chain.mine(utc("2026-01-02T00:00:00"))

    # The head is on Jan 2, but the block one confirmation below it is not yet.
    with pytest.raises(DayNotConfirmed):
        ingest_chain_day(date(2026, 1, 1), profile, chain.rpc, lake)
    assert lake.read_table("chain_days", date(2026, 1, 1)) is None

    repaid = chain.at(utc("2026-01-02T00:30:00")).transact(
        router, "emitLoanRepaid(bytes32,address,uint256,uint256,uint256,uint256,bool)",
        bytes.fromhex(LOAN[2:]), BOB, 500_000 * 10**6, 1_234_567, 0, 0, True)
    chain.at(utc("2026-01-02T12:00:00")).transact(
        router, "setLoan(bytes32,uint8,uint64,uint64,uint256)",
        bytes.fromhex(LOAN[2:]), 2, utc("2026-07-01T00:00:00"), utc("2026-07-08T00:00:00"), 0)
    last_of_day_2 = int(chain.rpc.call("eth_blockNumber", []), 16)

    summary = ingest_chain_day(date(2026, 1, 1), profile, chain.rpc, lake, log_block_span=3)
    assert (summary.from_block, summary.to_block, summary.state_block) == (0, last_of_day_1, last_of_day_1)
    assert (summary.log_count, summary.decoded_events, summary.unknown_logs) == (6, 5, 1)
    assert summary.state_unavailable == ()

    events = lake.read_table("chain_events", date(2026, 1, 1)).to_pylist()
    assert [(e["contract_role"], e["event"]) for e in events] == [
        ("base_token", "Transfer"), ("usdai", "Deposited"), ("loan_router", "LoanOriginated"), ("gpu_title", "Transfer"),
        ("usdc", "Transfer"),
    ]
    mint, deposit, origination, title, _ = events
    assert mint["value"] == 10**12 and mint["to_address"] == usdai
    assert (deposit["deposit_amount"], deposit["mint_amount"]) == (10**12, 10**24)
    assert deposit["tx_hash"] == deposited["transactionHash"]
    assert deposit["block_time"] == datetime(2026, 1, 1, 2, 0, 0)
    assert deposit["partition_date"] == date(2026, 1, 1)
    assert (origination["loan_terms_hash"], origination["principal"], origination["origination_fee"]) == (
        LOAN, 500_000 * 10**6, 5_000 * 10**6)
    assert title["token_id"] == "42" and title["value"] is None

    (kept_raw,) = lake.read_table("chain_logs_unknown", date(2026, 1, 1)).to_pylist()
    assert kept_raw["tx_hash"] == unknown["transactionHash"]
    assert json.loads(kept_raw["topics"]) == [topic.lower() for topic in unknown["logs"][0]["topics"]]
    assert kept_raw["contract_role"] == "usdai"

    state = {(r["contract_role"], r["method"], r["key"], r["field"]): r["value"]
             for r in lake.read_table("chain_state", date(2026, 1, 1)).to_pylist()}
    assert state[("usdai", "totalSupply", "", "value")] == 10**24
    assert state[("usdai", "bridgedSupply", "", "value")] == 5 * 10**21
    assert state[("usdai", "balanceOf", susdai, "value")] == 2 * 10**23
    assert state[("base_token", "balanceOf", usdai, "value")] == 10**12
    assert state[("usdc", "balanceOf", router, "value")] == 495_000 * 10**6
    assert state[("usdc", "balanceOf", usdai, "value")] == 0
    assert state[("susdai", "totalAssets", "", "value")] == 2 * 10**23 + 12
    assert [state[("susdai", "loanRouterBalances", "", f)] for f in ("repayments", "outstandingPrincipal", "accruedInterest")] == [1, 2, 3]
    assert [state[("susdai", "redemptionQueueInfo", "", f)] for f in ("index", "head", "tail", "pendingShares", "balance")] == [4, 5, 6, 7, 8]
    assert state[("loan_router", "loanState", LOAN, "status")] == 1
    assert state[("loan_router", "loanState", LOAN, "scaledBalance")] == 500_000 * 10**18
    assert state[("loan_router", "loanState", LOAN, "maturity")] == utc("2026-07-01T00:00:00")
    assert state[("usdai", "balanceOf", router, "value")] == 0
    # 2 usdai + usdai.balanceOf × 3 protocol holders + 2 tokens × 3 protocol holders + 2 + 3 + 5 vault fields
    # + 4 loan fields
    assert len(state) == 2 + 3 + 6 + 10 + 4

    (day_row,) = lake.read_table("chain_days", date(2026, 1, 1)).to_pylist()
    assert day_row["from_block"] == 0 and day_row["to_block"] == last_of_day_1 and day_row["log_count"] == 6
    assert day_row["to_block_time"] == datetime(2026, 1, 1, 23, 59, 59)
    book = lake.read_table("chain_address_book", date(2026, 1, 1)).to_pylist()
    assert {(r["role"], r["is_protocol"]) for r in book} >= {("usdai", True), ("custodian", False), ("usdc", False)}

    # Re-ingesting the day gives the same bytes.
    tables = ["chain_events", "chain_logs_unknown", "chain_state", "chain_days", "chain_address_book"]
    first_bytes = {t: lake.partition_path(t, date(2026, 1, 1)).read_bytes() for t in tables}
    ingest_chain_day(date(2026, 1, 1), profile, chain.rpc, lake)
    assert {t: lake.partition_path(t, date(2026, 1, 1)).read_bytes() for t in tables} == first_bytes

    # Jan 4 carries an amount the lake cannot hold; Jan 3 has no block at all.
    huge = chain.at(utc("2026-01-04T08:00:00")).transact(usdai, "emitTransfer(address,address,uint256)", ALICE, BOB, 10**38)
    chain.mine(utc("2026-01-05T00:00:00"))
    chain.mine(utc("2026-01-05T00:00:01"))

    # Jan 2: the loan originated on Jan 1 is read from the lake, its state from the chain.
    day_2 = ingest_chain_day(date(2026, 1, 2), profile, chain.rpc, lake)
    assert (day_2.from_block, day_2.to_block) == (first_of_day_2, last_of_day_2)
    (repayment,) = lake.read_table("chain_events", date(2026, 1, 2)).to_pylist()
    assert repayment["tx_hash"] == repaid["transactionHash"]
    assert (repayment["interest"], repayment["is_repaid"]) == (1_234_567, True)
    state_2 = {(r["method"], r["key"], r["field"]): r["value"] for r in lake.read_table("chain_state", date(2026, 1, 2)).to_pylist()}
    assert state_2[("loanState", LOAN, "status")] == 2 and state_2[("loanState", LOAN, "scaledBalance")] == 0

    day_3 = ingest_chain_day(date(2026, 1, 3), profile, chain.rpc, lake)
    assert (day_3.from_block, day_3.to_block, day_3.state_block, day_3.log_count) == (None, None, last_of_day_2, 0)
    assert lake.read_table("chain_events", date(2026, 1, 3)).num_rows == 0
    assert lake.read_table("chain_events", date(2026, 1, 3)).schema == lake.read_table("chain_events", date(2026, 1, 1)).schema
    (empty_day,) = lake.read_table("chain_days", date(2026, 1, 3)).to_pylist()
    assert empty_day["to_block"] is None and empty_day["state_block"] == last_of_day_2
    assert lake.read_table("chain_state", date(2026, 1, 3)).num_rows == len(state)

    with pytest.raises(RawAmountOutOfRange, match=huge["transactionHash"]):
        ingest_chain_day(date(2026, 1, 4), profile, chain.rpc, lake)
    assert lake.read_table("chain_events", date(2026, 1, 4)) is None

    with pytest.raises(DayNotConfirmed):
        ingest_chain_day(date(2026, 1, 5), profile, chain.rpc, lake)


def test_profiles_load_the_sandbox_deployment_and_hide_the_rpc_url(tmp_path, monkeypatch):
    (tmp_path / "sandbox").mkdir()
    (tmp_path / "sandbox" / "deployment.json").write_text(json.dumps({
        "profile": "sandbox", "rpc_url": "http://127.0.0.1:1/secret-key", "chain_id": 31337, "confirmations": 1,
        "address_book": [
            {"role": "usdai", "address": "0x" + "ab" * 20, "is_protocol": True, "token_symbol": "USDai",
             "token_decimals": 18, "start_block": 1},
            {"role": "custodian", "address": CUSTODIAN.lower(), "is_protocol": False},
        ],
    }))
    sandbox = load_profile("sandbox", tmp_path)
    assert sandbox.address_book[0].address == to_checksum_address("0x" + "ab" * 20)
    assert sandbox.watched_addresses == [to_checksum_address("0x" + "ab" * 20)]
    assert "secret-key" not in repr(sandbox)

    monkeypatch.delenv("BACKED_RPC_URL", raising=False)
    with pytest.raises(ProfileError, match="BACKED_RPC_URL"):
        load_profile("arbitrum", tmp_path)
    monkeypatch.setenv("BACKED_RPC_URL", "https://arb.example/v2/secret-key")
    monkeypatch.setenv("BACKED_CUSTODIAN_ADDRESS", CUSTODIAN.lower())
    arbitrum = load_profile("arbitrum", tmp_path)
    assert arbitrum.chain_id == 42161 and "secret-key" not in repr(arbitrum)
    assert arbitrum.entries("usdai")[0].address == "0x0A1a1A107E45b7Ced86833863f482BC5f4ed82EF"
    assert {e.token_symbol for e in arbitrum.entries("base_token")} == {"wM", "PYUSD"}
    assert len(arbitrum.entries("loan_router")) == 2
    assert arbitrum.entries("custodian")[0].address == CUSTODIAN
    assert CUSTODIAN not in arbitrum.watched_addresses
    assert arbitrum.finality == "finalized" and sandbox.finality == "depth"
    assert (arbitrum.max_concurrency, arbitrum.requests_per_second) == (4, None)
    monkeypatch.setenv("BACKED_RPC_REQUESTS_PER_SECOND", "12.5")
    monkeypatch.setenv("BACKED_RPC_CONCURRENCY", "2")
    limited = load_profile("arbitrum", tmp_path)
    assert (limited.max_concurrency, limited.requests_per_second) == (2, 12.5)
    client = rpc_client(limited)
    assert client.max_concurrency == 2 and "secret-key" not in repr(client)
    client.close()
    monkeypatch.setenv("BACKED_RPC_CONCURRENCY", "many")
    with pytest.raises(ProfileError, match="BACKED_RPC_CONCURRENCY"):
        load_profile("arbitrum", tmp_path)


def test_rpc_errors_never_show_the_url():
    rpc = JsonRpcClient(f"http://127.0.0.1:{free_port()}/secret-key", timeout=1, attempts=2, backoff_s=0.01)
    with pytest.raises(RpcUnavailable) as failure:
        rpc.call("eth_blockNumber", [])
    assert "secret-key" not in str(failure.value) and failure.value.__cause__ is None
    assert "secret-key" not in repr(rpc)


# ---------------------------------------------------------------------------------------------- the sandbox

SANDBOX_START = date(2026, 1, 1)
SANDBOX_DAYS = 3


@pytest.fixture(scope="module")
def sandbox_lake(tmp_path_factory):
    """Three simulated days on the sandbox chain, every source of every day ingested into the lake."""
    simulator = pytest.importorskip("sandbox.simulator")
    from sandbox.anvil import AnvilNode

    from assets.custodian.statements import ingest_custodian_day
    from assets.inbox.intake import take_in_inbox
    from assets.loan_tapes.tape import ingest_loan_tapes_day
    from assets.telemetry.scrapes import ingest_telemetry_day

    home = tmp_path_factory.mktemp("sandbox") / "home"
    days = [date(2026, 1, 1 + offset) for offset in range(SANDBOX_DAYS)]
    with AnvilNode(simulator.genesis_timestamp(SANDBOX_START)) as node:
        result = simulator.simulate(home, node.rpc_url, days=SANDBOX_DAYS, seed=7, start=SANDBOX_START)
        profile = load_profile("sandbox", home)
        lake = Lake(home)
        summaries = {}
        with JsonRpcClient(profile.rpc_url) as rpc:
            take_in_inbox(lake)
            for day in days:
                summaries[day] = {
                    "chain": ingest_chain_day(day, profile, rpc, lake),
                    "files": [*ingest_loan_tapes_day(day, lake), *ingest_telemetry_day(day, lake),
                              *ingest_custodian_day(day, lake)],
                }
    return home, lake, result, summaries


def lake_query(lake: Lake, sql: str, params: list | None = None) -> list[tuple]:
    """`sql` with `{table}` placeholders read as the lake's Parquet of that table over every day."""
    import duckdb

    def table(name: str) -> str:
        return f"read_parquet('{lake.root / name}/date=*/part-0.parquet', hive_partitioning = false)"

    names = re.findall(r"\{(\w+)\}", sql)
    with duckdb.connect() as con:
        return con.execute(sql.format(**{name: table(name) for name in names}), params or []).fetchall()


def test_sandbox_days_ingest_to_the_numbers_the_simulator_closed_each_day_with(sandbox_lake):
    home, lake, result, summaries = sandbox_lake
    closes = {close.date: close for close in result.days}
    assert sorted(summaries) == sorted(closes)
    supply_from_events = dict(lake_query(lake, """
        select partition_date, sum(sum(case when from_address = '0x0000000000000000000000000000000000000000' then value
                                            when to_address = '0x0000000000000000000000000000000000000000' then -value
                                            else 0 end)) over (order by partition_date)
        from {chain_events} where contract_role = 'usdai' and event = 'Transfer' group by partition_date"""))
    for day, close in closes.items():
        rows = lake_query(lake, "select contract_role, contract_address, method, key, field, value from {chain_state} "
                                "where partition_date = ?", [day])
        state = {(role, method, key, field): int(value) for role, _, method, key, field, value in rows}
        usdai, susdai = result.address_of("usdai"), result.address_of("susdai")
        assert state[("usdai", "totalSupply", "", "value")] == close.usdai_total_supply == supply_from_events[day]
        # Both base tokens are read (wM, and PYUSD of USDai's v1.4 release); the book names the one USDai uses.
        reserve = {token: int(value) for role, token, method, key, _, value in rows
                   if (role, method, key) == ("base_token", "balanceOf", usdai)}
        base_tokens = [entry.address for entry in result.address_book if entry.role == "base_token"]
        assert reserve == {base_tokens[0]: close.usdai_reserve, base_tokens[1]: 0}
        assert lake_query(lake, "select role, address from {chain_address_book} where partition_date = ? and "
                                "role like '%base_token'", [day]) == [("base_token", base_tokens[0]),
                                                                      ("inactive_base_token", base_tokens[1])]
        assert state[("susdai", "totalAssets", "", "value")] == close.susdai_total_assets
        chain = summaries[day]["chain"]
        assert chain.to_block == chain.state_block == close.last_block
        assert chain.state_unavailable == () and chain.decoded_events > 0
    # The registry knows every log of the sandbox's contracts: the swap's `Swapped` is the adapters' declared event.
    assert lake_query(lake, "select count(*) from {chain_logs_unknown}") == [(0,)]
    # (filtered here, not in SQL: DuckDB 2.0 answers `model is null` with every row of a Parquet row group whose
    # non-null values are all one value, as `model` is on a day of ledger events and one swap)
    kinds = lake_query(lake, "select distinct contract_role, signature, model from {chain_events}")
    assert [kind for kind in kinds if kind[2] is None] == [("swap", "Swapped(address,address,uint256,uint256)", None)]


def test_sandbox_loan_tapes_tie_to_the_chain_and_collateral_gpus_report_all_day(sandbox_lake):
    home, lake, result, _ = sandbox_lake
    tape_vs_chain = lake_query(lake, """
        select t.partition_date, t.loan_terms_hash, t.principal_outstanding, t.status, balance.value, status.value,
               (select count(*) from {chain_events} e where e.event = 'LoanOriginated'
                  and e.loan_terms_hash = t.loan_terms_hash and e.partition_date <= t.partition_date)
        from {loan_tapes} t
        left join {chain_state} balance on balance.partition_date = t.partition_date and balance.method = 'loanState'
             and balance.key = t.loan_terms_hash and balance.field = 'scaledBalance'
        left join {chain_state} status on status.partition_date = t.partition_date and status.method = 'loanState'
             and status.key = t.loan_terms_hash and status.field = 'status'""")
    assert len(tape_vs_chain) >= SANDBOX_DAYS
    for day, loan, outstanding, tape_status, scaled_balance, chain_status, originations in tape_vs_chain:
        assert originations == 1, loan
        assert outstanding * 10**18 == scaled_balance, (day, loan)
        assert (tape_status, chain_status) in {("current", 1), ("delinquent", 1), ("repaid", 2), ("liquidated", 3),
                                               ("liquidated", 4)}, (day, loan)
    scrape_interval_s = json.loads((home / "sandbox" / "deployment.json").read_text())["scrape_interval_s"]
    coverage = lake_query(lake, """
        select c.partition_date, c.gpu_serial, g.samples, g.scrape_interval_s, g.minutes_online
        from {loan_collateral} c left join {gpu_telemetry_daily} g
          on g.partition_date = c.partition_date and g.gpu_serial = c.gpu_serial""")
    assert coverage
    for day, serial, samples, interval, minutes_online in coverage:
        assert (samples, interval, minutes_online) == (86_400 // scrape_interval_s, scrape_interval_s, 1440.0), (day, serial)


def test_sandbox_custodian_cash_rolls_forward_and_receipts_name_the_chain_transfer(sandbox_lake):
    _, lake, _, _ = sandbox_lake
    rows = lake_query(lake, """
        select partition_date, record_type, transaction_type, amount, reference from {custodian_statements}
        order by partition_date, source_row""")
    days = sorted({row[0] for row in rows})
    assert len(days) == SANDBOX_DAYS
    for day in days:
        cash = {"opening_cash": Decimal(0), "closing_cash": Decimal(0)}
        movement = Decimal(0)
        for _, record_type, transaction_type, amount, _ in (row for row in rows if row[0] == day):
            if record_type in cash:
                cash[record_type] = amount
            elif transaction_type in ("cash_receipt", "tbill_maturity"):
                movement += amount
            elif transaction_type == "tbill_purchase":
                movement -= amount
        assert cash["opening_cash"] + movement == cash["closing_cash"], day
    receipts = lake_query(lake, """
        select c.reference, e.withdraw_amount, c.amount from {custodian_statements} c
        join {chain_events} e on e.tx_hash = c.reference and e.event = 'Withdrawn'
        where c.transaction_type = 'cash_receipt'""")
    assert receipts and all(Decimal(raw) / 10**6 == amount for _, raw, amount in receipts)


def test_sandbox_manifest_lists_every_inbox_file_with_nothing_quarantined(sandbox_lake):
    home, lake, _, summaries = sandbox_lake
    for day, summary in summaries.items():
        listed = {(r["source"], r["file_name"]): r for r in lake.read_table("input_files", day).to_pylist()}
        # Ingested files are moved to inbox/archive/<source>/<day>/<sha256>-<name>, never deleted.
        archived = {(p.parts[-3], p.name.split("-", 1)[1]): p
                    for p in (home / "inbox" / "archive").glob(f"*/{day.isoformat()}/*")}
        assert set(listed) == set(archived) and {s for s, _ in archived} == {"loan_tapes", "telemetry", "custodian"}
        for file_summary in summary["files"]:
            row = listed[(file_summary.source, file_summary.file_name)]
            assert row["rows_in"] == row["rows_accepted"] > 0 and row["rows_quarantined"] == 0
            assert row["sha256"] == hashlib.sha256(
                archived[(file_summary.source, file_summary.file_name)].read_bytes()).hexdigest()
