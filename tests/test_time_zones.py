"""Statements stamped in the custodian's own time zone near midnight, across daylight-saving changes, and files dated
in the future: each statement goes to the business day the custodian gave it (its date as written, in its own zone),
its cut-off kept as the UTC moment; a statement dated after the day it arrived is refused, not booked early.

New York changed to daylight time at 02:00 on 8 March 2026 (UTC-5 → UTC-4) and back at 02:00 on 1 November 2026;
Tokyo keeps UTC+9. The times are those a custodian's end-of-day statement run carries, from the writers the sandbox
uses (sandbox/file_drops.py) with their UTC stamps replaced, as a custodian in that zone writes them."""
from datetime import date, datetime

import pytest

from assets.custodian.statements import ingest_custodian_day
from assets.inbox.intake import take_in_inbox
from assets.inbox.register import REJECTED, ROUTED
from custodian_day import STATEMENT_ROWS
from foundation.lake import Lake
from sandbox.file_drops import write_cash_statement, write_holdings_statement

# (business day, the custodian's stamp, the same moment in UTC)
STAMPS = [
    (date(2026, 3, 7), "2026-03-07T23:30:00-05:00", datetime(2026, 3, 8, 4, 30)),  # the last evening on EST
    (date(2026, 3, 8), "2026-03-08T23:30:00-04:00", datetime(2026, 3, 9, 3, 30)),  # the first on EDT
    (date(2026, 10, 31), "2026-10-31T23:59:59-04:00", datetime(2026, 11, 1, 3, 59, 59)),
    (date(2026, 11, 1), "2026-11-01T01:30:00-04:00", datetime(2026, 11, 1, 5, 30)),  # 01:30 happens twice that night:
    (date(2026, 11, 1), "2026-11-01T01:30:00-05:00", datetime(2026, 11, 1, 6, 30)),  # the offset tells them apart
    (date(2026, 3, 9), "2026-03-09T00:30:00+09:00", datetime(2026, 3, 8, 15, 30)),   # Tokyo, just after its midnight
]


def stamped(text: str, day: date, stamp: str) -> str:
    """The writer's UTC stamps of `day` replaced by the custodian's local ones (the period's start too)."""
    return (text.replace(f"{day.isoformat()}T23:59:59Z", stamp)
            .replace(f"{day.isoformat()}T00:00:00Z", f"{day.isoformat()}T00:00:00{stamp[-6:]}"))


@pytest.mark.parametrize("write", [write_holdings_statement, write_cash_statement], ids=["semt.002", "camt.053"])
@pytest.mark.parametrize(("day", "stamp", "utc"), STAMPS, ids=[s for _, s, _ in STAMPS])
def test_a_statement_goes_to_the_custodians_business_day_with_its_cut_off_in_utc(tmp_path, write, day, stamp, utc):
    lake = Lake(tmp_path / "home")
    path = lake.home.inbox / "statement.xml"
    write(path, day, "ACC-1", STATEMENT_ROWS)
    path.write_text(stamped(path.read_text(), day, stamp))
    (result,) = take_in_inbox(lake, clock=lambda: datetime(2026, 11, 2, 12))
    assert (result.status, result.partition) == (ROUTED, day)
    (summary,) = ingest_custodian_day(day, lake)
    assert summary.rows_quarantined == 0 and summary.rows_accepted == summary.rows_in > 0
    rows = lake.read_table("custodian_statements", day).to_pylist()
    assert {row["statement_date"] for row in rows} == {day}
    assert {row["cut_off_time"] for row in rows} == {utc}


@pytest.mark.bad_input
def test_a_statement_dated_after_the_day_it_arrived_is_refused_not_booked_early(tmp_path):
    """A custodian whose clock runs a day ahead: its statement of tomorrow arrives today."""
    lake = Lake(tmp_path / "home")
    path = lake.home.inbox / "holdings.xml"
    write_holdings_statement(path, date(2026, 3, 9), "ACC-1", STATEMENT_ROWS)
    path.write_text(stamped(path.read_text(), date(2026, 3, 9), "2026-03-09T18:00:00-04:00"))
    (result,) = take_in_inbox(lake, clock=lambda: datetime(2026, 3, 8, 23, 0))
    assert (result.status, result.recognition.problem) == (REJECTED, "future_date")
    assert "as of 2026-03-09, after the day it was received" in result.recognition.detail
    assert lake.partition_days("custodian_statements") == []
