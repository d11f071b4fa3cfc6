"""Every event the platform decodes, keyed by (topic0, number of indexed arguments).

Contracts are upgraded in place, so decoding goes by topic0, never by one ABI: every known version of an
event stays here. ERC-20 and ERC-721 `Transfer` (and `Approval`) share a topic0 and differ only in how many
arguments are indexed, hence the second half of the key. topic0 is computed from the declaration text
below (copied from the protocol's event catalogue), so the text is the single source of truth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak, to_checksum_address

from assets.lake import SCHEMAS

# (declaring standard or contract, declaration)
EVENT_DECLARATIONS: tuple[tuple[str, str], ...] = (
    ("erc20", "Transfer(address indexed from, address indexed to, uint256 value)"),
    ("erc20", "Approval(address indexed owner, address indexed spender, uint256 value)"),
    ("erc721", "Transfer(address indexed from, address indexed to, uint256 indexed tokenId)"),
    ("erc721", "Approval(address indexed owner, address indexed approved, uint256 indexed tokenId)"),
    ("erc721", "ApprovalForAll(address indexed owner, address indexed operator, bool approved)"),
    ("usdai", "Deposited(address indexed caller, address indexed recipient, address depositToken, uint256 depositAmount, uint256 mintAmount)"),
    ("usdai", "Withdrawn(address indexed caller, address indexed recipient, address withdrawToken, uint256 usdaiAmount, uint256 withdrawAmount)"),
    ("usdai", "Harvested(uint256 usdaiAmount)"),
    ("usdai", "BlacklistUpdated(address indexed account, bool isBlacklisted)"),
    ("susdai", "Deposit(address indexed sender, address indexed owner, uint256 assets, uint256 shares)"),
    ("susdai", "Withdraw(address indexed sender, address indexed receiver, address indexed owner, uint256 assets, uint256 shares)"),
    ("susdai", "RedeemRequest(address indexed controller, address indexed owner, uint256 indexed requestId, address sender, uint256 shares)"),
    ("susdai", "RedemptionProcessed(uint256 indexed redemptionId, address indexed controller, uint256 fulfilledShares, uint256 amount, uint256 pendingShares)"),
    ("susdai", "RedemptionsServiced(uint256 shares, uint256 amount, bool allRedemptionsServiced)"),
    ("susdai v1.1+", "BaseYieldDeposited(uint256 depositedAmount, uint256 adminFee)"),
    # The catalogue gives v1.0's argument no name; it is the deposited amount, so it fills the same column.
    ("susdai v1.0", "BaseYieldDeposited(uint256 depositedAmount)"),
    ("susdai", "LoanRepaymentDeposited(address indexed currencyToken, uint256 depositAmount, uint256 usdaiDepositAmount)"),
    ("susdai", "AdminFeeWithdrawn(address indexed currencyToken, uint256 adminFeeAmount, uint256 usdaiDepositAmount)"),
    ("loan_router", "LoanOriginated(bytes32 indexed loanTermsHash, address indexed borrower, address indexed currencyToken, uint256 principal, uint256 originationFee)"),
    ("loan_router", "LenderPositionMinted(bytes32 indexed loanTermsHash, address indexed lender, uint8 indexed trancheIndex, uint256 tokenId)"),
    ("loan_router", "LenderRepaid(bytes32 indexed loanTermsHash, address indexed lender, uint8 indexed trancheIndex, uint256 principal, uint256 interest, uint256 prepay)"),
    ("loan_router", "LoanRepaid(bytes32 indexed loanTermsHash, address indexed borrower, uint256 principal, uint256 interest, uint256 prepayment, uint256 exitFee, bool isRepaid)"),
    ("loan_router", "LoanLiquidated(bytes32 indexed loanTermsHash)"),
    ("loan_router", "LenderLiquidationRepaid(bytes32 indexed loanTermsHash, address indexed lender, uint8 indexed trancheIndex, uint256 principal, uint256 interest)"),
    ("loan_router v1", "LoanCollateralLiquidated(bytes32 indexed loanTermsHash, uint256 proceeds, uint256 liquidationFee, uint256 surplus)"),
    ("loan_router v2", "LoanRefinanced(bytes32 indexed oldLoanTermsHash, bytes32 indexed newLoanTermsHash, bytes newLoanTerms)"),
    ("loan_router v2", "LoanBreached(bytes32 indexed loanTermsHash)"),
    ("loan_router v2", "LiquidationProceedsDeposited(bytes32 indexed loanTermsHash, uint256 proceeds, uint256 fee, uint256 surplus)"),
    ("bundle_wrapper", "BundleMinted(uint256 indexed tokenId, address indexed account, bytes encodedBundle)"),
    ("bundle_wrapper", "BundleUnwrapped(uint256 indexed tokenId, address indexed account)"),
)

# Argument names whose snake_case form is not the lake column: `from`/`to` are SQL keywords, and
# ERC-721's `approved` address is the spender of the token (the `approved` column is ApprovalForAll's flag).
_COLUMN_OVERRIDES: dict[tuple[str, str], str] = {
    ("from", "address"): "from_address",
    ("to", "address"): "to_address",
    ("approved", "address"): "spender",
}

_DECLARATION = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\((?P<params>.*)\)$")
_PARAMETER = re.compile(r"^(?P<type>[a-z0-9]+)(?P<indexed>\s+indexed)?\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)$")


@dataclass(frozen=True)
class EventInput:
    name: str
    abi_type: str
    indexed: bool
    column: str


@dataclass(frozen=True)
class EventSpec:
    name: str
    signature: str
    topic0: str
    inputs: tuple[EventInput, ...]
    declared_by: str

    @property
    def indexed_count(self) -> int:
        return sum(1 for event_input in self.inputs if event_input.indexed)


@dataclass(frozen=True)
class DecodedLog:
    event: EventSpec
    contract_address: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    # lake column → value: checksummed address, int amount, str identifier, 0x-hex bytes, bool
    args: dict[str, Any]


class RegistryError(ValueError):
    """The registry contradicts itself or the lake schema."""


def signature_topic0(signature: str) -> str:
    return "0x" + keccak(text=signature).hex()


def snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def parse_declaration(declaration: str, declared_by: str = "") -> EventSpec:
    matched = _DECLARATION.match(declaration.strip())
    if not matched:
        raise RegistryError(f"not an event declaration: {declaration!r}")
    inputs = []
    for parameter in filter(None, (part.strip() for part in matched.group("params").split(","))):
        parsed = _PARAMETER.match(parameter)
        if not parsed:
            raise RegistryError(f"cannot read parameter {parameter!r} of {declaration!r}")
        name, abi_type = parsed.group("name"), parsed.group("type")
        inputs.append(
            EventInput(
                name=name,
                abi_type=abi_type,
                indexed=bool(parsed.group("indexed")),
                column=_COLUMN_OVERRIDES.get((name, abi_type), snake_case(name)),
            )
        )
    signature = f"{matched.group('name')}({','.join(event_input.abi_type for event_input in inputs)})"
    return EventSpec(
        name=matched.group("name"),
        signature=signature,
        topic0=signature_topic0(signature),
        inputs=tuple(inputs),
        declared_by=declared_by,
    )


def _build_registry() -> dict[tuple[str, int], EventSpec]:
    registry: dict[tuple[str, int], EventSpec] = {}
    event_schema = SCHEMAS["chain_events"]
    for declared_by, declaration in EVENT_DECLARATIONS:
        spec = parse_declaration(declaration, declared_by)
        key = (spec.topic0, spec.indexed_count)
        if key in registry:
            raise RegistryError(f"{spec.signature} collides with {registry[key].signature}")
        for event_input in spec.inputs:
            if event_input.column not in event_schema.names:
                raise RegistryError(f"{spec.signature}: no chain_events column {event_input.column!r}")
            column_type = event_schema.field(event_input.column).type
            if not _fits(event_input.abi_type, column_type):
                raise RegistryError(f"{spec.signature}: {event_input.abi_type} cannot go in {event_input.column} {column_type}")
        registry[key] = spec
    return registry


def _fits(abi_type: str, column_type: pa.DataType) -> bool:
    if abi_type in ("address", "bytes", "bytes32"):
        return pa.types.is_string(column_type)
    if abi_type == "bool":
        return pa.types.is_boolean(column_type)
    if abi_type == "uint8":
        return pa.types.is_int32(column_type)
    if abi_type == "uint256":
        # amounts are exact decimals; identifiers (token ids, request ids) are decimal strings
        return pa.types.is_decimal(column_type) or pa.types.is_string(column_type)
    return False


REGISTRY: dict[tuple[str, int], EventSpec] = _build_registry()
_IDENTIFIER_COLUMNS = frozenset(
    field.name for field in SCHEMAS["chain_events"] if pa.types.is_string(field.type)
)


def decode_log(raw_log: dict) -> DecodedLog | None:
    """Decode one JSON-RPC log; None when no registered event has its topic0 and indexed-argument
    count, or when its payload does not fit that event (the caller keeps such logs raw)."""
    topics = [_hex(topic) for topic in raw_log.get("topics") or ()]
    if not topics:
        return None
    spec = REGISTRY.get((topics[0], len(topics) - 1))
    if spec is None:
        return None
    try:
        args = _decode_arguments(spec, topics[1:], _bytes(raw_log.get("data", "0x")))
    except (DecodingError, ValueError, TypeError, OverflowError):
        return None
    return DecodedLog(
        event=spec,
        contract_address=to_checksum_address(_hex(raw_log["address"])),
        block_number=_integer(raw_log["blockNumber"]),
        block_hash=_hex(raw_log["blockHash"]),
        tx_hash=_hex(raw_log["transactionHash"]),
        log_index=_integer(raw_log["logIndex"]),
        args=args,
    )


def _decode_arguments(spec: EventSpec, indexed_topics: list[str], data: bytes) -> dict[str, Any]:
    indexed = [event_input for event_input in spec.inputs if event_input.indexed]
    unindexed = [event_input for event_input in spec.inputs if not event_input.indexed]
    values: dict[str, Any] = {}
    for event_input, topic in zip(indexed, indexed_topics, strict=True):
        (values[event_input.column],) = abi_decode([event_input.abi_type], bytes.fromhex(topic[2:]))
    decoded = abi_decode([event_input.abi_type for event_input in unindexed], data) if unindexed else ()
    for event_input, value in zip(unindexed, decoded, strict=True):
        values[event_input.column] = value
    return {
        event_input.column: _lake_value(event_input, values[event_input.column]) for event_input in spec.inputs
    }


def _lake_value(event_input: EventInput, value: Any) -> Any:
    if event_input.abi_type == "address":
        return to_checksum_address(value)
    if event_input.abi_type in ("bytes", "bytes32"):
        return "0x" + bytes(value).hex()
    if event_input.abi_type == "uint256" and event_input.column in _IDENTIFIER_COLUMNS:
        return str(value)
    return value


def _hex(value: str | bytes) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return value.lower() if value.startswith("0x") else "0x" + value.lower()


def _bytes(value: str | bytes) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


def _integer(value: int | str) -> int:
    return value if isinstance(value, int) else int(value, 16)
