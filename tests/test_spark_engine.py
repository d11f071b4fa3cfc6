"""The dbt project on Spark (BACKED_ENGINE=spark, profiles.yml) posts the ledger DuckDB posts.

The hand-posted lake of tests/ledger_fixtures.py (four days that post every rule of docs/ledger.md, every special
case of a rule too) is built by dbt on DuckDB, then by dbt on Spark: PySpark in the dbt process, `local[2]`, the
warehouse's tables Parquet partitioned by day, built at once (and, in `make reliability`, as a later run rebuilds
days). Spark's journal must be the hand-posted one (the seed's dbt test, run on Spark), and every row of the journal,
the trial balance, reserve coverage and the hash chain the same as DuckDB's, each value compared as canonical text
(DuckDB reads both warehouses and prints both). The sandbox's 30 days on both engines, every relation and every
attestation, are `make scale-test`'s (tests/test_spark_scale.py). `make spark-setup` installs the engine (its own
environment, .venv-spark). A JVM's start and Spark's planning of each node make this file minutes long on two
cores, so it is `make reliability`'s and `make scale-test`'s, not `make test`'s (docs/testing.md).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import duckdb
import pytest

from assets.ledger import DBT_PROJECT_DIR, DUCKDB_DBT, SPARK_DBT, dbt_environment, vars_args
from foundation.home import DataHome
from tests.ledger_fixtures import DAY_1, DAY_3, DAYS, build_ledger_lake

pytestmark = pytest.mark.long

# What an attestation states, and what each is built from (their upstream models, the seeds and their tests).
LEDGER = ("journal_lines", "trial_balance", "reserve_coverage", "journal_day_hashes")
SPARK_TABLES = "spark/warehouse/backed.db"
# The hand-posted journal (seeds/ledger_fixture) and its dbt test, enabled on both engines.
FIXTURE_VARS = vars_args({"ledger_fixture": True})
HAND_POSTED_PASSES = "PASS journal_lines_match_hand_posted_scenario"
SELECTION = ["--select", *(f"+{model}" for model in LEDGER), "money_macros_are_exact_on_every_engine",
             "expected_journal_lines", "journal_lines_match_hand_posted_scenario", *FIXTURE_VARS,
             "--indirect-selection", "cautious"]
# The models and seeds, the money macros' known answers and the hand-posted journal's test: the models' own tests
# run on Spark in the later-run test below and in test_spark_scale.py's builds, not a third time here (about 40 s
# of Spark).
MODELS_AND_KNOWN_ANSWERS = [*SELECTION[:-1], "empty"]


def engine_dbt(home: Path, engine: str, *args: str,
               window: tuple[date, date] | None = None) -> subprocess.CompletedProcess:
    """dbt on `home` with `engine`'s target (each engine's dbt is in its own environment), as the pipeline runs it."""
    env = {**os.environ, **dbt_environment(DataHome(home), window), "BACKED_ENGINE": engine}
    return subprocess.run([str(SPARK_DBT if engine == "spark" else DUCKDB_DBT), *args,
                           "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
                           "--target-path", str(home / f"dbt_{engine}_target"),
                           "--log-path", str(home / f"dbt_{engine}_logs")],
                          env=env, capture_output=True, text=True)


def built(result: subprocess.CompletedProcess) -> str:
    """dbt's output, after checking it ran with no error and no warning (the hand-posted journal's test warns)."""
    summary = [line for line in result.stdout.splitlines()
               if "Done. PASS=" in line or " ERROR " in line or "FAIL " in line or "WARN " in line]
    assert result.returncode == 0 and summary and "WARN=0 ERROR=0" in summary[-1], (
        f"dbt ({' '.join(result.args[1:2])}) failed:\n" + "\n".join(summary) + "\n" + result.stdout[-4000:]
        + "\nits own log:\n" + result.stderr[-4000:])
    return result.stdout


@pytest.fixture(scope="module")
def hand_posted(tmp_path_factory) -> Path:
    """A home holding the hand-posted lake, its ledger built by dbt on DuckDB: the ledger's models with their tests
    (test_ledger_dbt.py builds and tests the whole project on it)."""
    if not SPARK_DBT.exists():
        pytest.fail(f"the Spark engine is not installed ({SPARK_DBT}): run `make spark-setup`")
    home = tmp_path_factory.mktemp("engines") / "home"
    build_ledger_lake(home)
    assert HAND_POSTED_PASSES in built(engine_dbt(home, "duckdb", "build", *SELECTION))
    return home


@pytest.fixture(scope="module")
def both_engines(hand_posted) -> Path:
    """The same lake's ledger built on Spark beside DuckDB's, every day at once, with the money macros' known
    answers and the hand-posted journal's test."""
    assert HAND_POSTED_PASSES in built(engine_dbt(hand_posted, "spark", "build", *MODELS_AND_KNOWN_ANSWERS))
    return hand_posted


def canonical_rows(con: duckdb.DuckDBPyConnection, relation: str) -> tuple[list[str], list[tuple]]:
    """(column names in order, rows sorted) with every value as text: timestamps as UTC wall time to the
    microsecond, decimals at their scale, nulls as None."""
    columns = sorted((name, str(kind)) for name, kind, *_ in con.sql(f"describe select * from {relation}").fetchall())
    texts = [f"cast(cast({name} as timestamp) as varchar)" if kind.startswith("TIMESTAMP")
             else f"cast({name} as varchar)" for name, kind in columns]
    rows = con.sql(f"select {', '.join(texts)} from {relation}").fetchall()
    rows.sort(key=lambda row: tuple("" if value is None else value for value in row))
    return [name for name, _ in columns], rows


def differences(home: Path, table: str) -> tuple[int, list[tuple], list[tuple]]:
    """(Spark's row count less DuckDB's, rows DuckDB has and Spark lacks, rows Spark has and DuckDB lacks), after
    checking both have the same columns and DuckDB some rows."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"attach '{home / 'warehouse.duckdb'}' as duck (read_only)")
    duck_columns, duck_rows = canonical_rows(con, f"duck.main.{table}")
    spark_columns, spark_rows = canonical_rows(
        con, f"read_parquet('{home / SPARK_TABLES / table}/**/*.parquet', hive_partitioning = true)")
    assert spark_columns == duck_columns
    assert duck_rows, f"{table}: the DuckDB warehouse holds no rows to compare"
    in_duck, in_spark = set(duck_rows), set(spark_rows)
    missing = [row for row in duck_rows if row not in in_spark]
    extra = [row for row in spark_rows if row not in in_duck]
    return len(spark_rows) - len(duck_rows), missing[:3], extra[:3]


@pytest.mark.parametrize("table", LEDGER)
def test_spark_builds_the_same_ledger_as_duckdb(both_engines, table):
    assert differences(both_engines, table) == (0, [], [])


def test_a_later_run_rebuilding_days_on_spark_gives_the_same_ledger(hand_posted, tmp_path):
    """Days 1 to 3 built with their models' tests, then days 3 and 4 as a later run rebuilds them: the days from the
    window's start dropped and inserted again (insert_overwrite on tables partitioned by day), the journal appended
    to."""
    home = tmp_path / "home"
    shutil.copytree(hand_posted, home, ignore=shutil.ignore_patterns("spark", "dbt_spark_*"))
    built(engine_dbt(home, "spark", "build", *SELECTION, window=(DAY_1, DAY_3)))
    built(engine_dbt(home, "spark", "run", "--select", *(f"+{model}" for model in LEDGER), window=(DAY_3, DAYS[-1])))
    assert {table: differences(home, table) for table in LEDGER} == {table: (0, [], []) for table in LEDGER}


def test_the_hash_chain_spans_every_day_on_spark(both_engines):
    home = both_engines
    hashes = home / SPARK_TABLES / "journal_day_hashes"
    days = duckdb.sql(f"select count(*), min(partition_date), max(partition_date), count(distinct chain_hash) "
                      f"from read_parquet('{hashes}/**/*.parquet', hive_partitioning = true)").fetchall()[0]
    assert days == (len(DAYS), DAYS[0], DAYS[-1], len(DAYS))


def test_money_is_decimal_on_spark(both_engines):
    """No amount of the Spark journal is a float: debit and credit are DECIMAL(38,18) in the Parquet it wrote."""
    files = f"{both_engines / SPARK_TABLES}/journal_lines/*/*.parquet"
    kinds = dict(duckdb.sql(f"select name, type from parquet_schema('{files}') where name in ('debit', 'credit')"
                            ).fetchall())
    assert kinds == {"debit": "FIXED_LEN_BYTE_ARRAY", "credit": "FIXED_LEN_BYTE_ARRAY"}
    logical = duckdb.sql(f"describe select debit, credit from read_parquet('{files}')").fetchall()
    assert [kind for _, kind, *_ in logical] == ["DECIMAL(38,18)", "DECIMAL(38,18)"]
