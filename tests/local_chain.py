"""A bare anvil for the chain tests and the chain bench, whose blocks are mined at chosen times, and the Solidity
deployed on it: emitters of every catalogue event (compiled by solc, so topic0s come from the compiler, not from
us) and a Multicall3-compatible aggregator."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from assets.chain.rpc import JsonRpcClient, RpcUnavailable
from sandbox.anvil import anvil_binary

REPO = Path(__file__).resolve().parent.parent
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

// LoanRouterV2's loanState: the repayment count and origination time where V1 has the maturity and deadline.
contract RouterV2 {
    struct LoanStateV2 { uint8 status; uint16 repaymentCount; uint64 originationTimestamp; uint256 scaledBalance; }
    mapping(bytes32 => LoanStateV2) loans;
    function setLoan(bytes32 h, uint8 status, uint16 repayments, uint64 originated, uint256 scaledBalance) external {
        loans[h] = LoanStateV2(status, repayments, originated, scaledBalance);
    }
    function loanState(bytes32 h) external view returns (LoanStateV2 memory) { return loans[h]; }
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
    event FeePaid(bytes32 indexed loanTermsHash, uint8 indexed kind, address indexed recipient, address feeModel, uint256 amount);
    event BundleMinted(uint256 indexed tokenId, address indexed account, bytes encodedBundle);
    event BundleUnwrapped(uint256 indexed tokenId, address indexed account);
    event NotInTheCatalogue(uint256 indexed what, uint256 value);
    // Declared events whose types the modelled ones do not use: a tuple array, an indexed string (its keccak is the
    // topic), uint64, an indexed uint128, arrays, an indexed bytes4.
    struct RateTier { uint256 rate; uint256 threshold; }
    event BaseYieldRateTiersSet(RateTier[] rateTiers);
    event ActionFailed(string indexed action, bytes reason);
    event LoanTimelockDeposited(bytes32 indexed loanTermsHash, uint256 usdaiAmount, uint64 expiration);
    event LoanTimelockCancelled(bytes32 indexed loanTermsHash, uint256 usdaiAmount);
    event BaseTokenConverted(address indexed converter, uint256 amount);
    event Blacklisted(address indexed value, bool isBlacklisted);
    event LoanMigrated(bytes32 indexed loanTermsHashV1, bytes32 indexed loanTermsHashV2, bytes loanTerms);
    event PoolRedeemed(address indexed pool, uint128 indexed tick, uint256 shares, uint128 redemptionId);
    event PoolWithdrawn(address indexed pool, uint128 indexed tick, uint256 shares, uint128 redemptionId, uint256 poolCurrencyAmount, uint256 usdaiAmount);
    event LoanDepositTimelockDeposited(bytes32 indexed loanTermsHash, uint256 usdaiAmount, uint64 expiration);
    event LoanDepositTimelockCancelled(bytes32 indexed loanTermsHash, uint256 usdaiAmount);
    event LoanEscrowTimelockDeposited(bytes32 indexed loanTermsHash, uint256 usdaiAmount, uint256 interestRate);
    event LoanEscrowTimelockWithdrawn(bytes32 indexed loanTermsHash, uint256 interestAmount);
    event LoanEscrowTimelockCancelled(bytes32 indexed loanTermsHash, uint256 usdaiAmount, uint256 interestAmount);
    event PoolDeposited(address indexed pool, uint128 indexed tick, uint256 usdaiAmount, uint256 poolCurrencyAmount);
    event WhitelistedTokensAdded(address[] tokens, uint256[] minAmounts);
    event Executed(address indexed target, bytes4 indexed selector);

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
    // USDai's baseToken(): the token its reserve is held in (wM until v1.4, PYUSD since).
    address public baseToken;
    function setBaseToken(address token) external { baseToken = token; }
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
    function emitFeePaid(bytes32 h, uint8 kind, address recipient, address feeModel, uint256 amount) external { emit FeePaid(h, kind, recipient, feeModel, amount); }
    function emitLoanTimelockDeposited(bytes32 h, uint256 usdaiAmount, uint64 expiration) external { emit LoanTimelockDeposited(h, usdaiAmount, expiration); }
    function emitLoanTimelockCancelled(bytes32 h, uint256 usdaiAmount) external { emit LoanTimelockCancelled(h, usdaiAmount); }
    function emitBaseTokenConverted(address converter, uint256 amount) external { emit BaseTokenConverted(converter, amount); }
    function emitBlacklisted(address value, bool isBlacklisted) external { emit Blacklisted(value, isBlacklisted); }
    function emitLoanMigrated(bytes32 v1, bytes32 v2, bytes calldata terms) external { emit LoanMigrated(v1, v2, terms); }
    function emitPoolDeposited(address p, uint128 t, uint256 u, uint256 c) external { emit PoolDeposited(p, t, u, c); }
    function emitPoolRedeemed(address p, uint128 t, uint256 s, uint128 r) external { emit PoolRedeemed(p, t, s, r); }
    function emitPoolWithdrawn(address p, uint128 t, uint256 s, uint128 r, uint256 c, uint256 u) external { emit PoolWithdrawn(p, t, s, r, c, u); }
    function emitLoanDepositTimelockDeposited(bytes32 h, uint256 a, uint64 e) external { emit LoanDepositTimelockDeposited(h, a, e); }
    function emitLoanDepositTimelockCancelled(bytes32 h, uint256 a) external { emit LoanDepositTimelockCancelled(h, a); }
    function emitLoanEscrowTimelockDeposited(bytes32 h, uint256 a, uint256 r) external { emit LoanEscrowTimelockDeposited(h, a, r); }
    function emitLoanEscrowTimelockWithdrawn(bytes32 h, uint256 i) external { emit LoanEscrowTimelockWithdrawn(h, i); }
    function emitLoanEscrowTimelockCancelled(bytes32 h, uint256 a, uint256 i) external { emit LoanEscrowTimelockCancelled(h, a, i); }
    function emitBundleMinted(uint256 tokenId, address account, bytes calldata bundle) external { emit BundleMinted(tokenId, account, bundle); }
    function emitBundleUnwrapped(uint256 tokenId, address account) external { emit BundleUnwrapped(tokenId, account); }
    function emitNotInTheCatalogue(uint256 what, uint256 value) external { emit NotInTheCatalogue(what, value); }
    function emitDeclaredTypes() external {
        RateTier[] memory tiers = new RateTier[](2);
        tiers[0] = RateTier(317097919, 5000000 ether);
        tiers[1] = RateTier(158548959, type(uint256).max);
        emit BaseYieldRateTiersSet(tiers);
        emit ActionFailed("deposit", hex"08c379a0");
        emit LoanTimelockDeposited(bytes32(uint256(0x11)), 250000 ether, type(uint64).max);
        emit PoolDeposited(address(0xA1), type(uint128).max, 1 ether, 1000000);
        address[] memory tokens = new address[](2);
        tokens[0] = address(0xC5);
        tokens[1] = address(this);
        uint256[] memory minimums = new uint256[](2);
        minimums[0] = 1;
        minimums[1] = 10 ** 30;
        emit WhitelistedTokensAdded(tokens, minimums);
        emit Executed(address(this), bytes4(0xdeadbeef));
    }
}
"""


# Multicall3's aggregate3 interface (the address every major chain has it at), written for these tests.
AGGREGATOR_SOL = """
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

contract Aggregator {
    struct Call3 { address target; bool allowFailure; bytes callData; }
    struct Result { bool success; bytes returnData; }

    function aggregate3(Call3[] calldata calls) external payable returns (Result[] memory results) {
        results = new Result[](calls.length);
        for (uint256 i = 0; i < calls.length; i++) {
            (bool success, bytes memory output) = calls[i].target.call(calls[i].callData);
            require(success || calls[i].allowFailure, "aggregate3: a call failed");
            results[i] = Result(success, output);
        }
    }
}
"""


def compile_solidity(source: str, file_name: str, workdir: Path, contracts: list[str], *,
                     runtime: bool = False) -> dict[str, str]:
    """Hex bytecode of `contracts` (creation code, or deployed code with `runtime`), compiled by solcjs."""
    output = "deployedBytecode" if runtime else "bytecode"
    request = {
        "language": "Solidity",
        "sources": {file_name: {"content": source}},
        "settings": {"optimizer": {"enabled": True, "runs": 200},
                     "outputSelection": {file_name: {name: [f"evm.{output}.object"] for name in contracts}}},
    }
    # stdout goes to a file: solcjs may exit before node flushes a piped stdout past 64 KiB
    printed = workdir / f"{file_name}.json"
    with printed.open("w") as stdout:
        subprocess.run([str(SOLCJS), "--standard-json"], input=json.dumps(request), stdout=stdout, cwd=workdir,
                       check=True, text=True, timeout=120)
    text = printed.read_text()
    # solcjs may print notices before the JSON document
    compiled = json.loads(text[text.index("{"):])
    errors = [error["formattedMessage"] for error in compiled.get("errors", []) if error["severity"] == "error"]
    assert not errors, errors
    return {name: compiled["contracts"][file_name][name]["evm"][output]["object"] for name in contracts}


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
            [str(anvil_binary()), "--host", "127.0.0.1", "--port", str(self.port), "--timestamp", str(genesis_timestamp),
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

    def snapshot(self) -> str:
        return self.rpc.call("evm_snapshot", [])

    def revert(self, snapshot_id: str) -> None:
        assert self.rpc.call("evm_revert", [snapshot_id]) is True

    def head(self) -> int:
        return int(self.rpc.call("eth_blockNumber", []), 16)
