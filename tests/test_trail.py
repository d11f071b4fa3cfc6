"""`backed trail`: from a balance to its journal lines to the chain log or file row, by account, tx, loan and file;
exported as CSV (formula cells neutralised) or Parquet; borrower names masked unless asked for; parameters bound."""
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import DAYS, START

from foundation.home import DataHome
from orchestration.cli.audit_trail import (MASK, TRAIL_COLUMNS, neutralise_formulas, trail_by_account,
                                           trail_by_file, trail_by_loan, trail_by_transaction)

CLI = Path(sys.executable).parent / "backed"
DAY = START.replace(day=DAYS)


@pytest.fixture(scope="module")
def con(clean_demo):
    with duckdb.connect(str(DataHome(clean_demo[0]).warehouse), read_only=True) as connection:
        yield connection


def backed(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), "--home", str(home), "trail", *args], capture_output=True, text=True, timeout=120)


def test_an_account_balance_is_the_sum_of_its_lines_and_every_line_has_its_source(con):
    closing = con.execute("select closing_balance from main.trial_balance where partition_date = ? "
                          "and account_code = '1020'", [DAY]).fetchall()[0][0]
    trail = trail_by_account(con, "1020", DAY)
    rows = trail.rows.to_pylist()
    assert rows and rows[-1]["balance_after"] == closing
    assert sum(r["debit"] - r["credit"] for r in rows) == closing
    assert f"balance {closing}" in trail.heading
    for r in rows:
        if r["source"] == "chain":
            assert r["tx_hash"] and r["block_number"] is not None and r["log_index"] is not None and r["event"], r
            assert r["source_key"] == f"{r['tx_hash']}:{r['log_index']}"
        elif r["source"] in ("custodian", "loan_tape"):
            assert r["file_name"] and r["file_sha256"] and r["file_row"] is not None, r
        else:
            assert r["source"] == "ledger" and r["source_key"].startswith(f"{r['rule_id']}:"), r


def test_a_transaction_a_loan_and_a_statement_file_lead_to_their_lines(con):
    tx_hash, log_index = con.execute("""select tx_hash, log_index from main.stg_chain_events
        where event = 'LoanOriginated' order by block_number limit 1""").fetchall()[0]
    by_tx = trail_by_transaction(con, tx_hash).rows.to_pylist()
    assert by_tx and {r["tx_hash"] for r in by_tx} == {tx_hash}
    assert sum(r["debit"] for r in by_tx) == sum(r["credit"] for r in by_tx)

    loan, name = con.execute("""select loan_terms_hash, borrower_name from main.stg_loan_tapes
        where loan_terms_hash is not null order by partition_date, loan_id limit 1""").fetchall()[0]
    masked = trail_by_loan(con, loan).rows.to_pylist()
    rules = {r["rule_id"] for r in masked}
    assert {"loan_originated", "interest_accrual"} <= rules
    accruals = [r for r in masked if r["rule_id"] == "interest_accrual"]
    assert accruals and all(r["borrower_name"] == MASK and r["file_name"] for r in accruals)
    assert all(name not in str(r.values()) for r in masked)
    revealed = trail_by_loan(con, loan, include_pii=True).rows.to_pylist()
    assert {r["borrower_name"] for r in revealed if r["rule_id"] == "interest_accrual"} == {name}

    statement, sha256 = con.execute("""select source_file, source_sha256 from main.stg_custodian_statements
        where record_type = 'holding' order by statement_date desc limit 1""").fetchall()[0]
    by_file = trail_by_file(con, statement).rows.to_pylist()
    assert by_file and {r["file_sha256"] for r in by_file} == {sha256}
    assert trail_by_file(con, sha256).rows.num_rows == len(by_file)


def test_typed_values_are_bound_parameters_not_sql(con):
    for hostile in ("' or '1'='1", "x'); drop table main.journal_lines; --"):
        with pytest.raises(LookupError, match="no transaction"):  # found nothing, dropped nothing
            trail_by_transaction(con, hostile)
    assert con.execute("select count(*) from main.journal_lines").fetchall()[0][0] > 0
    with pytest.raises(LookupError):
        trail_by_account(con, "1020' or '1'='1", DAY)


def test_formula_cells_get_a_leading_apostrophe_and_numbers_stay_numbers():
    cells = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd", "plain", None]
    rows = pa.table({"text": cells, "amount": pa.array([Decimal("-5")] * len(cells), pa.decimal128(38, 18))})
    safe = neutralise_formulas(rows)
    assert safe.column("text").to_pylist() == ["'" + c for c in cells[:6]] + ["plain", None]
    assert safe.column("amount").equals(rows.column("amount"))


def test_cli_prints_a_table_and_exports_csv_and_parquet(clean_demo, tmp_path):
    home = clean_demo[0]
    shown = backed(home, "--account", "1110", "--date", DAY.isoformat(), "--limit", "3")
    assert shown.returncode == 0, shown.stderr[-2000:]
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("account 1110 interest receivable") and lines[1].split()[:3] == ["date", "account",
                                                                                                 "sub-account"]
    assert "more lines" in shown.stdout and "borrower names masked" in shown.stdout

    csv_path, parquet_path = tmp_path / "trail.csv", tmp_path / "trail.parquet"
    assert backed(home, "--account", "1110", "--date", DAY.isoformat(), "--out", str(csv_path)).returncode == 0
    assert backed(home, "--account", "1110", "--date", DAY.isoformat(), "--out", str(parquet_path),
                  "--include-pii").returncode == 0
    exported = pq.read_table(parquet_path)
    assert tuple(exported.column_names) == TRAIL_COLUMNS
    assert exported.schema.field("debit").type == pa.decimal128(38, 18)
    header, *rows = csv_path.read_text().splitlines()
    assert header.split(",") == list(TRAIL_COLUMNS) and len(rows) == exported.num_rows
    names = {n for n in exported.column("borrower_name").to_pylist() if n}
    assert names and MASK not in names
    csv_text = csv_path.read_text()
    assert MASK in csv_text and not any(n in csv_text for n in names)

    wrong = backed(home, "--account", "1110", "--date", DAY.isoformat(), "--out", str(tmp_path / "trail.xlsx"))
    assert wrong.returncode == 2 and ".csv or .parquet" in wrong.stderr
    assert backed(home, "--tx", "0x1", "--loan", "0x2").returncode == 2


def test_every_t_bill_mark_leads_to_the_holdings_statement_that_priced_it(con):
    """A T-bill mark is the holdings statement's, the file whose prices it takes, on every day: not whichever of the
    day's files (the cash statement too) sorts first by sha256."""
    marks = con.execute("""select distinct partition_date, split_part(source_key, ':', 1) from main.journal_line_lineage
        where rule_id = 'tbill_accretion'""").fetchall()
    holdings = dict(con.execute("""select distinct statement_date, source_sha256 from main.stg_custodian_statements
        where record_type = 'holding'""").fetchall())
    assert marks and all(sha256 == holdings[day] for day, sha256 in marks), (marks, holdings)

