"""The dbt project on a hand-postable lake (tests/ledger_fixtures.py): real `dbt seed` and `dbt build` on DuckDB.

The expected balances below were posted by hand from the fixture's story, rule by rule of docs/ledger.md;
balances are debits minus credits (liabilities, equity and income close negative).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from assets.lake import SCHEMAS
from tests.ledger_fixtures import (
    BASE_TOKEN, CUSIP, DAY_1, DAY_2, LOAN_1, LOAN_2, LOAN_ROUTER, USDAI, USDC, build_ledger_lake, chain_address_book,
    tx_hash,
)

REPO = Path(__file__).resolve().parent.parent
PROJECT_DIR = REPO / "dbt_project"
DBT = Path(sys.executable).parent / "dbt"

MARTS = ("journal_lines", "trial_balance", "reserve_coverage", "usdai_supply_reconciliation")

CLOSING_DAY_1 = {
    "1000": "1.5",                       # 150 sent to the custodian - 148.50 T-bill cost
    "1010": "148.5",
    "1020": "505",                       # PYUSD@USDai 1000 - 350 - 150; USDC@router 350 - 245 - 100
    "1100": "350",                       # L1 250 + L2 100
    "1110": "0.095890410958904110",      # 0.068493150684931507 + 0.027397260273972603
    "1190": "0",
    "2000": "-400",                      # minted 1000 to Alice, 600 staked into the vault
    "2100": "-604.586301369863013699",   # 600 staked + the day's yield
    "2110": "0",
    "3000": "0",
    "4000": "-0.095890410958904110",
    "4010": "0",                         # bought at 148.50, marked at 148.50
    "4020": "-5",                        # L1's origination fee
    "4030": "0",
    "5000": "0",
    "5010": "4.586301369863013699",      # (5 + 0.095890410958904110) x 0.9
}

CLOSING_DAY_2 = {
    "1000": "1.5",
    "1010": "148.52",                    # marked to 148.52
    "1020": "545.068493",                # 505 - 100 burn + 50.068493 repaid + 90 liquidation proceeds
    "1100": "200",                       # 350 - 50 repaid - 100 liquidated
    "1110": "0.054794671232876712",      # 0.095890410958904110 - 0.068493 - 0.027397260273972603 + 0.054794520547945205
    "1190": "0",
    "2000": "-450",                      # -400 + 100 burnt - 100 claimed - 50 unbacked
    "2100": "-504.653616438356164384",   # -604.586301369863013699 + 100 serviced - 0.067315068493150685
    "2110": "0",                         # 100 serviced, 100 claimed
    "3000": "50",                        # the unbacked mint
    "4000": "-0.150684931506849315",     # + 0.054794520547945205
    "4010": "-0.02",                     # 148.52 - 148.50
    "4020": "-5",
    "4030": "0",
    "5000": "10.027397260273972603",     # L2: 100 principal + 0.027397260273972603 interest - 90 proceeds
    "5010": "4.653616438356164384",      # + (0.054794520547945205 + 0.02) x 0.9, rounded half up at 18 places
}


def run_dbt(home: Path, *args: str) -> str:
    env = {**os.environ, "BACKED_HOME": str(home), "DBT_PROFILES_DIR": str(PROJECT_DIR)}
    command = [
        str(DBT), *args, "--project-dir", str(PROJECT_DIR),
        "--target-path", str(home / "dbt_target"), "--log-path", str(home / "dbt_logs"),
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def build_window(home: Path, first: str, last: str) -> str:
    return run_dbt(home, "build", "--vars", json.dumps({"min_date": first, "max_date": last}))


@dataclass(frozen=True)
class Warehouse:
    """The marts' rows, read after a dbt run (the database is closed again before the next one)."""

    rows: dict[str, list[tuple]]

    @classmethod
    def read(cls, home: Path) -> Warehouse:
        with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
            return cls({mart: sorted(con.execute(f"select * from main.{mart}").fetchall(), key=repr)
                        for mart in MARTS})

    def closing_balances(self, day) -> dict[str, Decimal]:
        # trial_balance columns: partition_date, account_code, name, type, normal balance, debits, credits, closing
        return {row[1]: row[7] for row in self.rows["trial_balance"] if row[0] == day}

    def days(self, mart: str) -> set:
        date_column = 7 if mart == "journal_lines" else 0
        return {row[date_column] for row in self.rows[mart]}


@dataclass(frozen=True)
class DailyBuilds:
    home: Path
    after_day_1: Warehouse
    after_day_2: Warehouse
    after_rebuilding_day_1: Warehouse


@pytest.fixture(scope="module")
def daily_builds(tmp_path_factory) -> DailyBuilds:
    """Seed, then one partitioned build per day, then day 1 again, as Dagster's daily runs would."""
    home = tmp_path_factory.mktemp("daily_home")
    build_ledger_lake(home)
    run_dbt(home, "seed")
    build_window(home, "2026-01-05", "2026-01-05")
    after_day_1 = Warehouse.read(home)
    build_window(home, "2026-01-06", "2026-01-06")
    after_day_2 = Warehouse.read(home)
    build_window(home, "2026-01-05", "2026-01-05")
    return DailyBuilds(home, after_day_1, after_day_2, Warehouse.read(home))


def expected(balances: dict[str, str]) -> dict[str, Decimal]:
    return {code: Decimal(amount) for code, amount in balances.items()}


def test_day_1_closes_at_the_hand_posted_balances(daily_builds):
    warehouse = daily_builds.after_day_1
    assert warehouse.days("trial_balance") == {DAY_1}
    assert warehouse.days("journal_lines") == {DAY_1}
    assert warehouse.closing_balances(DAY_1) == expected(CLOSING_DAY_1)


def test_day_2_closes_at_the_hand_posted_balances_and_leaves_day_1_alone(daily_builds):
    warehouse = daily_builds.after_day_2
    assert warehouse.closing_balances(DAY_2) == expected(CLOSING_DAY_2)
    assert warehouse.closing_balances(DAY_1) == expected(CLOSING_DAY_1)
    day_1_lines = [row for row in warehouse.rows["journal_lines"] if row[7] == DAY_1]
    assert day_1_lines == daily_builds.after_day_1.rows["journal_lines"]


def test_rebuilding_day_1_changes_nothing(daily_builds):
    before, after = daily_builds.after_day_2, daily_builds.after_rebuilding_day_1
    assert len(after.rows["journal_lines"]) == len(before.rows["journal_lines"]) == 42
    assert after.rows == before.rows


def test_a_full_build_equals_the_day_by_day_build(daily_builds, tmp_path):
    shutil.copytree(daily_builds.home / "lake", tmp_path / "lake")
    run_dbt(tmp_path, "seed")
    run_dbt(tmp_path, "build")
    full = Warehouse.read(tmp_path)
    assert full.days("trial_balance") == {DAY_1, DAY_2}
    for mart in MARTS:
        assert full.rows[mart] == daily_builds.after_day_2.rows[mart], mart


def test_journal_lines_carry_their_rule_lineage_and_sub_accounts(daily_builds):
    with duckdb.connect(str(daily_builds.home / "warehouse.duckdb"), read_only=True) as con:
        lines = con.execute("""
            select entry_id, line_no, account_code, sub_account, cast(debit as varchar), cast(credit as varchar),
                   source, source_key, rule_id
            from main.journal_lines order by entry_id, line_no""").fetchall()
    by_rule: dict[str, list[tuple]] = {}
    for line in lines:
        by_rule.setdefault(line[8], []).append(line)
    assert set(by_rule) == {
        "usdai_mint", "usdai_unbacked_mint", "usdai_burn", "reserve_conversion", "reserve_to_custodian",
        "susdai_stake", "redemption_serviced", "redemption_claimed", "loan_originated", "loan_repaid",
        "loan_liquidated", "interest_accrual", "tbill_purchase", "tbill_accretion", "susdai_yield",
    }
    # The unbacked mint was logged twice; it is one entry of two lines, keyed by sha256(source|source_key|rule_id).
    unbacked = by_rule["usdai_unbacked_mint"]
    source_key = f"{tx_hash(12)}:0"
    assert [line[0] for line in unbacked] == [hashlib.sha256(f"chain|{source_key}|usdai_unbacked_mint".encode()).hexdigest()] * 2
    assert [(line[2], line[4], line[5]) for line in unbacked] == [
        ("3000", "50.000000000000000000", "0.000000000000000000"),
        ("2000", "0.000000000000000000", "50.000000000000000000"),
    ]
    assert {line[3] for line in by_rule["usdai_mint"]} == {f"{BASE_TOKEN}@{USDAI}", ""}
    assert {line[3] for line in by_rule["reserve_conversion"]} == {f"{USDC}@{LOAN_ROUTER}", f"{BASE_TOKEN}@{USDAI}"}
    assert [(line[2], line[3], line[4], line[5]) for line in by_rule["loan_liquidated"]] == [
        ("1020", f"{USDC}@{LOAN_ROUTER}", "90.000000000000000000", "0.000000000000000000"),
        ("5000", "", "10.027397260273972603", "0.000000000000000000"),
        ("1100", LOAN_2, "0.000000000000000000", "100.000000000000000000"),
        ("1110", LOAN_2, "0.000000000000000000", "0.027397260273972603"),
    ]
    assert {line[3] for line in by_rule["tbill_accretion"]} == {CUSIP, ""}
    accretion_keys = {line[7] for line in by_rule["tbill_accretion"]}
    assert accretion_keys == {f"{hashlib.sha256(b'custodian-a-2026-01-06.csv').hexdigest()}:{CUSIP}"}
    assert {line[3] for line in by_rule["interest_accrual"] if line[2] == "1110"} == {LOAN_1, LOAN_2}
    assert {line[7] for line in by_rule["susdai_yield"]} == {"susdai_yield:2026-01-05", "susdai_yield:2026-01-06"}


def test_reserve_coverage_and_supply_reconciliation(daily_builds):
    with duckdb.connect(str(daily_builds.home / "warehouse.duckdb"), read_only=True) as con:
        coverage = {row[0]: row[1:] for row in con.execute("""
            select partition_date, usdai_total_supply, usdai_outstanding, liquid_reserves, liquid_coverage,
                   total_coverage
            from main.reserve_coverage""").fetchall()}
        supply = {row[0]: row[1:] for row in con.execute("""
            select partition_date, supply_from_deposit_events, supply_from_transfer_events, onchain_total_supply,
                   deposit_events_difference, transfer_events_difference
            from main.usdai_supply_reconciliation""").fetchall()}
    d = Decimal
    # Quotients are truncated at 18 places: 655 / 400, 1005.095890410958904110 / 1004.586301369863013699, ...
    assert coverage[DAY_1] == (d("500"), d("400"), d("655"), d("1.6375"), d("1.000507262582021086"))
    assert coverage[DAY_2] == (d("450"), d("450"), d("695.088493"), d("1.544641095555555555"),
                               d("0.937662909622501822"))
    # The unbacked mint shows in the deposit-derived supply only.
    assert supply[DAY_1] == (d("500"), d("500"), d("500"), d("0"), d("0"))
    assert supply[DAY_2] == (d("400"), d("450"), d("450"), d("50"), d("0"))


def test_a_token_whose_decimals_cannot_be_posted_exactly_fails_the_build(tmp_path):
    """24 decimals do not fit DECIMAL(38,18): the build must stop, not post zeros or drop lines."""
    lake = build_ledger_lake(tmp_path)
    for day in (DAY_1, DAY_2):
        book = [dict(row, token_decimals=24) if row["token_symbol"] == "USDC" else row for row in chain_address_book(day)]
        lake.write_table("chain_address_book", day, pa.Table.from_pylist(book, schema=SCHEMAS["chain_address_book"]))
    env = {**os.environ, "BACKED_HOME": str(tmp_path), "DBT_PROFILES_DIR": str(PROJECT_DIR)}
    result = subprocess.run(
        [str(DBT), "build", "--project-dir", str(PROJECT_DIR), "--target-path", str(tmp_path / "dbt_target"),
         "--log-path", str(tmp_path / "dbt_logs")],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode != 0
    assert "FAIL 2 token_decimals_are_supported" in result.stdout  # USDC on both days
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        built = {name for (name,) in con.execute("select table_name from information_schema.tables").fetchall()}
    assert "stg_chain_address_book" in built
    assert not built & set(MARTS), "a mart was built from amounts that could not be converted"
