"""End to end on a real anvil, real dbt, real Dagster: 3 simulated days, every ledger account against ground truth."""
import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
from conftest import DAYS, START
from foundation.home import DataHome
from sandbox.ground_truth import CHART_OF_ACCOUNTS



def ground_truth(home: Path) -> dict[tuple[date, str], Decimal]:
    with (home / "sandbox" / "ground_truth_balances.csv").open() as f:
        return {(date.fromisoformat(r["date"]), r["account_code"]): Decimal(r["balance"]) for r in csv.DictReader(f)}


def test_every_ledger_account_equals_ground_truth_every_day(clean_demo):
    home, _ = clean_demo
    expected = ground_truth(home)
    assert len(expected) == DAYS * len(CHART_OF_ACCOUNTS)
    with duckdb.connect(str(DataHome(home).warehouse), read_only=True) as con:
        rows = con.execute("select partition_date, account_code, closing_balance from main.trial_balance").fetchall()
    actual = {(d, a): Decimal(b) for d, a, b in rows}
    mismatches = {k: (v, actual.get(k)) for k, v in expected.items() if actual.get(k) != v}
    assert not mismatches, mismatches
    # The sandbox exercised the ledger: reserves, loans, interest, custodian and sUSDai all moved.
    last = START.replace(day=DAYS)
    for account in ("1000", "1010", "1020", "1100", "1110", "2000", "2100", "4000"):
        assert expected[(last, account)] != 0, account
    # The router's fees are its fee recipient's: no day of the sandbox has fee income.
    assert all(balance == 0 for (day, account), balance in expected.items() if account == "4020")


def check_evaluations(home: Path) -> dict[str, list[tuple[bool, dict]]]:
    """Every asset check evaluation the demo's Dagster runs recorded over their window: {check name: [(passed,
    metadata)]}. (A range run's checks also record their result against each of its days: those copies are not
    evaluations of their own.)"""
    import dagster as dg

    from orchestration.instance import instance_for

    instance = instance_for(home)
    evaluations: dict[str, list[tuple[bool, dict]]] = {}
    for run in instance.get_runs():
        for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
            evaluation = record.dagster_event.event_specific_data
            if evaluation.partition is not None and "run_window" in evaluation.metadata:
                continue
            evaluations.setdefault(evaluation.asset_check_key.name, []).append(
                (evaluation.passed, {key: value.value for key, value in evaluation.metadata.items()}))
    return evaluations


def test_clean_run_has_no_exceptions_and_attests_every_day(clean_demo):
    """Every reconciliation check ran once over the demo's days, with its Great Expectations suite, and passed; no
    exception is open; every day was attested and its report written."""
    from expectations.reconciliation import RECONCILIATIONS

    home, result = clean_demo
    with duckdb.connect(str(DataHome(home).warehouse), read_only=True) as con:
        open_rows = con.execute("select check_id, check_date, entity_key from recon.exceptions where status != 'resolved'").fetchall()
    assert open_rows == []
    evaluations = check_evaluations(home)
    checks_ran = {recon.name: len(evaluations.get(recon.name, [])) for recon in RECONCILIATIONS}
    assert checks_ran == {recon.name: 1 for recon in RECONCILIATIONS}
    window = f"{result.days[0]} .. {result.days[-1]}"
    for recon in RECONCILIATIONS:
        ((passed, metadata),) = evaluations[recon.name]
        assert passed and metadata["days"] == window and metadata["gx_expectations"] > 0, recon.name
        assert metadata["rows_evaluated"] > 0 and metadata["breaks"] == 0, recon.name
    assert [passed for passed, _ in evaluations["reports_written"]] == [True] * DAYS
    assert sorted(result.attestations) == result.days
    report = result.attestations[result.days[-1]].read_text()
    for needle in ("Reserve attestation", "Liquid coverage", "USDai totalSupply()", "sha256", "Ledger hash"):
        assert needle in report
    # every input file of the day is named in the report with its hash
    with duckdb.connect(str(DataHome(home).warehouse), read_only=True) as con:
        hashes = [h for (h,) in con.execute("select sha256 from main.stg_input_files where partition_date = ?",
                                            [result.days[-1]]).fetchall()]
    assert hashes and all(h in report for h in hashes)


def test_every_coverage_figure_of_the_demo_table_recomputes_from_the_parts_beside_it(clean_demo):
    _, result = clean_demo
    assert [row["day"] for row in result.rows] == result.days
    cut = Decimal("1e-18")
    for row in result.rows:
        parts = {k: Decimal(v) for k, v in row.items() if k not in ("day", "open_exceptions", "open_blockers")}
        assert parts["usdai_outstanding"] == (parts["usdai_total_supply"] + parts["usdai_bridged_supply"]
                                              - parts["usdai_held_by_protocol"])
        assert parts["usdai_held_by_protocol"] > 0  # the vault's stake is eliminated, not counted as outstanding
        assert parts["liquid_coverage"] == (parts["liquid_reserves"] / parts["usdai_outstanding"]).quantize(
            cut, rounding="ROUND_DOWN")
        assert parts["total_coverage"] == (parts["total_assets_net"] / parts["total_liabilities"]).quantize(
            cut, rounding="ROUND_DOWN")


def test_the_holders_yield_from_the_share_price_is_the_one_the_ledger_explains(clean_demo):
    home, result = clean_demo
    with duckdb.connect(str(DataHome(home).warehouse), read_only=True) as con:
        windows = con.execute("""select partition_date, window_days, share_price_yield, ledger_yield,
                                        share_price_yield_by_day, explained_share_price_yield,
                                        yield_from_loan_interest, yield_from_tbills, yield_from_fees,
                                        yield_from_credit_losses from main.susdai_trailing_yield order by 1, 2""").fetchall()
        flows = dict(con.execute("select partition_date, net_flows from main.susdai_yield").fetchall())
        unexplained = con.execute("select count(*) from main.h7_susdai_yield_explained where not within_tolerance"
                                  ).fetchone()[0]
    # Three days: one-day windows only, the first without a share price the day before.
    assert [(day, n) for day, n, *_ in windows] == [(day, 1) for day in result.days]
    for day, _, share_price, ledger, by_day, explained, loans, tbills, fees, losses in windows[1:]:
        # The ledger's parts add up to its yield; the share price grew by what the ledger explains (income, losses
        # and the losses the vault has not marked), exactly on a day without stakes or redemptions (but for the last
        # digits of quotients truncated at 18 places), and within H7's tolerance on a day with them: the vault values
        # itself continuously, and a stake after the day's fee shares in it.
        assert abs(loans + tbills + fees + losses - ledger) < Decimal("1e-15"), day
        assert abs(share_price - by_day) < Decimal("1e-12"), day
        if flows[day] == 0:
            assert abs(by_day - explained) < Decimal("1e-12"), day
        else:
            assert abs(by_day - explained) / 365 <= Decimal("0.005"), day
    assert any(flows[day] == 0 for day, *_ in windows[1:])
    assert unexplained == 0
    assert windows[0][2] is None and windows[0][3] > 0


def test_usdai_by_redeemability_adds_up_to_the_supply_and_to_what_the_ledger_says_is_outstanding(clean_demo):
    from sandbox.scenario import FROZEN_TRANSFER_USD, KEYLESS_TRANSFER_USD

    home, result = clean_demo
    with duckdb.connect(str(DataHome(home).warehouse), read_only=True) as con:
        classes = con.execute("""select partition_date, redeemability, component, sum(amount_usd)
                                 from main.usdai_redeemability group by all""").fetchall()
        coverage = {day: (supply, outstanding) for day, supply, outstanding in con.execute(
            "select partition_date, usdai_total_supply, usdai_outstanding from main.reserve_coverage").fetchall()}
    by_day: dict = {}
    for day, redeemability, component, amount in classes:
        by_day.setdefault(day, {})[(redeemability, component)] = amount
    assert sorted(by_day) == result.days
    for day, amounts in by_day.items():
        supply, outstanding = coverage[day]
        assert sum(a for (c, _), a in amounts.items() if c != "on other chains") == supply, day
        assert all(amount >= 0 for amount in amounts.values()), day
        frozen = amounts.get(("temporarily non-redeemable", "frozen by the blacklist"), 0)
        keyless = amounts[("permanently non-redeemable", "held at a keyless address")]
        redeemable = amounts[("redeemable", "held outside the protocol, free to move")]
        # What is outside the protocol on chain is what the ledger says is outstanding (2000).
        assert redeemable + frozen + keyless == outstanding, day
    # The sandbox pays the sanctioned wallet and the dead address on day 2, then blacklists the wallet.
    day_2 = result.days[1]
    assert ("temporarily non-redeemable", "frozen by the blacklist") not in by_day[result.days[0]]
    assert by_day[day_2][("temporarily non-redeemable", "frozen by the blacklist")] == FROZEN_TRANSFER_USD
    assert by_day[day_2][("permanently non-redeemable", "held at a keyless address")] == KEYLESS_TRANSFER_USD
    # sUSDai's own blacklist freezes the shares the wallet was sent, valued at the day's share price on chain.
    from sandbox.scenario import FROZEN_SHARES, SANCTIONED_WALLET

    with duckdb.connect(str(DataHome(home).warehouse), read_only=True) as con:
        frozen_shares = con.execute("""select b.partition_date, b.account, b.shares, b.value_usd, y.onchain_share_price
                                       from main.susdai_blacklisted_shares as b
                                       join main.susdai_yield as y using (partition_date)
                                       order by 1""").fetchall()
    assert [(day, account, shares) for day, account, shares, _, _ in frozen_shares] == [
        (day, SANCTIONED_WALLET, FROZEN_SHARES) for day in result.days[1:]]
    for _, _, shares, value, price in frozen_shares:
        assert value == shares * price and value > shares


def test_every_check_has_its_result_on_every_day_as_the_ui_lists_it(clean_demo, monkeypatch):
    """The demo builds its days in one range run. Dagster records a range run's check result once, with no
    partition, and leaves each day's planned evaluation of a partitioned check without one, which the UI's checks
    list shows as Skipped while the check's page shows Passed. Every partitioned check (the reconciliations, the
    partition checks) has its own result on every day, every other check (dbt's tests, the seeds' tests) its run's
    result: passed, in a clean run."""
    import dagster as dg

    from orchestration.definitions import build_definitions

    home, _ = clean_demo
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    instance = dg.DagsterInstance.get()
    graph = build_definitions(home).resolve_asset_graph()
    days = {date.fromordinal(START.toordinal() + i).isoformat() for i in range(DAYS)}
    unresolved = {}
    for check in graph.asset_check_keys:
        latest = {}
        for execution in instance.event_log_storage.get_asset_check_execution_history(check, limit=100):
            latest.setdefault(execution.partition, execution.status.value)  # newest first
        expected = days if graph.get_check_spec(check).partitions_def is not None else {None}
        wrong = {day: latest.get(day, "never") for day in expected if latest.get(day) != "SUCCEEDED"}
        if wrong:
            unresolved[check.to_user_string()] = wrong
    assert len(graph.asset_check_keys) > 150  # every dbt test, reconciliation check and lake partition check
    assert unresolved == {}
