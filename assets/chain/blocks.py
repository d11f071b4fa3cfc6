"""UTC days ↔ block ranges, by binary search on block timestamps, and the confirmed head.

Block timestamps never decrease with the block number, so "the first block at or after t" is a binary
search over [0, head]. Headers are cached per `BlockHeaders`, which lives for one run (the days of one
Dagster run share it): a cache that outlived the run could keep a header a reorganisation has since replaced,
and every run starts by verifying the hashes it kept in the lake (assets.chain.reorgs).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from assets.chain.rpc import JsonRpcClient, JsonRpcError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BlockHeader:
    number: int
    hash: str
    timestamp: int  # seconds since the epoch, UTC
    parent_hash: str

    @property
    def time(self) -> datetime:
        """Naive UTC, as the lake stores timestamps."""
        return datetime.fromtimestamp(self.timestamp, tz=timezone.utc).replace(tzinfo=None)


class MissingBlock(LookupError):
    """The node has no block with that number."""


class BlockHeaders:
    def __init__(self, rpc: JsonRpcClient) -> None:
        self.rpc = rpc
        self._by_number: dict[int, BlockHeader] = {}
        self._confirmed: dict[tuple[str, int], BlockHeader | None] = {}

    def head_number(self) -> int:
        return int(self.rpc.call("eth_blockNumber", []), 16)

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
                block = self.rpc.call("eth_getBlockByNumber", ["finalized", False])
            except JsonRpcError as error:
                log.warning("the node has no `finalized` block tag (%s); using head - %d", error.message, confirmations)
                block = None
            if block is not None:
                header = _header_of(block)
                self._by_number[header.number] = header
                return header
        elif finality != "depth":
            raise ValueError(f"unknown finality {finality!r} (known: finalized, depth)")
        number = self.head_number() - confirmations
        return self.header(number) if number >= 0 else None

    def header(self, number: int) -> BlockHeader:
        return self.headers([number])[number]

    def headers(self, numbers: list[int] | set[int]) -> dict[int, BlockHeader]:
        """Headers of `numbers`, fetching the uncached ones in one JSON-RPC batch."""
        missing = sorted(set(numbers) - self._by_number.keys())
        if missing:
            blocks = self.rpc.batch([("eth_getBlockByNumber", [hex(number), False]) for number in missing])
            for number, block in zip(missing, blocks):
                if block is None:
                    raise MissingBlock(f"block {number} does not exist")
                self._by_number[number] = _header_of(block)
        return {number: self._by_number[number] for number in numbers}

    def forget(self) -> None:
        """Drop every cached header (after a reorganisation was found)."""
        self._by_number.clear()
        self._confirmed.clear()


def _header_of(block: dict) -> BlockHeader:
    return BlockHeader(
        number=int(block["number"], 16),
        hash=block["hash"].lower(),
        timestamp=int(block["timestamp"], 16),
        parent_hash=block["parentHash"].lower(),
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
