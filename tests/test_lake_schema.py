"""The lake's schema is declared once (`foundation.lake.SCHEMAS`): the writers conform to it (tests of the lake), the
staging models cast each column they read to its declared type, and docs/lake.md documents every column with that
type. A column added, dropped or retyped in one place and not the others fails here."""
import re
from pathlib import Path

import pyarrow as pa
import pytest

from foundation.lake import SCHEMAS

REPO = Path(__file__).resolve().parent.parent
STAGING = REPO / "dbt_project" / "models" / "staging"

# `cast(column as type) as column`, possibly inside coalesce(...): the alias is the line's last `as`.
CAST = re.compile(r"cast\((\w+) as ([a-z]+(?:\(\d+, \d+\))?)\).* as (\w+),?$", re.MULTILINE)
# Lake columns no staging model reads yet, and why; anything else a table's own staging model must read.
NOT_STAGED = {
    "gpu_telemetry_daily": {"xid_errors"},  # the XID counter's increase: the checks and the allowance count samples
    "loan_collateral": {"gpu_uuid"},  # GPUs named by UUID: the checks match collateral to telemetry by serial
}
LAKE_TABLE = re.compile(r"lake_table\('(\w+)'\)")


def duckdb_type(arrow_type: pa.DataType) -> str:
    """The type as the staging models and docs/lake.md spell it (lower case, as in SQL)."""
    if pa.types.is_decimal(arrow_type):
        return f"decimal({arrow_type.precision}, {arrow_type.scale})"
    names = {pa.date32(): "date", pa.int64(): "bigint", pa.int32(): "integer", pa.string(): "varchar",
             pa.bool_(): "boolean", pa.float64(): "double", pa.timestamp("us"): "timestamp"}
    return names[arrow_type]


def staging_reads() -> list[tuple[str, str]]:
    """(staging model, lake table) for every staging model that reads the lake."""
    return [(path.stem, table) for path in sorted(STAGING.glob("stg_*.sql"))
            for table in LAKE_TABLE.findall(path.read_text())]


@pytest.mark.parametrize("model, table", staging_reads())
def test_staging_casts_each_lake_column_it_reads_to_its_declared_type(model, table):
    declared = {field.name: duckdb_type(field.type) for field in SCHEMAS[table]}
    # the models spell VARCHAR `string`, which DuckDB and Spark both read (docs/scale.md)
    casts = {alias: "varchar" if sql_type == "string" else sql_type
             for column, sql_type, alias in CAST.findall((STAGING / f"{model}.sql").read_text())
             if column == alias and column in declared}
    assert casts, f"{model} casts none of {table}'s columns"
    assert {column: declared[column] for column in casts} == casts
    if model == f"stg_{table}":  # the table's own staging model reads all of it
        unread = set(declared) - set(casts)
        assert unread == NOT_STAGED.get(table, set()), f"{model} does not read {sorted(unread)}"


LAKE_DOC = REPO / "docs" / "lake.md"


def documented_columns(table: str) -> dict[str, str]:
    """The `| column | type | meaning |` rows of the table's section in docs/lake.md."""
    text = LAKE_DOC.read_text()
    section = re.search(rf"^### `{table}`.*?$(.*?)(?=^##)", text, re.MULTILINE | re.DOTALL)
    assert section, f"docs/lake.md has no section ### `{table}`"
    rows = re.findall(r"^\| *`?(\w+)`? *\| *([A-Z]+(?:\(\d+, ?\d+\))?) *\|", section.group(1), re.MULTILINE)
    return {column: sql_type.lower().replace(",", ", ").replace(",  ", ", ") for column, sql_type in rows}


@pytest.mark.parametrize("table", sorted(SCHEMAS))
def test_docs_document_every_lake_column_with_its_type(table):
    declared = {field.name: duckdb_type(field.type) for field in SCHEMAS[table]}
    assert documented_columns(table) == declared
