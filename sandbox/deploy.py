"""Deploy the sandbox protocol and describe it as the address book of `deployment.json` (docs/lake.md)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import keccak, to_checksum_address

from sandbox.chain_client import Contract, SandboxChain

# Where the loan router sends the origination, exit and liquidation fees and a collateral sale's surplus: an address
# outside the protocol, as the released router's fee recipient is.
ROUTER_FEE_RECIPIENT = to_checksum_address(keccak(text="backed-sandbox:router-fee-recipient")[-20:])
# Where the vault pays its admin fee on loan interest, in USDai: outside the protocol.
ADMIN_FEE_RECIPIENT = to_checksum_address(keccak(text="backed-sandbox:admin-fee-recipient")[-20:])

# Roles whose contracts are the reporting entity (docs/ledger.md): their own USDai is eliminated.
PROTOCOL_ROLES = ("usdai", "susdai", "loan_router")


@dataclass(frozen=True)
class AddressBookEntry:
    role: str
    address: str
    is_protocol: bool
    token_symbol: str | None
    token_decimals: int | None
    start_block: int | None
    interface: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"role": self.role, "address": self.address, "is_protocol": self.is_protocol,
                "token_symbol": self.token_symbol, "token_decimals": self.token_decimals,
                "start_block": self.start_block, "interface": self.interface}


@dataclass(frozen=True)
class SandboxProtocol:
    """The deployed contracts, each with the block that created it."""

    base_token: Contract
    usdc: Contract
    swap: Contract
    usdai: Contract
    susdai: Contract
    loan_router: Contract
    gpu_title: Contract
    lender_position: Contract
    usdai_bridge_adapter: Contract
    # Not in the address book: the USDai it holds is outstanding, and the ledger reads the vault's events about it.
    deposit_timelock: Contract
    # The base token and swap adapter of USDai's v1.4 release (PYUSD), in the book as a base token from the start.
    next_base_token: Contract
    next_swap: Contract
    # LoanRouterV2 (v1.0), lending in USDai, which takes a V1 loan over mid-run; its own lender-position token.
    loan_router_v2: Contract
    lender_position_v2: Contract
    start_blocks: dict[str, int]
    # Where the reserve attestations' digests are published. Not in the address book: it holds no money, and the
    # ledger has nothing to read from it.
    attestation_registry: Contract

    def address_book(self, custodian: str, insurer: str) -> list[AddressBookEntry]:
        """Every role in a fixed order; the custodian and the insurance pool are accounts, not contracts, so they
        have no start block."""
        tokens = {"usdai": ("USDai", 18), "susdai": ("sUSDai", 18), "base_token": ("wM", 6), "usdc": ("USDC", 6),
                  "gpu_title": ("CALIBER", None), "lender_position": ("USDai-LR", None)}
        roles = ("usdai", "susdai", "loan_router", "base_token", "usdc", "gpu_title", "lender_position", "swap",
                 "usdai_bridge_adapter")
        entries = [
            AddressBookEntry(role, getattr(self, role).address, role in PROTOCOL_ROLES, *tokens.get(role, (None, None)),
                             self.start_blocks[role], "LoanRouterV1" if role == "loan_router" else None)
            for role in roles
        ]
        entries.insert(roles.index("base_token") + 1, AddressBookEntry(
            "base_token", self.next_base_token.address, False, "PYUSD", 6, self.start_blocks["next_base_token"]))
        entries.insert(roles.index("loan_router") + 1, AddressBookEntry(
            "loan_router", self.loan_router_v2.address, True, None, None, self.start_blocks["loan_router_v2"],
            "LoanRouterV2"))
        entries.append(AddressBookEntry("lender_position", self.lender_position_v2.address, False, "USDai-LR", None,
                                        self.start_blocks["loan_router_v2"]))
        entries.append(AddressBookEntry("custodian", custodian, False, None, None, None))
        entries.append(AddressBookEntry("insurer", insurer, False, None, None, None))
        return entries


def deploy_protocol(chain: SandboxChain, admin: str, liquidator: str, at: int,
                    checks_migrated_principal: bool = True) -> SandboxProtocol:
    """Deploy every contract from `admin`, one block per second from timestamp `at`. Only the injected fault
    migrated-principal-mismatch deploys a LoanRouterV2 that does not hold a migrated loan's principal to V1's."""
    clock = iter(range(at, at + 1000))
    base_token, base_receipt = chain.deploy("SandboxERC20", "Wrapped M", "wM", 6, sender=admin, at=next(clock))
    usdc, usdc_receipt = chain.deploy("SandboxERC20", "USD Coin", "USDC", 6, sender=admin, at=next(clock))
    swap, swap_receipt = chain.deploy("SandboxSwap", base_token.address, usdc.address, sender=admin, at=next(clock))
    next_base_token, next_base_receipt = chain.deploy("SandboxERC20", "PayPal USD", "PYUSD", 6, sender=admin,
                                                      at=next(clock))
    next_swap, _ = chain.deploy("SandboxSwap", next_base_token.address, usdc.address, sender=admin, at=next(clock))
    usdai, usdai_receipt = chain.deploy("USDai", base_token.address, swap.address, sender=admin, at=next(clock))
    gpu_title, title_receipt = chain.deploy("GpuTitle", sender=admin, at=next(clock))
    deposit_timelock, _ = chain.deploy("DepositTimelock", sender=admin, at=next(clock))
    loan_router, router_receipt = chain.deploy(
        "LoanRouter", usdc.address, gpu_title.address, liquidator, usdai.address, deposit_timelock.address,
        ROUTER_FEE_RECIPIENT, sender=admin, at=next(clock))
    # The router creates its lender-position token in its constructor.
    lender_position = chain.contract("LenderPosition", loan_router.call("lenderPosition"))
    susdai, susdai_receipt = chain.deploy("StakedUSDai", usdai.address, loan_router.address,
                                          deposit_timelock.address, ADMIN_FEE_RECIPIENT, sender=admin, at=next(clock))
    bridge, bridge_receipt = chain.deploy("SandboxOAdapter", usdai.address, sender=admin, at=next(clock))
    usdai.transact("setBridgeAdapter", bridge.address, sender=admin, at=next(clock))
    loan_router_v2, router_v2_receipt = chain.deploy(
        "LoanRouterV2", usdai.address, gpu_title.address, loan_router.address, checks_migrated_principal,
        sender=admin, at=next(clock))
    lender_position_v2 = chain.contract("LenderPosition", loan_router_v2.call("lenderPosition"))
    loan_router.transact("setMigrator", loan_router_v2.address, sender=admin, at=next(clock))
    susdai.transact("setLoanRouterV2", loan_router_v2.address, sender=admin, at=next(clock))
    # Deployed last, so that the addresses and blocks of the contracts above do not depend on it.
    attestation_registry, _ = chain.deploy("AttestationRegistry", sender=admin, at=next(clock))
    return SandboxProtocol(
        base_token=base_token, usdc=usdc, swap=swap, usdai=usdai, susdai=susdai, loan_router=loan_router,
        gpu_title=gpu_title, lender_position=lender_position, usdai_bridge_adapter=bridge,
        deposit_timelock=deposit_timelock, next_base_token=next_base_token, next_swap=next_swap,
        loan_router_v2=loan_router_v2, lender_position_v2=lender_position_v2,
        start_blocks={"base_token": base_receipt.block_number, "next_base_token": next_base_receipt.block_number, "usdc": usdc_receipt.block_number,
                      "swap": swap_receipt.block_number, "usdai": usdai_receipt.block_number,
                      "gpu_title": title_receipt.block_number, "loan_router": router_receipt.block_number,
                      "lender_position": router_receipt.block_number, "susdai": susdai_receipt.block_number,
                      "usdai_bridge_adapter": bridge_receipt.block_number,
                      "loan_router_v2": router_v2_receipt.block_number},
        attestation_registry=attestation_registry,
    )
