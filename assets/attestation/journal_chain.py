"""The journal's hash chain as its readers check it (the attestation, the seal, the monthly report, the
verification): journal_chain_recomputed read a calendar month of days per statement. Each statement digests its
days' lines with an ordered aggregate that holds their text until it ends: a year's in one statement took 34 s and
10.6 GB on the ledger bench's year (docs/performance.md), a month's about a twelfth of the memory."""
from __future__ import annotations

from datetime import date, timedelta

import duckdb


def chain_through(con: duckdb.DuckDBPyConnection, day: date) -> list[dict]:
    """Every row of journal_chain_recomputed from the ledger's first day through `day`, in day order."""
    first = con.execute("select min(partition_date) from main.journal_day_hashes").fetchone()[0]
    rows: list[dict] = []
    month = None if first is None else first.replace(day=1)
    while month is not None and month <= day:
        following = (month + timedelta(days=31)).replace(day=1)
        cursor = con.execute("select * from main.journal_chain_recomputed where partition_date >= ? and "
                             "partition_date < ? and partition_date <= ? order by partition_date",
                             [month, following, day])
        columns = [description[0] for description in cursor.description]
        rows += [dict(zip(columns, values)) for values in cursor.fetchall()]
        month = following
    return rows


def first_break(rows: list[dict]) -> tuple[dict, str] | None:
    """The first day whose journal no longer holds, and what broke: `lines` when its lines no longer hash (or count)
    to what the ledger's build stored, `chain` when the stored hash chain does not link at it (a stored hash was
    edited). None when every day holds: then each day's chain_hash is the chain recomputed from its lines."""
    for row in rows:
        if row["day_digest"] != row["stored_day_digest"] or row["line_count"] != row["stored_line_count"]:
            return row, "lines"
        if not row["chain_links"]:
            return row, "chain"
    return None
