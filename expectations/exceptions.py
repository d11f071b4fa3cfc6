"""The exceptions table: every break a reconciliation check finds, with a life of its own.

An exception's id is a hash of (check, date, entity), so the same break seen by two runs is one row. A break that is
gone on re-evaluation is resolved by the run that no longer sees it; one that comes back is reopened. Acknowledgement
(who, why) survives re-evaluation. Amounts are carried as exact decimal strings, never floats.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

import duckdb

SCHEMA = "recon"
TABLE = f"{SCHEMA}.exceptions"

BLOCKER = "blocker"
WARN = "warn"

DDL = f"""
create schema if not exists {SCHEMA};
create table if not exists {TABLE} (
    exception_id varchar primary key,
    check_id varchar not null,
    check_date date not null,
    entity_key varchar not null,
    severity varchar not null,
    status varchar not null,
    expected varchar,
    actual varchar,
    difference varchar,
    tolerance varchar,
    description varchar,
    lineage varchar,
    cutoffs varchar,
    first_seen_run varchar,
    last_seen_run varchar,
    resolved_by_run varchar,
    acknowledged_by varchar,
    acknowledged_reason varchar
);
alter table {TABLE} add column if not exists cutoffs varchar;
"""


@dataclass(frozen=True)
class Break:
    """One failed comparison of a check on one day for one entity."""

    check_id: str
    check_date: date
    entity_key: str
    severity: str
    expected: str
    actual: str
    difference: str
    tolerance: str
    description: str
    lineage: str
    cutoffs: str = ""

    @property
    def exception_id(self) -> str:
        return exception_id(self.check_id, self.check_date, self.entity_key)


def exception_id(check_id: str, check_date: date, entity_key: str) -> str:
    return hashlib.sha256(f"{check_id}|{check_date.isoformat()}|{entity_key}".encode()).hexdigest()[:16]


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


def record_evaluation(
    con: duckdb.DuckDBPyConnection,
    check_id: str,
    days: list[date],
    breaks: list[Break],
    run_id: str,
) -> dict[str, int]:
    """Upsert the breaks a check found over `days`; resolve that check's earlier breaks on those days that are gone."""
    ensure_table(con)
    seen = {b.exception_id for b in breaks}
    counts = {"opened": 0, "still_open": 0, "reopened": 0, "resolved": 0}
    con.execute("begin transaction")
    try:
        for b in breaks:
            row = con.execute(f"select status from {TABLE} where exception_id = ?", [b.exception_id]).fetchone()
            if row is None:
                con.execute(
                    f"""insert into {TABLE} (exception_id, check_id, check_date, entity_key, severity, status, expected,
                        actual, difference, tolerance, description, lineage, cutoffs, first_seen_run, last_seen_run)
                        values (?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    [b.exception_id, b.check_id, b.check_date, b.entity_key, b.severity, b.expected, b.actual,
                     b.difference, b.tolerance, b.description, b.lineage, b.cutoffs, run_id, run_id],
                )
                counts["opened"] += 1
            else:
                reopened = row[0] == "resolved"
                con.execute(
                    f"""update {TABLE} set severity = ?, expected = ?, actual = ?, difference = ?, tolerance = ?,
                        description = ?, lineage = ?, cutoffs = ?, last_seen_run = ?,
                        status = case when status = 'resolved' then 'open' else status end,
                        resolved_by_run = case when status = 'resolved' then null else resolved_by_run end
                        where exception_id = ?""",
                    [b.severity, b.expected, b.actual, b.difference, b.tolerance, b.description, b.lineage, b.cutoffs,
                     run_id, b.exception_id],
                )
                counts["reopened" if reopened else "still_open"] += 1
        if days:
            placeholders = ", ".join("?" for _ in days)
            stale = con.execute(
                f"""select exception_id from {TABLE} where check_id = ? and status != 'resolved'
                    and check_date in ({placeholders})""",
                [check_id, *days],
            ).fetchall()
            for (eid,) in stale:
                if eid not in seen:
                    con.execute(
                        f"update {TABLE} set status = 'resolved', resolved_by_run = ? where exception_id = ?",
                        [run_id, eid],
                    )
                    counts["resolved"] += 1
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return counts


def open_exceptions(con: duckdb.DuckDBPyConnection, on: date | None = None, severity: str | None = None) -> list[dict]:
    """Open and acknowledged (not yet resolved) exceptions, optionally for one day and severity.

    Works on a read-only connection: no table yet means no check has run, so nothing is open.
    """
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = 'exceptions'", [SCHEMA]
    ).fetchone()[0]
    if not exists:
        return []
    sql = f"select * from {TABLE} where status != 'resolved'"
    params: list = []
    if on is not None:
        sql += " and check_date = ?"
        params.append(on)
    if severity is not None:
        sql += " and severity = ?"
        params.append(severity)
    sql += " order by check_date, check_id, entity_key"
    cur = con.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


STATUSES = ("open", "acknowledged", "resolved")


def _table_exists(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = 'exceptions'", [SCHEMA]
    ).fetchone()[0])


def list_exceptions(con: duckdb.DuckDBPyConnection, on: date | None = None, status: str | None = None,
                    severity: str | None = None, check_id: str | None = None) -> list[dict]:
    """Exceptions filtered by day, status ('all' for every status), severity and check; every filter a bound parameter."""
    if not _table_exists(con):
        return []
    sql = f"select * from {TABLE} where true"
    params: list = []
    for column, value in (("check_date", on), ("severity", severity), ("check_id", check_id)):
        if value is not None:
            sql += f" and {column} = ?"
            params.append(value)
    if status and status != "all":
        sql += " and status = ?"
        params.append(status)
    cur = con.execute(sql + " order by check_date, check_id, entity_key", params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def get_exception(con: duckdb.DuckDBPyConnection, exception_id: str) -> dict | None:
    if not _table_exists(con):
        return None
    cur = con.execute(f"select * from {TABLE} where exception_id = ?", [exception_id])
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row)) if row else None


def acknowledge(con: duckdb.DuckDBPyConnection, exception_id: str, by: str, reason: str) -> dict:
    """open → acknowledged, with who and why. A resolved exception can't be acknowledged; the reason is required."""
    if not by.strip() or not reason.strip():
        raise ValueError("acknowledging needs a name (--by) and a reason (--reason)")
    current = get_exception(con, exception_id)
    if current is None:
        raise KeyError(f"no exception {exception_id}")
    if current["status"] == "resolved":
        raise ValueError(f"exception {exception_id} is resolved (by run {current['resolved_by_run']}); nothing to acknowledge")
    con.execute(f"update {TABLE} set status = 'acknowledged', acknowledged_by = ?, acknowledged_reason = ? "
                "where exception_id = ?", [by.strip(), reason.strip(), exception_id])
    return get_exception(con, exception_id)
