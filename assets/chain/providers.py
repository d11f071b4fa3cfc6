"""RPC providers that answer wrongly without an error, and what the ingest does about them.

A load-balanced provider may answer `eth_getLogs` from a node that has not indexed the range yet: `[]`, or fewer
logs than the chain holds, with HTTP 200. Another node may be behind the others (its head lower than one already
seen: assets.chain.blocks), or on another chain (another hash for a block number). A day ingested from such an
answer would be missing events, and its attestation wrong; so every eth_getLogs answer is settled by a `LogAudit`
before the day's rows are made, and the day is written only once the answers agree.

What is checked, for each eth_getLogs answer (each range the fetcher asked, at most `LogFetcher.span` blocks):
- every log of the answer is in a block whose `logsBloom` flags the log's contract (the headers of the blocks with
  logs are read anyway: the lake keeps their hashes), and no log is there twice;
- a deterministic sample of the range's blocks (`AnswerChecks`: one block in 256, at least 64 a range, every block
  of a smaller range; the first and last block and one block drawn in each stratum between): each sampled block
  whose bloom flags a watched contract has its receipts read (`eth_getBlockReceipts`, or `eth_getTransactionReceipt`
  of each of its transactions where a node lacks the former), and the answer must hold exactly the watched
  contracts' logs those receipts hold there (compared by transaction, contract, topics and data, as many times
  each). A bloom's false positive costs one receipts read and nothing else;
- with several providers (`ChainProfile.witness_rpc_urls`, BACKED_RPC_URLS), every other provider is asked the same
  range and must answer the same logs (count, block, log index, transaction, block hash, contract, topics, data):
  the whole range is covered, not a sample. The hashes of the day's first and last block, of each block with logs
  and of the state block are compared across providers (`require_same_blocks`).

What it costs on Arbitrum One (~345,600 blocks a day, ranges of 10,000 blocks): ~2,200 sampled headers a day (the
header of every block of a day would be 345,600), read in batches of 100 (~23 requests), and the receipts of the
sampled blocks whose bloom flags a watched contract (a batch a range); a second provider adds its own eth_getLogs
of each range and one batch of headers a day.

What is not checked: with a single provider, a log missing from a block outside the sample goes unseen. With ranges
of 10,000 blocks each block has about one chance in 156 of being sampled, so a day answered empty throughout is
caught with probability 1 - (1 - 1/156)^K, K being its blocks with watched logs (85% at K = 300, 99.8% at 1,000),
while a range that lacks a single log is caught once in 156. Nor is a provider that lies the same way in its logs,
headers and receipts. A second provider closes both gaps.

An answer the checks contradict is asked again (`AnswerChecks.attempts` in all, with backoff), of every provider;
when the answers still disagree the day fails with `LogAnswerRejected` naming each provider by its label (never its
key) and the block range, and nothing of the day is written. A provider that keeps lying stops the day rather than
be outvoted: only agreement is evidence, so take a provider that keeps lying out of BACKED_RPC_URLS.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assets.chain.blocks import BlockHeader, BlockHeaders
from assets.chain.bloom import flags
from assets.chain.logs import LogAnswer, LogFetcher, quantities
from assets.chain.rpc import JsonRpcClient, JsonRpcError

log = logging.getLogger(__name__)

# JSON-RPC error texts by which a node says it does not have a method.
_UNSUPPORTED_HINTS = ("not found", "not supported", "unsupported", "does not exist", "not available", "unknown method")


@dataclass(frozen=True)
class AnswerChecks:
    """How answers are checked, and how long a disagreement is given to settle."""

    # blocks of a range whose blooms are read: one in `sample_one_block_in`, at least `sampled_blocks_per_range`
    sampled_blocks_per_range: int = 64
    sample_one_block_in: int = 256
    attempts: int = 4  # asks of a range or a block hash, the first included, before the day fails
    backoff_s: float = 1.0  # before the second ask; doubled after each, up to max_backoff_s
    max_backoff_s: float = 8.0

    def __post_init__(self) -> None:
        if self.sampled_blocks_per_range < 2 or self.sample_one_block_in < 1 or self.attempts < 1:
            raise ValueError("sampled_blocks_per_range must be at least 2, sample_one_block_in and attempts at least 1")

    def sample_size(self, first: int, last: int) -> int:
        return max(self.sampled_blocks_per_range, -(-(last - first + 1) // self.sample_one_block_in))

    def wait(self, attempt: int) -> None:
        time.sleep(min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1)))


class UntrustedAnswer(Exception):
    """A provider's answer is contradicted (by the chain's blooms and receipts, or by another provider) and asking
    again did not settle it: the day is not ingested."""


class LogAnswerRejected(UntrustedAnswer):
    """The eth_getLogs answers for a block range cannot be trusted; the message names the providers and the range."""


class BlockHashMismatch(UntrustedAnswer):
    """Two providers give different hashes for a block number."""


class Witness:
    """A provider beside the primary: asked the same questions, its answers compared with the primary's."""

    def __init__(self, rpc: JsonRpcClient, checks: AnswerChecks) -> None:
        self.rpc = rpc
        self.label = rpc.label
        self.headers = BlockHeaders(rpc, behind_backoff_s=checks.backoff_s)
        self.logs = LogFetcher(rpc, concurrency=1)


def sampled_blocks(first: int, last: int, count: int) -> list[int]:
    """The blocks of [first, last] whose blooms are read: all of them when the range has at most `count`; else the
    first, the last and one in each of `count - 2` equal strata between, drawn from a hash of the range (the same
    range is always checked at the same blocks, and a periodic pattern of blocks cannot hide between them)."""
    size = last - first + 1
    if size <= count:
        return list(range(first, last + 1))
    inner = count - 2
    if inner <= 0:  # a sample of two: the range's ends
        return [first, last]
    edges = [first + 1 + (stratum * (size - 2)) // inner for stratum in range(inner + 1)]
    picks = {first, last}
    for stratum in range(inner):
        width = edges[stratum + 1] - edges[stratum]
        digest = hashlib.sha256(f"{first}:{last}:{stratum}".encode()).digest()
        picks.add(edges[stratum] + int.from_bytes(digest[:8], "big") % width)
    return sorted(picks)


# A log as receipts and eth_getLogs both give it: (transaction hash, contract, topics joined by ",", data), lower
# case. Compared as a multiset per block, so that a node numbering log indexes otherwise in its receipts than in its
# eth_getLogs answers is not taken for a liar, while a log dropped, added or changed still is.
_LogContent = tuple[str, str, str, str]


@dataclass(frozen=True)
class _Evidence:
    """What the sampled blocks of a range hold, from their blooms and receipts."""

    sampled: list[int]
    # sampled blocks whose bloom flags a watched contract and whose receipts were read → the watched contracts' logs
    receipt_logs: dict[int, Counter[_LogContent]]
    # sampled blocks whose bloom flags a watched contract but whose receipts could not be read → the contracts
    bloom_only: dict[int, list[str]]


class LogAudit:
    """Settles each eth_getLogs answer of the primary provider against the blocks' blooms and receipts (the
    primary's own) and the answers of the `witnesses`; `LogFetcher(audit=...)` calls `settle` for each range."""

    def __init__(self, headers: BlockHeaders, witnesses: Sequence[Witness] = (), checks: AnswerChecks | None = None):
        self.headers = headers
        self.rpc = headers.rpc
        self.label = getattr(self.rpc, "label", "the node")
        self.witnesses = tuple(witnesses)
        self.checks = checks or AnswerChecks()
        # what the checks met, by kind ("contradicted", "providers disagree", "receipts read", ...): for logs and tests
        self.findings: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._block_receipts = True  # whether the primary answers eth_getBlockReceipts

    def _count(self, finding: str, count: int = 1) -> None:
        with self._lock:
            self.findings[finding] += count

    def settle(self, first: int, last: int, addresses: list[str], ask: Callable[[], LogAnswer]) -> LogAnswer:
        watched = sorted({address.lower() for address in addresses})
        evidence: _Evidence | None = None
        for attempt in range(1, self.checks.attempts + 1):
            answer = ask()
            logs = _log_table([answer])
            evidence = evidence or self._evidence(first, last, watched, logs)
            problems = self._contradictions(logs, evidence, watched)
            disagreements = []
            for witness in self.witnesses:
                theirs = _log_table(list(witness.logs.chunks(first, last, addresses)))
                difference = _difference(logs, theirs, self.label, witness.label)
                if difference:
                    contradicted = self._contradictions(theirs, evidence, watched)
                    disagreements.append(f"{witness.label} answered {_how_many_logs(theirs.num_rows)} where "
                                         f"{self.label} answered {logs.num_rows}: {difference}"
                                         + (f"; {witness.label}'s answer is contradicted: {contradicted[0]}"
                                            if contradicted else ""))
            if not problems and not disagreements:
                if attempt > 1:
                    log.info("eth_getLogs of blocks %d-%d: the answers agree at ask %d", first, last, attempt)
                return answer
            self._count("contradicted" if problems else "providers disagree")
            found = "; ".join(([f"{self.label}'s answer is contradicted: {problems[0]}"] if problems else [])
                              + disagreements)
            if attempt == self.checks.attempts:
                raise LogAnswerRejected(
                    f"eth_getLogs of blocks {first}-{last}: {found} (asked {attempt} times): the day is not ingested")
            log.warning("eth_getLogs of blocks %d-%d: %s (ask %d of %d); asking again", first, last, found, attempt,
                        self.checks.attempts)
            self.checks.wait(attempt)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------------------------------------ evidence

    def _evidence(self, first: int, last: int, watched: list[str], logs: pa.Table) -> _Evidence:
        sampled = sampled_blocks(first, last, self.checks.sample_size(first, last))
        log_blocks = set(np.unique(logs["block_number"].to_numpy()).tolist())
        # one batch: the sample (read once) and the blocks with logs (kept: the ingest records their hashes)
        headers = self.headers.fetch(sorted(set(sampled) | log_blocks), keep=log_blocks)
        flagged = flags([headers[number].logs_bloom for number in sampled], watched)
        suspects = {number: [address for address, hit in zip(watched, row) if hit]
                    for number, row in zip(sampled, flagged) if row.any()}
        receipts = self._receipt_logs(sorted(suspects), set(watched))
        self._count("blocks sampled", len(sampled))
        self._count("receipts read", sum(1 for found in receipts.values() if found is not None))
        return _Evidence(
            sampled=sampled,
            receipt_logs={number: found for number, found in receipts.items() if found is not None},
            bloom_only={number: suspects[number] for number, found in receipts.items() if found is None},
        )

    def _contradictions(self, logs: pa.Table, evidence: _Evidence, watched: list[str]) -> list[str]:
        """What the answer's logs say that the chain's blooms and receipts do not (first few, in block order)."""
        problems: list[str] = []
        numbers, indexes = logs["block_number"].to_numpy(), logs["log_index"].to_numpy()
        order = np.lexsort((indexes, numbers))
        twice = np.flatnonzero((np.diff(numbers[order]) == 0) & (np.diff(indexes[order]) == 0))
        if len(twice):
            position = order[twice[0]]
            problems.append(f"it holds log {indexes[position]} of block {numbers[position]} twice")

        # every log's block must flag its contract
        if logs.num_rows:
            blocks, block_of = np.unique(numbers, return_inverse=True)
            headers = self.headers.fetch(blocks.tolist(), keep=blocks.tolist())
            contracts = pc.dictionary_encode(logs["address"]).combine_chunks()
            names = contracts.dictionary.to_pylist()
            matrix = flags([headers[int(number)].logs_bloom for number in blocks], names)
            unflagged = ~matrix[block_of, contracts.indices.to_numpy(zero_copy_only=False)]
            if unflagged.any():
                position = int(np.flatnonzero(unflagged)[0])
                problems.append(f"it has a log of {logs['address'][position].as_py()} in block {numbers[position]}, "
                                f"whose bloom does not flag that contract")

        # the sampled blocks' receipts and blooms
        sampled = np.isin(numbers, np.array(evidence.sampled, dtype=np.int64))
        in_sample: dict[int, Counter[_LogContent]] = {}
        sample_logs = logs.filter(pa.array(sampled))
        for number, *content in zip(*(sample_logs[name].to_pylist()
                                      for name in ("block_number", "tx_hash", "address", "topics", "data"))):
            in_sample.setdefault(number, Counter())[tuple(content)] += 1
        for number in evidence.sampled:
            answered = in_sample.get(number, Counter())
            if number in evidence.receipt_logs:
                expected = evidence.receipt_logs[number]
                lacking, extra = sorted((expected - answered).elements()), sorted((answered - expected).elements())
                if lacking:
                    problems.append(f"block {number}'s receipts hold {_how_many_logs(len(lacking))} of watched "
                                    f"contracts it lacks (one of {lacking[0][1]} in transaction {lacking[0][0]})")
                if extra:
                    problems.append(f"it has {_how_many_logs(len(extra))} in block {number} that the block's "
                                    f"receipts do not hold (one of {extra[0][1]} in transaction {extra[0][0]})")
            elif number in evidence.bloom_only:
                missing = [address for address in evidence.bloom_only[number]
                           if not any(logged == address for _, logged, _, _ in answered)]
                if missing:
                    problems.append(f"block {number}'s bloom flags {missing[0]} but it has no log of it there, and "
                                    f"the block's receipts could not be read")
        return problems

    def _receipt_logs(self, blocks: list[int], watched: set[str]) -> dict[int, Counter[_LogContent] | None]:
        """Each block → the watched contracts' logs its receipts hold; None where they could not be read."""
        if not blocks:
            return {}
        if self._block_receipts:
            answers = self.rpc.batch([("eth_getBlockReceipts", [hex(number)]) for number in blocks],
                                     errors_as_values=True)
            if not any(isinstance(answer, JsonRpcError) and _unsupported(answer) for answer in answers):
                return {number: _watched_logs(answer, watched) if isinstance(answer, list) else None
                        for number, answer in zip(blocks, answers)}
            log.info("%s does not answer eth_getBlockReceipts; reading each transaction's receipt", self.label)
            self._block_receipts = False
        bodies = self.rpc.batch([("eth_getBlockByNumber", [hex(number), False]) for number in blocks],
                                errors_as_values=True)
        transactions = {number: body.get("transactions") if isinstance(body, dict) else None
                        for number, body in zip(blocks, bodies)}
        calls = [(number, tx) for number, txs in transactions.items() for tx in (txs or [])
                 if isinstance(tx, str)]
        receipts = self.rpc.batch([("eth_getTransactionReceipt", [tx]) for _, tx in calls], errors_as_values=True)
        found: dict[int, Counter[_LogContent] | None] = {
            number: (Counter() if isinstance(txs, list) else None) for number, txs in transactions.items()}
        for (number, _), receipt in zip(calls, receipts):
            if found[number] is None:
                continue
            logged = _watched_logs([receipt], watched)
            found[number] = None if logged is None else found[number] + logged
        return found

    # --------------------------------------------------------------------------------------------- block hashes

    def require_same_blocks(self, headers: dict[int, BlockHeader]) -> dict[int, BlockHeader]:
        """The primary's `headers`, once every witness gives the same hash for each of their numbers; a number
        whose hashes differ is asked again of both (`AnswerChecks.attempts` in all). Raises `BlockHashMismatch`
        naming both providers, the number and both hashes when they still differ."""
        if not self.witnesses or not headers:
            return headers
        numbers = sorted(headers)
        for witness in self.witnesses:
            theirs = witness.headers.headers(numbers)
            for attempt in range(1, self.checks.attempts + 1):
                differing = [number for number in numbers if theirs[number].hash != headers[number].hash]
                if not differing:
                    break
                self._count("block hashes differ")
                number = differing[0]
                found = (f"block {number} is {headers[number].hash} at {self.label} but {theirs[number].hash} at "
                         f"{witness.label}" + (f" ({len(differing)} blocks differ)" if len(differing) > 1 else ""))
                if attempt == self.checks.attempts:
                    raise BlockHashMismatch(f"{found} (asked {attempt} times): the day is not ingested")
                log.warning("%s (ask %d of %d); asking both again", found, attempt, self.checks.attempts)
                self.checks.wait(attempt)
                headers = {**headers, **self.headers.refresh(differing)}
                theirs = {**theirs, **witness.headers.refresh(differing)}
        return headers


def lowest_confirmed_head(heads: list[BlockHeader | None]) -> BlockHeader | None:
    """The confirmed head every provider has reached: a day is ingested only when all of them confirm its end."""
    if any(head is None for head in heads):
        return None
    return min(heads, key=lambda head: head.number)


def _how_many_logs(count: int) -> str:
    return f"{count} log" + ("" if count == 1 else "s")


def _unsupported(error: JsonRpcError) -> bool:
    return error.code == -32601 or any(hint in error.message.lower() for hint in _UNSUPPORTED_HINTS)


def _watched_logs(receipts: object, watched: set[str]) -> Counter[_LogContent] | None:
    """The watched contracts' logs of a block's receipts (a loop per log of one sampled block); None when the
    receipts are not receipts."""
    if not isinstance(receipts, list):
        return None
    found: Counter[_LogContent] = Counter()
    for receipt in receipts:
        if not isinstance(receipt, dict) or not isinstance(receipt.get("logs"), list):
            return None
        for raw_log in receipt["logs"]:
            address = str(raw_log.get("address", "")).lower()
            if address in watched:
                found[(str(raw_log.get("transactionHash", "")).lower(), address,
                       ",".join(str(topic).lower() for topic in raw_log.get("topics") or []),
                       str(raw_log.get("data") or "0x").lower())] += 1
    return found


# The fields of a log compared across providers, as `_log_table` makes them.
_LOG_TABLE = pa.schema([("block_number", pa.int64()), ("log_index", pa.int64()), ("tx_hash", pa.string()),
                        ("block_hash", pa.string()), ("address", pa.string()), ("topics", pa.string()),
                        ("data", pa.string())])


def _log_table(answers: list[LogAnswer]) -> pa.Table:
    """The answers' logs as comparable columns: numbers as ints, hex texts lower-cased, topics joined."""
    tables = []
    for answer in answers:
        columns = answer.columns
        if columns is None:
            tables.append(_raw_log_table(answer.raw_logs))
            continue
        tables.append(pa.table({
            "block_number": pa.array(answer.block_numbers, pa.int64()),
            "log_index": pa.array(answer.log_indexes, pa.int64()),
            "tx_hash": pc.utf8_lower(columns["transactionHash"]),
            "block_hash": pc.utf8_lower(columns["blockHash"]),
            "address": pc.utf8_lower(columns["address"]),
            "topics": pc.utf8_lower(pc.binary_join(columns["topics"], ",")),
            "data": pc.utf8_lower(pc.fill_null(columns["data"], "0x")),
        }, schema=_LOG_TABLE))
    if not tables:
        return _LOG_TABLE.empty_table()
    return pa.concat_tables(tables).combine_chunks()


def _raw_log_table(raw_logs: list[dict]) -> pa.Table:
    """`_log_table` of an answer that does not read column-wise (a field missing or of another type)."""
    def text(value: object) -> str:
        return str(value or "").lower()

    return pa.table({
        "block_number": pa.array(quantities(pa.array([text(raw.get("blockNumber")) or "0x0" for raw in raw_logs],
                                                     pa.string())), pa.int64()),
        "log_index": pa.array(quantities(pa.array([text(raw.get("logIndex")) or "0x0" for raw in raw_logs],
                                                  pa.string())), pa.int64()),
        "tx_hash": [text(raw.get("transactionHash")) for raw in raw_logs],
        "block_hash": [text(raw.get("blockHash")) for raw in raw_logs],
        "address": [text(raw.get("address")) for raw in raw_logs],
        "topics": [",".join(text(topic) for topic in raw.get("topics") or []) for raw in raw_logs],
        "data": [text(raw.get("data")) or "0x" for raw in raw_logs],
    }, schema=_LOG_TABLE)


def _difference(ours: pa.Table, theirs: pa.Table, our_label: str, their_label: str) -> str:
    """'' when both providers answered the same logs; else what differs, in words."""
    order = [("block_number", "ascending"), ("log_index", "ascending"), ("tx_hash", "ascending")]
    if ours.num_rows == theirs.num_rows and ours.sort_by(order).equals(theirs.sort_by(order)):
        return ""
    keys = ["block_number", "log_index", "tx_hash"]
    only_ours = ours.select(keys).join(theirs.select(keys), keys, join_type="left anti").sort_by(order[:2])
    only_theirs = theirs.select(keys).join(ours.select(keys), keys, join_type="left anti").sort_by(order[:2])
    parts = []
    for label, only in ((our_label, only_ours), (their_label, only_theirs)):
        if only.num_rows:
            parts.append(f"{only.num_rows} only from {label} (first: log {only['log_index'][0].as_py()} of block "
                         f"{only['block_number'][0].as_py()})")
    return ", ".join(parts) or "the same logs with other contents"
