"""Every reconciliation check against a real warehouse: clean on the sandbox, and exactly the expected breaks when one
source is made to disagree. Each case tampers with a copy of the clean 3-day warehouse (real DuckDB, real GX); the
checks' models are views, so they compare what the tampered tables hold."""
import json
import os
import shutil
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from assets.ledger import DBT_PROJECT_DIR, dbt_environment, home_vars
from expectations.checks import run_reconciliation
from expectations.exceptions import list_exceptions
from expectations.policy import ReconciliationPolicy
from expectations.reconciliation import RECONCILIATIONS
from foundation.home import DataHome

from conftest import DAYS, START

DAY_LIST = [date(2026, 1, d) for d in range(1, DAYS + 1)]
LAST = DAY_LIST[-1]
BY_ID = {r.check_id: r for r in RECONCILIATIONS}


@pytest.fixture
def warehouse(clean_demo, tmp_path):
    home, _ = clean_demo
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(home / "warehouse.duckdb", path)
    con = duckdb.connect(str(path))
    # The copy's exceptions start empty: each case sees only what its own tampering causes.
    con.execute("drop table if exists recon.exceptions")
    yield con
    con.close()


def rebuild_check_model(home: Path, warehouse_path: Path, model: str, **settings: str) -> None:
    """`model` rebuilt on the warehouse at `warehouse_path` with `settings` over the home's tolerances, as the
    pipeline's dbt build does for a deployment that overrides them."""
    dbt_vars = {"warehouse_path": str(warehouse_path),
                "reconciliation": {**ReconciliationPolicy.for_home(home).as_dbt_var(), **settings}}
    subprocess.run([str(Path(sys.prefix) / "bin" / "dbt"), "run", "--quiet", "--select", model,
                    "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
                    "--target-path", str(warehouse_path.parent / "dbt_target"), "--vars", json.dumps(dbt_vars)],
                   env={**os.environ, **dbt_environment(DataHome(home))}, check=True, capture_output=True)


def breaks_of(con, check_id: str, tmp_path, days: list[date] = DAY_LIST) -> set[tuple]:
    run_reconciliation(BY_ID[check_id], con, days, "test-run", tmp_path / "docs")
    return {(e["check_id"], e["check_date"], e["entity_key"], e["severity"])
            for e in list_exceptions(con, check_id=check_id, status="open")}


@pytest.mark.parametrize("check_id", sorted(BY_ID))
def test_each_check_evaluates_rows_and_is_clean_on_the_sandbox(warehouse, check_id, tmp_path):
    rows = BY_ID[check_id].evaluate(warehouse, DAY_LIST)
    if check_id not in ("H2",):  # a volume drop needs a previous day with enough rows
        assert len(rows) > 0, f"{check_id} evaluated nothing"
    assert breaks_of(warehouse, check_id, tmp_path) == set()


def test_r2_flags_a_stablecoin_balance_the_ledger_does_not_have(warehouse, tmp_path):
    warehouse.execute("""update main.stg_chain_state set value = value + 5000000
        where partition_date = ? and contract_role = 'usdc' and method = 'balanceOf'
        and lower(key) = (select lower(address) from main.stg_chain_address_book
                          where role = 'loan_router' and partition_date = ?)""", [LAST, LAST])
    assert breaks_of(warehouse, "R2", tmp_path) == {("R2", LAST, "stablecoin:USDC@loan_router", "blocker")}
    row = list_exceptions(warehouse, check_id="R2")[0]
    assert Decimal(row["difference"]) == Decimal("5") and "chain block" in row["cutoffs"]


def test_r3_flags_a_tbill_missing_from_the_statement(warehouse, tmp_path):
    cusip = warehouse.execute("""select min(cusip) from main.stg_custodian_statements
        where statement_date = ? and record_type = 'holding'""", [LAST]).fetchone()[0]
    warehouse.execute("delete from main.stg_custodian_statements where statement_date = ? and cusip = ? "
                      "and record_type = 'holding'", [LAST, cusip])
    assert breaks_of(warehouse, "R3", tmp_path) == {("R3", LAST, f"cusip:{cusip}", "blocker")}


def test_r5_flags_a_loan_missing_from_the_tape_and_a_status_mismatch(warehouse, tmp_path):
    hashes = [h for (h,) in warehouse.execute("""select loan_terms_hash from main.stg_loan_tapes
        where as_of_date = ? and status = 'current' order by loan_terms_hash limit 2""", [LAST]).fetchall()]
    warehouse.execute("delete from main.stg_loan_tapes where as_of_date = ? and loan_terms_hash = ?", [LAST, hashes[0]])
    warehouse.execute("update main.stg_loan_tapes set status = 'repaid' where as_of_date = ? and loan_terms_hash = ?",
                      [LAST, hashes[1]])
    assert breaks_of(warehouse, "R5", tmp_path) == {
        ("R5", LAST, f"loan:{hashes[0].lower()}:presence", "blocker"),
        ("R5", LAST, f"loan:{hashes[1].lower()}:status", "blocker"),
    }


def test_r6_warns_when_nav_and_ledger_claim_differ(warehouse, tmp_path):
    warehouse.execute("""update main.stg_chain_state set value = value + 1000000000000000000000
        where partition_date = ? and contract_role = 'susdai' and method = 'totalAssets'""", [LAST])
    assert breaks_of(warehouse, "R6", tmp_path) == {("R6", LAST, "susdai:total_assets", "warn")}


def test_r7_warns_for_a_dark_collateral_gpu(warehouse, tmp_path):
    serial = warehouse.execute("""select min(c.gpu_serial) from main.stg_loan_collateral c
        join main.stg_loan_tapes t on t.as_of_date = c.partition_date and t.loan_terms_hash = c.loan_terms_hash
        where c.partition_date = ? and t.status = 'current'""", [LAST]).fetchone()[0]
    warehouse.execute("delete from main.stg_gpu_telemetry_daily where partition_date = ? and gpu_serial = ?",
                      [LAST, serial])
    assert breaks_of(warehouse, "R7", tmp_path) == {("R7", LAST, f"gpu:{serial}", "warn")}


def test_r8_flags_an_unbalanced_entry(warehouse, tmp_path):
    warehouse.execute("""insert into main.journal_lines by name
        select 'tampered' as entry_id, 1 as line_no, '1000' as account_code, '' as sub_account, 1 as debit,
               0 as credit, effective_time, partition_date, 'chain' as source, 'x:1' as source_key,
               'usdai_mint' as rule_id
        from main.journal_lines where partition_date = ? limit 1""", [LAST])
    assert breaks_of(warehouse, "R8", tmp_path) == {
        ("R8", LAST, "journal:entries", "blocker"), ("R8", LAST, "entry:tampered", "blocker")}


def test_r9_flags_a_missing_statement_and_r3_leaves_that_day_alone(warehouse, tmp_path):
    warehouse.execute("delete from main.stg_custodian_statements where statement_date = ?", [LAST])
    assert breaks_of(warehouse, "R9", tmp_path) == {("R9", LAST, "source:custodian_statement", "blocker")}
    assert breaks_of(warehouse, "R3", tmp_path) == set()


def test_h1_warns_on_a_supply_jump_and_blocks_above_the_cap(clean_demo, warehouse, tmp_path):
    warehouse.execute("""update main.usdai_supply_reconciliation set onchain_total_supply =
        (select onchain_total_supply * 1.2 from main.usdai_supply_reconciliation where partition_date = ?)
        where partition_date = ?""", [DAY_LIST[-2], LAST])
    assert breaks_of(warehouse, "H1", tmp_path) == {("H1", LAST, "usdai:daily_rise", "warn")}
    warehouse.close()  # dbt writes the warehouse: DuckDB takes one writer process
    rebuild_check_model(clean_demo[0], tmp_path / "warehouse.duckdb", BY_ID["H1"].model, supply_cap_usd="1")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as capped:
        rows = BY_ID["H1"].evaluate(capped, DAY_LIST)
    assert set(rows[~rows.within_tolerance.astype(bool)].entity_key) >= {"usdai:supply_cap"}


def test_policy_overrides_come_from_the_home(tmp_path):
    # Without overrides the build gets no var at all: dbt_project.yml's defaults, and dbt keeps its parse.
    assert home_vars(DataHome(tmp_path)) == {}
    (tmp_path / "reconciliation.toml").write_text('coverage_buffer = "1.10"\n')
    assert ReconciliationPolicy.for_home(tmp_path).coverage_buffer == "1.10"
    # The pipeline's dbt build gets every setting, the home's over the defaults.
    tolerances = home_vars(DataHome(tmp_path))["reconciliation"]
    assert tolerances == {**ReconciliationPolicy().as_dbt_var(), "coverage_buffer": "1.10"}
    (tmp_path / "reconciliation.toml").write_text('coverage_bufer = "1.10"\n')
    with pytest.raises(ValueError, match="coverage_bufer"):
        ReconciliationPolicy.for_home(tmp_path)


# A daily run evaluates a window of one day; what a check compares the day with comes from before the window.

def test_r9_on_a_one_day_window_expects_the_lenders_of_the_week_before(warehouse, tmp_path):
    lender = warehouse.execute("select min(lender_id) from main.stg_loan_tapes where as_of_date = ?",
                               [LAST]).fetchone()[0]
    warehouse.execute("delete from main.stg_loan_tapes where as_of_date = ? and lender_id = ?", [LAST, lender])
    assert breaks_of(warehouse, "R9", tmp_path, [LAST]) == {("R9", LAST, f"source:loan_tape:{lender}", "warn")}


def test_h2_on_a_one_day_window_compares_with_the_day_before_it(warehouse, tmp_path):
    before = warehouse.execute("select count(distinct gpu_serial) from main.stg_gpu_telemetry_daily "
                               "where partition_date = ?", [DAY_LIST[-2]]).fetchone()[0]
    assert before >= 10, "the sandbox's fleet is too small for H2's minimum"
    warehouse.execute("""delete from main.stg_gpu_telemetry_daily where partition_date = ?
        and gpu_serial not in (select min(gpu_serial) from main.stg_gpu_telemetry_daily where partition_date = ?)""",
                      [LAST, LAST])
    assert breaks_of(warehouse, "H2", tmp_path, [LAST]) == {("H2", LAST, "volume:telemetry_gpus", "warn")}
