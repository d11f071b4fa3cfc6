"""One UTC day of the chain into the lake: the day's logs (decoded, or kept raw when unknown), the state
read at the day's last block, the hashes of the blocks the day was read from, the day's block range and the
address book it was read with.

A day is ingested only once its last second is final (`ChainProfile.finality`), at every provider the profile
names. Every eth_getLogs answer is settled before it is decoded (assets.chain.providers: the blocks' blooms and
receipts, and the other providers' answers and block hashes); a provider whose answers cannot be trusted fails the
day with nothing written. The tables are written in dependency order and `chain_days` last: its row says the day
is complete.
"""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from eth_utils import to_checksum_address

from assets.chain.blocks import BlockHeader, BlockHeaders, day_block_range, day_start_timestamp, last_block_at_or_before
from assets.chain.event_rows import DecodedLogs, day_events, decode_logs
# the per-log reference the bulk decoder is held to (tests drive it directly)
from assets.chain.event_rows import event_row as _event_row  # noqa: F401
from assets.chain.event_rows import lake_table as _table
from assets.chain.logs import DEFAULT_SPAN, AdaptiveSpan, LogFetcher, log_order
from assets.chain.profiles import ChainProfile, rpc_client
from assets.chain.providers import (AnswerChecks, BlockHashMismatch, LogAnswerRejected, LogAudit, UntrustedAnswer,
                                    Witness, lowest_confirmed_head)
from assets.chain.rpc import JsonRpcClient
from assets.chain.state import StateReader, current_base_token, state_reads
from foundation.lake import SCHEMAS, Lake
from foundation.money import RawAmountOutOfRange

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

__all__ = [
    "CHAIN_DAY_TABLES", "AnswerChecks", "BlockHashMismatch", "ChainDaySummary", "ChainMismatch", "ChainReorganised",
    "ChainRun", "DayNotConfirmed", "LogAnswerRejected", "RawAmountOutOfRange", "UntrustedAnswer", "ingest_chain_day",
    "ingest_chain_days",
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
    confirmed head, the log span learned so far, whether state reads may go through Multicall3, and the other
    providers the node's answers are compared with (`witnesses`; by default a client for each of the profile's
    `witness_rpc_urls`, closed by `close`)."""

    def __init__(
        self,
        profile: ChainProfile,
        rpc: JsonRpcClient,
        *,
        log_block_span: int | None = None,
        use_multicall: bool = True,
        witnesses: Sequence[JsonRpcClient] | None = None,
        checks: AnswerChecks | None = None,
    ) -> None:
        chain_id = int(rpc.call("eth_chainId", []), 16)
        if chain_id != profile.chain_id:
            raise ChainMismatch(f"profile {profile.name} expects chain {profile.chain_id}, the node serves {chain_id}")
        self.rpc = rpc
        self.checks = checks or AnswerChecks()
        owned: list[JsonRpcClient] = []
        if witnesses is None:
            owned = [rpc_client(profile, url=url) for url in profile.witness_rpc_urls]
            witnesses = owned
        # the clients this run opened are closed with it, or when it is collected
        self._close_owned = weakref.finalize(self, _close_clients, owned)
        for witness in witnesses:
            served = int(witness.call("eth_chainId", []), 16)
            if served != profile.chain_id:
                raise ChainMismatch(f"profile {profile.name} expects chain {profile.chain_id}, the provider "
                                    f"{witness.label} serves {served}")
        self.profile = profile.with_start_blocks(rpc)
        self.headers = BlockHeaders(rpc, behind_backoff_s=self.checks.backoff_s)
        self.witnesses = tuple(Witness(witness, self.checks) for witness in witnesses)
        self.audit = LogAudit(self.headers, self.witnesses, self.checks)
        self.logs = LogFetcher(rpc, AdaptiveSpan(log_block_span or DEFAULT_SPAN), audit=self.audit)
        self.state = StateReader(rpc, use_multicall=use_multicall)

    def confirmed_head(self) -> BlockHeader | None:
        """The lowest of the providers' confirmed heads: a day is ingested only once every provider confirms it."""
        return lowest_confirmed_head([headers.confirmed_head(self.profile.finality, self.profile.confirmations)
                                      for headers in (self.headers, *(w.headers for w in self.witnesses))])

    def forget_headers(self) -> None:
        """Drop every provider's cached headers and heads (after a reorganisation was found)."""
        for headers in (self.headers, *(witness.headers for witness in self.witnesses)):
            headers.forget()

    def close(self) -> None:
        self._close_owned()

    def __enter__(self) -> ChainRun:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _close_clients(clients: list[JsonRpcClient]) -> None:
    for client in clients:
        client.close()


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
    roles = {entry.address.lower(): entry.role for entry in reversed(profile.address_book)}
    # each eth_getLogs answer is decoded as it arrives, while the next ones are fetched
    answers: list[DecodedLogs] = []
    if block_range is None:
        state_block_number = last_block_at_or_before(rpc, next_day_start - 1, headers)
    else:
        state_block_number = block_range[1]
        addresses = profile.watched_addresses_until(block_range[1])
        answers = [decode_logs(chunk, roles)
                   for chunk in run.logs.chunks(block_range[0], block_range[1], addresses)]

    log_blocks = set(np.unique(np.concatenate(
        [answer.positions["block_number"].to_numpy() for answer in answers] or [np.empty(0, np.int64)])).tolist())
    read_blocks = headers.headers(
        log_blocks | set(block_range or ()) | ({state_block_number} if state_block_number is not None else set()))
    # the day's first and last block, each block with logs and the state block: the same at every provider
    read_blocks = run.audit.require_same_blocks(read_blocks)
    _require_canonical_answers(answers, read_blocks)
    events = day_events(answers, read_blocks)
    unknown_logs = sorted((answer.raw_logs[position] for answer in answers for position in answer.unknown),
                          key=log_order)
    unknown = [_unknown_log_row(raw_log, read_blocks[int(raw_log["blockNumber"], 16)],
                                roles.get(raw_log["address"].lower())) for raw_log in unknown_logs]
    log_count = sum(answer.log_count for answer in answers)
    unknown_topic0s = tuple(sorted({row["topic0"] or "(no topics)" for row in unknown}))
    declared_not_modelled = tuple(sorted(
        pc.unique(events.filter(pc.is_null(events["model"]))["signature"]).to_pylist()))
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
            "log_count": log_count,
        }],
    }
    for table in CHAIN_DAY_TABLES:
        rows = tables[table]
        lake.write_table(table, day, rows if isinstance(rows, pa.Table) else _table(table, rows))
    return ChainDaySummary(
        day=day,
        profile=profile.name,
        chain_id=profile.chain_id,
        from_block=block_range[0] if block_range else None,
        to_block=block_range[1] if block_range else None,
        state_block=state_block.number if state_block else None,
        log_count=log_count,
        decoded_events=events.num_rows,
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


def _require_canonical_answers(answers: list[DecodedLogs], headers: dict[int, BlockHeader]) -> None:
    """Every log's block must be the block now at its height, and no log flagged removed; the first offending log
    in chain order is the one named."""
    if not answers:
        return
    positions = pa.concat_tables([answer.positions.append_column(
        "answer", pa.repeat(pa.scalar(number, pa.int64()), answer.positions.num_rows))
        for number, answer in enumerate(answers)])
    blocks = positions["block_number"].to_numpy()
    distinct = np.unique(blocks)
    hashes = pa.array([headers[int(number)].hash for number in distinct], pa.string())
    expected = hashes.take(pa.array(np.searchsorted(distinct, blocks)))
    offending = ~pc.equal(positions["block_hash"], expected).to_numpy(zero_copy_only=False)
    answer_of = positions["answer"].to_numpy()
    for number, answer in enumerate(answers):
        if answer.removed:
            offending[(answer_of == number) & np.isin(positions["position"].to_numpy(), answer.removed)] = True
    if offending.any():
        rows = np.flatnonzero(offending)
        first = int(rows[np.lexsort((positions["log_index"].to_numpy()[rows], blocks[rows]))[0]])
        raw_log = answers[int(answer_of[first])].raw_logs[positions["position"][first].as_py()]
        _require_canonical(raw_log, headers[int(blocks[first])])


def _require_canonical(raw_log: dict, header: BlockHeader) -> None:
    if raw_log.get("removed") or raw_log["blockHash"].lower() != header.hash:
        raise ChainReorganised(
            f"log {raw_log['transactionHash']}:{int(raw_log['logIndex'], 16)} names block {raw_log['blockHash']} "
            f"but block {header.number} is now {header.hash}"
        )


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


def _first_seen_up_to(lake: Lake, day: date, todays_events: pa.Table,
                      groups: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """For each group of key events (event name → the column holding the key), each key one of them named on or
    before `day` → the contract whose log named it first, in chain order: every loanTermsHash → its router, every
    account ever blacklisted → USDai. The history is read once for every group."""
    group_of = {event: group for group, key_events in groups.items() for event in key_events}
    column_of = {event: column for key_events in groups.values() for event, column in key_events.items()}
    first_seen: dict[str, dict[str, str]] = {group: {} for group in groups}
    # the partitions' Parquet files only: other files may sit beside them (their digests)
    earlier_files = [str(lake.partition_path("chain_events", earlier_day))
                     for earlier_day in lake.partition_days("chain_events") if earlier_day < day]
    if earlier_files:
        earlier = ds.dataset(earlier_files, format="parquet", schema=SCHEMAS["chain_events"]).to_table(
            columns=["block_number", "log_index", "event", "contract_address", *sorted(set(column_of.values()))],
            filter=(ds.field("partition_date") < day) & ds.field("event").isin(list(column_of)),
        )
        rows = earlier.sort_by([("block_number", "ascending"), ("log_index", "ascending")]).to_pylist()
    else:
        rows = []
    todays = todays_events.filter(pc.is_in(todays_events["event"], pa.array(list(column_of), pa.string()))).select(
        ["event", "contract_address", *sorted(set(column_of.values()))]).to_pylist()
    for row in [*rows, *todays]:
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


def _utc(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)
