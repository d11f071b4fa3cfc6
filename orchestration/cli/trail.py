"""`backed trail`: the audit trail of a number, in the terminal and as CSV or Parquet (registered by cli.py)."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from foundation.money import plain
from orchestration.cli.parameters import DAY, HASH, data_home

# What fits a terminal: the full lineage (every column) goes to --out.
TERMINAL_COLUMNS = (
    ("date", "partition_date"), ("account", "account_code"), ("sub-account", "sub_account"), ("debit", "debit"),
    ("credit", "credit"), ("balance", "balance_after"), ("rule", "rule_id"), ("source", "source_where"),
    ("record", "record"), ("borrower", "borrower_name"),
)
NUMERIC = {"debit", "credit", "balance_after"}


def _short(text: str, keep: int = 10) -> str:
    return text if len(text) <= 2 * keep + 1 else f"{text[:keep]}…{text[-6:]}"


def _source_where(row: dict) -> str:
    """Where the line came from, in a few words: the log, or the file and row."""
    if row["tx_hash"]:
        return f"block {row['block_number']} tx {_short(row['tx_hash'])} log {row['log_index']} {row['event'] or ''}"
    if row["file_name"]:
        return f"{row['file_name']} row {row['file_row']}"
    return row["source_key"] or ""


def format_trail(rows: list[dict]) -> str:
    cells = []
    for row in rows:
        line = {**row, "source_where": _source_where(row)}
        cells.append([("" if line[key] is None else plain(line[key])) if key in NUMERIC else _short(str(line[key] or ""), 14)
                      if key == "sub_account" else str(line[key] if line[key] is not None else "")
                      for _, key in TERMINAL_COLUMNS])
    header = [title for title, _ in TERMINAL_COLUMNS]
    widths = [max([len(header[i]), *(len(c[i]) for c in cells)]) for i in range(len(header))]

    def fmt(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if TERMINAL_COLUMNS[i][1] in NUMERIC else v.ljust(w)
                         for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *(fmt(c) for c in cells)])


@click.command("trail")
@click.option("--account", help="Account code (chart of accounts), with --date: its balance and every line of it.")
@click.option("--date", "on", type=DAY, help="The day (YYYY-MM-DD) whose closing balance --account explains.")
@click.option("--sub-account", default=None, help="With --account: one sub-account (CUSIP, loanTermsHash, token@holder).")
@click.option("--tx", "tx_hash", type=HASH, help="A transaction hash: the lines posted from its logs.")
@click.option("--loan", "loan_terms_hash", type=HASH,
              help="A loanTermsHash: every entry of the loan, with the tape rows.")
@click.option("--file", "file", help="A statement or tape file, by the name it arrived under or its sha256.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write every lineage column to FILE: .csv (formula cells neutralised) or .parquet.")
@click.option("--include-pii", is_flag=True, help="Show borrower names (masked by default).")
@click.option("--limit", default=40, show_default=True, type=click.IntRange(0),
              help="Lines shown in the terminal (the export has them all); 0 for all.")
@click.pass_context
def trail(ctx: click.Context, account: str | None, on: date | None, sub_account: str | None, tx_hash: str | None,
          loan_terms_hash: str | None, file: str | None, out: Path | None, include_pii: bool, limit: int) -> None:
    """The audit trail of a number: ledger balance -> journal lines -> chain log or file row.

    \b
    backed trail --account 1020 --date 2026-01-03
    backed trail --tx 0x8ecf...0480
    backed trail --loan 0xa343...2162 --include-pii
    backed trail --file custodian-a-semt002-2026-01-03.xml --out trail.csv
    """
    import duckdb

    from orchestration.cli.audit_trail import (EXPORT_SUFFIXES, export_trail, trail_by_account, trail_by_file,
                                               trail_by_loan, trail_by_transaction)

    chosen = [name for name, value in (("--account", account), ("--tx", tx_hash), ("--loan", loan_terms_hash),
                                       ("--file", file)) if value]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --account (with --date), --tx, --loan, --file")
    if account and not on:
        raise click.UsageError("--account needs --date")
    if sub_account is not None and not account:
        raise click.UsageError("--sub-account goes with --account")
    # every mistake is told before anything is read or printed
    if out is not None and out.suffix.lower() not in EXPORT_SUFFIXES:
        raise click.BadParameter(f"{out.name}: export as .csv or .parquet", param_hint="--out")
    day = on if account else None
    warehouse = data_home(ctx).warehouse
    if not warehouse.exists():
        raise click.ClickException(f"no warehouse at {warehouse}: run the pipeline first (backed demo)")
    if day is not None:
        from orchestration.warehouse_days import JOURNAL, built_days

        built = built_days(data_home(ctx).root, JOURNAL)
        if built is None or not built[0] <= day <= built[1]:
            span = f"from {built[0]} to {built[1]}" if built else "nowhere yet"
            raise click.ClickException(f"the ledger runs {span}: {day} has no balance to explain")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        try:
            if account:
                found = trail_by_account(con, account, day, sub_account, include_pii)
            elif tx_hash:
                found = trail_by_transaction(con, tx_hash, include_pii)
            elif loan_terms_hash:
                found = trail_by_loan(con, loan_terms_hash, include_pii)
            else:
                found = trail_by_file(con, file, include_pii)
        except LookupError as error:
            raise click.ClickException(str(error)) from None
    click.echo(found.heading)
    total = found.rows.num_rows
    shown = (found.rows if limit == 0 else found.rows.slice(0, limit)).to_pylist()
    if shown:
        click.echo(format_trail(shown))
    if len(shown) < total:
        click.echo(f"... {total - len(shown)} more lines (--limit 0 shows all; --out FILE exports them)")
    if not include_pii and found.rows.column("borrower_name").null_count < total:
        click.echo("borrower names masked; --include-pii shows them")
    if out is not None:
        try:
            path = export_trail(found, out)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--out") from None
        click.echo(f"wrote {total} lines with their lineage to {path}")
