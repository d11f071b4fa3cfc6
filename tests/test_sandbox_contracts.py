"""The sandbox contracts: their events hash to the real protocol's topic0s (from the signature texts of
usdai-events.md), their views have the outputs decoders read, and they refuse what the protocol refuses."""
import re
from datetime import date

import pytest
from eth_utils import keccak

from sandbox.anvil import AnvilNode
from sandbox.chain_client import ChainError, SandboxChain
from sandbox.compile import compile_contracts
from sandbox.deploy import ROUTER_FEE_RECIPIENT, deploy_protocol
from sandbox.simulator import genesis_timestamp

# Signature texts exactly as usdai-events.md gives them, with the contract that must emit each.
EVENT_TEXTS = {
    "Transfer(address indexed from, address indexed to, uint256 value)": ("USDai", "StakedUSDai", "SandboxERC20"),
    "Transfer(address indexed from, address indexed to, uint256 indexed tokenId)": ("GpuTitle", "LenderPosition"),
    "Deposited(address indexed caller, address indexed recipient, address depositToken, uint256 depositAmount, "
    "uint256 mintAmount)": ("USDai",),
    "Withdrawn(address indexed caller, address indexed recipient, address withdrawToken, uint256 usdaiAmount, "
    "uint256 withdrawAmount)": ("USDai",),
    "BlacklistUpdated(address indexed account, bool isBlacklisted)": ("USDai",),
    "Deposit(address indexed sender, address indexed owner, uint256 assets, uint256 shares)": ("StakedUSDai",),
    "Withdraw(address indexed sender, address indexed receiver, address indexed owner, uint256 assets, "
    "uint256 shares)": ("StakedUSDai",),
    "RedeemRequest(address indexed controller, address indexed owner, uint256 indexed requestId, address sender, "
    "uint256 shares)": ("StakedUSDai",),
    "RedemptionProcessed(uint256 indexed redemptionId, address indexed controller, uint256 fulfilledShares, "
    "uint256 amount, uint256 pendingShares)": ("StakedUSDai",),
    "RedemptionsServiced(uint256 shares, uint256 amount, bool allRedemptionsServiced)": ("StakedUSDai",),
    "LoanOriginated(bytes32 indexed loanTermsHash, address indexed borrower, address indexed currencyToken, "
    "uint256 principal, uint256 originationFee)": ("LoanRouter",),
    "LenderPositionMinted(bytes32 indexed loanTermsHash, address indexed lender, uint8 indexed trancheIndex, "
    "uint256 tokenId)": ("LoanRouter", "LoanRouterV2"),
    "LenderRepaid(bytes32 indexed loanTermsHash, address indexed lender, uint8 indexed trancheIndex, "
    "uint256 principal, uint256 interest, uint256 prepay)": ("LoanRouter", "LoanRouterV2"),
    "LoanRepaid(bytes32 indexed loanTermsHash, address indexed borrower, uint256 principal, uint256 interest, "
    "uint256 prepayment, uint256 exitFee, bool isRepaid)": ("LoanRouter", "LoanRouterV2"),
    "FeePaid(bytes32 indexed loanTermsHash, uint8 indexed kind, address indexed recipient, address feeModel, "
    "uint256 amount)": ("LoanRouterV2",),
    "LoanMigrated(bytes32 indexed loanTermsHashV1, bytes32 indexed loanTermsHashV2, bytes loanTerms)": ("LoanRouterV2",),
    "LoanLiquidated(bytes32 indexed loanTermsHash)": ("LoanRouter",),
    "LenderLiquidationRepaid(bytes32 indexed loanTermsHash, address indexed lender, uint8 indexed trancheIndex, "
    "uint256 principal, uint256 interest)": ("LoanRouter",),
    "LoanCollateralLiquidated(bytes32 indexed loanTermsHash, uint256 proceeds, uint256 liquidationFee, "
    "uint256 surplus)": ("LoanRouter",),
    # ERC standards the tokens also follow.
    "Approval(address indexed owner, address indexed spender, uint256 value)": ("USDai", "StakedUSDai", "SandboxERC20"),
    "LoanTimelockDeposited(bytes32 indexed loanTermsHash, uint256 usdaiAmount, uint64 expiration)": ("StakedUSDai",),
    "LoanTimelockCancelled(bytes32 indexed loanTermsHash, uint256 usdaiAmount)": ("StakedUSDai",),
    "Approval(address indexed owner, address indexed approved, uint256 indexed tokenId)": ("GpuTitle",
                                                                                           "LenderPosition"),
    "ApprovalForAll(address indexed owner, address indexed operator, bool approved)": ("GpuTitle", "LenderPosition"),
}

# Known topic0s, so that the text parsing itself is checked against an outside fact.
KNOWN_TOPIC0 = {"Transfer(address,address,uint256)":
                "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"}

VIEWS = {
    ("USDai", "totalSupply"): ([], [("", "uint256")]),
    ("USDai", "bridgedSupply"): ([], [("", "uint256")]),
    ("USDai", "baseToken"): ([], [("", "address")]),
    ("USDai", "balanceOf"): (["address"], [("", "uint256")]),
    ("StakedUSDai", "totalAssets"): ([], [("", "uint256")]),
    ("StakedUSDai", "totalShares"): ([], [("", "uint256")]),
    ("StakedUSDai", "depositSharePrice"): ([], [("", "uint256")]),
    ("StakedUSDai", "redemptionSharePrice"): ([], [("", "uint256")]),
    ("StakedUSDai", "conservativeAssets"): ([], [("", "uint256")]),
    ("LoanRouter", "accruedInterest"): (["bytes32"], [("", "uint256")]),
    ("StakedUSDai", "redemptionQueueInfo"): (
        [], [("index", "uint256"), ("head", "uint256"), ("tail", "uint256"), ("pendingShares", "uint256"),
             ("balance", "uint256")]),
    ("StakedUSDai", "loanRouterBalances"): (
        [], [("repayments", "uint256"), ("outstandingPrincipal", "uint256"), ("accruedInterest", "uint256")]),
    ("LoanRouter", "loanState"): (
        ["bytes32"], [("status", "uint8"), ("maturity", "uint64"), ("repaymentDeadline", "uint64"),
                      ("scaledBalance", "uint256")]),
    ("LoanRouterV2", "loanState"): (
        ["bytes32"], [("status", "uint8"), ("repaymentCount", "uint16"), ("originationTimestamp", "uint64"),
                      ("scaledBalance", "uint256")]),
}


def parse_event_text(text):
    """`Name(type [indexed] name, ...)` -> (name, [(type, indexed, arg name)])."""
    match = re.fullmatch(r"(\w+)\((.*)\)", text)
    params = []
    for part in filter(None, (p.strip() for p in match.group(2).split(","))):
        words = part.split()
        params.append((words[0], "indexed" in words[1:-1], words[-1]))
    return match.group(1), params


def topic0(name, params):
    return "0x" + keccak(text=f"{name}({','.join(kind for kind, _, _ in params)})").hex()


@pytest.fixture(scope="module")
def contracts():
    return compile_contracts()


def abi_events(contracts, contract):
    found = {}
    for item in contracts[contract]["abi"]:
        if item["type"] == "event":
            params = [(p["type"], p["indexed"], p["name"]) for p in item["inputs"]]
            found[(topic0(item["name"], params), sum(indexed for _, indexed, _ in params))] = (item["name"], params)
    return found


def test_the_signature_text_parser_reproduces_a_known_topic0():
    name, params = parse_event_text("Transfer(address indexed from, address indexed to, uint256 value)")
    assert topic0(name, params) == KNOWN_TOPIC0["Transfer(address,address,uint256)"]


@pytest.mark.parametrize("text", sorted(EVENT_TEXTS), ids=lambda text: text.split("(")[0])
def test_contracts_emit_the_real_event_signatures(contracts, text):
    name, params = parse_event_text(text)
    wanted = (topic0(name, params), sum(indexed for _, indexed, _ in params))
    for contract in EVENT_TEXTS[text]:
        events = abi_events(contracts, contract)
        assert wanted in events, f"{contract} emits no {text}"
        # Same topic0 and the same indexed arguments, under the same names (the lake's columns derive from them).
        assert events[wanted] == (name, params), contract


@pytest.mark.parametrize(("contract", "function"), sorted(VIEWS))
def test_views_have_the_outputs_decoders_read(contracts, contract, function):
    inputs, outputs = VIEWS[(contract, function)]
    matches = [item for item in contracts[contract]["abi"]
               if item["type"] == "function" and item["name"] == function
               and [p["type"] for p in item["inputs"]] == inputs]
    assert len(matches) == 1, f"{contract}.{function}({','.join(inputs)}) missing"
    assert matches[0]["stateMutability"] == "view"
    assert [(p["name"], p["type"]) for p in matches[0]["outputs"]] == outputs


def test_compilation_is_cached_until_the_sources_change(contracts):
    assert compile_contracts() == contracts
    assert all(artifact["bytecode"].startswith("0x") and len(artifact["bytecode"]) > 2
               for artifact in contracts.values())


@pytest.fixture(scope="module")
def deployed(contracts):
    start = date(2026, 1, 1)
    with AnvilNode(genesis_timestamp(start)) as node:
        chain = SandboxChain(node.rpc_url, contracts)
        accounts = chain.accounts()
        protocol = deploy_protocol(chain, accounts[0], accounts[9], at=genesis_timestamp(start) + 1)
        yield chain, protocol, accounts
        chain.close()


def next_second(chain):
    return chain.last_timestamp + 1


def test_usdai_mints_only_against_a_deposit_and_only_the_admin_mints_unbacked(deployed):
    chain, p, (admin, user, outsider, *_) = deployed
    p.base_token.transact("mint", user, 1_000 * 10**6, sender=admin, at=next_second(chain))
    p.base_token.transact("approve", p.usdai.address, 2**256 - 1, sender=user, at=next_second(chain))
    receipt = p.usdai.transact("deposit", p.base_token.address, 250 * 10**6, 0, user, sender=user,
                               at=next_second(chain))
    receipt.expect(p.usdai.address, "Deposited", caller=user, recipient=user, depositAmount=250 * 10**6,
                   mintAmount=250 * 10**18)
    assert p.usdai.call("totalSupply") == p.base_token.call("balanceOf", p.usdai.address) * 10**12
    with pytest.raises(ChainError, match="NotAdmin"):
        p.usdai.transact("adminMint", outsider, 10**18, sender=outsider, at=next_second(chain))
    with pytest.raises(ChainError, match="SlippageExceeded"):
        p.usdai.transact("deposit", p.base_token.address, 10**6, 2 * 10**18, user, sender=user, at=next_second(chain))


def test_a_blacklisted_account_can_neither_send_nor_receive_usdai(deployed):
    chain, p, (admin, user, outsider, *_) = deployed
    if p.usdai.call("balanceOf", user) == 0:
        p.base_token.transact("mint", user, 10 * 10**6, sender=admin, at=next_second(chain))
        p.base_token.transact("approve", p.usdai.address, 2**256 - 1, sender=user, at=next_second(chain))
        p.usdai.transact("deposit", p.base_token.address, 10 * 10**6, 0, user, sender=user, at=next_second(chain))
    receipt = p.usdai.transact("setBlacklist", outsider, True, sender=admin, at=next_second(chain))
    receipt.expect(p.usdai.address, "BlacklistUpdated", account=outsider, isBlacklisted=True)
    with pytest.raises(ChainError, match="Blacklisted"):
        p.usdai.transact("transfer", outsider, 10**18, sender=user, at=next_second(chain))


def _prefund(chain, p, admin, staker, terms_hash, usd):
    """The vault pre-funds a loan of `usd` through the deposit timelock (the only way the router lends the vault's
    money), from a stake of that much; the swap holds the USDC USDai's withdraw pays out."""
    p.usdc.transact("mint", p.swap.address, usd * 10**6, sender=admin, at=next_second(chain))
    p.base_token.transact("mint", staker, usd * 10**6, sender=admin, at=next_second(chain))
    p.base_token.transact("approve", p.usdai.address, 2**256 - 1, sender=staker, at=next_second(chain))
    p.usdai.transact("deposit", p.base_token.address, usd * 10**6, 0, staker, sender=staker, at=next_second(chain))
    p.usdai.transact("approve", p.susdai.address, 2**256 - 1, sender=staker, at=next_second(chain))
    p.susdai.transact("deposit", usd * 10**18, staker, sender=staker, at=next_second(chain))
    now = next_second(chain)
    p.susdai.transact("depositLoanTimelock", terms_hash, usd * 10**18, now + 86_400, sender=admin, at=now)


def _collateral_and_prefunding(chain, p, admin, staker, borrower, token_id, terms_hash, usd):
    """The borrower's GPU title `token_id`, approved to the router, and the vault's pre-funding of `usd` for the loan."""
    p.gpu_title.transact("mint", borrower, token_id, sender=admin, at=next_second(chain))
    p.gpu_title.transact("setApprovalForAll", p.loan_router.address, True, sender=borrower, at=next_second(chain))
    _prefund(chain, p, admin, staker, terms_hash, usd)


def test_loans_cannot_be_liquidated_before_their_deadline_nor_repaid_by_others(deployed):
    chain, p, (admin, user, _outsider, borrower, *_rest) = deployed
    terms_hash = keccak(text="a loan of the contract tests")
    p.gpu_title.transact("mint", borrower, 7, sender=admin, at=next_second(chain))
    p.gpu_title.transact("setApprovalForAll", p.loan_router.address, True, sender=borrower, at=next_second(chain))
    now = next_second(chain)
    with pytest.raises(ChainError, match="NotPrefunded"):
        p.loan_router.transact("originate", terms_hash, borrower, p.susdai.address, 1_000 * 10**6, 10 * 10**6,
                               1_200, [7], now + 86_400 * 365, now + 86_400 * 30, sender=admin, at=now)
    _prefund(chain, p, admin, user, terms_hash, 1_000)
    now = next_second(chain)
    receipt = p.loan_router.transact("originate", terms_hash, borrower, p.susdai.address, 1_000 * 10**6, 10 * 10**6,
                                     1_200, [7], now + 86_400 * 365, now + 86_400 * 30, sender=admin, at=now)
    receipt.expect(p.loan_router.address, "LoanOriginated", loanTermsHash="0x" + terms_hash.hex(), borrower=borrower)
    assert p.gpu_title.call("ownerOf", 7) == p.loan_router.address
    status, _, deadline, scaled = p.loan_router.call("loanState", terms_hash)
    assert (status, deadline, scaled) == (1, now + 86_400 * 30, 1_000 * 10**18)
    with pytest.raises(ChainError, match="DeadlineNotPassed"):
        p.loan_router.transact("liquidate", terms_hash, sender=admin, at=next_second(chain))
    with pytest.raises(ChainError, match="NotBorrower"):
        p.loan_router.transact("repay", terms_hash, 10**6, 0, 0, 0, sender=admin, at=next_second(chain))
    with pytest.raises(ChainError, match="WrongStatus"):
        p.loan_router.transact("originate", terms_hash, borrower, p.susdai.address, 10**6, 0, 1_200, [7],
                               now + 86_400 * 365, now + 86_400 * 30, sender=admin, at=next_second(chain))
    with pytest.raises(ChainError, match="NotLoanRouter"):
        p.susdai.transact("onLoanRepayment", terms_hash, 10**6, 10**6, sender=admin, at=next_second(chain))


def test_the_router_keeps_nothing_and_its_fees_are_never_the_vaults(deployed):
    """As the released router does: the origination fee goes to the fee recipient and the rest to the borrower; a
    repayment's principal and interest go on to the vault and its exit fee to the fee recipient; the router holds no
    currency between transactions, and the vault's NAV never counts a fee."""
    chain, p, (admin, user, *_rest) = deployed
    borrower = _rest[3]
    terms_hash = keccak(text="a loan whose fees are the router's")
    _collateral_and_prefunding(chain, p, admin, user, borrower, 10, terms_hash, 500)
    fees_before = p.usdc.call("balanceOf", ROUTER_FEE_RECIPIENT)
    now = next_second(chain)
    receipt = p.loan_router.transact("originate", terms_hash, borrower, p.susdai.address, 500 * 10**6, 5 * 10**6,
                                     1_200, [10], now + 86_400 * 365, now + 86_400 * 30, sender=admin, at=now)
    receipt.expect(p.usdc.address, "Transfer", **{"from": p.loan_router.address, "to": ROUTER_FEE_RECIPIENT,
                                                  "value": 5 * 10**6})
    receipt.expect(p.usdc.address, "Transfer", **{"from": p.loan_router.address, "to": borrower,
                                                  "value": 495 * 10**6})
    assert p.usdc.call("balanceOf", p.loan_router.address) == 0
    vault_usdc, received = p.usdc.call("balanceOf", p.susdai.address), p.susdai.call("currencyReceived")
    repayments_before = p.susdai.call("loanRouterBalances")[0]
    p.usdc.transact("mint", borrower, 600 * 10**6, sender=admin, at=next_second(chain))
    p.usdc.transact("approve", p.loan_router.address, 2**256 - 1, sender=borrower, at=next_second(chain))
    nav = p.susdai.call("totalAssets")
    receipt = p.loan_router.transact("repay", terms_hash, 0, 2 * 10**6, 500 * 10**6, 3 * 10**6, sender=borrower,
                                     at=next_second(chain))
    receipt.expect(p.usdc.address, "Transfer", **{"from": p.loan_router.address, "to": p.susdai.address,
                                                  "value": 502 * 10**6})
    receipt.expect(p.usdc.address, "Transfer", **{"from": borrower, "to": ROUTER_FEE_RECIPIENT, "value": 3 * 10**6})
    assert p.usdc.call("balanceOf", p.loan_router.address) == 0
    assert p.usdc.call("balanceOf", p.susdai.address) - vault_usdc == 502 * 10**6
    assert p.susdai.call("currencyReceived") - received == 502 * 10**6
    assert p.usdc.call("balanceOf", ROUTER_FEE_RECIPIENT) - fees_before == 8 * 10**6
    # The repayment balance is net of the admin fee on the interest in it: 502 less 10% of 2.
    assert p.susdai.call("loanRouterBalances")[0] - repayments_before == 502 * 10**18 - 2 * 10**18 // 10
    # Interest paid above what had accrued raises the NAV by 90% of the difference; the exit fee adds nothing.
    assert p.susdai.call("totalAssets") > nav


def test_the_vault_values_its_loans_from_the_router_and_bears_a_sale_below_par(deployed):
    """totalAssets() moves with the router's balances: whole days of interest accrue from the origination day, the
    admin fee (10%) comes off interest only (the origination fee is the router's fee recipient's), and a collateral
    sale for less than is owed lowers the NAV by the principal lost and the interest net of the fee it never
    charged; the router's liquidation fee (3% of the sale) never reaches the vault."""
    chain, p, (admin, user, *_rest, liquidator) = deployed
    borrower = _rest[2]
    day = 86_400
    terms_hash = keccak(text="a loan the vault values")
    _collateral_and_prefunding(chain, p, admin, user, borrower, 8, terms_hash, 1_000)
    funded = p.susdai.call("totalAssets")
    # 3650 bps on 1,000 USDC: 1 USDC a day.
    origination = next_second(chain)
    p.loan_router.transact("originate", terms_hash, borrower, p.susdai.address, 1_000 * 10**6, 10 * 10**6, 3_650,
                           [8], origination + 365 * day, origination + 2 * day, sender=admin, at=origination)
    assert p.loan_router.call("accruedInterest", terms_hash) == 10**6
    # A day's interest, less the admin fee on it; the fee of 10 is not the vault's.
    assert p.susdai.call("totalAssets") - funded == 1 * 10**18 * 9 // 10
    # Redemptions are paid without the accrued interest (of every loan on the router).
    accrued = p.susdai.call("loanRouterBalances")[2]
    assert accrued >= 10**18
    assert p.susdai.call("totalAssets") - p.susdai.call("conservativeAssets") == accrued * 9 // 10
    next_day = (origination // day + 1) * day
    p.usdc.transact("mint", liquidator, 600 * 10**6, sender=admin, at=next_day + 1)
    assert p.loan_router.call("accruedInterest", terms_hash) == 2 * 10**6
    liquidation_day = next_day + 2 * day
    p.loan_router.transact("liquidate", terms_hash, sender=admin, at=liquidation_day + 1)
    # Frozen at the days before the liquidation's day: the origination day and the two after it.
    assert p.loan_router.call("accruedInterest", terms_hash) == 3 * 10**6
    before_sale = p.susdai.call("totalAssets")
    p.usdc.transact("approve", p.loan_router.address, 2**256 - 1, sender=liquidator, at=liquidation_day + 2)
    receipt = p.loan_router.transact("collateralLiquidated", terms_hash, 600 * 10**6, sender=liquidator,
                                     at=liquidation_day + 3)
    receipt.expect(p.loan_router.address, "LoanCollateralLiquidated", loanTermsHash="0x" + terms_hash.hex(),
                   proceeds=582 * 10**6, liquidationFee=18 * 10**6, surplus=0)
    assert p.loan_router.call("accruedInterest", terms_hash) == 0
    assert p.usdc.call("balanceOf", p.loan_router.address) == 0
    # 418 of principal lost (the sale's 600 less the router's fee of 18 repays 582), and 3 of interest the holders
    # had been credited 90% of.
    assert before_sale - p.susdai.call("totalAssets") == 418 * 10**18 + 3 * 10**18 * 9 // 10


def test_a_pre_funding_is_the_routers_until_its_expiration_and_the_vaults_after(deployed):
    """The vault's USDai committed to a loan's terms moves to the timelock, still counted in totalAssets(); the
    vault cannot take it back before its expiration, nor the router lend it after; cancelled, it is the vault's."""
    chain, p, (admin, user, _outsider, borrower, *_rest) = deployed
    p.base_token.transact("mint", user, 500 * 10**6, sender=admin, at=next_second(chain))
    p.base_token.transact("approve", p.usdai.address, 2**256 - 1, sender=user, at=next_second(chain))
    p.usdai.transact("deposit", p.base_token.address, 500 * 10**6, 0, user, sender=user, at=next_second(chain))
    p.usdai.transact("approve", p.susdai.address, 2**256 - 1, sender=user, at=next_second(chain))
    p.susdai.transact("deposit", 500 * 10**18, user, sender=user, at=next_second(chain))
    nav, vault_usdai = p.susdai.call("totalAssets"), p.usdai.call("balanceOf", p.susdai.address)
    terms_hash = keccak(text="terms pre-funded by the contract tests")
    now = next_second(chain)
    expiration = now + 3_600
    receipt = p.susdai.transact("depositLoanTimelock", terms_hash, 300 * 10**18, expiration, sender=admin, at=now)
    receipt.expect(p.susdai.address, "LoanTimelockDeposited", loanTermsHash="0x" + terms_hash.hex(),
                   usdaiAmount=300 * 10**18, expiration=expiration)
    assert p.usdai.call("balanceOf", p.deposit_timelock.address) == 300 * 10**18
    assert p.usdai.call("balanceOf", p.susdai.address) == vault_usdai - 300 * 10**18
    assert p.susdai.call("totalAssets") == nav
    with pytest.raises(ChainError, match="NotExpired"):
        p.susdai.transact("cancelLoanTimelock", terms_hash, sender=admin, at=next_second(chain))
    # Past the expiration the router may not lend it.
    p.gpu_title.transact("mint", borrower, 9, sender=admin, at=expiration + 1)
    p.gpu_title.transact("setApprovalForAll", p.loan_router.address, True, sender=borrower, at=expiration + 2)
    with pytest.raises(ChainError, match="Expired"):
        p.loan_router.transact("originate", terms_hash, borrower, p.susdai.address, 300 * 10**6, 0, 1_200, [9],
                               expiration + 86_400 * 365, expiration + 86_400 * 30, sender=admin, at=expiration + 3)
    receipt = p.susdai.transact("cancelLoanTimelock", terms_hash, sender=admin, at=expiration + 4)
    receipt.expect(p.susdai.address, "LoanTimelockCancelled", loanTermsHash="0x" + terms_hash.hex(),
                   usdaiAmount=300 * 10**18)
    assert p.usdai.call("balanceOf", p.susdai.address) == vault_usdai
    assert p.usdai.call("balanceOf", p.deposit_timelock.address) == 0


def test_a_migration_holds_the_v2_principal_to_the_v1_balance_and_moves_no_money(deployed):
    """LoanRouterV2 v1.0's migrateLoan: the V2 principal must be the V1 scaled balance (InvalidLoanTerms otherwise);
    the V1 loan is left Migrated with no balance, its collateral goes to V2, the vault's NAV is unchanged; a V2
    repayment in USDai pays principal and interest to the vault, and the repayment fee to the vault as FeePaid."""
    from sandbox.simulator import FEE_KIND_REPAYMENT, LOAN_TERMS_V2, V2_FEE_MODEL, V2_RATE_MODEL
    import eth_abi

    chain, p, (admin, user, *_rest) = deployed
    borrower = _rest[3]
    terms_hash = keccak(text="a loan migrated to LoanRouterV2")
    _collateral_and_prefunding(chain, p, admin, user, borrower, 20, terms_hash, 400)
    now = next_second(chain)
    p.loan_router.transact("originate", terms_hash, borrower, p.susdai.address, 400 * 10**6, 0, 1_200, [20],
                           now + 86_400 * 365, now + 86_400 * 300, sender=admin, at=now)
    fee = 3 * 10**18

    def terms(principal):
        return (now + 86_400 * 365, borrower, p.usdai.address, p.gpu_title.address, (365, 1, 0), (V2_RATE_MODEL, b""),
                [20], [(p.susdai.address, principal, 1_200)],
                [(FEE_KIND_REPAYMENT, p.susdai.address, V2_FEE_MODEL, eth_abi.encode(["uint256"], [fee]))], [], b"")

    with pytest.raises(ChainError, match="InvalidLoanTerms"):
        p.loan_router_v2.transact("migrateLoan", terms_hash, terms(401 * 10**18), sender=admin, at=next_second(chain))
    nav = p.susdai.call("totalAssets")
    receipt = p.loan_router_v2.transact("migrateLoan", terms_hash, terms(400 * 10**18), sender=admin,
                                        at=next_second(chain))
    v2_hash = "0x" + keccak(eth_abi.encode(["uint256", LOAN_TERMS_V2], [31337, terms(400 * 10**18)])).hex()
    receipt.expect(p.loan_router_v2.address, "LoanMigrated", loanTermsHashV1="0x" + terms_hash.hex(),
                   loanTermsHashV2=v2_hash)
    assert not receipt.events_named("Transfer", p.usdai.address) and not receipt.events_named("Transfer", p.usdc.address)
    assert p.loan_router.call("loanState", terms_hash)[0::3] == (5, 0)
    assert p.gpu_title.call("ownerOf", 20) == p.loan_router_v2.address
    assert p.loan_router_v2.call("loanState", bytes.fromhex(v2_hash[2:]))[0::3] == (1, 400 * 10**18)
    assert p.susdai.call("totalAssets") == nav
    with pytest.raises(ChainError, match="InvalidLoanState"):
        p.loan_router_v2.transact("migrateLoan", terms_hash, terms(400 * 10**18), sender=admin, at=next_second(chain))

    p.usdc.transact("mint", borrower, 200 * 10**6, sender=admin, at=next_second(chain))
    p.usdc.transact("approve", p.usdai.address, 2**256 - 1, sender=borrower, at=next_second(chain))
    p.usdai.transact("deposit", p.usdc.address, 105 * 10**6, 0, borrower, sender=borrower, at=next_second(chain))
    p.usdai.transact("approve", p.loan_router_v2.address, 2**256 - 1, sender=borrower, at=next_second(chain))
    vault_usdai = p.usdai.call("balanceOf", p.susdai.address)
    receipt = p.loan_router_v2.transact("repay", bytes.fromhex(v2_hash[2:]), 100 * 10**18, 2 * 10**18,
                                        sender=borrower, at=next_second(chain))
    receipt.expect(p.loan_router_v2.address, "FeePaid", loanTermsHash=v2_hash, kind=FEE_KIND_REPAYMENT,
                   recipient=p.susdai.address, feeModel=V2_FEE_MODEL, amount=fee)
    receipt.expect(p.loan_router_v2.address, "LoanRepaid", loanTermsHash=v2_hash, principal=100 * 10**18,
                   interest=2 * 10**18, exitFee=fee, isRepaid=False)
    assert p.usdai.call("balanceOf", p.susdai.address) - vault_usdai == 105 * 10**18
    assert p.susdai.call("usdaiIncomeReceived") == 5 * 10**18
    assert p.loan_router_v2.call("outstandingPrincipal") == 300 * 10**18
