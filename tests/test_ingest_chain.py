"""Chain ingestion against a real anvil: contracts compiled by solc emit the catalogue's events, blocks are
mined on chosen UTC days, and the day's Parquet is read back."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import subprocess
import time
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from assets.chain.blocks import day_block_range, last_block_at_or_before
from assets.chain.ingest import DayNotConfirmed, RawAmountOutOfRange, ingest_chain_day
from assets.chain.profiles import AddressBookEntry, ChainProfile, ProfileError, load_profile
from assets.chain.registry import EVENT_DECLARATIONS, REGISTRY, decode_log, signature_topic0
from assets.chain.rpc import JsonRpcClient, RpcUnavailable
from assets.lake import Lake

REPO = Path(__file__).resolve().parent.parent
ANVIL = REPO / "node_modules" / ".bin" / "anvil"
SOLCJS = REPO / "node_modules" / ".bin" / "solcjs"

EMITTERS_SOL = """
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

contract FungibleToken {
    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    mapping(address => uint256) public balanceOf;
    function mint(address to, uint256 value) external { balanceOf[to] += value; emit Transfer(address(0), to, value); }
    function approve(address spender, uint256 value) external { emit Approval(msg.sender, spender, value); }
}

contract TitleToken {
    event Transfer(address indexed from, address indexed to, uint256 indexed tokenId);
    event Approval(address indexed owner, address indexed approved, uint256 indexed tokenId);
    event ApprovalForAll(address indexed owner, address indexed operator, bool approved);
    function mint(address to, uint256 tokenId) external { emit Transfer(address(0), to, tokenId); }
    function approve(address approved, uint256 tokenId) external { emit Approval(msg.sender, approved, tokenId); }
    function setApprovalForAll(address operator, bool approved) external { emit ApprovalForAll(msg.sender, operator, approved); }
}

contract Protocol {
    event Transfer(address indexed from, address indexed to, uint256 value);
    event Deposited(address indexed caller, address indexed recipient, address depositToken, uint256 depositAmount, uint256 mintAmount);
    event Withdrawn(address indexed caller, address indexed recipient, address withdrawToken, uint256 usdaiAmount, uint256 withdrawAmount);
    event Harvested(uint256 usdaiAmount);
    event BlacklistUpdated(address indexed account, bool isBlacklisted);
    event Deposit(address indexed sender, address indexed owner, uint256 assets, uint256 shares);
    event Withdraw(address indexed sender, address indexed receiver, address indexed owner, uint256 assets, uint256 shares);
    event RedeemRequest(address indexed controller, address indexed owner, uint256 indexed requestId, address sender, uint256 shares);
    event RedemptionProcessed(uint256 indexed redemptionId, address indexed controller, uint256 fulfilledShares, uint256 amount, uint256 pendingShares);
    event RedemptionsServiced(uint256 shares, uint256 amount, bool allRedemptionsServiced);
    event BaseYieldDeposited(uint256 depositedAmount, uint256 adminFee);
    event BaseYieldDeposited(uint256 depositedAmount);
    event LoanRepaymentDeposited(address indexed currencyToken, uint256 depositAmount, uint256 usdaiDepositAmount);
    event AdminFeeWithdrawn(address indexed currencyToken, uint256 adminFeeAmount, uint256 usdaiDepositAmount);
    event LoanOriginated(bytes32 indexed loanTermsHash, address indexed borrower, address indexed currencyToken, uint256 principal, uint256 originationFee);
    event LenderPositionMinted(bytes32 indexed loanTermsHash, address indexed lender, uint8 indexed trancheIndex, uint256 tokenId);
    event LenderRepaid(bytes32 indexed loanTermsHash, address indexed lender, uint8 indexed trancheIndex, uint256 principal, uint256 interest, uint256 prepay);
    event LoanRepaid(bytes32 indexed loanTermsHash, address indexed borrower, uint256 principal, uint256 interest, uint256 prepayment, uint256 exitFee, bool isRepaid);
    event LoanLiquidated(bytes32 indexed loanTermsHash);
    event LenderLiquidationRepaid(bytes32 indexed loanTermsHash, address indexed lender, uint8 indexed trancheIndex, uint256 principal, uint256 interest);
    event LoanCollateralLiquidated(bytes32 indexed loanTermsHash, uint256 proceeds, uint256 liquidationFee, uint256 surplus);
    event LoanRefinanced(bytes32 indexed oldLoanTermsHash, bytes32 indexed newLoanTermsHash, bytes newLoanTerms);
    event LoanBreached(bytes32 indexed loanTermsHash);
    event LiquidationProceedsDeposited(bytes32 indexed loanTermsHash, uint256 proceeds, uint256 fee, uint256 surplus);
    event BundleMinted(uint256 indexed tokenId, address indexed account, bytes encodedBundle);
    event BundleUnwrapped(uint256 indexed tokenId, address indexed account);
    event NotInTheCatalogue(uint256 indexed what, uint256 value);

    struct LoanState { uint8 status; uint64 maturity; uint64 repaymentDeadline; uint256 scaledBalance; }

    uint256 public totalSupply;
    uint256 public bridgedSupply;
    uint256 public totalAssets;
    uint256 public totalShares;
    mapping(address => uint256) public balanceOf;
    mapping(bytes32 => LoanState) private loans;
    uint256[3] private routerBalances;
    uint256[5] private queueInfo;

    function setSupply(uint256 supply, uint256 bridged) external { totalSupply = supply; bridgedSupply = bridged; }
    function setBalance(address holder, uint256 value) external { balanceOf[holder] = value; }
    function setVault(uint256 assets, uint256 shares, uint256[3] calldata balances, uint256[5] calldata queue) external {
        totalAssets = assets; totalShares = shares; routerBalances = balances; queueInfo = queue;
    }
    function setLoan(bytes32 h, uint8 status, uint64 maturity, uint64 deadline, uint256 scaledBalance) external {
        loans[h] = LoanState(status, maturity, deadline, scaledBalance);
    }
    function loanState(bytes32 h) external view returns (LoanState memory) { return loans[h]; }
    function loanRouterBalances() external view returns (uint256, uint256, uint256) { return (routerBalances[0], routerBalances[1], routerBalances[2]); }
    function redemptionQueueInfo() external view returns (uint256, uint256, uint256, uint256, uint256) { return (queueInfo[0], queueInfo[1], queueInfo[2], queueInfo[3], queueInfo[4]); }

    function emitTransfer(address from, address to, uint256 value) external { emit Transfer(from, to, value); }
    function emitDeposited(address caller, address recipient, address token, uint256 amount, uint256 minted) external { emit Deposited(caller, recipient, token, amount, minted); }
    function emitWithdrawn(address caller, address recipient, address token, uint256 usdaiAmount, uint256 amount) external { emit Withdrawn(caller, recipient, token, usdaiAmount, amount); }
    function emitHarvested(uint256 amount) external { emit Harvested(amount); }
    function emitBlacklistUpdated(address account, bool listed) external { emit BlacklistUpdated(account, listed); }
    function emitDeposit(address sender, address owner, uint256 assets, uint256 shares) external { emit Deposit(sender, owner, assets, shares); }
    function emitWithdraw(address sender, address receiver, address owner, uint256 assets, uint256 shares) external { emit Withdraw(sender, receiver, owner, assets, shares); }
    function emitRedeemRequest(address controller, address owner, uint256 requestId, address sender, uint256 shares) external { emit RedeemRequest(controller, owner, requestId, sender, shares); }
    function emitRedemptionProcessed(uint256 id, address controller, uint256 fulfilled, uint256 amount, uint256 pending) external { emit RedemptionProcessed(id, controller, fulfilled, amount, pending); }
    function emitRedemptionsServiced(uint256 shares, uint256 amount, bool all) external { emit RedemptionsServiced(shares, amount, all); }
    function emitBaseYieldDeposited(uint256 amount, uint256 fee) external { emit BaseYieldDeposited(amount, fee); }
    function emitBaseYieldDepositedV1(uint256 amount) external { emit BaseYieldDeposited(amount); }
    function emitLoanRepaymentDeposited(address token, uint256 amount, uint256 usdaiAmount) external { emit LoanRepaymentDeposited(token, amount, usdaiAmount); }
    function emitAdminFeeWithdrawn(address token, uint256 fee, uint256 usdaiAmount) external { emit AdminFeeWithdrawn(token, fee, usdaiAmount); }
    function emitLoanOriginated(bytes32 h, address borrower, address token, uint256 principal, uint256 fee) external { emit LoanOriginated(h, borrower, token, principal, fee); }
    function emitLenderPositionMinted(bytes32 h, address lender, uint8 tranche, uint256 tokenId) external { emit LenderPositionMinted(h, lender, tranche, tokenId); }
    function emitLenderRepaid(bytes32 h, address lender, uint8 tranche, uint256 principal, uint256 interest, uint256 prepay) external { emit LenderRepaid(h, lender, tranche, principal, interest, prepay); }
    function emitLoanRepaid(bytes32 h, address borrower, uint256 principal, uint256 interest, uint256 prepayment, uint256 exitFee, bool repaid) external { emit LoanRepaid(h, borrower, principal, interest, prepayment, exitFee, repaid); }
    function emitLoanLiquidated(bytes32 h) external { emit LoanLiquidated(h); }
    function emitLenderLiquidationRepaid(bytes32 h, address lender, uint8 tranche, uint256 principal, uint256 interest) external { emit LenderLiquidationRepaid(h, lender, tranche, principal, interest); }
    function emitLoanCollateralLiquidated(bytes32 h, uint256 proceeds, uint256 fee, uint256 surplus) external { emit LoanCollateralLiquidated(h, proceeds, fee, surplus); }
    function emitLoanRefinanced(bytes32 oldHash, bytes32 newHash, bytes calldata terms) external { emit LoanRefinanced(oldHash, newHash, terms); }
    function emitLoanBreached(bytes32 h) external { emit LoanBreached(h); }
    function emitLiquidationProceedsDeposited(bytes32 h, uint256 proceeds, uint256 fee, uint256 surplus) external { emit LiquidationProceedsDeposited(h, proceeds, fee, surplus); }
    function emitBundleMinted(uint256 tokenId, address account, bytes calldata bundle) external { emit BundleMinted(tokenId, account, bundle); }
    function emitBundleUnwrapped(uint256 tokenId, address account) external { emit BundleUnwrapped(tokenId, account); }
    function emitNotInTheCatalogue(uint256 what, uint256 value) external { emit NotInTheCatalogue(what, value); }
}
"""

ALICE = to_checksum_address("0x" + "a1" * 20)
BOB = to_checksum_address("0x" + "b0" * 20)
CUSTODIAN = to_checksum_address("0x" + "c5" * 20)
LOAN = "0x" + "11" * 32
REFINANCED_LOAN = "0x" + "22" * 32


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalChain:
    """A bare anvil on 127.0.0.1 whose blocks are mined at chosen times by the test."""

    def __init__(self, genesis_timestamp: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(ANVIL), "--host", "127.0.0.1", "--port", str(self.port), "--timestamp", str(genesis_timestamp),
             "--silent"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.rpc = JsonRpcClient(self.url, timeout=10, attempts=1)
        deadline = time.monotonic() + 15
        while True:
            try:
                self.account = self.rpc.call("eth_accounts", [])[0]
                break
            except RpcUnavailable:
                if time.monotonic() > deadline:
                    self.close()
                    raise
                time.sleep(0.1)

    def close(self) -> None:
        self.rpc.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def at(self, timestamp: int) -> LocalChain:
        self.rpc.call("evm_setNextBlockTimestamp", [timestamp])
        return self

    def mine(self, timestamp: int) -> int:
        self.at(timestamp).rpc.call("evm_mine", [])
        return int(self.rpc.call("eth_blockNumber", []), 16)

    def deploy(self, bytecode: str) -> str:
        receipt = self._send({"from": self.account, "data": "0x" + bytecode})
        return to_checksum_address(receipt["contractAddress"])

    def transact(self, to: str, function: str, *args) -> dict:
        types = re.match(r"^\w+\((.*)\)$", function).group(1)
        type_list = [part for part in types.split(",") if part]
        data = keccak(text=function)[:4] + abi_encode(type_list, list(args))
        return self._send({"from": self.account, "to": to, "data": "0x" + data.hex()})

    def _send(self, transaction: dict) -> dict:
        tx_hash = self.rpc.call("eth_sendTransaction", [transaction])
        deadline = time.monotonic() + 10
        # anvil mines each transaction at once, but may answer before the receipt is stored
        while (receipt := self.rpc.call("eth_getTransactionReceipt", [tx_hash])) is None:
            assert time.monotonic() < deadline, f"transaction {tx_hash} was not mined"
            time.sleep(0.02)
        assert receipt["status"] == "0x1", receipt
        return receipt


@pytest.fixture(scope="module")
def bytecode(tmp_path_factory) -> dict[str, str]:
    work = tmp_path_factory.mktemp("solc")
    (work / "Emitters.sol").write_text(EMITTERS_SOL)
    subprocess.run(
        [str(SOLCJS), "--bin", "--optimize", "-o", str(work / "out"), "Emitters.sol"],
        cwd=work, check=True, capture_output=True, timeout=120,
    )
    return {
        name: (work / "out" / f"Emitters_sol_{name}.bin").read_text().strip()
        for name in ("FungibleToken", "TitleToken", "Protocol")
    }


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
    assert len(REGISTRY) == len(EVENT_DECLARATIONS)
    for _, declaration in EVENT_DECLARATIONS:
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
        assert decoded.tx_hash == receipt["transactionHash"]
        assert decoded.block_number == int(receipt["blockNumber"], 16)
        decoded_signatures.add((decoded.event.topic0, decoded.event.indexed_count))
    assert decoded_signatures == set(REGISTRY), "every registry entry was emitted and decoded"


def test_decode_log_returns_none_for_an_unknown_topic0_or_a_payload_that_does_not_fit(emitter_chain):
    chain, contracts = emitter_chain
    receipt = chain.transact(contracts["Protocol"], "emitNotInTheCatalogue(uint256,uint256)", 1, 2)
    assert decode_log(receipt["logs"][0]) is None
    transfer = dict(chain.transact(contracts["FungibleToken"], "mint(address,uint256)", ALICE, 1)["logs"][0])
    assert decode_log(transfer) is not None
    assert decode_log({**transfer, "data": "0x1234"}) is None
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
    # 2 usdai + 1 usdai.balanceOf + 2 tokens × 3 protocol holders + 2 + 3 + 5 vault fields + 4 loan fields
    assert len(state) == 3 + 6 + 10 + 4

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

    from assets.custodian import ingest_custodian_day
    from assets.loan_tapes import ingest_loan_tapes_day
    from assets.telemetry import ingest_telemetry_day

    home = tmp_path_factory.mktemp("sandbox") / "home"
    days = [date(2026, 1, 1 + offset) for offset in range(SANDBOX_DAYS)]
    with AnvilNode(simulator.genesis_timestamp(SANDBOX_START)) as node:
        result = simulator.simulate(home, node.rpc_url, days=SANDBOX_DAYS, seed=7, start=SANDBOX_START)
        profile = load_profile("sandbox", home)
        lake = Lake(home)
        summaries = {}
        with JsonRpcClient(profile.rpc_url) as rpc:
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
        state = {(role, method, key, field): int(value) for role, method, key, field, value in lake_query(
            lake, "select contract_role, method, key, field, value from {chain_state} where partition_date = ?", [day])}
        usdai, susdai = result.address_of("usdai"), result.address_of("susdai")
        assert state[("usdai", "totalSupply", "", "value")] == close.usdai_total_supply == supply_from_events[day]
        assert state[("base_token", "balanceOf", usdai, "value")] == close.usdai_reserve
        assert state[("susdai", "totalAssets", "", "value")] == close.susdai_total_assets
        chain = summaries[day]["chain"]
        assert chain.to_block == chain.state_block == close.last_block
        assert chain.state_unavailable == () and chain.decoded_events > 0
    # The only logs the registry does not know are the sandbox swap's own events, kept raw.
    assert {role for (role,) in lake_query(lake, "select distinct contract_role from {chain_logs_unknown}")} <= {"swap"}


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
        in_inbox = {(path.parent.name, path.name) for path in (home / "inbox").glob(f"*/*-{day.isoformat()}.*")}
        assert set(listed) == in_inbox and {source for source, _ in in_inbox} == {"loan_tapes", "telemetry", "custodian"}
        for file_summary in summary["files"]:
            row = listed[(file_summary.source, file_summary.file_name)]
            assert row["rows_in"] == row["rows_accepted"] > 0 and row["rows_quarantined"] == 0
            assert row["sha256"] == hashlib.sha256((home / "inbox" / file_summary.source / file_summary.file_name)
                                                   .read_bytes()).hexdigest()
