"""One UTC day of the chain into the lake: the day's logs (decoded, or kept raw when unknown), the state
read at the day's last block, the hashes of the blocks the day was read from, the day's block range and the
address book it was read with.

A day is ingested only once its last second is final (`ChainProfile.finality`). The tables are written in
dependency order and `chain_days` last: its row says the day is complete.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
from eth_utils import to_checksum_address

from assets.chain.blocks import BlockHeader, BlockHeaders, day_block_range, day_start_timestamp, last_block_at_or_before
from assets.chain.logs import DEFAULT_SPAN, AdaptiveSpan, LogFetcher, log_order
from assets.chain.profiles import ChainProfile
from assets.chain.registry import DecodedLog, arguments_json, decode_log
from assets.chain.rpc import JsonRpcClient
from assets.chain.state import StateReader, current_base_token, state_reads
from foundation.lake import SCHEMAS, Lake
from foundation.money import MAX_RAW_AMOUNT, RawAmountOutOfRange, raw_amount

log = logging.getLogger(__name__)

# The chain tables of one day, in the order they are written (chain_days last: it marks the day complete).
CHAIN_DAY_TABLES = ("chain_events", "chain_logs_unknown", "chain_state", "chain_blocks", "chain_address_book",
                    "chain_days")

# Events that bring a loanTermsHash into existence, and the column holding it.
_LOAN_KEY_EVENTS = {"LoanOriginated": "loan_terms_hash", "LoanRefinanced": "new_loan_terms_hash",
                    "LoanMigrated": "new_loan_terms_hash"}
_BLACKLIST_KEY_EVENTS = {"BlacklistUpdated": "account"}
# sUSDai's own blacklist (StakedUSDai v1.0–v1.6): the shares of each account it ever named are read every day.
_SUSDAI_BLACKLIST_KEY_EVENTS = {"Blacklisted": "account"}

_EVENT_AMOUNT_COLUMNS = frozenset(
    field.name for field in SCHEMAS["chain_events"] if pa.types.is_decimal(field.type)
)
# An ERC-20 allowance is a permission, not money, and "unlimited" is 2^256-1 by convention: one that does not fit
# DECIMAL(38,0) is stored as null (unlimited) instead of failing the day.
_ALLOWANCE_ARGUMENTS = frozenset({("Approval(address,address,uint256)", "value")})

__all__ = [
    "CHAIN_DAY_TABLES", "ChainDaySummary", "ChainMismatch", "ChainReorganised", "ChainRun", "DayNotConfirmed",
    "RawAmountOutOfRange", "ingest_chain_day", "ingest_chain_days",
]


class DayNotConfirmed(Exception):
    """The chain's confirmed head has not yet passed the end of the day."""


class ChainMismatch(Exception):
    """The node serves another chain than the profile's."""


class ChainReorganised(Exception):
    """A log's block is not the block now at that height."""


@dataclass(frozen=True)
class ChainDaySummary:
    day: date
    profile: str
    chain_id: int
    from_block: int | None
    to_block: int | None
    state_block: int | None
    log_count: int
    decoded_events: int
    unknown_logs: int
    state_values: int
    state_unavailable: tuple[str, ...]  # reads the contracts did not answer (reverted or no code)
    unknown_topic0s: tuple[str, ...] = ()  # topic0s of the logs kept raw, for the run's log
    # signatures of the decoded events no model reads (kept in chain_events with their arguments), for the run's log
    declared_not_modelled: tuple[str, ...] = ()


class ChainRun:
    """What the days of one run share: the node, the profile (with its start blocks found), the header cache and
    confirmed head, the log span learned so far, and whether state reads may go through Multicall3."""

    def __init__(
        self,
        profile: ChainProfile,
        rpc: JsonRpcClient,
        *,
        log_block_span: int | None = None,
        use_multicall: bool = True,
    ) -> None:
        chain_id = int(rpc.call("eth_chainId", []), 16)
        if chain_id != profile.chain_id:
            raise ChainMismatch(f"profile {profile.name} expects chain {profile.chain_id}, the node serves {chain_id}")
        self.rpc = rpc
        self.profile = profile.with_start_blocks(rpc)
        self.headers = BlockHeaders(rpc)
        self.logs = LogFetcher(rpc, AdaptiveSpan(log_block_span or DEFAULT_SPAN))
        self.state = StateReader(rpc, use_multicall=use_multicall)

    def confirmed_head(self) -> BlockHeader | None:
        return self.headers.confirmed_head(self.profile.finality, self.profile.confirmations)


def ingest_chain_days(days: list[date], profile: ChainProfile, rpc: JsonRpcClient, lake: Lake,
                      **run_options: Any) -> list[ChainDaySummary]:
    """Ingest `days` in order with one `ChainRun` (the caller verifies earlier days first: assets.chain.reorgs)."""
    run = ChainRun(profile, rpc, **run_options)
    return [ingest_chain_day(day, run.profile, rpc, lake, run=run) for day in sorted(days)]


def ingest_chain_day(
    day: date,
    profile: ChainProfile,
    rpc: JsonRpcClient,
    lake: Lake,
    *,
    log_block_span: int | None = None,
    run: ChainRun | None = None,
) -> ChainDaySummary:
    """Write the day's chain tables; raises `DayNotConfirmed` while the day's end is not final. Pass the `run` the
    days of one run share (`ingest_chain_days` does): without it each call checks the chain id, finds unknown start
    blocks and learns the log span anew."""
    run = run or ChainRun(profile, rpc, log_block_span=log_block_span)
    profile, headers = run.profile, run.headers
    next_day_start = day_start_timestamp(day + timedelta(days=1))
    _require_confirmed(day, profile, run.confirmed_head(), next_day_start)

    block_range = day_block_range(rpc, day, headers)
    # (raw log, its decoding or None), decoded as each eth_getLogs answer arrives while the next are fetched
    logs: list[tuple[dict, DecodedLog | None]] = []
    if block_range is None:
        state_block_number = last_block_at_or_before(rpc, next_day_start - 1, headers)
    else:
        state_block_number = block_range[1]
        addresses = profile.watched_addresses_until(block_range[1])
        for chunk in run.logs.chunks(block_range[0], block_range[1], addresses):
            logs.extend((raw_log, decode_log(raw_log)) for raw_log in chunk)
        logs.sort(key=lambda pair: log_order(pair[0]))

    log_blocks = {int(raw_log["blockNumber"], 16) for raw_log, _ in logs}
    read_blocks = headers.headers(
        log_blocks | set(block_range or ()) | ({state_block_number} if state_block_number is not None else set()))
    roles = {entry.address.lower(): entry.role for entry in reversed(profile.address_book)}
    events, unknown = [], []
    for raw_log, decoded in logs:
        header = read_blocks[int(raw_log["blockNumber"], 16)]
        _require_canonical(raw_log, header)
        role = roles.get(raw_log["address"].lower())
        if decoded is None:
            unknown.append(_unknown_log_row(raw_log, header, role))
        else:
            events.append(_event_row(decoded, header, role))
    unknown_topic0s = tuple(sorted({row["topic0"] or "(no topics)" for row in unknown}))
    declared_not_modelled = tuple(sorted({row["signature"] for row in events if not row["model"]}))
    if declared_not_modelled:
        log.info("%s: logs of events declared, not modelled (kept with their arguments): %s", day,
                 ", ".join(declared_not_modelled))
    if unknown:
        log.warning("%s: %d logs of watched contracts have a topic0 the registry does not know (%s); kept raw in "
                    "chain_logs_unknown", day, len(unknown), ", ".join(unknown_topic0s))

    state_block = read_blocks[state_block_number] if state_block_number is not None else None
    state_rows, unavailable = [], []
    if state_block is not None:
        first_seen = _first_seen_up_to(lake, day, events, {"loans": _LOAN_KEY_EVENTS,
                                                           "blacklisted": _BLACKLIST_KEY_EVENTS,
                                                           "susdai_blacklisted": _SUSDAI_BLACKLIST_KEY_EVENTS})
        loans, blacklisted = first_seen["loans"], tuple(first_seen["blacklisted"])
        state_rows, unavailable = run.state.read(
            state_reads(profile, loans, state_block.number, blacklisted, tuple(first_seen["susdai_blacklisted"])),
            state_block)

    last_block = read_blocks[block_range[1]] if block_range else None
    tables = {
        "chain_events": events,
        "chain_logs_unknown": unknown,
        "chain_state": state_rows,
        "chain_blocks": [_block_row(header) for header in read_blocks.values()],
        "chain_address_book": _address_book_rows(profile, current_base_token(rpc, profile, state_block)),
        "chain_days": [{
            "chain_id": profile.chain_id,
            "profile": profile.name,
            "from_block": block_range[0] if block_range else None,
            "to_block": last_block.number if last_block else None,
            "to_block_hash": last_block.hash if last_block else None,
            "to_block_time": last_block.time if last_block else None,
            "state_block": state_block.number if state_block else None,
            "state_block_hash": state_block.hash if state_block else None,
            "log_count": len(logs),
        }],
    }
    for table in CHAIN_DAY_TABLES:
        lake.write_table(table, day, _table(table, tables[table]))
    return ChainDaySummary(
        day=day,
        profile=profile.name,
        chain_id=profile.chain_id,
        from_block=block_range[0] if block_range else None,
        to_block=block_range[1] if block_range else None,
        state_block=state_block.number if state_block else None,
        log_count=len(logs),
        decoded_events=len(events),
        unknown_logs=len(unknown),
        state_values=len(state_rows),
        state_unavailable=tuple(unavailable),
        unknown_topic0s=unknown_topic0s,
        declared_not_modelled=declared_not_modelled,
    )


def _require_confirmed(day: date, profile: ChainProfile, confirmed: BlockHeader | None, next_day_start: int) -> None:
    # A confirmed block at or after the next day's first second proves every block of the day is confirmed.
    if confirmed is None or confirmed.timestamp < next_day_start:
        shown = ("nothing" if confirmed is None
                 else f"block {confirmed.number} at {_utc(confirmed.timestamp).isoformat()}")
        rule = "the finalized block" if profile.finality == "finalized" else f"{profile.confirmations} blocks deep"
        raise DayNotConfirmed(
            f"{day.isoformat()} is not confirmed on {profile.name}: the newest block {rule} is {shown}, before the "
            f"day's end"
        )


def _require_canonical(raw_log: dict, header: BlockHeader) -> None:
    if raw_log.get("removed") or raw_log["blockHash"].lower() != header.hash:
        raise ChainReorganised(
            f"log {raw_log['transactionHash']}:{int(raw_log['logIndex'], 16)} names block {raw_log['blockHash']} "
            f"but block {header.number} is now {header.hash}"
        )


def _event_row(decoded: DecodedLog, header: BlockHeader, role: str | None) -> dict[str, Any]:
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
        "block_time": header.time,
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


def _unknown_log_row(raw_log: dict, header: BlockHeader, role: str | None) -> dict[str, Any]:
    topics = [topic.lower() for topic in raw_log.get("topics") or []]
    return {
        "block_number": header.number,
        "block_hash": header.hash,
        "block_time": header.time,
        "tx_hash": raw_log["transactionHash"].lower(),
        "log_index": int(raw_log["logIndex"], 16),
        "contract_address": to_checksum_address(raw_log["address"]),
        "contract_role": role,
        "topic0": topics[0] if topics else None,
        "topics": json.dumps(topics),
        "data": raw_log.get("data", "0x").lower(),
    }


def _block_row(header: BlockHeader) -> dict[str, Any]:
    return {"block_number": header.number, "block_hash": header.hash, "parent_hash": header.parent_hash,
            "block_time": header.time}


def _first_seen_up_to(lake: Lake, day: date, todays_events: list[dict],
                      groups: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """For each group of key events (event name → the column holding the key), each key one of them named on or
    before `day` → the contract whose log named it first, in chain order: every loanTermsHash → its router, every
    account ever blacklisted → USDai. The history is read once for every group."""
    group_of = {event: group for group, key_events in groups.items() for event in key_events}
    column_of = {event: column for key_events in groups.values() for event, column in key_events.items()}
    first_seen: dict[str, dict[str, str]] = {group: {} for group in groups}
    events_dir = lake.root / "chain_events"
    if events_dir.is_dir():
        earlier = ds.dataset(events_dir, format="parquet", schema=SCHEMAS["chain_events"]).to_table(
            columns=["block_number", "log_index", "event", "contract_address", *sorted(set(column_of.values()))],
            filter=(ds.field("partition_date") < day) & ds.field("event").isin(list(column_of)),
        )
        rows = earlier.sort_by([("block_number", "ascending"), ("log_index", "ascending")]).to_pylist()
    else:
        rows = []
    for row in [*rows, *todays_events]:
        column = column_of.get(row["event"])
        if column is not None and row.get(column):
            first_seen[group_of[row["event"]]].setdefault(row[column], row["contract_address"])
    return first_seen


def _address_book_rows(profile: ChainProfile, base_token: str | None) -> list[dict[str, Any]]:
    """The profile's book for the day; of its base tokens, the one USDai holds its reserve in at the day's close is
    the `base_token`, the others are each an `inactive_base_token` (their balances are still read and reconciled)."""
    return [
        {
            "role": ("inactive_base_token" if entry.role == "base_token" and entry.address != base_token
                     else entry.role),
            "address": entry.address,
            "is_protocol": entry.is_protocol,
            "token_symbol": entry.token_symbol,
            "token_decimals": entry.token_decimals,
            "interface": entry.interface,
        }
        for entry in profile.address_book
    ]


def _table(table: str, rows: list[dict[str, Any]]) -> pa.Table:
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


def _utc(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)
