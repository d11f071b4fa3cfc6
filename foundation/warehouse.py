"""The warehouse file itself: which engine builds it, telling a damaged DuckDB file from a query's or a lock's error
and what to do about it (orchestration/warehouse_rebuild.py builds it again), and, on Spark, the views through which
every reader finds Spark's tables in it."""
from __future__ import annotations

import os
import re

import duckdb

from foundation.home import DataHome

ENGINE_ENV = "BACKED_ENGINE"
DUCKDB, SPARK = "duckdb", "spark"
# The memory DuckDB takes in the ledger's build (read by dbt_project/profiles.yml, which says its default).
MEMORY_LIMIT_ENV = "BACKED_DUCKDB_MEMORY_LIMIT"
_MEMORY_AMOUNT = re.compile(r"[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)


class WarehouseSettingError(ValueError):
    """A variable of the environment that sets up the warehouse's engine holds a value the engine cannot take."""


class UnknownEngine(WarehouseSettingError):
    """BACKED_ENGINE names no engine the dbt project runs on."""


def engine() -> str:
    """The engine dbt builds the warehouse with: BACKED_ENGINE, `duckdb` (the default) or `spark`
    (dbt_project/profiles.yml names the same two targets)."""
    name = os.environ.get(ENGINE_ENV) or DUCKDB
    if name not in (DUCKDB, SPARK):
        raise UnknownEngine(f"{ENGINE_ENV}={name!r} is not an engine of the ledger: set it to {DUCKDB} (the default) "
                            f"or {SPARK} (docs/scale.md), or unset it")
    return name


def check_memory_limit() -> None:
    """BACKED_DUCKDB_MEMORY_LIMIT, when set, is an amount of memory in DuckDB's units (`4GB`, `512MB`)."""
    value = os.environ.get(MEMORY_LIMIT_ENV)
    if value is not None and not _MEMORY_AMOUNT.fullmatch(value.strip()):
        raise WarehouseSettingError(f"{MEMORY_LIMIT_ENV}={value!r} is not an amount of memory: set it like 4GB or "
                                    "512MB (docs/deployment.md), or unset it for 4GB")


# What DuckDB says when the file is not a database any more, or a block of it fails its checksum.
_DAMAGED = ("not a valid DuckDB database file", "Corrupt database file", "does not match stored checksum")


def damaged(error: BaseException | str) -> bool:
    """Whether a DuckDB error (or its text, as dbt logged it) says the database file itself is damaged."""
    if not isinstance(error, str | duckdb.Error):
        return False
    return any(marker in str(error) for marker in _DAMAGED)


def rebuild_advice(home: DataHome) -> str:
    return (f"`backed --home {home.root} warehouse rebuild` builds it again from the lake and the last published "
            "snapshot, keeping the damaged file beside it")


def publish_spark_tables(home: DataHome) -> list[str]:
    """On Spark, make the home's warehouse.duckdb a catalogue of the tables dbt built on Spark: one view per table,
    over its Parquet files, with the model's columns in the model's order (a table kept by day gets its
    `partition_date` from the folder names, and its columns and their order from the file the run recorded them
    in: dbt_project/macros/engines.sql, record_table_columns). Every reader of the warehouse (the checks, the
    attestation, the snapshot, the CLI) then opens warehouse.duckdb on either engine; the exceptions the checks
    record stay in it. A view reads the files when it is queried, so a day's rebuild needs no new view; views of
    tables Spark no longer has are dropped. Returns the tables."""
    columns_files: dict[str, Path] = {}
    if home.spark_table_columns.exists():
        recorded = sorted(home.spark_table_columns.iterdir(), key=lambda folder: folder.stat().st_mtime)
        for folder in recorded:  # the latest version of each model last
            columns_files[folder.name.rpartition("-")[0]] = folder / "*.parquet"
    sources: dict[str, str] = {}
    with duckdb.connect(str(home.warehouse)) as con:
        for folder in sorted(home.spark_tables.iterdir()) if home.spark_tables.exists() else []:
            recorded_columns = columns_files.get(folder.name)
            if not folder.is_dir():
                continue
            if any(folder.rglob("*.parquet")):
                files = quoted_path(folder / "**" / "*.parquet")
                listed = "*"
                if recorded_columns is not None:
                    names = [row[0] for row in con.execute(
                        f"describe select * from read_parquet({quoted_path(recorded_columns)})").fetchall()]
                    listed = ", ".join(f'"{name}"' for name in names)
                sources[folder.name] = f"select {listed} from read_parquet({files}, hive_partitioning = true)"
            elif recorded_columns is not None:
                sources[folder.name] = f"select * from read_parquet({quoted_path(recorded_columns)})"
        con.execute("begin")
        present = {name for (name,) in con.execute(
            "select view_name from duckdb_views() where schema_name = 'main' and not internal").fetchall()}
        for gone in sorted(present - sources.keys()):
            con.execute(f'drop view main."{gone}"')
        for name, select in sorted(sources.items()):
            con.execute(f'create or replace view main."{name}" as {select}')
        con.execute("commit")
    return sorted(sources)


def quoted_path(path) -> str:
    """`path` as a DuckDB string literal."""
    return "'" + str(path).replace("'", "''") + "'"
