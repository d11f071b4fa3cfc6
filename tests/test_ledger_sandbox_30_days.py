"""30 simulated days through the whole pipeline (real anvil, real Dagster, real dbt): the ledger equals the
simulator's independent ground truth account by account and sub-account by sub-account, every day.

30 days hold the whole loan lifecycle: a loan fully repaid, another delinquent, defaulted with its GPUs gone dark,
liquidated and its collateral sold for less than it owed (the allowance built up and then used), redemptions
queued, serviced in two rounds and claimed, T-bills bought, marked, matured and rolled. `make reliability`'s: the
month's run is minutes of a worker, and `make test` holds each posting rule to its hand-posted answer
(tests/test_ledger_dbt.py) and the 3-day demo to the ground truth (tests/test_end_to_end.py).
"""
from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from eth_utils import to_checksum_address

from orchestration.pipeline import run_demo
from foundation.home import DataHome
from sandbox.ground_truth import CHART_OF_ACCOUNTS
from sandbox.scenario import (BRIDGED_BACK_USD, BRIDGED_OUT_USD, RELEASED_IMPLEMENTATION, UPGRADE_DAY,
                              V2_REPAYMENT_FEE_USD)
from sandbox.simulator import RAW_SCRAPES_DAY

START = date(2026, 1, 1)
DAYS = 30
LAST = START + timedelta(days=DAYS - 1)

pytestmark = pytest.mark.long


@pytest.fixture(scope="module")
def sandbox_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("thirty_days") / "home"
    # the ledger is what is checked here; the attestation of every day is the other tests' (the last one is made)
    result = run_demo(home, days=DAYS, seed=7, start=START, echo=lambda message: None, attest=[LAST])
    assert result.days[-1] == LAST and LAST in result.attestations
    return home


def read_csv(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def query(home: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(DataHome(home).warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_every_account_equals_ground_truth_every_day(sandbox_home):
    expected = {(date.fromisoformat(r["date"]), r["account_code"]): Decimal(r["balance"])
                for r in read_csv(sandbox_home / "sandbox" / "ground_truth_balances.csv")}
    assert len(expected) == DAYS * len(CHART_OF_ACCOUNTS)
    actual = {(day, account): balance for day, account, balance in query(sandbox_home, """
        select partition_date, account_code, closing_balance from main.trial_balance""")}
    mismatches = {key: (value, actual.get(key)) for key, value in expected.items() if actual.get(key) != value}
    assert not mismatches, sorted(mismatches.items())[:20]
    assert set(actual) == set(expected)


def test_every_sub_account_equals_ground_truth_every_day(sandbox_home):
    expected: dict[tuple[date, str, str], Decimal] = {
        (date.fromisoformat(r["date"]), r["account_code"], r["sub_account"]): Decimal(r["balance"])
        for r in read_csv(sandbox_home / "sandbox" / "ground_truth_sub_balances.csv")}
    movements = query(sandbox_home, """
        select partition_date, account_code, sub_account, sum(debit) - sum(credit)
        from main.journal_lines group by all order by partition_date""")
    running: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    by_day: dict[date, list[tuple]] = defaultdict(list)
    for day, account, sub_account, movement in movements:
        by_day[day].append((account, sub_account, movement))
    mismatches = []
    for offset in range(DAYS):
        day = START + timedelta(days=offset)
        for account, sub_account, movement in by_day[day]:
            running[(account, sub_account)] += movement
        pairs = set(running) | {(a, s) for d, a, s in expected if d == day}
        for account, sub_account in pairs:
            want = expected.get((day, account, sub_account), Decimal(0))
            if running[(account, sub_account)] != want:
                mismatches.append((day, account, sub_account, want, running[(account, sub_account)]))
    assert not mismatches, mismatches[:20]


def test_the_loan_lifecycle_ran_through_the_allowance(sandbox_home):
    """Not a vacuous comparison: the allowance was built, used by the liquidation and released."""
    rules = {rule for (rule,) in query(sandbox_home, "select distinct rule_id from main.journal_lines")}
    assert {"credit_loss_allowance", "loan_liquidated", "loan_repaid", "redemption_serviced", "redemption_claimed",
            "tbill_maturity", "tbill_accretion", "interest_accrual", "susdai_yield"} <= rules
    allowance = dict(query(sandbox_home, """
        select partition_date, closing_balance from main.trial_balance where account_code = '1190'"""))
    assert min(allowance.values()) < 0 and allowance[LAST] == 0
    used = query(sandbox_home, """
        select count(*) from main.journal_lines
        where rule_id = 'loan_liquidated' and account_code = '1190' and debit > 0""")
    assert used == [(1,)]
    statuses = {status for (status,) in query(sandbox_home, "select distinct status from main.loan_positions")}
    assert {"current", "delinquent", "default", "liquidated", "repaid"} <= statuses


def test_the_marts_reconcile_to_the_chain_every_day(sandbox_home):
    queue = query(sandbox_home, """
        select partition_date, pending_shares_difference, claimable_balance_difference, ledger_payable_difference
        from main.redemption_queue""")
    assert len(queue) == DAYS
    assert all(row[1:] == (0, 0, 0) for row in queue), [row for row in queue if row[1:] != (0, 0, 0)]
    assert query(sandbox_home, "select max(pending_shares) > 0, max(unclaimed_amount) > 0 from main.redemption_queue") \
        == [(True, True)]
    # The vault values itself from its balances; the ledger takes losses off the holders' claim before the vault does
    # and counts a claim on the insurance pool before it pays: those two, and nothing else, separate them, to the wei.
    assert query(sandbox_home, "select count(*) from main.susdai_yield where nav_difference <> unmarked_losses") \
        == [(0,)]
    assert query(sandbox_home, "select count(*) > 0 from main.susdai_yield where unmarked_losses <> 0") == [(True,)]
    assert query(sandbox_home, "select count(*) from main.r6_susdai_assets_match_ledger where not within_tolerance "
                               "or cast(difference as decimal(38, 18)) <> 0") == [(0,)]
    # Every loan's principal on the router equals the ledger's 1100 of that loan.
    assert query(sandbox_home, """
        select count(*) from main.loan_positions
        where onchain_principal is not null and onchain_principal <> principal""") == [(0,)]
    hashes = query(sandbox_home, "select count(*), count(distinct chain_hash) from main.journal_day_hashes")
    assert hashes == [(DAYS, DAYS)]


def test_the_vaults_totalassets_on_chain_is_the_ground_truth_claim_plus_the_losses_it_has_not_marked(sandbox_home):
    """Two figures computed apart: totalAssets() as the node answered it (lake/chain_state, the raw uint256, which
    the sandbox vault computes from its balances) and the simulator's ground truth holders' claim (-2100) plus the
    losses the vault marks only at the sale, less insurance claims it has not been paid (-(1190 + 1150)). Equal to
    the wei every day, apart on the days of the default; and the mart the attestation prints them from carries the
    same two figures."""
    truth = {(date.fromisoformat(r["date"]), r["account_code"]): Decimal(r["balance"])
             for r in read_csv(sandbox_home / "sandbox" / "ground_truth_balances.csv")}
    onchain = {}
    for offset in range(DAYS):
        day = START + timedelta(days=offset)
        state = pq.read_table(sandbox_home / "lake" / "chain_state" / f"date={day.isoformat()}").to_pylist()
        (raw,) = [r["value"] for r in state if (r["contract_role"], r["method"]) == ("susdai", "totalAssets")]
        onchain[day] = Decimal(int(raw)).scaleb(-18)
    claim = {day: -truth[(day, "2100")] for day in onchain}
    unmarked = {day: -(truth[(day, "1190")] + truth[(day, "1150")]) for day in onchain}
    assert {day: onchain[day] - claim[day] for day in onchain} == unmarked
    assert sum(1 for amount in unmarked.values() if amount != 0) >= 3  # not zero by construction: they differ
    mart = {day: (nav, total_assets, losses) for day, nav, total_assets, losses in query(sandbox_home, """
        select partition_date, nav_close, onchain_total_assets, unmarked_losses from main.susdai_yield""")}
    assert mart == {day: (claim[day], onchain[day], unmarked[day]) for day in onchain}


def test_the_holders_bear_the_liquidation_net_of_the_insurance_claim_and_coverage_holds(sandbox_home):
    """The defaulted loan's sale is a loss to the sUSDai holders, less the pool's claim once its waiting period has run;
    the pool pays in USDai; every day the assets net of the allowance cover every liability (R10), the surplus being
    the admin fee kept, and the 30 days raise one exception only: H8's warning of the month's release of USDai's
    code (an upgrade is news to an auditor, not a fault)."""
    rules = dict(query(sandbox_home, """
        select rule_id, min(partition_date) from main.journal_lines
        where rule_id in ('loan_liquidated', 'insurance_recovery', 'insurance_recovery_received', 'susdai_credit_loss')
        group by rule_id"""))
    assert rules["loan_liquidated"] < rules["insurance_recovery"] < rules["insurance_recovery_received"] <= LAST
    receivable = dict(query(sandbox_home, """select partition_date, closing_balance from main.trial_balance
                                             where account_code = '1150'"""))
    assert receivable[rules["insurance_recovery"]] > 0 and receivable[LAST] == 0
    borne, kept = query(sandbox_home, f"""
        select -sum(case when account_code = '5020' then closing_balance end),
               sum(case when account_code = '5000' then closing_balance end)
        from main.trial_balance where partition_date = '{LAST}'""")[0]
    assert 0 < borne < kept  # the protocol keeps only the admin fee on the interest the sale wrote off
    solvency = query(sandbox_home, """select count(*), count(*) filter (where within_tolerance),
                                             min(cast(difference as decimal(38, 18)))
                                      from main.r10_assets_cover_liabilities""")
    assert solvency[0][:2] == (DAYS, DAYS) and solvency[0][2] > 0
    raised = query(sandbox_home, "select check_id, check_date, severity, actual from recon.exceptions")
    assert raised == [("H8", START + timedelta(days=UPGRADE_DAY - 1), "warn",
                       f"usdai Upgraded: implementation set to {to_checksum_address(RELEASED_IMPLEMENTATION)}")]


def test_usdai_sent_to_another_chain_stays_outstanding_and_its_return_is_no_unbacked_mint(sandbox_home):
    """A holder sends 20,000 USDai to another chain through the omnichain adapter and brings 5,000 back: the burn
    and the mint post nothing (the USDai stays outstanding and backed here, as USDai.bridgedSupply() says), R1
    compares the deposit-derived supply with totalSupply() + bridgedSupply() and holds every day."""
    bridged = dict(query(sandbox_home, "select partition_date, onchain_bridged_supply from main.usdai_supply_reconciliation"))
    assert max(bridged.values()) == Decimal(BRIDGED_OUT_USD) and bridged[LAST] == BRIDGED_OUT_USD - BRIDGED_BACK_USD
    assert query(sandbox_home, "select count(*) from main.journal_lines where rule_id = 'usdai_unbacked_mint'") == [(0,)]
    assert query(sandbox_home, """select count(*), count(*) filter (where within_tolerance)
                                  from main.r1_supply_matches_events""") == [(2 * DAYS, 2 * DAYS)]


def test_the_reserve_moves_from_wm_to_pyusd_at_the_release_and_coverage_never_dips(sandbox_home):
    """The month's release is USDai v1.4's: its base token becomes PYUSD and the admin converts the whole reserve
    (BaseTokenConverted). From that day the address book names PYUSD the base token (USDai.baseToken() at the
    close), the ledger's wM @ USDai is empty and its PYUSD @ USDai holds what wM held, and R2 (every base token's
    balance against supply and against the ledger) holds every day, the day of the conversion included."""
    release = START + timedelta(days=UPGRADE_DAY - 1)
    tokens = dict(query(sandbox_home, """select token_symbol, address from main.address_book
                                         where role in ('base_token', 'inactive_base_token') group by all"""))
    base = dict(query(sandbox_home, """select b.partition_date, b.token_symbol from main.address_book as b
                                       where b.role = 'base_token'"""))
    assert {day for day, symbol in base.items() if symbol == "PYUSD"} == {
        release + timedelta(days=n) for n in range((LAST - release).days + 1)}
    [(converted_on, amount)] = query(sandbox_home, """select partition_date, sum(debit) from main.journal_lines
                                                       where rule_id = 'base_token_converted' group by all""")
    held = dict(query(sandbox_home, f"""select split_part(sub_account, '@', 1), closing_balance
                                        from main.reserve_balances where account_code = '1020'
                                        and partition_date = '{release - timedelta(days=1)}'"""))
    # the whole wM reserve: what it held the day before and what came in that day before the conversion
    [(came_in,)] = query(sandbox_home, f"""select coalesce(sum(debit - credit), 0) from main.journal_lines
                                          where account_code = '1020' and rule_id != 'base_token_converted'
                                          and split_part(sub_account, '@', 1) = '{tokens["wM"]}'
                                          and partition_date = '{release}'""")
    assert converted_on == release and 0 < amount == held[tokens["wM"]] + came_in
    after = dict(query(sandbox_home, f"""select split_part(sub_account, '@', 1), closing_balance
                                         from main.reserve_balances where account_code = '1020'
                                         and partition_date = '{LAST}'"""))
    assert after[tokens["wM"]] == 0 and after[tokens["PYUSD"]] > 0
    assert query(sandbox_home, """select count(*), count(*) filter (where within_tolerance)
                                  from main.r2_supply_backed_on_chain where entity_key = 'usdai:public_backing_rule'""") \
        == [(DAYS, DAYS)]


def test_a_loan_migrated_to_loan_router_v2_keeps_its_identity_and_its_v2_fees_are_income(sandbox_home):
    """docs/ledger.md, "A loan renamed": LoanRouterV2 takes A-0001 over on the run's migration day; the tapes name it
    by its V2 hash from then, R5 reads it on the V2 router (V1 says Migrated) and holds on its presence, principal and status every day, and its USDai repayments post
    on 2000 against the loan's first hash, each with the V2 terms' 25 USDai repayment fee as the vault's income."""
    deployment = json.loads((sandbox_home / "sandbox" / "deployment.json").read_text())
    (migration,) = deployment["loan_migrations"]
    v1, v2 = migration["loan_terms_hash"].lower(), migration["new_loan_terms_hash"].lower()
    migrated_on = date.fromisoformat(migration["date"])
    assert query(sandbox_home, "select loan_terms_hash, identity_hash, partition_date from main.loan_identities") == [
        (v2, v1, migrated_on)]
    states = query(sandbox_home, f"""select interface, status, count(*) from main.loan_router_states
                                     where partition_date = '{LAST}' and loan_terms_hash in ('{v1}', '{v2}')
                                     group by all order by 1""")
    assert states == [("LoanRouterV1", "Migrated", 1), ("LoanRouterV2", "Active", 1)]
    assert query(sandbox_home, f"""select count(*), count(*) filter (where within_tolerance)
                                   from main.r5_loans_match_tapes where entity_key like 'loan:{v2}:%'""") == [
        (3 * ((LAST - migrated_on).days + 1), 3 * ((LAST - migrated_on).days + 1))]
    repaid = query(sandbox_home, f"""select partition_date, account_code, lower(sub_account), sign(debit - credit)
                                     from main.journal_lines where rule_id = 'loan_repaid' and partition_date >=
                                     '{migrated_on}' and source_key in (select source_key from main.journal_lines
                                     where lower(sub_account) = '{v1}') order by all""")
    days = sorted({day for day, *_ in repaid})
    # from the migration on (the day's repayment comes after it, in USDai)
    assert days and all(day >= migrated_on for day in days)
    assert {(account, sub, sign) for _, account, sub, sign in repaid} == {("2000", "", 1), ("1100", v1, -1),
                                                                         ("1110", v1, -1)}
    fees = query(sandbox_home, """select partition_date, sum(credit) from main.journal_lines
                                  where rule_id = 'loan_fee_received' and account_code = '4020' group by all
                                  order by all""")
    assert fees == [(day, Decimal(V2_REPAYMENT_FEE_USD)) for day in days]


def test_a_day_of_raw_scrapes_rolls_up_like_the_days_exported_whole(sandbox_home):
    """On the calendar's tenth day the quanta node's collector saved each scrape of /metrics as a file of its own (144, no sample
    timestamps): its GPUs' day is one series over every scrape, as many samples and minutes online as a GPU whose
    day came in one file."""
    from foundation.lake import Lake
    import polars as pl

    day = START + timedelta(days=RAW_SCRAPES_DAY - 1)
    rows = pl.from_arrow(Lake(sandbox_home).read_table("gpu_telemetry_daily", day))
    series = rows.filter(pl.col("source_file").str.ends_with("-*.prom"))
    whole = rows.filter(~pl.col("source_file").str.ends_with("-*.prom"))
    assert series.height and set(series.get_column("source_file")) == {"quanta-node-01-*.prom"}
    assert series.select("samples", "scrape_interval_s", "minutes_online").unique().rows() == [(144, 600, 1440.0)]
    assert (144, 1440.0) in whole.select("samples", "minutes_online").rows()
    inputs = pl.from_arrow(Lake(sandbox_home).read_table("input_files", day))
    assert inputs.filter(pl.col("file_name").str.starts_with("quanta-node-01-2026")).height == 144
