"""`backed sql "select ..."` and `backed sql --shell`: queries on the read-only snapshot (assets/snapshot.py), never on
the warehouse the pipeline writes."""
from __future__ import annotations

import sys

import click

from orchestration.cli.console import console_of
from orchestration.cli.parameters import data_home

FORMATS = ("table", "csv", "json")


def _connect(ctx: click.Context):
    import duckdb

    from assets.snapshot import SnapshotUnavailable, read_manifest

    home = data_home(ctx)
    try:
        manifest = read_manifest(home)
    except SnapshotUnavailable as error:
        raise click.ClickException(str(error)) from None
    try:
        return duckdb.connect(str(home.snapshot_database), read_only=True), manifest
    except duckdb.Error as error:
        first = str(error).strip().splitlines()[0]
        raise click.ClickException(
            f"cannot open the snapshot {home.snapshot_database}: {first} (a tool holding it open read-write "
            "blocks other readers until the next publication; open it read-only)") from None


def _run(con, query: str, output_format: str, out=None) -> None:
    import duckdb

    out = out or sys.stdout
    try:
        relation = con.sql(query)
    except duckdb.Error as error:
        raise click.ClickException(f"the query failed: {str(error).strip().splitlines()[0]}") from None
    if relation is None:  # a statement with no result (SET, PRAGMA)
        return
    if output_format == "table":
        columns = relation.columns
        rows = relation.fetchall()
        click.echo(_table(columns, rows), file=out)
        click.echo(f"({len(rows)} row{'s' if len(rows) != 1 else ''})", file=out)
    elif output_format == "csv":
        import csv

        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(relation.columns)
        writer.writerows([["" if value is None else str(value) for value in row] for row in relation.fetchall()])
    else:
        import json

        columns = relation.columns
        for row in relation.fetchall():
            # every value as text: DECIMAL money stays exact, dates stay ISO
            click.echo(json.dumps({c: None if v is None else str(v) for c, v in zip(columns, row)}), file=out)


def _table(columns: list[str], rows: list[tuple]) -> str:
    texts = [["NULL" if value is None else str(value) for value in row] for row in rows]
    widths = [max([len(column), *(len(row[i]) for row in texts)]) for i, column in enumerate(columns)]
    line = "  ".join(column.ljust(width) for column, width in zip(columns, widths))
    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line, rule, *("  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in texts)])


@click.command("sql")
@click.argument("query", required=False)
@click.option("--shell", is_flag=True, help="Read statements from the terminal until `.quit` or end of input.")
@click.option("--format", "output_format", type=click.Choice(FORMATS), default="table", show_default=True,
              help="How results are printed.")
@click.pass_context
def sql(ctx: click.Context, query: str | None, shell: bool, output_format: str) -> None:
    """Query the published snapshot (snapshot/ledger.duckdb, read-only): the journal, its hash chain, the trial
    balance, the balance sheet, the income statement, loan positions, reserve coverage and the exceptions, as the
    last successful run left them. `snapshot_info` says through which day and chain hash. Money prints exactly."""
    if (query is None) == (not shell):
        raise click.UsageError("give one query (`backed sql \"select ...\"`) or --shell")
    con, manifest = _connect(ctx)
    with con:
        if not shell:
            _run(con, query, output_format)
            return
        console = console_of(ctx)
        console.say(f"snapshot {manifest['snapshot_id'][:12]} published {manifest['published_at']}, ledger through "
                    f"{manifest['ledger_through']}; tables: {', '.join(sorted(manifest['tables']))}, snapshot_info. "
                    "End a statement with `;`, `.quit` leaves.")
        _shell(con, output_format, console)


def _shell(con, output_format: str, console) -> None:
    interactive = sys.stdin.isatty()
    pending: list[str] = []
    while True:
        try:
            line = input("backed> " if not pending else "   ...> ") if interactive else sys.stdin.readline()
        except EOFError:
            break
        if not interactive and line == "":
            break
        if not line.strip() and not pending:
            continue
        if line.strip() in (".quit", ".exit"):
            break
        pending.append(line.rstrip("\n"))
        statement = "\n".join(pending).strip()
        if not statement.endswith(";"):
            continue
        pending = []
        try:
            _run(con, statement, output_format)
        except click.ClickException as error:
            console.say(f"Error: {error.format_message()}")
    if "\n".join(pending).strip():
        try:
            _run(con, "\n".join(pending), output_format)
        except click.ClickException as error:
            console.say(f"Error: {error.format_message()}")
