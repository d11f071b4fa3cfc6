"""The state read at a day's last block (`chain_state`): supply, reserves, vault NAV, redemption queue, loans.

Every read is an `eth_call` pinned to the block's hash (EIP-1898), so a read can never land on a block that a
reorganisation put in its place. The reads go out as one Multicall3 `aggregate3` per chunk when the chain has
Multicall3 at its canonical address at that block, else as JSON-RPC batches of plain `eth_call`s; both paths
give the same rows. A read the contract does not answer (a revert, or no code at the address) has no row and is
listed as unavailable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak

from assets.chain.blocks import BlockHeader
from assets.chain.profiles import ChainProfile
from assets.chain.rpc import JsonRpcClient, JsonRpcError
from foundation.money import raw_amount

# Multicall3 is deployed at the same address on every major chain (Arbitrum One included).
MULTICALL3_ADDRESS = "0xcA11bde05977b3631167028862bE2a173976CA11"
_AGGREGATE3 = keccak(text="aggregate3((address,bool,bytes)[])")[:4]
_BASE_TOKEN = keccak(text="baseToken()")[:4]
# Reads per aggregate3: keeps each eth_call far below providers' gas caps for calls.
MULTICALL_CHUNK = 50
# What `loanState(bytes32)` returns, by the router's interface (each a static word): V1 gives the maturity and the
# repayment deadline, V2 the repayment count and the origination time. The status codes differ too (seed
# loan_router_statuses). A router whose interface the profile does not say is read as V1, the sandbox's.
LOAN_STATE_FIELDS = {
    "LoanRouterV1": ("status", "maturity", "repaymentDeadline", "scaledBalance"),
    "LoanRouterV2": ("status", "repaymentCount", "originationTimestamp", "scaledBalance"),
}


@dataclass(frozen=True)
class StateRead:
    contract_role: str
    contract_address: str
    method: str
    key: str
    call_data: bytes
    fields: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.contract_role}.{self.method}({self.key})"


def state_reads(profile: ChainProfile, loans: dict[str, str], block_number: int,
                blacklisted: tuple[str, ...] = (), susdai_blacklisted: tuple[str, ...] = ()) -> list[StateRead]:
    """The reads of docs/lake.md `chain_state` for contracts that exist at `block_number`; `loans` maps each
    loanTermsHash created so far to the router that created it; `blacklisted` is every account USDai has
    blacklisted so far (its balance is frozen while it stays so), `susdai_blacklisted` every account sUSDai's own
    blacklist has named (StakedUSDai v1.0–v1.6: its shares are frozen while it stays so)."""
    reads: list[StateRead] = []
    deployed = {entry.address for entry in profile.address_book
                if entry.start_block is None or entry.start_block <= block_number}

    def read(role: str, address: str, method: str, types: tuple[str, ...] = (), args: tuple = (), key: str = "",
             fields: tuple[str, ...] = ("value",)) -> None:
        if address in deployed:
            call_data = keccak(text=f"{method}({','.join(types)})")[:4] + abi_encode(list(types), list(args))
            reads.append(StateRead(role, address, method, key, call_data, fields))

    for usdai in profile.entries("usdai"):
        read("usdai", usdai.address, "totalSupply")
        read("usdai", usdai.address, "bridgedSupply")
        # USDai the protocol holds itself (eliminated from what is outstanding), and what the AICPA criteria call
        # non-redeemable: balances frozen by the blacklist, and those held where no one has the key.
        holders = (*profile.protocol_addresses, *blacklisted, *(entry.address for entry in profile.entries("keyless")))
        for holder in dict.fromkeys(holders):
            read("usdai", usdai.address, "balanceOf", ("address",), (holder,), key=holder)
    for token_role in ("base_token", "usdc"):
        for token in profile.entries(token_role):
            for holder in profile.protocol_addresses:
                read(token_role, token.address, "balanceOf", ("address",), (holder,), key=holder)
    for susdai in profile.entries("susdai"):
        read("susdai", susdai.address, "totalAssets")
        read("susdai", susdai.address, "totalShares")
        read("susdai", susdai.address, "loanRouterBalances",
             fields=("repayments", "outstandingPrincipal", "accruedInterest"))
        read("susdai", susdai.address, "redemptionQueueInfo",
             fields=("index", "head", "tail", "pendingShares", "balance"))
        for holder in susdai_blacklisted:
            read("susdai", susdai.address, "balanceOf", ("address",), (holder,), key=holder)
    interfaces = {entry.address.lower(): entry.interface for entry in profile.address_book}
    for loan_terms_hash, router in sorted(loans.items()):
        interface = interfaces.get(router.lower()) or "LoanRouterV1"
        read(profile.role_of(router) or "loan_router", router, "loanState", ("bytes32",),
             (bytes.fromhex(loan_terms_hash[2:]),), key=loan_terms_hash, fields=LOAN_STATE_FIELDS[interface])
    return reads


def current_base_token(rpc: JsonRpcClient, profile: ChainProfile, block: BlockHeader | None) -> str | None:
    """The base token USDai holds its reserve in at `block`, of the profile's `base_token` entries: read from
    `USDai.baseToken()` when the profile lists more than one (USDai v1.4 moved it from wM to PYUSD; the token is fixed
    in each implementation, so it changes only at an upgrade). Before USDai answers, the first one listed."""
    candidates = [entry.address for entry in profile.entries("base_token")]
    if len(candidates) < 2 or block is None:
        return candidates[0] if candidates else None
    for usdai in profile.entries("usdai"):
        if usdai.start_block is not None and usdai.start_block > block.number:
            continue
        answer = rpc.batch([("eth_call", [{"to": usdai.address, "data": "0x" + _BASE_TOKEN.hex()},
                                          {"blockHash": block.hash}])], errors_as_values=True)[0]
        output = _output_or_none(answer)
        if output is None or len(output) < 32:
            continue
        (address,) = abi_decode(["address"], output[:32])
        known = {candidate.lower(): candidate for candidate in candidates}
        if address.lower() not in known:
            raise UnlistedBaseToken(
                f"USDai.baseToken() at block {block.number} is {address}, which the {profile.name} profile does not "
                f"list as a base_token: add it to the profile's address book")
        return known[address.lower()]
    return candidates[0]


class UnlistedBaseToken(Exception):
    """USDai holds its reserve in a token the profile does not list."""


class StateReader:
    """Reads state at a block, through Multicall3 when the chain has it there (`use_multicall=False` never does)."""

    def __init__(self, rpc: JsonRpcClient, *, use_multicall: bool = True) -> None:
        self.rpc = rpc
        self.use_multicall = use_multicall
        self.multicall_blocks: list[int] = []  # blocks read through Multicall3, for logs and tests

    def read(self, reads: list[StateRead], block: BlockHeader) -> tuple[list[dict[str, Any]], list[str]]:
        """(chain_state rows without partition_date, labels of the reads the contracts did not answer)."""
        pinned = {"blockHash": block.hash}
        if self.use_multicall and self._has_multicall(pinned):
            self.multicall_blocks.append(block.number)
            outputs = self._through_multicall(reads, pinned)
        else:
            outputs = self._through_batch(reads, pinned)
        rows, unavailable = [], []
        for read, output in zip(reads, outputs, strict=True):
            if output is None or len(output) < 32 * len(read.fields):
                # reverted, no code at the address, or a contract without this view
                unavailable.append(read.label)
                continue
            # Every output here is a static value (uint, enum, bool): one 32-byte word each.
            values = abi_decode(["uint256"] * len(read.fields), output[: 32 * len(read.fields)])
            for field_name, value in zip(read.fields, values, strict=True):
                rows.append({
                    "block_number": block.number,
                    "block_hash": block.hash,
                    "block_time": block.time,
                    "contract_role": read.contract_role,
                    "contract_address": read.contract_address,
                    "method": read.method,
                    "key": read.key,
                    "field": field_name,
                    "value": raw_amount(value, f"{read.label}.{field_name} at block {block.number}"),
                })
        return rows, unavailable

    def _has_multicall(self, pinned: dict) -> bool:
        code = self.rpc.call("eth_getCode", [MULTICALL3_ADDRESS, pinned])
        return bool(code) and code not in ("0x", "0x0")

    def _through_batch(self, reads: list[StateRead], pinned: dict) -> list[bytes | None]:
        answers = self.rpc.batch(
            [("eth_call", [{"to": read.contract_address, "data": "0x" + read.call_data.hex()}, pinned])
             for read in reads],
            errors_as_values=True,
        )
        return [_output_or_none(answer) for answer in answers]

    def _through_multicall(self, reads: list[StateRead], pinned: dict) -> list[bytes | None]:
        chunks = [reads[start : start + MULTICALL_CHUNK] for start in range(0, len(reads), MULTICALL_CHUNK)]
        calls = []
        for chunk in chunks:
            payload = _AGGREGATE3 + abi_encode(
                ["(address,bool,bytes)[]"], [[(read.contract_address, True, read.call_data) for read in chunk]])
            calls.append(("eth_call", [{"to": MULTICALL3_ADDRESS, "data": "0x" + payload.hex()}, pinned]))
        answers = self.rpc.batch(calls, errors_as_values=True)
        outputs: list[bytes | None] = []
        for chunk, answer in zip(chunks, answers, strict=True):
            if isinstance(answer, JsonRpcError):
                # The aggregate itself failed (a gas cap, a node quirk): the chunk's reads go one by one.
                outputs.extend(self._through_batch(chunk, pinned))
                continue
            (results,) = abi_decode(["(bool,bytes)[]"], bytes.fromhex(answer[2:]))
            outputs.extend(bytes(data) if success else None for success, data in results)
        return outputs


def _output_or_none(answer: Any) -> bytes | None:
    """An eth_call's output, or None when the contract reverted (or has no such view)."""
    if isinstance(answer, JsonRpcError):
        if answer.code == 3 or "revert" in answer.message.lower():
            return None
        raise answer
    return bytes.fromhex(answer[2:])
