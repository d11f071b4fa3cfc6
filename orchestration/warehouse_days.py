"""Which days the warehouse holds, asked before a command starts anything: a day outside them is refused with the
range, not run into an empty answer."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from foundation.home import DataHome
from foundation.warehouse import damaged

# The relations a command's days must fall in: an attestation needs the day's coverage, a trail its journal.
COVERAGE, JOURNAL = "main.reserve_coverage", "main.journal_lines"


def built_days(home: Path, relation: str = COVERAGE) -> tuple[date, date] | None:
    """The first and last day `relation` has rows for; None when the warehouse or the relation is not there."""
    if relation not in (COVERAGE, JOURNAL):
        raise ValueError(f"not a relation of days: {relation}")
    warehouse = DataHome(home).warehouse
    if not warehouse.exists():
        return None
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            first, last = con.execute(f"select min(partition_date), max(partition_date) from {relation}").fetchone()
    except duckdb.Error as error:
        if damaged(error):  # not "nothing built yet": the file itself needs mending, and the error says how
            raise
        return None
    return (first, last) if first is not None else None
