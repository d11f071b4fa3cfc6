"""UTC days ↔ block ranges, by binary search on block timestamps, and the confirmed head.

Block timestamps never decrease with the block number, so "the first block at or after t" is a binary
search over [0, head]. Headers are cached per `BlockHeaders`, which lives for one run (the days of one
Dagster run share it): a cache that outlived the run could keep a header a reorganisation has since replaced,
and every run starts by verifying the hashes it kept in the lake (assets.chain.reorgs).

A load-balanced provider may answer from a node behind the others: its head is lower than one the run already saw,
and it has no block above that head. `BlockHeaders` remembers the highest head (and finalized block) it has seen:
a lower one is asked again a few times, and the search for a day's blocks is never bounded by a head lower than
one already seen; a block at or below that head which the node says does not exist is asked again too.
"""

from __future__ import annotations

import logging
import threading
import time as clock
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from assets.chain.bloom import bloom_of
from assets.chain.rpc import JsonRpcClient, JsonRpcError

log = logging.getLogger(__name__)

# A head (or finalized block) lower than one already seen, or a block missing at or below it, is asked this many
# times more before the run goes on with what it saw before (a head) or gives up (a block).
BEHIND_REASKS = 3


@dataclass(frozen=True)
class BlockHeader:
    number: int
    hash: str
    timestamp: int  # seconds since the epoch, UTC
    parent_hash: str
    # the header's 256-byte logsBloom (empty when the node gave none): assets.chain.bloom reads it
    logs_bloom: bytes = field(default=b"", repr=False, compare=False)

    @property
    def time(self) -> datetime:
        """Naive UTC, as the lake stores timestamps."""
        return datetime.fromtimestamp(self.timestamp, tz=timezone.utc).replace(tzinfo=None)


class MissingBlock(LookupError):
    """The node has no block with that number."""


class BlockHeaders:
    def __init__(self, rpc: JsonRpcClient, *, behind_backoff_s: float = 0.25) -> None:
        self.rpc = rpc
        self.behind_backoff_s = behind_backoff_s
        self._by_number: dict[int, BlockHeader] = {}
        self._confirmed: dict[tuple[str, int], BlockHeader | None] = {}
        self._lock = threading.Lock()
        self._highest_head = -1
        self._highest_finalized = -1
        # answers of a node behind met (a lower head or finalized block, a block missing below a head seen)
        self.behind = 0

    @property
    def label(self) -> str:
        return getattr(self.rpc, "label", "the node")

    def head_number(self) -> int:
        """The node's head, or the highest head already seen when the node keeps answering a lower one."""
        number = self._not_behind("eth_blockNumber", lambda: int(self.rpc.call("eth_blockNumber", []), 16),
                                  lambda: self._highest_head)
        with self._lock:
            self._highest_head = max(self._highest_head, number)
            return self._highest_head

    def confirmed_head(self, finality: str, confirmations: int) -> BlockHeader | None:
        """The newest block the run may ingest, fixed once per `BlockHeaders` so that every day of a run is
        judged against the same head.

        `finality="finalized"` asks the node for its `finalized` block (on Arbitrum: the L2 blocks whose batch is
        final on L1) and falls back to head − `confirmations` when the node does not know the tag; `"depth"` is
        always head − `confirmations`. None when the chain is not yet that deep.
        """
        key = (finality, confirmations)
        if key not in self._confirmed:
            self._confirmed[key] = self._find_confirmed_head(finality, confirmations)
        return self._confirmed[key]

    def _find_confirmed_head(self, finality: str, confirmations: int) -> BlockHeader | None:
        if finality == "finalized":
            try:
                header = self._finalized()
            except JsonRpcError as error:
                log.warning("the node has no `finalized` block tag (%s); using head - %d", error.message, confirmations)
                header = None
            if header is not None:
                with self._lock:
                    self._by_number[header.number] = header
                    self._highest_finalized = max(self._highest_finalized, header.number)
                    # a head below a block already final is a node behind too
                    self._highest_head = max(self._highest_head, header.number)
                return header
        elif finality != "depth":
            raise ValueError(f"unknown finality {finality!r} (known: finalized, depth)")
        number = self.head_number() - confirmations
        return self.header(number) if number >= 0 else None

    def _finalized(self) -> BlockHeader | None:
        found: dict[str, BlockHeader | None] = {}

        def ask() -> int:
            block = self.rpc.call("eth_getBlockByNumber", ["finalized", False])
            found["header"] = _header_of(block) if block is not None else None
            return found["header"].number if found["header"] is not None else -1

        self._not_behind("the finalized block", ask, lambda: self._highest_finalized)
        header = found["header"]
        if header is not None and header.number < self._highest_finalized:
            # still behind after asking again: the finalized block already seen stays the run's
            return self.header(self._highest_finalized)
        return header

    def _not_behind(self, what: str, ask: Callable[[], int], seen: Callable[[], int]) -> int:
        """`ask()`, asked again (with backoff) while it answers below `seen()`; its last answer."""
        number = ask()
        for attempt in range(BEHIND_REASKS):
            highest = seen()
            if number >= highest:
                break
            self.behind += 1
            log.warning("%s: %s is %d, below %d already seen: a node behind the others; asking again", self.label,
                        what, number, highest)
            clock.sleep(self.behind_backoff_s * 2 ** attempt)
            number = ask()
        if number < seen():
            self.behind += 1
            log.warning("%s: %s is still %d, below %d already seen; going on with %d", self.label, what, number,
                        seen(), seen())
        return number

    def header(self, number: int) -> BlockHeader:
        return self.headers([number])[number]

    def headers(self, numbers: Iterable[int]) -> dict[int, BlockHeader]:
        """Headers of `numbers`, fetching the uncached ones in one JSON-RPC batch (and caching them)."""
        numbers = list(numbers)
        return self.fetch(numbers, keep=numbers)

    def fetch(self, numbers: Iterable[int], *, keep: Iterable[int] = ()) -> dict[int, BlockHeader]:
        """Headers of `numbers` (cached ones from the cache, the others in one JSON-RPC batch), caching only those
        in `keep`: a sample read once need not stay in memory for the run."""
        numbers = list(numbers)
        with self._lock:
            known = {number: self._by_number[number] for number in numbers if number in self._by_number}
        missing = sorted(set(numbers) - known.keys())
        if missing:
            fetched = self._fetch_missing(missing)
            known.update(fetched)
            keep = set(keep)
            with self._lock:
                self._by_number.update((number, header) for number, header in fetched.items() if number in keep)
        return {number: known[number] for number in numbers}

    def _fetch_missing(self, numbers: list[int]) -> dict[int, BlockHeader]:
        found: dict[int, BlockHeader] = {}
        asking = numbers
        for attempt in range(BEHIND_REASKS + 1):
            blocks = self.rpc.batch([("eth_getBlockByNumber", [hex(number), False]) for number in asking])
            absent = []
            for number, block in zip(asking, blocks):
                if block is None:
                    absent.append(number)
                else:
                    found[number] = _header_of(block)
            if not absent:
                return found
            # a block at or below a head already seen exists: a node that says otherwise is behind
            beyond = [number for number in absent if number > self._highest_head]
            if beyond:
                raise MissingBlock(f"block {beyond[0]} does not exist at {self.label}")
            if attempt == BEHIND_REASKS:
                raise MissingBlock(f"{self.label} has no block {absent[0]} though a head of {self._highest_head} was "
                                   f"seen: a node behind the others (asked {attempt + 1} times)")
            self.behind += 1
            log.warning("%s has no block %d though a head of %d was seen: a node behind; asking again", self.label,
                        absent[0], self._highest_head)
            clock.sleep(self.behind_backoff_s * 2 ** attempt)
            asking = absent
        raise AssertionError("unreachable")

    def refresh(self, numbers: Iterable[int]) -> dict[int, BlockHeader]:
        """Headers of `numbers` asked of the node again (and cached anew)."""
        numbers = list(numbers)
        with self._lock:
            for number in numbers:
                self._by_number.pop(number, None)
        return self.headers(numbers)

    def forget(self) -> None:
        """Drop every cached header and head seen (after a reorganisation was found: the chain may be shorter)."""
        with self._lock:
            self._by_number.clear()
            self._confirmed.clear()
            self._highest_head = self._highest_finalized = -1


def _header_of(block: dict) -> BlockHeader:
    return BlockHeader(
        number=int(block["number"], 16),
        hash=block["hash"].lower(),
        timestamp=int(block["timestamp"], 16),
        parent_hash=block["parentHash"].lower(),
        logs_bloom=bloom_of(block.get("logsBloom")),
    )


def day_start_timestamp(day: date) -> int:
    return int(datetime.combine(day, time(0), tzinfo=timezone.utc).timestamp())


def last_block_at_or_before(
    rpc: JsonRpcClient, timestamp: int | datetime, headers: BlockHeaders | None = None
) -> int | None:
    """The highest block whose timestamp is ≤ `timestamp`; None when the first block is later."""
    headers = headers or BlockHeaders(rpc)
    seconds = _as_seconds(timestamp)
    head = headers.head_number()
    low, high = 0, head + 1  # first block strictly after `seconds` lies in [low, high]
    while low < high:
        middle = (low + high) // 2
        if headers.header(middle).timestamp > seconds:
            high = middle
        else:
            low = middle + 1
    return low - 1 if low > 0 else None


def day_block_range(rpc: JsonRpcClient, day: date, headers: BlockHeaders | None = None) -> tuple[int, int] | None:
    """(first, last) block of the UTC day, inclusive; None when no block carries that day's timestamp."""
    headers = headers or BlockHeaders(rpc)
    day_start = day_start_timestamp(day)
    next_day_start = day_start_timestamp(day + timedelta(days=1))
    last = last_block_at_or_before(rpc, next_day_start - 1, headers)
    if last is None or headers.header(last).timestamp < day_start:
        return None
    first = last_block_at_or_before(rpc, day_start - 1, headers)
    return (0 if first is None else first + 1, last)


def _as_seconds(timestamp: int | datetime) -> int:
    if isinstance(timestamp, datetime):
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=timezone.utc)
        return int(timestamp.timestamp())
    return int(timestamp)
