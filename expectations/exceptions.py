"""The exceptions table: every break a reconciliation check finds, with a life of its own.

An exception's id is a hash of (check, date, entity), so the same break seen by two runs is one row. A break that is
gone on re-evaluation is resolved by the run that no longer sees it; one that comes back is reopened. Acknowledgement
(who, why) survives re-evaluation. A person may resolve an exception by hand (who, why: the break is understood and
dealt with outside the data); if a later run still finds the break, it is reopened, the manual resolution kept on
the row for the record. Amounts are carried as exact decimal strings, never floats.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd

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
alter table {TABLE} add column if not exists resolved_by varchar;
alter table {TABLE} add column if not exists resolved_reason varchar;
"""
# `resolved_by_run` of an exception a person resolved
MANUAL_RESOLUTION = "manual"


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


# The columns of a Break, in order: what a check's failing rows carry into the table.
BREAK_COLUMNS = ["check_id", "check_date", "entity_key", "severity", "expected", "actual", "difference", "tolerance",
                 "description", "lineage", "cutoffs"]
# exception_id() in SQL: the same 16 hex digits (sha256 of the UTF-8 text), so a break found by either is one row.
EXCEPTION_ID_SQL = "substr(sha256(check_id || '|' || strftime(check_date, '%Y-%m-%d') || '|' || entity_key), 1, 16)"


def breaks_frame(breaks: list[Break]) -> pd.DataFrame:
    return pd.DataFrame([[getattr(b, c) for c in BREAK_COLUMNS] for b in breaks], columns=BREAK_COLUMNS)


def record_evaluation(
    con: duckdb.DuckDBPyConnection,
    check_id: str,
    days: list[date],
    breaks: pd.DataFrame | list[Break],
    run_id: str,
) -> dict[str, int]:
    """Upsert the breaks a check found over `days`; resolve that check's earlier breaks on those days that are gone.

    Set-based: a window of a year can hold tens of thousands of breaks (a dark GPU is one a day), and a statement
    per break would make the checks cost more than the ledger. A break found twice in one evaluation is one
    exception (the last found wins, as a second evaluation would)."""
    ensure_table(con)
    frame = breaks if isinstance(breaks, pd.DataFrame) else breaks_frame(breaks)
    frame = frame[BREAK_COLUMNS].assign(found_order=range(len(frame)))
    con.execute("begin transaction")
    try:
        con.register("found_breaks", frame)
        con.execute(f"""
            create or replace temp table incoming_breaks as
            select {EXCEPTION_ID_SQL} as exception_id, check_id, cast(check_date as date) as check_date, entity_key,
                   severity, expected, actual, difference, tolerance, description, lineage,
                   coalesce(cutoffs, '') as cutoffs
            from found_breaks
            qualify row_number() over (partition by exception_id order by found_order desc) = 1""")
        con.unregister("found_breaks")
        opened, still_open, reopened = con.execute(f"""
            select count(*) filter (where t.exception_id is null),
                   count(*) filter (where t.status != 'resolved'),
                   count(*) filter (where t.status = 'resolved')
            from incoming_breaks i left join {TABLE} t using (exception_id)""").fetchone()
        con.execute(f"""
            update {TABLE} as t set severity = i.severity, expected = i.expected, actual = i.actual,
                difference = i.difference, tolerance = i.tolerance, description = i.description, lineage = i.lineage,
                cutoffs = i.cutoffs, last_seen_run = $run_id,
                status = case when t.status = 'resolved' then 'open' else t.status end,
                resolved_by_run = case when t.status = 'resolved' then null else t.resolved_by_run end
            from incoming_breaks i where t.exception_id = i.exception_id""", {"run_id": run_id})
        con.execute(f"""
            insert into {TABLE} (exception_id, check_id, check_date, entity_key, severity, status, expected, actual,
                                 difference, tolerance, description, lineage, cutoffs, first_seen_run, last_seen_run)
            select exception_id, check_id, check_date, entity_key, severity, 'open', expected, actual, difference,
                   tolerance, description, lineage, cutoffs, $run_id, $run_id
            from incoming_breaks i where not exists (select 1 from {TABLE} t where t.exception_id = i.exception_id)
            order by check_date, check_id, entity_key""", {"run_id": run_id})
        resolved = 0 if not days else con.execute(f"""
            update {TABLE} as t set status = 'resolved', resolved_by_run = $run_id
            where t.check_id = $check_id and t.status != 'resolved' and t.check_date in (select unnest($days))
              and not exists (select 1 from incoming_breaks i where i.exception_id = t.exception_id)""",
            {"run_id": run_id, "check_id": check_id, "days": list(days)}).fetchone()[0]
        con.execute("drop table incoming_breaks")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return {"opened": opened, "still_open": still_open, "reopened": reopened, "resolved": resolved}


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
# How long an exception has been there (days from its check date to today): the buckets a controller reviews by.
AGE_BUCKETS = {"0-1": (0, 1), "2-7": (2, 7), "8-30": (8, 30), "30+": (31, None)}


def _table_exists(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = 'exceptions'", [SCHEMA]
    ).fetchone()[0])


def list_exceptions(con: duckdb.DuckDBPyConnection, on: date | None = None, status: str | None = None,
                    severity: str | None = None, check_id: str | None = None, age: str | None = None,
                    today: date | None = None) -> list[dict]:
    """Exceptions filtered by day, status ('all' for every status), severity, check and age bucket (AGE_BUCKETS,
    days from the check date to `today`); every filter a bound parameter. Each row carries its `age_days`."""
    if not _table_exists(con):
        return []
    today = today or date.today()
    sql = f"select *, datediff('day', check_date, cast($today as date)) as age_days from {TABLE} where true"
    params: dict = {"today": today}
    if age is not None:
        low, high = AGE_BUCKETS[age]
        sql += " and datediff('day', check_date, cast($today as date)) >= $low"
        params["low"] = low
        if high is not None:
            sql += " and datediff('day', check_date, cast($today as date)) <= $high"
            params["high"] = high
    for column, value in (("check_date", on), ("severity", severity), ("check_id", check_id)):
        if value is not None:
            sql += f" and {column} = ${column}"
            params[column] = value
    if status and status != "all":
        sql += " and status = $status"
        params["status"] = status
    cur = con.execute(sql + " order by check_date, check_id, entity_key", params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def get_exception(con: duckdb.DuckDBPyConnection, exception_id: str) -> dict | None:
    if not _table_exists(con):
        return None
    cur = con.execute(f"select * from {TABLE} where exception_id = ?", [exception_id])
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row)) if row else None


def _decision_on(con: duckdb.DuckDBPyConnection, exception_id: str, by: str, reason: str, doing: str) -> dict:
    """The exception a person acknowledges or resolves, once their name and reason are given and it exists."""
    if not by.strip() or not reason.strip():
        raise ValueError(f"{doing} needs a name (--by) and a reason (--reason)")
    current = get_exception(con, exception_id)
    if current is None:
        raise KeyError(f"no exception {exception_id}")
    return current


def acknowledge(con: duckdb.DuckDBPyConnection, exception_id: str, by: str, reason: str) -> dict:
    """open → acknowledged, with who and why. A resolved exception can't be acknowledged; the reason is required."""
    current = _decision_on(con, exception_id, by, reason, "acknowledging")
    if current["status"] == "resolved":
        raise ValueError(f"exception {exception_id} is resolved (by run {current['resolved_by_run']}); nothing to acknowledge")
    con.execute(f"update {TABLE} set status = 'acknowledged', acknowledged_by = ?, acknowledged_reason = ? "
                "where exception_id = ?", [by.strip(), reason.strip(), exception_id])
    return get_exception(con, exception_id)


def resolve(con: duckdb.DuckDBPyConnection, exception_id: str, by: str, reason: str) -> dict:
    """open or acknowledged → resolved by a person, with who and why; a later run that still finds the break reopens
    it (record_evaluation). The reason is required."""
    current = _decision_on(con, exception_id, by, reason, "resolving")
    if current["status"] == "resolved":
        who = current.get("resolved_by") or f"run {current['resolved_by_run']}"
        raise ValueError(f"exception {exception_id} is already resolved (by {who})")
    ensure_table(con)  # a warehouse from before manual resolution gains its columns
    con.execute(f"update {TABLE} set status = 'resolved', resolved_by_run = ?, resolved_by = ?, resolved_reason = ? "
                "where exception_id = ?", [MANUAL_RESOLUTION, by.strip(), reason.strip(), exception_id])
    return get_exception(con, exception_id)
