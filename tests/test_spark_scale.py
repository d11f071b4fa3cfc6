"""`make scale-test`: the 30-day demo on Spark end to end, beside the same demo on DuckDB.

`backed demo` runs twice from the same seed, each in a data home of its own: once as everyone runs it (DuckDB), once
with BACKED_ENGINE=spark, where the ledger's dbt build runs on Spark (local[2]) and every reader (the checks, the
attestation, the snapshot) reads Spark's tables through warehouse.duckdb's views (foundation/warehouse.py). Every
relation of the project must hold the same rows on both, the breaks the checks recorded must be the same, and every
attestation must state the same: its manifest and its record of the journal, byte for byte.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from assets.ledger import SPARK_DBT
from tests.test_spark_engine import canonical_rows

pytestmark = pytest.mark.long

DAYS = 30
BACKED = Path(sys.prefix) / "bin" / "backed"


def demo(home: Path, engine: str) -> str:
    """`backed demo` of DAYS days on `engine`; what it printed."""
    env = {**os.environ, "BACKED_ENGINE": engine}
    result = subprocess.run([str(BACKED), "--home", str(home), "demo", "--days", str(DAYS)], env=env,
                            capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, (f"backed demo on {engine} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
                                    f"\n(details in {home / 'logs'})")
    return result.stdout


@pytest.fixture(scope="module")
def homes(tmp_path_factory) -> dict[str, Path]:
    if not SPARK_DBT.exists():
        pytest.fail(f"the Spark engine is not installed ({SPARK_DBT}): run `make spark-setup`")
    root = tmp_path_factory.mktemp("scale")
    homes = {engine: root / engine for engine in ("duckdb", "spark")}
    for engine, home in homes.items():
        demo(home, engine)
    return homes


def relations(con: duckdb.DuckDBPyConnection, catalog: str) -> list[str]:
    return [name for (name,) in con.execute(
        "select table_name from information_schema.tables where table_catalog = ? and table_schema = 'main' "
        "order by 1", [catalog]).fetchall()]


def test_the_spark_warehouse_holds_every_relation_duckdb_builds_with_the_same_rows(homes):
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    for engine, home in homes.items():
        con.execute(f"attach '{home / 'warehouse.duckdb'}' as {engine} (read_only)")
    names = relations(con, "duckdb")
    assert len(names) > 100 and "journal_lines" in names
    assert relations(con, "spark") == names
    differing = {name: (len(duck_rows), len(spark_rows))
                 for name in names
                 for (duck_columns, duck_rows), (spark_columns, spark_rows)
                 in [(canonical_rows(con, f"duckdb.main.{name}"), canonical_rows(con, f"spark.main.{name}"))]
                 if duck_columns != spark_columns or duck_rows != spark_rows}
    assert differing == {}
    # and each relation's columns come in the same order (Spark lists a partition column last in its tables)
    order = {engine: {name: [column for column, *_ in con.execute(f"describe {engine}.main.{name}").fetchall()]
                      for name in names} for engine in ("duckdb", "spark")}
    assert {name: columns for name, columns in order["spark"].items() if columns != order["duckdb"][name]} == {}
    # the Spark side is Spark's: its views read the Parquet of Spark's warehouse
    view = con.execute("select sql from duckdb_views() where database_name = 'spark' and view_name = 'journal_lines'")
    assert str(homes["spark"] / "spark" / "warehouse") in view.fetchall()[0][0]


def test_the_checks_record_the_same_breaks_on_both_engines(homes):
    kept = ("exception_id", "check_id", "check_date", "entity_key", "severity", "status", "expected", "actual",
            "difference", "description")
    found = {}
    for engine, home in homes.items():
        with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
            found[engine] = con.execute(f"select {', '.join(kept)} from recon.exceptions order by 1").fetchall()
    assert found["duckdb"], "the demo's injected discrepancies should have been found"
    assert found["spark"] == found["duckdb"]


def test_every_attestation_states_the_same_on_both_engines(homes):
    days = sorted(folder.name for folder in (homes["duckdb"] / "attestations").iterdir()
                  if (folder / "manifest.json").exists())
    assert len(days) >= 1
    for day in days:
        duck, spark = (homes[engine] / "attestations" / day for engine in ("duckdb", "spark"))
        assert json.loads((spark / "manifest.json").read_text()) == json.loads((duck / "manifest.json").read_text())
        for record in ("attested-day.parquet", "attested-entries.parquet"):
            assert (spark / record).read_bytes() == (duck / record).read_bytes(), f"{day} {record}"
