"""Chain ingestion throughput: decoded logs per second against the node's own ceiling.

A fresh anvil gets a history of more than 200k logs with the catalogue's real signatures (ERC-20 `Transfer`,
sUSDai `Deposit`, router `LenderRepaid`), emitted in bulk by a contract written for this bench. Then, over the
same block range, with the same spans and the same number of requests in flight:
- the ceiling: raw `eth_getLogs` answers, parsed from JSON and nothing more;
- the ingest: `LogFetcher` (adaptive spans, retries) + `decode_logs` for every answer (in bulk, by event layout)
  + the day's `chain_events` table (`day_events`), which is what the day's ingest does before writing.
The ratio says how close decoding comes to the speed at which the node can hand logs out.

Beside it, a peer: a token standing for USDai, whose logs are ERC-20 `Transfer`s only (as many per block as the
history above), gets its own block range on the same node. Over that range, with the same spans and the same
number of requests in flight, our ingest (fetch, decode, the `chain_events` rows and table) is timed against
ethereum-etl's `export_token_transfers` (its CLI, pinned, installed by this bench in its own venv under
$BACKED_HOME/bench; fetch, decode, CSV written; its interpreter start-up, timed on an empty block, left out).
Both must export the same Transfers (transaction, log index, from, to, value), or the bench fails. When ethereum-etl
cannot be installed or run here, the bench says why and leaves out that row only.

`python -m bench.chain_ingest [--quick]` prints the figures; `run()` returns them as rows for a collected report
(`python -m bench`).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from tempfile import TemporaryDirectory

import duckdb
import pyarrow as pa
import requests

from assets.chain.blocks import BlockHeader
from assets.chain.event_rows import day_events, decode_logs
from assets.chain.logs import AdaptiveSpan, LogFetcher
from assets.chain.rpc import JsonRpcClient
from foundation.home import default_home
from tests.local_chain import LocalChain, compile_solidity

TARGET_LOGS = 200_000
# The USDai stand-in's Transfers, compared with ethereum-etl (whose Python decoding is the slower side).
TOKEN_TRANSFERS = 100_000
ROUNDS_PER_TX = 700  # three logs per round: ~2,100 logs and ~5M gas per transaction
LOGS_PER_ROUND = 3
SPAN_BLOCKS = 4  # one transaction per block: ~8,400 logs (a few MB of JSON) per eth_getLogs
CONCURRENCY = 2
REPEATS = 3
# Sizes of a smoke run (`python -m bench --quick`): the same steps over a tenth of the logs, once.
QUICK_RUN = {"target_logs": 20_000, "token_transfers": 10_000, "repeats": 1}
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

// Stands for USDai in the comparison with ethereum-etl: a token whose every log is an ERC-20 Transfer.
contract BulkToken {
    event Transfer(address indexed from, address indexed to, uint256 value);

    function emitTransfers(uint256 count, uint256 salt) external {
        for (uint256 i = 0; i < count; i++) {
            uint256 k = salt * 1000000 + i;
            emit Transfer(address(uint160(uint256(keccak256(abi.encode(k))))), msg.sender, k * 1e12);
        }
    }
}
"""
# As many logs per transaction (so per block) as the bulk history.
TRANSFERS_PER_TX = ROUNDS_PER_TX * LOGS_PER_ROUND

ETHEREUM_ETL_REQUIREMENT = "ethereum-etl==2.4.2"
# ethereum-etl 2.4.2 pins eth-abi 2.x, which asks for parsimonious<0.9; parsimonious 0.8.1 imports
# inspect.getargspec, gone in Python 3.11, so the CLI cannot start. 0.9.0 keeps the grammar API eth-abi 2 uses:
# installed over it in a second step (pip reports the declared conflict; the export runs and is checked below).
ETHEREUM_ETL_OVERRIDES = ("parsimonious==0.9.0",)


class PeerUnavailable(Exception):
    """ethereum-etl could not be installed or run here: its row is left out, with this reason."""


def compile_contracts(workdir: Path) -> dict[str, str]:
    """Creation bytecode of BulkEmitter and BulkToken (one solcjs run)."""
    return compile_solidity(BULK_EMITTER_SOL, "BulkEmitter.sol", workdir, ["BulkEmitter", "BulkToken"])


def build_history(chain: LocalChain, bytecode: str, target_logs: int = TARGET_LOGS) -> tuple[str, int, int]:
    """(emitter address, first block, last block) of a history of at least `target_logs` logs."""
    emitter = chain.deploy(bytecode)
    first = chain.head() + 1
    transactions = -(-target_logs // (ROUNDS_PER_TX * LOGS_PER_ROUND))
    for salt in range(transactions):
        chain.transact(emitter, "emitRounds(uint256,uint256)", ROUNDS_PER_TX, salt + 1)
    return emitter, first, chain.head()


def build_token_history(chain: LocalChain, bytecode: str, transfers: int) -> tuple[str, int, int]:
    """(token address, first block, last block) of at least `transfers` Transfer logs of one token."""
    token = chain.deploy(bytecode)
    first = chain.head() + 1
    for salt in range(-(-transfers // TRANSFERS_PER_TX)):
        chain.transact(token, "emitTransfers(uint256,uint256)", TRANSFERS_PER_TX, salt + 1)
    return token, first, chain.head()


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


def ingest_path(url: str, emitter: str, first: int, last: int,
                role: str = "susdai") -> tuple[int, float, float, pa.Table]:
    """(logs, seconds to fetch and decode, seconds to fetch, decode and build the chain_events table, the table)."""
    header = BlockHeader(number=first, hash="0x" + "00" * 32, timestamp=GENESIS, parent_hash="0x" + "00" * 32)
    roles = {emitter.lower(): role}
    with JsonRpcClient(url, timeout=120, max_concurrency=CONCURRENCY) as rpc:
        started = time.perf_counter()
        fetcher = LogFetcher(rpc, AdaptiveSpan(initial=SPAN_BLOCKS, maximum=SPAN_BLOCKS))
        # as the day's ingest does: each answer is decoded while the next ones are fetched
        answers = [decode_logs(chunk, roles) for chunk in fetcher.chunks(first, last, [emitter])]
        decoded_at = time.perf_counter()
        # The day's table as the ingest builds it (one header stands in for every block: headers come from a batch).
        table = day_events(answers, _SameHeader(header))
        built_at = time.perf_counter()
    logs = sum(answer.log_count for answer in answers)
    assert not any(answer.unknown for answer in answers) and table.num_rows == logs
    return logs, decoded_at - started, built_at - started, table


class _SameHeader(dict):
    """Every block number → the one header."""

    def __init__(self, header: BlockHeader) -> None:
        super().__init__()
        self.header = header

    def __missing__(self, number: int) -> BlockHeader:
        return self.header


def ethereum_etl_cli(home: Path) -> Path:
    """The `ethereumetl` command of a venv under `home`/bench holding the pinned ethereum-etl, created once."""
    venv = home / "bench" / "venv-ethereum-etl"
    cli, pip = venv / "bin" / "ethereumetl", venv / "bin" / "pip"
    installed = venv / "backed-requirements.txt"  # what was installed: a new pin rebuilds the venv
    wanted = "\n".join((ETHEREUM_ETL_REQUIREMENT, *ETHEREUM_ETL_OVERRIDES))
    if cli.exists() and installed.exists() and installed.read_text() == wanted:
        return cli
    shutil.rmtree(venv, ignore_errors=True)
    print(f"chain_ingest: installing {ETHEREUM_ETL_REQUIREMENT} into {venv}", file=sys.stderr, flush=True)
    for step in ([sys.executable, "-m", "venv", str(venv)],
                 [str(pip), "install", "-q", ETHEREUM_ETL_REQUIREMENT],
                 [str(pip), "install", "-q", *ETHEREUM_ETL_OVERRIDES]):
        completed = subprocess.run(step, capture_output=True, text=True)
        if completed.returncode != 0:
            raise PeerUnavailable(f"`{' '.join(step)}` failed (exit status {completed.returncode}):\n"
                                  + _last_lines(completed.stderr))
    installed.write_text(wanted)
    return cli


def ethereum_etl_export(cli: Path, url: str, token: str, first: int, last: int, output: Path) -> float:
    """Seconds of one `ethereumetl export_token_transfers` run, start to exit, with the spans and concurrency of
    our ingest."""
    command = [str(cli), "export_token_transfers", "--start-block", str(first), "--end-block", str(last),
               "--batch-size", str(SPAN_BLOCKS), "--max-workers", str(CONCURRENCY), "--provider-uri", url,
               "--tokens", token, "--output", str(output)]
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise PeerUnavailable(f"`{' '.join(command)}` failed (exit status {completed.returncode}):\n"
                              + _last_lines(completed.stderr))
    return seconds


def _last_lines(text: str, count: int = 15) -> str:
    # pip's notices about index locations it skips say nothing about the failure
    lines = [line for line in text.splitlines() if line.strip() and "is ignored: it is neither" not in line]
    return "\n".join(lines[-count:])


def compare_transfers(ours: pa.Table, ethereum_etl_csv: Path) -> tuple[int, int, int]:
    """(our Transfer rows, ethereum-etl's rows, rows found on one side only or differing in from, to or value)."""
    with duckdb.connect() as con:
        con.register("ours", ours.select(["event", "tx_hash", "log_index", "from_address", "to_address", "value"]))
        con.execute(f"""create temp table theirs as
                        select * from read_csv('{ethereum_etl_csv}', header = true, all_varchar = true)""")
        return con.execute("""
            with ours_transfers as (select * from ours where event = 'Transfer')
            select (select count(*) from ours_transfers), (select count(*) from theirs),
                   (select count(*) from ours_transfers o full outer join theirs t
                        on lower(o.tx_hash) = lower(t.transaction_hash) and o.log_index = cast(t.log_index as integer)
                    where o.tx_hash is null or t.transaction_hash is null
                       or lower(o.from_address) <> lower(t.from_address) or lower(o.to_address) <> lower(t.to_address)
                       or cast(o.value as varchar) <> t.value)""").fetchone()


def ethereum_etl_row(url: str, token: str, first: int, last: int, workdir: Path, repeats: int) -> dict:
    """Our Transfer rows/s against ethereum-etl's over the token's range; a row with `skipped` when ethereum-etl
    cannot be installed or run here. Raises when the two do not export the same Transfers."""
    name, unit = "chain_usdai_transfer_rows_per_s", "logs/s"
    baseline_name = f"{ETHEREUM_ETL_REQUIREMENT.replace('==', ' ')} export_token_transfers rows/s"
    output = workdir / "ethereum-etl-token-transfers.csv"
    ours_s = exported_s = startup_s = float("inf")
    try:
        cli = ethereum_etl_cli(default_home())
        for _ in range(repeats):
            # its start-up (interpreter, web3 imports), timed on the genesis block where the token has no log
            startup_s = min(startup_s, ethereum_etl_export(cli, url, token, 0, 0, workdir / "ethereum-etl-empty.csv"))
            transfers, _, table_seconds, table = ingest_path(url, token, first, last, role="usdai")
            ours_s = min(ours_s, table_seconds)
            exported_s = min(exported_s, ethereum_etl_export(cli, url, token, first, last, output))
    except PeerUnavailable as reason:
        print(f"chain_ingest: the ethereum-etl row is skipped: {reason}", file=sys.stderr, flush=True)
        return {"name": name, "value": None, "unit": unit, "baseline_name": baseline_name, "baseline_value": None,
                "ratio": None, "skipped": str(reason)}
    ours_rows, ethereum_etl_rows, differing = compare_transfers(table, output)
    if not ours_rows == ethereum_etl_rows == transfers or differing:
        raise RuntimeError(
            f"ethereum-etl and our ingest disagree on the Transfers of {token} in blocks {first}-{last}: ours "
            f"{ours_rows:,} (of {transfers:,} logs decoded), ethereum-etl {ethereum_etl_rows:,}, {differing:,} rows on "
            f"one side only or with another from, to or value (ethereum-etl's export: {output})")
    ethereum_etl_s = exported_s - startup_s
    ours_rate, ethereum_etl_rate = ours_rows / ours_s, ethereum_etl_rows / ethereum_etl_s
    return {"name": name, "value": round(ours_rate), "unit": unit,
            "baseline_name": f"{baseline_name} ({ethereum_etl_rows:,} rows; CSV written; its "
                             f"{startup_s:.1f} s start-up left out)",
            "baseline_value": round(ethereum_etl_rate), "ratio": round(ours_rate / ethereum_etl_rate, 3)}


def run(target_logs: int = TARGET_LOGS, token_transfers: int = TOKEN_TRANSFERS, repeats: int = REPEATS) -> list[dict]:
    with TemporaryDirectory() as workdir:
        chain = LocalChain(GENESIS)
        try:
            bytecode = compile_contracts(Path(workdir))
            emitter, first, last = build_history(chain, bytecode["BulkEmitter"], target_logs)
            token, token_first, token_last = build_token_history(chain, bytecode["BulkToken"], token_transfers)
            # best of `repeats`, interleaved, so that a busy moment of the machine penalises neither side alone
            raw_s = decode_s = table_s = float("inf")
            for _ in range(repeats):
                raw_logs, raw_seconds = raw_ceiling(chain.url, emitter, first, last)
                logs, decode_seconds, table_seconds, _ = ingest_path(chain.url, emitter, first, last)
                raw_s, decode_s = min(raw_s, raw_seconds), min(decode_s, decode_seconds)
                table_s = min(table_s, table_seconds)
            peer_row = ethereum_etl_row(chain.url, token, token_first, token_last, Path(workdir), repeats)
        finally:
            chain.close()
    assert logs == raw_logs >= target_logs, (logs, raw_logs)
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
        peer_row,
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.chain_ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"smoke-run sizes: {QUICK_RUN}")
    args = parser.parse_args(argv)
    for row in run(**(QUICK_RUN if args.quick else {})):
        if row.get("skipped"):
            print(f"{row['name']}: skipped ({row['skipped'].splitlines()[0]})")
        elif row["ratio"] is None:
            print(f"{row['name']}: {row['value']} {row['unit']}")
        else:
            print(f"{row['name']}: {row['value']:,} {row['unit']} vs {row['baseline_name']} "
                  f"{row['baseline_value']:,} {row['unit']}: ratio {row['ratio']}")


if __name__ == "__main__":
    main()
