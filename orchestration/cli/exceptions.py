"""`backed exceptions`: list, show, acknowledge and resolve reconciliation exceptions."""
from __future__ import annotations

import sys

import click
import duckdb

from expectations.exceptions import AGE_BUCKETS, STATUSES, acknowledge, get_exception, list_exceptions, resolve
from foundation.money import plain
from orchestration.cli.parameters import DAY, data_home


def _connect(ctx: click.Context, read_only: bool) -> duckdb.DuckDBPyConnection:
    warehouse = data_home(ctx).warehouse
    if not warehouse.exists():
        raise click.ClickException(f"no warehouse at {warehouse}: run the pipeline first (`backed demo` or a backfill)")
    try:
        return duckdb.connect(str(warehouse), read_only=read_only)
    except duckdb.IOException as exc:
        raise click.ClickException(f"the warehouse is busy (a dbt run holds it?): {exc}") from exc


@click.group("exceptions")
def exceptions_group() -> None:
    """Reconciliation exceptions: every break a check found, with its life (open → acknowledged → resolved).

    A run that no longer finds a break resolves it; one that finds it again reopens it, a manual resolution too.

    \b
    backed exceptions list --severity blocker --age 8-30
    backed exceptions show 3f2a9c1d0b7e4a65
    backed exceptions ack 3f2a9c1d0b7e4a65 --by "A. Controller" --reason "custodian re-issuing the statement"
    backed exceptions resolve 3f2a9c1d0b7e4a65 --by "A. Controller" --reason "cash confirmed by the bank"
    """


@exceptions_group.command("list")
@click.option("--date", "day", type=DAY, default=None, help="Only this day (YYYY-MM-DD).")
@click.option("--status", type=click.Choice([*STATUSES, "all"]), default=None,
              help="Default: open and acknowledged.")
@click.option("--severity", type=click.Choice(["blocker", "warn"]), default=None)
@click.option("--check", "check_id", default=None, help="A check id, e.g. R1.")
@click.option("--age", type=click.Choice(list(AGE_BUCKETS)), default=None,
              help="Days since the check date: 0-1, 2-7, 8-30 or 30+.")
@click.pass_context
def list_command(ctx: click.Context, day, status: str | None, severity: str | None,
                 check_id: str | None, age: str | None) -> None:
    """The exceptions, oldest first, with their age in days; open and acknowledged ones unless --status says.

    \b
    backed exceptions list
    backed exceptions list --date 2026-01-03 --check R1 --status all
    """
    with _connect(ctx, read_only=True) as con:
        rows = list_exceptions(con, on=day, status=status or "all", severity=severity, check_id=check_id, age=age)
    if status is None:
        rows = [r for r in rows if r["status"] != "resolved"]
    if not rows:
        click.echo("no exceptions")
        return
    header = ("id", "date", "age", "check", "severity", "status", "entity", "difference")
    body = [(r["exception_id"], str(r["check_date"]), f"{r['age_days']}d", r["check_id"], r["severity"], r["status"],
             r["entity_key"], plain(r["difference"]) if r["difference"] else "") for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    for line in (header, tuple("-" * w for w in widths), *body):
        click.echo("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())


@exceptions_group.command("show")
@click.argument("exception_id")
@click.pass_context
def show_command(ctx: click.Context, exception_id: str) -> None:
    """Every field of one exception: what was expected and found, the lineage, who acknowledged or resolved it.

    \b
    backed exceptions show 3f2a9c1d0b7e4a65
    """
    with _connect(ctx, read_only=True) as con:
        row = get_exception(con, exception_id)
    if row is None:
        click.echo(f"no exception {exception_id}", err=True)
        sys.exit(1)
    width = max(len(k) for k in row)
    for key, value in row.items():
        shown = plain(value) if key in ("expected", "actual", "difference") and value else value
        click.echo(f"{key.ljust(width)}  {'' if shown is None else shown}")


@exceptions_group.command("ack")
@click.argument("exception_id")
@click.option("--by", required=True, help="Who acknowledges.")
@click.option("--reason", required=True, help="Why: what was checked, what happens next.")
@click.pass_context
def ack_command(ctx: click.Context, exception_id: str, by: str, reason: str) -> None:
    """Acknowledge an open exception: someone has seen it and says what happens next. It stays until resolved.

    \b
    backed exceptions ack 3f2a9c1d0b7e4a65 --by "A. Controller" --reason "custodian re-issuing the statement"
    """
    row = _decide(ctx, acknowledge, exception_id, by, reason)
    click.echo(f"{row['exception_id']} acknowledged by {row['acknowledged_by']}: {row['acknowledged_reason']}")


@exceptions_group.command("resolve")
@click.argument("exception_id")
@click.option("--by", required=True, help="Who resolves.")
@click.option("--reason", required=True, help="Why the break is dealt with, e.g. what confirmed the figure.")
@click.pass_context
def resolve_command(ctx: click.Context, exception_id: str, by: str, reason: str) -> None:
    """Resolve an exception by hand, with who and why. If a later run still finds the break, it is reopened (a
    blocker then stops the day's attestation again); the manual resolution stays on the row.

    \b
    backed exceptions resolve 3f2a9c1d0b7e4a65 --by "A. Controller" --reason "cash confirmed by the bank"
    """
    row = _decide(ctx, resolve, exception_id, by, reason)
    click.echo(f"{row['exception_id']} resolved by {row['resolved_by']}: {row['resolved_reason']}")


def _decide(ctx: click.Context, decision, exception_id: str, by: str, reason: str) -> dict:
    """A person's decision on an exception (acknowledge, resolve), refused in one line when it cannot be taken."""
    with _connect(ctx, read_only=False) as con:
        try:
            return decision(con, exception_id, by, reason)
        except (KeyError, ValueError) as exc:
            raise click.ClickException(str(exc).strip("'\"")) from exc
