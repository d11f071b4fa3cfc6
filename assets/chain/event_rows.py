"""The `chain_events` rows of eth_getLogs answers, decoded in bulk by event layout.

An answer holds thousands of logs of a handful of events. The logs of one event (same topic0, same number of
topics) whose arguments are all one static word each (address, bool, uintN, bytesN) are fixed-width slices of the
topics' and data's hex text: they are decoded column-wise with numpy and pyarrow, with the checks eth_abi makes in
strict mode (non-zero padding, a bool other than 0 or 1) applied to the whole column at once. Everything else goes
through the per-log reference (`decode_log` + `event_row`): events with dynamic arguments (`bytes`, arrays),
payloads of another length, upper-case or malformed hex, null fields. Both give exactly the same rows (tested
against each other, tests/test_chain_bulk_decode.py); a log neither decodes is returned for chain_logs_unknown.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from eth_hash.auto import keccak as keccak256

from assets.chain.blocks import BlockHeader
from assets.chain.logs import LogAnswer
from assets.chain.registry import (
    _IDENTIFIER_COLUMNS,
    REGISTRY,
    DecodedLog,
    EventSpec,
    arguments_json,
    checksummed,
    decode_log,
)
from foundation.lake import SCHEMAS
from foundation.money import MAX_RAW_AMOUNT, raw_amount

EVENT_SCHEMA = SCHEMAS["chain_events"].remove(SCHEMAS["chain_events"].get_field_index("partition_date"))
_EVENT_AMOUNT_COLUMNS = frozenset(field.name for field in EVENT_SCHEMA if pa.types.is_decimal(field.type))
# An ERC-20 allowance is a permission, not money, and "unlimited" is 2^256-1 by convention: one that does not fit
# DECIMAL(38,0) is stored as null (unlimited) instead of failing the day.
_ALLOWANCE_ARGUMENTS = frozenset({("Approval(address,address,uint256)", "value")})

_TOPIC_WIDTH = 66  # "0x" and 64 hex digits
_UINT = re.compile(r"^uint(?P<bits>[0-9]+)$")
_FIXED_BYTES = re.compile(r"^bytes(?P<size>[0-9]+)$")
# Lower-case hex digit → its value; anything else (upper case included: such logs take the per-log path) → 255.
_NIBBLES = np.full(256, 255, dtype=np.uint8)
_NIBBLES[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)
_MAX_RAW_HIGH, _MAX_RAW_LOW = divmod(MAX_RAW_AMOUNT, 1 << 64)


# ------------------------------------------------------------------------------------------- per log (reference)

def event_row(decoded: DecodedLog, header: BlockHeader | None, role: str | None) -> dict[str, Any]:
    """The chain_events row of one decoded log (block_time from `header`, null without one)."""
    where = f"{decoded.event.name} {decoded.tx_hash}:{decoded.log_index}"
    args = {}
    # Only the ledger's events have lake columns; every event's arguments are in `arguments`.
    for column, value in (decoded.args.items() if decoded.event.in_lake_columns else ()):
        if (decoded.event.signature, column) in _ALLOWANCE_ARGUMENTS and value > MAX_RAW_AMOUNT:
            args[column] = None
        elif column in _EVENT_AMOUNT_COLUMNS:
            args[column] = raw_amount(value, f"{where} {column}")
        else:
            args[column] = value
    return {
        "block_number": decoded.block_number,
        "block_hash": decoded.block_hash,
        "block_time": header.time if header is not None else None,
        "tx_hash": decoded.tx_hash,
        "log_index": decoded.log_index,
        "contract_address": decoded.contract_address,
        "contract_role": role,
        "event": decoded.event.name,
        "signature": decoded.event.signature,
        "topic0": decoded.event.topic0,
        "model": decoded.event.model or None,
        "arguments": arguments_json(decoded),
        **args,
    }


def lake_table(table: str, rows: list[dict[str, Any]]) -> pa.Table:
    """The rows as an Arrow table of the lake table's schema (without partition_date), built column by column:
    an event fills a handful of the ~60 argument columns, and a column no row fills is made as nulls at once."""
    schema = SCHEMAS[table]
    schema = schema.remove(schema.get_field_index("partition_date"))
    filled = set().union(*(row.keys() for row in rows))
    return pa.table(
        [pa.array([row.get(field.name) for row in rows], type=field.type) if field.name in filled
         else pa.nulls(len(rows), field.type) for field in schema],
        schema=schema,
    )


# ------------------------------------------------------------------------------------------------------ in bulk

@dataclass(frozen=True)
class DecodedLogs:
    """One eth_getLogs answer, decoded."""

    answer: LogAnswer  # the answer as it came
    events: pa.Table  # chain_events rows (EVENT_SCHEMA) in chain order; block_time still null
    unknown: list[int]  # positions in the answer of the logs no registered event decodes
    # every log's (block_number, log_index, block_hash as given but lower case, position in the answer)
    positions: pa.Table

    @property
    def removed(self) -> list[int]:
        """Positions of the logs the node flags as removed (reorganised away)."""
        return self.answer.removed

    @property
    def raw_logs(self) -> list[dict]:
        """The answer's logs as the node's JSON objects (parsed when first asked for)."""
        return self.answer.raw_logs

    @property
    def log_count(self) -> int:
        return len(self.answer)


@dataclass(frozen=True)
class _Argument:
    """Where one argument's word is (`topic` index ≥ 1, else `data_word`) and how it is read."""

    name: str  # the contract's name, the key in `arguments`
    column: str
    kind: str  # "address", "bool", "uint", "bytes"
    size: int  # uint: bytes of the value; bytes: bytes of the value
    topic: int
    data_word: int
    padding_checked: bool  # eth_abi's strict padding check (the word plan reads uint256/uint64 unchecked)
    lake: str  # "" (not a lake column), "amount", "identifier", "int32", "value"


@dataclass(frozen=True)
class _Layout:
    spec: EventSpec
    arguments: tuple[_Argument, ...]
    data_words: int


@lru_cache(maxsize=None)
def _layout(spec: EventSpec) -> _Layout | None:
    """How to read `spec` column-wise; None when an argument is not one static word (the per-log path reads it)."""
    arguments, topic, data_word = [], 1, 0
    word_plan = spec.word_plan is not None
    for event_input in spec.inputs:
        abi_type = "bytes32" if event_input.hashed_in_topic else event_input.abi_type
        uint, fixed_bytes = _UINT.match(abi_type), _FIXED_BYTES.match(abi_type)
        if abi_type in ("address", "bool"):
            kind, size = abi_type, 20 if abi_type == "address" else 1
        elif uint and 8 <= int(uint["bits"]) <= 256 and int(uint["bits"]) % 8 == 0:
            kind, size = "uint", int(uint["bits"]) // 8
        elif fixed_bytes and 1 <= int(fixed_bytes["size"]) <= 32:
            kind, size = "bytes", int(fixed_bytes["size"])
        else:
            return None
        lake = ""
        if spec.in_lake_columns:
            column_type = EVENT_SCHEMA.field(event_input.column).type
            if kind == "uint" and pa.types.is_decimal(column_type):
                lake = "amount"
            elif kind == "uint" and event_input.column in _IDENTIFIER_COLUMNS:
                lake = "identifier"
            elif kind == "uint":
                lake = "int32"
            else:
                lake = "value"
        arguments.append(_Argument(
            name=event_input.name, column=event_input.column, kind=kind, size=size,
            topic=topic if event_input.indexed else 0, data_word=-1 if event_input.indexed else data_word,
            padding_checked=not (word_plan and kind == "uint" and abi_type in ("uint256", "uint64")),
            lake=lake,
        ))
        if event_input.indexed:
            topic += 1
        else:
            data_word += 1
    return _Layout(spec=spec, arguments=tuple(arguments), data_words=data_word)


def decode_logs(answer: LogAnswer | list[dict], roles: Mapping[str, str]) -> DecodedLogs:
    """Decode one eth_getLogs answer (its columns, or its JSON objects); `roles` maps a lower-case contract address
    to its role in the address book."""
    answer = answer if isinstance(answer, LogAnswer) else LogAnswer(answer)
    try:
        envelope = _Envelope.of(answer, roles)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        # a field of an unexpected type somewhere: the whole answer takes the per-log path
        return _per_log(answer, roles, list(range(len(answer))), None)
    groups, per_log = [], []
    for spec, rows in envelope.groups():
        layout = _layout(spec) if spec is not None else None
        if layout is None:
            per_log.append(rows)
            continue
        columns, misfits = _decode_group(envelope, layout, rows)
        if columns:
            groups.append(columns)
        per_log.append(misfits)
    by_log = _per_log(answer, roles, np.concatenate(per_log).tolist() if per_log else [], envelope)
    if by_log.events.num_rows:
        groups.append({name: column for name, column in zip(by_log.events.column_names, by_log.events.columns)
                       if column.null_count < len(column)})
    return DecodedLogs(answer=answer, events=_in_chain_order_table(groups), unknown=by_log.unknown,
                       positions=envelope.positions)


def _in_chain_order_table(groups: list[dict[str, pa.Array]]) -> pa.Table:
    """One table of the groups' columns (each group fills some), its rows in (block number, log index) order."""
    if not groups:
        return EVENT_SCHEMA.empty_table()
    sizes = [len(columns["block_number"]) for columns in groups]
    blocks = np.concatenate([columns["block_number"].to_numpy() for columns in groups])
    indexes = np.concatenate([columns["log_index"].to_numpy() for columns in groups])
    order = pa.array(np.lexsort((indexes, blocks)))
    filled = set().union(*groups)
    arrays = []
    for field in EVENT_SCHEMA:
        if field.name not in filled:
            arrays.append(pa.nulls(len(blocks), field.type))
            continue
        parts = [columns[field.name] if field.name in columns else pa.nulls(size, field.type)
                 for columns, size in zip(groups, sizes)]
        column = pa.chunked_array([part if part.type == field.type else part.cast(field.type) for part in parts],
                                  field.type)
        arrays.append(column.take(order) if len(groups) > 1 or not _sorted(blocks, indexes) else column)
    return pa.table(arrays, schema=EVENT_SCHEMA)


def _sorted(blocks: np.ndarray, indexes: np.ndarray) -> bool:
    return bool(np.all((blocks[1:] > blocks[:-1]) | ((blocks[1:] == blocks[:-1]) & (indexes[1:] >= indexes[:-1]))))


def _per_log(answer: LogAnswer, roles: Mapping[str, str], positions: list[int],
             envelope: _Envelope | None) -> DecodedLogs:
    """The reference path for the logs at `positions`."""
    rows, unknown = [], []
    raw_logs = answer.raw_logs if positions else []
    for position in sorted(positions):
        raw_log = raw_logs[position]
        decoded = decode_log(raw_log)
        if decoded is None:
            unknown.append(position)
        else:
            rows.append(event_row(decoded, None, roles.get(raw_log["address"].lower())))
    return DecodedLogs(answer=answer, events=lake_table("chain_events", rows), unknown=unknown,
                       positions=envelope.positions if envelope is not None else _positions_by_log(answer.raw_logs))


def _positions_by_log(raw_logs: list[dict]) -> pa.Table:
    """The positions of an answer whose fields do not all convert to columns (read one log at a time)."""
    return pa.table({
        "block_number": pa.array([int(raw_log["blockNumber"], 16) for raw_log in raw_logs], pa.int64()),
        "log_index": pa.array([int(raw_log["logIndex"], 16) for raw_log in raw_logs], pa.int64()),
        "block_hash": pa.array([raw_log["blockHash"].lower() for raw_log in raw_logs], pa.string()),
        "position": pa.array(np.arange(len(raw_logs), dtype=np.int64)),
    })


@dataclass
class _Envelope:
    """The fields every log has, as columns of one answer."""

    topics: pa.ListArray
    data: pa.Array
    addresses: pa.DictionaryArray
    positions: pa.Table
    block_hashes: pa.Array
    tx_hashes: pa.Array
    roles: Mapping[str, str]
    checksums: _AddressChecksums = dataclasses.field(default_factory=lambda: _AddressChecksums())

    @property
    def count(self) -> int:
        return self.positions.num_rows

    @cached_property
    def block_numbers(self) -> pa.Array:
        return self.positions["block_number"].combine_chunks()

    @cached_property
    def log_indexes(self) -> pa.Array:
        return self.positions["log_index"].combine_chunks().cast(pa.int32())

    @cached_property
    def contracts(self) -> tuple[pa.Array, pa.Array]:
        """(checksummed contract address, role) of every log, read once per distinct address."""
        distinct = self.addresses.dictionary.to_pylist()
        indices = self.addresses.indices
        return (pa.array([checksummed(address) for address in distinct], pa.string()).take(indices),
                pa.array([self.roles.get(address.lower()) for address in distinct], pa.string()).take(indices))

    @classmethod
    def of(cls, answer: LogAnswer, roles: Mapping[str, str]) -> _Envelope:
        columns = answer.columns
        if columns is None:
            raise TypeError("a log lacks a field or holds one of another type")
        # block hashes, transaction hashes and addresses repeat: each distinct text is read once
        block_hashes = pc.dictionary_encode(_single_chunk(columns["blockHash"]))
        positions = pa.table({
            "block_number": pa.array(answer.block_numbers, pa.int64()),
            "log_index": pa.array(answer.log_indexes, pa.int64()),
            "block_hash": pc.utf8_lower(block_hashes.dictionary).take(block_hashes.indices),
            "position": pa.array(np.arange(len(answer), dtype=np.int64)),
        })
        tx_hashes = pc.dictionary_encode(_single_chunk(columns["transactionHash"]))
        return cls(
            topics=_single_chunk(columns["topics"]),
            data=_single_chunk(columns["data"]),
            addresses=pc.dictionary_encode(_single_chunk(columns["address"])),
            positions=positions,
            block_hashes=_hex_text(block_hashes.dictionary).take(block_hashes.indices),
            tx_hashes=_hex_text(tx_hashes.dictionary).take(tx_hashes.indices),
            roles=roles,
        )

    def groups(self) -> list[tuple[EventSpec | None, np.ndarray]]:
        """(the registered event, or None, and the positions of its logs) for each (topic0, topic count) met."""
        count = self.count
        if count == 0:
            return []
        offsets = _offsets(self.topics)
        topic_counts = np.diff(offsets)
        has_topics = topic_counts > 0
        encoded = pc.dictionary_encode(self.topics.values.take(pa.array(offsets[:-1][has_topics])))
        codes = np.full(count, -1, dtype=np.int64)
        codes[has_topics] = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        # a log with no topics is no event; a null topic0 is left to the per-log path (it fails there as it would)
        codes[~has_topics] = -2
        keys = (codes + 2) * (int(topic_counts.max()) + 1) + topic_counts
        distinct, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.cumsum(np.bincount(inverse, minlength=len(distinct)))
        topic0s = encoded.dictionary.to_pylist()
        groups = []
        for group, (start, stop) in enumerate(zip([0, *bounds[:-1]], bounds)):
            code, topics = int(codes[first[group]]), int(topic_counts[first[group]])
            spec = None
            if code >= 0:
                # the registry's key of the topic0, as `decode_log` makes it
                topic0 = topic0s[code].lower() if topic0s[code][:2] == "0x" else "0x" + topic0s[code].lower()
                spec = REGISTRY.get((topic0, topics - 1))
            groups.append((spec, order[start:stop]))
        return groups


def _decode_group(envelope: _Envelope, layout: _Layout, rows: np.ndarray) -> tuple[dict[str, pa.Array], np.ndarray]:
    """(the chain_events columns the logs at `rows` that fit the layout fill, the positions of those that do
    not)."""
    count = len(rows)
    topic_count = len(layout.spec.inputs) - layout.data_words + 1
    taken = pa.array(rows)
    topic_offsets = _offsets(envelope.topics)[rows]
    topic_texts = envelope.topics.values.take(pa.array((topic_offsets[:, None] + np.arange(topic_count)).ravel()))
    topic_chars, topic_fit = _fixed_width(topic_texts, _TOPIC_WIDTH)
    topic_chars = topic_chars.reshape(count, topic_count, _TOPIC_WIDTH)
    fit = topic_fit.reshape(count, topic_count).all(axis=1) & (topic_chars[:, :, :2] == _PREFIX).all(axis=(1, 2))
    data_chars, data_fit = _fixed_width(envelope.data.take(taken), 2 + 64 * layout.data_words)
    fit &= data_fit & (data_chars[:, :2] == _PREFIX).all(axis=1)
    words_hex = np.concatenate([topic_chars[:, 1:, 2:].reshape(count, -1), data_chars[:, 2:]], axis=1)
    nibbles = _NIBBLES[words_hex]
    fit &= (nibbles != 255).all(axis=1)
    words = ((nibbles[:, 0::2] << 4) | nibbles[:, 1::2]).reshape(count, topic_count - 1 + layout.data_words, 32)
    word_of = {argument: argument.topic - 1 if argument.topic else topic_count - 1 + argument.data_word
               for argument in layout.arguments}
    for argument in layout.arguments:
        fit &= _fits_word(argument, words[:, word_of[argument]])
    if not fit.all():
        misfits = rows[~fit]
        rows, words, words_hex = rows[fit], words[fit], words_hex[fit]
        taken, count = pa.array(rows), len(rows)
    else:
        misfits = rows[:0]
    if count == 0:
        return {}, misfits

    columns: dict[str, pa.Array] = {}
    spec = layout.spec
    log_indexes = envelope.log_indexes.take(taken)
    tx_hashes = envelope.tx_hashes.take(taken)
    json_parts: list[Any] = []
    for number, argument in enumerate(layout.arguments):
        word = words[:, word_of[argument]]
        word_hex = words_hex[:, 64 * word_of[argument]: 64 * word_of[argument] + 64]
        key = ("{" if number == 0 else ",") + json.dumps(argument.name, ensure_ascii=False) + ":"
        if argument.kind == "bool":
            flags = pa.array(word[:, 31] == 1)
            json_parts += [key, pc.if_else(flags, "true", "false")]
            value: pa.Array = flags
        else:
            if argument.kind == "address":
                value = envelope.checksums.addresses(word_hex[:, 24:])
            elif argument.kind == "bytes":
                value = _prefixed_text(word_hex[:, : 2 * argument.size])
            else:
                value = _decimal_text(word)
            json_parts += [key + '"', value, '"']
        if argument.lake == "amount":
            columns[argument.column] = _amounts(word, spec, argument, tx_hashes, log_indexes)
        elif argument.lake == "int32":
            columns[argument.column] = pa.array(word[:, 31].astype(np.int32))
        elif argument.lake:
            columns[argument.column] = value
    if layout.arguments:
        arguments = pc.binary_join_element_wise(*_merged_literals([*json_parts, "}"]), "")
    else:
        arguments = pa.repeat(pa.scalar("{}"), count)

    contracts, contract_roles = envelope.contracts
    columns.update({
        "block_number": envelope.block_numbers.take(taken),
        "block_hash": envelope.block_hashes.take(taken),
        "tx_hash": tx_hashes,
        "log_index": log_indexes,
        "contract_address": contracts.take(taken),
        "contract_role": contract_roles.take(taken),
        "event": pa.repeat(pa.scalar(spec.name), count),
        "signature": pa.repeat(pa.scalar(spec.signature), count),
        "topic0": pa.repeat(pa.scalar(spec.topic0), count),
        "arguments": arguments,
    })
    if spec.model:
        columns["model"] = pa.repeat(pa.scalar(spec.model), count)
    return columns, misfits


_PREFIX = np.frombuffer(b"0x", dtype=np.uint8)


def _fits_word(argument: _Argument, word: np.ndarray) -> np.ndarray:
    """Whether each word holds a value of the argument's type (eth_abi's strict padding checks)."""
    if argument.kind == "address":
        return ~word[:, :12].any(axis=1)
    if argument.kind == "bool":
        return ~word[:, :31].any(axis=1) & (word[:, 31] <= 1)
    if argument.kind == "bytes":
        return ~word[:, argument.size:].any(axis=1)
    if argument.padding_checked:
        return ~word[:, : 32 - argument.size].any(axis=1)
    return np.ones(len(word), dtype=bool)


def _amounts(word: np.ndarray, spec: EventSpec, argument: _Argument, tx_hashes: pa.Array,
             log_indexes: pa.ChunkedArray) -> pa.Array:
    """DECIMAL(38,0) amounts; an allowance too large for it is null, any other amount that large fails the day."""
    fits = _fits_raw_amount(word)
    if not fits.all():
        if (spec.signature, argument.column) not in _ALLOWANCE_ARGUMENTS:
            row = int(np.flatnonzero(~fits)[0])
            where = f"{spec.name} {tx_hashes[row].as_py()}:{log_indexes[row].as_py()}"
            raw_amount(int.from_bytes(word[row].tobytes(), "big"), f"{where} {argument.column}")
        word = np.where(fits[:, None], word, 0)
    return _decimal128(word, None if fits.all() else fits)


def _fits_raw_amount(word: np.ndarray) -> np.ndarray:
    high = np.ascontiguousarray(word[:, 16:24]).view(">u8").ravel()
    low = np.ascontiguousarray(word[:, 24:32]).view(">u8").ravel()
    return ~word[:, :16].any(axis=1) & ((high < _MAX_RAW_HIGH) | ((high == _MAX_RAW_HIGH) & (low <= _MAX_RAW_LOW)))


def _decimal128(word: np.ndarray, valid: np.ndarray | None) -> pa.Array:
    """DECIMAL(38,0) of words below 2^127 (little-endian two's complement: the low 16 bytes, reversed)."""
    little_endian = np.ascontiguousarray(word[:, 31:15:-1])
    bitmap = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(pa.decimal128(38, 0), len(word), [bitmap, pa.py_buffer(little_endian.tobytes())],
                                 null_count=-1)


def _decimal_text(word: np.ndarray) -> pa.Array:
    """The decimal digits of each 256-bit unsigned word."""
    if not word[:, :24].any():
        return pa.array(np.ascontiguousarray(word[:, 24:]).view(">u8").ravel().astype(np.uint64)).cast(pa.string())
    fits = _fits_raw_amount(word)
    text = _decimal128(np.where(fits[:, None], word, 0), None).cast(pa.string())
    if fits.all():
        return text
    return pc.replace_with_mask(text, pa.array(~fits), _long_decimal_text(word[~fits]))


def _long_decimal_text(word: np.ndarray) -> pa.Array:
    """Decimal digits of words of any size: long division by 10^9 of eight 32-bit limbs, nine times (81 digits
    hold 2^256)."""
    limbs = np.ascontiguousarray(word).view(">u4").astype(np.uint64)
    groups = []
    for _ in range(9):
        remainder = np.zeros(len(word), dtype=np.uint64)
        for limb in range(8):
            current = (remainder << np.uint64(32)) | limbs[:, limb]
            limbs[:, limb], remainder = current // np.uint64(10**9), current % np.uint64(10**9)
        groups.append(remainder)
    digits = np.empty((len(word), 81), dtype=np.uint8)
    for group, value in enumerate(reversed(groups)):
        for place in range(9):
            digits[:, 9 * group + 8 - place] = (value % np.uint64(10)).astype(np.uint8) + ord("0")
            value = value // np.uint64(10)
    leading = np.minimum((digits != ord("0")).argmax(axis=1), 80)
    keep = np.arange(81) >= leading[:, None]
    offsets = np.concatenate([[0], np.cumsum(81 - leading)]).astype(np.int32)
    return pa.StringArray.from_buffers(len(word), pa.py_buffer(offsets.tobytes()),
                                       pa.py_buffer(digits[keep].tobytes()))


class _AddressChecksums:
    """EIP-55 addresses (`registry.checksummed`) of one answer's address words: one keccak per distinct address of
    the answer (an address is often in several events of an answer: a holder in its Transfer and its Deposit)."""

    def __init__(self) -> None:
        self._known = pa.array([], pa.string())  # "0x" and 40 lower-case hex digits
        self._digests = np.empty((0, 20), dtype=np.uint8)  # the first 20 bytes of each one's keccak

    def addresses(self, digits: np.ndarray) -> pa.Array:
        """The checksummed address of each row of 40 lower-case hex digits; the casing of a hex letter is upper
        where the hash's nibble is 8 or more, applied to all rows at once."""
        encoded = pc.dictionary_encode(_prefixed_text(digits))
        distinct = encoded.dictionary
        text = np.frombuffer(distinct.buffers()[2], dtype=np.uint8)[: 42 * len(distinct)].reshape(-1, 42).copy()
        seen = pc.index_in(distinct, value_set=self._known)
        new = ~seen.is_valid().to_numpy(zero_copy_only=False)
        if new.any():
            self._digests = np.concatenate(
                [self._digests, _keccak_rows(np.ascontiguousarray(text[new, 2:]))[:, :20]])
            self._known = pa.concat_arrays([self._known, distinct.filter(pa.array(new))])
        digests = self._digests[pc.index_in(distinct, value_set=self._known).to_numpy(zero_copy_only=False)]
        nibbles = np.empty((len(distinct), 40), dtype=np.uint8)
        nibbles[:, 0::2], nibbles[:, 1::2] = digests >> 4, digests & 0x0F
        upper = (nibbles >= 8) & (text[:, 2:] >= ord("a"))
        text[:, 2:][upper] -= 32
        offsets = np.arange(0, 42 * (len(distinct) + 1), 42, dtype=np.int32)
        return pa.StringArray.from_buffers(len(distinct), pa.py_buffer(offsets.tobytes()),
                                           pa.py_buffer(text.tobytes())).take(encoded.indices)


def _keccak_rows(rows: np.ndarray) -> np.ndarray:
    """keccak-256 of each row of a C-contiguous (rows, width) uint8 array, as (rows, 32) bytes."""
    return np.frombuffer(b"".join([keccak256(row.tobytes()) for row in rows]), dtype=np.uint8).reshape(-1, 32)




def _prefixed_text(digits: np.ndarray) -> pa.Array:
    """"0x" and the row's hex digits, for each row of a (rows, width) array of ASCII digits."""
    count, width = digits.shape
    text = np.empty((count, width + 2), dtype=np.uint8)
    text[:, :2] = _PREFIX
    text[:, 2:] = digits
    offsets = np.arange(0, (width + 2) * (count + 1), width + 2, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets.tobytes()), pa.py_buffer(text.tobytes()))


def _merged_literals(parts: list[Any]) -> list[Any]:
    """The parts with adjacent literal strings joined, each literal a string scalar."""
    merged: list[Any] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return [pa.scalar(part, pa.string()) if isinstance(part, str) else part for part in merged]


def _fixed_width(texts: pa.Array, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows × `width` ASCII codes, whether each row is a text of exactly that width); a row of another width or
    null reads as `width` bytes that are not hex digits."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    offsets = _offsets(texts)
    fit = (np.diff(offsets) == width)
    if texts.null_count:
        fit &= texts.is_valid().to_numpy(zero_copy_only=False)
    if not fit.all():
        texts = pc.if_else(pa.array(fit), texts, pa.scalar("!" * width))
        offsets = _offsets(texts)
    data = np.frombuffer(texts.buffers()[2], dtype=np.uint8) if len(texts) else np.empty(0, dtype=np.uint8)
    return data[offsets[0]: offsets[0] + width * len(texts)].reshape(len(texts), width), fit


def _offsets(array: pa.Array) -> np.ndarray:
    """The value offsets of a string or list array (relative to its buffers, as Arrow keeps them)."""
    dtype = np.int64 if pa.types.is_large_string(array.type) or pa.types.is_large_list(array.type) else np.int32
    return np.frombuffer(array.buffers()[1], dtype=dtype)[array.offset: array.offset + len(array) + 1]


def _single_chunk(column: pa.ChunkedArray) -> pa.Array:
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _hex_text(texts: pa.Array, lower: pa.Array | None = None) -> pa.Array:
    """`registry._hex` of each text: lower case, "0x" put in front when the text does not start with it."""
    lower = pc.utf8_lower(texts) if lower is None else lower
    prefixed = pc.starts_with(texts, "0x")
    if pc.all(prefixed).as_py() is not False:
        return lower
    return pc.if_else(prefixed, lower, pc.binary_join_element_wise("0x", lower, ""))


# ------------------------------------------------------------------------------------------------------ the day

def day_events(decoded: list[DecodedLogs], headers: Mapping[int, BlockHeader]) -> pa.Table:
    """The day's chain_events: every answer's rows in chain order, each with its block's time."""
    tables = sorted((answer.events for answer in decoded if answer.events.num_rows),
                    key=lambda table: (table["block_number"][0].as_py(), table["log_index"][0].as_py()))
    if not tables:
        return EVENT_SCHEMA.empty_table()
    events = pa.concat_tables(tables)
    if len(tables) > 1 and not _sorted(events["block_number"].to_numpy(), events["log_index"].to_numpy()):
        events = events.take(pc.sort_indices(events, [("block_number", "ascending"), ("log_index", "ascending")]))
    blocks = pc.unique(events["block_number"])
    times = pa.array([headers[number].time for number in blocks.to_pylist()], EVENT_SCHEMA.field("block_time").type)
    block_time = times.take(pc.index_in(events["block_number"], value_set=blocks))
    return events.set_column(EVENT_SCHEMA.get_field_index("block_time"), EVENT_SCHEMA.field("block_time"),
                             block_time)
