"""Chain ingestion against what real providers and real chains do: a faulty provider (tests/rpc_fault_proxy.py
in front of a real anvil), reorganisations (anvil snapshot/revert, then other transactions), finality, Multicall3,
start blocks, and `backed chain decode`."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from datetime import date, timedelta

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from eth_utils import to_checksum_address

from assets.chain.blocks import BlockHeaders
from assets.chain.ingest import CHAIN_DAY_TABLES, ChainRun, DayNotConfirmed, ingest_chain_day, ingest_chain_days
from assets.chain.logs import AdaptiveSpan, LogFetcher
from assets.chain.profiles import AddressBookEntry, ChainProfile, find_start_blocks, load_profile
from assets.chain.registry import REGISTRY
from assets.chain.reorgs import verify_and_repair
from assets.chain.rpc import JsonRpcClient
from assets.chain.state import MULTICALL3_ADDRESS
from foundation.lake import Lake
from orchestration.cli.chain import chain as chain_cli
from tests.local_chain import AGGREGATOR_SOL, EMITTERS_SOL, LocalChain, compile_solidity, utc
from tests.rpc_fault_proxy import FaultPlan, RpcFaultProxy

SANDBOX_START = date(2026, 1, 1)
SANDBOX_DAYS = [SANDBOX_START, SANDBOX_START + timedelta(days=1)]
ALICE = to_checksum_address("0x" + "a1" * 20)
BOB = to_checksum_address("0x" + "b0" * 20)
DAY_1, DAY_2, DAY_3 = date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)


def faulty_client(url: str, **options) -> JsonRpcClient:
    defaults = dict(timeout=1.0, attempts=8, backoff_s=0.01, max_backoff_s=0.05, max_concurrency=3)
    return JsonRpcClient(url, **{**defaults, **options})


def partition_bytes(lake: Lake, days: list[date], tables=CHAIN_DAY_TABLES) -> dict[tuple[str, date], bytes]:
    return {(table, day): lake.partition_path(table, day).read_bytes() for table in tables for day in days}


def lake_rows(lake: Lake, days: list[date], tables=CHAIN_DAY_TABLES) -> list[tuple]:
    """Every row of the days' chain partitions, as (table, row values), for the reliability tally."""
    rows = []
    for table in tables:
        for day in days:
            partition = lake.read_table(table, day)
            if partition is not None:
                rows += [(table, *row.values()) for row in partition.to_pylist()]
    return rows


# ---------------------------------------------------------------------------------------------- the sandbox

@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """Three simulated days on a fresh sandbox anvil (the simulator's minimum); the tests ingest the first two."""
    simulator = pytest.importorskip("sandbox.simulator")
    from sandbox.anvil import AnvilNode

    home = tmp_path_factory.mktemp("sandbox-home")
    with AnvilNode(simulator.genesis_timestamp(SANDBOX_START)) as node:
        simulator.simulate(home, node.rpc_url, days=3, seed=11, start=SANDBOX_START)
        yield home, load_profile("sandbox", home)


@pytest.mark.fault("an RPC provider failing, timing out and rate-limiting mid-ingest")
def test_a_faulty_provider_yields_the_same_parquet_bytes_as_a_direct_ingest(sandbox, tmp_path, caplog, reliability):
    _, profile = sandbox
    direct_lake, proxied_lake = Lake(tmp_path / "direct"), Lake(tmp_path / "proxied")
    with JsonRpcClient(profile.rpc_url) as rpc:
        direct = ingest_chain_days(SANDBOX_DAYS, profile, rpc, direct_lake)
    assert all(summary.log_count > 0 for summary in direct)

    caplog.set_level(logging.DEBUG)
    with RpcFaultProxy(profile.rpc_url, FaultPlan(max_log_blocks=8)) as proxy:
        # The proxy ignores the path: a provider key in it must never show in a log line.
        with faulty_client(proxy.url + "/v2/secret-key") as rpc:
            run = ChainRun(profile, rpc)
            proxied = [ingest_chain_day(day, profile, rpc, proxied_lake, run=run) for day in SANDBOX_DAYS]
            outcomes = rpc.outcomes
    assert proxied == direct
    assert reliability.compare_rows(lake_rows(direct_lake, SANDBOX_DAYS), lake_rows(proxied_lake, SANDBOX_DAYS)) == (0, 0)
    assert partition_bytes(proxied_lake, SANDBOX_DAYS) == partition_bytes(direct_lake, SANDBOX_DAYS)
    # Every fault was served, and met the way it should: retried, or answered with a smaller range.
    assert set(proxy.faults) >= {"429", "500", "503", "slow", "drop", "truncate", "stall",
                                 "range -32005", "range -32602", "range 413"}, proxy.faults
    assert outcomes["HTTP 429"] and outcomes["HTTP 500"] and outcomes["connection dropped"], outcomes
    assert outcomes["truncated or non-JSON answer"] and outcomes["timed out"] and outcomes["HTTP 413"], outcomes
    # the run learned the provider's range limit: its span is halved on each refusal and doubled after successes,
    # so it never ends more than one doubling above the limit, whatever order the faults came in
    assert run.logs.refusals >= 3 and run.logs.span.current <= 2 * 8
    assert "secret-key" not in caplog.text and "retrying" in caplog.text


def test_log_fetcher_halves_its_span_on_refusals_and_grows_it_back(sandbox):
    _, profile = sandbox
    with JsonRpcClient(profile.rpc_url) as rpc:
        head = int(rpc.call("eth_blockNumber", []), 16)
        expected = LogFetcher(rpc).fetch(0, head, profile.watched_addresses)
    assert len(expected) > 100

    with RpcFaultProxy(profile.rpc_url, FaultPlan(rotation=("ok",), max_log_blocks=5)) as proxy:
        with faulty_client(proxy.url) as rpc:
            fetcher = LogFetcher(rpc, AdaptiveSpan(initial=64, grow_after=1000))
            assert fetcher.fetch(0, head, profile.watched_addresses) == expected
    assert fetcher.span.current <= 5 and fetcher.refusals >= 3

    with JsonRpcClient(profile.rpc_url) as rpc:
        growing = LogFetcher(rpc, AdaptiveSpan(initial=1, maximum=32, grow_after=2), concurrency=1)
        assert growing.fetch(0, head, profile.watched_addresses) == expected
    assert growing.span.current == 32
    assert growing.requests < head  # it did not keep asking one block at a time


def test_concurrency_is_bounded_and_requests_are_paced(sandbox):
    _, profile = sandbox
    with RpcFaultProxy(profile.rpc_url, FaultPlan(rotation=("slow",), slow_s=0.05)) as proxy:
        with faulty_client(proxy.url, max_concurrency=2) as rpc:
            LogFetcher(rpc, AdaptiveSpan(initial=4, grow_after=1000), concurrency=6).fetch(
                0, 40, profile.watched_addresses)
        assert proxy.max_in_flight == 2
    with JsonRpcClient(profile.rpc_url, requests_per_second=40) as rpc:
        started = time.monotonic()
        for _ in range(11):
            rpc.call("eth_blockNumber", [])
        assert time.monotonic() - started >= 10 / 40


@pytest.mark.fault("an RPC provider refusing batches")
def test_batches_shrink_on_413_and_fall_back_to_single_calls_where_refused(sandbox, reliability):
    _, profile = sandbox
    numbers = list(range(0, 40, 2))
    with JsonRpcClient(profile.rpc_url) as rpc:
        expected = BlockHeaders(rpc).headers(numbers)
    with RpcFaultProxy(profile.rpc_url, FaultPlan(rotation=("ok",), max_batch=6)) as proxy:
        with faulty_client(proxy.url, max_batch_size=50) as rpc:
            headers = BlockHeaders(rpc).headers(numbers)
            assert reliability.compare_rows(map(repr, expected.items()), map(repr, headers.items())) == (0, 0)
            assert headers == expected
            assert rpc.max_batch_size <= 6 and proxy.faults["batch 413"] >= 1
    with RpcFaultProxy(profile.rpc_url, FaultPlan(rotation=("ok",), refuse_batches=True)) as proxy:
        with faulty_client(proxy.url) as rpc:
            assert BlockHeaders(rpc).headers(numbers) == expected
            assert proxy.faults["batch refused"] >= 1


def test_chain_decode_prints_what_the_lake_holds(sandbox, tmp_path):
    home, profile = sandbox
    lake = Lake(tmp_path)
    with JsonRpcClient(profile.rpc_url) as rpc:
        (summary,) = ingest_chain_days([SANDBOX_START], profile, rpc, lake)
        raw_logs = rpc.get_logs(summary.from_block, summary.to_block, profile.watched_addresses)
    # a log of a watched contract whose topic0 no release declares: printed raw and reported
    stranger = {**raw_logs[-1], "topics": ["0x" + "ee" * 32], "data": "0x" + "01" * 32, "logIndex": "0x3e7"}
    logs_file = tmp_path / "logs.json"
    logs_file.write_text(json.dumps([*raw_logs, stranger]))

    result = CliRunner().invoke(chain_cli, ["decode", str(logs_file)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == len(raw_logs) + 1 and len(raw_logs) == summary.log_count

    events = {(row["tx_hash"], row["log_index"]): row
              for row in lake.read_table("chain_events", SANDBOX_START).to_pylist()}
    # ERC-20 and ERC-721 Transfer share a signature text: the argument names tell them apart
    specs = {(spec.signature, tuple(i.name for i in spec.inputs)): spec for spec in REGISTRY.values()}
    decoded = [line for line in lines if line["event"] is not None]
    assert len(decoded) == len(events) and {line["event"] for line in decoded} >= {"Transfer", "Deposited", "Deposit"}
    for line in decoded:
        row = events[(line["tx_hash"], line["log_index"])]
        assert (line["event"], line["signature"], line["address"], line["block_number"]) == (
            row["event"], row["signature"], row["contract_address"], row["block_number"])
        assert line["status"] == ("modelled" if row["model"] else "declared, not modelled")
        assert json.loads(row["arguments"]) == line["args"]
        if not row["model"]:  # the sandbox swap's `Swapped`: no lake columns, its arguments in `arguments`
            assert line["event"] == "Swapped"
            continue
        for event_input in specs[(line["signature"], tuple(line["args"]))].inputs:
            value, stored = line["args"][event_input.name], row[event_input.column]
            if isinstance(stored, bool):
                assert value is stored
            elif stored is None:  # an unlimited allowance: null in the lake, exact in the decode
                assert (line["event"], event_input.name, int(value)) == ("Approval", "value", 2**256 - 1)
            else:
                assert value == str(stored), (line["signature"], event_input.name)
            if event_input.abi_type == "address":
                assert value == to_checksum_address(value)
    unknown = [line for line in lines if line["event"] is None]
    assert summary.unknown_logs == 0 and len(unknown) == 1
    assert unknown[0]["topic0"] == unknown[0]["topics"][0] == "0x" + "ee" * 32 and unknown[0]["data"] == stranger["data"]
    assert f"1 of {len(raw_logs) + 1} logs have a topic0 the registry does not know" in result.stderr
    assert "declared, not modelled (decoded, no ledger rule reads them): Swapped" in result.stderr

    # A receipt (its `logs`) decodes too; a file that is no list of logs is refused with a message.
    receipt_file = tmp_path / "receipt.json"
    receipt_file.write_text(json.dumps({"logs": raw_logs[:1]}))
    from_receipt = CliRunner().invoke(chain_cli, ["decode", str(receipt_file)])
    assert from_receipt.stdout.splitlines() == result.stdout.splitlines()[:1]
    (tmp_path / "bad.json").write_text('{"nothing": 1}')
    refused = CliRunner().invoke(chain_cli, ["decode", str(tmp_path / "bad.json")])
    assert refused.exit_code != 0 and "expected a JSON array of logs" in refused.output


# ---------------------------------------------------------------------------------------------- a chain we fork

@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    work = tmp_path_factory.mktemp("solc")
    emitters = compile_solidity(EMITTERS_SOL, "Emitters.sol", work, ["FungibleToken", "Protocol"])
    aggregator = compile_solidity(AGGREGATOR_SOL, "Aggregator.sol", work, ["Aggregator"], runtime=True)
    return {**emitters, **aggregator}


@pytest.fixture
def forked(compiled):
    """Day 1: Multicall3 installed, a token and the USDai contract deployed, a mint; day 2: a deposit."""
    chain = LocalChain(utc("2026-01-01T00:00:00"))
    try:
        chain.rpc.call("anvil_setCode", [MULTICALL3_ADDRESS, "0x" + compiled["Aggregator"]])
        chain.at(utc("2026-01-01T01:00:00"))
        token = chain.deploy(compiled["FungibleToken"])
        usdai = chain.deploy(compiled["Protocol"])
        chain.at(utc("2026-01-01T02:00:00")).transact(token, "mint(address,uint256)", usdai, 10**12)
        chain.at(utc("2026-01-01T03:00:00")).transact(usdai, "setSupply(uint256,uint256)", 10**24, 0)
        chain.mine(utc("2026-01-01T23:00:00"))
        profile = ChainProfile(
            name="forked", chain_id=31337, rpc_url=chain.url, confirmations=1,
            address_book=(AddressBookEntry("usdai", usdai, True, "USDai", 18),
                          AddressBookEntry("base_token", token, False, "PYUSD", 6)),
        )
        yield chain, profile, token, usdai
    finally:
        chain.close()


def _day_2_and_3(chain: LocalChain, usdai: str, token: str, amount: int, extra_blocks: int = 0) -> None:
    chain.at(utc("2026-01-02T10:00:00")).transact(
        usdai, "emitDeposited(address,address,address,uint256,uint256)", ALICE, ALICE, token, amount, amount * 10**12)
    for second in range(extra_blocks):
        chain.mine(utc("2026-01-02T12:00:00") + second)
    chain.mine(utc("2026-01-03T00:00:30"))
    chain.mine(utc("2026-01-03T00:01:00"))


@pytest.mark.fault("a chain reorganisation below ingested days")
def test_a_reorganisation_is_found_recorded_and_its_days_restated(forked, tmp_path, reliability):
    chain, profile, token, usdai = forked
    lake = Lake(tmp_path)
    end_of_day_1 = chain.snapshot()
    _day_2_and_3(chain, usdai, token, 5 * 10**6)
    ingest_chain_days([DAY_1, DAY_2], profile, chain.rpc, lake)
    day_1_bytes = partition_bytes(lake, [DAY_1])
    old_blocks = {row["block_number"]: row["block_hash"] for row in lake.read_table("chain_blocks", DAY_2).to_pylist()}
    assert verify_and_repair(profile, chain.rpc, lake) == []  # nothing changed yet

    chain.revert(end_of_day_1)
    fork = chain.head() + 1
    _day_2_and_3(chain, usdai, token, 7 * 10**6, extra_blocks=3)  # other transactions, a longer chain

    (reorg,) = verify_and_repair(profile, chain.rpc, lake, [DAY_1, DAY_2])
    assert reorg.days == reorg.reingested == (DAY_2,) and reorg.withdrawn == ()
    assert reorg.fork_block == fork and reorg.common_block == fork - 1
    assert set(reorg.old_hashes) == {number for number in old_blocks if number >= fork}
    assert reorg.depth == max(reorg.old_hashes) - fork + 1
    assert all(reorg.old_hashes[n] == old_blocks[n] != reorg.new_hashes[n] for n in reorg.old_hashes)

    (deposit,) = lake.read_table("chain_events", DAY_2).to_pylist()
    assert deposit["deposit_amount"] == 7 * 10**6  # the day now holds the canonical chain's deposit
    assert partition_bytes(lake, [DAY_1]) == day_1_bytes  # the day below the fork is untouched
    recorded = lake.read_table("chain_reorgs", DAY_2).to_pylist()
    assert {(row["reorg_id"], row["action"], row["fork_block"], row["depth"]) for row in recorded} == {
        (reorg.reorg_id, "reingested", fork, reorg.depth)}
    assert {row["block_number"]: (row["old_hash"], row["new_hash"]) for row in recorded} == {
        n: (reorg.old_hashes[n], reorg.new_hashes[n]) for n in reorg.old_hashes}
    assert json.loads(recorded[0]["affected_days"]) == ["2026-01-02"]
    assert verify_and_repair(profile, chain.rpc, lake) == []  # repaired: the lake agrees with the chain again
    # the repaired days hold exactly what an ingest of the new chain alone writes: no log lost, none left over
    fresh = Lake(tmp_path / "fresh")
    ingest_chain_days([DAY_1, DAY_2], profile, chain.rpc, fresh)
    assert reliability.compare_rows(lake_rows(fresh, [DAY_1, DAY_2]), lake_rows(lake, [DAY_1, DAY_2])) == (0, 0)


@pytest.mark.fault("a reorganisation deeper than finality")
def test_a_day_the_reorganisation_left_unconfirmed_is_withdrawn(forked, tmp_path, reliability):
    chain, profile, token, usdai = forked
    lake = Lake(tmp_path)
    end_of_day_1 = chain.snapshot()
    _day_2_and_3(chain, usdai, token, 5 * 10**6)
    ingest_chain_days([DAY_1, DAY_2], profile, chain.rpc, lake)
    day_1_rows = lake_rows(lake, [DAY_1])
    chain.revert(end_of_day_1)
    chain.mine(utc("2026-01-02T05:00:00"))  # the new chain has not reached day 3 yet

    (reorg,) = verify_and_repair(profile, chain.rpc, lake)
    assert reorg.withdrawn == (DAY_2,) and reorg.reingested == ()
    assert all(lake.read_table(table, DAY_2) is None for table in CHAIN_DAY_TABLES)
    assert lake.read_table("chain_days", DAY_1) is not None
    assert {row["action"] for row in lake.read_table("chain_reorgs", DAY_2).to_pylist()} == {"withdrawn"}
    with pytest.raises(DayNotConfirmed):
        ingest_chain_day(DAY_2, profile, chain.rpc, lake)
    # what is left is day 1 as it was, below the fork, and nothing of day 2 until the new chain confirms it
    assert reliability.compare_rows(day_1_rows, lake_rows(lake, [DAY_1, DAY_2])) == (0, 0)


def test_state_reads_through_multicall3_equal_plain_eth_calls(forked, tmp_path):
    chain, profile, token, usdai = forked
    _day_2_and_3(chain, usdai, token, 5 * 10**6)
    through_multicall, plain = ChainRun(profile, chain.rpc), ChainRun(profile, chain.rpc, use_multicall=False)
    ingest_chain_day(DAY_1, profile, chain.rpc, Lake(tmp_path / "multicall"), run=through_multicall)
    ingest_chain_day(DAY_1, profile, chain.rpc, Lake(tmp_path / "plain"), run=plain)
    assert through_multicall.state.multicall_blocks and not plain.state.multicall_blocks
    multicall_state = Lake(tmp_path / "multicall").partition_path("chain_state", DAY_1)
    assert multicall_state.read_bytes() == Lake(tmp_path / "plain").partition_path("chain_state", DAY_1).read_bytes()
    state = {(r["contract_role"], r["method"], r["key"]): r["value"] for r in pq.read_table(multicall_state).to_pylist()}
    assert state[("usdai", "totalSupply", "")] == 10**24 and state[("base_token", "balanceOf", usdai)] == 10**12


def test_finality_uses_the_finalized_tag_and_falls_back_to_depth(compiled, tmp_path):
    chain = LocalChain(utc("2026-01-01T00:00:00"))
    try:
        for second in range(10):
            chain.mine(utc("2026-01-01T12:00:00") + second)
        for second in range(50):
            chain.mine(utc("2026-01-02T00:00:00") + second)
        profile = ChainProfile(name="final", chain_id=31337, rpc_url=chain.url, confirmations=1, address_book=(),
                               finality="finalized")
        # anvil's finalized block is 64 below the head: still on day 1, so day 1 is not final yet
        with pytest.raises(DayNotConfirmed, match="the finalized block"):
            ingest_chain_day(DAY_1, profile, chain.rpc, Lake(tmp_path))
        with RpcFaultProxy(chain.url, FaultPlan(rotation=("ok",), refuse_finalized_tag=True)) as proxy:
            with faulty_client(proxy.url) as rpc:
                summary = ingest_chain_day(DAY_1, profile, rpc, Lake(tmp_path))  # head - 1 is on day 2
        assert proxy.faults["finalized refused"] == 1 and summary.to_block == 10
        for second in range(20):
            chain.mine(utc("2026-01-02T01:00:00") + second)
        assert ingest_chain_day(DAY_1, profile, chain.rpc, Lake(tmp_path)).to_block == 10
        depth_profile = dataclasses.replace(profile, finality="depth", confirmations=70)
        with pytest.raises(DayNotConfirmed, match="70 blocks deep"):
            ingest_chain_day(DAY_1, depth_profile, chain.rpc, Lake(tmp_path))
    finally:
        chain.close()


def test_start_blocks_are_found_on_the_chain(compiled):
    chain = LocalChain(utc("2026-01-01T00:00:00"))
    try:
        for second in range(5):
            chain.mine(utc("2026-01-01T01:00:00") + second)
        token = chain.deploy(compiled["FungibleToken"])
        token_block = chain.head()
        for second in range(7):
            chain.mine(utc("2026-01-01T02:00:00") + second)
        usdai = chain.deploy(compiled["Protocol"])
        usdai_block = chain.head()
        chain.mine(utc("2026-01-01T03:00:00"))
        nobody = to_checksum_address("0x" + "0d" * 20)
        assert find_start_blocks(chain.rpc, [token, usdai, nobody]) == {token: token_block, usdai: usdai_block}
        profile = ChainProfile(
            name="starts", chain_id=31337, rpc_url=chain.url, confirmations=1,
            address_book=(AddressBookEntry("usdai", usdai, True), AddressBookEntry("base_token", token, False),
                          AddressBookEntry("custodian", nobody, False)),
        ).with_start_blocks(chain.rpc)
        assert [entry.start_block for entry in profile.address_book] == [usdai_block, token_block, None]
        assert profile.watched_addresses_until(usdai_block - 1) == [token]
    finally:
        chain.close()
