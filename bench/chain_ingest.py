"""Chain ingestion throughput: decoded logs per second against the node's own ceiling.

A fresh anvil gets a history of more than 200k logs with the catalogue's real signatures (ERC-20 `Transfer`,
sUSDai `Deposit`, router `LenderRepaid`), emitted in bulk by a contract written for this bench. Then, over the
same block range, with the same spans and the same number of requests in flight:
- the ceiling: raw `eth_getLogs` answers, parsed from JSON and nothing more;
- the ingest: `LogFetcher` (adaptive spans, retries) + `decode_log` for every log + the `chain_events` rows and
  their Arrow table, which is what the day's ingest does before writing.
The ratio says how close decoding comes to the speed at which the node can hand logs out.

`python -m bench.chain_ingest` prints the figures; `run()` returns them as rows for a collected report.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from tempfile import TemporaryDirectory

import requests

from assets.chain.blocks import BlockHeader
from assets.chain.ingest import _event_row, _table
from assets.chain.logs import AdaptiveSpan, LogFetcher
from assets.chain.registry import decode_log
from assets.chain.rpc import JsonRpcClient
from tests.local_chain import LocalChain, compile_solidity

TARGET_LOGS = 200_000
ROUNDS_PER_TX = 700  # three logs per round: ~2,100 logs and ~5M gas per transaction
LOGS_PER_ROUND = 3
SPAN_BLOCKS = 4  # one transaction per block: ~8,400 logs (a few MB of JSON) per eth_getLogs
CONCURRENCY = 2
REPEATS = 3
GENESIS = int(datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp())

BULK_EMITTER_SOL = """
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

contract BulkEmitter {
    event Transfer(address indexed from, address indexed to, uint256 value);
    event Deposit(address indexed sender, address indexed owner, uint256 assets, uint256 shares);
    event LenderRepaid(bytes32 indexed loanTermsHash, address indexed lender, uint8 indexed trancheIndex, uint256 principal, uint256 interest, uint256 prepay);

    function emitRounds(uint256 rounds, uint256 salt) external {
        for (uint256 i = 0; i < rounds; i++) {
            uint256 k = salt * 1000000 + i;
            address holder = address(uint160(uint256(keccak256(abi.encode(k)))));
            emit Transfer(holder, msg.sender, k * 1e12);
            emit Deposit(msg.sender, holder, k * 1e18, k * 1e18 - 1);
            emit LenderRepaid(keccak256(abi.encode(salt)), holder, uint8(k % 3), k * 1e6, k, 0);
        }
    }
}
"""


def build_history(chain: LocalChain, workdir: Path) -> tuple[str, int, int]:
    """(emitter address, first block, last block) of a history of at least TARGET_LOGS logs."""
    code = compile_solidity(BULK_EMITTER_SOL, "BulkEmitter.sol", workdir, ["BulkEmitter"])["BulkEmitter"]
    emitter = chain.deploy(code)
    first = chain.head() + 1
    transactions = -(-TARGET_LOGS // (ROUNDS_PER_TX * LOGS_PER_ROUND))
    for salt in range(transactions):
        chain.transact(emitter, "emitRounds(uint256,uint256)", ROUNDS_PER_TX, salt + 1)
    return emitter, first, chain.head()


def raw_ceiling(url: str, emitter: str, first: int, last: int) -> tuple[int, float]:
    """(logs, seconds) for plain eth_getLogs over the range: the spans and concurrency of the ingest, no decoding."""
    ranges = [(start, min(start + SPAN_BLOCKS - 1, last)) for start in range(first, last + 1, SPAN_BLOCKS)]

    sessions = threading.local()

    def fetch(block_range: tuple[int, int]) -> int:
        session = getattr(sessions, "session", None) or requests.Session()
        sessions.session = session
        query = {"fromBlock": hex(block_range[0]), "toBlock": hex(block_range[1]), "address": [emitter]}
        answer = session.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [query]},
                              timeout=120)
        return len(answer.json()["result"])

    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        logs = sum(pool.map(fetch, ranges))
    return logs, time.perf_counter() - started


def ingest_path(url: str, emitter: str, first: int, last: int) -> tuple[int, float, float]:
    """(logs, seconds to fetch and decode, seconds to fetch, decode and build the chain_events table)."""
    header = BlockHeader(number=first, hash="0x" + "00" * 32, timestamp=GENESIS, parent_hash="0x" + "00" * 32)
    with JsonRpcClient(url, timeout=120, max_concurrency=CONCURRENCY) as rpc:
        started = time.perf_counter()
        fetcher = LogFetcher(rpc, AdaptiveSpan(initial=SPAN_BLOCKS, maximum=SPAN_BLOCKS))
        # as the day's ingest does: each answer is decoded while the next ones are fetched
        decoded = [decode_log(raw_log) for chunk in fetcher.chunks(first, last, [emitter]) for raw_log in chunk]
        decoded_at = time.perf_counter()
        # Rows as the day's ingest builds them (one header stands in for every block: headers come from a batch).
        table = _table("chain_events", [_event_row(log, header, "susdai") for log in decoded])
        built_at = time.perf_counter()
    assert all(log is not None for log in decoded) and table.num_rows == len(decoded)
    return len(decoded), decoded_at - started, built_at - started


def run() -> list[dict]:
    with TemporaryDirectory() as workdir:
        chain = LocalChain(GENESIS)
        try:
            emitter, first, last = build_history(chain, Path(workdir))
            # best of REPEATS, interleaved, so that a busy moment of the machine penalises neither side alone
            raw_s = decode_s = table_s = float("inf")
            for _ in range(REPEATS):
                raw_logs, raw_seconds = raw_ceiling(chain.url, emitter, first, last)
                logs, decode_seconds, table_seconds = ingest_path(chain.url, emitter, first, last)
                raw_s, decode_s = min(raw_s, raw_seconds), min(decode_s, decode_seconds)
                table_s = min(table_s, table_seconds)
        finally:
            chain.close()
    assert logs == raw_logs >= TARGET_LOGS, (logs, raw_logs)
    ceiling = raw_logs / raw_s
    return [
        {"name": "chain_decoded_logs_per_s", "value": round(logs / decode_s), "unit": "logs/s",
         "baseline_name": "raw_eth_getLogs_logs_per_s", "baseline_value": round(ceiling),
         "ratio": round(logs / decode_s / ceiling, 3)},
        {"name": "chain_event_rows_per_s", "value": round(logs / table_s), "unit": "logs/s",
         "baseline_name": "raw_eth_getLogs_logs_per_s", "baseline_value": round(ceiling),
         "ratio": round(logs / table_s / ceiling, 3)},
        {"name": "chain_bench_logs", "value": logs, "unit": "logs", "baseline_name": None, "baseline_value": None,
         "ratio": None},
    ]


def main() -> None:
    for row in run():
        if row["ratio"] is None:
            print(f"{row['name']}: {row['value']} {row['unit']}")
        else:
            print(f"{row['name']}: {row['value']:,} {row['unit']} vs {row['baseline_name']} "
                  f"{row['baseline_value']:,} {row['unit']}: ratio {row['ratio']}")


if __name__ == "__main__":
    main()
