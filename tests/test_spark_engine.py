"""The dbt project on Spark (BACKED_ENGINE=spark, profiles.yml) posts the ledger DuckDB posts.

A 10-day sandbox history goes through the pipeline (its ledger built on DuckDB, as the schedule builds it), then the
same lake through dbt on Spark: PySpark in the dbt process, `local[2]`, the warehouse's tables Parquet partitioned by
day. Every row of the journal, the trial balance, reserve coverage and the hash chain must be the same, each value
compared as canonical text (DuckDB reads both warehouses and prints both). `make spark-setup` installs the engine
(its own environment, .venv-spark); `make test` runs it first.
"""
from __future__ import annotations

import os
import subprocess
from datetime import date
from pathlib import Path

import duckdb
import pytest

from assets.ledger import DBT_PROJECT_DIR, SPARK_DBT, dbt_environment
from foundation.home import DataHome

START = date(2026, 1, 1)
DAYS = 10
# What an attestation states, and what each is built from (their upstream models, the seeds and their tests).
LEDGER = ("journal_lines", "trial_balance", "reserve_coverage", "journal_day_hashes")
SPARK_TABLES = "spark/warehouse/backed.db"


def spark_dbt(home: Path, *args: str, window: tuple[date, date] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **dbt_environment(DataHome(home), window), "BACKED_ENGINE": "spark"}
    return subprocess.run([str(SPARK_DBT), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
                           "--target-path", str(home / "dbt_spark_target"), "--log-path", str(home / "dbt_spark_logs")],
                          env=env, capture_output=True, text=True)


def built(result: subprocess.CompletedProcess) -> str:
    summary = [line for line in result.stdout.splitlines() if "Done. PASS=" in line or " ERROR " in line or "FAIL " in line]
    assert result.returncode == 0, ("dbt on Spark failed:\n" + "\n".join(summary) + "\n" + result.stdout[-4000:]
                                    + "\nSpark's own log:\n" + result.stderr[-4000:])
    return summary[-1]


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory) -> Path:
    """A home whose 10 days the pipeline built on DuckDB, and the same lake's ledger built on Spark beside it: the
    first 7 days with every test, then days 6 to 10 as a later run rebuilds them (the days from its window's start
    dropped and inserted again; the models only, which the comparison checks)."""
    if not SPARK_DBT.exists():
        pytest.fail(f"the Spark engine is not installed ({SPARK_DBT}): run `make spark-setup`")
    from orchestration.pipeline import run_demo

    home = tmp_path_factory.mktemp("engines") / "home"
    run_demo(home, days=DAYS, seed=7, start=START, echo=lambda message: None, attest=[])
    selection = ["--select", *(f"+{model}" for model in LEDGER), "money_macros_are_exact_on_every_engine",
                 "--indirect-selection", "cautious"]
    first = built(spark_dbt(home, "build", *selection, window=(START, date(2026, 1, 7))))
    assert "ERROR=0" in first
    built(spark_dbt(home, "run", "--select", *(f"+{model}" for model in LEDGER), "--exclude", "resource_type:seed",
                    window=(date(2026, 1, 6), date(2026, 1, 10))))
    return home


def canonical_rows(con: duckdb.DuckDBPyConnection, relation: str) -> tuple[list[str], list[tuple]]:
    """(column names in order, rows sorted) with every value as text: timestamps as UTC wall time to the
    microsecond, decimals at their scale, nulls as None."""
    columns = con.sql(f"describe select * from {relation}").fetchall()
    texts = [f"cast(cast({name} as timestamp) as varchar)" if str(kind).startswith("TIMESTAMP") else f"cast({name} as varchar)"
             for name, kind, *_ in columns]
    names = sorted(name for name, *_ in columns)
    by_name = dict(zip([name for name, *_ in columns], texts))
    rows = con.sql(f"select {', '.join(by_name[name] for name in names)} from {relation}").fetchall()
    return names, sorted(rows, key=lambda row: tuple("" if value is None else value for value in row))


@pytest.mark.parametrize("table", LEDGER)
def test_spark_builds_the_same_ledger_as_duckdb(both_engines, table):
    home = both_engines
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"attach '{home / 'warehouse.duckdb'}' as duck (read_only)")
    duck_columns, duck_rows = canonical_rows(con, f"duck.main.{table}")
    spark_columns, spark_rows = canonical_rows(
        con, f"read_parquet('{home / SPARK_TABLES / table}/**/*.parquet', hive_partitioning = true)")
    assert spark_columns == duck_columns
    assert duck_rows, f"{table}: the DuckDB warehouse holds no rows to compare"
    missing = [row for row in duck_rows if row not in set(spark_rows)]
    extra = [row for row in spark_rows if row not in set(duck_rows)]
    assert (len(spark_rows), missing[:3], extra[:3]) == (len(duck_rows), [], [])


def test_the_hash_chain_spans_every_day_on_spark(both_engines):
    home = both_engines
    days = duckdb.sql(f"select count(*), min(partition_date), max(partition_date), count(distinct chain_hash) "
                      f"from read_parquet('{home / SPARK_TABLES}/journal_day_hashes/**/*.parquet', hive_partitioning = true)"
                      ).fetchall()[0]
    assert days == (DAYS, START, date(2026, 1, DAYS), DAYS)


def test_money_is_decimal_on_spark(both_engines):
    """No amount of the Spark journal is a float: debit and credit are DECIMAL(38,18) in the Parquet it wrote."""
    kinds = dict(duckdb.sql(f"select name, type from parquet_schema("
                            f"'{both_engines / SPARK_TABLES}/journal_lines/*/*.parquet') where name in ('debit', 'credit')"
                            ).fetchall())
    assert kinds == {"debit": "FIXED_LEN_BYTE_ARRAY", "credit": "FIXED_LEN_BYTE_ARRAY"}
    logical = duckdb.sql(f"describe select debit, credit from read_parquet("
                         f"'{both_engines / SPARK_TABLES}/journal_lines/*/*.parquet')").fetchall()
    assert [kind for _, kind, *_ in logical] == ["DECIMAL(38,18)", "DECIMAL(38,18)"]
