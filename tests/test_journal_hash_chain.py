"""The journal's hash chain (journal_day_hashes), recomputed here with hashlib from journal_lines following the
canonical line format docs/ledger.md states, without the dbt macros: every day's digest and chain hash equal, the
attestation quotes the recomputed one, and an edit of one character of one posted line changes that day's hash and
every later one. Reads the clean demo's warehouse."""
import hashlib
import os
import subprocess
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from assets.attestation.journal_chain import chain_through, first_break
from assets.ledger import DBT_PROJECT_DIR, DUCKDB_DBT, dbt_environment
from attestation_answers import read_printed
from foundation.home import DataHome

GENESIS = "0" * 64
# journal_lines' columns in the table's order: each line's canonical text joins them all (docs/ledger.md).
COLUMNS = ("entry_id", "line_no", "account_code", "sub_account", "debit", "credit", "effective_time",
           "partition_date", "source", "source_key", "rule_id", "revision", "reverses_entry_id",
           "supersedes_entry_id", "restatement_reason")


def column_text(value) -> str:
    """One value as the canonical line writes it (docs/ledger.md, journal_day_hashes)."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value.quantize(Decimal("1e-18")), "f")  # every one of the 18 decimals
    if isinstance(value, datetime):
        fraction = f"{value.microsecond:06d}".rstrip("0")
        return value.strftime("%Y-%m-%d %H:%M:%S") + (f".{fraction}" if fraction else "")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def line_text(line: dict) -> str:
    return "|".join(column_text(line[column]) for column in COLUMNS)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hash_chain(days: list[date], lines_by_day: dict[date, list[str]]) -> dict[date, tuple[int, str, str, str]]:
    """{day: (line count, day digest, previous chain hash, chain hash)} from each day's canonical lines, already in
    (entry_id, line_no) order."""
    chain, previous = {}, GENESIS
    for day in sorted(days):
        texts = lines_by_day.get(day, [])
        digest = sha256_hex("\n".join(texts))
        chain[day] = (len(texts), digest, previous, sha256_hex(previous + digest))
        previous = chain[day][3]
    return chain


def read_journal(home: Path) -> tuple[list[date], dict[date, list[str]], dict[date, tuple[int, str, str, str]]]:
    """(every ledger day, the day's canonical lines in (entry_id, line_no) order, the stored journal_day_hashes)."""
    with duckdb.connect(str(DataHome(home).warehouse), read_only=True) as con:
        cursor = con.execute(f"select {', '.join(COLUMNS)} from main.journal_lines")
        lines = [dict(zip(COLUMNS, row)) for row in cursor.fetchall()]
        stored = {day: (count, digest, previous, chain) for day, count, digest, previous, chain in con.execute(
            "select partition_date, line_count, day_digest, previous_chain_hash, chain_hash "
            "from main.journal_day_hashes").fetchall()}
    by_day = defaultdict(list)
    for line in sorted(lines, key=lambda line: (line["entry_id"], line["line_no"])):
        by_day[line["partition_date"]].append(line_text(line))
    return sorted(stored), dict(by_day), stored


@pytest.fixture(scope="module")
def journal(clean_demo):
    home, _ = clean_demo
    return read_journal(home)


def test_every_days_hash_recomputes_from_its_journal_lines(journal):
    days, lines_by_day, stored = journal
    assert set(lines_by_day) <= set(days) and len(days) >= 3
    assert hash_chain(days, lines_by_day) == stored


def test_the_attestation_quotes_the_chain_hash_recomputed_through_its_day(clean_demo, journal):
    _, result = clean_demo
    days, lines_by_day, _ = journal
    chain = hash_chain(days, lines_by_day)
    for day, path in result.attestations.items():
        quoted = dict(row[:2] for row in read_printed(path.read_text()).table("inputs", "what"))
        assert quoted["Ledger hash (the journal's hash chain at the day: every line of every day through it)"] \
            == chain[day][3], day


def test_a_one_character_edit_of_one_line_changes_its_days_hash_and_every_later_one(journal):
    days, lines_by_day, stored = journal
    edited_day = days[1]
    edited = {day: list(texts) for day, texts in lines_by_day.items()}
    fields = edited[edited_day][0].split("|")
    assert len(fields) == len(COLUMNS)
    credit = fields[COLUMNS.index("credit")]
    # the last digit of the line's credit: one unit in its 18th decimal place
    fields[COLUMNS.index("credit")] = credit[:-1] + str((int(credit[-1]) + 1) % 10)
    edited[edited_day][0] = "|".join(fields)
    recomputed = hash_chain(days, edited)
    assert {day for day in days if recomputed[day] != stored[day]} == {day for day in days if day >= edited_day}
    assert recomputed[days[0]] == stored[days[0]]


def test_days_of_several_months_hash_as_their_lines_say(clean_demo, tmp_path):
    """On DuckDB, journal_day_hashes digests its window a calendar month per statement (macro
    stage_journal_day_digests). The demo's three days of lines moved onto the last day of a year and the first and
    last days of later months, its chain days left without lines: every day of the rebuilt chain still recomputes
    from its lines, the empty ones from the empty string."""
    home, _ = clean_demo
    copy = DataHome(tmp_path / "home")
    copy.warehouse.parent.mkdir(parents=True, exist_ok=True)
    copy.warehouse.write_bytes(DataHome(home).warehouse.read_bytes())
    moved_to = [date(2025, 12, 31), date(2026, 2, 1), date(2026, 3, 31)]
    with duckdb.connect(str(copy.warehouse)) as con:
        demo_days = [day for (day,) in con.execute(
            "select distinct partition_date from main.journal_lines order by 1").fetchall()]
        assert len(demo_days) == len(moved_to)
        for day, moved in zip(demo_days, moved_to):
            con.execute("update main.journal_lines set partition_date = ? where partition_date = ?", [moved, day])
    environment = {**os.environ, **dbt_environment(copy), "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR)}
    built = subprocess.run([str(DUCKDB_DBT), "run", "--select", "journal_day_hashes",
                            "--full-refresh", "--project-dir", str(DBT_PROJECT_DIR),
                            "--target-path", str(tmp_path / "dbt_target"), "--log-path", str(tmp_path / "dbt_logs")],
                           env=environment, capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout[-3000:]
    days, lines_by_day, stored = read_journal(copy.root)
    assert set(lines_by_day) == set(moved_to) and set(days) == set(moved_to) | set(demo_days)
    assert hash_chain(days, lines_by_day) == stored


def test_a_stored_hash_edited_breaks_the_chain_where_it_was_edited(clean_demo, tmp_path):
    """The readers take journal_chain_recomputed a month at a time, each day checked against its own lines and the
    stored chain of the day before (assets/attestation/journal_chain.py): every day of the demo holds and carries
    the hashlib chain; a stored chain hash edited in the warehouse is a `chain` break at its day, an edited line a
    `lines` break at its day."""
    home, _ = clean_demo
    copy = DataHome(tmp_path / "home")
    copy.warehouse.parent.mkdir(parents=True, exist_ok=True)
    copy.warehouse.write_bytes(DataHome(home).warehouse.read_bytes())
    days, lines_by_day, _ = read_journal(copy.root)
    with duckdb.connect(str(copy.warehouse)) as con:
        rows = chain_through(con, days[-1])
        assert [row["partition_date"] for row in rows] == days and first_break(rows) is None
        assert {row["partition_date"]: row["chain_hash"] for row in rows} == \
            {day: chained[3] for day, chained in hash_chain(days, lines_by_day).items()}
        con.execute("update main.journal_day_hashes set chain_hash = ? where partition_date = ?",
                    [sha256_hex("forged"), days[1]])
        row, what = first_break(chain_through(con, days[-1]))
        assert (row["partition_date"], what) == (days[1], "chain")
        con.execute("update main.journal_lines set source_key = source_key || 'x' where entry_id = "
                    "(select min(entry_id) from main.journal_lines where partition_date = ?)", [days[0]])
        row, what = first_break(chain_through(con, days[-1]))
        assert (row["partition_date"], what) == (days[0], "lines")
