"""The dbt project on a hand-postable lake (tests/ledger_fixtures.py): real `dbt build` on DuckDB.

The expected balances below were posted by hand from the fixture's story, rule by rule of docs/ledger.md;
balances are debits minus credits (liabilities, equity and income close negative). The whole hand-posted journal
is the seed dbt_project/seeds/ledger_fixture/expected_journal_lines.csv, compared by the dbt test
journal_lines_match_hand_posted_scenario on every build of this module's daily home.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from assets.ledger import DUCKDB_DBT, dbt_environment, vars_args
from foundation.home import DataHome
from foundation.lake import SCHEMAS, Lake
from tests.ledger_fixtures import (
    BASE_TOKEN, CORRECTED_TAPE_SHA256, CUSIP, LOAN_1_V2, LOAN_1_V3, DAY_1, DAY_2, DAY_3, DAY_4, DAYS, ESCROW_OFFER, FEE_MODEL,
    FEE_RECIPIENT, LOAN_1, LOAN_2, LOAN_3, LOAN_4, LOAN_6, LOAN_7, LOAN_ROUTER, LOAN_ROUTER_V2, PYUSD, SHORT_BILL, SUSDAI,
    STATEMENT_FILES, TAPE_FILES, USDAI, USDC, V110_OFFER, WITHDRAWN_OFFER,
    build_ledger_lake,
    chain_address_book,
    file_sha256, log_index, log_key, tx_hash, write_corrected_tape, write_reorg,
)

REPO = Path(__file__).resolve().parent.parent
PROJECT_DIR = REPO / "dbt_project"

MARTS = ("journal_lines", "trial_balance", "reserve_coverage", "usdai_supply_reconciliation", "loan_positions",
         "susdai_yield", "redemption_queue", "journal_day_hashes", "balance_sheet", "income_statement")
# The marts that a restated ledger must show exactly as a ledger built afresh from the corrected sources would
# (the journal and its hashes keep the history of the restatement on top, and trial_balance's period debits and
# credits count the reversals too: its closing balances must agree).
STATE_MARTS = ("reserve_coverage", "usdai_supply_reconciliation", "loan_positions", "susdai_yield",
               "redemption_queue", "balance_sheet", "income_statement")
FIXTURE_VARS = {"ledger_fixture": True}

# The loan router holds nothing and the V1 router's fees are never the protocol's (docs/ledger.md: the released V1
# LoanRouter pays the origination fee out of the principal, and the exit and liquidation fees from the borrower and
# the sale, to its fee recipient): 4020 posts nothing through day 3, and repayments and sale proceeds land on
# USDC@sUSDai. On day 4 the V2 router pays L1's repayment fee, 0.1 USDai, to the sUSDai vault (FeePaid to a protocol
# address: loan_fee_received 2000 / 4020 0.1), and L4's liquidation fee, 2, to its fee recipient (nothing posted).
CLOSING_DAY_1 = {
    "1000": "1.5",                       # 150 sent to the custodian - 148.50 T-bill cost
    "1010": "148.5",
    # wM@USDai 1000 - 350 - 150; USDC@router 350 converted - 250 lent (245 to Bob, the fee of 5 to the router's fee
    # recipient) - 100 lent = 0
    "1020": "500",
    "1030": "0",
    "1100": "350",                       # L1 250 + L2 100
    "1110": "0.095890410958904110",      # 0.068493150684931507 + 0.027397260273972603
    "1120": "0",                         # the pool position of day 4 is withdrawn the same day
    "1150": "0",
    # L1: half its GPUs dark, exposure 250.068493150684931507 / 2 x 50% loss, insurance not yet claimable;
    # L2: 35 days past due, 25% of 100.027397260273972603, plus its dark GPU's 50% net of 70% insured
    "1190": "-102.528082191780821919",   # 62.517123287671232877 + 40.010958904109589042
    "2000": "-400",                      # minted 1000 to Alice, 600 staked into the vault
    # 600 staked + the day's yield - the day's credit losses, which the holders bear
    "2100": "-497.558219178082191780",   # -600.086301369863013699 + 102.528082191780821919
    "2110": "0",
    "3000": "0",
    "4000": "-0.095890410958904110",
    "4010": "0",                         # bought at 148.50, marked at 148.50
    "4020": "0",                         # L1's origination fee of 5 is the router's fee recipient's
    "4030": "0",
    "5000": "102.528082191780821919",    # the allowance
    "5010": "0.086301369863013699",      # 0.095890410958904110 x 0.9
    "5020": "-102.528082191780821919",   # the allowance, borne by the holders
}

CLOSING_DAY_2 = {
    "1000": "1.5",
    "1010": "148.52",                    # marked to 148.52
    # 500 - 100 burn (wM@USDai 400) + 50.068493 repaid + 90 liquidation proceeds, forwarded to the vault
    # (USDC@sUSDai 140.068493)
    "1020": "540.068493",
    "1030": "0",
    "1100": "200",                       # 350 - 50 repaid - 100 liquidated
    "1110": "0.054794671232876712",      # 0.095890410958904110 - 0.068493 - 0.027397260273972603 + 0.054794520547945205
    "1120": "0",                         # the pool position of day 4 is withdrawn the same day
    "1150": "7",                         # L2's claim: 70% of 100 - 90 principal lost, not paid yet
    # L2's allowance paid its 10.027397260273972603 shortfall, the rest released; L1 half dark on 200.054794671232876712
    "1190": "-50.013698667808219178",
    "2000": "-450",                      # -400 + 100 burnt - 100 claimed - 50 unbacked
    # -497.558219178082191780 + 100 serviced - 0.067315068493150685 yield - 49.489725989726027398 (the day's credit
    # losses are a release of 42.486986263698630138 and the claim of 7, plus 10% of L2's 0.027397260273972603 of
    # interest written off, the admin fee never charged)
    "2100": "-447.115260236301369863",
    "2110": "0",                         # 100 serviced, 100 claimed
    "3000": "50",                        # the unbacked mint
    "4000": "-0.150684931506849315",     # + 0.054794520547945205
    "4010": "-0.02",                     # 148.52 - 148.50
    "4020": "0",
    "4030": "0",
    # L2's loss 10.027397260273972603 + L1's allowance 50.013698667808219178 - L2's claim 7
    "5000": "53.041095928082191781",
    # + (0.054794520547945205 + 0.02) x 0.9 = 0.067315068493150685, rounded half up at 18 places
    "5010": "0.153616438356164384",
    # the holders' share: 5000 less 0.002739726027397260, the fee on L2's interest written off
    "5020": "-53.038356202054794521",
}

CLOSING_DAY_3 = {
    "1000": "1.51",                      # 1.5 + 50 from the vault - 49.99 for the short bill
    "1010": "198.49",                    # 148.52 - 0.02 marked down + 49.99 short bill
    # wM@USDai 400 + 500 Heidi's deposit + 7 the pool's - 400 converted by the vault - 100 by the router from L6's
    # pre-funding - 50 to the custodian = 357; USDC@router 400 + 100 converted - 100 L3 (99 to Dave, 1 to the fee
    # recipient) - 200 L4 - 100 L5 - 100 L6 = 0; USDC@sUSDai 140.068493 + 50.109589 Bob's interest and prepayment
    # (his 0.50 exit fee went to the fee recipient) = 190.178082
    "1020": "547.178082",
    # the withdrawn offer's pre-funding, the v1.10 offer's 10 and the escrow's 30; L6's was used up at its origination
    "1030": "60",
    "1100": "650",                       # 200 - 50 prepaid by Bob + 100 L3 + 200 L4 + 100 L5 + 100 L6
    # 0.054794671232876712 - 0.109589 paid by Bob + 0.136986301369863014, a day on L3, L4, L5 and L6 (L1 is
    # missing from the tape: nothing accrues on it)
    "1110": "0.082191972602739726",
    "1120": "0",                         # the pool position of day 4 is withdrawn the same day
    "1150": "0",                         # the pool paid L2's 7
    # L1 keeps 50.013698667808219178 (no tape row); L3 30.008219178082191781 (1 day past due, 5%, and an erroring
    # GPU); L4 100.027397260273972603 (60 days, 50%); L5 50.013698630136986302 (default, 50% over 30 days' 25%);
    # L6 100.027397260273972603 (90 days, 100%, plus its dark GPU: capped at the exposure)
    "1190": "-330.090410996575342467",
    # + 500 to Heidi - 500 she staked + 7 to the pool - 7 it paid the vault - 120 the vault put in the timelock
    # + 100 of it burned at L6's origination - 40 the vault put in the v1.10 timelock and in escrow
    "2000": "-510",
    # -447.115260236301369863 - 500 staked - 0.105287671232876713 yield + 280.076712328767123289 losses borne
    "2100": "-667.143835578767123287",
    "2110": "0",
    "3000": "50",
    "4000": "-0.287671232876712329",     # - 0.136986301369863014
    "4010": "0",                         # - 0.02 + 0.02 marked down
    "4020": "0",                         # L3's origination fee and Bob's exit fee are the fee recipient's
    "4030": "0",
    "5000": "333.117808256849315070",    # + 280.076712328767123289, the four new loans' allowances
    # + (0.136986301369863014 - 0.02) x 0.9 = 0.1052876712328767126, rounded half up: 0.105287671232876713
    "5010": "0.258904109589041097",
    "5020": "-333.115068530821917810",   # - 280.076712328767123289
}

CLOSING_DAY_4 = {
    "1000": "51.51",                     # + 50, the short bill's par at maturity
    "1010": "148.53",                    # 198.49 - 50 matured + 0.01 + 0.03 marked up
    # PYUSD@USDai 357 converted from wM (wM@USDai 0) - 40 swapped for the pool + 40.5 back + 0.02 = 357.52; USDC@sUSDai
    # 190.178082 + 100.054794 L3 repaid + 78 of L4's sale (its 80 less the v2 router's fee of 2) and 120 L5's net
    # proceeds (+ 40 - 40 the pool, + 40.5 - 40.5 its return swapped back, - 0.02 the admin fee paid out + 0.02 into
    # PYUSD@USDai) = 488.212876
    "1020": "845.732876",
    "1030": "0",
    "1100": "260",                       # L1 140 (10 prepaid in USDai after its migration) + L6 100 + L7 20
    # L1 0.041096082191780821 (its tape's accrued, after the catch-up of 0.054794520547945205) + L3
    # 0.000000520547945206 (two days 0.054794520547945206 - 0.054794 paid) + L6 0.054794520547945206 (two days)
    "1110": "0.095891123287671233",
    "1120": "0",                         # the pool position of day 4 is withdrawn the same day
    "1150": "0",
    # L6 only, 100% of 100.054794520547945206: L1's and L5's released, L3's repaid, L4's used by its sale
    "1190": "-100.054794520547945206",
    # the offers' 60 back in the vault, with the escrow's 0.25 of interest; Bob's 10.1 USDai back in the protocol
    # (10 prepaid, loan_repaid; 0.1 the repayment fee the V2 router paid the vault, loan_fee_received); 0.02 minted to
    # the admin fee recipient (admin_fee_withdrawn); L7's 20 from the vault through the escrow to Grace (deposited,
    # consumed, lent) and the escrow's 0.01 of interest on it back to the vault
    "2000": "-459.66",
    # -667.143835578767123287 - 18.920958904109589041 yield - 107.986301407534246577 (a net release: the holders'
    # claim rises)
    "2100": "-794.051095890410958905",
    "2110": "0",
    "3000": "50.02",                     # + 0.02 of admin fee paid out (admin_fee_withdrawn)
    # - 0.041095890410958904 L1 - 0.054794520547945205 L1's catch-up - 0.027397260273972603 L3 - same L6 - 0.25
    # the escrow's interest on the cancelled offer - 0.01 on L7's pre-funding - 0.5 the pool's -
    # 19.972602739726027397, L5's net proceeds above its principal and accrued interest: 120 - 100 -
    # 0.027397260273972603
    "4000": "-21.170958904109589041",
    "4010": "-0.04",                     # + 0.03 + 0.01
    "4020": "-0.1",                      # L1's repayment fee, paid by the V2 router to the vault (FeePaid kind 1)
    "4030": "0",
    # + 22.027397260273972602 (L4's shortfall beyond its allowance) + 0.027397260273972603 (L6's true-up) -
    # 50.013698667808219178 (L1 released) - 30.008219178082191781 (L3) - 50.013698630136986302 (L5)
    "5000": "225.136986301369863014",
    # + 21.023287671232876712 (20.883287671232876712 of 4000 + 0.04 of 4010 + 0.1 of 4020) x 0.9 =
    # 18.9209589041095890408, rounded half up: 18.920958904109589041 (0.09 more than without the fee)
    "5010": "19.179863013698630138",
    # + 107.980821955479452056 released + 0.005479452054794521 (10% of L4's 0.054794520547945205 written off)
    "5020": "-225.128767123287671233",
}
CLOSING = {DAY_1: CLOSING_DAY_1, DAY_2: CLOSING_DAY_2, DAY_3: CLOSING_DAY_3, DAY_4: CLOSING_DAY_4}


# The dbt target folder of the last run that succeeded with the same vars, where it saved its parse (see start_dbt).
LAST_TARGET: dict[str, Path] = {}


def start_dbt(home: Path, *args: str, window: tuple[str, str] | None = None) -> subprocess.Popen:
    """dbt on `home` as the pipeline runs it: the home and the partition window (both inclusive) in its environment.

    It runs in the home's folder with BACKED_HOME=".", so the views name the lake as ./lake and a copied home reads
    its own. dbt reuses a saved parse only for the vars it was made with: a run starts from the parse the last one
    with the same vars saved (most here copy a home, or are a new one)."""
    days = None if window is None else (date.fromisoformat(window[0]), date.fromisoformat(window[1]))
    env = {**os.environ, **dbt_environment(DataHome(Path(".")), days), "DBT_PROFILES_DIR": str(PROJECT_DIR)}
    target = home / "dbt_target"
    dbt_vars = args[args.index("--vars") + 1] if "--vars" in args else ""
    warm = LAST_TARGET.get(dbt_vars, target) / "partial_parse.msgpack"
    if not (target / "partial_parse.msgpack").exists() and warm.exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(warm, target / "partial_parse.msgpack")
    command = [
        str(DUCKDB_DBT), *args, "--project-dir", str(PROJECT_DIR),
        "--target-path", str(target), "--log-path", str(home / "dbt_logs"),
    ]
    process = subprocess.Popen(command, env=env, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.parse_key, process.target = dbt_vars, target
    return process


def finish_dbt(process: subprocess.Popen) -> str:
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, f"{' '.join(process.args[:3])} failed:\n{stdout[-6000:]}\n{stderr[-3000:]}"
    LAST_TARGET[process.parse_key] = process.target
    return stdout


def run_dbt(home: Path, *args: str) -> str:
    return finish_dbt(start_dbt(home, *args))


def build_window(home: Path, first: str, last: str, **dbt_vars) -> str:
    return finish_dbt(start_dbt(home, "build", *vars_args(dbt_vars), window=(first, last)))


def query(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(DataHome(home).warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


@dataclass(frozen=True)
class Warehouse:
    """The marts' rows, read after a dbt run (the database is closed again before the next one)."""

    rows: dict[str, list[tuple]]

    @classmethod
    def read(cls, home: Path) -> Warehouse:
        with duckdb.connect(str(DataHome(home).warehouse), read_only=True) as con:
            return cls({mart: sorted(con.execute(f"select * from main.{mart}").fetchall(), key=repr)
                        for mart in MARTS})

    def closing_balances(self, day) -> dict[str, Decimal]:
        # trial_balance columns: partition_date, account_code, name, type, normal balance, debits, credits, closing
        return {row[1]: row[7] for row in self.rows["trial_balance"] if row[0] == day}

    def days(self, mart: str) -> set:
        date_column = 7 if mart == "journal_lines" else 0
        return {row[date_column] for row in self.rows[mart]}

    def journal(self) -> list[tuple]:
        return self.rows["journal_lines"]


def views_carry_the_md5_of_their_sql(home: Path) -> dict[str, tuple[str, str]]:
    """Each view of the warehouse: its comment, and the md5 of the SQL dbt compiled for it in the last build."""
    compiled = {path.stem: hashlib.md5(path.read_text().encode()).hexdigest()
                for path in (home / "dbt_target" / "compiled" / "backed" / "models").rglob("*.sql")
                if not path.parent.name.endswith(".yml")}
    rows = query(home, "select view_name, comment from duckdb_views() where not internal and schema_name = 'main'")
    return {name: (comment, f"sql md5 {compiled[name]}") for name, comment in rows}


@dataclass(frozen=True)
class DailyBuilds:
    home: Path
    after_day: dict[date, Warehouse]  # the warehouse after each day's build
    after_rebuilding_day_1: Warehouse
    dbt_outputs: tuple[str, ...]
    views_after_day: dict[date, dict[str, tuple[str, str]]]  # views_carry_the_md5_of_their_sql after each build

    @property
    def after_day_1(self) -> Warehouse:
        return self.after_day[DAY_1]

    @property
    def after_day_2(self) -> Warehouse:
        return self.after_day[DAY_2]

    @property
    def after_last_day(self) -> Warehouse:
        return self.after_day[DAYS[-1]]


@pytest.fixture(scope="module")
def daily_builds(tmp_path_factory) -> DailyBuilds:
    """One partitioned build per day (seeds included), then day 1 again, as Dagster's daily runs would."""
    home = tmp_path_factory.mktemp("daily_home")
    build_ledger_lake(home)
    outputs, after_day, views = [], {}, {}
    for day in DAYS:
        outputs.append(build_window(home, day.isoformat(), day.isoformat(), **FIXTURE_VARS))
        after_day[day] = Warehouse.read(home)
        views[day] = views_carry_the_md5_of_their_sql(home)
    outputs.append(build_window(home, DAY_1.isoformat(), DAY_1.isoformat(), **FIXTURE_VARS))
    return DailyBuilds(home, after_day, Warehouse.read(home), tuple(outputs), views)


def test_every_build_posts_the_hand_posted_journal(daily_builds):
    """Every day's build and the rebuild of day 1 post exactly the seed's hand-posted lines of their window (the dbt
    test warns rather than stops the build, so that the balances below are still read and compared)."""
    for output in daily_builds.dbt_outputs:
        verdicts = [line for line in output.splitlines() if "journal_lines_match_hand_posted_scenario" in line]
        assert any("PASS journal_lines_match_hand_posted_scenario" in line for line in verdicts), verdicts


def test_a_new_window_reuses_dbt_s_parse_of_the_project(daily_builds):
    """The window reaches dbt in its environment, read when nodes run: the builds of days 2 and 1 after day 1's keep
    its parse (dbt prints why when it cannot), and the tests' `where` got the window's bounds."""
    first, *later = daily_builds.dbt_outputs
    assert "Unable to do partial parsing" in first  # a new target folder: nothing saved yet
    for output in later:
        assert "Unable to do partial parsing" not in output, output[:3000]
    compiled = daily_builds.home / "dbt_target" / "compiled" / "backed" / "models" / "marts" / "marts.yml"
    texts = [path.read_text() for path in compiled.rglob("*.sql")]
    assert texts and not any("__min_date__" in text or "__max_date__" in text for text in texts)
    assert any(f"partition_date >= cast('{DAY_1.isoformat()}' as date)" in text for text in texts)


def test_a_build_creates_a_view_again_only_when_its_sql_changed(daily_builds, tmp_path):
    """macros/view_materialization.sql: each view carries the md5 of the SQL it was created from, and a build whose
    SQL for it has that md5 leaves it as it is; any other view is created again. Shown with two views replaced by a
    wrong one: the one still carrying its md5 stays wrong (the build trusted it), the other is made right again."""
    for views in daily_builds.views_after_day.values():
        assert views and all(comment == md5 for comment, md5 in views.values())
    home = tmp_path / "home"
    shutil.copytree(daily_builds.home, home)
    trusted, stale = "h2_source_volumes_steady", "h3_cutoffs_fresh"
    with duckdb.connect(str(DataHome(home).warehouse)) as con:
        for view in (trusted, stale):
            (comment,) = con.execute("select comment from duckdb_views() where view_name = ?", [view]).fetchone()
            con.execute(f"create or replace view main.{view} as select 1 as replaced")
            con.execute(f"comment on view main.{view} is '{comment if view == trusted else 'sql md5 other'}'")
    finish_dbt(start_dbt(home, "run", "--select", trusted, stale, *vars_args(FIXTURE_VARS),
                         window=(DAY_1.isoformat(), DAY_1.isoformat())))
    columns = {view: [row[0] for row in query(home, f"describe main.{view}")] for view in (trusted, stale)}
    assert columns[trusted] == ["replaced"]
    assert "replaced" not in columns[stale] and len(columns[stale]) > 1
    assert views_carry_the_md5_of_their_sql(home)[stale][0] == daily_builds.views_after_day[DAY_1][stale][1]


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


@pytest.mark.parametrize("day", DAYS[2:], ids=lambda day: day.isoformat())
def test_a_later_day_closes_at_the_hand_posted_balances_and_leaves_earlier_days_alone(daily_builds, day):
    warehouse = daily_builds.after_day[day]
    assert warehouse.closing_balances(day) == expected(CLOSING[day])
    earlier = [previous for previous in DAYS if previous < day]
    for previous in earlier:
        assert warehouse.closing_balances(previous) == expected(CLOSING[previous])
    before = daily_builds.after_day[earlier[-1]]
    assert [row for row in warehouse.journal() if row[7] < day] == before.journal()


def test_rebuilding_day_1_changes_nothing(daily_builds):
    before, after = daily_builds.after_last_day, daily_builds.after_rebuilding_day_1
    assert len(after.journal()) == len(before.journal()) == 187
    assert after.rows == before.rows


def test_the_journal_s_key_test_fails_on_a_repeated_line_and_on_a_null(daily_builds, tmp_path):
    """keyed_by is each keyed model's one test of its key and its never-null columns: the SQL the daily build ran
    returns nothing on the built journal, the repeated key when a line is written twice, the line when one of its
    never-null columns is null."""
    compiled = daily_builds.home / "dbt_target" / "compiled" / "backed" / "models" / "marts" / "marts.yml"
    key_test, = [path.read_text() for path in compiled.glob("keyed_by_journal_lines_*.sql")]
    home = tmp_path / "home"
    shutil.copytree(daily_builds.home, home)
    with duckdb.connect(str(DataHome(home).warehouse)) as con:
        assert con.execute(key_test).fetchall() == []
        entry_id, line_no = con.execute("select entry_id, line_no from main.journal_lines limit 1").fetchone()
        con.execute("insert into main.journal_lines select * from main.journal_lines where entry_id = ? and "
                    "line_no = ?", [entry_id, line_no])
        assert con.execute(key_test).fetchall() == [(entry_id, line_no, 2, 0)]
        con.execute("delete from main.journal_lines where entry_id = ? and line_no = ?", [entry_id, line_no])
        con.execute("insert into main.journal_lines select * replace (null as debit) from main.journal_lines "
                    "where entry_id = ? and line_no <> ? limit 1", [entry_id, line_no])
        con.execute("delete from main.journal_lines where entry_id = ? and line_no <> ? and debit is not null",
                    [entry_id, line_no])
        failing = con.execute(key_test).fetchall()
    assert [(row[0], row[2], row[3]) for row in failing] == [(entry_id, 1, 1)]


def test_two_logs_at_one_place_in_a_block_fail_staging_s_key_test(daily_builds, tmp_path):
    """A node numbers a block's logs across its transactions, and the ledger orders a day's events by block and log
    index: two logs of one block with one log index (a lake written some other way) fail stg_chain_events' second
    key test, where their order, and what a pool withdrawal recovers, would be the engine's choice."""
    compiled = daily_builds.home / "dbt_target" / "compiled" / "backed" / "models" / "staging" / "staging.yml"
    key_test, = [sql for sql in map(Path.read_text, compiled.glob("keyed_by_stg_chain_events_*.sql"))
                 if "group by partition_date, block_number, log_index" in sql]
    home = tmp_path / "home"
    shutil.copytree(daily_builds.home, home)
    with duckdb.connect(str(DataHome(home).warehouse)) as con:
        assert con.execute(key_test).fetchall() == []
        # the last build was day 1's: block 100 holds USDai's Transfer and Deposited of Alice's deposit
        con.execute("update main.stg_chain_events set log_index = 0 where tx_hash = ?", [tx_hash(1)])
        failing = con.execute(key_test).fetchall()
    assert [row[:4] for row in failing] == [(DAY_1, 100, 0, 2)]


@pytest.fixture(scope="module")
def full_build(tmp_path_factory) -> tuple[Warehouse, str]:
    """Every day of the hand-posted lake in one `dbt build`: the marts, and what dbt printed."""
    home = tmp_path_factory.mktemp("full_home")
    build_ledger_lake(home)
    output = finish_dbt(start_dbt(home, "build", *vars_args(FIXTURE_VARS)))
    return Warehouse.read(home), output


def test_one_build_of_every_day_posts_the_hand_posted_journal_and_balances(full_build):
    """The cheapest complete answer of the scenario (the mutation gate's for the posting rules): one build, the
    whole hand-posted journal, every day's hand-posted closing balances."""
    full, output = full_build
    assert "PASS journal_lines_match_hand_posted_scenario" in output
    for day, closing in CLOSING.items():
        assert full.closing_balances(day) == expected(closing), day


def test_a_full_build_equals_the_day_by_day_build(daily_builds, full_build):
    full, _ = full_build
    assert full.days("trial_balance") == set(DAYS)
    for mart in MARTS:
        assert full.rows[mart] == daily_builds.after_last_day.rows[mart], mart


STAGING_TABLES = tuple(sorted(path.stem for path in (PROJECT_DIR / "models" / "staging").glob("stg_*.sql")))
# Tables kept day by day that read all history on their first build (macro cumulative_window_start).
CUMULATIVE_TABLES = ("reserve_balances", "blacklist_updates", "loan_router_events_usd",
                     "custodian_statement_rows", *STAGING_TABLES)


def test_a_table_kept_day_by_day_added_to_a_home_with_history_holds_all_of_it(daily_builds, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(daily_builds.home, home)
    with duckdb.connect(str(DataHome(home).warehouse)) as con:
        before = {table: sorted(con.execute(f"select * from main.{table}").fetchall(), key=repr)
                  for table in CUMULATIVE_TABLES}
        for table in CUMULATIVE_TABLES:
            con.execute(f"drop table main.{table}")
    assert before["reserve_balances"] and before["loan_router_events_usd"]
    # The daily run of day 2 is the first build of these tables: day 1 is outside its window.
    build_window(home, DAY_2.isoformat(), DAY_2.isoformat(), **FIXTURE_VARS)
    with duckdb.connect(str(DataHome(home).warehouse), read_only=True) as con:
        for table in CUMULATIVE_TABLES:
            assert sorted(con.execute(f"select * from main.{table}").fetchall(), key=repr) == before[table], table
    after = Warehouse.read(home)
    assert after.rows == daily_builds.after_rebuilding_day_1.rows


@pytest.fixture(scope="module")
def day_2_rebuilt_with_a_log_twice(daily_builds, tmp_path_factory) -> tuple[Path, pa.Table]:
    """A copy of the daily home whose day 2 of the lake holds each log three times (twice from a block that was
    replaced), rebuilt as a later daily run of day 2 would: the home, and day 2's logs as first written."""
    home = tmp_path_factory.mktemp("log_twice") / "home"
    shutil.copytree(daily_builds.home, home)
    lake = Lake(home)
    logs = lake.read_table("chain_events", DAY_2)
    stale = logs.set_column(logs.schema.get_field_index("block_hash"), "block_hash",
                            pa.array(["0x" + "ee" * 32] * logs.num_rows))
    stale = stale.set_column(stale.schema.get_field_index("block_number"), "block_number",
                             pc.subtract(stale.column("block_number"), 1))
    lake.write_table("chain_events", DAY_2, pa.concat_tables([stale, logs, stale]))
    build_window(home, DAY_2.isoformat(), DAY_2.isoformat(), **FIXTURE_VARS)
    return home, logs


def test_a_days_build_reads_its_days_of_the_lake_not_every_folder(daily_builds, day_2_rebuilt_with_a_log_twice):
    """Staging names the rebuild window's `date=` folders (day 2 through the last day the journal holds): a glob of
    the lake would list every day of history, day 1 included."""
    home, _ = day_2_rebuilt_with_a_log_twice
    for model in STAGING_TABLES:
        compiled = (home / "dbt_target" / "compiled" / "backed" / "models" / "staging" / f"{model}.sql").read_text()
        assert "date=*" not in compiled, model
        assert set(re.findall(r"/date=([0-9-]+)/part-0\.parquet", compiled)) == {
            day.isoformat() for day in DAYS if day >= DAY_2}, model
    days = query(home, "select distinct partition_date from main.stg_chain_days order by 1")
    assert [day for (day,) in days] == list(DAYS)


def test_a_log_written_twice_into_a_day_is_posted_once(daily_builds, day_2_rebuilt_with_a_log_twice):
    """Staging keeps one row per (day, tx_hash, log_index): the highest block's, however often the lake holds it;
    the marts are those of the daily builds."""
    home, logs = day_2_rebuilt_with_a_log_twice
    staged = query(home, "select count(*), count(distinct (tx_hash, log_index)), count(*) filter (block_hash = ?) "
                         "from main.stg_chain_events where partition_date = ?", ["0x" + "ee" * 32, DAY_2])
    keys = len(set(zip(logs.column("tx_hash").to_pylist(), logs.column("log_index").to_pylist())))
    assert staged == [(keys, keys, 0)]
    assert Warehouse.read(home).rows == daily_builds.after_rebuilding_day_1.rows


SEED = PROJECT_DIR / "seeds" / "ledger_fixture" / "expected_journal_lines.csv"
# Rules whose hand-posted answer is not in the seed, and the tests that hold it instead.
ANSWERED_BY_THE_RESTATEMENT_TESTS = {
    "reversal": ("test_a_corrected_tape_is_reversed_and_reposted_and_later_days_follow",
                 "test_a_reorg_reverses_the_logs_that_left_the_chain"),
}


def posting_rules_of_the_docs() -> list[str]:
    """The rule_id column of the table under "## Posting rules" in docs/ledger.md."""
    section = (REPO / "docs" / "ledger.md").read_text().split("\n## Posting rules\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    assert rows[0].split("|")[1].strip() == "rule_id" and set(rows[1]) <= set("|- ")
    return [row.split("|")[1].strip() for row in rows[2:]]


def test_every_posting_rule_of_the_docs_has_a_hand_posted_answer():
    """A rule in docs/ledger.md's posting-rules table with no line in the hand-posted seed fails here, so a rule
    cannot be added without its hand-posted answer; and the seed posts no rule the table does not define."""
    rules = posting_rules_of_the_docs()
    assert len(rules) >= 20 and len(set(rules)) == len(rules)
    with SEED.open(newline="") as seed:
        seed_rules = {row["rule_id"] for row in csv.DictReader(seed)}
    missing = set(rules) - seed_rules - set(ANSWERED_BY_THE_RESTATEMENT_TESTS)
    assert not missing, f"posting rules with no hand-posted line in {SEED.name}: {sorted(missing)}"
    assert seed_rules <= set(rules), sorted(seed_rules - set(rules))
    for tests in ANSWERED_BY_THE_RESTATEMENT_TESTS.values():
        assert all(callable(globals().get(name)) for name in tests), tests


# The cases of docs/ledger.md's rules that post differently, each by the line only that case writes:
# (rule_id, account, side) -> the case.
RULE_CASES = {
    ("loan_liquidated", "1190", "debit"): "a shortfall charged to the allowance",
    ("loan_liquidated", "5000", "debit"): "a shortfall beyond the allowance",
    ("loan_liquidated", "4000", "credit"): "net proceeds above principal and accrued interest: interest income",
    ("credit_loss_allowance", "1190", "credit"): "an allowance built",
    ("credit_loss_allowance", "1190", "debit"): "an allowance released",
    ("tbill_accretion", "1010", "debit"): "a T-bill marked up",
    ("tbill_accretion", "1010", "credit"): "a T-bill marked down",
    ("susdai_credit_loss", "2100", "debit"): "credit losses borne by the holders",
    ("susdai_credit_loss", "2100", "credit"): "a net release returned to the holders",
    ("loan_fee_received", "4020", "credit"): "a V2 router's fee paid to a protocol address: the protocol's income",
    ("loan_fee_received", "2000", "debit"): "that fee in USDai (a loan in USDai): the USDai back into the protocol",
    ("admin_fee_withdrawn", "3000", "debit"): "the vault's admin fee paid out in USDai: the retained surplus distributed",
}


def test_the_hand_posted_journal_answers_each_case_of_the_rules():
    """Each case of a rule that writes a line of its own (a shortfall beyond the allowance, proceeds above what the
    loan owed, a release, a mark down) has such a line in the seed: dropping the case from the scenario fails here."""
    with SEED.open(newline="") as seed:
        posted = {(row["rule_id"], row["account_code"], "debit" if Decimal(row["debit"]) else "credit")
                  for row in csv.DictReader(seed)}
    missing = {case: name for case, name in RULE_CASES.items() if case not in posted}
    assert not missing, missing


def test_journal_lines_carry_their_rule_lineage_and_sub_accounts(daily_builds):
    with duckdb.connect(str(DataHome(daily_builds.home).warehouse), read_only=True) as con:
        lines = con.execute("""
            select entry_id, line_no, account_code, sub_account, cast(debit as varchar), cast(credit as varchar),
                   source, source_key, rule_id
            from main.journal_lines order by entry_id, line_no""").fetchall()
    by_rule: dict[str, list[tuple]] = {}
    for line in lines:
        by_rule.setdefault(line[8], []).append(line)
    assert set(by_rule) == set(posting_rules_of_the_docs()) - {"reversal"}
    # The unbacked mint was logged twice; it is one entry of two lines, keyed by sha256(source|source_key|rule_id).
    unbacked = by_rule["usdai_unbacked_mint"]
    source_key = log_key(12, 0)
    assert [line[0] for line in unbacked] == [hashlib.sha256(f"chain|{source_key}|usdai_unbacked_mint".encode()).hexdigest()] * 2
    assert [(line[2], line[4], line[5]) for line in unbacked] == [
        ("3000", "50.000000000000000000", "0.000000000000000000"),
        ("2000", "0.000000000000000000", "50.000000000000000000"),
    ]
    assert {line[3] for line in by_rule["usdai_mint"]} == {f"{BASE_TOKEN}@{USDAI}", ""}
    # wM until day 4's conversion, PYUSD after it (the vault's swap into USDC for the pool, to itself)
    assert {line[3] for line in by_rule["reserve_conversion"]} == {
        f"{USDC}@{LOAN_ROUTER}", f"{BASE_TOKEN}@{USDAI}", f"{USDC}@{SUSDAI}", f"{PYUSD}@{USDAI}"}
    # The shortfall is charged to L2's allowance, which covers all of it: no credit loss expense line. The proceeds
    # are the vault's: the router forwards them to the lender at once.
    l2_sale = [line for line in by_rule["loan_liquidated"] if line[7] == log_key(11, 1)]
    assert [(line[2], line[3], line[4], line[5]) for line in l2_sale] == [
        ("1020", f"{USDC}@{SUSDAI}", "90.000000000000000000", "0.000000000000000000"),
        ("1190", LOAN_2, "10.027397260273972603", "0.000000000000000000"),
        ("1100", LOAN_2, "0.000000000000000000", "100.000000000000000000"),
        ("1110", LOAN_2, "0.000000000000000000", "0.027397260273972603"),
    ]
    allowance_keys = {line[7] for line in by_rule["credit_loss_allowance"]}
    # A true-up of zero posts nothing: day 4's row 3 (L4, whose sale used all of its allowance) has no entry.
    allowance_rows = {DAY_1: (1, 2), DAY_2: (1, 2), DAY_3: (1, 2, 3, 4), DAY_4: (1, 2, 4, 5)}
    assert allowance_keys == {f"{file_sha256(TAPE_FILES[day])}:{row}" for day, rows in allowance_rows.items()
                              for row in rows}
    assert {line[3] for line in by_rule["tbill_accretion"]} == {CUSIP, SHORT_BILL, ""}
    accretion_keys = {line[7] for line in by_rule["tbill_accretion"]}
    statement = {day: file_sha256(STATEMENT_FILES[day]) for day in DAYS}
    assert accretion_keys == {f"{statement[DAY_2]}:{CUSIP}", f"{statement[DAY_3]}:{CUSIP}",
                              f"{statement[DAY_4]}:{CUSIP}", f"{statement[DAY_4]}:{SHORT_BILL}"}
    assert {line[3] for line in by_rule["interest_catch_up"] if line[2] == "1110"} == {LOAN_1}
    assert LOAN_3 in {line[3] for line in by_rule["interest_accrual"]} and LOAN_6 in {
        line[3] for line in by_rule["interest_accrual"]}
    assert {line[7] for line in by_rule["susdai_yield"]} == {f"susdai_yield:{day.isoformat()}" for day in DAYS}


def test_a_migrated_loan_keeps_its_identity_and_either_hash_finds_its_trail(daily_builds):
    """docs/ledger.md, "A loan renamed": LoanRouterV2 migrates L1 on day 4 and its lender's tape names it by the V2
    hash from then; v1.1 then refinances it under a third hash. The ledger keeps one loan: day 4's interest, catch-up and allowance release post on L1's
    sub-accounts (the hand-posted journal, unchanged by the migration, says so); loan_identities names L1 the V2
    hash's identity, with the currency its V2 terms carry; and `backed trail --loan` finds the same lines by either
    hash, saying what became of it."""
    from orchestration.cli.audit_trail import trail_by_loan

    assert query(daily_builds.home, """select loan_terms_hash, renamed_from, identity_hash, renamed_by, partition_date,
                                              currency_token
                                       from main.loan_identities order by block_number""") == [
        (LOAN_1_V2, LOAN_1, LOAN_1, "LoanMigrated", DAY_4, USDAI.lower()),
        # v1.1's refinance of the V2 loan: a chain of renames, still L1
        (LOAN_1_V3, LOAN_1_V2, LOAN_1, "LoanRefinanced", DAY_4, USDAI.lower())]
    with duckdb.connect(str(DataHome(daily_builds.home).warehouse), read_only=True) as con:
        by_v1, by_v2, by_v3 = trail_by_loan(con, LOAN_1), trail_by_loan(con, LOAN_1_V2), trail_by_loan(con, LOAN_1_V3)
    assert by_v1.rows.num_rows > 0 and by_v2.rows.to_pylist() == by_v1.rows.to_pylist() == by_v3.rows.to_pylist()
    assert {r["sub_account"] for r in by_v2.rows.to_pylist() if r["account_code"] in ("1100", "1110", "1190")} == {
        LOAN_1}
    assert (f"{LOAN_1} became {LOAN_1_V2} (LoanMigrated on {DAY_4.isoformat()}); {LOAN_1_V2} became {LOAN_1_V3} "
            f"(LoanRefinanced on {DAY_4.isoformat()})") in by_v3.heading
    # the loan's state on chain is read under its latest name: the refinanced hash's 140, not the V2 hash's Repaid
    assert query(daily_builds.home, f"""select onchain_status, onchain_principal from main.loan_positions
                                        where partition_date = '{DAY_4}' and loan_terms_hash = '{LOAN_1}'""") == [
        (1, Decimal("140"))]
    assert "interest_catch_up" in {r["rule_id"] for r in by_v2.rows.to_pylist()}


def test_a_v2_routers_fee_is_the_protocols_only_when_paid_to_a_protocol_address(daily_builds):
    """docs/ledger.md, rule loan_fee_received: LoanRouterV2's FeePaid is decoded into the lake's columns (fee_kind,
    fee_model, recipient, amount) and read in the loan's currency. On day 4 the router pays L4's liquidation fee, 2
    USDC, to its fee recipient, outside the protocol: nothing is posted; and L1's repayment fee, 0.1 USDai, to the
    sUSDai vault: the protocol's fee income, its cash on 2000 (L1 is a loan in USDai since its migration)."""
    staged = query(daily_builds.home, """
        select tx_hash, log_index, contract_address, loan_terms_hash, fee_kind, recipient, fee_model, amount
        from main.stg_chain_events where event = 'FeePaid' order by tx_hash, log_index""")
    assert staged == [
        (tx_hash(43), log_index(43, 2), LOAN_ROUTER, LOAN_4, 3, FEE_RECIPIENT, FEE_MODEL, Decimal(2 * 10**6)),
        (tx_hash(62), log_index(62, 3), LOAN_ROUTER_V2, LOAN_1_V2, 1, SUSDAI, FEE_MODEL, Decimal(10**17))]
    fees = query(daily_builds.home, """
        select tx_hash, loan_terms_hash, fee_kind, recipient, fee_usd, cash_account, cash_sub_account
        from main.loan_router_events_usd where event = 'FeePaid' order by tx_hash""")
    assert fees == [
        (tx_hash(43), LOAN_4, 3, FEE_RECIPIENT, Decimal("2"), "1020", f"{USDC}@{FEE_RECIPIENT}"),
        (tx_hash(62), LOAN_1, 1, SUSDAI, Decimal("0.1"), "2000", "")]
    assert query(daily_builds.home, """
        select partition_date, source_key, account_code, sub_account, cast(debit - credit as varchar)
        from main.journal_lines where rule_id = 'loan_fee_received' order by line_no""") == [
        (DAY_4, log_key(62, 3), "2000", "", "0.100000000000000000"),
        (DAY_4, log_key(62, 3), "4020", "", "-0.100000000000000000")]
    # The fee to the fee recipient posts nothing, under any rule; LoanRepaid's fee field (0.1) posts nothing either.
    assert query(daily_builds.home, f"""select count(*) from main.journal_lines
                                        where source_key = '{log_key(43, 2)}'""") == [(0,)]
    assert query(daily_builds.home, f"""
        select rule_id, account_code, cast(debit - credit as varchar) from main.journal_lines
        where source_key = '{log_key(62, 1)}' order by line_no""") == [
        ("loan_repaid", "2000", "10.000000000000000000"), ("loan_repaid", "1100", "-10.000000000000000000")]


def test_a_pre_funded_loan_and_a_cancelled_pre_funding_move_1030_by_loan_terms(daily_builds):
    """docs/ledger.md, "Loans pre-funded through the deposit timelock": L6's 100 USDai and the withdrawn offer's 20 are
    deposited on day 3 (1030 by loanTermsHash / 2000); L6's origination uses its deposit up (2000 / 1030) while its
    swap into USDC posts as a conversion; the offer's is cancelled on day 4 (2000 / 1030). On day 4 v1.9's escrow
    pre-funds L7, which LoanRouterV2 originates in USDai from it the same day (LoanEscrowTimelockWithdrawn: the
    deposit used up, its interest paid to the vault)."""
    entries = query(daily_builds.home, """
        select partition_date, source_key, rule_id, account_code, sub_account, cast(debit - credit as varchar)
        from main.journal_lines where rule_id like 'loan_timelock_%' order by partition_date, source_key, line_no""")
    l6, offer, v110, escrow = LOAN_6, WITHDRAWN_OFFER, V110_OFFER, ESCROW_OFFER
    assert entries == [
        (DAY_3, log_key(38, 3), "loan_timelock_consumed", "2000", "", "100.000000000000000000"),
        (DAY_3, log_key(38, 3), "loan_timelock_consumed", "1030", l6, "-100.000000000000000000"),
        (DAY_3, log_key(50, 1), "loan_timelock_deposited", "1030", l6, "100.000000000000000000"),
        (DAY_3, log_key(50, 1), "loan_timelock_deposited", "2000", "", "-100.000000000000000000"),
        (DAY_3, log_key(51, 1), "loan_timelock_deposited", "1030", offer, "20.000000000000000000"),
        (DAY_3, log_key(51, 1), "loan_timelock_deposited", "2000", "", "-20.000000000000000000"),
        (DAY_3, log_key(54, 1), "loan_timelock_deposited", "1030", v110, "10.000000000000000000"),
        (DAY_3, log_key(54, 1), "loan_timelock_deposited", "2000", "", "-10.000000000000000000"),
        (DAY_3, log_key(55, 1), "loan_timelock_deposited", "1030", escrow, "30.000000000000000000"),
        (DAY_3, log_key(55, 1), "loan_timelock_deposited", "2000", "", "-30.000000000000000000"),
        (DAY_4, log_key(52, 1), "loan_timelock_cancelled", "2000", "", "20.000000000000000000"),
        (DAY_4, log_key(52, 1), "loan_timelock_cancelled", "1030", offer, "-20.000000000000000000"),
        (DAY_4, log_key(56, 1), "loan_timelock_cancelled", "2000", "", "10.000000000000000000"),
        (DAY_4, log_key(56, 1), "loan_timelock_cancelled", "1030", v110, "-10.000000000000000000"),
        (DAY_4, log_key(57, 1), "loan_timelock_cancelled", "2000", "", "30.000000000000000000"),
        (DAY_4, log_key(57, 1), "loan_timelock_cancelled", "1030", escrow, "-30.000000000000000000"),
        (DAY_4, log_key(65, 1), "loan_timelock_deposited", "1030", LOAN_7, "20.000000000000000000"),
        (DAY_4, log_key(65, 1), "loan_timelock_deposited", "2000", "", "-20.000000000000000000"),
        (DAY_4, log_key(66, 2), "loan_timelock_consumed", "2000", "", "20.000000000000000000"),
        (DAY_4, log_key(66, 2), "loan_timelock_consumed", "1030", LOAN_7, "-20.000000000000000000"),
    ]
    # the escrow's interest, paid to the vault in USDai with its cancellation (docs/ledger.md)
    assert query(daily_builds.home, """
        select source_key, account_code, cast(debit - credit as varchar) from main.journal_lines
        where rule_id = 'loan_escrow_interest' order by source_key, line_no""") == [
        (log_key(57, 1), "2000", "0.250000000000000000"), (log_key(57, 1), "4000", "-0.250000000000000000"),
        (log_key(66, 4), "2000", "0.010000000000000000"), (log_key(66, 4), "4000", "-0.010000000000000000")]
    # L7, a loan in USDai, is lent from the escrow: 1100 20 / 2000 20 (USDai from the escrow to its borrower).
    assert query(daily_builds.home, f"""
        select rule_id, account_code, sub_account, cast(debit - credit as varchar) from main.journal_lines
        where source_key = '{log_key(66, 2)}' and rule_id = 'loan_originated' order by line_no""") == [
        ("loan_originated", "1100", LOAN_7, "20.000000000000000000"),
        ("loan_originated", "2000", "", "-20.000000000000000000")]
    conversion = query(daily_builds.home, f"""
        select account_code, sub_account, cast(debit - credit as varchar) from main.journal_lines
        where source_key = '{log_key(38, 2)}' order by line_no""")
    assert conversion == [("1020", f"{USDC}@{LOAN_ROUTER}", "100.000000000000000000"),
                          ("1020", f"{BASE_TOKEN}@{USDAI}", "-100.000000000000000000")]
    # L6's loan is lent as any other: 1100 100 / 1020 USDC @ router 100.
    assert query(daily_builds.home, f"""
        select rule_id, account_code, cast(debit - credit as varchar) from main.journal_lines
        where source_key = '{log_key(38, 3)}' and rule_id = 'loan_originated' order by line_no""") == [
        ("loan_originated", "1100", "100.000000000000000000"), ("loan_originated", "1020", "-100.000000000000000000")]


def test_reserve_coverage_and_supply_reconciliation(daily_builds):
    with duckdb.connect(str(DataHome(daily_builds.home).warehouse), read_only=True) as con:
        coverage = {row[0]: row[1:] for row in con.execute("""
            select partition_date, usdai_total_supply, usdai_outstanding, liquid_reserves, liquid_coverage,
                   total_coverage
            from main.reserve_coverage""").fetchall()}
        supply = {row[0]: row[1:] for row in con.execute("""
            select partition_date, supply_from_deposit_events, supply_from_transfer_events, onchain_total_supply,
                   deposit_events_difference, transfer_events_difference
            from main.usdai_supply_reconciliation""").fetchall()}
    d = Decimal
    # Quotients are truncated at 18 places: 650 / 400 (liquid reserves 1.5 + 148.5 + 500: the router holds no
    # USDC), ...; total coverage: (1000.095890410958904110 - 102.528082191780821919) / (400 +
    # 497.558219178082191780) on day 1, the holders' claim net of the losses they bear; on day 2
    # (890.143287671232876712 - 50.013698667808219178 + 7 claim receivable) / (450 + 447.115260236301369863): below
    # 100% by the unbacked mint of 50, less the admin fee kept (no fee income: the router's fees are not the
    # protocol's)
    assert coverage[DAY_1] == (d("500"), d("400"), d("650"), d("1.625"), d("1.000010683475334526"))
    assert coverage[DAY_2] == (d("450"), d("450"), d("690.088493"), d("1.533529984444444444"),
                               d("0.944281773537426596"))
    buffers = {row[0]: row[1:] for row in query(daily_builds.home, """
        select partition_date, liquid_buffer, total_buffer from main.reserve_coverage""")}
    assert buffers[DAY_2] == (d("240.088493"), d("847.129589003424657534") - d("897.115260236301369863"))
    solvency = query(daily_builds.home, """select check_date, within_tolerance, cast(difference as decimal(38, 18))
                                           from main.r10_assets_cover_liabilities where check_date <= ? order by 1""",
                     [DAY_2])
    # day 1: the admin fee on the day's interest, 0.095890410958904110 - 0.086301369863013699
    assert solvency == [(DAY_1, True, d("0.009589041095890411")), (DAY_2, False, d("-49.985671232876712329"))]
    # The unbacked mint shows in the deposit-derived supply only.
    assert supply[DAY_1] == (d("500"), d("500"), d("500"), d("0"), d("0"))
    assert supply[DAY_2] == (d("400"), d("450"), d("450"), d("50"), d("0"))


def test_a_token_whose_decimals_cannot_be_posted_exactly_fails_the_build(tmp_path):
    """24 decimals do not fit DECIMAL(38,18): the build must stop, not post zeros or drop lines."""
    lake = build_ledger_lake(tmp_path)
    for day in DAYS:
        book = [dict(row, token_decimals=24) if row["token_symbol"] == "USDC" else row for row in chain_address_book(day)]
        lake.write_table("chain_address_book", day, pa.Table.from_pylist(book, schema=SCHEMAS["chain_address_book"]))
    build = start_dbt(tmp_path, "build")
    stdout, _ = build.communicate(timeout=600)
    assert build.returncode != 0
    assert f"FAIL {len(DAYS)} token_decimals_are_supported" in stdout  # USDC on every day
    with duckdb.connect(str(DataHome(tmp_path).warehouse), read_only=True) as con:
        built = {name for (name,) in con.execute("select table_name from information_schema.tables").fetchall()}
    assert "stg_chain_address_book" in built
    assert not built & set(MARTS), "a mart was built from amounts that could not be converted"


def test_loan_positions_show_the_allowance_collateral_health_and_the_chain(daily_builds):
    positions = {(row[0], row[1]): row[2:] for row in query(daily_builds.home, """
        select partition_date, loan_id, status, days_past_due, principal, accrued_interest, allowance,
               carrying_amount, collateral_gpus, dark_gpus, collateral_health, insurance_claimable, onchain_status,
               onchain_principal
        from main.loan_positions""")}
    d = Decimal
    assert positions[(DAY_1, "A-1")] == (
        "current", 0, d("250"), d("0.068493150684931507"), d("62.517123287671232877"), d("187.551369863013698630"),
        2, 1, d("0.5"), False, 1, d("250"))
    assert positions[(DAY_1, "A-2")] == (
        "delinquent", 35, d("100"), d("0.027397260273972603"), d("40.010958904109589042"), d("60.016438356164383561"),
        1, 1, d("0"), True, 1, d("100"))
    assert positions[(DAY_2, "A-2")] == ("liquidated", 36, d("0"), d("0"), d("0"), d("0"), 1, 1, d("0"), True, 4, d("0"))


def test_susdai_yield_splits_the_nav_growth_and_compares_the_share_price(daily_builds):
    rows = {row[0]: row[1:] for row in query(daily_builds.home, """
        select partition_date, nav_open, nav_close, net_flows, holder_yield, admin_fee, yield_from_loan_interest,
               yield_from_tbills, yield_from_fees, annualised_yield, onchain_share_price, onchain_annualised_yield,
               nav_difference, credit_losses_borne, unmarked_losses
        from main.susdai_yield""")}
    d = Decimal
    # Day 1: the holders bear the allowance (102.528082191780821919) the vault has not marked: the NAV on chain is
    # that much above their claim. Their yield is the interest's only (0.095890410958904110 x 0.9): L1's origination
    # fee went to the router's fee recipient, so nothing comes from fees; totalAssets() 600.086301369863013699 / 600
    # shares.
    assert rows[DAY_1] == (d("0"), d("497.558219178082191780"), d("600"), d("0.086301369863013699"),
                           d("0.009589041095890411"), d("0.086301369863013699"), d("0"), d("0"), None,
                           d("1.000143835616438356"), None, d("102.528082191780821919"), d("102.528082191780821919"),
                           d("102.528082191780821919"))
    # Day 2: 0.067315068493150685 x 365 / 497.558219178082191780; the share price went 1.000143835616438356 ->
    # 0.980257917808219178 (490.128958904109589041 / 500) as the vault took L2's sale: (0.980257917808219178 -
    # 1.000143835616438356) x 365 / 1.000143835616438356; the holders' claim rose by the release and the claim.
    assert rows[DAY_2] == (d("497.558219178082191780"), d("447.115260236301369863"), d("-100"),
                           d("0.067315068493150685"), d("0.007479452054794520"), d("0.049315068493150685"),
                           d("0.018"), d("0"), d("0.049381155918974168"), d("0.980257917808219178"),
                           d("-7.257316139459392798"), d("43.013698667808219178"), d("-49.489725989726027398"),
                           d("43.013698667808219178"))
    # Day 4: the income is 20.883287671232876712 of interest (4000, with the escrow's 0.01 on L7's pre-funding), 0.04
    # of T-bill marks (4010) and L1's repayment fee of 0.1 that the V2 router paid the vault (4020); the holders' yield
    # is 21.023287671232876712 x 0.9 rounded, 18.920958904109589041, of which the interest's 18.794958904109589041 and
    # the marks' 0.036, the rest, 0.09, the fee's. The vault, as the ledger, keeps the admin fee's 10% of that fee: the NAV on chain is above the holders'
    # claim by the allowance only, 100.054794520547945206.
    assert query(daily_builds.home, """
        select income_loan_interest, income_tbills, income_fees, holder_yield, admin_fee, yield_from_loan_interest,
               yield_from_tbills, yield_from_fees, nav_difference
        from main.susdai_yield where partition_date = ?""", [DAY_4]) == [(
        d("20.883287671232876712"), d("0.04"), d("0.1"), d("18.920958904109589041"), d("2.102328767123287671"),
        d("18.794958904109589041"), d("0.036"), d("0.09"), d("100.054794520547945206"))]
    # R6 compares totalAssets() with 2100 + 1190 - 1150: 894.105890410958904111 on both sides.
    assert query(daily_builds.home, """
        select cast(difference as decimal(38, 18)), within_tolerance from main.r6_susdai_assets_match_ledger
        where check_date = ?""", [DAY_4]) == [(d("0"), True)]


def test_redemption_queue_reconciles_to_redemption_queue_info(daily_builds):
    rows = {row[0]: row[1:] for row in query(daily_builds.home, """
        select partition_date, requested_shares, fulfilled_shares, serviced_amount, claimed_amount, pending_shares,
               unclaimed_amount, onchain_pending_shares, ledger_redemptions_payable, pending_shares_difference,
               claimable_balance_difference, ledger_payable_difference
        from main.redemption_queue""")}
    d = Decimal
    assert rows[DAY_1] == (d("100"), d("0"), d("0"), d("0"), d("100"), d("0"), d("100"), d("0"), d("0"), d("0"), d("0"))
    assert rows[DAY_2] == (d("0"), d("100"), d("100"), d("100"), d("0"), d("0"), d("0"), d("0"), d("0"), d("0"), d("0"))


def income_statements(home, *periods: tuple[str, str]) -> dict[tuple[str, str], dict[str, Decimal]]:
    """The macro income_statement_for_period over each period (first and last day), in one `dbt show`: period ->
    account -> amount."""
    selects = " union all ".join(
        f"select '{first}' as first_day, '{last}' as last_day, account_code, cast(amount as varchar) as amount"
        f" from ({{{{ income_statement_for_period('{first}', '{last}') }}}}) as period" for first, last in periods)
    output = run_dbt(home, "show", "--quiet", "--output", "json", "--limit", "-1", "--inline", selects)
    statements = {period: {} for period in periods}
    for row in json.loads(output)["show"]:
        statements[(row["first_day"], row["last_day"])][row["account_code"] or "net income"] = Decimal(row["amount"])
    return statements


def test_balance_sheet_and_income_statement_of_any_period(daily_builds):
    sheet = {(row[0], row[1], row[2]): row[3] for row in query(daily_builds.home, """
        select partition_date, section, coalesce(account_code, 'earnings'), amount from main.balance_sheet""")}
    d = Decimal
    assert sheet[(DAY_2, "assets", "1190")] == d("-50.013698667808219178")
    assert sheet[(DAY_2, "assets", "1150")] == d("7")
    assert sheet[(DAY_2, "liabilities", "2100")] == d("447.115260236301369863")
    # income 0.150684931506849315 + 0.02 (no fee income: the router's fees are its fee recipient's) less expenses
    # 53.041095928082191781 + 0.153616438356164384 - 53.038356202054794521 borne by the holders: the admin fee kept,
    # 0.009589041095890411 + 0.007479452054794520, less the 0.002739726027397260 of it on L2's interest written off
    assert sheet[(DAY_2, "equity", "earnings")] == d("0.014328767123287671")
    statements = income_statements(daily_builds.home, ("2026-01-05", "2026-01-06"), ("2026-01-08", "2026-01-08"))
    assert statements[("2026-01-05", "2026-01-06")] == {"4000": d("0.150684931506849315"), "4010": d("0.02"), "4020": d("0"), "4030": d("0"),
                         "5000": d("53.041095928082191781"), "5010": d("0.153616438356164384"),
                         "5020": d("-53.038356202054794521"), "net income": d("0.014328767123287671")}
    # Day 4: L1's repayment fee, paid by the V2 router to the vault, is fee income (4020 0.1); the expenses are the
    # day's movements of 5000 (225.136986301369863014 - 333.117808256849315070, a net release), 5010 (the holders'
    # yield, 90% of 21.023287671232876712 of income) and 5020 (the release returned to the holders, less 10% of L4's
    # interest written off): net income 21.023287671232876712 - 18.926438356164383562 = 2.096849315068493150, the
    # admin fee on the day's income less the 0.005479452054794521 of it on L4's interest written off.
    assert statements[("2026-01-08", "2026-01-08")] == {"4000": d("20.883287671232876712"), "4010": d("0.04"), "4020": d("0.1"), "4030": d("0"),
                         "5000": d("-107.980821955479452056"), "5010": d("18.920958904109589041"),
                         "5020": d("107.986301407534246577"), "net income": d("2.096849315068493150")}


@dataclass(frozen=True)
class Restatement:
    before: Warehouse
    after: Warehouse
    fresh: Warehouse  # the same final lake built from nothing
    home: Path


def restate(daily_builds: DailyBuilds, tmp_path: Path, rewrite, day: str) -> Restatement:
    """Rewrite a day's lake partitions in a copy of the daily home, rebuild that day, and build the rewritten lake
    from nothing beside it."""
    home = tmp_path / "restated"
    shutil.copytree(daily_builds.home, home)
    rewrite(Lake(home))
    fresh = tmp_path / "fresh"
    shutil.copytree(home / "lake", fresh / "lake")
    # the reference for the restated marts: its own data tests would test nothing the restated build does not
    fresh_build = start_dbt(fresh, "build", "--exclude", "resource_type:test")
    build_window(home, day, day)
    finish_dbt(fresh_build)
    return Restatement(daily_builds.after_last_day, Warehouse.read(home), Warehouse.read(fresh), home)


def reversals(journal: list[tuple]) -> dict[str, str]:
    """Reversed entry id -> the reason, from journal rows (columns in journal_lines order)."""
    return {row[12]: row[14] for row in journal if row[10] == "reversal"}


def assert_restated_like_a_fresh_build(restatement: Restatement, reliability) -> None:
    # Posted history stays: every line of before is still there, unchanged.
    assert set(restatement.before.journal()) <= set(restatement.after.journal())
    # The restated ledger holds, account by account, what a build of the final sources alone holds: nothing of
    # the replaced input lost or counted twice (the reliability tally's accounting of the scenario).
    positions = """select partition_date, account_code, sub_account, sum(debit) - sum(credit) from main.journal_lines
                   group by all having sum(debit) <> sum(credit)"""
    assert reliability.compare_rows(query(restatement.home.parent / "fresh", positions),
                                    query(restatement.home, positions)) == (0, 0)
    for day in DAYS:
        assert restatement.after.closing_balances(day) == restatement.fresh.closing_balances(day)
    for mart in STATE_MARTS:
        assert restatement.after.rows[mart] == restatement.fresh.rows[mart], mart
    # Netted by account and sub-account, the restated journal is the fresh one.
    netted = """select partition_date, account_code, sub_account, sum(debit) - sum(credit) from main.journal_lines
                group by all having sum(debit) <> sum(credit) order by all"""
    assert query(restatement.home, netted) == query(restatement.home.parent / "fresh", netted)


@pytest.mark.fault("a lender replacing a posted tape")
def test_a_corrected_tape_is_reversed_and_reposted_and_later_days_follow(daily_builds, tmp_path, reliability):
    restatement = restate(daily_builds, tmp_path, write_corrected_tape, "2026-01-05")
    assert_restated_like_a_fresh_build(restatement, reliability)
    journal = restatement.after.journal()
    by_id = {row[0]: row for row in journal}
    old_tape = file_sha256(TAPE_FILES[DAY_1])
    reversed_entries = reversals(journal)
    # The old tape's four entries (accruals and allowances of both loans) left with their file.
    withdrawn = {by_id[entry][9]: reason for entry, reason in reversed_entries.items() if reason == "source_withdrawn"}
    assert set(withdrawn) == {f"{old_tape}:1", f"{old_tape}:2"}
    assert sum(reason == "source_withdrawn" for reason in reversed_entries.values()) == 4
    # Day 1's yield and credit losses borne, day 2's L1 allowance true-up (which starts from day 1's) and so day 2's
    # credit losses borne are the same keys, restated.
    changed = sorted((by_id[entry][7], by_id[entry][10]) for entry, reason in reversed_entries.items()
                     if reason == "source_changed")
    assert changed == [(DAY_1, "susdai_credit_loss"), (DAY_1, "susdai_yield"), (DAY_2, "credit_loss_allowance"),
                       (DAY_2, "susdai_credit_loss")]
    revisions = [row for row in journal if row[11] == 1 and row[1] == 1]
    assert sorted((row[7], row[10], row[13] in reversed_entries) for row in revisions) == [
        (DAY_1, "susdai_credit_loss", True), (DAY_1, "susdai_yield", True), (DAY_2, "credit_loss_allowance", True),
        (DAY_2, "susdai_credit_loss", True)]
    new_keys = {row[9] for row in journal if row[9].startswith(CORRECTED_TAPE_SHA256)}
    assert new_keys == {f"{CORRECTED_TAPE_SHA256}:1", f"{CORRECTED_TAPE_SHA256}:2"}
    # L1 accrued 0.07 instead of 0.068493150684931507: 4000 and 1190 moved on both days.
    balances = restatement.after.closing_balances(DAY_2)
    assert balances["4000"] == Decimal("-0.152191780821917808")
    assert balances["1190"] == Decimal("-50.013698667808219178")
    # The hash chain was rebuilt for both days and still verifies (the build's tests include the recomputation).
    hashes = lambda w: {row[0]: row[4] for row in w.rows["journal_day_hashes"]}  # noqa: E731
    assert all(hashes(restatement.after)[day] != hashes(restatement.before)[day] for day in (DAY_1, DAY_2))


@pytest.mark.fault("logs leaving the chain after they were posted")
def test_a_reorg_reverses_the_logs_that_left_the_chain(daily_builds, tmp_path, reliability):
    restatement = restate(daily_builds, tmp_path, write_reorg, "2026-01-06")
    assert_restated_like_a_fresh_build(restatement, reliability)
    journal = restatement.after.journal()
    by_id = {row[0]: row for row in journal}
    reversed_entries = reversals(journal)
    assert sorted((by_id[entry][9], by_id[entry][10], reason) for entry, reason in reversed_entries.items()) == [
        (log_key(10, 0), "loan_repaid", "source_withdrawn"),
        (log_key(12, 0), "usdai_unbacked_mint", "source_withdrawn"),
    ]
    # Day 1 is untouched; L2's liquidation was re-included as it was and is not posted twice.
    assert all(row[7] == DAY_2 for row in journal if row not in restatement.before.journal())
    assert [row[10] for row in journal if row[9] == log_key(21, 0)] == ["loan_repaid"] * 3
    balances = restatement.after.closing_balances(DAY_2)
    assert (balances["1100"], balances["3000"], balances["2000"]) == (Decimal("210"), Decimal("0"), Decimal("-400"))


@pytest.mark.long
def test_building_a_reorganised_day_again_adds_nothing(daily_builds, tmp_path):
    """The restated journal is what the sources post: a second build of the day changes no row."""
    restatement = restate(daily_builds, tmp_path, write_reorg, "2026-01-06")
    build_window(restatement.home, "2026-01-06", "2026-01-06")
    assert Warehouse.read(restatement.home).rows == restatement.after.rows


@pytest.mark.fault("posted history edited in the warehouse")
def test_an_edit_of_posted_history_breaks_the_hash_chain(daily_builds, tmp_path, reliability):
    home = tmp_path / "tampered"
    shutil.copytree(daily_builds.home, home)
    with duckdb.connect(str(DataHome(home).warehouse)) as con:
        con.execute("""update main.journal_lines set debit = debit + 1
                       where rule_id = 'usdai_mint' and account_code = '1020' and partition_date = ?""", [DAY_1])
        con.execute("""update main.journal_lines set credit = credit + 1
                       where rule_id = 'usdai_mint' and account_code = '2000' and partition_date = ?""", [DAY_1])
    tests = start_dbt(home, "test", "--select", "journal_day_hash_chain_holds journal_entries_balance")
    stdout, _ = tests.communicate(timeout=600)
    # The edited entry still balances: only the chain shows it, on day 1 and every day after.
    assert "PASS journal_entries_balance" in stdout
    assert f"FAIL {len(DAYS)} journal_day_hash_chain_holds" in stdout, stdout[-3000:]
    # The edit changed amounts in place: every line is still there once, and only the chain can tell.
    keys = "select entry_id, line_no from main.journal_lines"
    assert reliability.compare_rows(query(daily_builds.home, keys), query(home, keys)) == (0, 0)
