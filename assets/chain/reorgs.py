"""Reorganisations: verify the blocks the lake was read from, and restate the days a reorganisation changed.

Each ingested day keeps, in `chain_blocks`, the hash and parent hash of every block it read: the day's first
and last block, each block carrying a watched log, and the block its state was read at. A block hash commits to
all of its ancestors, so a recorded block whose hash is still canonical proves that nothing at or below it
changed, and the first recorded block whose hash changed lies above the fork. Every later block changed too,
so every ingested day from the first changed one on is re-ingested.

`verify_and_repair` runs before each ingest. What it finds is recorded in `chain_reorgs` (under each affected
day) before the days are rewritten, so the ledger can restate them even if the repair is interrupted. A day
that can no longer be confirmed (a reorganisation deeper than the profile's finality) is withdrawn: its chain
partitions are removed until a later run can ingest it again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from assets.chain.ingest import CHAIN_DAY_TABLES, ChainRun, ingest_chain_day
from assets.chain.profiles import ChainProfile
from assets.chain.rpc import JsonRpcClient
from foundation.lake import SCHEMAS, Lake

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reorg:
    reorg_id: str
    detected_at: datetime  # naive UTC
    # The first block whose hash changed: exact when the lake holds the block below it (or the replaced block's
    # parent is still canonical); otherwise the block after `common_block`, which makes `depth` an upper bound.
    fork_block: int
    common_block: int | None  # the highest recorded block still canonical below the fork
    depth: int  # blocks replaced, from fork_block to the highest recorded block that changed
    days: tuple[date, ...]  # every ingested day the reorganisation reached
    old_hashes: dict[int, str]  # recorded blocks that changed → the hash the lake had
    new_hashes: dict[int, str | None]  # → the hash now canonical (None: the chain no longer reaches it)
    reingested: tuple[date, ...]
    withdrawn: tuple[date, ...]


def verify_and_repair(profile: ChainProfile, rpc: JsonRpcClient, lake: Lake, days: list[date] | None = None,
                      *, run: ChainRun | None = None) -> list[Reorg]:
    """Compare the recorded block hashes of `days` (default: every ingested day) with the node; on a mismatch,
    record the reorganisation and re-ingest (or withdraw) every ingested day from the first changed one on.
    Returns the reorganisations found: none, or one covering everything from its fork up.

    Usually one request: the highest recorded block of the last day checked still canonical proves every block
    below it unchanged. Otherwise a binary search over the days finds the first one that changed."""
    ingested = lake.partition_days("chain_blocks")
    checked = sorted(set(ingested if days is None else days) & set(ingested))
    if not checked:
        return []
    recorded = _recorded_blocks(lake)
    canonical: dict[int, str | None] = {}

    def changed(day: date) -> bool:
        top = max(recorded[day])
        if top not in canonical:
            canonical.update(_canonical_hashes(rpc, [top]))
        return canonical[top] != recorded[day][top][0]

    if not changed(checked[-1]):
        return []
    # Changes are closed upwards (a changed block changes every later one), and so is "the day's top block changed".
    low, high = 0, len(checked) - 1  # the first changed day is checked[high]; none before checked[low]
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if changed(checked[middle]) else (middle + 1, high)

    affected = [day for day in ingested if day >= checked[high]]
    old_blocks = {number: old for day in affected for number, (old, _) in recorded[day].items()}
    canonical.update(_canonical_hashes(rpc, sorted(set(old_blocks) - set(canonical))))
    replaced = {number: old for number, old in old_blocks.items() if canonical[number] != old}
    first_replaced = min(replaced)
    common = _highest_unchanged_below(rpc, recorded, first_replaced)
    fork = _fork_block(rpc, first_replaced, _parent_of(recorded, first_replaced), common)
    detected_at = datetime.now(timezone.utc).replace(tzinfo=None)
    reorg_id = hashlib.sha256(f"{first_replaced}:{replaced[first_replaced]}:{canonical[first_replaced]}"
                              .encode()).hexdigest()[:16]
    depth = max(replaced) - fork + 1
    log.warning("chain reorganisation %s: blocks from %d replaced (depth %d), days %s are restated",
                reorg_id, fork, depth, ", ".join(day.isoformat() for day in affected))

    run = run or ChainRun(profile, rpc)
    run.forget_headers()
    confirmed = run.confirmed_head()
    confirmed_until = confirmed.time.date() if confirmed is not None else date.min
    # A day is re-ingested when its end is final now; one whose end no longer is gets withdrawn.
    reingest = tuple(day for day in affected if day < confirmed_until)
    reorg = Reorg(
        reorg_id=reorg_id, detected_at=detected_at, fork_block=fork, common_block=common, depth=depth,
        days=tuple(affected), old_hashes=dict(sorted(replaced.items())),
        new_hashes={number: canonical[number] for number in sorted(replaced)},
        reingested=reingest, withdrawn=tuple(day for day in affected if day not in reingest),
    )
    # The record goes in before the days are rewritten: an interrupted repair still leaves the reorganisation known.
    _record(lake, reorg, recorded)
    for day in affected:
        if day in reorg.reingested:
            # judged final against the run's confirmed head, the one the ingest checks too
            ingest_chain_day(day, run.profile, rpc, lake, run=run)
        else:
            for table in reversed(CHAIN_DAY_TABLES):
                lake.remove_partition(table, day)
    return [reorg]


def _record(lake: Lake, reorg: Reorg, recorded: dict[date, dict[int, tuple[str, str]]]) -> None:
    schema = SCHEMAS["chain_reorgs"]
    common = {
        "reorg_id": reorg.reorg_id, "detected_at": reorg.detected_at, "fork_block": reorg.fork_block,
        "common_block": reorg.common_block, "depth": reorg.depth,
        "affected_days": json.dumps([day.isoformat() for day in reorg.days]),
    }
    for day in reorg.days:
        action = "reingested" if day in reorg.reingested else "withdrawn"
        rows = [{**common, "action": action, "block_number": number, "old_hash": reorg.old_hashes[number],
                 "new_hash": reorg.new_hashes[number]}
                for number in sorted(recorded[day]) if number in reorg.old_hashes]
        rows = rows or [{**common, "action": action, "block_number": None, "old_hash": None, "new_hash": None}]
        new_rows = pa.Table.from_pylist([{"partition_date": day, **row} for row in rows], schema=schema)
        with lake.partition_lock("chain_reorgs", day):
            earlier = lake.read_table("chain_reorgs", day)
            if earlier is not None:
                earlier = earlier.filter(pc.not_equal(earlier.column("reorg_id"), reorg.reorg_id))
                new_rows = pa.concat_tables([earlier, new_rows])
            lake.write_table("chain_reorgs", day, new_rows)


def _recorded_blocks(lake: Lake) -> dict[date, dict[int, tuple[str, str]]]:
    """day → block number → (hash, parent hash), for every ingested day."""
    # the partitions' Parquet files only: other files may sit beside them (their digests)
    files = [str(lake.partition_path("chain_blocks", day)) for day in lake.partition_days("chain_blocks")]
    table = ds.dataset(files, format="parquet", schema=SCHEMAS["chain_blocks"]).to_table(
        columns=["partition_date", "block_number", "block_hash", "parent_hash"])
    recorded: dict[date, dict[int, tuple[str, str]]] = {}
    for day, number, block_hash, parent_hash in zip(*(table.column(name).to_pylist() for name in table.column_names)):
        recorded.setdefault(day, {})[number] = (block_hash, parent_hash)
    return recorded


def _highest_unchanged_below(rpc: JsonRpcClient, recorded: dict[date, dict[int, tuple[str, str]]],
                             first_replaced: int, batch: int = 16) -> int | None:
    """The highest recorded block below `first_replaced` whose hash is still canonical (None: none is)."""
    earlier = sorted({number: old for blocks in recorded.values() for number, (old, _) in blocks.items()
                      if number < first_replaced}.items(), reverse=True)
    for start in range(0, len(earlier), batch):
        chunk = earlier[start : start + batch]
        canonical = _canonical_hashes(rpc, [number for number, _ in chunk])
        for number, old in chunk:
            if canonical[number] == old:
                return number
    return None


def _parent_of(recorded: dict[date, dict[int, tuple[str, str]]], number: int) -> str:
    return next(blocks[number][1] for blocks in recorded.values() if number in blocks)


def _canonical_hashes(rpc: JsonRpcClient, numbers: list[int]) -> dict[int, str | None]:
    if not numbers:
        return {}
    blocks = rpc.batch([("eth_getBlockByNumber", [hex(number), False]) for number in numbers])
    return {number: block["hash"].lower() if block else None for number, block in zip(numbers, blocks)}


def _fork_block(rpc: JsonRpcClient, first_replaced: int, old_parent: str, common: int | None) -> int:
    if first_replaced == 0:
        return 0
    parent_now = _canonical_hashes(rpc, [first_replaced - 1])[first_replaced - 1]
    if parent_now == old_parent:
        return first_replaced
    return 0 if common is None else common + 1
