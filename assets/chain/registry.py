"""Every event the platform decodes, keyed by (topic0, number of indexed arguments).

Contracts are upgraded in place, so decoding goes by topic0, never by one ABI: every known version of an
event stays here. ERC-20 and ERC-721 `Transfer` (and `Approval`) share a topic0 and differ only in how many
arguments are indexed, hence the second half of the key. topic0 is computed from the declaration text
below (copied from the protocol's event catalogue), so the text is the single source of truth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import pyarrow as pa
from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_hash.auto import keccak as keccak256
from eth_utils import keccak

from foundation.lake import SCHEMAS

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

_HEX_DIGITS = re.compile(r"[0-9a-f]*")
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

    @cached_property
    def word_plan(self) -> WordPlan | None:
        """How to read each argument from the topics and data as text, when every argument is one 32-byte word
        (no `bytes`); None sends the event through eth_abi."""
        if not all(event_input.abi_type in _WORD_DECODERS for event_input in self.inputs):
            return None
        # The words are read from the indexed topics followed by the data, in that order.
        indexed = [event_input for event_input in self.inputs if event_input.indexed]
        unindexed = [event_input for event_input in self.inputs if not event_input.indexed]
        offsets = {id(event_input): 64 * position for position, event_input in enumerate([*indexed, *unindexed])}
        steps = tuple(
            (
                event_input.column,
                _identifier if event_input.abi_type == "uint256" and event_input.column in _IDENTIFIER_COLUMNS
                else _WORD_DECODERS[event_input.abi_type],
                offsets[id(event_input)],
            )
            for event_input in self.inputs
        )
        return WordPlan(steps=steps, length=64 * len(self.inputs))


@dataclass(frozen=True)
class WordPlan:
    steps: tuple[tuple[str, Any, int], ...]  # (lake column, word decoder, offset in the hex text of topics + data)
    length: int  # hex digits the arguments need


# Not frozen: one is made per log, and a frozen dataclass costs ten times as much to build.
@dataclass(slots=True)
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
    topics = [topic.lower() if topic[:2] == "0x" else _hex(topic) for topic in raw_log.get("topics") or ()]
    if not topics:
        return None
    spec = REGISTRY.get((topics[0], len(topics) - 1))
    if spec is None:
        return None
    data = raw_log.get("data") or "0x"
    try:
        if spec.word_plan is not None:
            args = _decode_words(spec.word_plan, topics, data.lower() if data[:2] == "0x" else _hex(data))
        else:
            args = _decode_arguments(spec, topics[1:], _bytes(data))
    except (DecodingError, ValueError, TypeError, OverflowError):
        return None
    return DecodedLog(
        event=spec,
        contract_address=checksummed(raw_log["address"]),
        block_number=_integer(raw_log["blockNumber"]),
        block_hash=_hex(raw_log["blockHash"]),
        tx_hash=_hex(raw_log["transactionHash"]),
        log_index=_integer(raw_log["logIndex"]),
        args=args,
    )


_UPPER_NIBBLES = frozenset("89abcdef")


@lru_cache(maxsize=65_536)
def checksummed(address: str) -> str:
    """The EIP-55 form of an address (a hex digit is upper case where the keccak of the lower-case address has a
    high nibble). Cached, because a few addresses fill most logs and each checksum costs a keccak."""
    digits = address[2:].lower() if address[:2] in ("0x", "0X") else address.lower()
    if len(digits) != 40 or not _HEX_DIGITS.fullmatch(digits):
        raise ValueError(f"not an address: {address!r}")
    digest = keccak256(digits.encode()).hex()
    return "0x" + "".join([digit.upper() if nibble in _UPPER_NIBBLES else digit
                           for digit, nibble in zip(digits, digest)])


def _word_address(word: str) -> str:
    if word[:24].strip("0"):
        raise ValueError("address padding is not zero")
    return checksummed("0x" + word[24:])


def _word_uint8(word: str) -> int:
    value = int(word, 16)
    if value > 0xFF:
        raise ValueError("uint8 padding is not zero")
    return value


def _word_bool(word: str) -> bool:
    value = int(word, 16)
    if value > 1:
        raise ValueError("a bool is 0 or 1")
    return value == 1


# One 32-byte word (64 lower-case hex digits) → the lake value, with the checks eth_abi makes in strict mode
# (non-zero padding, or a bool other than 0/1, is a payload that does not fit the event).
_WORD_DECODERS = {
    "address": _word_address,
    "uint256": lambda word: int(word, 16),
    "uint8": _word_uint8,
    "bool": _word_bool,
    "bytes32": lambda word: "0x" + word,
}


def _identifier(word: str) -> str:
    return str(int(word, 16))


def _decode_words(plan: WordPlan, topics: list[str], data: str) -> dict[str, Any]:
    """The fast path for events whose arguments are one word each: slices of the hex text, no ABI machinery.
    Gives exactly what `_decode_arguments` gives (tested against it for every such event)."""
    words = "".join(topic[2:] for topic in topics[1:]) + data[2:]
    if len(words) < plan.length or len(words) % 2 or not _HEX_DIGITS.fullmatch(words):
        raise ValueError("topics and data are not the event's arguments")
    if any(len(topic) != 66 for topic in topics):
        raise ValueError("a topic is not 32 bytes")
    return {column: decoder(words[start : start + 64]) for column, decoder, start in plan.steps}


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
        return checksummed(value)
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
