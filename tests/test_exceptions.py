"""The exceptions table's life cycle on a real DuckDB: one row per break, resolved when gone, reopened when back."""
from datetime import date

import duckdb

from expectations.exceptions import BLOCKER, TABLE, Break, open_exceptions, record_evaluation

D1, D2 = date(2026, 1, 1), date(2026, 1, 2)


def _break(day: date, difference: str = "250000") -> Break:
    return Break(check_id="R1", check_date=day, entity_key="usdai:deposit_events", severity=BLOCKER, expected="1",
                 actual="0", difference=difference, tolerance="0", description="d", lineage="l")


def test_a_break_seen_twice_is_one_exception_and_resolves_when_gone():
    con = duckdb.connect()
    first = record_evaluation(con, "R1", [D1, D2], [_break(D2)], "run-1")
    assert first["opened"] == 1
    second = record_evaluation(con, "R1", [D2], [_break(D2, "250001")], "run-2")
    assert second == {"opened": 0, "still_open": 1, "reopened": 0, "resolved": 0}
    rows = con.execute(f"select status, difference, first_seen_run, last_seen_run from {TABLE}").fetchall()
    assert rows == [("open", "250001", "run-1", "run-2")]

    con.execute(f"update {TABLE} set status = 'acknowledged', acknowledged_by = 'ana', acknowledged_reason = 'why'")
    record_evaluation(con, "R1", [D2], [_break(D2)], "run-3")
    assert con.execute(f"select status, acknowledged_by from {TABLE}").fetchone() == ("acknowledged", "ana")

    gone = record_evaluation(con, "R1", [D2], [], "run-4")
    assert gone["resolved"] == 1
    assert con.execute(f"select status, resolved_by_run from {TABLE}").fetchone() == ("resolved", "run-4")
    assert open_exceptions(con, on=D2) == []

    back = record_evaluation(con, "R1", [D2], [_break(D2)], "run-5")
    assert back["reopened"] == 1
    assert [e["status"] for e in open_exceptions(con, on=D2)] == ["open"]


def test_evaluating_other_days_leaves_a_break_alone():
    con = duckdb.connect()
    record_evaluation(con, "R1", [D2], [_break(D2)], "run-1")
    record_evaluation(con, "R1", [D1], [], "run-2")
    record_evaluation(con, "R4", [D2], [], "run-3")
    assert [e["check_date"] for e in open_exceptions(con)] == [D2]


def test_the_warehouse_keys_a_break_as_exception_id_does():
    con = duckdb.connect()
    breaks = [Break(check_id="R7", check_date=D1, entity_key=key, severity=BLOCKER, expected="1", actual="0",
                    difference="1", tolerance="0", description="d", lineage="l")
              for key in ("gpu:1000000000001", "lender:Zoë Ünal|x", "emoji:\U0001F4B8")]
    record_evaluation(con, "R7", [D1], breaks, "run-1")
    stored = {row[0] for row in con.execute(f"select exception_id from {TABLE}").fetchall()}
    assert stored == {b.exception_id for b in breaks}


def test_a_break_found_twice_in_one_evaluation_is_one_exception_with_the_last_values():
    con = duckdb.connect()
    counts = record_evaluation(con, "R1", [D2], [_break(D2, "1"), _break(D2, "2")], "run-1")
    assert counts == {"opened": 1, "still_open": 0, "reopened": 0, "resolved": 0}
    assert con.execute(f"select difference from {TABLE}").fetchall() == [("2",)]


def test_a_window_of_many_breaks_is_recorded_and_resolved_as_a_set():
    con = duckdb.connect()
    days = [date(2026, 1, 1 + i) for i in range(30)]
    breaks = [Break(check_id="R7", check_date=day, entity_key=f"gpu:{n}", severity="warn", expected="1440",
                    actual="0", difference="1440", tolerance="720", description="dark", lineage="l")
              for day in days for n in range(500)]
    assert record_evaluation(con, "R7", days, breaks, "run-1")["opened"] == 15_000
    # A re-evaluation of the last ten days where half the GPUs came back.
    back = [b for b in breaks if b.check_date >= days[20] and int(b.entity_key[4:]) % 2 == 0]
    counts = record_evaluation(con, "R7", days[20:], back, "run-2")
    assert counts == {"opened": 0, "still_open": 2_500, "reopened": 0, "resolved": 2_500}
    assert con.execute(f"select count(*) from {TABLE} where status = 'open'").fetchone()[0] == 12_500


def test_a_manual_resolution_keeps_who_and_why_and_a_break_still_found_reopens_it():
    from expectations.exceptions import list_exceptions, resolve

    con = duckdb.connect()
    record_evaluation(con, "R1", [D2], [_break(D2)], "run-1")
    (row,) = list_exceptions(con, status="all", today=date(2026, 1, 12))
    assert (row["status"], row["age_days"]) == ("open", 10)
    resolved = resolve(con, row["exception_id"], "A. Controller", "cash confirmed by the bank")
    assert (resolved["status"], resolved["resolved_by"], resolved["resolved_reason"], resolved["resolved_by_run"]) == (
        "resolved", "A. Controller", "cash confirmed by the bank", "manual")
    assert open_exceptions(con, on=D2) == []
    again = record_evaluation(con, "R1", [D2], [_break(D2)], "run-2")
    assert again["reopened"] == 1
    (row,) = list_exceptions(con, status="all")
    assert (row["status"], row["resolved_by"], row["resolved_reason"]) == (
        "open", "A. Controller", "cash confirmed by the bank")  # the record of the manual resolution is kept


def test_exceptions_are_listed_by_age_bucket():
    from expectations.exceptions import list_exceptions

    con = duckdb.connect()
    record_evaluation(con, "R1", [D1, D2], [_break(D1), _break(D2)], "run-1")
    ages = {bucket: [r["check_date"] for r in list_exceptions(con, age=bucket, today=date(2026, 1, 9))]
            for bucket in ("0-1", "2-7", "8-30", "30+")}
    assert ages == {"0-1": [], "2-7": [D2], "8-30": [D1], "30+": []}
