"""Concurrency pools.

DuckDB allows one writer process per database file: everything that writes `warehouse.duckdb` (dbt, the
reconciliation checks, the attestation's reads-with-writes) takes the `warehouse` pool, limited to 1 in
`dagster.yaml`. Ingestion writes Parquet files, not the database, so it runs outside the pool.
"""
WAREHOUSE_POOL = "warehouse"
