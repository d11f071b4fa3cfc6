"""Restatements that reach further than one day or one correction, through the real components: a reorganisation
of a real anvil chain replacing two (and three) ingested days, found by the next run's verification and re-ingested
by the real chain ingestion; a loan tape delivered three times for the same as-of date; each then built by real dbt
and compared with a ledger built afresh from the final sources.

The chain here is a bare anvil (tests/local_chain.py) carrying the emitters' USDai and a base token; every day not
on it (tapes, statements, telemetry) is empty, as ingestion writes it when nothing arrived: the ledger's chain
postings (USDai mints of `Deposited` logs) are what the reorganisation moves.

What ingestion promises (assets/chain/reorgs.py, docs/lake.md): a day is ingested once its last second is
`confirmations` blocks deep; a reorganisation no deeper than that changes no ingested day; a deeper one is recorded
in `chain_reorgs` and every ingested day from the first changed one on is re-ingested when its end is confirmed on
the new chain, or withdrawn (its chain partitions removed) when it is not, until a later run ingests it again.
"""
from __future__ import annotations

import contextlib
import hashlib
import shutil
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from eth_utils import to_checksum_address

from assets.chain.ingest import CHAIN_DAY_TABLES, ChainRun, ingest_chain_day, ingest_chain_days
from assets.chain.profiles import AddressBookEntry, ChainProfile
from assets.chain.reorgs import Reorg, verify_and_repair
from foundation.home import DataHome
from foundation.lake import SCHEMAS, Lake
from tests.ledger_fixtures import (CORRECTED_TAPE_SHA256, DAY_1 as TAPE_DAY, DAYS as FIXTURE_DAYS, TAPE_FILES,
                                   build_ledger_lake,
                                   file_sha256, input_files, loan_collateral, loan_tapes, write_corrected_tape)
from tests.local_chain import EMITTERS_SOL, LocalChain, compile_solidity, utc
from tests.test_ledger_dbt import finish_dbt, query, start_dbt

# The sandbox's and the tests' forks confirm at one block; a depth of several makes "one block short" a real case.
CONFIRMATIONS = 3
DAY_N = date(2026, 1, 5)
ALICE = to_checksum_address("0x" + "a1" * 20)
USD = 10**6  # the base token's unit
# The lake tables of the sources off the chain: written empty on every day, as ingestion does when nothing arrived.
OFF_CHAIN_TABLES = ("loan_tapes", "loan_collateral", "collateral_gpu_daily", "gpu_telemetry_daily",
                    "custodian_statements", "balance_assertions", "input_files")
NETTED = """select partition_date, account_code, sub_account, sum(debit) - sum(credit) from main.journal_lines
            group by all having sum(debit) <> sum(credit) order by all"""


def day_at(day: date, clock: str) -> int:
    return utc(f"{day.isoformat()}T{clock}")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    return compile_solidity(EMITTERS_SOL, "Emitters.sol", tmp_path_factory.mktemp("solc"),
                            ["FungibleToken", "Protocol"])


@dataclass
class DeepChain:
    chain: LocalChain
    profile: ChainProfile
    usdai: str
    token: str

    def deposit(self, timestamp: int, dollars: int) -> str:
        receipt = self.chain.at(timestamp).transact(
            self.usdai, "emitDeposited(address,address,address,uint256,uint256)", ALICE, ALICE, self.token,
            dollars * USD, dollars * 10**18)
        return receipt["transactionHash"].lower()

    def confirm_through(self, last_day: date, offset_s: int, short_by: int = 0) -> None:
        """Mine the next day's first block and `CONFIRMATIONS - short_by` blocks on it: with `short_by` 0 the
        confirmed head (head - CONFIRMATIONS) is exactly the first block after `last_day`, the least that
        confirms it."""
        after = day_at(last_day + timedelta(days=1), "00:00:00") + offset_s
        for second in range(CONFIRMATIONS + 1 - short_by):
            self.chain.mine(after + second)


@pytest.fixture
def deep_chain(compiled):
    chain = LocalChain(day_at(DAY_N, "00:00:00"))
    try:
        chain.at(day_at(DAY_N, "01:00:00"))
        token = chain.deploy(compiled["FungibleToken"])
        usdai = chain.deploy(compiled["Protocol"])
        profile = ChainProfile(
            name="deep", chain_id=31337, rpc_url=chain.url, confirmations=CONFIRMATIONS, finality="depth",
            address_book=(AddressBookEntry("usdai", usdai, True, "USDai", 18),
                          AddressBookEntry("base_token", token, False, "PYUSD", 6)),
        )
        yield DeepChain(chain, profile, usdai, token)
    finally:
        chain.close()


def fill_off_chain(lake: Lake, days: list[date]) -> None:
    for day in days:
        for table in OFF_CHAIN_TABLES:
            if lake.read_table(table, day) is None:
                lake.write_table(table, day, SCHEMAS[table].empty_table())


def build(home: Path, days: list[date] | None = None, *, tests: bool = True):
    """Start dbt build on `home` for the window `days` (first, last), or from nothing on all of the lake. Without
    `tests`, the data tests are left out: for the builds a test only compares with or starts from (tests write
    nothing; the build after each restatement runs them all)."""
    window = None if days is None else (days[0].isoformat(), days[-1].isoformat())
    return start_dbt(home, "build", *(() if tests else ("--exclude", "resource_type:test")), window=window)


@dataclass(frozen=True)
class ReorgScenario:
    home: Path  # the pipeline's home: ingested, built, reorganised, verified and built again
    fresh: Path  # the new chain's days ingested into an empty lake and built from nothing
    days: list[date]
    reorg: Reorg
    orphaned: set[str]  # transactions of the days as first ingested that the new chain does not carry
    survivor: str  # the transaction below the fork


def reorganise(deep: DeepChain, tmp_path: Path, span: int, short_by: int = 0) -> ReorgScenario:
    """Day N carries a deposit below the fork; the fork is later on day N and the chain first mined replaces
    every one of the `span` days from N on with deposits of other amounts. The pipeline ingests and builds those
    days, the chain reorganises, the next run verifies (chain_ingestion's first step) and the ledger is built again.
    The new chain confirms the last day with `short_by` blocks too few."""
    days = [DAY_N + timedelta(days=offset) for offset in range(span)]
    survivor = deep.deposit(day_at(DAY_N, "10:00:00"), 1000)
    fork = deep.chain.snapshot()
    orphaned = {deep.deposit(day_at(DAY_N, "20:00:00"), 200)}
    orphaned |= {deep.deposit(day_at(day, "10:00:00"), 300 + 100 * offset) for offset, day in enumerate(days[1:])}
    deep.confirm_through(days[-1], offset_s=30)

    home = tmp_path / "home"
    lake = Lake(home)
    ingest_chain_days(days, deep.profile, deep.chain.rpc, lake)
    fill_off_chain(lake, days)
    finish_dbt(build(home, days, tests=False))
    assert {row[9].split(":")[0] for row in query(home, "select * from main.journal_lines")} == {survivor, *orphaned}

    deep.chain.revert(fork)
    deep.deposit(day_at(DAY_N, "21:00:00"), 250)
    deep.deposit(day_at(DAY_N, "22:00:00"), 260)
    for offset, day in enumerate(days[1:]):
        deep.deposit(day_at(day, "11:00:00"), 350 + 100 * offset)
    deep.confirm_through(days[-1], offset_s=40, short_by=short_by)

    (reorg,) = verify_and_repair(deep.profile, deep.chain.rpc, lake, run=ChainRun(deep.profile, deep.chain.rpc))
    return ReorgScenario(home, tmp_path / "fresh", days, reorg, orphaned, survivor)


def build_afresh(deep: DeepChain, scenario: ReorgScenario):
    """Start the ledger of the new chain built from nothing: every day it confirms ingested into an empty lake."""
    lake = Lake(scenario.fresh)
    ingest_chain_days(scenario.days, deep.profile, deep.chain.rpc, lake)
    fill_off_chain(lake, scenario.days)
    return build(scenario.fresh, tests=False)


def canonical_hash(deep: DeepChain, number: int) -> str | None:
    block = deep.chain.rpc.call("eth_getBlockByNumber", [hex(number), False])
    return block["hash"].lower() if block else None


def assert_days_hold_the_new_chain(deep: DeepChain, lake: Lake, days: list[date]) -> None:
    """Every block hash the lake recorded for `days` (chain_blocks, chain_days, each event's block) is the one
    the node has now."""
    for day in days:
        (chain_day,) = lake.read_table("chain_days", day).to_pylist()
        assert canonical_hash(deep, chain_day["to_block"]) == chain_day["to_block_hash"], day
        assert canonical_hash(deep, chain_day["state_block"]) == chain_day["state_block_hash"], day
        for row in [*lake.read_table("chain_blocks", day).to_pylist(), *lake.read_table("chain_events", day).to_pylist()]:
            assert canonical_hash(deep, row["block_number"]) == row["block_hash"], (day, row["block_number"])


def assert_no_journal_line_rests_on_an_orphaned_log(deep: DeepChain, home: Path) -> set[str]:
    """Every chain entry the journal still counts (not reversed) is a log of a receipt the node has now, in a block
    of the entry's day; returns the source keys of the chain entries reversed."""
    reversed_ids = {row[0] for row in query(home, "select distinct reverses_entry_id from main.journal_lines "
                                                  "where rule_id = 'reversal'")}
    counted = query(home, """select distinct entry_id, source_key, partition_date from main.journal_lines
                             where source = 'chain'""")
    assert counted
    for entry_id, source_key, day in counted:
        if entry_id in reversed_ids:
            continue
        tx, log_index = source_key.split(":")
        receipt = deep.chain.rpc.call("eth_getTransactionReceipt", [tx])
        assert receipt is not None, f"{source_key} ({day}) is posted but its transaction left the chain"
        assert int(log_index) in {int(log["logIndex"], 16) for log in receipt["logs"]}, source_key
        block = deep.chain.rpc.call("eth_getBlockByHash", [receipt["blockHash"], False])
        assert canonical_hash(deep, int(block["number"], 16)) == receipt["blockHash"].lower()
        assert datetime.fromtimestamp(int(block["timestamp"], 16), tz=timezone.utc).date() == day, source_key
    return {source_key for entry_id, source_key, _ in counted if entry_id in reversed_ids}


def tally_against_fresh(reliability, restated: list[tuple], fresh: list[tuple]) -> tuple[int, int]:
    """Rows of the fresh ledger's netted journal (day, account, sub-account, amount) missing from the restated
    one (lost) and rows the restated one has beyond it (counted twice), reported to the reliability summary."""
    lost = len(set(fresh) - set(restated))
    duplicates = len(set(restated) - set(fresh))
    reliability.compared(rows=len(fresh), lost=lost, duplicates=duplicates)
    return lost, duplicates


def day_rows(lake: Lake, day: date) -> set[tuple[str, str]]:
    """Every row of the day's chain tables, as (table, row)."""
    return {(table, repr(row)) for table in CHAIN_DAY_TABLES
            for row in (lake.read_table(table, day) or SCHEMAS[table].empty_table()).to_pylist()}


def h6_rows(home: Path) -> dict[date, set[tuple[str, str]]]:
    # H6 is a view over the lake's chain_reorgs, read by the path relative to the home dbt ran in
    with contextlib.chdir(home):
        rows = query(home, "select check_date, entity_key, difference from main.h6_chain_reorgs_restated")
    found: dict[date, set[tuple[str, str]]] = {}
    for day, entity, difference in rows:
        found.setdefault(day, set()).add((entity, difference))
    return found


@pytest.mark.fault("a reorganisation replacing two ingested days, at the confirmation depth")
@pytest.mark.long
def test_a_reorganisation_across_two_days_restates_both_like_a_fresh_build(deep_chain, tmp_path, reliability):
    """A fork on day N replacing days N and N+1, the new chain confirming N+1 by exactly `confirmations` blocks:
    the next run re-ingests both days (their recorded hashes are the new chain's), H6 reports both, every posted
    log of the orphaned chain is reversed (`source_withdrawn`), no counted journal line rests on a log the node
    no longer has, and the ledger equals one built afresh from the new chain."""
    scenario = reorganise(deep_chain, tmp_path, span=2)
    fresh_build = build_afresh(deep_chain, scenario)
    finish_dbt(build(scenario.home, scenario.days))
    finish_dbt(fresh_build)
    reorg = scenario.reorg
    # Counted first, so that a loss is in the reliability summary even when an assertion below fails.
    restated, fresh = query(scenario.home, NETTED), query(scenario.fresh, NETTED)
    lost_and_duplicated = tally_against_fresh(reliability, restated, fresh)

    reversed_keys = assert_no_journal_line_rests_on_an_orphaned_log(deep_chain, scenario.home)
    assert {key.split(":")[0] for key in reversed_keys} == scenario.orphaned
    reasons = query(scenario.home, """select distinct restatement_reason from main.journal_lines
                                      where rule_id = 'reversal'""")
    assert reasons == [("source_withdrawn",)]
    assert lost_and_duplicated == (0, 0)
    assert restated == fresh
    closing = "select partition_date, account_code, closing_balance from main.trial_balance order by all"
    assert query(scenario.home, closing) == query(scenario.fresh, closing)
    # 1000 below the fork, 250 + 260 on day N and 350 on N+1 from the new chain: 1860 minted, nothing else.
    assert dict(((day, code), balance) for day, code, balance in query(scenario.home, closing))[
        (scenario.days[-1], "2000")] == Decimal(-1860)

    assert h6_rows(scenario.home) == {day: {(f"chain_reorg:{reorg.reorg_id}", "reingested")} for day in scenario.days}
    assert reorg.days == reorg.reingested == tuple(scenario.days) and reorg.withdrawn == ()
    lake = Lake(scenario.home)
    assert_days_hold_the_new_chain(deep_chain, lake, scenario.days)
    assert {row["action"] for day in scenario.days for row in lake.read_table("chain_reorgs", day).to_pylist()} == {
        "reingested"}


@pytest.mark.fault("a reorganisation within the confirmation depth")
def test_a_reorganisation_no_deeper_than_the_confirmations_changes_no_ingested_day(deep_chain, tmp_path,
                                                                                   reliability):
    """Replacing the `confirmations` newest blocks (the deepest reorganisation a confirmed day is promised to
    survive), or one block more (the confirmed head itself, the first block after the day), finds nothing to
    restate and leaves the ingested day's files as they were: every block the day was read from lies below."""
    deep = deep_chain
    deep.deposit(day_at(DAY_N, "10:00:00"), 1000)
    next_day = DAY_N + timedelta(days=1)
    below_confirmed_head = deep.chain.snapshot()
    deep.chain.mine(day_at(next_day, "00:00:30"))
    below_newest = deep.chain.snapshot()
    for second in range(CONFIRMATIONS):
        deep.chain.mine(day_at(next_day, "00:01:00") + second)
    lake = Lake(tmp_path)
    ingest_chain_days([DAY_N], deep.profile, deep.chain.rpc, lake)
    ingested = {table: lake.partition_path(table, DAY_N).read_bytes() for table in CHAIN_DAY_TABLES}
    ingested_rows = day_rows(lake, DAY_N)

    for snapshot, replaced, clock in ((below_newest, CONFIRMATIONS, "00:02:00"),
                                      (below_confirmed_head, CONFIRMATIONS + 1, "00:03:00")):
        head = deep.chain.head()
        old_hashes = {number: canonical_hash(deep, number) for number in range(head - replaced + 1, head + 1)}
        deep.chain.revert(snapshot)
        for second in range(replaced):
            deep.chain.mine(day_at(next_day, clock) + second)
        assert all(canonical_hash(deep, number) != old for number, old in old_hashes.items()), replaced
        assert verify_and_repair(deep.profile, deep.chain.rpc, lake) == [], replaced
        kept_rows = day_rows(lake, DAY_N)
        reliability.compared(rows=len(ingested_rows), lost=len(ingested_rows - kept_rows),
                             duplicates=len(kept_rows - ingested_rows))
        assert {table: lake.partition_path(table, DAY_N).read_bytes() for table in CHAIN_DAY_TABLES} == ingested


@pytest.mark.long
@pytest.mark.fault("a reorganisation replacing three ingested days, the last one block short of confirmed")
def test_a_reorganisation_across_three_days_one_block_short_withdraws_the_last_until_it_is_confirmed(
        deep_chain, tmp_path, reliability):
    """A fork on day N replacing days N, N+1 and N+2, the new chain one block short of confirming N+2: the next
    run re-ingests N and N+1 and withdraws N+2 (its chain partitions removed, `withdrawn` in chain_reorgs and H6),
    and the ledger built then reverses every orphaned log, N+2's included, and counts none; once one more block
    confirms N+2, a run ingests it and the ledger equals one built afresh from the new chain."""
    scenario = reorganise(deep_chain, tmp_path, span=3, short_by=1)
    reorg, days, lake = scenario.reorg, scenario.days, Lake(scenario.home)
    assert reorg.days == tuple(days) and reorg.reingested == tuple(days[:2]) and reorg.withdrawn == (days[2],)
    assert all(lake.read_table(table, days[2]) is None for table in CHAIN_DAY_TABLES)
    assert_days_hold_the_new_chain(deep_chain, lake, days[:2])
    finish_dbt(build(scenario.home, days))

    reversed_keys = assert_no_journal_line_rests_on_an_orphaned_log(deep_chain, scenario.home)
    assert {key.split(":")[0] for key in reversed_keys} == scenario.orphaned
    assert h6_rows(scenario.home) == {
        days[0]: {(f"chain_reorg:{reorg.reorg_id}", "reingested")},
        days[1]: {(f"chain_reorg:{reorg.reorg_id}", "reingested")},
        days[2]: {(f"chain_reorg:{reorg.reorg_id}", "withdrawn")},
    }
    closing = "select partition_date, account_code, closing_balance from main.trial_balance order by all"
    withdrawn = {(day, code): balance for day, code, balance in query(scenario.home, closing)}
    # Until N+2 is ingested again it posts nothing: its orphaned deposit is reversed and it closes as N+1 did.
    assert withdrawn[(days[2], "2000")] == withdrawn[(days[1], "2000")] == Decimal(-(1000 + 250 + 260 + 350))

    deep_chain.chain.mine(day_at(days[2] + timedelta(days=1), "00:05:00"))
    run = ChainRun(deep_chain.profile, deep_chain.chain.rpc)
    assert verify_and_repair(deep_chain.profile, deep_chain.chain.rpc, lake, run=run) == []
    ingest_chain_day(days[2], deep_chain.profile, deep_chain.chain.rpc, lake, run=run)
    fresh_build = build_afresh(deep_chain, scenario)
    finish_dbt(build(scenario.home, days[2:]))
    finish_dbt(fresh_build)
    restated, fresh = query(scenario.home, NETTED), query(scenario.fresh, NETTED)
    lost_and_duplicated = tally_against_fresh(reliability, restated, fresh)
    assert_days_hold_the_new_chain(deep_chain, lake, days)
    assert_no_journal_line_rests_on_an_orphaned_log(deep_chain, scenario.home)
    assert lost_and_duplicated == (0, 0)
    assert restated == fresh
    assert query(scenario.home, closing) == query(scenario.fresh, closing)
    assert {(day, code): balance for day, code, balance in query(scenario.home, closing)}[(days[2], "2000")] == (
        Decimal(-(1000 + 250 + 260 + 350 + 450)))


# ---------------------------------------------------------------------------------------------- a tape corrected twice

SECOND_CORRECTION_SHA256 = hashlib.sha256(b"lender-a-2026-01-05.csv, corrected again").hexdigest()


def write_second_correction(lake: Lake) -> None:
    """Day 1's tape delivered a third time (same name and as-of date, another sha256): L1's day of interest now
    0.071, L2 reported 40 days past due instead of 35."""
    tape = [dict(row, source_sha256=SECOND_CORRECTION_SHA256) for row in loan_tapes(TAPE_DAY)]
    tape[0] = dict(tape[0], accrued_interest=Decimal("0.071"), daily_interest=Decimal("0.071"))
    tape[1] = dict(tape[1], days_past_due=40)
    collateral = [dict(row, source_sha256=SECOND_CORRECTION_SHA256) for row in loan_collateral(TAPE_DAY)]
    files = [dict(row, sha256=SECOND_CORRECTION_SHA256) if row["source"] == "loan_tapes" else row
             for row in input_files(TAPE_DAY)]
    for table, rows in (("loan_tapes", tape), ("loan_collateral", collateral), ("input_files", files)):
        lake.write_table(table, TAPE_DAY, pa.Table.from_pylist(rows, schema=SCHEMAS[table]))


@pytest.mark.fault("a lender correcting a posted tape twice")
@pytest.mark.long
def test_a_tape_corrected_twice_keeps_the_last_revision_and_counts_nothing_twice(tmp_path, reliability):
    """Three deliveries of day 1's tape (same as-of date, three sha256), each built as the daily run would: the
    journal reverses the entries of the first two tapes (`source_withdrawn`), the entries every tape changes are
    at revision 2, each superseding revision 1 which superseded revision 0 and both reversed; the attestation's
    restatement lists name both corrections; and the closing state equals a ledger built only from the last tape."""
    home = tmp_path / "home"
    lake = build_ledger_lake(home)
    days = sorted(FIXTURE_DAYS)  # every day the hand-posted lake holds, as the fresh build reads them all
    finish_dbt(build(home, days, tests=False))
    write_corrected_tape(lake)
    finish_dbt(build(home, days[:1], tests=False))
    write_second_correction(lake)
    fresh = tmp_path / "fresh"
    shutil.copytree(home / "lake", fresh / "lake")
    fresh_build = build(fresh, tests=False)
    finish_dbt(build(home, days[:1]))
    finish_dbt(fresh_build)
    restated, rebuilt = query(home, NETTED), query(fresh, NETTED)
    lost_and_duplicated = tally_against_fresh(reliability, restated, rebuilt)

    journal = query(home, """select entry_id, source_key, rule_id, revision, reverses_entry_id, supersedes_entry_id,
                                    restatement_reason, partition_date
                             from main.journal_lines where line_no = 1""")
    by_id = {row[0]: row for row in journal}
    reversed_reason = {row[4]: row[6] for row in journal if row[2] == "reversal"}
    tapes = [file_sha256(TAPE_FILES[TAPE_DAY]), CORRECTED_TAPE_SHA256, SECOND_CORRECTION_SHA256]
    # Every entry of the first two tapes left with its file; the last tape's stand.
    for sha256 in tapes:
        entries = [row for row in journal if row[1].startswith(f"{sha256}:")]
        assert entries, sha256
        withdrawn = {row[0] for row in entries if reversed_reason.get(row[0]) == "source_withdrawn"}
        assert withdrawn == (set() if sha256 == tapes[-1] else {row[0] for row in entries}), sha256
    # The keys every tape changes: revision 2 now, over revision 1 over revision 0, both earlier ones reversed.
    latest = [row for row in journal if row[3] == 2]
    assert {(row[7], row[2]) for row in latest} >= {(TAPE_DAY, "susdai_yield"), (TAPE_DAY, "susdai_credit_loss")}
    for row in latest:
        revision_1 = by_id[row[5]]
        assert revision_1[3] == 1 and revision_1[5] in by_id, (row, revision_1)
        revision_0 = by_id[revision_1[5]]
        assert (revision_0[3], revision_0[5]) == (0, None), revision_0
        assert reversed_reason[revision_1[0]] == reversed_reason[revision_0[0]] == "source_changed", row
        assert row[0] not in reversed_reason
    assert not [row for row in journal if row[3] > 2]

    # The attestation's restatement lists: every reversed entry of both corrections, by source key and reason.
    with contextlib.chdir(home):
        reversed_listed = query(home, """select source_key, reason from main.attestation_reversed_entries
                                         where partition_date = ?""", [TAPE_DAY])
        restatements = query(home, """select kind, reason, source, entries from main.attestation_restatements
                                      where partition_date = ?""", [TAPE_DAY])
    listed_keys = {key for key, reason in reversed_listed if reason == "source_withdrawn"}
    assert listed_keys == {f"{sha256}:{row}" for sha256 in tapes[:2] for row in (1, 2)}
    restated_counts = {(kind, reason): entries for kind, reason, source, entries in restatements}
    withdrawn_entries = [row for row in journal if row[1].split(":")[0] in tapes[:2]]
    revised_keys = {row[1] for row in latest if row[7] == TAPE_DAY}
    # Each earlier tape's entries reversed once; each key every tape changed reversed and revised at 1 and at 2.
    assert len(withdrawn_entries) == 8  # two loans' accrual and allowance, on each of two tapes
    assert restated_counts == {("reversal", "source_withdrawn"): len(withdrawn_entries),
                               ("reversal", "source_changed"): 2 * len(revised_keys),
                               ("revision", "corrected entry"): 2 * len(revised_keys)}

    assert lost_and_duplicated == (0, 0)
    assert restated == rebuilt
    closing = "select partition_date, account_code, closing_balance from main.trial_balance order by all"
    assert query(home, closing) == query(fresh, closing)
    assert {(day, code): balance for day, code, balance in query(home, closing)}[(TAPE_DAY, "4000")] == Decimal(
        "-0.098397260273972603")  # L1's 0.071 + L2's 0.027397260273972603 of interest


# ---------------------------------------------------------------------------------------------- an attested day restated

@pytest.mark.long
@pytest.mark.fault("a custodian statement re-sent after its day was attested")
def test_a_statement_superseded_after_attestation_restates_the_day_and_keeps_the_attestation_it_replaces(
        clean_demo, tmp_path_factory, reliability):
    """The custodian re-sends the last demo day's holdings statement (same account, kind and day; a new statement
    id, so another sha256) after the day was attested. The day's run takes it in as superseding the first, reverses every
    entry of the first file (`source_withdrawn`) and posts the new file's, which count the same money once; the
    new attestation says the day was restated, lists the reversals and names the new file's sha256; the one issued
    before moves to reports/superseded/ under its own sha256, byte for byte as it was issued."""
    from orchestration.definitions import build_definitions
    from orchestration.instance import instance_for
    from orchestration.pipeline import QUIET_RUN_CONFIG, step_crashes
    from tests.demo_copies import copy_of_demo, point_at, revived_chain

    demo, tmp_path, home = copy_of_demo(clean_demo, tmp_path_factory, "statement_superseded")
    day = max(clean_demo[1].attestations)
    issued_html, issued_pdf = (path.read_bytes() for path in DataHome(demo).attestation_paths(day))
    (first,) = (DataHome(home).archive).rglob(f"*custodian-a-semt002-{day.isoformat()}.xml")
    statement = first.read_text()
    statement_id = "<StmtId>HLD-"
    assert statement.count(statement_id) == 1
    resent = statement.replace(statement_id, "<StmtId>RESENT-HLD-")
    (DataHome(home).inbox / "custodian").mkdir(parents=True, exist_ok=True)
    (DataHome(home).inbox / "custodian" / f"custodian-a-semt002-{day.isoformat()}.xml").write_text(resent)
    resent_sha256 = hashlib.sha256(resent.encode()).hexdigest()

    with pytest.MonkeyPatch.context() as env, revived_chain(demo, tmp_path / "chain") as rpc_url:
        env.setenv("DAGSTER_HOME", str(home / "dagster"))
        env.setenv("BACKED_HOME", str(home))
        point_at(home, rpc_url)
        daily = build_definitions(home, "sandbox").resolve_job_def("daily_pipeline")
        run = daily.execute_in_process(instance=instance_for(home), partition_key=day.isoformat(),
                                       run_config=QUIET_RUN_CONFIG, raise_on_error=False)
        assert run.success, step_crashes(run)

    # The same money, counted once: the restated day nets to what the demo's ledger of the first file held.
    restated, issued = query(home, NETTED), query(demo, NETTED)
    lost_and_duplicated = tally_against_fresh(reliability, restated, issued)
    lake = Lake(home)
    (supersession,) = lake.read_table("custodian_statement_supersessions", day).to_pylist()
    assert supersession["superseding_sha256"] == resent_sha256
    first_sha256 = supersession["superseded_sha256"]
    reversed_keys = query(home, """select original.source_key, reversal.restatement_reason
                                   from main.journal_lines as reversal
                                   join main.journal_lines as original
                                     on original.entry_id = reversal.reverses_entry_id and original.line_no = 1
                                   where reversal.rule_id = 'reversal' and reversal.line_no = 1""")
    assert reversed_keys and {reason for _, reason in reversed_keys} == {"source_withdrawn"}
    assert {key.split(":")[0] for key, _ in reversed_keys} == {first_sha256}
    posted_again = query(home, "select count(distinct entry_id) from main.journal_lines where source_key like ?",
                         [f"{resent_sha256}:%"])
    assert posted_again == [(len(reversed_keys),)]
    assert lost_and_duplicated == (0, 0)

    html_path, pdf_path = DataHome(home).attestation_paths(day)
    html = html_path.read_text()
    restatements = html[html.index('<section id="restatements">'):]
    restatements = restatements[:restatements.index("</section>")]
    assert "This day was restated" in restatements and "source_withdrawn" in restatements
    assert resent_sha256 in html
    issued_sha256 = hashlib.sha256(issued_html).hexdigest()
    old_html, old_pdf = DataHome(home).superseded_attestation_paths(day, issued_sha256)
    assert old_html.read_bytes() == issued_html and old_pdf.read_bytes() == issued_pdf
    assert "Nothing in this day has been restated" in old_html.read_text()
    assert sorted(path.name for path in (DataHome(home).reports / "superseded").iterdir()) == sorted(
        [old_html.name, old_pdf.name])
