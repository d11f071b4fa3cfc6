"""The audit trail of any number: from a ledger balance down to its journal lines, down to the chain log
(block, tx hash, log index) or the file and row each line came from.

One lineage query serves every way in (an account on a date, a transaction, a loan, a file): the journal lines
it selects, each joined to its source row by the line's `source_key` (docs/ledger.md): `tx_hash:log_index` for the
chain, `sha256:row` for a tape or statement row, `sha256:CUSIP` for a T-bill mark, `rule:date` for entries the
ledger computes from other lines (no source row). Every value a person types is a bound parameter. Borrower names
are masked in the database, before they reach Python, unless PII is asked for.
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

# The source rows a line can point at. A `sha256:row` key names a tape row or a statement row; a `sha256:CUSIP` key
# names the statement's holding of that CUSIP.
LINEAGE_SQL = """
with lines as (
    select j.*, c.account_name
    from main.journal_lines j
    left join main.chart_of_accounts c using (account_code)
    where {where}
),
file_rows as (
    select source_sha256, cast(source_row as varchar) as row_key, source_file, source_row,
           'loan ' || coalesce(loan_id, '') || ' ' || coalesce(status, '') || ' principal '
             || coalesce({principal}, '') as record,
           borrower_id, borrower_name
    from main.stg_loan_tapes
    union all
    select source_sha256, cast(source_row as varchar), source_file, source_row,
           record_type || coalesce(' ' || transaction_type, '') || coalesce(' ' || cusip, '')
             || coalesce(' amount ' || {amount}, '') || coalesce(' market value ' || {market_value}, ''),
           null, null
    from main.stg_custodian_statements
    union all
    select source_sha256, cusip, source_file, source_row,
           'holding ' || cusip || ' market value ' || {market_value}, null, null
    from main.stg_custodian_statements where record_type = 'holding'
)
select
    l.partition_date, l.effective_time, l.entry_id, l.line_no, l.account_code, l.account_name, l.sub_account,
    l.debit, l.credit,
    {balance_after} as balance_after,
    l.rule_id, l.source, l.source_key,
    e.block_number, e.block_time, e.tx_hash, e.log_index, e.contract_role, e.event,
    f.source_file as file_name, f.source_sha256 as file_sha256, f.source_row as file_row, f.record,
    f.borrower_id,
    case when f.borrower_name is null then null when $include_pii then f.borrower_name else '""" + MASK + """' end
      as borrower_name
from lines l
left join main.stg_chain_events e
  on l.source = 'chain' and l.source_key = e.tx_hash || ':' || cast(e.log_index as varchar)
left join file_rows f
  on l.source in ('loan_tape', 'custodian')
 and f.source_sha256 = split_part(l.source_key, ':', 1) and f.row_key = split_part(l.source_key, ':', 2)
order by l.partition_date, l.effective_time, l.entry_id, l.line_no
"""


def _exact_text(column: str) -> str:
    """SQL: an exact decimal as text without trailing zeros (81000, not 81000.000000000000000000)."""
    return f"regexp_replace(regexp_replace(cast({column} as varchar), '(\\.[0-9]*?)0+$', '\\1'), '\\.$', '')"


@dataclass
class Trail:
    """What a trail query found: a heading a person reads first, and the lineage rows."""

    heading: str
    rows: pa.Table


def _lineage(con: duckdb.DuckDBPyConnection, where: str, params: dict, include_pii: bool,
             running_balance: bool = False) -> pa.Table:
    balance_after = ("sum(l.debit - l.credit) over (order by l.partition_date, l.effective_time, l.entry_id, "
                     "l.line_no rows between unbounded preceding and current row)"
                     if running_balance else "cast(null as decimal(38, 18))")
    sql = LINEAGE_SQL.format(where=where, balance_after=balance_after, principal=_exact_text("principal_outstanding"),
                             amount=_exact_text("amount"), market_value=_exact_text("market_value"))
    # A cursor of its own: the caller's connection may hold a result it has not finished reading.
    with con.cursor() as cursor:
        table = cursor.sql(sql, params={**params, "include_pii": include_pii}).to_arrow_table()
    return table.select(list(TRAIL_COLUMNS))


def trail_by_account(con: duckdb.DuckDBPyConnection, account_code: str, on: date, sub_account: str | None = None,
                     include_pii: bool = False) -> Trail:
    """The balance of an account (optionally one sub-account) at the close of `on`, and every line that makes it."""
    where = "account_code = $account_code and partition_date <= $on"
    params: dict = {"account_code": account_code, "on": on}
    if sub_account is not None:
        where += " and sub_account = $sub_account"
        params["sub_account"] = sub_account
    rows = _lineage(con, where, params, include_pii, running_balance=True)
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
    logs = con.execute("select count(*), min(block_number) from main.stg_chain_events "
                       "where lower(tx_hash) = lower(?)", [tx_hash]).fetchall()[0]
    return Trail(heading=(f"transaction {tx_hash}: {logs[0]} decoded logs in block {logs[1]}, "
                          f"{rows.num_rows} journal lines"), rows=rows)


def trail_by_loan(con: duckdb.DuckDBPyConnection, loan_terms_hash: str, include_pii: bool = False) -> Trail:
    """Every line of every entry that touches the loan (its 1100 / 1110 / 1190 sub-account), with its source."""
    rows = _lineage(con, """entry_id in (select entry_id from main.journal_lines
                                          where lower(sub_account) = lower($loan_terms_hash))""",
                    {"loan_terms_hash": loan_terms_hash}, include_pii)
    tape = con.execute("""select any_value(loan_id), any_value(lender_id), count(*) from main.stg_loan_tapes
                          where lower(loan_terms_hash) = lower(?)""", [loan_terms_hash]).fetchall()[0]
    return Trail(heading=(f"loan {loan_terms_hash} ({tape[0] or 'not on any tape'}, {tape[1] or '-'}; "
                          f"{tape[2]} tape rows): {rows.num_rows} journal lines"), rows=rows)


def trail_by_file(con: duckdb.DuckDBPyConnection, file: str, include_pii: bool = False) -> Trail:
    """Every journal line posted from one statement or tape file, named by the name it arrived under or its sha256."""
    hashes = [h for (h,) in con.execute("""
        select distinct source_sha256 from (
            select source_file, source_sha256 from main.stg_custodian_statements
            union all select source_file, source_sha256 from main.stg_loan_tapes)
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
