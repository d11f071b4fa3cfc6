"""Every reconciliation check against a real warehouse: clean on the sandbox, and exactly the expected breaks when one
source is made to disagree. Each case tampers with a copy of the clean 3-day warehouse (real DuckDB, real GX); the
checks' models are views, so they compare what the tampered tables hold."""
import os
import shutil
import subprocess
import sys
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

import duckdb
import pytest

from assets.attestation.facts import AttestationRefused, gather_attestation
from assets.ledger import DBT_PROJECT_DIR, dbt_environment, home_vars, vars_args
from expectations.checks import run_reconciliation
from expectations.exceptions import list_exceptions
from expectations.policy import ReconciliationPolicy
from expectations.reconciliation import RECONCILIATIONS
from foundation.home import DataHome

from conftest import DAYS, START

DAY_LIST = [date(2026, 1, d) for d in range(1, DAYS + 1)]
FIRST, SECOND, LAST = DAY_LIST
# The smallest step of a USD amount: the warehouse keeps DECIMAL(38, 18).
ONE_UNIT = Decimal("1e-18")
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


def rebuild_home_check_models(home: Path, *models: str) -> None:
    """`models` rebuilt on the home's warehouse exactly as the pipeline's dbt build passes the home's settings
    (BACKED_HOME/reconciliation.toml through ReconciliationPolicy.for_home to dbt var `reconciliation`)."""
    subprocess.run([str(Path(sys.prefix) / "bin" / "dbt"), "run", "--quiet", "--select", *models,
                    "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
                    "--target-path", str(home / "dbt_target"), *vars_args(home_vars(DataHome(home)))],
                   env={**os.environ, **dbt_environment(DataHome(home))}, check=True, capture_output=True)


def breaks_of(con, check_id: str, tmp_path, days: list[date] = DAY_LIST) -> set[tuple]:
    run_reconciliation(BY_ID[check_id], con, days, "test-run", tmp_path / "docs")
    return {(e["check_id"], e["check_date"], e["entity_key"], e["severity"])
            for e in list_exceptions(con, check_id=check_id, status="open")}


def as_difference(text: str) -> Decimal | str:
    """An exception's difference as an exact Decimal where it is a number, else its text ('no telemetry')."""
    try:
        return Decimal(text)
    except InvalidOperation:
        return text


def exceptions_of(con, check_id: str, tmp_path, days: list[date] = DAY_LIST) -> set[tuple]:
    """The open exceptions `check_id` records over `days`: (check, day, entity, severity, difference)."""
    run_reconciliation(BY_ID[check_id], con, days, "test-run", tmp_path / "docs")
    return {(e["check_id"], e["check_date"], e["entity_key"], e["severity"], as_difference(e["difference"]))
            for e in list_exceptions(con, check_id=check_id, status="open")}


def assert_attestation_refused(con, day: date, check_id: str) -> None:
    """The day's attestation refuses, naming a blocker of `check_id`."""
    with pytest.raises(AttestationRefused, match=rf"\b{check_id}:"):
        gather_attestation(con, day)


def usd_per_raw_unit(con, day: date, role: str) -> Decimal:
    return con.execute("select usd_per_raw_unit from main.address_book where partition_date = ? and role = ?",
                       [day, role]).fetchone()[0]


def materialise(con, view: str) -> None:
    """The copy's `view` replaced by a table of its rows, so that a case can tamper with what the checks read from
    it (a view over the lake or a computation over the marts)."""
    con.execute(f"create table main.{view}__rows as select * from main.{view}")
    con.execute(f"drop view main.{view}")
    con.execute(f"alter table main.{view}__rows rename to {view}")


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
                          where role = 'loan_router' and interface = 'LoanRouterV1' and partition_date = ?)""",
                      [LAST, LAST])
    assert exceptions_of(warehouse, "R2", tmp_path) == {
        ("R2", LAST, "stablecoin:USDC@loan_router", "blocker", Decimal("5"))}
    assert "chain block" in list_exceptions(warehouse, check_id="R2")[0]["cutoffs"]
    assert_attestation_refused(warehouse, LAST, "R2")


def test_r3_flags_a_tbill_missing_from_the_statement(warehouse, tmp_path):
    cusip = warehouse.execute("""select min(cusip) from main.stg_custodian_statements
        where statement_date = ? and record_type = 'holding'""", [LAST]).fetchone()[0]
    ledger = warehouse.execute("select closing_balance from main.reserve_balances where partition_date = ? "
                               "and account_code = '1010' and sub_account = ?", [LAST, cusip]).fetchone()[0]
    warehouse.execute("delete from main.stg_custodian_statements where statement_date = ? and cusip = ? "
                      "and record_type = 'holding'", [LAST, cusip])
    assert exceptions_of(warehouse, "R3", tmp_path) == {("R3", LAST, f"cusip:{cusip}", "blocker", -ledger)}
    assert_attestation_refused(warehouse, LAST, "R3")


def test_r5_flags_a_loan_missing_from_the_tape_and_a_status_mismatch(warehouse, tmp_path):
    hashes = [h for (h,) in warehouse.execute("""select loan_terms_hash from main.stg_loan_tapes
        where as_of_date = ? and status = 'current' order by loan_terms_hash limit 2""", [LAST]).fetchall()]
    warehouse.execute("delete from main.stg_loan_tapes where as_of_date = ? and loan_terms_hash = ?", [LAST, hashes[0]])
    warehouse.execute("update main.stg_loan_tapes set status = 'repaid' where as_of_date = ? and loan_terms_hash = ?",
                      [LAST, hashes[1]])
    assert exceptions_of(warehouse, "R5", tmp_path) == {
        ("R5", LAST, f"loan:{hashes[0].lower()}:presence", "blocker", "missing from tape"),
        ("R5", LAST, f"loan:{hashes[1].lower()}:status", "blocker", ""),
    }
    assert_attestation_refused(warehouse, LAST, "R5")


def test_r5_reads_a_v2_routers_status_codes_by_its_own_numbering(warehouse, tmp_path):
    """On LoanRouterV2, 3 is Breached (V1's Liquidated) and 5 CollateralLiquidated (V1's Migrated): the address book
    says which router runs which interface, and R5 judges each loan's tape status by its router's meaning."""
    warehouse.execute("update main.stg_chain_address_book set interface = 'LoanRouterV2' where role = 'loan_router'")
    hashes = [h.lower() for (h,) in warehouse.execute("""select loan_terms_hash from main.stg_loan_tapes
        where as_of_date = ? and status = 'current' order by loan_terms_hash limit 2""", [LAST]).fetchall()]
    for loan, code in zip(hashes, (3, 5)):
        warehouse.execute("""update main.stg_chain_state set value = ? where partition_date = ? and lower(key) = ?
            and method = 'loanState' and field = 'status'""", [code, LAST, loan])
    warehouse.execute("update main.stg_loan_tapes set status = 'liquidated' where as_of_date = ? and lower(loan_terms_hash) = ?",
                      [LAST, hashes[1]])
    rows = {r["entity_key"]: r for r in BY_ID["R5"].evaluate(warehouse, [LAST]).to_dict("records")}
    assert rows[f"loan:{hashes[0]}:status"]["expected"] == "status 3 (Breached) -> one of delinquent/default"
    assert rows[f"loan:{hashes[1]}:status"]["expected"] == "status 5 (CollateralLiquidated) -> one of liquidated"
    assert exceptions_of(warehouse, "R5", tmp_path) == {("R5", LAST, f"loan:{hashes[0]}:status", "blocker", "")}


def test_r6_warns_when_nav_and_ledger_claim_differ(warehouse, tmp_path):
    warehouse.execute("""update main.stg_chain_state set value = value + 1000000000000000000000
        where partition_date = ? and contract_role = 'susdai' and method = 'totalAssets'""", [LAST])
    assert exceptions_of(warehouse, "R6", tmp_path) == {("R6", LAST, "susdai:total_assets", "warn", Decimal("1000"))}


def test_r6_counts_the_allowance_the_vault_has_not_marked_and_the_claims_it_has_not_been_paid(warehouse, tmp_path):
    """The ledger side of R6 is 2100 + the allowance (1190) - the insurance receivable (1150): an allowance of 25,000
    and a claim of 4,000 raise it by 21,000, which a totalAssets() 21,000 higher matches, and which shows whole as
    the difference when the chain does not move."""
    for account, amount in (("1190", "-25000"), ("1150", "4000")):
        changed = warehouse.execute("""update main.trial_balance set closing_balance = closing_balance + ?
            where partition_date = ? and account_code = ? returning account_code""",
                                    [Decimal(amount), LAST, account]).fetchall()
        assert changed, f"the trial balance has no {account} row on {LAST}"
    raw = Decimal(21000) / usd_per_raw_unit(warehouse, LAST, "usdai")
    total_assets = """update main.stg_chain_state set value = value + ?
        where partition_date = ? and contract_role = 'susdai' and method = 'totalAssets'"""
    warehouse.execute(total_assets, [raw, LAST])
    assert exceptions_of(warehouse, "R6", tmp_path) == set()
    warehouse.execute(total_assets, [-raw, LAST])
    assert exceptions_of(warehouse, "R6", tmp_path) == {
        ("R6", LAST, "susdai:total_assets", "warn", Decimal("-21000"))}


def test_r8_flags_an_unbalanced_entry(warehouse, tmp_path):
    warehouse.execute("""insert into main.journal_lines by name
        select 'tampered' as entry_id, 1 as line_no, '1000' as account_code, '' as sub_account, 1 as debit,
               0 as credit, effective_time, partition_date, 'chain' as source, 'x:1' as source_key,
               'usdai_mint' as rule_id
        from main.journal_lines where partition_date = ? limit 1""", [LAST])
    assert exceptions_of(warehouse, "R8", tmp_path) == {
        ("R8", LAST, "journal:entries", "blocker", Decimal("1")), ("R8", LAST, "entry:tampered", "blocker", Decimal("1"))}
    assert_attestation_refused(warehouse, LAST, "R8")


def test_r9_flags_a_missing_statement_and_r3_leaves_that_day_alone(warehouse, tmp_path):
    warehouse.execute("delete from main.stg_custodian_statements where statement_date = ?", [LAST])
    assert exceptions_of(warehouse, "R9", tmp_path) == {("R9", LAST, "source:custodian_statement", "blocker", "")}
    assert breaks_of(warehouse, "R3", tmp_path) == set()
    assert_attestation_refused(warehouse, LAST, "R9")


def test_h1_warns_on_a_supply_jump(warehouse, tmp_path):
    """A 20% rise warns (the cap, off by default, is tested with a home's cap in test_check_tolerances.py)."""
    warehouse.execute("""update main.usdai_supply_reconciliation set onchain_total_supply =
        (select onchain_total_supply * 1.2 from main.usdai_supply_reconciliation where partition_date = ?)
        where partition_date = ?""", [SECOND, LAST])
    second = warehouse.execute("select onchain_total_supply from main.usdai_supply_reconciliation "
                               "where partition_date = ?", [SECOND]).fetchone()[0]
    assert exceptions_of(warehouse, "H1", tmp_path) == {
        ("H1", LAST, "usdai:daily_rise", "warn", second * Decimal("0.2"))}


def test_policy_overrides_come_from_the_home(tmp_path):
    # Without overrides the build gets no var at all: dbt_project.yml's defaults, and dbt keeps its parse.
    assert home_vars(DataHome(tmp_path)) == {}
    (tmp_path / "reconciliation.toml").write_text('coverage_buffer = "1.10"\n')
    assert ReconciliationPolicy.for_home(tmp_path).coverage_buffer == "1.10"
    # The pipeline's dbt build gets every setting, the home's over the defaults.
    tolerances = home_vars(DataHome(tmp_path))["reconciliation"]
    assert tolerances == {**ReconciliationPolicy().as_dbt_var(), "coverage_buffer": "1.10"}
    (tmp_path / "reconciliation.toml").write_text('coverage_bufer = "1.10"\n')
    with pytest.raises(ValueError, match=r"coverage_bufer \(did you mean coverage_buffer\?\)"):
        ReconciliationPolicy.for_home(tmp_path)


# A daily run evaluates a window of one day; what a check compares the day with comes from before the window.

def test_r9_on_a_one_day_window_expects_the_lenders_of_the_week_before(warehouse, tmp_path):
    lender = warehouse.execute("select min(lender_id) from main.stg_loan_tapes where as_of_date = ?",
                               [LAST]).fetchone()[0]
    warehouse.execute("delete from main.stg_loan_tapes where as_of_date = ? and lender_id = ?", [LAST, lender])
    assert exceptions_of(warehouse, "R9", tmp_path, [LAST]) == {("R9", LAST, f"source:loan_tape:{lender}", "warn", "")}


def test_h2_on_a_one_day_window_compares_with_the_day_before_it(warehouse, tmp_path):
    before = warehouse.execute("select count(distinct gpu_serial) from main.stg_gpu_telemetry_daily "
                               "where partition_date = ?", [DAY_LIST[-2]]).fetchone()[0]
    assert before >= 10, "the sandbox's fleet is too small for H2's minimum"
    warehouse.execute("""delete from main.stg_gpu_telemetry_daily where partition_date = ?
        and gpu_serial not in (select min(gpu_serial) from main.stg_gpu_telemetry_daily where partition_date = ?)""",
                      [LAST, LAST])
    assert exceptions_of(warehouse, "H2", tmp_path, [LAST]) == {
        ("H2", LAST, "volume:telemetry_gpus", "warn", Decimal(1 - before))}


# Every branch of every check: each kind of entity a check's SQL emits, built on the clean warehouse and asserted
# exactly (check, day, entity, severity, difference); a blocker refuses the day's attestation, naming the check.

def test_r1_flags_each_derivation_of_supply_that_disagrees_with_total_supply(warehouse, tmp_path):
    warehouse.execute("update main.usdai_supply_reconciliation set supply_from_deposit_events = "
                      "supply_from_deposit_events - ? where partition_date = ?", [ONE_UNIT, LAST])
    warehouse.execute("update main.usdai_supply_reconciliation set supply_from_transfer_events = "
                      "supply_from_transfer_events + 2 where partition_date = ?", [SECOND])
    assert exceptions_of(warehouse, "R1", tmp_path) == {
        ("R1", LAST, "usdai:deposit_events", "blocker", ONE_UNIT),
        ("R1", SECOND, "usdai:transfer_events", "blocker", Decimal("-2"))}
    assert_attestation_refused(warehouse, LAST, "R1")
    assert_attestation_refused(warehouse, SECOND, "R1")


def test_r2_flags_a_ledger_stablecoin_balance_not_on_chain_and_one_the_ledger_lacks(warehouse, tmp_path):
    usdc_raw_unit = usd_per_raw_unit(warehouse, SECOND, "usdc")
    warehouse.execute("""update main.stg_chain_state set value = value + 1
        where partition_date = ? and contract_role = 'usdc' and method = 'balanceOf'
        and lower(key) = (select lower(address) from main.stg_chain_address_book
                          where role = 'loan_router' and interface = 'LoanRouterV1' and partition_date = ?)
        """, [SECOND, SECOND])
    # LAST: the base token the USDai contract holds is missing from ledger 1020, and 1020 holds a balance of an
    # address pair no chain read has.
    held = warehouse.execute("""select sub_account, closing_balance from main.reserve_balances
        where partition_date = ? and account_code = '1020' and closing_balance > 100000""", [LAST]).fetchall()
    assert len(held) == 1, held
    warehouse.execute("delete from main.reserve_balances where partition_date = ? and sub_account = ?",
                      [LAST, held[0][0]])
    warehouse.execute("insert into main.reserve_balances values (?, '1020', '0xToken@0xHolder', 0, 5)", [LAST])
    assert exceptions_of(warehouse, "R2", tmp_path) == {
        ("R2", SECOND, "stablecoin:USDC@loan_router", "blocker", usdc_raw_unit),
        ("R2", LAST, "stablecoin:wM@usdai", "blocker", held[0][1]),
        ("R2", LAST, "stablecoin:0xtoken@0xholder", "blocker", Decimal("-5"))}
    assert_attestation_refused(warehouse, SECOND, "R2")
    assert_attestation_refused(warehouse, LAST, "R2")


def test_r3_flags_a_cusip_valued_differently_and_one_only_on_the_statement(warehouse, tmp_path):
    cusip = warehouse.execute("""select min(cusip) from main.stg_custodian_statements
        where statement_date = ? and record_type = 'holding'""", [LAST]).fetchone()[0]
    warehouse.execute("""update main.stg_custodian_statements set market_value = market_value + 20
        where statement_date = ? and record_type = 'holding' and cusip = ?""", [LAST, cusip])
    warehouse.execute("""insert into main.stg_custodian_statements by name
        select partition_date, statement_date, cut_off_time, custodian_id, account_id, record_type,
               'TAMPERED1' as cusip, market_value, source_file, source_sha256, source_row + 1000 as source_row
        from main.stg_custodian_statements where statement_date = ? and record_type = 'holding' and cusip = ?""",
                      [SECOND, cusip])
    statement_only = warehouse.execute("""select market_value from main.stg_custodian_statements
        where cusip = 'TAMPERED1'""").fetchone()[0]
    assert exceptions_of(warehouse, "R3", tmp_path) == {
        ("R3", LAST, f"cusip:{cusip}", "blocker", Decimal("20")),
        ("R3", SECOND, "cusip:TAMPERED1", "blocker", statement_only)}
    assert_attestation_refused(warehouse, LAST, "R3")
    assert_attestation_refused(warehouse, SECOND, "R3")


def test_r4_blocks_a_day_without_a_coverage_ratio_unless_no_usdai_is_outstanding(warehouse, tmp_path):
    reserves, outstanding = warehouse.execute("""select liquid_reserves, usdai_outstanding from main.reserve_coverage
        where partition_date = ?""", [LAST]).fetchone()
    warehouse.execute("update main.reserve_coverage set liquid_coverage = null where partition_date in (?, ?)",
                      [SECOND, LAST])
    warehouse.execute("update main.reserve_coverage set usdai_outstanding = 0 where partition_date = ?", [SECOND])
    assert exceptions_of(warehouse, "R4", tmp_path) == {
        ("R4", LAST, "protocol:liquid_coverage", "blocker", reserves - outstanding)}
    assert_attestation_refused(warehouse, LAST, "R4")


def test_r5_flags_a_loan_on_a_tape_never_funded_on_chain(warehouse, tmp_path):
    orphan = "0x" + "ab" * 32
    warehouse.execute("""insert into main.stg_loan_tapes by name
        select * replace (? as loan_terms_hash, source_row + 1000 as source_row)
        from main.stg_loan_tapes where as_of_date = ? order by loan_terms_hash limit 1""", [orphan, LAST])
    assert exceptions_of(warehouse, "R5", tmp_path) == {
        ("R5", LAST, f"loan:{orphan}:presence", "blocker", "orphan tape loan")}
    assert_attestation_refused(warehouse, LAST, "R5")


def test_r8_flags_a_trial_balance_that_does_not_sum_to_zero_and_a_line_without_lineage(warehouse, tmp_path):
    warehouse.execute("update main.trial_balance set closing_balance = closing_balance + ? "
                      "where partition_date = ? and account_code = '1000'", [ONE_UNIT, LAST])
    warehouse.execute("""update main.journal_lines set rule_id = ''
        where (entry_id, line_no) = (select (min(entry_id), 1) from main.journal_lines where partition_date = ?)""",
                      [SECOND])
    assert exceptions_of(warehouse, "R8", tmp_path) == {
        ("R8", LAST, "trial_balance:sum", "blocker", ONE_UNIT),
        ("R8", SECOND, "journal:lineage", "blocker", Decimal("1"))}
    assert_attestation_refused(warehouse, LAST, "R8")
    assert_attestation_refused(warehouse, SECOND, "R8")


def test_r9_flags_a_chain_day_not_ingested_and_a_day_without_telemetry(warehouse, tmp_path):
    warehouse.execute("delete from main.stg_chain_days where partition_date = ?", [LAST])
    warehouse.execute("delete from main.stg_gpu_telemetry_daily where partition_date = ?", [SECOND])
    assert exceptions_of(warehouse, "R9", tmp_path) == {
        ("R9", LAST, "source:chain", "blocker", ""),
        ("R9", SECOND, "source:telemetry", "warn", "")}
    assert_attestation_refused(warehouse, LAST, "R9")


def test_r7_warns_for_a_collateral_gpu_with_no_telemetry_and_says_so(warehouse, tmp_path):
    serial = warehouse.execute("""select min(c.gpu_serial) from main.stg_loan_collateral c
        join main.stg_loan_tapes t on t.as_of_date = c.partition_date and t.loan_terms_hash = c.loan_terms_hash
        where c.partition_date = ? and t.status = 'current'""", [LAST]).fetchone()[0]
    warehouse.execute("delete from main.stg_gpu_telemetry_daily where partition_date = ? and gpu_serial = ?",
                      [LAST, serial])
    assert exceptions_of(warehouse, "R7", tmp_path) == {("R7", LAST, f"gpu:{serial}", "warn", "no telemetry")}


def test_h2_warns_when_tape_rows_or_statement_rows_drop_by_more_than_half(warehouse, tmp_path):
    # The sandbox's tapes and statements are too short for H2's minimum of 10 rows the day before: the day before
    # is given copies of a row, to more than twice the last day's rows and at least 10.
    tape_rows = warehouse.execute("select count(*) from main.stg_loan_tapes where partition_date = ?",
                                  [LAST]).fetchone()[0]
    statement_rows = warehouse.execute("select count(*) from main.stg_custodian_statements where partition_date = ?",
                                       [LAST]).fetchone()[0]
    for table, rows in (("stg_loan_tapes", tape_rows), ("stg_custodian_statements", statement_rows)):
        warehouse.execute(f"""insert into main.{table} by name
            select t.* replace (t.source_row + 1000 * r.range as source_row)
            from (select * from main.{table} where partition_date = ? order by all limit 1) t, range(1, ?) r""",
                          [SECOND, max(2 * rows + 1, 10) + 1 - warehouse.execute(
                              f"select count(*) from main.{table} where partition_date = ?", [SECOND]).fetchone()[0]])
    previous = dict(warehouse.execute("""select 'tapes', count(*) from main.stg_loan_tapes where partition_date = ?
        union all select 'statements', count(*) from main.stg_custodian_statements where partition_date = ?""",
                                      [SECOND, SECOND]).fetchall())
    assert previous["tapes"] > 2 * tape_rows and previous["statements"] > 2 * statement_rows
    assert exceptions_of(warehouse, "H2", tmp_path) == {
        ("H2", LAST, "volume:loan_tape_rows", "warn", Decimal(tape_rows - previous["tapes"])),
        ("H2", LAST, "volume:statement_rows", "warn", Decimal(statement_rows - previous["statements"]))}


def test_h4_warns_for_a_file_with_columns_its_layout_does_not_read(warehouse, tmp_path):
    file_name = warehouse.execute("select min(file_name) from main.stg_input_files where partition_date = ? "
                                  "and source = 'loan_tapes'", [LAST]).fetchone()[0]
    warehouse.execute("update main.stg_input_files set unexpected_columns = 'servicer_note' "
                      "where partition_date = ? and file_name = ?", [LAST, file_name])
    assert exceptions_of(warehouse, "H4", tmp_path) == {
        ("H4", LAST, f"schema:loan_tapes:{file_name}", "warn", "unexpected columns: servicer_note")}


def test_h5_warns_for_quarantined_rows_and_for_a_rejected_inbox_file(warehouse, tmp_path):
    file_name = warehouse.execute("select min(file_name) from main.stg_input_files where partition_date = ? "
                                  "and source = 'loan_tapes'", [LAST]).fetchone()[0]
    warehouse.execute("update main.stg_input_files set rows_quarantined = 1, quarantine_reasons = 'repeated_row=1' "
                      "where partition_date = ? and file_name = ?", [LAST, file_name])
    materialise(warehouse, "inbox_rejected_files")
    warehouse.execute("""insert into main.inbox_rejected_files values
        (?, timestamp '2026-01-02 08:00:00', 'stray.pdf', 'ab12', 'inbox/rejected/stray.pdf', 'no_source',
         'no source reads .pdf')""", [SECOND])
    assert exceptions_of(warehouse, "H5", tmp_path) == {
        ("H5", LAST, f"quarantine:loan_tapes:{file_name}", "warn", "repeated_row=1"),
        ("H5", SECOND, "rejected_file:stray.pdf:ab12", "warn", "no_source: no source reads .pdf")}


def test_h6_warns_for_a_chain_reorganisation_that_reached_an_ingested_day(warehouse, tmp_path):
    materialise(warehouse, "chain_reorganisations")
    warehouse.execute("""insert into main.chain_reorganisations values
        (?, 'reorg-1', timestamp '2026-01-03 12:00:00', 90, 89, 3, '2026-01-03', 'reingested', 90, '0xold', '0xnew')""",
                      [LAST])
    assert exceptions_of(warehouse, "H6", tmp_path) == {("H6", LAST, "chain_reorg:reorg-1", "warn", "reingested")}


GRANTED = """insert into main.contract_changes values (?, 90, timestamp '2026-01-03 16:30:00', '0xabc', 4,
    '0x0A1a1A107E45b7Ced86833863f482BC5f4ed82EF', 'usdai', 'RoleGranted', 'RoleGranted(bytes32,address,address)',
    'access', 'BLACKLIST_ADMIN_ROLE granted to 0xA1 by 0xB2', '{}')"""


def test_h8_warns_for_each_change_to_the_contracts_and_the_attestation_lists_it(warehouse, tmp_path):
    warehouse.execute(GRANTED, [LAST])
    assert exceptions_of(warehouse, "H8", tmp_path) == {
        ("H8", LAST, "contract_change:0xabc:4", "warn", "RoleGranted")}
    section = next(s for s in gather_attestation(warehouse, LAST).sections if s.key == "contract_changes")
    assert [row[1:5] for row in section.tables[0].rows] == [
        ("usdai", "access", "RoleGranted", "BLACKLIST_ADMIN_ROLE granted to 0xA1 by 0xB2")]
    unchanged = next(s for s in gather_attestation(warehouse, SECOND).sections if s.key == "contract_changes")
    assert unchanged.tables[0].rows == [] and unchanged.intro.startswith("No contract of the protocol changed")


def test_a_day_with_only_warnings_still_attests(warehouse, tmp_path):
    """A warning of every check that warns open on the day, and no blocker: the day attests."""
    warehouse.execute("update main.reserve_coverage set liquid_coverage = 1.01 where partition_date = ?", [LAST])
    warehouse.execute("""update main.stg_chain_state set value = value + 1000000000000000000000
        where partition_date = ? and contract_role = 'susdai' and method = 'totalAssets'""", [LAST])
    warehouse.execute("update main.stg_gpu_telemetry_daily set xid_error_samples = 100 where partition_date = ?",
                      [LAST])
    warehouse.execute("""delete from main.stg_gpu_telemetry_daily where partition_date = ? and gpu_serial not in
        (select min(gpu_serial) from main.stg_gpu_telemetry_daily where partition_date = ?)""", [LAST, LAST])
    warehouse.execute("update main.stg_chain_days set to_block_time = to_block_time - interval 6 hour "
                      "where partition_date = ?", [LAST])
    warehouse.execute("update main.usdai_supply_reconciliation set onchain_total_supply = onchain_total_supply * 2 "
                      "where partition_date = ?", [LAST])
    lender = warehouse.execute("select max(lender_id) from main.stg_loan_tapes where as_of_date = ?",
                               [LAST]).fetchone()[0]
    warehouse.execute("delete from main.stg_loan_tapes where as_of_date = ? and lender_id = ?", [LAST, lender])
    warehouse.execute("""update main.stg_input_files set unexpected_columns = 'servicer_note', rows_quarantined = 1,
        quarantine_reasons = 'repeated_row=1' where partition_date = ? and source = 'telemetry'""", [LAST])
    materialise(warehouse, "chain_reorganisations")
    warehouse.execute("""insert into main.chain_reorganisations values
        (?, 'reorg-1', timestamp '2026-01-03 12:00:00', 90, 89, 3, '2026-01-03', 'reingested', 90, '0xold', '0xnew')""",
                      [LAST])
    materialise(warehouse, "susdai_trailing_yield")
    warehouse.execute("update main.susdai_trailing_yield set share_price_yield_by_day = explained_share_price_yield + 5 "
                      "where partition_date = ? and window_days = 1", [LAST])
    warehouse.execute(GRANTED, [LAST])
    warning_checks = ("R4", "R6", "R7", "R9", "H1", "H2", "H3", "H4", "H5", "H6", "H7", "H8")
    severities = set()
    for check_id in warning_checks:
        severities |= {(c, d, s) for c, d, _, s, _ in exceptions_of(warehouse, check_id, tmp_path, [LAST])}
    assert severities == {(check_id, LAST, "warn") for check_id in warning_checks}
    attestation = gather_attestation(warehouse, LAST)
    assert attestation.blockers == [] and attestation.day == LAST
