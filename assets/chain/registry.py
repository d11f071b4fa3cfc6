"""Every event the platform decodes, keyed by (topic0, number of indexed arguments).

Contracts are upgraded in place, so decoding goes by topic0, never by one ABI: every version of an event that the
public USD.AI repositories ever declared is here (usdai_events_catalogue.json, kept as received, plus the few library
events of events.toml). ERC-20 and ERC-721 `Transfer` (and `Approval`) share a topic0 and differ only in how many
arguments are indexed, hence the second half of the key. topic0 is computed from the declaration text, so the text is
the single source of truth.

Every registered event is decoded by name with typed arguments (`arguments`, JSON in the lake). The events a model
reads are *modelled*, and `model` says which: `ledger` (`MODELLED_DECLARATIONS` maps their arguments to the lake's
columns), `bridge` (the omnichain adapters' OFT events: a mint they deliver is no unbacked mint) or `contract_changes`
(upgrades, roles, pauses and parameter setters: `CONTRACT_CHANGE_EVENTS`); the last two read from `arguments`. The others are *declared, not modelled*: kept with their arguments and reported by name, never mistaken
for a modelled event of the same name (the staging model reads modelled rows only).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_hash.auto import keccak as keccak256
from eth_utils import keccak

from foundation.lake import SCHEMAS

CATALOGUE_PATH = Path(__file__).with_name("usdai_events_catalogue.json")
OVERLAY_PATH = Path(__file__).with_name("events.toml")

# The events whose arguments the lake has columns for: (declaring standard or contract, declaration). The argument
# names here are the lake's (snake_cased); the names printed and kept in `arguments` are the catalogue's.
MODELLED_DECLARATIONS: tuple[tuple[str, str], ...] = (
    ("erc20", "Transfer(address indexed from, address indexed to, uint256 value)"),
    ("erc20", "Approval(address indexed owner, address indexed spender, uint256 value)"),
    ("erc721", "Transfer(address indexed from, address indexed to, uint256 indexed tokenId)"),
    ("erc721", "Approval(address indexed owner, address indexed approved, uint256 indexed tokenId)"),
    ("erc721", "ApprovalForAll(address indexed owner, address indexed operator, bool approved)"),
    ("usdai", "Deposited(address indexed caller, address indexed recipient, address depositToken, uint256 depositAmount, uint256 mintAmount)"),
    ("usdai", "Withdrawn(address indexed caller, address indexed recipient, address withdrawToken, uint256 usdaiAmount, uint256 withdrawAmount)"),
    ("usdai", "Harvested(uint256 usdaiAmount)"),
    ("usdai", "BlacklistUpdated(address indexed account, bool isBlacklisted)"),
    ("usdai v1.4", "BaseTokenConverted(address indexed converter, uint256 amount)"),
    ("susdai v1.0-v1.6", "Blacklisted(address indexed value, bool isBlacklisted)"),
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
    # MetaStreet pool positions (StakedUSDai v1.0-v1.5: deposits and redemptions to v1.3, withdrawals to v1.5)
    ("susdai v1.0-v1.3", "PoolDeposited(address indexed pool, uint128 indexed tick, uint256 usdaiAmount, uint256 poolCurrencyAmount)"),
    ("susdai v1.0-v1.3", "PoolRedeemed(address indexed pool, uint128 indexed tick, uint256 shares, uint128 redemptionId)"),
    ("susdai v1.0-v1.5", "PoolWithdrawn(address indexed pool, uint128 indexed tick, uint256 shares, uint128 redemptionId, uint256 poolCurrencyAmount, uint256 usdaiAmount)"),
    ("susdai v1.5-v1.8", "LoanTimelockDeposited(bytes32 indexed loanTermsHash, uint256 usdaiAmount, uint64 expiration)"),
    ("susdai v1.5-v1.8", "LoanTimelockCancelled(bytes32 indexed loanTermsHash, uint256 usdaiAmount)"),
    ("susdai v1.10", "LoanDepositTimelockDeposited(bytes32 indexed loanTermsHash, uint256 usdaiAmount, uint64 expiration)"),
    ("susdai v1.10", "LoanDepositTimelockCancelled(bytes32 indexed loanTermsHash, uint256 usdaiAmount)"),
    ("susdai v1.9+", "LoanEscrowTimelockDeposited(bytes32 indexed loanTermsHash, uint256 usdaiAmount, uint256 interestRate)"),
    ("susdai v1.9+", "LoanEscrowTimelockWithdrawn(bytes32 indexed loanTermsHash, uint256 interestAmount)"),
    ("susdai v1.9+", "LoanEscrowTimelockCancelled(bytes32 indexed loanTermsHash, uint256 usdaiAmount, uint256 interestAmount)"),
    ("loan_router", "LoanOriginated(bytes32 indexed loanTermsHash, address indexed borrower, address indexed currencyToken, uint256 principal, uint256 originationFee)"),
    ("loan_router", "LenderPositionMinted(bytes32 indexed loanTermsHash, address indexed lender, uint8 indexed trancheIndex, uint256 tokenId)"),
    ("loan_router", "LenderRepaid(bytes32 indexed loanTermsHash, address indexed lender, uint8 indexed trancheIndex, uint256 principal, uint256 interest, uint256 prepay)"),
    ("loan_router", "LoanRepaid(bytes32 indexed loanTermsHash, address indexed borrower, uint256 principal, uint256 interest, uint256 prepayment, uint256 exitFee, bool isRepaid)"),
    ("loan_router", "LoanLiquidated(bytes32 indexed loanTermsHash)"),
    ("loan_router", "LenderLiquidationRepaid(bytes32 indexed loanTermsHash, address indexed lender, uint8 indexed trancheIndex, uint256 principal, uint256 interest)"),
    ("loan_router v1", "LoanCollateralLiquidated(bytes32 indexed loanTermsHash, uint256 proceeds, uint256 liquidationFee, uint256 surplus)"),
    ("loan_router v2 v1.0", "LoanMigrated(bytes32 indexed loanTermsHashV1, bytes32 indexed loanTermsHashV2, bytes loanTerms)"),
    ("loan_router v2", "LoanRefinanced(bytes32 indexed oldLoanTermsHash, bytes32 indexed newLoanTermsHash, bytes newLoanTerms)"),
    ("loan_router v2", "LoanBreached(bytes32 indexed loanTermsHash)"),
    ("loan_router v2", "LiquidationProceedsDeposited(bytes32 indexed loanTermsHash, uint256 proceeds, uint256 fee, uint256 surplus)"),
    # each fee the V2 router pays out (kind 0 origination, 1 repayment, 2 exit, 3 liquidation), to whom, of how much
    ("loan_router v2", "FeePaid(bytes32 indexed loanTermsHash, uint8 indexed kind, address indexed recipient, address feeModel, uint256 amount)"),
    ("bundle_wrapper", "BundleMinted(uint256 indexed tokenId, address indexed account, bytes encodedBundle)"),
    ("bundle_wrapper", "BundleUnwrapped(uint256 indexed tokenId, address indexed account)"),
)

# Argument names whose snake_case form is not the lake column: `from`/`to` are SQL keywords, and
# ERC-721's `approved` address is the spender of the token (the `approved` column is ApprovalForAll's flag).
# Every version of these: what changes the contracts themselves (code, admins, roles, pause, parameters), listed by
# the contract_changes model, warned of by H8 and printed in the attestation of its period.
CONTRACT_CHANGE_EVENTS = frozenset({
    "Upgraded", "AdminChanged", "BeaconUpgraded", "Initialized", "Migrated", "EIP712DomainChanged",
    "RoleGranted", "RoleRevoked", "RoleAdminChanged", "Paused", "Unpaused",
    "SupplyCapSet", "DepositCapSet", "DepositCapUpdated", "DepositTotalReset", "FeeRecipientSet",
    "LiquidationFeeRateSet", "AdminFeeRateSet", "BaseYieldRateTiersSet", "ReservesRequiredSet", "AuctionDurationSet",
    "TokenPriceFeedAdded", "TokenPriceFeedRemoved", "TokenPriceFeedSet", "SwapAdapterAdded", "SwapAdapterRemoved",
    "WhitelistedTokensAdded", "WhitelistedTokensRemoved", "WhitelistedOAdaptersAdded", "WhitelistedOAdaptersRemoved",
    "DepositEidWhitelistUpdated", "ReceiptTokenDeployed", "ReserveAccountCreated",
})

# USDai leaving for and coming back from other chains through the omnichain adapter (LayerZero OFT).
BRIDGE_EVENTS = frozenset({"OFTSent", "OFTReceived"})

_COLUMN_OVERRIDES: dict[tuple[str, str], str] = {
    ("from", "address"): "from_address",
    ("to", "address"): "to_address",
    ("approved", "address"): "spender",
    # sUSDai's own blacklist (v1.0–v1.6) names the account `value`
    ("value", "address"): "account",
    # the escrow's interest, in USDai: what the `interest` column holds for the router's repayments
    ("interestAmount", "uint256"): "interest",
    # a migration renames a V1 loan to its V2 terms, as a refinance renames a V2 loan
    ("loanTermsHashV1", "bytes32"): "old_loan_terms_hash",
    ("loanTermsHashV2", "bytes32"): "new_loan_terms_hash",
    ("loanTerms", "bytes"): "new_loan_terms",
    # the admin who swaps the reserve from the former base token to the new one: the call's sender
    ("converter", "address"): "caller",
    # LoanRouterV2 FeePaid's fee kind (0 origination, 1 repayment, 2 exit, 3 liquidation): `kind` alone says nothing
    ("kind", "uint8"): "fee_kind",
}

_HEX_DIGITS = re.compile(r"[0-9a-f]*")
_DECLARATION = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\((?P<params>.*)\)$")
# A type is elementary (`uint256`, `bytes32`) or a tuple of types, either followed by array suffixes.
_PARAMETER = re.compile(r"^(?P<type>(?:\((?:[^()]|\([^()]*\))*\)|[a-z][a-z0-9]*)(?:\[[0-9]*\])*)"
                        r"(?P<indexed>\s+indexed)?(?:\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*))?$")
_ELEMENTARY = re.compile(r"^(?:address|bool|string|bytes(?:[1-9]|[12][0-9]|3[0-2])?|u?int(?:[0-9]{1,3})?)$")


@dataclass(frozen=True)
class EventInput:
    name: str  # as the contract declares it (the catalogue's name)
    abi_type: str
    indexed: bool
    column: str  # the lake column of a modelled event; the snake_case name otherwise (not a lake column)

    @property
    def hashed_in_topic(self) -> bool:
        """An indexed argument of a dynamic type (string, bytes, array, tuple) is in its topic as its keccak only."""
        return self.indexed and (self.abi_type in ("string", "bytes") or self.abi_type.endswith("]")
                                 or self.abi_type.startswith("("))


@dataclass(frozen=True)
class EventSpec:
    name: str
    signature: str
    topic0: str
    inputs: tuple[EventInput, ...]
    declared_by: str
    model: str = ""  # what reads it: "ledger", "bridge", "contract_changes", or "" (declared, not modelled)
    release: str = ""  # the release that emits it, where known

    @property
    def modelled(self) -> bool:
        return bool(self.model)

    @property
    def in_lake_columns(self) -> bool:
        """Whether its arguments also fill the lake's argument columns (the ledger's events)."""
        return self.model == "ledger"

    @property
    def indexed_count(self) -> int:
        return sum(1 for event_input in self.inputs if event_input.indexed)

    @property
    def status(self) -> str:
        return "modelled" if self.modelled else "declared, not modelled"

    @cached_property
    def word_plan(self) -> WordPlan | None:
        """How to read each argument from the topics and data as text, when the event is the ledger's and every
        argument is one 32-byte word (no `bytes`); None sends the event through eth_abi."""
        if not self.in_lake_columns or not all(event_input.abi_type in _WORD_DECODERS for event_input in self.inputs):
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
    # input column → value. Modelled events: checksummed address, int amount, str identifier, 0x-hex bytes, bool.
    # Others: the same, with lists for arrays and tuples and 0x-hex for a topic that holds a hash.
    args: dict[str, Any]


class RegistryError(ValueError):
    """The registry contradicts itself, the catalogue or the lake schema."""


def signature_topic0(signature: str) -> str:
    return "0x" + keccak(text=signature).hex()


def snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _split_parameters(params: str) -> list[str]:
    parts, depth, current = [], 0, []
    for character in params:
        depth += (character == "(") - (character == ")")
        if character == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(character)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


def _valid_type(abi_type: str) -> bool:
    base = re.sub(r"(\[[0-9]*\])+$", "", abi_type)
    if base.startswith("("):
        return all(_valid_type(component) for component in _split_parameters(base[1:-1]))
    return bool(_ELEMENTARY.match(base))


def parse_declaration(declaration: str, declared_by: str = "", model: str = "", release: str = "",
                      columns: dict[tuple[str, str], str] | None = None) -> EventSpec:
    matched = _DECLARATION.match(declaration.strip())
    if not matched:
        raise RegistryError(f"not an event declaration: {declaration!r}")
    inputs = []
    for position, parameter in enumerate(_split_parameters(matched.group("params"))):
        parsed = _PARAMETER.match(parameter)
        if not parsed or not _valid_type(parsed.group("type")):
            raise RegistryError(f"cannot read parameter {parameter!r} of {declaration!r}")
        name, abi_type = parsed.group("name") or f"arg{position}", parsed.group("type")
        column = (columns or {}).get((name, abi_type), snake_case(name))
        inputs.append(EventInput(name=name, abi_type=abi_type, indexed=bool(parsed.group("indexed")), column=column))
    if len({event_input.column for event_input in inputs}) != len(inputs):
        raise RegistryError(f"two arguments of {declaration!r} have one name")
    signature = f"{matched.group('name')}({','.join(event_input.abi_type for event_input in inputs)})"
    return EventSpec(
        name=matched.group("name"),
        signature=signature,
        topic0=signature_topic0(signature),
        inputs=tuple(inputs),
        declared_by=declared_by,
        model=model,
        release=release,
    )


def _key(spec: EventSpec) -> tuple[str, int]:
    return spec.topic0, spec.indexed_count


def _declared_events(overlay: dict) -> list[tuple[str, str, str]]:
    """(declaration, declared in, release) of every event the catalogue and the overlay list."""
    catalogue = json.loads(CATALOGUE_PATH.read_text())["events"]
    declared = [(event["declaration"], ", ".join(event["declared_in"]), event["emitted_by_release"] or "")
                for event in catalogue]
    declared += [(event["declaration"], event["declared_in"], event["release"]) for event in overlay["also_emitted"]]
    return declared


def _model_from_arguments(name: str) -> str:
    """The model that reads an event from its `arguments` alone (the ledger's are MODELLED_DECLARATIONS)."""
    if name in CONTRACT_CHANGE_EVENTS:
        return "contract_changes"
    return "bridge" if name in BRIDGE_EVENTS else ""


def _build_registry() -> dict[tuple[str, int], EventSpec]:
    registry: dict[tuple[str, int], EventSpec] = {}
    overlay = tomllib.loads(OVERLAY_PATH.read_text())
    for declaration, declared_in, release in _declared_events(overlay):
        spec = parse_declaration(declaration, declared_in, release=release)
        spec = replace(spec, model=_model_from_arguments(spec.name))
        if _key(spec) in registry:
            raise RegistryError(f"{spec.signature} is declared twice with {spec.indexed_count} indexed arguments")
        registry[_key(spec)] = spec
    for key_text, release in overlay["releases"].items():
        signature, _, indexed = key_text.rpartition("/")
        key = (signature_topic0(signature), int(indexed))
        if key not in registry:
            raise RegistryError(f"events.toml names a release for {key_text}, which no catalogue event is")
        registry[key] = replace(registry[key], release=release)
    event_schema = SCHEMAS["chain_events"]
    for declared_by, declaration in MODELLED_DECLARATIONS:
        ours = parse_declaration(declaration, declared_by, model="ledger", columns=_COLUMN_OVERRIDES)
        declared = registry.get(_key(ours))
        if declared is None or [(i.abi_type, i.indexed) for i in declared.inputs] != [
                (i.abi_type, i.indexed) for i in ours.inputs]:
            raise RegistryError(f"modelled {declaration!r} is not an event of the catalogue")
        for event_input in ours.inputs:
            if event_input.column not in event_schema.names:
                raise RegistryError(f"{ours.signature}: no chain_events column {event_input.column!r}")
            column_type = event_schema.field(event_input.column).type
            if not _fits(event_input.abi_type, column_type):
                raise RegistryError(f"{ours.signature}: {event_input.abi_type} cannot go in {event_input.column} {column_type}")
        # the contract's names, the lake's columns
        inputs = tuple(replace(mine, name=theirs.name) for mine, theirs in zip(ours.inputs, declared.inputs))
        registry[_key(ours)] = replace(declared, inputs=inputs, model="ledger")
    return registry


def _fits(abi_type: str, column_type: pa.DataType) -> bool:
    if abi_type in ("address", "bytes", "bytes32"):
        return pa.types.is_string(column_type)
    if abi_type == "bool":
        return pa.types.is_boolean(column_type)
    if abi_type == "uint8":
        return pa.types.is_int32(column_type)
    if abi_type == "uint64":
        # times (a pre-funding's expiration): exact decimals like the amounts, since a uint64 can exceed a BIGINT
        return pa.types.is_decimal(column_type)
    if abi_type == "uint256":
        # amounts are exact decimals; identifiers (token ids, request ids) are decimal strings
        return pa.types.is_decimal(column_type) or pa.types.is_string(column_type)
    if abi_type == "uint128":
        # identifiers only (a pool's tick, a pool redemption's id): decimal strings
        return pa.types.is_string(column_type)
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
    "uint64": lambda word: int(word, 16),
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
        topic_type = "bytes32" if event_input.hashed_in_topic else event_input.abi_type
        (values[event_input.column],) = abi_decode([topic_type], bytes.fromhex(topic[2:]))
    decoded = abi_decode([event_input.abi_type for event_input in unindexed], data) if unindexed else ()
    for event_input, value in zip(unindexed, decoded, strict=True):
        values[event_input.column] = value
    if spec.in_lake_columns:
        return {event_input.column: _lake_value(event_input, values[event_input.column]) for event_input in spec.inputs}
    return {event_input.column: _plain_value("bytes32" if event_input.hashed_in_topic else event_input.abi_type,
                                             values[event_input.column])
            for event_input in spec.inputs}


def _lake_value(event_input: EventInput, value: Any) -> Any:
    if event_input.abi_type == "address":
        return checksummed(value)
    if event_input.abi_type in ("bytes", "bytes32"):
        return "0x" + bytes(value).hex()
    if event_input.abi_type in ("uint256", "uint128") and event_input.column in _IDENTIFIER_COLUMNS:
        return str(value)
    return value


def _plain_value(abi_type: str, value: Any) -> Any:
    """eth_abi's value of `abi_type` as plain data: checksummed addresses, 0x-hex bytes, lists for arrays and
    tuples; integers, booleans and strings as they are."""
    array = re.search(r"\[[0-9]*\]$", abi_type)
    if array:
        element = abi_type[:array.start()]
        return [_plain_value(element, item) for item in value]
    if abi_type.startswith("("):
        return [_plain_value(component, item) for component, item in zip(_split_parameters(abi_type[1:-1]), value,
                                                                          strict=True)]
    if abi_type == "address":
        return checksummed(value)
    if abi_type.startswith("bytes"):
        return "0x" + bytes(value).hex()
    return value


def argument_values(decoded: DecodedLog) -> dict[str, Any]:
    """The log's arguments by the contract's names, as JSON values: integers as decimal strings (no reader loses
    a digit of a uint256), booleans, strings, and lists for arrays and tuples."""
    return {event_input.name: _json_value(decoded.args[event_input.column]) for event_input in decoded.event.inputs}


def arguments_json(decoded: DecodedLog) -> str:
    """`argument_values` as the lake keeps them: compact JSON, the declaration's order."""
    return json.dumps(argument_values(decoded), separators=(",", ":"), ensure_ascii=False)


def _json_value(value: Any) -> Any:
    # bool before int: a bool is an int in Python, and must stay a JSON boolean
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_json_value(item) for item in value]
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
