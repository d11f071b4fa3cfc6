"""The audit trail of any number: from a ledger balance down to its journal lines, down to the chain log
(block, tx hash, log index) or the file and row each line came from.

Every way in (an account on a date, a transaction, a loan, a file) filters one dbt model, journal_line_lineage:
each journal line joined to its source row by the line's `source_key` (docs/ledger.md): `tx_hash:log_index` for the
chain, `sha256:row` for a tape or statement row, `sha256:CUSIP` for a T-bill mark, `rule:date` for entries the
ledger computes from other lines (no source row). The filters are fixed here and every value a person types is a
bound parameter. Borrower names are masked in the database, before they reach Python, unless PII is asked for.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

MASK = "[masked]"

# Every trail has these columns, whichever way in: one export schema for examiners' tools.
TRAIL_COLUMNS = (
    "partition_date", "effective_time", "entry_id", "line_no", "account_code", "account_name", "sub_account",
    "debit", "credit", "balance_after", "rule_id", "source", "source_key",
    "block_number", "block_time", "tx_hash", "log_index", "contract_role", "event",
    "file_name", "file_sha256", "file_row", "record", "borrower_id", "borrower_name",
)

# The running balance a trail shows: the account's or the sub-account's (journal_line_lineage), or none.
BALANCE_AFTER = {
    "account": "account_balance_after",
    "sub_account": "sub_account_balance_after",
    None: "cast(null as decimal(38, 18))",
}


@dataclass
class Trail:
    """What a trail query found: a heading a person reads first, and the lineage rows."""

    heading: str
    rows: pa.Table


def _lineage(con: duckdb.DuckDBPyConnection, where: str, params: dict, include_pii: bool,
             running_balance: str | None = None) -> pa.Table:
    """The lines of journal_line_lineage that `where` keeps (fixed text, its values bound from `params`)."""
    sql = f"""
        select * exclude (account_balance_after, sub_account_balance_after, borrower_name),
               {BALANCE_AFTER[running_balance]} as balance_after,
               case when borrower_name is null then null when $include_pii then borrower_name else $mask end
                 as borrower_name
        from main.journal_line_lineage
        where {where}
        order by partition_date, effective_time, entry_id, line_no"""
    # A cursor of its own: the caller's connection may hold a result it has not finished reading.
    with con.cursor() as cursor:
        table = cursor.sql(sql, params={**params, "include_pii": include_pii, "mask": MASK}).to_arrow_table()
    return table.select(list(TRAIL_COLUMNS))


def trail_by_account(con: duckdb.DuckDBPyConnection, account_code: str, on: date, sub_account: str | None = None,
                     include_pii: bool = False) -> Trail:
    """The balance of an account (optionally one sub-account) at the close of `on`, and every line that makes it."""
    where = "account_code = $account_code and partition_date <= $on"
    params: dict = {"account_code": account_code, "on": on}
    running_balance = "account"
    if sub_account is not None:
        where += " and sub_account = $sub_account"
        params["sub_account"] = sub_account
        running_balance = "sub_account"
    rows = _lineage(con, where, params, include_pii, running_balance)
    names = con.execute("select account_name from main.chart_of_accounts where account_code = ?",
                        [account_code]).fetchall()
    if not names:
        raise LookupError(f"no account {account_code} in the chart of accounts")
    balance = _sum(rows, "debit") - _sum(rows, "credit")
    scope = f" sub-account {sub_account}" if sub_account is not None else ""
    return Trail(heading=(f"account {account_code} {names[0][0]}{scope} at the close of {on.isoformat()}: balance "
                          f"{balance} (debit +), {rows.num_rows} journal lines"), rows=rows)


def trail_by_transaction(con: duckdb.DuckDBPyConnection, tx_hash: str, include_pii: bool = False) -> Trail:
    """Every journal line posted from the logs of one transaction."""
    rows = _lineage(con, "source = 'chain' and lower(split_part(source_key, ':', 1)) = lower($tx_hash)",
                    {"tx_hash": tx_hash}, include_pii)
    found = con.execute("select decoded_logs, block_number from main.chain_transactions where tx_hash = lower(?)",
                        [tx_hash]).fetchall()
    if not found and rows.num_rows == 0:
        raise LookupError(f"no transaction {tx_hash} in the chain data the warehouse holds")
    logs = found[0] if found else (0, None)
    return Trail(heading=(f"transaction {tx_hash}: {logs[0]} decoded logs in block {logs[1]}, "
                          f"{rows.num_rows} journal lines"), rows=rows)


def trail_by_loan(con: duckdb.DuckDBPyConnection, loan_terms_hash: str, include_pii: bool = False) -> Trail:
    """Every line of every entry that touches the loan (its 1100 / 1110 / 1190 sub-account), with its source. A loan
    renamed by LoanMigrated or LoanRefinanced is one loan under every name it has had (its identity, the first
    hash, is the sub-account): any of its hashes finds all its lines, and the heading lists the renames."""
    identity_hash, renames = loan_terms_hash.lower(), []
    # A warehouse built before loans could be renamed has no loan_identities: none was renamed in it.
    if con.execute("select count(*) from information_schema.tables where table_schema = 'main' "
                   "and table_name = 'loan_identities'").fetchone()[0]:
        identity = con.execute("select identity_hash from main.loan_identities where loan_terms_hash = lower(?)",
                               [loan_terms_hash]).fetchall()
        identity_hash = identity[0][0] if identity else identity_hash
        renames = con.execute("""select renamed_from, loan_terms_hash, renamed_by, partition_date
                                 from main.loan_identities where identity_hash = ?
                                 order by block_number, log_index""", [identity_hash]).fetchall()
    rows = _lineage(con, """entry_id in (select entry_id from main.journal_line_lineage
                                          where lower(sub_account) = $identity_hash)""",
                    {"identity_hash": identity_hash}, include_pii)
    found = con.execute("select loan_id, lender_id, tape_rows from main.loan_tape_appearances "
                        "where loan_terms_hash in (select unnest($hashes))",
                        {"hashes": [identity_hash, *(new for _, new, _, _ in renames)]}).fetchall()
    if not found and rows.num_rows == 0:
        raise LookupError(f"no loan {loan_terms_hash}: no journal line and no tape row names it")
    tape = (found[0][0], found[0][1], sum(rows_on_tape for *_, rows_on_tape in found)) if found else (None, None, 0)
    names = "".join(f"; {old} became {new} ({event} on {day.isoformat()})" for old, new, event, day in renames)
    return Trail(heading=(f"loan {loan_terms_hash} ({tape[0] or 'not on any tape'}, {tape[1] or '-'}; "
                          f"{tape[2]} tape rows{names}): {rows.num_rows} journal lines"), rows=rows)


def trail_by_file(con: duckdb.DuckDBPyConnection, file: str, include_pii: bool = False) -> Trail:
    """Every journal line posted from one statement or tape file, named by the name it arrived under or its sha256."""
    hashes = [h for (h,) in con.execute("""
        select distinct source_sha256 from main.source_files
        where source_file = $file or lower(source_sha256) = lower($file) order by 1""", {"file": file}).fetchall()]
    if not hashes:
        raise LookupError(f"no statement or tape file named {file!r} (by name or sha256) in the warehouse")
    rows = _lineage(con, "source in ('custodian', 'loan_tape') and split_part(source_key, ':', 1) in "
                         "(select unnest($hashes))", {"hashes": hashes}, include_pii)
    return Trail(heading=f"file {file} (sha256 {', '.join(hashes)}): {rows.num_rows} journal lines", rows=rows)


def _sum(rows: pa.Table, column: str) -> Decimal:
    total = pc.sum(rows.column(column)).as_py()
    return total if total is not None else Decimal(0)


# Cells a spreadsheet would read as a formula (OWASP: CSV injection).
FORMULA_START = r"^[=+\-@\t\r]"


def neutralise_formulas(rows: pa.Table) -> pa.Table:
    """Text cells that a spreadsheet would run as a formula get a leading apostrophe. Numbers stay numbers."""
    columns = []
    for name in rows.column_names:
        column = rows.column(name)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            risky = pc.fill_null(pc.match_substring_regex(column, FORMULA_START), False)
            column = pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)
        columns.append(column)
    return pa.table(columns, names=rows.column_names)


EXPORT_SUFFIXES = (".csv", ".parquet")


def export_trail(trail: Trail, path: Path) -> Path:
    """Write the trail as CSV (formula cells neutralised) or Parquet (typed, exact decimals), by the file's suffix."""
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        # DuckDB writes decimals in fixed point (0.000000000000000000, where Arrow's writer says 0E-18).
        with duckdb.connect() as con:
            con.from_arrow(neutralise_formulas(trail.rows)).write_csv(str(path))
    elif suffix == ".parquet":
        pq.write_table(trail.rows, path)
    else:
        raise ValueError(f"{path.name}: export as .csv or .parquet")
    return path
