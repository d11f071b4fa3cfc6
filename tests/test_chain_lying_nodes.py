"""RPC providers that lie with HTTP 200 and no error (tests/rpc_fault_proxy.py in front of a real anvil carrying the
sandbox protocol's history): eth_getLogs answered `[]` or short, a node behind the others, two providers that
disagree on a block's hash or on the logs. Each day is either ingested with exactly the rows of a clean ingest, or
fails naming the provider (never its key) and the range, with nothing of it written."""

from __future__ import annotations

import dataclasses
import logging
from datetime import date, timedelta

import pytest
from eth_utils import keccak, to_checksum_address

from assets.chain.blocks import BlockHeader, BlockHeaders, last_block_at_or_before
from assets.chain.bloom import BLOOM_BYTES, flags, logs_bloom, may_contain
from assets.chain.ingest import CHAIN_DAY_TABLES, ChainRun, ingest_chain_day, ingest_chain_days
from assets.chain.profiles import load_profile, provider_urls
from assets.chain.providers import (AnswerChecks, BlockHashMismatch, LogAnswerRejected, lowest_confirmed_head,
                                    sampled_blocks)
from assets.chain.rpc import JsonRpcClient, provider_label
from foundation.lake import Lake
from tests.rpc_fault_proxy import FaultPlan, RpcFaultProxy
from tests.test_chain_production import lake_rows as day_rows

START = date(2026, 1, 1)
DAY_1, DAY_2 = START, START + timedelta(days=1)
DAYS = [DAY_1, DAY_2]
# A day's answers settle in well under a second when the backoff is this short.
QUICK = AnswerChecks(attempts=3, backoff_s=0.01, max_backoff_s=0.02)
HONEST = FaultPlan(rotation=("ok",))


def client(url: str) -> JsonRpcClient:
    return JsonRpcClient(url, timeout=5, attempts=3, backoff_s=0.01, max_backoff_s=0.05, max_concurrency=3)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """Three simulated days on a fresh anvil (the tests ingest the first two) and a clean ingest of them."""
    simulator = pytest.importorskip("sandbox.simulator")
    from sandbox.anvil import AnvilNode

    home = tmp_path_factory.mktemp("sandbox-home")
    with AnvilNode(simulator.genesis_timestamp(START)) as node:
        simulator.simulate(home, node.rpc_url, days=3, seed=11, start=START)
        profile = load_profile("sandbox", home)
        clean = Lake(tmp_path_factory.mktemp("clean"))
        with JsonRpcClient(profile.rpc_url) as rpc:
            summaries = ingest_chain_days(DAYS, profile, rpc, clean)
        assert all(summary.log_count > 0 for summary in summaries)
        yield profile, clean, {summary.day: summary for summary in summaries}


# ---------------------------------------------------------------------------------------------- the bloom

def test_every_blocks_bloom_is_the_bloom_of_its_receipts_logs(sandbox):
    profile, _, _ = sandbox
    with JsonRpcClient(profile.rpc_url) as rpc:
        head = int(rpc.call("eth_blockNumber", []), 16)
        headers = BlockHeaders(rpc).headers(range(head + 1))
        receipts = rpc.batch([("eth_getBlockReceipts", [hex(number)]) for number in range(head + 1)])
    watched = [address.lower() for address in profile.watched_addresses]
    logged_blocks = 0
    for number, block_receipts in enumerate(receipts):
        logs = [(raw["address"], raw["topics"]) for receipt in block_receipts for raw in receipt["logs"]]
        bloom = headers[number].logs_bloom
        assert len(bloom) == BLOOM_BYTES and bloom == logs_bloom(logs), number  # the node's bloom, recomputed
        assert all(may_contain(bloom, address) for address, _ in logs)
        logged = {address.lower() for address, _ in logs}
        row = flags([bloom], watched)[0]
        assert all(row[column] for column, address in enumerate(watched) if address in logged)
        if not logs:
            assert not row.any() and bloom == bytes(BLOOM_BYTES)
        logged_blocks += bool(logged & set(watched))
    assert logged_blocks > 100


def test_an_address_sets_the_three_bits_its_keccak_names():
    # Read the other way round: the bloom as one 2048-bit big-endian number, bit i counted from its low end.
    for seed in range(20):
        address = to_checksum_address(keccak(seed.to_bytes(2, "big"))[-20:])
        digest = keccak(bytes.fromhex(address[2:]))
        expected = {int.from_bytes(digest[pair:pair + 2], "big") & 2047 for pair in (0, 2, 4)}
        bloom = int.from_bytes(logs_bloom([(address, [])]), "big")
        assert {bit for bit in range(2048) if bloom >> bit & 1} == expected
        assert may_contain(logs_bloom([(address, [])]), address.lower())
    assert may_contain(b"", "0x" + "00" * 20)  # no bloom given: nothing can be ruled out


def test_the_sample_of_a_range_is_fixed_and_spread_over_it():
    assert sampled_blocks(10, 20, 64) == list(range(10, 21))
    assert AnswerChecks().sample_size(0, 345_599) == 1_350 and AnswerChecks().sample_size(0, 9_999) == 64
    sample = sampled_blocks(1_000, 10_999, 64)
    assert sample == sampled_blocks(1_000, 10_999, 64) and len(sample) == 64
    assert sample[0] == 1_000 and sample[-1] == 10_999
    gaps = [later - earlier for earlier, later in zip(sample, sample[1:])]
    assert max(gaps) <= 2 * (10_000 // 62 + 1)  # one block in each stratum
    assert sampled_blocks(1_001, 10_999, 64) != sample[1:]  # another range, other draws


def test_providers_are_named_without_their_keys(monkeypatch, tmp_path):
    assert provider_label("https://user:pw@arb.example:8443/v2/KEY?apikey=Q") == "https://arb.example:8443"
    assert provider_label("https://arb-mainnet.example/v2/KEY") == "https://arb-mainnet.example"
    assert provider_urls(" https://a/1 ", "https://b/2, https://a/1\nhttps://c/3") == (
        "https://a/1", "https://b/2", "https://c/3")
    monkeypatch.setenv("BACKED_RPC_URL", "")
    monkeypatch.setenv("BACKED_RPC_URLS", "https://a.example/v2/one-key https://b.example/v2/two-key")
    profile = load_profile("arbitrum", tmp_path)
    assert profile.rpc_url == "https://a.example/v2/one-key"
    assert profile.witness_rpc_urls == ("https://b.example/v2/two-key",)
    assert "one-key" not in repr(profile) and "two-key" not in repr(profile)
    monkeypatch.setenv("BACKED_RPC_URL", "https://b.example/v2/two-key")
    assert load_profile("arbitrum", tmp_path).rpc_urls == ("https://b.example/v2/two-key",
                                                            "https://a.example/v2/one-key")


def test_the_confirmed_head_is_the_lowest_of_the_providers():
    early, late = (BlockHeader(number, f"0x{number:064x}", 1_767_225_600 + number, "0x" + "00" * 32)
                   for number in (10, 12))
    assert lowest_confirmed_head([late, early]) == early
    assert lowest_confirmed_head([late, None]) is None  # a provider not that deep holds every day back


# ---------------------------------------------------------------------------------------------- one provider

@pytest.mark.fault("an RPC provider answering eth_getLogs with [] for a range it has")
def test_an_empty_answer_is_caught_by_the_blooms_and_asked_again(sandbox, tmp_path, caplog, reliability):
    profile, clean, summaries = sandbox
    lake = Lake(tmp_path)
    caplog.set_level(logging.DEBUG)
    with RpcFaultProxy(profile.rpc_url, dataclasses.replace(HONEST, log_lie="empty", log_lies=2)) as proxy:
        with client(proxy.url + "/v2/secret-key") as rpc:
            # the default span and sample: one eth_getLogs a day, 64 of day 1's 94 blocks checked
            run = ChainRun(profile, rpc, checks=QUICK)
            ingested = [ingest_chain_day(day, profile, rpc, lake, run=run) for day in DAYS]
    assert reliability.compare_rows(day_rows(clean, DAYS), day_rows(lake, DAYS)) == (0, 0)
    assert ingested == [summaries[day] for day in DAYS]
    assert proxy.faults["empty logs"] == 2 and run.audit.findings["contradicted"] == 2
    assert "receipts hold" in caplog.text and "secret-key" not in caplog.text


@pytest.mark.fault("an RPC provider that never stops answering eth_getLogs with []")
def test_a_provider_that_keeps_answering_empty_fails_the_day_with_nothing_written(sandbox, tmp_path, reliability):
    profile, clean, summaries = sandbox
    lake = Lake(tmp_path)
    with client(profile.rpc_url) as rpc:
        ingest_chain_day(DAY_1, profile, rpc, lake)
    with RpcFaultProxy(profile.rpc_url, dataclasses.replace(HONEST, log_lie="empty")) as proxy:
        with client(proxy.url + "/v2/secret-key") as rpc:
            run = ChainRun(profile, rpc, checks=QUICK)
            with pytest.raises(LogAnswerRejected) as rejected:
                ingest_chain_day(DAY_2, profile, rpc, lake, run=run)
            message = str(rejected.value)
            day_2 = summaries[DAY_2]
            assert f"blocks {day_2.from_block}-{day_2.to_block}" in message and proxy.url in message
            assert "secret-key" not in message and "asked 3 times" in message
            # nothing of day 2 was written: the lake holds day 1 as a clean ingest has it, and no more
            assert all(lake.read_table(table, DAY_2) is None for table in CHAIN_DAY_TABLES)
            assert reliability.compare_rows(day_rows(clean, [DAY_1]), day_rows(lake, DAYS)) == (0, 0)
            proxy.heal()  # the node caught up: the day goes in as a clean ingest writes it
            ingest_chain_day(DAY_2, profile, rpc, lake, run=run)
    assert reliability.compare_rows(day_rows(clean, DAYS), day_rows(lake, DAYS)) == (0, 0)


@pytest.mark.fault("an RPC provider dropping logs from eth_getLogs answers")
def test_short_answers_are_caught_by_the_receipts_of_the_sampled_blocks(sandbox, tmp_path, reliability):
    profile, clean, _ = sandbox
    lake = Lake(tmp_path)
    with RpcFaultProxy(profile.rpc_url, dataclasses.replace(HONEST, log_lie="short", log_lies=4)) as proxy:
        with client(proxy.url) as rpc:
            # ranges of 16 blocks, each checked whole: a log missing from a block that keeps others is seen too
            run = ChainRun(profile, rpc, log_block_span=16, checks=QUICK)
            for day in DAYS:
                ingest_chain_day(day, profile, rpc, lake, run=run)
    assert reliability.compare_rows(day_rows(clean, DAYS), day_rows(lake, DAYS)) == (0, 0)
    assert proxy.faults["short logs"] == 4 and run.audit.findings["contradicted"] == 4
    assert run.audit.findings["receipts read"] > 0

    # a node without eth_getBlockReceipts: each sampled transaction's receipt tells the same
    lake = Lake(tmp_path / "per-transaction")
    plan = dataclasses.replace(HONEST, log_lie="short", log_lies=2, refuse_methods=frozenset({"eth_getBlockReceipts"}))
    with RpcFaultProxy(profile.rpc_url, plan) as proxy:
        with client(proxy.url) as rpc:
            run = ChainRun(profile, rpc, log_block_span=16, checks=QUICK)
            for day in DAYS:
                ingest_chain_day(day, profile, rpc, lake, run=run)
    assert proxy.faults["eth_getBlockReceipts refused"] >= 1 and proxy.faults["short logs"] == 2
    assert run.audit.findings["contradicted"] == 2
    assert reliability.compare_rows(day_rows(clean, DAYS), day_rows(lake, DAYS)) == (0, 0)

    with RpcFaultProxy(profile.rpc_url, dataclasses.replace(HONEST, log_lie="short")) as proxy:
        with client(proxy.url) as rpc:
            with pytest.raises(LogAnswerRejected, match=f"{proxy.url}'s answer is contradicted: block \\d+'s "
                                                        f"receipts hold"):
                ingest_chain_day(DAY_2, profile, rpc, Lake(tmp_path / "never"),
                                 run=ChainRun(profile, rpc, log_block_span=16, checks=QUICK))
    assert day_rows(Lake(tmp_path / "never"), DAYS) == []


class _ScriptedNode:
    """Answers eth_blockNumber and the `finalized` block from scripts, and any block by number."""

    label = "https://scripted.example"

    def __init__(self, heads: list[int], finalized: list[int]) -> None:
        self.heads, self.finalized = heads, finalized

    @staticmethod
    def block(number: int) -> dict:
        return {"number": hex(number), "hash": f"0x{number:064x}", "timestamp": hex(1_767_225_600 + number),
                "parentHash": f"0x{max(number - 1, 0):064x}"}

    def call(self, method: str, params: list) -> object:
        if method == "eth_blockNumber":
            return hex(self.heads.pop(0))
        assert (method, params) == ("eth_getBlockByNumber", ["finalized", False])
        return self.block(self.finalized.pop(0))

    def batch(self, calls: list) -> list:
        return [self.block(int(params[0], 16)) for _, params in calls]


def test_a_head_or_finalized_block_below_one_seen_is_asked_again_and_never_believed():
    node = _ScriptedNode(heads=[100, 90, 95, 101, 80, 80, 80, 80], finalized=[50, 40, 45, 40, 40])
    headers = BlockHeaders(node, behind_backoff_s=0)
    assert headers.head_number() == 100
    assert headers.head_number() == 101 and headers.behind == 2  # 90 and 95 asked again
    assert headers.head_number() == 101 and headers.behind == 6  # 80 four times: the head seen stays
    assert headers.confirmed_head("finalized", 0).number == 50
    # another rule asks again: a finalized block below 50 is a node behind, and 50 stays the confirmed head
    assert headers.confirmed_head("finalized", 1).number == 50 and headers.behind == 10
    assert node.heads == [] and node.finalized == []


@pytest.mark.fault("an RPC node behind the others (its head moves backwards)")
def test_a_node_behind_never_cuts_a_day_short(sandbox, tmp_path, reliability):
    profile, clean, summaries = sandbox
    lake = Lake(tmp_path)
    day_2 = summaries[DAY_2]
    with client(profile.rpc_url) as rpc:
        head = int(rpc.call("eth_blockNumber", []), 16)
    # after its first answer, every eth_blockNumber the node answers is a block in the middle of day 2
    behind_by = head - (day_2.from_block + day_2.to_block) // 2
    with RpcFaultProxy(profile.rpc_url, dataclasses.replace(HONEST, head_behind_by=behind_by)) as proxy:
        with client(proxy.url) as rpc:
            run = ChainRun(profile, rpc, checks=QUICK)
            for day in DAYS:
                ingest_chain_day(day, profile, rpc, lake, run=run)
            # what a reader that had not seen the higher head would make of day 2's end
            end_of_day_2 = int(run.headers.header(day_2.to_block + 1).timestamp) - 1
            assert last_block_at_or_before(rpc, end_of_day_2, BlockHeaders(rpc)) < day_2.to_block
    assert proxy.faults["head behind"] >= 2 and run.headers.behind >= 2
    assert reliability.compare_rows(day_rows(clean, DAYS), day_rows(lake, DAYS)) == (0, 0)


# ---------------------------------------------------------------------------------------------- two providers

@pytest.mark.fault("two RPC providers giving different hashes for a block")
def test_providers_disagreeing_on_a_block_hash_fail_the_day(sandbox, tmp_path, reliability):
    profile, clean, summaries = sandbox
    lake = Lake(tmp_path)
    forged = summaries[DAY_2].from_block
    with (RpcFaultProxy(profile.rpc_url, HONEST) as primary,
          RpcFaultProxy(profile.rpc_url, dataclasses.replace(HONEST, forged_blocks=frozenset({forged}))) as witness):
        # the second provider comes from the profile, as BACKED_RPC_URLS gives it on Arbitrum
        both = dataclasses.replace(profile, witness_rpc_urls=(witness.url + "/v2/witness-key",))
        with client(primary.url + "/v2/primary-key") as rpc, ChainRun(both, rpc, checks=QUICK) as run:
            ingest_chain_day(DAY_1, both, rpc, lake, run=run)
            with pytest.raises(BlockHashMismatch) as mismatch:
                ingest_chain_day(DAY_2, both, rpc, lake, run=run)
            message = str(mismatch.value)
            assert f"block {forged} is 0x" in message and primary.url in message and witness.url in message
            assert "primary-key" not in message and "witness-key" not in message
            assert all(lake.read_table(table, DAY_2) is None for table in CHAIN_DAY_TABLES)
            assert reliability.compare_rows(day_rows(clean, [DAY_1]), day_rows(lake, DAYS)) == (0, 0)
            witness.heal()
            ingest_chain_day(DAY_2, both, rpc, lake, run=run)
    assert witness.faults["forged hash"] >= QUICK.attempts
    assert reliability.compare_rows(day_rows(clean, DAYS), day_rows(lake, DAYS)) == (0, 0)


@pytest.mark.fault("two RPC providers, one answering eth_getLogs with []")
def test_a_provider_answering_empty_beside_another_is_asked_until_they_agree(sandbox, tmp_path, reliability):
    """The answers must agree: the one with logs does not win by having them. A second provider that answers `[]`
    a while is asked again until it agrees; one that keeps at it fails the day, named with the range."""
    profile, clean, summaries = sandbox
    lake = Lake(tmp_path)
    with (RpcFaultProxy(profile.rpc_url, HONEST) as primary,
          RpcFaultProxy(profile.rpc_url, dataclasses.replace(HONEST, log_lie="empty", log_lies=2)) as witness):
        with client(primary.url) as rpc, client(witness.url + "/v2/witness-key") as second:
            run = ChainRun(profile, rpc, witnesses=[second], checks=QUICK)
            for day in DAYS:
                ingest_chain_day(day, profile, rpc, lake, run=run)
    assert witness.faults["empty logs"] == 2 and run.audit.findings["providers disagree"] == 2
    assert reliability.compare_rows(day_rows(clean, DAYS), day_rows(lake, DAYS)) == (0, 0)

    day_2 = summaries[DAY_2]
    for liar in ("witness", "primary"):
        kept = Lake(tmp_path / liar)
        plans = {"primary": HONEST, "witness": HONEST, liar: dataclasses.replace(HONEST, log_lie="empty")}
        with (RpcFaultProxy(profile.rpc_url, plans["primary"]) as primary,
              RpcFaultProxy(profile.rpc_url, plans["witness"]) as witness):
            lying = {"primary": primary, "witness": witness}[liar]
            with client(primary.url) as rpc, client(witness.url + "/v2/witness-key") as second:
                run = ChainRun(profile, rpc, witnesses=[second], checks=QUICK)
                with pytest.raises(LogAnswerRejected) as rejected:
                    ingest_chain_day(DAY_2, profile, rpc, kept, run=run)
        message = str(rejected.value)
        assert f"blocks {day_2.from_block}-{day_2.to_block}" in message and "witness-key" not in message
        assert f"{lying.url}'s answer is contradicted" in message, message
        assert reliability.compare_rows([], day_rows(kept, DAYS)) == (0, 0)


def test_a_sample_of_two_blocks_is_the_ranges_ends():
    """AnswerChecks allows two sampled blocks per range: the two ends, not a division by zero."""
    assert sampled_blocks(10, 100, 2) == [10, 100]
    assert sampled_blocks(10, 11, 2) == [10, 11]
