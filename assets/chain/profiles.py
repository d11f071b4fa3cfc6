"""Chain profiles: which chain, which nodes, which contracts, when a block counts as final. The same ingest runs
on the sandbox and on Arbitrum One; only the profile differs.

A profile names one provider (`rpc_url`, the primary: every answer the lake is written from is its) and may name
more (`witness_rpc_urls`): each is asked the same questions and the day is written only when they agree
(assets.chain.providers). Arbitrum reads them from BACKED_RPC_URL and BACKED_RPC_URLS; the sandbox from its
deployment's `rpc_url` and optional `witness_rpc_urls`."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address

if TYPE_CHECKING:
    from assets.chain.rpc import JsonRpcClient

log = logging.getLogger(__name__)

PROTOCOL_ROLES = ("usdai", "susdai", "loan_router")
# The custodian's deposit address and the credit insurance pool's are accounts, not contracts: they emit no logs of
# their own; nor do keyless ones.
_ROLES_WITHOUT_LOGS = frozenset({"custodian", "insurer", "keyless"})
# Addresses no one holds a key to, by convention the destination of tokens taken out of circulation without a burn:
# USDai held there is outstanding on chain and permanently non-redeemable. Every profile reads their balances.
KEYLESS_ADDRESSES = ("0x000000000000000000000000000000000000dEaD",)

ARBITRUM_CHAIN_ID = 42161
# Used only when the node has no `finalized` tag: about half an hour of Arbitrum blocks (~4 per second), past the
# L1 batch posting that makes them final.
ARBITRUM_CONFIRMATIONS = 7200

# How a profile decides which blocks are final: the node's `finalized` tag (head - confirmations where the node
# lacks it), or always head - confirmations. anvil answers `finalized` with head - 64 whatever happened, an
# emulation that would hold back every sandbox day, so the sandbox counts depth.
FINALITIES = ("finalized", "depth")


@dataclass(frozen=True)
class AddressBookEntry:
    role: str
    address: str
    is_protocol: bool
    token_symbol: str | None = None
    token_decimals: int | None = None
    start_block: int | None = None
    # The contract's interface where reads differ by release: the loan routers' `loanState` returns other fields
    # and numbers its statuses otherwise in V2 (LOAN_STATE_FIELDS in state.py; seed loan_router_statuses).
    interface: str | None = None


@dataclass(frozen=True)
class ChainProfile:
    name: str
    chain_id: int
    rpc_url: str = field(repr=False)
    confirmations: int
    address_book: tuple[AddressBookEntry, ...]
    finality: str = "depth"
    # What the provider's plan allows: requests in flight, and requests started per second (None: no cap).
    max_concurrency: int = 4
    requests_per_second: float | None = None
    # Other providers of the same chain, asked the same questions as `rpc_url` and compared with it.
    witness_rpc_urls: tuple[str, ...] = field(default=(), repr=False)

    @property
    def rpc_urls(self) -> tuple[str, ...]:
        """Every provider, the primary first."""
        return (self.rpc_url, *self.witness_rpc_urls)

    def __post_init__(self) -> None:
        if self.finality not in FINALITIES:
            raise ProfileError(f"profile {self.name}: finality {self.finality!r} is not one of {FINALITIES}")

    def entries(self, role: str) -> list[AddressBookEntry]:
        return [entry for entry in self.address_book if entry.role == role]

    def role_of(self, address: str) -> str | None:
        wanted = address.lower()
        for entry in self.address_book:
            if entry.address.lower() == wanted:
                return entry.role
        return None

    @property
    def watched_addresses(self) -> list[str]:
        """Contracts whose logs are ingested, each once, in address-book order."""
        seen: dict[str, None] = {}
        for entry in self.address_book:
            if entry.role not in _ROLES_WITHOUT_LOGS:
                seen.setdefault(entry.address, None)
        return list(seen)

    def watched_addresses_until(self, last_block: int) -> list[str]:
        """The watched contracts that exist by `last_block` (an unknown start block counts as existing)."""
        seen: dict[str, None] = {}
        for entry in self.address_book:
            if entry.role not in _ROLES_WITHOUT_LOGS and (entry.start_block is None or entry.start_block <= last_block):
                seen.setdefault(entry.address, None)
        return list(seen)

    @property
    def protocol_addresses(self) -> list[str]:
        return [entry.address for entry in self.address_book if entry.is_protocol]

    def with_start_blocks(self, rpc: JsonRpcClient) -> ChainProfile:
        """This profile with every unknown contract start block found on the chain (see `find_start_blocks`)."""
        unknown = sorted({entry.address for entry in self.address_book
                          if entry.start_block is None and entry.role not in _ROLES_WITHOUT_LOGS})
        if not unknown:
            return self
        found = find_start_blocks(rpc, unknown)
        return dataclasses.replace(self, address_book=tuple(
            dataclasses.replace(entry, start_block=found.get(entry.address)) if entry.start_block is None else entry
            for entry in self.address_book
        ))


def rpc_client(profile: ChainProfile, *, url: str | None = None, **options: Any) -> JsonRpcClient:
    """The JSON-RPC client for the profile's node (or for `url`, another of its providers), within the provider
    limits the profile states."""
    from assets.chain.rpc import JsonRpcClient

    return JsonRpcClient(url or profile.rpc_url, **{"max_concurrency": profile.max_concurrency,
                                                    "requests_per_second": profile.requests_per_second, **options})


def find_start_blocks(rpc: JsonRpcClient, addresses: list[str]) -> dict[str, int]:
    """The first block at which each address has code, by binary search on `eth_getCode` (all addresses in
    lockstep, one JSON-RPC batch per step). An address without code at the head is left out; so is every
    address when the node cannot serve old state (not an archive node): the ingest then watches from genesis,
    which is correct, only slower."""
    from assets.chain.rpc import JsonRpcError

    head = int(rpc.call("eth_blockNumber", []), 16)
    try:
        at_head = rpc.batch([("eth_getCode", [address, hex(head)]) for address in addresses])
        searching = {address: (0, head) for address, code in zip(addresses, at_head) if _has_code(code)}
        # invariant: the address has code at `high` and none before `low`
        while any(low < high for low, high in searching.values()):
            pending = [(address, (low + high) // 2) for address, (low, high) in searching.items() if low < high]
            answers = rpc.batch([("eth_getCode", [address, hex(middle)]) for address, middle in pending])
            for (address, middle), code in zip(pending, answers):
                low, high = searching[address]
                searching[address] = (low, middle) if _has_code(code) else (middle + 1, high)
    except JsonRpcError as error:
        log.warning("cannot find contract start blocks (%s); watching from genesis", error.message)
        return {}
    return {address: high for address, (_, high) in searching.items()}


def _has_code(code: str | None) -> bool:
    return bool(code) and code not in ("0x", "0x0")


class ProfileError(ValueError):
    """The profile cannot be loaded as configured."""


def load_profile(name: str, home: Path) -> ChainProfile:
    if name == "sandbox":
        return _with_keyless_addresses(_sandbox_profile(Path(home) / "sandbox" / "deployment.json"))
    if name == "arbitrum":
        return _with_keyless_addresses(_arbitrum_profile())
    raise ProfileError(f"unknown chain profile {name!r} (known: sandbox, arbitrum)")


def _with_keyless_addresses(profile: ChainProfile) -> ChainProfile:
    known = {entry.address.lower() for entry in profile.address_book}
    keyless = tuple(AddressBookEntry("keyless", to_checksum_address(address), False)
                    for address in KEYLESS_ADDRESSES if address.lower() not in known)
    return dataclasses.replace(profile, address_book=profile.address_book + keyless)


def _sandbox_profile(deployment_path: Path) -> ChainProfile:
    if not deployment_path.exists():
        raise ProfileError(f"no sandbox deployment at {deployment_path}: run the sandbox simulator first")
    deployment = json.loads(deployment_path.read_text())
    try:
        witnesses = deployment.get("witness_rpc_urls") or []
        return ChainProfile(
            name=deployment.get("profile", "sandbox"),
            chain_id=int(deployment["chain_id"]),
            rpc_url=deployment["rpc_url"],
            confirmations=int(deployment["confirmations"]),
            finality=deployment.get("finality", "depth"),
            max_concurrency=int(deployment.get("rpc_max_concurrency", 4)),
            requests_per_second=deployment.get("rpc_requests_per_second"),
            witness_rpc_urls=_distinct_urls(re.split(r"[\s,]+", witnesses) if isinstance(witnesses, str)
                                            else list(witnesses), exclude=deployment["rpc_url"]),
            address_book=tuple(
                AddressBookEntry(
                    role=entry["role"],
                    address=to_checksum_address(entry["address"]),
                    is_protocol=bool(entry.get("is_protocol", entry["role"] in PROTOCOL_ROLES)),
                    token_symbol=entry.get("token_symbol"),
                    token_decimals=entry.get("token_decimals"),
                    start_block=entry.get("start_block"),
                    interface=entry.get("interface"),
                )
                for entry in deployment["address_book"]
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileError(f"{deployment_path} is not a sandbox deployment: {exc!r}") from exc


def provider_urls(single: str, several: str) -> tuple[str, ...]:
    """The providers of BACKED_RPC_URL (one URL) and BACKED_RPC_URLS (several, separated by commas or white space),
    each once, BACKED_RPC_URL first."""
    return _distinct_urls([single.strip(), *re.split(r"[\s,]+", several)])


def _distinct_urls(urls: list[str], exclude: str | None = None) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for url in urls:
        url = str(url).strip()
        if url and url != exclude:
            seen.setdefault(url, None)
    return tuple(seen)


def _arbitrum_profile() -> ChainProfile:
    urls = provider_urls(os.environ.get("BACKED_RPC_URL", ""), os.environ.get("BACKED_RPC_URLS", ""))
    if not urls:
        raise ProfileError("the arbitrum profile needs an Arbitrum One JSON-RPC URL in BACKED_RPC_URL (or several, "
                           "comma-separated, in BACKED_RPC_URLS)")
    rpc_url = urls[0]
    # Start blocks are not typed in: `ChainProfile.with_start_blocks` finds each contract's creation block on the
    # chain itself (the ingest calls it once per run), so no figure here can be wrong.
    book = [
        AddressBookEntry("usdai", "0x0A1a1A107E45b7Ced86833863f482BC5f4ed82EF", True, "USDai", 18),
        AddressBookEntry("susdai", "0x0B2b2B2076d95dda7817e785989fE353fe955ef9", True, "sUSDai", 18),
        AddressBookEntry("loan_router", "0x0C2ED170F2bB1DF1a44292Ad621B577b3C9597D1", True, interface="LoanRouterV1"),
        AddressBookEntry("loan_router", "0x1C2ED170de32846316784c4fd58A5e3C7563E12f", True, interface="LoanRouterV2"),
        AddressBookEntry("bundle_wrapper", "0x80E3146FB2328fE1b79f92F5a3a6bF35515AEe37", False),
        # wM was the base token until USDai v1.4, PYUSD since: both stay, history spans both.
        AddressBookEntry("base_token", "0x437cc33344a0b27a429f795ff6b469c72698b291", False, "wM", 6),
        AddressBookEntry("base_token", "0x46850aD61C2B7d64d08c9C754F45254596696984", False, "PYUSD", 6),
    ]
    custodian = os.environ.get("BACKED_CUSTODIAN_ADDRESS", "").strip()
    if custodian:
        try:
            book.append(AddressBookEntry("custodian", to_checksum_address(custodian), False))
        except ValueError:
            raise ProfileError("BACKED_CUSTODIAN_ADDRESS is not an address") from None
    return ChainProfile(
        name="arbitrum",
        chain_id=ARBITRUM_CHAIN_ID,
        rpc_url=rpc_url,
        witness_rpc_urls=urls[1:],
        confirmations=ARBITRUM_CONFIRMATIONS,
        finality="finalized",
        max_concurrency=_environment_number("BACKED_RPC_CONCURRENCY", int, 4),
        requests_per_second=_environment_number("BACKED_RPC_REQUESTS_PER_SECOND", float, None),
        address_book=tuple(
            AddressBookEntry(
                entry.role,
                to_checksum_address(entry.address),
                entry.is_protocol,
                entry.token_symbol,
                entry.token_decimals,
                entry.start_block,
                entry.interface,
            )
            for entry in book
        ),
    )


def _environment_number(name: str, kind: type, default: Any) -> Any:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ProfileError(f"{name} is not a number: {text!r}") from None
    if value <= 0:
        raise ProfileError(f"{name} must be positive, got {text}")
    return value
