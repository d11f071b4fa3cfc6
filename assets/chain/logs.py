"""eth_getLogs over a block range the way providers allow it: adaptive spans, several requests in flight.

Providers cap a query by blocks or by results and say so differently (-32005 "query returned more than 10000
results", -32602 "block range too large", HTTP 413, or just a timeout). Each of those halves the span of the
failed range, which is retried as two halves; after a run of successes the span doubles again, up to the
ceiling, because the density of logs changes along the chain. The span is learned per `LogFetcher`, so one
fetcher kept across the days of a run starts each day where the last left off.

A provider can also answer wrongly without an error (an empty or short answer from a node that has not indexed the
range yet). A fetcher given an `audit` (assets.chain.providers.LogAudit) has each answer settled by it before the
answer is handed on: checked against the blocks' blooms and receipts and other providers, and asked again while
they disagree.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assets.chain.rpc import LOG_FIELDS, JsonRpcClient, JsonRpcError, ResultColumns, RpcHttpError, RpcTimeout

log = logging.getLogger(__name__)

# Public endpoints commonly accept 10k blocks per eth_getLogs; nodes without a cap take more once grown.
DEFAULT_SPAN = 10_000
MAX_SPAN = 100_000
# Successes in a row before the span doubles.
GROW_AFTER = 4
# A single block that still times out is retried this many times before the ingest gives up.
SINGLE_BLOCK_TIMEOUTS = 4

_RANGE_HINTS = ("range", "too many", "limit", "more than", "exceed", "too large", "response size", "too big")


class AnswerAudit(Protocol):
    def settle(self, first: int, last: int, addresses: list[str], ask: Callable[[], LogAnswer]) -> LogAnswer:
        """The answer for blocks [first, last] once it is trusted (`ask` asks the provider again); raises when it
        cannot be."""


class LogRangeError(Exception):
    """A range the node refuses even at one block: nothing smaller can be asked."""


def range_too_large(error: Exception) -> bool:
    """Whether the node refused an eth_getLogs because of its size (so a smaller range may pass)."""
    if isinstance(error, RpcTimeout):
        return True
    if isinstance(error, RpcHttpError):
        return error.status == 413
    if isinstance(error, JsonRpcError):
        text = error.message.lower()
        return error.code == -32005 or (error.code in (-32602, -32000, -32600, -32603)
                                        and any(hint in text for hint in _RANGE_HINTS))
    return False


class AdaptiveSpan:
    """The number of blocks asked per eth_getLogs: halved on refusal, doubled after `grow_after` successes."""

    def __init__(self, initial: int = DEFAULT_SPAN, maximum: int = MAX_SPAN, grow_after: int = GROW_AFTER) -> None:
        self.maximum = max(1, maximum)
        self.current = min(max(1, initial), self.maximum)
        self.grow_after = grow_after
        self._successes = 0

    def refused(self, size: int) -> int:
        """The span after the node refused `size` blocks: half of it (at least 1)."""
        self.current = max(1, min(self.current, size // 2))
        self._successes = 0
        return self.current

    def succeeded(self) -> None:
        self._successes += 1
        if self._successes >= self.grow_after and self.current < self.maximum:
            self.current = min(self.maximum, self.current * 2)
            self._successes = 0


@dataclass(frozen=True)
class _Range:
    first: int
    last: int
    timeouts: int = 0

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def halves(self) -> tuple[_Range, _Range]:
        middle = self.first + self.size // 2 - 1
        return _Range(self.first, middle), _Range(middle + 1, self.last)


class LogFetcher:
    """Fetches the logs of `addresses` over block ranges with at most `rpc.max_concurrency` requests in flight."""

    def __init__(self, rpc: JsonRpcClient, span: AdaptiveSpan | None = None, concurrency: int | None = None, *,
                 audit: AnswerAudit | None = None) -> None:
        self.rpc = rpc
        self.span = span or AdaptiveSpan()
        self.concurrency = max(1, concurrency or rpc.max_concurrency)
        self.audit = audit
        self.requests = 0
        self.refusals = 0

    def fetch(self, first: int, last: int, addresses: list[str]) -> list[dict]:
        """Every log of `addresses` in blocks [first, last], ordered by (block number, log index)."""
        return sorted((raw_log for answer in self.chunks(first, last, addresses) for raw_log in answer.raw_logs),
                      key=log_order)

    def chunks(self, first: int, last: int, addresses: list[str]) -> Iterator[LogAnswer]:
        """The logs of `addresses` in blocks [first, last], one `LogAnswer` per answered range, in the order the
        answers arrive: the caller works on one answer (decodes it) while the next ones are still being fetched."""
        if not addresses or last < first:
            return
        watched = {address.lower() for address in addresses}
        retry: deque[_Range] = deque()  # refused ranges, cut in halves, go before new ones
        cursor = first
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="eth_getLogs") as pool:
            in_flight: dict[Future, _Range] = {}
            while retry or cursor <= last or in_flight:
                while len(in_flight) < self.concurrency and (retry or cursor <= last):
                    if retry:
                        block_range = retry.popleft()
                    else:
                        block_range = _Range(cursor, min(cursor + self.span.current - 1, last))
                        cursor = block_range.last + 1
                    future = pool.submit(self._answer, block_range, addresses, watched)
                    in_flight[future] = block_range
                    self.requests += 1
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    block_range = in_flight.pop(future)
                    error = future.exception()
                    if error is None:
                        self.span.succeeded()
                        yield future.result()
                    elif range_too_large(error):
                        retry.extendleft(reversed(self._after_refusal(block_range, error)))
                    else:
                        for other in in_flight:
                            other.cancel()
                        raise error

    def _answer(self, block_range: _Range, addresses: list[str], watched: set[str]) -> LogAnswer:
        """The node's answer for the range, checked to answer the question asked (and settled by the audit)."""
        def ask() -> LogAnswer:
            return _checked(LogAnswer(self.rpc.get_log_columns(block_range.first, block_range.last, addresses)),
                            block_range, watched)

        if self.audit is None:
            return ask()
        return self.audit.settle(block_range.first, block_range.last, addresses, ask)

    def _after_refusal(self, block_range: _Range, error: Exception) -> tuple[_Range, ...]:
        self.refusals += 1
        if block_range.size > 1:
            span = self.span.refused(block_range.size)
            log.info("eth_getLogs %d-%d refused (%s); span now %d blocks", block_range.first, block_range.last,
                     error, span)
            return block_range.halves()
        if isinstance(error, RpcTimeout) and block_range.timeouts + 1 < SINGLE_BLOCK_TIMEOUTS:
            return (_Range(block_range.first, block_range.last, block_range.timeouts + 1),)
        raise LogRangeError(f"eth_getLogs of the single block {block_range.first} is refused: {error}") from None


# JSON-RPC fields every log must have (as text) for its answer to be read column-wise.
_REQUIRED_FIELDS = ("address", "blockNumber", "blockHash", "transactionHash", "logIndex")
# Hex digit (either case, as `int(text, 16)` reads them) → its value; anything else → 255.
_HEX_VALUES = np.full(256, 255, dtype=np.uint8)
_HEX_VALUES[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)
_HEX_VALUES[np.frombuffer(b"ABCDEF", dtype=np.uint8)] = np.arange(10, 16, dtype=np.uint8)
# Hex digits of a quantity read column-wise: 15 keep it below 2^60, far above any block number or log index.
_QUANTITY_DIGITS = 15


class LogAnswer:
    """One eth_getLogs answer: its logs as Arrow columns of `LOG_FIELDS` (`columns`), and as the node's JSON
    objects (`raw_logs`) for the few a caller needs whole (an unknown log's row, a log an error names, a log the
    per-log decoder reads), parsed only when asked for."""

    def __init__(self, result: ResultColumns | list[dict]) -> None:
        self._result = result

    def __len__(self) -> int:
        if isinstance(self._result, ResultColumns):
            return self._result.table.num_rows
        return len(self._result)

    @cached_property
    def raw_logs(self) -> list[dict]:
        return self._result.rows() if isinstance(self._result, ResultColumns) else self._result

    @cached_property
    def columns(self) -> pa.Table | None:
        """Every log's fields as columns (null topics as no topics, as `decode_log` reads them); None when a log
        lacks one of the fields every log has or holds a value of another type (such an answer is read log by log)."""
        if isinstance(self._result, ResultColumns):
            table = self._result.table
            if not any(table[name].null_count for name in (*_REQUIRED_FIELDS, "topics")):
                return table
        try:
            return _columns_of(self.raw_logs)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, AttributeError):
            return None

    @cached_property
    def block_numbers(self) -> np.ndarray:
        return quantities(self.columns["blockNumber"])

    @cached_property
    def log_indexes(self) -> np.ndarray:
        return quantities(self.columns["logIndex"])

    @cached_property
    def removed(self) -> list[int]:
        """Positions of the logs the node flags as removed (reorganised away)."""
        if self.columns is None:
            return [position for position, raw_log in enumerate(self.raw_logs) if raw_log.get("removed")]
        return np.flatnonzero(pc.fill_null(self.columns["removed"], False).to_numpy(zero_copy_only=False)).tolist()


def _columns_of(raw_logs: list[dict]) -> pa.Table:
    """The logs' fields as the column reader gives them; TypeError when one a log must have is missing or null."""
    columns = {
        "address": _texts([raw_log["address"] for raw_log in raw_logs]),
        "topics": pa.array([raw_log.get("topics") or [] for raw_log in raw_logs], LOG_FIELDS.field("topics").type),
        "data": _texts([raw_log.get("data") for raw_log in raw_logs], required=False),
        "blockNumber": _texts([raw_log["blockNumber"] for raw_log in raw_logs]),
        "blockHash": _texts([raw_log["blockHash"] for raw_log in raw_logs]),
        "transactionHash": _texts([raw_log["transactionHash"] for raw_log in raw_logs]),
        "logIndex": _texts([raw_log["logIndex"] for raw_log in raw_logs]),
        # `removed` is read by truthiness, whatever its JSON type
        "removed": pa.array([bool(raw_log.get("removed")) for raw_log in raw_logs], pa.bool_()),
    }
    return pa.table(columns, schema=pa.schema(list(LOG_FIELDS)))


def _texts(values: list, *, required: bool = True) -> pa.Array:
    array = pa.array(values, pa.string())
    if required and array.null_count:
        raise TypeError("a log field is null")
    return array


def quantities(texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """int64 of JSON-RPC quantities ("0x1a"), as `int(text, 16)` reads them: column-wise when every text is "0x"
    and 1 to 15 hex digits, else one text at a time (each distinct text once)."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks != 1 else texts.chunk(0)
    if len(texts) == 0:
        return np.empty(0, dtype=np.int64)
    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int32)[texts.offset: texts.offset + len(texts) + 1]
    lengths = np.diff(offsets)
    chars = np.frombuffer(texts.buffers()[2], dtype=np.uint8) if texts.buffers()[2] is not None else None
    if (texts.null_count == 0 and chars is not None and lengths.min() >= 3 and lengths.max() <= 2 + _QUANTITY_DIGITS
            and (chars[offsets[:-1]] == ord("0")).all() and (chars[offsets[:-1] + 1] == ord("x")).all()):
        # each text's digits right-aligned in a row of _QUANTITY_DIGITS, zeros in front
        digits = np.zeros((len(texts), _QUANTITY_DIGITS), dtype=np.uint8)
        row = np.repeat(np.arange(len(texts)), lengths - 2)
        within = np.arange(int(offsets[-1] - offsets[0])) - np.repeat(offsets[:-1] - offsets[0], lengths)
        column = within - 2 + np.repeat(_QUANTITY_DIGITS - (lengths - 2), lengths)
        is_digit = within >= 2
        digits[row, column[is_digit]] = _HEX_VALUES[chars[offsets[0]: offsets[-1]][is_digit]]
        if (digits != 255).all():
            weights = np.int64(16) ** np.arange(_QUANTITY_DIGITS - 1, -1, -1, dtype=np.int64)
            return digits.astype(np.int64) @ weights
    encoded = pc.dictionary_encode(texts)
    distinct = np.array([int(text, 16) for text in encoded.dictionary.to_pylist()], dtype=np.int64)
    return distinct[encoded.indices.to_numpy(zero_copy_only=False)]


def _checked(answer: LogAnswer, block_range: _Range, watched: set[str]) -> LogAnswer:
    """The answer, after making sure the node answered the question asked (a proxy or a buggy node may not)."""
    if answer.columns is None:
        for raw_log in answer.raw_logs:
            _check_log(int(raw_log["blockNumber"], 16), raw_log["address"], block_range, watched)
        return answer
    numbers = answer.block_numbers
    addresses = pc.dictionary_encode(answer.columns["address"]).combine_chunks()
    watched_address = np.array([address.lower() in watched for address in addresses.dictionary.to_pylist()],
                               dtype=bool)
    outside = ((numbers < block_range.first) | (numbers > block_range.last)
               | ~watched_address[addresses.indices.to_numpy(zero_copy_only=False)])
    if outside.any():
        position = int(np.flatnonzero(outside)[0])
        _check_log(int(numbers[position]), answer.columns["address"][position].as_py(), block_range, watched)
    return answer


def _check_log(number: int, address: Any, block_range: _Range, watched: set[str]) -> None:
    if not block_range.first <= number <= block_range.last or address.lower() not in watched:
        raise JsonRpcError("eth_getLogs", None, f"answer for blocks {block_range.first}-{block_range.last} "
                           f"holds a log of block {number} from {address}")


def log_order(raw_log: dict) -> tuple[int, int]:
    return int(raw_log["blockNumber"], 16), int(raw_log["logIndex"], 16)
