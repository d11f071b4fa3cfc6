"""On Spark, warehouse.duckdb is a catalogue of Spark's tables (foundation/warehouse.py, publish_spark_tables): one
view per table over its Parquet files, the model's columns in the model's order, a table Spark left empty readable
with its columns, and no view of a table Spark no longer has. The files here are laid out as Spark writes them
(a `partition_date=` folder per day, part files with Spark's names, the partition column absent from the files);
the equality tests (test_spark_engine.py, test_spark_scale.py) read what Spark itself wrote.
"""
import os
from datetime import date
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from foundation.home import DataHome
from foundation.warehouse import UnknownEngine, engine, publish_spark_tables

PART = "part-00000-5b1f0c7e-0d54-4c1e-9a43-0d6f3e2b8c11.c000.snappy.parquet"
AMOUNT = pa.decimal128(38, 18)


def write(path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


@pytest.fixture
def home(tmp_path) -> DataHome:
    home = DataHome.of(tmp_path / "home")
    tables, columns = home.spark_tables, home.spark_table_columns
    # a table kept by day: Spark writes its rows without partition_date, which the folder names
    for day, amount in ((date(2026, 1, 1), "1.5"), (date(2026, 1, 2), "0")):
        write(tables / "trial_balance" / f"partition_date={day}" / PART,
              pa.table({"account_code": ["1010"], "closing_balance": pa.array([Decimal(amount)], AMOUNT)}))
    # ... and the model's own order, partition_date first, recorded at the run's end (an older version first)
    write(columns / "trial_balance-00000000aaaaaaaa" / PART,
          pa.table({"account_code": pa.array([], pa.string())}))
    os.utime(columns / "trial_balance-00000000aaaaaaaa", (1_000_000_000, 1_000_000_000))  # the older version
    write(columns / "trial_balance-1111111111111111" / PART,
          pa.table({"partition_date": pa.array([], pa.date32()), "account_code": pa.array([], pa.string()),
                    "closing_balance": pa.array([], AMOUNT)}))
    # a table kept by day that the run left empty: no file but its columns' record
    (tables / "stg_chain_logs_unknown").mkdir(parents=True)
    write(columns / "stg_chain_logs_unknown-2222222222222222" / PART,
          pa.table({"partition_date": pa.array([], pa.date32()), "topic0": pa.array([], pa.string())}))
    # a view kept as a table: not partitioned, its columns in order in its file
    write(tables / "r8_ledger_balances" / PART,
          pa.table({"check_date": [date(2026, 1, 1)], "entity_key": ["trial_balance:sum"], "actual": ["0"]}))
    return home


def test_each_spark_table_is_a_view_with_the_models_columns_in_order(home):
    assert publish_spark_tables(home) == ["r8_ledger_balances", "stg_chain_logs_unknown", "trial_balance"]
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        described = {name: [(column, kind) for column, kind, *_ in con.execute(f"describe main.{name}").fetchall()]
                     for name in ("trial_balance", "stg_chain_logs_unknown", "r8_ledger_balances")}
        rows = con.execute("select * from main.trial_balance order by partition_date").fetchall()
        assert con.execute("select count(*) from main.stg_chain_logs_unknown").fetchone() == (0,)
    assert described == {
        "trial_balance": [("partition_date", "DATE"), ("account_code", "VARCHAR"),
                          ("closing_balance", "DECIMAL(38,18)")],
        "stg_chain_logs_unknown": [("partition_date", "DATE"), ("topic0", "VARCHAR")],
        "r8_ledger_balances": [("check_date", "DATE"), ("entity_key", "VARCHAR"), ("actual", "VARCHAR")],
    }
    assert rows == [(date(2026, 1, 1), "1010", Decimal("1.5")), (date(2026, 1, 2), "1010", Decimal("0"))]


def test_a_table_spark_no_longer_has_loses_its_view_and_the_exceptions_stay(home):
    publish_spark_tables(home)
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("create schema recon; create table recon.exceptions (exception_id varchar)")
        con.execute("insert into recon.exceptions values ('kept')")
    for path in sorted((home.spark_tables / "r8_ledger_balances").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (home.spark_tables / "r8_ledger_balances").rmdir()
    assert publish_spark_tables(home) == ["stg_chain_logs_unknown", "trial_balance"]
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        views = {name for (name,) in con.execute("select view_name from duckdb_views() where not internal").fetchall()}
        assert views == {"stg_chain_logs_unknown", "trial_balance"}
        assert con.execute("select * from recon.exceptions").fetchall() == [("kept",)]


def test_the_engine_is_duckdb_unless_set_and_a_wrong_name_is_refused(monkeypatch):
    monkeypatch.delenv("BACKED_ENGINE", raising=False)
    assert engine() == "duckdb"
    monkeypatch.setenv("BACKED_ENGINE", "spark")
    assert engine() == "spark"
    monkeypatch.setenv("BACKED_ENGINE", "Spark")
    with pytest.raises(UnknownEngine, match="BACKED_ENGINE='Spark' is not an engine"):
        engine()
