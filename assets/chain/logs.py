"""eth_getLogs over a block range the way providers allow it: adaptive spans, several requests in flight.

Providers cap a query by blocks or by results and say so differently (-32005 "query returned more than 10000
results", -32602 "block range too large", HTTP 413, or just a timeout). Each of those halves the span of the
failed range, which is retried as two halves; after a run of successes the span doubles again, up to the
ceiling, because the density of logs changes along the chain. The span is learned per `LogFetcher`, so one
fetcher kept across the days of a run starts each day where the last left off.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from assets.chain.rpc import JsonRpcClient, JsonRpcError, RpcHttpError, RpcTimeout

log = logging.getLogger(__name__)

# Public endpoints commonly accept 10k blocks per eth_getLogs; nodes without a cap take more once grown.
DEFAULT_SPAN = 10_000
MAX_SPAN = 100_000
# Successes in a row before the span doubles.
GROW_AFTER = 4
# A single block that still times out is retried this many times before the ingest gives up.
SINGLE_BLOCK_TIMEOUTS = 4

_RANGE_HINTS = ("range", "too many", "limit", "more than", "exceed", "too large", "response size", "too big")


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

    def __init__(self, rpc: JsonRpcClient, span: AdaptiveSpan | None = None, concurrency: int | None = None) -> None:
        self.rpc = rpc
        self.span = span or AdaptiveSpan()
        self.concurrency = max(1, concurrency or rpc.max_concurrency)
        self.requests = 0
        self.refusals = 0

    def fetch(self, first: int, last: int, addresses: list[str]) -> list[dict]:
        """Every log of `addresses` in blocks [first, last], ordered by (block number, log index)."""
        return sorted((raw_log for chunk in self.chunks(first, last, addresses) for raw_log in chunk), key=log_order)

    def chunks(self, first: int, last: int, addresses: list[str]) -> Iterator[list[dict]]:
        """The logs of `addresses` in blocks [first, last], one list per answered range, in the order the answers
        arrive: the caller works on one answer (decodes it) while the next ones are still being fetched."""
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
                    future = pool.submit(self.rpc.get_logs, block_range.first, block_range.last, addresses)
                    in_flight[future] = block_range
                    self.requests += 1
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    block_range = in_flight.pop(future)
                    error = future.exception()
                    if error is None:
                        self.span.succeeded()
                        yield _checked(future.result(), block_range, watched)
                    elif range_too_large(error):
                        retry.extendleft(reversed(self._after_refusal(block_range, error)))
                    else:
                        for other in in_flight:
                            other.cancel()
                        raise error

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


def _checked(logs: list[dict], block_range: _Range, watched: set[str]) -> list[dict]:
    """The logs, after making sure the node answered the question asked (a proxy or a buggy node may not)."""
    for raw_log in logs:
        number = int(raw_log["blockNumber"], 16)
        if not block_range.first <= number <= block_range.last or raw_log["address"].lower() not in watched:
            raise JsonRpcError("eth_getLogs", None, f"answer for blocks {block_range.first}-{block_range.last} "
                               f"holds a log of block {number} from {raw_log['address']}")
    return logs


def log_order(raw_log: dict) -> tuple[int, int]:
    return int(raw_log["blockNumber"], 16), int(raw_log["logIndex"], 16)
